// A replica's sequencer: the next batch is the next entry of the consensus log, whatever the
// machine's deadline (ticks are on the log too), so every replica consumes the same batches at
// the same points. Before handing out batch i it reports that batches before i are done: the
// replica's state hash at that boundary is what replicas compare.
import type { Batch, Sequencer } from '../runtime/index.js';
import { decodeBatch } from './batch-codec.js';
import type { ConsensusLog } from './log.js';

export class ReplicaSequencer implements Sequencer {
  private readonly queue: { batch: Batch; position: number | undefined }[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private consumed = 0;
  private readonly unsubscribe: () => void;
  /** Called with the number of batches fully applied, each time the machine asks for more. */
  onBoundary: (batchesApplied: number) => void = () => {};
  /** Called each time the machine takes a batch (the proposer cuts the next one no sooner). */
  onTaken: () => void = () => {};
  /** The replica's stdin process asked for a piece of stdin (the cluster reads it, once for all replicas). */
  onWantStdin: (ordinal: number) => void = () => {};

  /**
   * Called at each boundary after onBoundary, before the next batch is taken (the machine is
   * quiet: every process blocked): a snapshot is taken here (consensus/cluster.ts).
   */
  beforeNext: ((batchesApplied: number) => Promise<void>) | undefined;

  /**
   * `from`: the batches applied already (a replica restored from a snapshot taken there).
   * `decode`: how entries become batches (a cluster decodes an entry once for all its replicas).
   */
  constructor(log: ConsensusLog, from = 0, decode: (entry: Uint8Array) => Batch = decodeBatch) {
    this.consumed = from;
    this.unsubscribe = log.subscribe(from, (_index, entry, position) => {
      this.queue.push({ batch: decode(entry), position });
      this.waiter?.();
    });
  }

  get applied(): number { return this.consumed; }

  /** The log position (ConsensusLog.subscribe) of the last batch applied, where the log gives one. */
  position: number | undefined;

  async next(): Promise<Batch | undefined> {
    this.onBoundary(this.consumed);
    if (this.beforeNext) await this.beforeNext(this.consumed);
    while (this.queue.length === 0 && !this.ended) await new Promise<void>((resolve) => { this.waiter = () => { this.waiter = undefined; resolve(); }; });
    if (this.ended) return undefined;
    this.consumed++;
    this.onTaken();
    const next = this.queue.shift()!;
    this.position = next.position;
    return next.batch;
  }

  wantStdin(ordinal: number): void {
    this.onWantStdin(ordinal);
  }

  end(): void {
    this.ended = true;
    this.unsubscribe();
    this.waiter?.();
  }
}
