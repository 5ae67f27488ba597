import { FileType, directoryRights, type Dirent, type Filestat } from '../abi.js';
import { Errno, WasiError } from '../errno.js';
import { Handle } from '../handle.js';
import type { Filesystem } from './filesystem.js';
import { sortedNames, type DirInode, type Inode } from './inode.js';

const utf8 = new TextEncoder();

function direntType(node: Inode): number {
  return node.kind === 'dir' ? FileType.DIRECTORY : node.kind === 'file' ? FileType.REGULAR_FILE : FileType.SYMBOLIC_LINK;
}

/** An open directory: a --dir preopen, or one opened with path_open. */
export class DirectoryHandle extends Handle {
  readonly filetype = FileType.DIRECTORY;
  readonly applicableRights = directoryRights;

  constructor(readonly fs: Filesystem, readonly inode: DirInode, rightsBase: bigint, rightsInheriting: bigint, private readonly mountName?: string) {
    super(rightsBase, rightsInheriting);
  }

  override get preopenName(): string | undefined { return this.mountName; }
  override digestKey(): string { return `dir ino=${this.inode.ino} preopen=${this.mountName ?? ''}`; }

  override read(): number { throw new WasiError(Errno.ISDIR); }
  override pread(): number { throw new WasiError(Errno.ISDIR); }
  override write(): number { throw new WasiError(Errno.ISDIR); }
  override pwrite(): number { throw new WasiError(Errno.ISDIR); }
  override seek(): bigint { throw new WasiError(Errno.BADF); }
  override tell(): bigint { throw new WasiError(Errno.BADF); }
  override stat(): Filestat { return this.fs.stat(this.inode); }
  override setTimes(atim: bigint, mtim: bigint, flags: number): void { this.fs.setTimes(this.inode, atim, mtim, flags); }
  override allocate(): void { throw new WasiError(Errno.BADF); }
  override advise(): void { throw new WasiError(Errno.BADF); }

  /**
   * "." and "..", then entries sorted by name bytes. A cookie is an index into that list, so
   * it stays meaningful (and deterministic) across calls; a directory changed between calls
   * is read from the same index of its new listing.
   */
  override *readdir(cookie: bigint): Generator<Dirent> {
    const names = sortedNames(this.inode);
    const total = BigInt(names.length + 2);
    for (let i = cookie; i < total; i++) {
      const index = Number(i);
      const [name, node] =
        index === 0 ? ['.', this.inode] as const
        : index === 1 ? ['..', this.inode.parent] as const
        : [names[index - 2]!, this.inode.entries.get(names[index - 2]!)!] as const;
      yield { next: i + 1n, ino: node.ino, name: utf8.encode(name), type: direntType(node) };
    }
  }
}
