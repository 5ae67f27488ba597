// wasi:filesystem (types, preopens): a descriptor is a kernel fd; each method is the path_* or
// fd_* call that does it, so the in-memory filesystem, rights and errno are the preview1 ones.
import { FdFlags, FileType, FstFlags, OFlags, Rights, allRights, directoryRights } from '../abi.js';
import { CallFailed, Scratch, type KernelCalls } from './calls.js';
import { ResultError, errorCode } from './errors.js';
import { InputStream, IoError, OutputStream } from './streams.js';

const typeNames: Record<number, string> = {
  [FileType.UNKNOWN]: 'unknown', [FileType.BLOCK_DEVICE]: 'block-device', [FileType.CHARACTER_DEVICE]: 'character-device',
  [FileType.DIRECTORY]: 'directory', [FileType.REGULAR_FILE]: 'regular-file', [FileType.SOCKET_DGRAM]: 'socket',
  [FileType.SOCKET_STREAM]: 'socket', [FileType.SYMBOLIC_LINK]: 'symbolic-link',
};

/** A filesystem error-code for jco (as the call's `err`). */
function fsCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CallFailed) throw new ResultError(errorCode(err.errno));
    throw err;
  }
}

const datetime = (ns: bigint) => ({ seconds: ns / 1_000_000_000n, nanoseconds: Number(ns % 1_000_000_000n) });
interface PathFlags { symlinkFollow?: boolean }
const lookup = (flags: PathFlags | undefined) => (flags?.symlinkFollow ? 1 : 0);

/** wasi:filesystem's new-timestamp, as preview1's (time, fstflags) for one of atim or mtim. */
type NewTimestamp = { tag: 'no-change' } | { tag: 'now' } | { tag: 'timestamp'; val: { seconds: bigint; nanoseconds: number } };
function timesOf(access: NewTimestamp, modification: NewTimestamp): [bigint, bigint, number] {
  const ns = (t: NewTimestamp) => (t.tag === 'timestamp' ? t.val.seconds * 1_000_000_000n + BigInt(t.val.nanoseconds) : 0n);
  const flags = (t: NewTimestamp, set: number, now: number) => (t.tag === 'timestamp' ? set : t.tag === 'now' ? now : 0);
  return [ns(access), ns(modification), flags(access, FstFlags.ATIM, FstFlags.ATIM_NOW) | flags(modification, FstFlags.MTIM, FstFlags.MTIM_NOW)];
}
const adviceCodes: Record<string, number> = { normal: 0, sequential: 1, random: 2, 'will-need': 3, 'dont-need': 4, 'no-reuse': 5 };

/**
 * Keeps a descriptor's fd open while a stream or directory listing made from it lives: dropping the
 * descriptor first closes the fd when the last of them is dropped (wasmtime's streams keep their
 * file open too). Closing it at once let the next open take the same fd, and the old stream read
 * the new file (the fuzzer's finding: docs/design.md, "Hostile components").
 */
class FdLife {
  private children = 0;
  private dropped = false;
  constructor(private readonly calls: KernelCalls, private readonly fd: number) {}

  retain<T>(child: T): T { this.children++; return child; }
  release(): void {
    if (this.children <= 0) throw new Error('a stream released its descriptor more often than it was made');
    if (--this.children === 0 && this.dropped) this.calls.call('fd_close', this.fd);
  }
  drop(): void {
    this.dropped = true;
    if (this.children === 0) this.calls.call('fd_close', this.fd);
  }
}

export class Descriptor {
  private readonly life: FdLife;
  constructor(readonly calls: KernelCalls, readonly fd: number, private readonly preopen = false) {
    this.life = new FdLife(calls, fd);
  }

  readViaStream(offset: bigint): InputStream { return this.life.retain(new InputStream(this.calls, { fd: this.fd, offset, owner: this.life })); }
  writeViaStream(offset: bigint): OutputStream { return this.life.retain(new OutputStream(this.calls, { fd: this.fd, offset, owner: this.life })); }
  appendViaStream(): OutputStream { return this.life.retain(new OutputStream(this.calls, { fd: this.fd, offset: 'append', owner: this.life })); }

  getType(): string { return fsCall(() => typeNames[this.fdstat().filetype] ?? 'unknown'); }
  getFlags() {
    return fsCall(() => {
      const { rights, flags } = this.fdstat();
      return {
        read: (rights & (Rights.FD_READ | Rights.FD_READDIR)) !== 0n, write: (rights & Rights.FD_WRITE) !== 0n,
        fileIntegritySync: (flags & FdFlags.SYNC) !== 0, dataIntegritySync: (flags & FdFlags.DSYNC) !== 0,
        requestedWriteSync: (flags & FdFlags.RSYNC) !== 0, mutateDirectory: (rights & Rights.PATH_CREATE_FILE) !== 0n,
      };
    });
  }
  stat() { return fsCall(() => { this.calls.call('fd_filestat_get', this.fd, Scratch.stat); return this.readStat(); }); }
  statAt(flags: PathFlags, path: string) {
    return fsCall(() => { this.calls.call('path_filestat_get', this.fd, lookup(flags), Scratch.pathA, this.calls.path(Scratch.pathA, path), Scratch.stat); return this.readStat(); });
  }
  metadataHash() { return fsCall(() => { this.calls.call('fd_filestat_get', this.fd, Scratch.stat); return this.hash(); }); }
  metadataHashAt(flags: PathFlags, path: string) {
    return fsCall(() => { this.calls.call('path_filestat_get', this.fd, lookup(flags), Scratch.pathA, this.calls.path(Scratch.pathA, path), Scratch.stat); return this.hash(); });
  }
  /** read and write at an offset are one fd_pread / fd_pwrite of at most Scratch.dataBytes. */
  read(length: bigint, offset: bigint): [Uint8Array, boolean] {
    return fsCall(() => {
      const n = Math.min(Number(length), Scratch.dataBytes);
      this.calls.iovec(n);
      this.calls.call('fd_pread', this.fd, Scratch.iovec, 1, offset, Scratch.out);
      const got = this.calls.mem.u32(Scratch.out);
      return [this.calls.data(got), got < n]; // fewer bytes than asked: the end of the file
    });
  }
  write(buffer: Uint8Array, offset: bigint): bigint {
    return fsCall(() => {
      this.calls.stage(buffer.subarray(0, Scratch.dataBytes));
      this.calls.call('fd_pwrite', this.fd, Scratch.iovec, 1, offset, Scratch.out);
      return BigInt(this.calls.mem.u32(Scratch.out));
    });
  }
  advise(offset: bigint, length: bigint, advice: string): void {
    const code = adviceCodes[advice];
    if (code === undefined) throw new Error(`${advice} is not a wasi:filesystem advice (jco lowers only those)`);
    fsCall(() => this.calls.call('fd_advise', this.fd, offset, length, code));
  }
  setTimes(access: NewTimestamp, modification: NewTimestamp): void {
    fsCall(() => this.calls.call('fd_filestat_set_times', this.fd, ...timesOf(access, modification)));
  }
  setTimesAt(flags: PathFlags, path: string, access: NewTimestamp, modification: NewTimestamp): void {
    fsCall(() => this.calls.call('path_filestat_set_times', this.fd, lookup(flags), Scratch.pathA, this.calls.path(Scratch.pathA, path), ...timesOf(access, modification)));
  }
  linkAt(flags: PathFlags, oldPath: string, to: Descriptor, newPath: string): void {
    fsCall(() => this.calls.call('path_link', this.fd, lookup(flags), Scratch.pathA, this.calls.path(Scratch.pathA, oldPath), to.fd, Scratch.pathB, this.calls.path(Scratch.pathB, newPath)));
  }
  setSize(size: bigint): void { fsCall(() => this.calls.call('fd_filestat_set_size', this.fd, size)); }
  sync(): void { fsCall(() => this.calls.call('fd_sync', this.fd)); }
  syncData(): void { fsCall(() => this.calls.call('fd_datasync', this.fd)); }

  openAt(flags: PathFlags, path: string, open: { create?: boolean; directory?: boolean; exclusive?: boolean; truncate?: boolean }, desc: { read?: boolean; write?: boolean; fileIntegritySync?: boolean; dataIntegritySync?: boolean; requestedWriteSync?: boolean; mutateDirectory?: boolean }): Descriptor {
    return fsCall(() => {
      const oflags = (open.create ? OFlags.CREAT : 0) | (open.directory ? OFlags.DIRECTORY : 0) | (open.exclusive ? OFlags.EXCL : 0) | (open.truncate ? OFlags.TRUNC : 0);
      // WASI 0.2 has no rights: read and write flags become the preview1 rights they imply.
      let rights = open.directory ? directoryRights | Rights.FD_READDIR : allRights;
      if (!desc.read) rights &= ~Rights.FD_READ;
      if (!desc.write) rights &= ~(Rights.FD_WRITE | Rights.FD_ALLOCATE | Rights.FD_FILESTAT_SET_SIZE);
      const fdflags = (desc.fileIntegritySync ? FdFlags.SYNC : 0) | (desc.dataIntegritySync ? FdFlags.DSYNC : 0) | (desc.requestedWriteSync ? FdFlags.RSYNC : 0);
      this.calls.call('path_open', this.fd, lookup(flags), Scratch.pathA, this.calls.path(Scratch.pathA, path), oflags, rights, allRights, fdflags, Scratch.out);
      return new Descriptor(this.calls, this.calls.mem.u32(Scratch.out));
    });
  }
  createDirectoryAt(path: string): void { fsCall(() => this.calls.call('path_create_directory', this.fd, Scratch.pathA, this.calls.path(Scratch.pathA, path))); }
  removeDirectoryAt(path: string): void { fsCall(() => this.calls.call('path_remove_directory', this.fd, Scratch.pathA, this.calls.path(Scratch.pathA, path))); }
  unlinkFileAt(path: string): void { fsCall(() => this.calls.call('path_unlink_file', this.fd, Scratch.pathA, this.calls.path(Scratch.pathA, path))); }
  renameAt(oldPath: string, to: Descriptor, newPath: string): void {
    fsCall(() => this.calls.call('path_rename', this.fd, Scratch.pathA, this.calls.path(Scratch.pathA, oldPath), to.fd, Scratch.pathB, this.calls.path(Scratch.pathB, newPath)));
  }
  readlinkAt(path: string): string {
    return fsCall(() => {
      this.calls.call('path_readlink', this.fd, Scratch.pathA, this.calls.path(Scratch.pathA, path), Scratch.data, Scratch.dataBytes, Scratch.out);
      return new TextDecoder().decode(this.calls.data(this.calls.mem.u32(Scratch.out)));
    });
  }
  symlinkAt(oldPath: string, newPath: string): void {
    fsCall(() => this.calls.call('path_symlink', Scratch.pathA, this.calls.path(Scratch.pathA, oldPath), this.fd, Scratch.pathB, this.calls.path(Scratch.pathB, newPath)));
  }
  readDirectory(): DirectoryEntryStream { return this.life.retain(new DirectoryEntryStream(this.calls, this.fd, this.life)); }
  isSameObject(other: Descriptor): boolean {
    return fsCall(() => {
      const a = this.metadataHash();
      const b = other.metadataHash();
      return a.lower === b.lower && a.upper === b.upper;
    });
  }
  /** jco drops an owned descriptor through this: the fd is closed (a preopen stays open, as in preview1). */
  [Symbol.dispose](): void {
    if (!this.preopen) this.life.drop();
  }

  private fdstat(): { filetype: number; flags: number; rights: bigint } {
    this.calls.call('fd_fdstat_get', this.fd, Scratch.stat);
    const { mem } = this.calls;
    return { filetype: mem.u8(Scratch.stat), flags: mem.u16(Scratch.stat + 2), rights: mem.u64(Scratch.stat + 8) };
  }
  private readStat() {
    const { mem } = this.calls;
    const at = Scratch.stat;
    return {
      type: typeNames[mem.u8(at + 16)] ?? 'unknown', linkCount: mem.u64(at + 24), size: mem.u64(at + 32),
      dataAccessTimestamp: datetime(mem.u64(at + 40)), dataModificationTimestamp: datetime(mem.u64(at + 48)), statusChangeTimestamp: datetime(mem.u64(at + 56)),
    };
  }
  private hash() { return { lower: this.calls.mem.u64(Scratch.stat + 8), upper: this.calls.mem.u64(Scratch.stat) }; }
}

/** Entries after "." and "..", one fd_readdir per entry from the cookie reached so far. */
export class DirectoryEntryStream {
  private cookie = 0n;
  constructor(readonly calls: KernelCalls, readonly fd: number, private readonly owner: FdLife) {}
  [Symbol.dispose](): void { this.owner.release(); }

  readDirectoryEntry(): { type: string; name: string } | undefined {
    return fsCall(() => {
      const { mem } = this.calls;
      for (;;) {
        this.calls.call('fd_readdir', this.fd, Scratch.data, Scratch.dataBytes, this.cookie, Scratch.out);
        const used = mem.u32(Scratch.out);
        if (used < 24) return undefined;
        this.cookie = mem.u64(Scratch.data);
        const length = mem.u32(Scratch.data + 16);
        const name = new TextDecoder().decode(mem.bytes(Scratch.data + 24, Math.min(length, used - 24)));
        if (name !== '.' && name !== '..') return { type: typeNames[mem.u8(Scratch.data + 20)] ?? 'unknown', name };
      }
    });
  }
}

/** wasi:filesystem/types's filesystem-error-code: the code of a stream error from a file. */
export function filesystemErrorCode(err: unknown): string | undefined {
  return err instanceof IoError ? errorCode(err.errno) : undefined;
}
