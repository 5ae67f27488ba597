import { FdFlags, FileType, Whence, fileRights, type Filestat } from '../abi.js';
import { Errno, check } from '../errno.js';
import { Handle, gather, scatter, totalLength, type Readiness } from '../handle.js';
import { toOffset, type Filesystem } from './filesystem.js';
import type { FileInode } from './inode.js';

/** An open regular file: a position and flags over a FileInode (shared with other opens). */
export class FileHandle extends Handle {
  readonly filetype = FileType.REGULAR_FILE;
  readonly applicableRights = fileRights;
  private position = 0;
  private open = true;

  constructor(private readonly fs: Filesystem, readonly inode: FileInode, rightsBase: bigint, rightsInheriting: bigint, fdflags: number) {
    super(rightsBase, rightsInheriting);
    this.fdflags = fdflags;
    inode.openHandles++;
  }

  override read(buffers: Uint8Array[]): number {
    const n = this.preadAt(buffers, this.position);
    this.position += n;
    return n;
  }

  override pread(buffers: Uint8Array[], offset: bigint): number {
    if (offset >= BigInt(this.inode.size)) return 0;
    return this.preadAt(buffers, Number(offset));
  }

  private preadAt(buffers: Uint8Array[], offset: number): number {
    return scatter(this.fs.readAt(this.inode, offset, totalLength(buffers)), buffers);
  }

  override write(buffers: Uint8Array[]): number {
    if (this.fdflags & FdFlags.APPEND) this.position = this.inode.size;
    const n = this.fs.writeAt(this.inode, this.position, gather(buffers));
    this.position += n;
    return n;
  }

  /** POSIX pwrite: at `offset` whatever APPEND says (the WASI test suite expects this), position unchanged. */
  override pwrite(buffers: Uint8Array[], offset: bigint): number {
    return this.fs.writeAt(this.inode, toOffset(offset), gather(buffers));
  }

  override seek(offset: bigint, whence: number): bigint {
    const signed = BigInt.asIntN(64, offset);
    const base = whence === Whence.SET ? 0n : whence === Whence.CUR ? BigInt(this.position) : BigInt(this.inode.size);
    const target = base + signed;
    check(target >= 0n, Errno.INVAL, 'seek before start');
    this.position = toOffset(target, Errno.INVAL);
    return target;
  }

  override tell(): bigint { return BigInt(this.position); }
  override digestKey(): string { return `file ino=${this.inode.ino} pos=${this.position}`; }
  override stat(): Filestat { return this.fs.stat(this.inode); }
  override setSize(size: bigint): void { this.fs.setSize(this.inode, toOffset(size)); }
  override setTimes(atim: bigint, mtim: bigint, flags: number): void { this.fs.setTimes(this.inode, atim, mtim, flags); }

  /** posix_fallocate: the file is at least offset+len long afterwards. */
  override allocate(offset: bigint, len: bigint): void {
    check(len > 0n, Errno.INVAL, 'allocate of zero bytes');
    const end = toOffset(offset + len);
    if (end > this.inode.size) this.fs.setSize(this.inode, end);
  }

  override advise(): void { /* advice changes nothing for an in-memory file */ }

  override pollRead(): Readiness {
    return { ready: true, nbytes: BigInt(Math.max(0, this.inode.size - this.position)), hangup: false };
  }

  override close(): void {
    if (!this.open) return;
    this.open = false;
    this.fs.closed(this.inode);
  }
}

