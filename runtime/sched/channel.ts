// The shared-memory channel between the main guest thread (thread 0, which owns the kernel and
// the trace session) and the other guest threads' workers. Only the thread holding the turn
// writes a request, so one request area serves all: the caller fills it, marks its own turn word
// 0, puts its slot + 1 in the mailbox and wakes thread 0, then sleeps on its turn word until the
// scheduler gives it the turn again, with its call's result in its result word.

/** A request's kind. */
export const Req = { syscall: 1, spawn: 2, wait32: 3, wait64: 4, notify: 5, yield: 6, exit: 7, failed: 8 } as const;

/** Int32 indices of the request area. */
const Ctl = { mailbox: 0, kind: 1, call: 2, argc: 3 } as const;
/** The most arguments a request carries (the longest syscall has 9). */
export const maxRequestArgs = 16;
const argsAt = 64;
const slotsAt = argsAt + maxRequestArgs * 8;
/** Per slot: the turn word (1: holds the turn) and the result word. */
const slotInts = 2;

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
    Atomics.notify(ctl, Ctl.mailbox);
  }

  /** Sleeps until the thread in `slot` holds the turn; its last call's result. */
  awaitTurn(slot: number): number {
    const at = slotsAt / 4 + slot * slotInts;
    while (Atomics.load(this.ctl, at) === 0) Atomics.wait(this.ctl, at, 0);
    return this.ctl[at + 1]!;
  }

  // ---- thread 0's side ----

  /** Sleeps until a request arrives; the requesting slot. */
  takeRequest(): number {
    const { ctl } = this;
    let m: number;
    while ((m = Atomics.load(ctl, Ctl.mailbox)) === 0) Atomics.wait(ctl, Ctl.mailbox, 0);
    Atomics.store(ctl, Ctl.mailbox, 0);
    return m - 1;
  }

  request(): Request {
    return { kind: this.ctl[Ctl.kind]!, call: this.ctl[Ctl.call]!, argc: this.ctl[Ctl.argc]!, args: this.args };
  }

  /** A new thread's slot, not holding the turn. */
  resetSlot(slot: number): void {
    Atomics.store(this.ctl, slotsAt / 4 + slot * slotInts, 0);
  }

  /** Gives the turn to the thread in `slot`, with `result` for its last call. */
  grant(slot: number, result: number): void {
    const at = slotsAt / 4 + slot * slotInts;
    this.ctl[at + 1] = result;
    Atomics.store(this.ctl, at, 1);
    Atomics.notify(this.ctl, at);
  }
}
