// The consensus log: an ordered, append-only sequence of batches every replica agrees on.
// Implementations: EmbeddedLog (in-process, the default); others (etcd, NATS JetStream, a Raft
// library) implement the same interface.

export interface ConsensusLog {
  /** Appends an entry; resolves with its index (0, 1, ...) once committed. */
  append(entry: Uint8Array): Promise<number>;
  /**
   * Calls `onEntry` for every committed entry from `from` on, in order, now and as they come;
   * `position` is where the entry sits in the log's own terms (etcd: its create revision), which
   * a snapshot keeps so a restart reads the log from there. Returns a function that stops it.
   */
  subscribe(from: number, onEntry: (index: number, entry: Uint8Array, position?: number) => void): () => void;
  close(): Promise<void>;
  /**
   * The cluster is stopping: appends from now on are tried for a short while only (etcd: a few
   * seconds instead of a minute), so that Ctrl-C does not wait a minute for an etcd that does not
   * answer. What is not appended is not applied by any replica either, so they still agree.
   */
  stopping?(): void;
  /** Drops the entries before `below` (a snapshot covers them); subscribing before it then fails. */
  compact?(below: number): Promise<void>;
  /** The first entry still held (0 until compacted). */
  readonly first?: number;
}

/** A full log refuses entries: a cluster cannot run unbounded without compaction (not implemented). */
export class LogFullError extends Error {}

export const defaultMaxLogEntries = 10_000_000;

/** The log in this process's memory: replicas in worker threads of one process share it. */
export class EmbeddedLog implements ConsensusLog {
  private entries: Uint8Array[] = [];
  private readonly subscribers = new Set<(index: number, entry: Uint8Array) => void>();
  /** Index of entries[0]: entries before it were compacted away. */
  private base = 0;

  /** `maxEntries` bounds the entries held (after compaction, those since the oldest snapshot). */
  constructor(private readonly maxEntries = defaultMaxLogEntries) {}

  get length(): number { return this.base + this.entries.length; }
  get first(): number { return this.base; }

  async append(entry: Uint8Array): Promise<number> {
    if (this.entries.length >= this.maxEntries) throw new LogFullError(`the log holds ${this.maxEntries} entries, its limit`);
    const index = this.base + this.entries.push(entry) - 1;
    for (const s of this.subscribers) s(index, entry);
    return index;
  }

  subscribe(from: number, onEntry: (index: number, entry: Uint8Array) => void): () => void {
    if (from < this.base) throw new Error(`log entries before ${this.base} were compacted away: start from a snapshot at ${this.base} or later`);
    for (let i = from; i < this.length; i++) onEntry(i, this.entries[i - this.base]!);
    this.subscribers.add(onEntry);
    return () => this.subscribers.delete(onEntry);
  }

  async compact(below: number): Promise<void> {
    if (below <= this.base) return;
    const drop = Math.min(below, this.length) - this.base;
    this.entries = this.entries.slice(drop);
    this.base += drop;
  }

  async close(): Promise<void> {
    this.subscribers.clear();
  }
}
