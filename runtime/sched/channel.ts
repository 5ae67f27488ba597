// The shared-memory channel between the main guest thread (thread 0, which owns the kernel and
// the trace session) and the other guest threads' workers. Only the thread holding the turn
// writes a request, so one request area serves all: the caller fills it, marks its own turn word
// 0, puts its slot + 1 in the mailbox and wakes thread 0, then sleeps on its turn word until the
// scheduler gives it the turn again, with its call's result in its result word.
//
// With the turn, thread 0 says whether the thread gets it alone (every other thread waits): such
// a thread's yield keeps the turn without asking (the scheduler would give it back at once, see
// Scheduler.switchTurn), so a thread computing while the others wait does not cross workers at
// every quantum. Nothing else can change while it holds the turn: every other thread waits, and
// thread 0 only acts on its requests.
//
// Thread 0 sleeps on a doorbell word that every request and every lost worker rings (the thread
// supervisor, supervisor.ts, marks a slot lost when its worker stops before its thread ended),
// so a worker that dies while holding the turn ends the wait instead of leaving thread 0 asleep.

import { assert } from '../rewrite/module.js';

/** A request's kind. */
export const Req = { syscall: 1, spawn: 2, wait32: 3, wait64: 4, notify: 5, yield: 6, exit: 7, failed: 8 } as const;

/** Int32 indices of the request area. */
const Ctl = { mailbox: 0, kind: 1, call: 2, argc: 3, doorbell: 4, spawnAck: 5, alone: 6 } as const;
/** The most arguments a request carries (the longest syscall has 9). */
export const maxRequestArgs = 16;
const argsAt = 64;
assert(Math.max(...Object.values(Ctl)) < argsAt / 4, 'the control words come before the arguments');
const slotsAt = argsAt + maxRequestArgs * 8;
/** Per slot: the turn word (1: holds the turn), the result word, and the lost word (the tid of its worker that stopped). */
const slotInts = 3;
/** What the supervisor answers a spawn with, in the spawn-ack word (0 while it has not). */
export const SpawnAck = { pending: 0, online: 1, failed: 2 } as const;
/** takeRequest's answer when the thread holding the turn lost its worker. */
export const lostSlot = -1;

export function schedChannelBytes(maxThreads: number): number {
  return slotsAt + maxThreads * slotInts * 4;
}

export interface Request { kind: number; call: number; args: BigInt64Array; argc: number }

export class SchedChannel {
  private readonly ctl: Int32Array;
  private readonly args: BigInt64Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.ctl = new Int32Array(buffer);
    this.args = new BigInt64Array(buffer, argsAt, maxRequestArgs);
  }

  // ---- the calling thread's side ----

  /** Posts a request from the thread in `slot` (which holds the turn) and wakes thread 0. */
  post(slot: number, kind: number, call: number, args: ArrayLike<number | bigint>): void {
    const { ctl } = this;
    ctl[Ctl.kind] = kind;
    ctl[Ctl.call] = call;
    ctl[Ctl.argc] = args.length;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      this.args[i] = typeof a === 'bigint' ? a : BigInt(a);
    }
    Atomics.store(ctl, slotsAt / 4 + slot * slotInts, 0);
    Atomics.store(ctl, Ctl.mailbox, slot + 1);
    this.ring();
  }

  private ring(): void {
    Atomics.add(this.ctl, Ctl.doorbell, 1);
    Atomics.notify(this.ctl, Ctl.doorbell);
  }

  /** Whether the thread holding the turn holds it alone (every other thread waits): its yields keep the turn. */
  alone(): boolean {
    return this.ctl[Ctl.alone] === 1;
  }

  /** Sleeps until the thread in `slot` holds the turn; its last call's result. */
  awaitTurn(slot: number): number {
    const at = slotsAt / 4 + slot * slotInts;
    while (Atomics.load(this.ctl, at) === 0) Atomics.wait(this.ctl, at, 0);
    return this.ctl[at + 1]!;
  }

  // ---- thread 0's side ----

  /**
   * Sleeps until a request arrives (the requesting slot) or the worker of `tid`, in `slot` and
   * holding the turn, is marked lost (`lostSlot`). The doorbell is read before the words it
   * guards, so a ring between the check and the wait ends the wait at once.
   */
  takeRequest(slot: number, tid: number): number {
    const { ctl } = this;
    for (;;) {
      const bell = Atomics.load(ctl, Ctl.doorbell);
      const m = Atomics.load(ctl, Ctl.mailbox);
      if (m !== 0) {
        Atomics.store(ctl, Ctl.mailbox, 0);
        return m - 1;
      }
      if (Atomics.load(ctl, slotsAt / 4 + slot * slotInts + 2) === tid) return lostSlot;
      Atomics.wait(ctl, Ctl.doorbell, bell);
    }
  }

  /** The supervisor's side: the worker of `tid` (in `slot`) stopped; wakes thread 0 if it waits on it. */
  markLost(slot: number, tid: number): void {
    Atomics.store(this.ctl, slotsAt / 4 + slot * slotInts + 2, tid);
    this.ring();
  }

  /** Before a spawn request to the supervisor. */
  clearSpawnAck(): void {
    Atomics.store(this.ctl, Ctl.spawnAck, SpawnAck.pending);
  }

  /** The supervisor's answer to a spawn (`SpawnAck`). */
  answerSpawn(ack: number): void {
    Atomics.store(this.ctl, Ctl.spawnAck, ack);
    Atomics.notify(this.ctl, Ctl.spawnAck);
  }

  /** Thread 0 waits for the supervisor's answer, at most `timeoutMs`; `SpawnAck.pending` if none came. */
  awaitSpawnAck(timeoutMs: number): number {
    Atomics.wait(this.ctl, Ctl.spawnAck, SpawnAck.pending, timeoutMs);
    return Atomics.load(this.ctl, Ctl.spawnAck);
  }

  request(): Request {
    return { kind: this.ctl[Ctl.kind]!, call: this.ctl[Ctl.call]!, argc: this.ctl[Ctl.argc]!, args: this.args };
  }

  /** A new thread's slot, not holding the turn. */
  resetSlot(slot: number): void {
    Atomics.store(this.ctl, slotsAt / 4 + slot * slotInts, 0);
    Atomics.store(this.ctl, slotsAt / 4 + slot * slotInts + 2, 0);
  }

  /** Gives the turn to the thread in `slot`, with `result` for its last call; `alone`: every other thread waits. */
  grant(slot: number, result: number, alone: boolean): void {
    const at = slotsAt / 4 + slot * slotInts;
    this.ctl[Ctl.alone] = alone ? 1 : 0;
    this.ctl[at + 1] = result;
    Atomics.store(this.ctl, at, 1);
    Atomics.notify(this.ctl, at);
  }
}
