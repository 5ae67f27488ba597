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
  | { kind: 'reset'; link: number };

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
    const size = e.kind === 'data' ? e.bytes.length : 0;
    if (n > 0 && bytes + size > maxBatchBytes) break;
    bytes += size;
    n++;
  }
  return queue.splice(0, n);
}

/**
 * Batches from events pushed in by a gateway, with machine time from a clock function (real
 * elapsed time: it is an input, recorded with the batch).
 */
export class LocalSequencer implements Sequencer {
  private readonly queue: ExternalEvent[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private lastTime = 0n;

  constructor(private readonly now: () => bigint, private readonly wait: (ms: number, wake: () => void) => () => void) {}

  push(event: ExternalEvent): void {
    this.queue.push(event);
    this.waiter?.();
  }

  end(): void {
    this.ended = true;
    this.waiter?.();
  }

  get queuedEvents(): number { return this.queue.length; }

  async next(deadlineNs: bigint | null): Promise<Batch | undefined> {
    for (;;) {
      if (this.ended) return undefined;
      const now = this.time();
      if (this.queue.length > 0) return { timeNs: now, events: this.take() };
      if (deadlineNs !== null && now >= deadlineNs) return { timeNs: now, events: [] };
      await new Promise<void>((resolve) => {
        const ms = deadlineNs === null ? -1 : Number(deadlineNs - now) / 1e6;
        const cancel = this.wait(ms, () => { cancel(); this.waiter = undefined; resolve(); });
        this.waiter = () => { cancel(); this.waiter = undefined; resolve(); };
      });
    }
  }

  /** Machine time never goes backwards, whatever the host clock does. */
  private time(): bigint {
    const t = this.now();
    if (t > this.lastTime) this.lastTime = t;
    return this.lastTime;
  }

  private take(): ExternalEvent[] {
    return takeBatch(this.queue);
  }
}
