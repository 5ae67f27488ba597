// Turns what clients do (from the gateway) into batches on the consensus log: events that
// arrive together go into one batch (bounded in events and bytes); while any client is
// connected, an empty batch every `tickMs` moves machine time on, so guests' timeouts fire.
// Batches are cut no faster than the replicas take them: while the fastest local replica still
// has an appended batch it has not taken, events wait and go out together in the next one (as
// a local machine's sequencer cuts a batch when the machine asks), so a busy replica gets fewer,
// larger batches instead of a queue of small ones, each costing it a round.
import { realMachineClock, takeBatch, type ExternalEvent } from '../runtime/index.js';
import { encodeBatch } from './batch-codec.js';
import type { ConsensusLog } from './log.js';

export class Proposer {
  private pending: ExternalEvent[] = [];
  private scheduled = false;
  private chain: Promise<unknown> = Promise.resolve();
  /** Links of clients that may still send (ticks move time on while there are any). */
  private readonly clients = new Set<number>();
  private readonly ticker: NodeJS.Timeout;
  private lastTime = 0n;
  /** Set when an append failed (log full, log gone): the cluster stops. */
  failure: Error | undefined;
  /** Told of the first failed append. */
  onFailure: (err: Error) => void = () => {};
  /** Entries appended so far. */
  appended = 0;

  /**
   * `replicasReady`: whether a local replica has taken every batch appended so far (default:
   * always, when no replica runs here to say otherwise).
   */
  constructor(private readonly log: ConsensusLog, tickMs = 50, private readonly replicasReady: () => boolean = () => true) {
    this.ticker = setInterval(() => { if (this.clients.size > 0) this.cut(); }, tickMs);
    this.ticker.unref();
  }

  push(event: ExternalEvent): void {
    if (event.kind === 'connect') this.clients.add(event.link);
    // A half-closed client may still wait for its reply, but it sends nothing more.
    if (event.kind === 'eof' || event.kind === 'reset') this.clients.delete(event.link);
    this.pending.push(event);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => { this.scheduled = false; this.cut(); });
    }
  }

  private appending = false;
  /** Events are waiting for a replica to take the last batch. */
  private held = false;

  /** A replica took a batch: events held back may go out now. */
  replicaProgressed(): void {
    if (!this.held || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => { this.scheduled = false; this.cut(); });
  }

  /**
   * Appends the pending events (or an empty tick) as one or more batches, in order. While an
   * append is in flight, events gather for the next one (group commit): a slow log gets fewer,
   * larger batches instead of a queue.
   */
  private cut(force = false): void {
    if (this.appending) return;
    if (!force && !this.replicasReady()) {
      this.held = true;
      return;
    }
    this.held = false;
    const entries: Uint8Array[] = [];
    do {
      const events = takeBatch(this.pending);
      const now = realMachineClock.now();
      this.lastTime = now > this.lastTime ? now : this.lastTime;
      entries.push(encodeBatch({ timeNs: this.lastTime, events }));
    } while (this.pending.length > 0);
    this.appending = true;
    this.chain = (async () => {
      try {
        for (const entry of entries) {
          await this.log.append(entry);
          this.appended++;
        }
      } catch (err) {
        if (!this.failure) {
          this.failure = err as Error;
          this.onFailure(this.failure);
        }
      } finally {
        this.appending = false;
        // What arrived meanwhile goes out together, after this turn's I/O has been gathered too.
        if (this.pending.length > 0 && !this.scheduled) {
          this.scheduled = true;
          setImmediate(() => { this.scheduled = false; this.cut(); });
        }
      }
    })();
  }

  async close(): Promise<void> {
    clearInterval(this.ticker);
    await this.chain;
    // Whatever is still held goes on the log, so every replica applies the same final batches.
    if (this.pending.length > 0) {
      this.cut(true);
      await this.chain;
    }
  }
}
