// Drives the kernel's wasi_snapshot_preview1 imports directly, the way a guest would: arguments
// are placed in a real WebAssembly.Memory and results read back from it. Lets tests check the
// exact errno of every path without compiling a C program for each case.
import { Errno, Kernel, MemoryEffects, processConfig, type TreeNode } from '../dist/runtime/index.js';

export { Errno };
export type Syscall = (...args: (number | bigint)[]) => number;

const encoder = new TextEncoder();
export const all = (1n << 30n) - 1n;

export interface HarnessOptions {
  /** Contents of the preopen mounted at fd 3 as /scratch (default: an empty directory). */
  tree?: TreeNode;
  stdin?: string;
  maxOpenFds?: number;
  snapshotLimits?: { maxEntries: number; maxBytes: number };
  /** --host NAME=IP entries for sock_getaddrinfo. */
  hosts?: [string, string][];
}

export class SyscallHarness {
  readonly memory = new WebAssembly.Memory({ initial: 4, maximum: 64 });
  readonly kernel: Kernel;
  readonly effects: MemoryEffects;
  readonly sys: Record<string, Syscall>;
  private heap = 1024;

  constructor(options: HarnessOptions = {}) {
    const tree = options.tree ?? { kind: 'dir', entries: [] };
    this.effects = new MemoryEffects({ stdin: options.stdin ?? '', trees: { '/host/scratch': tree } });
    this.kernel = new Kernel(processConfig({
      args: ['harness', 'arg1'], env: ['A=1'],
      preopens: [{ hostPath: '/host/scratch', guestPath: '/scratch' }],
      ...(options.maxOpenFds ? { maxOpenFds: options.maxOpenFds } : {}),
      ...(options.snapshotLimits ? { snapshotLimits: options.snapshotLimits } : {}),
      ...(options.hosts ? { hosts: options.hosts } : {}),
    }), this.effects);
    this.kernel.attachMemory(this.memory);
    this.sys = this.kernel.imports()['wasi_snapshot_preview1'] as unknown as Record<string, Syscall>;
  }

  get view(): DataView { return new DataView(this.memory.buffer); }

  /** Bump-allocates n zeroed bytes, 8-aligned. */
  alloc(n: number): number {
    const ptr = this.heap;
    this.heap += (n + 7) & ~7;
    new Uint8Array(this.memory.buffer, ptr, n).fill(0);
    return ptr;
  }

  bytes(data: Uint8Array | string): [ptr: number, len: number] {
    const b = typeof data === 'string' ? encoder.encode(data) : data;
    const ptr = this.alloc(b.length);
    new Uint8Array(this.memory.buffer, ptr, b.length).set(b);
    return [ptr, b.length];
  }

  read(ptr: number, len: number): Uint8Array { return new Uint8Array(this.memory.buffer, ptr, len).slice(); }
  u32(ptr: number): number { return this.view.getUint32(ptr, true); }
  u64(ptr: number): bigint { return this.view.getBigUint64(ptr, true); }

  // ---- typed wrappers: each returns the errno and what the call produced ---------------------

  open(path: string, o: { dirfd?: number; dirflags?: number; oflags?: number; rights?: bigint; inheriting?: bigint; fdflags?: number } = {}) {
    const [p, l] = this.bytes(path);
    const out = this.alloc(4);
    const errno = this.sys.path_open!(o.dirfd ?? 3, o.dirflags ?? 1, p, l, o.oflags ?? 0, o.rights ?? all, o.inheriting ?? all, o.fdflags ?? 0, out);
    return { errno, fd: this.u32(out) };
  }

  create(path: string, data = '', fdflags = 0): number {
    const { errno, fd } = this.open(path, { oflags: 1 | 8, fdflags });
    if (errno !== 0) throw new Error(`create ${path}: errno ${errno}`);
    if (data) this.write(fd, data);
    return fd;
  }

  write(fd: number, data: string | Uint8Array) {
    const [p, l] = this.bytes(data);
    const iov = this.alloc(8);
    this.view.setUint32(iov, p, true);
    this.view.setUint32(iov + 4, l, true);
    const out = this.alloc(4);
    const errno = this.sys.fd_write!(fd, iov, 1, out);
    return { errno, n: this.u32(out) };
  }

  pwrite(fd: number, data: string, offset: bigint) {
    const [p, l] = this.bytes(data);
    const iov = this.alloc(8);
    this.view.setUint32(iov, p, true);
    this.view.setUint32(iov + 4, l, true);
    const out = this.alloc(4);
    const errno = this.sys.fd_pwrite!(fd, iov, 1, offset, out);
    return { errno, n: this.u32(out) };
  }

  readFd(fd: number, max = 4096) {
    const buf = this.alloc(max);
    const iov = this.alloc(8);
    this.view.setUint32(iov, buf, true);
    this.view.setUint32(iov + 4, max, true);
    const out = this.alloc(4);
    const errno = this.sys.fd_read!(fd, iov, 1, out);
    return { errno, text: new TextDecoder().decode(this.read(buf, this.u32(out))) };
  }

  pread(fd: number, max: number, offset: bigint) {
    const buf = this.alloc(max);
    const iov = this.alloc(8);
    this.view.setUint32(iov, buf, true);
    this.view.setUint32(iov + 4, max, true);
    const out = this.alloc(4);
    const errno = this.sys.fd_pread!(fd, iov, 1, offset, out);
    return { errno, text: new TextDecoder().decode(this.read(buf, this.u32(out))) };
  }

  seek(fd: number, offset: bigint, whence: number) {
    const out = this.alloc(8);
    const errno = this.sys.fd_seek!(fd, offset, whence, out);
    return { errno, offset: this.u64(out) };
  }

  filestat(fd: number) {
    const out = this.alloc(64);
    const errno = this.sys.fd_filestat_get!(fd, out);
    return { errno, ...this.decodeFilestat(out) };
  }

  pathFilestat(path: string, follow = true, dirfd = 3) {
    const [p, l] = this.bytes(path);
    const out = this.alloc(64);
    const errno = this.sys.path_filestat_get!(dirfd, follow ? 1 : 0, p, l, out);
    return { errno, ...this.decodeFilestat(out) };
  }

  private decodeFilestat(ptr: number) {
    return {
      dev: this.u64(ptr), ino: this.u64(ptr + 8), filetype: this.view.getUint8(ptr + 16), nlink: this.u64(ptr + 24),
      size: this.u64(ptr + 32), atim: this.u64(ptr + 40), mtim: this.u64(ptr + 48), ctim: this.u64(ptr + 56),
    };
  }

  fdstat(fd: number) {
    const out = this.alloc(24);
    const errno = this.sys.fd_fdstat_get!(fd, out);
    return { errno, filetype: this.view.getUint8(out), flags: this.view.getUint16(out + 2, true), rightsBase: this.u64(out + 8), rightsInheriting: this.u64(out + 16) };
  }

  /** A path-taking call with one path argument: path_create_directory, path_unlink_file... */
  path(name: 'path_create_directory' | 'path_remove_directory' | 'path_unlink_file', path: string, dirfd = 3): number {
    const [p, l] = this.bytes(path);
    return this.sys[name]!(dirfd, p, l);
  }

  symlink(target: string, path: string, dirfd = 3): number {
    const [t, tl] = this.bytes(target);
    const [p, l] = this.bytes(path);
    return this.sys.path_symlink!(t, tl, dirfd, p, l);
  }

  rename(from: string, to: string, fromFd = 3, toFd = 3): number {
    const [a, al] = this.bytes(from);
    const [b, bl] = this.bytes(to);
    return this.sys.path_rename!(fromFd, a, al, toFd, b, bl);
  }

  link(from: string, to: string, follow = false): number {
    const [a, al] = this.bytes(from);
    const [b, bl] = this.bytes(to);
    return this.sys.path_link!(3, follow ? 1 : 0, a, al, 3, b, bl);
  }

  readlink(path: string, bufLen: number) {
    const [p, l] = this.bytes(path);
    const buf = this.alloc(Math.max(bufLen, 1));
    const used = this.alloc(4);
    const errno = this.sys.path_readlink!(3, p, l, buf, bufLen, used);
    return { errno, target: new TextDecoder().decode(this.read(buf, this.u32(used))) };
  }

  /** fd_readdir with a buffer of bufLen bytes from `cookie`; decodes the whole entries. */
  readdir(fd: number, bufLen = 4096, cookie = 0n) {
    const buf = this.alloc(bufLen);
    const used = this.alloc(4);
    const errno = this.sys.fd_readdir!(fd, buf, bufLen, cookie, used);
    const n = this.u32(used);
    const entries: { name: string; next: bigint; type: number; ino: bigint }[] = [];
    for (let at = 0; at + 24 <= n;) {
      const namlen = this.u32(buf + at + 16);
      if (at + 24 + namlen > n) break;
      entries.push({
        next: this.u64(buf + at), ino: this.u64(buf + at + 8), type: this.view.getUint8(buf + at + 20),
        name: new TextDecoder().decode(this.read(buf + at + 24, namlen)),
      });
      at += 24 + namlen;
    }
    return { errno, used: n, entries };
  }

  /** All names in a directory, reading with a small buffer to exercise cookies. */
  listDir(fd: number, bufLen = 64): string[] {
    const names: string[] = [];
    let cookie = 0n;
    for (;;) {
      const { entries, used } = this.readdir(fd, bufLen, cookie);
      for (const e of entries) { names.push(e.name); cookie = e.next; }
      if (used < bufLen) return names;
      if (entries.length === 0) throw new Error('buffer too small for one entry');
    }
  }
}
