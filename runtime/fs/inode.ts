// The in-memory filesystem's nodes. Plain mutable records; every change goes through
// Filesystem, which keeps the space budget and the timestamps.

export interface Times { atim: bigint; mtim: bigint; ctim: bigint }

interface InodeBase extends Times {
  /** Stable inode number: assigned in snapshot order at start, then by a counter. */
  readonly ino: bigint;
}

export interface FileInode extends InodeBase {
  readonly kind: 'file';
  /** Backing store; only the first `size` bytes are file content (the rest is spare capacity). */
  data: Uint8Array;
  size: number;
  nlink: number;
  /** Open handles; an unlinked file keeps its bytes until the last one closes. */
  openHandles: number;
  /** SHA-256 of the content, kept until the next change (state hashes reuse it). */
  contentHash: Uint8Array | undefined;
}

export interface DirInode extends InodeBase {
  readonly kind: 'dir';
  readonly entries: Map<string, Inode>;
  /** The containing directory; a mount root is its own parent. */
  parent: DirInode;
  /** Set once the directory is removed: nothing can be created in it any more. */
  removed: boolean;
  /** Entry names in readdir order, rebuilt lazily after a change. */
  sortedNames: string[] | undefined;
}

export interface SymlinkInode extends InodeBase {
  readonly kind: 'symlink';
  readonly target: string;
  nlink: number;
}

export type Inode = FileInode | DirInode | SymlinkInode;

const encoder = new TextEncoder();

/** Readdir order: names compared by their UTF-8 bytes, as a C program would sort them. */
export function compareNames(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

export function sortedNames(dir: DirInode): string[] {
  dir.sortedNames ??= [...dir.entries.keys()].sort(compareNames);
  return dir.sortedNames;
}

/** True if `dir` is `ancestor` or lies below it. */
export function isWithin(dir: DirInode, ancestor: DirInode): boolean {
  for (let d = dir; ; d = d.parent) {
    if (d === ancestor) return true;
    if (d.parent === d) return false;
  }
}
