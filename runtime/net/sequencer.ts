// The ordered stream of external input a machine consumes: batches of what clients did
// (connected, sent bytes, half-closed, vanished), cut when the machine asks for input, bounded
// in events and bytes, each stamped with the machine time at which it applies. The local
// sequencer builds them from a gateway; the cluster issue puts a consensus log behind the same
// interface.
import type { Endpoint } from './types.js';

/** Something a client did, as seen by the gateway. `link` is the gateway's id for the client connection. */
export type ExternalEvent =
  | { kind: 'connect'; link: number; port: number; peer: Endpoint }
  | { kind: 'data'; link: number; bytes: Uint8Array }
  | { kind: 'eof'; link: number }
  | { kind: 'reset'; link: number }
  /** The client's socket took `bytes` more of what the guests sent on link `link` (flow control). */
  | { kind: 'acked'; link: number; bytes: number }
  /** A UDP datagram from an outside peer to virtual port `port`; `link` names the flow (the peer, as the gateway sees it). */
  | { kind: 'datagram'; link: number; port: number; peer: Endpoint; bytes: Uint8Array }
  /**
   * The gateway that numbered links [first, end) is gone (its node was killed, or stopped):
   * every client connection among them that is still open is reset, as if each client had.
   */
  | { kind: 'reset-links'; first: number; end: number }
  /** A piece of the machine's stdin, or its end. */
  | { kind: 'stdin'; bytes: Uint8Array }
  | { kind: 'stdin-eof' };

export interface Batch {
  /** Machine time (ns since the machine started) at which the batch applies. */
  timeNs: bigint;
  events: ExternalEvent[];
}

export interface Sequencer {
  /**
   * The next batch: as soon as any input is pending, else an empty "tick" once machine time
   * reaches `deadlineNs` (null: wait for input however long it takes). Undefined once the
   * input has ended (the machine is stopping).
   */
  next(deadlineNs: bigint | null): Promise<Batch | undefined>;
  /**
   * The stdin process asked for its `ordinal`-th piece of stdin (1, 2, ...): read one more piece
   * (or the end) into the batches. Without it, stdin stays unread.
   */
  wantStdin?(ordinal: number): void;
}

/** The bytes an event carries into the machine (what batch bounds count). */
export function eventBytes(e: ExternalEvent): number {
  return e.kind === 'data' || e.kind === 'datagram' || e.kind === 'stdin' ? e.bytes.length : 0;
}

/** Bounds on one batch. */
export const maxBatchEvents = 1024;
export const maxBatchBytes = 1024 * 1024;

/**
 * Removes and returns the next batch's events from the front of `queue`: at most
 * maxBatchEvents, and at most maxBatchBytes of data (but always at least one event).
 */
export function takeBatch(queue: ExternalEvent[]): ExternalEvent[] {
  let bytes = 0;
  let n = 0;
  while (n < queue.length && n < maxBatchEvents) {
    const e = queue[n]!;
    const size = eventBytes(e);
    if (n > 0 && bytes + size > maxBatchBytes) break;
    bytes += size;
    n++;
  }
  return queue.splice(0, n);
}

/** Where a local sequencer's machine time comes from. */
export interface MachineClock {
  now(): bigint;
  /** Calls `wake` after `ms` milliseconds (never if negative); returns a cancel function. */
  wait(ms: number, wake: () => void): () => void;
}

/**
 * Batches from events pushed in by a gateway (and stdin). Machine time is real elapsed time
 * when the machine serves outside clients (it is an input, recorded with each batch); without
 * them it is virtual: it moves only to the deadlines the processes wait for, at once, so a
 * machine whose only input is stdin runs the same way every time.
 */
export class LocalSequencer implements Sequencer {
  private readonly queue: ExternalEvent[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private lastTime = 0n;
  /** Where pieces of stdin come from when the stdin process asks (startMachine sets it). */
  stdinFeed: { want(ordinal: number): void } | undefined;

  /** `clock`: the host's, for real machine time; 'virtual' for virtual time. */
  constructor(private readonly clock: MachineClock | 'virtual') {}

  push(event: ExternalEvent): void {
    this.queue.push(event);
    this.waiter?.();
  }

  end(): void {
    this.ended = true;
    this.waiter?.();
  }

  get queuedEvents(): number { return this.queue.length; }

  wantStdin(ordinal: number): void {
    this.stdinFeed?.want(ordinal);
  }

  async next(deadlineNs: bigint | null): Promise<Batch | undefined> {
    for (;;) {
      if (this.ended) return undefined;
      const now = this.time();
      if (this.queue.length > 0) return { timeNs: now, events: this.take() };
      if (deadlineNs !== null && now >= deadlineNs) return { timeNs: now, events: [] };
      if (this.clock === 'virtual' && deadlineNs !== null) {
        this.lastTime = deadlineNs;
        return { timeNs: deadlineNs, events: [] };
      }
      const clock = this.clock;
      await new Promise<void>((resolve) => {
        const ms = deadlineNs === null || clock === 'virtual' ? -1 : Number(deadlineNs - now) / 1e6;
        const cancel = clock === 'virtual' ? () => {} : clock.wait(ms, () => { cancel(); this.waiter = undefined; resolve(); });
        this.waiter = () => { cancel(); this.waiter = undefined; resolve(); };
      });
    }
  }

  /** Machine time never goes backwards, whatever the host clock does. */
  private time(): bigint {
    if (this.clock === 'virtual') return this.lastTime;
    const t = this.clock.now();
    if (t > this.lastTime) this.lastTime = t;
    return this.lastTime;
  }

  private take(): ExternalEvent[] {
    return takeBatch(this.queue);
  }
}
