// Turns what clients do (from the gateway) into batches on the consensus log: events that
// arrive together go into one batch (bounded in events and bytes); while any client is
// connected, an empty batch every `tickMs` moves machine time on, so guests' timeouts fire.
import { realMachineClock, takeBatch, type ExternalEvent } from '../runtime/index.js';
import { encodeBatch } from './batch-codec.js';
import type { ConsensusLog } from './log.js';

export class Proposer {
  private pending: ExternalEvent[] = [];
  private scheduled = false;
  private chain: Promise<unknown> = Promise.resolve();
  private clients = 0;
  private readonly ticker: NodeJS.Timeout;
  private lastTime = 0n;
  /** Set when an append failed (log full, log gone): the cluster stops. */
  failure: Error | undefined;
  /** Entries appended so far. */
  appended = 0;

  constructor(private readonly log: ConsensusLog, tickMs = 50) {
    this.ticker = setInterval(() => { if (this.clients > 0) this.cut(); }, tickMs);
    this.ticker.unref();
  }

  push(event: ExternalEvent): void {
    if (event.kind === 'connect') this.clients++;
    if (event.kind === 'eof' || event.kind === 'reset') this.clients = Math.max(0, this.clients - 1);
    this.pending.push(event);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => { this.scheduled = false; this.cut(); });
    }
  }

  private appending = false;

  /**
   * Appends the pending events (or an empty tick) as one or more batches, in order. While an
   * append is in flight, events gather for the next one (group commit): a slow log gets fewer,
   * larger batches instead of a queue.
   */
  private cut(): void {
    if (this.appending) return;
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
        this.failure ??= err as Error;
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
  }
}
