// The consensus log: an ordered, append-only sequence of batches every replica agrees on.
// Implementations: EmbeddedLog (in-process, the default); others (etcd, NATS JetStream, a Raft
// library) implement the same interface.

export interface ConsensusLog {
  /** Appends an entry; resolves with its index (0, 1, ...) once committed. */
  append(entry: Uint8Array): Promise<number>;
  /** Calls `onEntry` for every committed entry from `from` on, in order, now and as they come. Returns a function that stops it. */
  subscribe(from: number, onEntry: (index: number, entry: Uint8Array) => void): () => void;
  close(): Promise<void>;
}

/** A full log refuses entries: a cluster cannot run unbounded without compaction (not implemented). */
export class LogFullError extends Error {}

export const defaultMaxLogEntries = 10_000_000;

/** The log in this process's memory: replicas in worker threads of one process share it. */
export class EmbeddedLog implements ConsensusLog {
  private readonly entries: Uint8Array[] = [];
  private readonly subscribers = new Set<(index: number, entry: Uint8Array) => void>();

  constructor(private readonly maxEntries = defaultMaxLogEntries) {}

  get length(): number { return this.entries.length; }

  async append(entry: Uint8Array): Promise<number> {
    if (this.entries.length >= this.maxEntries) throw new LogFullError(`the log holds ${this.maxEntries} entries, its limit`);
    const index = this.entries.push(entry) - 1;
    for (const s of this.subscribers) s(index, entry);
    return index;
  }

  subscribe(from: number, onEntry: (index: number, entry: Uint8Array) => void): () => void {
    for (let i = from; i < this.entries.length; i++) onEntry(i, this.entries[i]!);
    this.subscribers.add(onEntry);
    return () => this.subscribers.delete(onEntry);
  }

  async close(): Promise<void> {
    this.subscribers.clear();
  }
}
