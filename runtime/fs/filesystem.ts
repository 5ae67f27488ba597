import { createHash, type Hash } from 'node:crypto';
import { FileType, FstFlags, type Filestat } from '../abi.js';
import type { VirtualClock } from '../clock.js';
import { Errno, WasiError, check } from '../errno.js';
import type { DirInode, FileInode, Inode, SymlinkInode, Times } from './inode.js';
import { sortedNames } from './inode.js';
import type { SnapshotLimits, TreeNode } from './tree.js';

/** All nodes of one process live on one device. */
const deviceId = 1n;

/**
 * One process's in-memory filesystem: every preopen's snapshot, mounted side by side. It owns
 * the inode counter and the space budget (the snapshot limits bound growth too: ENOSPC past
 * them), and stamps every change with virtual time.
 */
export class Filesystem {
  private nextIno = 1n;
  private inodeCount = 0;
  private byteCount = 0;

  constructor(private readonly clock: VirtualClock, readonly limits: SnapshotLimits) {}

  get usage(): { inodes: number; bytes: number } {
    return { inodes: this.inodeCount, bytes: this.byteCount };
  }

  /** Builds the inodes of a snapshot; returns its root directory. Inode numbers follow tree order. */
  load(tree: TreeNode): DirInode {
    if (tree.kind !== 'dir') throw new Error('a preopen snapshot must be a directory');
    const root = this.newDir(undefined);
    this.fill(root, tree);
    return root;
  }

  private fill(dir: DirInode, tree: Extract<TreeNode, { kind: 'dir' }>): void {
    for (const [name, node] of tree.entries) {
      if (node.kind === 'dir') {
        const child = this.newDir(dir);
        this.fill(child, node);
        this.attach(dir, name, child);
      } else if (node.kind === 'file') {
        const file = this.newFile();
        this.writeAt(file, 0, node.data);
        this.attach(dir, name, file);
      } else {
        this.attach(dir, name, this.newSymlink(node.target));
      }
    }
  }

  // ---- creating and linking nodes ---------------------------------------------------------

  newFile(): FileInode {
    return { kind: 'file', ino: this.allocateIno(), ...this.nowTimes(), data: new Uint8Array(0), size: 0, nlink: 0, openHandles: 0, contentHash: undefined };
  }

  /** A new directory under `parent` (not yet linked into it); undefined makes a root. */
  newDir(parent: DirInode | undefined): DirInode {
    const dir = {
      kind: 'dir', ino: this.allocateIno(), ...this.nowTimes(), entries: new Map(), removed: false,
      sortedNames: undefined,
    } as unknown as DirInode;
    dir.parent = parent ?? dir;
    return dir;
  }

  newSymlink(target: string): SymlinkInode {
    return { kind: 'symlink', ino: this.allocateIno(), ...this.nowTimes(), target, nlink: 0 };
  }

  /** Links `node` into `dir` as `name` (replacing nothing: the caller removes first). */
  attach(dir: DirInode, name: string, node: Inode): void {
    check(!dir.removed, Errno.NOENT, 'directory was removed');
    dir.entries.set(name, node);
    dir.sortedNames = undefined;
    if (node.kind === 'dir') node.parent = dir;
    else node.nlink++;
    this.touch(dir);
  }

  /** Unlinks `name` from `dir`; frees the node when nothing refers to it any more. */
  detach(dir: DirInode, name: string): void {
    const node = dir.entries.get(name);
    if (!node) return;
    dir.entries.delete(name);
    dir.sortedNames = undefined;
    this.touch(dir);
    if (node.kind === 'dir') {
      node.removed = true;
      this.release(node);
    } else {
      node.nlink--;
      node.ctim = this.clock.timestamp();
      if (node.nlink === 0 && (node.kind === 'symlink' || node.openHandles === 0)) this.release(node);
    }
  }

  /** A handle on `file` was closed. */
  closed(file: FileInode): void {
    file.openHandles--;
    if (file.nlink === 0 && file.openHandles === 0) this.release(file);
  }

  private release(node: Inode): void {
    this.inodeCount--;
    if (node.kind === 'file') {
      this.byteCount -= node.size;
      node.data = new Uint8Array(0);
    }
  }

  private allocateIno(): bigint {
    check(this.inodeCount < this.limits.maxEntries, Errno.NOSPC, `more than ${this.limits.maxEntries} inodes`);
    this.inodeCount++;
    return this.nextIno++;
  }

  // ---- file contents ------------------------------------------------------------------------

  /** Writes `data` at `offset`, growing the file (zero-filled) as needed; returns bytes written. */
  writeAt(file: FileInode, offset: number, data: Uint8Array): number {
    const end = offset + data.length;
    if (end > file.size) this.resize(file, end);
    file.data.set(data, offset);
    file.contentHash = undefined;
    file.mtim = file.ctim = this.clock.timestamp();
    return data.length;
  }

  readAt(file: FileInode, offset: number, length: number): Uint8Array {
    if (offset >= file.size) return new Uint8Array(0);
    return file.data.subarray(offset, Math.min(file.size, offset + length));
  }

  /** ftruncate: shrinks or zero-extends. */
  setSize(file: FileInode, size: number): void {
    this.resize(file, size);
    file.mtim = file.ctim = this.clock.timestamp();
  }

  private resize(file: FileInode, size: number): void {
    check(size <= this.limits.maxBytes, Errno.FBIG, `file of ${size} bytes`);
    const growth = size - file.size;
    check(this.byteCount + growth <= this.limits.maxBytes, Errno.NOSPC, `filesystem over ${this.limits.maxBytes} bytes`);
    if (size > file.data.length) {
      // Capacity doubles so a file written in small appends costs amortised O(1) per byte.
      const grown = new Uint8Array(Math.min(Math.max(size, file.data.length * 2, 64), this.limits.maxBytes));
      grown.set(file.data.subarray(0, file.size));
      file.data = grown;
    } else if (size < file.size) {
      file.data.fill(0, size, file.size); // so a later extension reads zeros
    }
    file.size = size;
    file.contentHash = undefined;
    this.byteCount += growth;
  }

  // ---- metadata -----------------------------------------------------------------------------

  stat(node: Inode): Filestat {
    const common = { dev: deviceId, ino: node.ino, atim: node.atim, mtim: node.mtim, ctim: node.ctim };
    switch (node.kind) {
      case 'file': return { ...common, filetype: FileType.REGULAR_FILE, nlink: BigInt(node.nlink), size: BigInt(node.size) };
      case 'symlink': return { ...common, filetype: FileType.SYMBOLIC_LINK, nlink: BigInt(node.nlink), size: BigInt(new TextEncoder().encode(node.target).length) };
      case 'dir': {
        let subdirs = 0;
        for (const child of node.entries.values()) if (child.kind === 'dir') subdirs++;
        // POSIX convention: "." and the entry in the parent, plus each subdirectory's "..".
        const nlink = node.removed ? 0 : 2 + subdirs;
        return { ...common, filetype: FileType.DIRECTORY, nlink: BigInt(nlink), size: BigInt(sortedNames(node).length) };
      }
    }
  }

  /** fd/path_filestat_set_times: explicit times, or "now" from the virtual clock. */
  setTimes(node: Inode, atim: bigint, mtim: bigint, flags: number): void {
    check(!((flags & FstFlags.ATIM) && (flags & FstFlags.ATIM_NOW)), Errno.INVAL, 'ATIM with ATIM_NOW');
    check(!((flags & FstFlags.MTIM) && (flags & FstFlags.MTIM_NOW)), Errno.INVAL, 'MTIM with MTIM_NOW');
    check((flags & ~0xf) === 0, Errno.INVAL, `fstflags ${flags}`);
    const now = this.clock.timestamp();
    if (flags & FstFlags.ATIM) node.atim = atim;
    if (flags & FstFlags.ATIM_NOW) node.atim = now;
    if (flags & FstFlags.MTIM) node.mtim = mtim;
    if (flags & FstFlags.MTIM_NOW) node.mtim = now;
    node.ctim = now;
  }

  private touch(dir: DirInode): void {
    dir.mtim = dir.ctim = this.clock.timestamp();
  }

  private nowTimes(): Times {
    const now = this.clock.timestamp();
    return { atim: now, mtim: now, ctim: now };
  }

  /** SHA-256 over everything a guest can observe below `dir`: names, types, inode numbers, times, contents. */
  digest(dir: DirInode): Uint8Array {
    const hash = createHash('sha256');
    this.digestInto(hash, dir);
    return new Uint8Array(hash.digest());
  }

  private digestInto(hash: Hash, dir: DirInode): void {
    hash.update(`d ${dir.ino} ${dir.atim} ${dir.mtim} ${dir.ctim} ${dir.entries.size}\n`);
    for (const name of sortedNames(dir)) {
      const node = dir.entries.get(name)!;
      hash.update(`${JSON.stringify(name)} `);
      if (node.kind === 'dir') { this.digestInto(hash, node); continue; }
      hash.update(`${node.kind} ${node.ino} ${node.nlink} ${node.atim} ${node.mtim} ${node.ctim} `);
      if (node.kind === 'symlink') hash.update(`${JSON.stringify(node.target)}\n`);
      else {
        node.contentHash ??= new Uint8Array(createHash('sha256').update(node.data.subarray(0, node.size)).digest());
        hash.update(node.contentHash);
      }
    }
    hash.update('end\n');
  }

  /** The current contents below `dir` as a plain tree (for write-back and state hashing). */
  toTree(dir: DirInode): Extract<TreeNode, { kind: 'dir' }> {
    return {
      kind: 'dir',
      entries: sortedNames(dir).map((name) => {
        const node = dir.entries.get(name)!;
        const tree: TreeNode =
          node.kind === 'dir' ? this.toTree(node)
          : node.kind === 'file' ? { kind: 'file', data: node.data.slice(0, node.size) }
          : { kind: 'symlink', target: node.target };
        return [name, tree];
      }),
    };
  }
}

/** Thrown for guest-visible offsets that cannot be a JS array index. */
export function toOffset(value: bigint, errno: typeof Errno.FBIG | typeof Errno.INVAL = Errno.FBIG): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new WasiError(errno, `offset ${value}`);
  return Number(value);
}
