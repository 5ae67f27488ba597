// The deterministic thread scheduler of a wasi-threads process: which thread holds the turn, who
// waits on which address, and who runs next. Pure state, no workers, no clocks: its every
// decision is a function of the calls it is told of, in order (docs/design.md, "Threads").
import { assert } from '../rewrite/module.js';
import { deadlockMessagePrefix } from '../trap.js';

/** WASI's EAGAIN: what thread-spawn returns (negated) past --max-threads, as wasi-threads specifies. */
export const eagain = 6;
/** Default --max-threads: threads alive at once, the main thread included. */
export const defaultMaxThreads = 64;
/** The largest --max-threads (each thread is a worker with its own V8 isolate). */
export const maxMaxThreads = 1024;
/** wasi-threads thread ids are positive and below 2^29 (the rest is reserved). */
export const maxThreadId = 0x1fffffff;

/** memory.atomic.wait's results. */
export const WaitResult = { ok: 0, notEqual: 1, timedOut: 2 } as const;

export interface GuestThread {
  readonly tid: number;
  /** Its place in the channel (runtime/sched/channel.ts), reused once it has exited. */
  readonly slot: number;
  state: 'runnable' | 'waiting';
  /** What its last call returns to it, once it has the turn again. */
  result: number;
  /** While waiting: the address, the width, the virtual deadline (null: no timeout). */
  address: number;
  wide: boolean;
  deadlineNs: bigint | null;
}

/** Every thread waits and none has a timeout: the run can never go on. */
export class DeadlockError extends Error {}

export class Scheduler {
  /** The thread holding the turn. */
  current = 0;
  /** Virtual time of waits' timeouts: moved only when every thread waits (to the earliest deadline). */
  nowNs = 0n;
  /** Alive threads, in tid order (tids only grow, so pushing keeps the order). */
  private readonly threads: GuestThread[] = [];
  /** Waiting threads in the order they began to wait (notify wakes the longest waiting first). */
  private readonly waiters: GuestThread[] = [];
  private readonly freeSlots: number[] = [];
  private nextTid = 1;

  constructor(readonly maxThreads: number) {
    assert(Number.isInteger(maxThreads) && maxThreads >= 1 && maxThreads <= maxMaxThreads, `max threads ${maxThreads} out of range`);
    this.threads.push(blankThread(0, 0));
    for (let slot = maxThreads - 1; slot >= 1; slot--) this.freeSlots.push(slot);
  }

  get alive(): number { return this.threads.length; }

  thread(tid: number): GuestThread {
    const t = this.threads.find((x) => x.tid === tid);
    assert(t !== undefined, `thread ${tid} is not alive`);
    return t;
  }

  /** A new runnable thread's tid and slot, or -EAGAIN past maxThreads (or past the last tid). */
  spawn(): { tid: number; slot: number } | { errno: number } {
    if (this.threads.length >= this.maxThreads || this.nextTid > maxThreadId) return { errno: eagain };
    const slot = this.freeSlots.pop();
    assert(slot !== undefined, 'a free slot for every thread under the bound');
    const t = blankThread(this.nextTid++, slot);
    this.threads.push(t);
    return { tid: t.tid, slot };
  }

  /** The current thread waits on `address` (its value was checked equal by the caller). */
  wait(address: number, wide: boolean, timeoutNs: bigint): void {
    const t = this.thread(this.current);
    if (timeoutNs === 0n) { t.result = WaitResult.timedOut; return; }
    t.state = 'waiting';
    t.address = address;
    t.wide = wide;
    t.deadlineNs = timeoutNs < 0n ? null : this.nowNs + timeoutNs;
    this.waiters.push(t);
  }

  /** Wakes up to `count` (unsigned) threads waiting on `address`, longest waiting first; how many. */
  notify(address: number, count: number): number {
    let woken = 0;
    for (let i = 0; i < this.waiters.length && woken < count;) {
      const t = this.waiters[i]!;
      if (t.address !== address) { i++; continue; }
      this.waiters.splice(i, 1);
      wake(t, WaitResult.ok);
      woken++;
    }
    return woken;
  }

  /** The thread has returned from wasi_thread_start. */
  exit(tid: number): void {
    assert(tid !== 0, 'the main thread ends the process instead');
    const i = this.threads.findIndex((x) => x.tid === tid);
    assert(i >= 0 && this.threads[i]!.state === 'runnable', `thread ${tid} exits while running`);
    this.freeSlots.push(this.threads[i]!.slot);
    this.threads.splice(i, 1);
  }

  /**
   * Gives the turn to the next runnable thread in tid order after the current one (round robin,
   * the current one last); when none can run, the waiter with the earliest deadline times out
   * (virtual time jumps there); when no waiter has one, throws DeadlockError.
   */
  switchTurn(): GuestThread {
    const list = this.threads;
    const after = list.findIndex((x) => x.tid > this.current);
    const start = after < 0 ? 0 : after;
    for (let k = 0; k < list.length; k++) {
      const t = list[(start + k) % list.length]!;
      if (t.state === 'runnable') return this.give(t);
    }
    let first: GuestThread | undefined;
    for (const t of this.waiters) if (t.deadlineNs !== null && (!first || t.deadlineNs < first.deadlineNs!)) first = t;
    if (!first) throw new DeadlockError(this.describeDeadlock());
    this.nowNs = first.deadlineNs!;
    this.waiters.splice(this.waiters.indexOf(first), 1);
    wake(first, WaitResult.timedOut);
    return this.give(first);
  }

  /** Whether the thread holding the turn is the only one that can run (its yield would keep the turn). */
  runsAlone(): boolean {
    return this.threads.every((t) => t.tid === this.current || t.state === 'waiting');
  }

  private give(t: GuestThread): GuestThread {
    this.current = t.tid;
    return t;
  }

  /** One line naming every thread and the address it waits on, in tid order: the same in every run. */
  describeDeadlock(): string {
    const parts = this.threads.map((t) => `thread ${t.tid} on 0x${t.address.toString(16)} (${t.wide ? 'wait64' : 'wait32'})`);
    return `${deadlockMessagePrefix}${parts.join(', ')}`;
  }
}

function blankThread(tid: number, slot: number): GuestThread {
  return { tid, slot, state: 'runnable', result: 0, address: 0, wide: false, deadlineNs: null };
}

function wake(t: GuestThread, result: number): void {
  t.state = 'runnable';
  t.result = result;
  t.deadlineNs = null;
}
