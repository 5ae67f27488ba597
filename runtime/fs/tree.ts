/**
 * A plain, host-independent picture of a directory tree: what a --dir preopen is snapshotted
 * into at start, and what write-back compares against at exit. Entries are sorted by name
 * (byte order of the UTF-8 names) so everything derived from a tree is deterministic.
 */
export type TreeNode =
  | { kind: 'file'; data: Uint8Array }
  | { kind: 'dir'; entries: [name: string, node: TreeNode][] }
  | { kind: 'symlink'; target: string };

/** Bounds on what a snapshot may hold; loading beyond them fails with a clear message. */
export interface SnapshotLimits {
  maxEntries: number;
  maxBytes: number;
}
export const defaultSnapshotLimits: SnapshotLimits = { maxEntries: 100_000, maxBytes: 1 << 30 };

/** One change write-back makes on the host, relative to the preopen's host directory. */
export type WriteBackOp =
  | { op: 'mkdir'; path: string }
  | { op: 'write'; path: string; data: Uint8Array }
  | { op: 'symlink'; path: string; target: string }
  | { op: 'remove'; path: string };
