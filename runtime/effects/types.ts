import type { SnapshotLimits, TreeNode, WriteBackOp } from '../fs/tree.js';
import type { Delivery, NetRequest } from '../net/types.js';

/** Result of a stdin read: bytes, end of input, or (poll mode) nothing ready yet. */
export type StdinRead = Uint8Array | 'eof' | 'again';

/**
 * Everything the deterministic kernel may ask of the outside world. The kernel never touches
 * Node's clocks, entropy or I/O itself; it goes through one of these. Implementations: real
 * (this process's stdio and disk), in-memory (tests, library use), worker (forwards to the
 * main thread), and the recording and replaying decorators of runtime/trace/.
 */
export interface HostEffects {
  /** Up to `maxBytes` of stdin. 'block' waits for data or EOF; 'poll' answers 'again' if none is ready. */
  readStdin(maxBytes: number, mode: 'block' | 'poll'): StdinRead;
  /**
   * Guest output on stdout (1) or stderr (2): the `length` bytes of `source` from `at` (often
   * the guest's own memory: copied before this returns, never kept; a range rather than a view
   * of it, which a write of one byte would allocate). May be buffered until `flush`.
   */
  writeOutput(stream: 1 | 2, source: Uint8Array, at: number, length: number): void;
  /**
   * Whether the host's end of stdout (1) or stderr (2) is closed (`run ... | head`): the guest's
   * next write there fails with EPIPE. Host input: a recording keeps it as that call's result.
   */
  outputClosed(stream: 1 | 2): boolean;
  /** Snapshot of a host directory for a --dir preopen, read once at start. */
  loadTree(hostPath: string, limits: SnapshotLimits): TreeNode;
  /** Applies write-back changes to a host directory at exit (--write-back). */
  writeBack(hostPath: string, ops: WriteBackOp[]): void;
  /** Pushes out buffered output; called before blocking and at exit. */
  flush(): void;
  /** The host's clock, in ns (realtime: since the Unix epoch), for `--clock real`. */
  clockNow(clockId: number): bigint;
  /** Fills `target` with OS entropy, for `--random os`. */
  entropy(target: Uint8Array): void;
  /** Really waits until the host's monotonic clock reaches `monotonicNs` (a sleep under `--clock real`). */
  sleepUntil(monotonicNs: bigint): void;
  /**
   * Tells the machine what the process's network stack did (listen, connect, send, close).
   * A send's bytes may be a view of guest memory, valid only during the call: what an
   * implementation keeps, it copies.
   */
  netPost(request: NetRequest): void;
  /**
   * Blocks until the machine delivers network input for this process (or its deadline passes).
   * `stateHash`, if given, summarizes the process's history so far (replicas compare them).
   */
  netAwait(deadlineNs: bigint | null, stateHash?: number): Delivery;
}
