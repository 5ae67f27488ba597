import { Errno, WasiError } from './errno.js';
import type { Dirent, Filestat } from './abi.js';
import { readIovecs, type GuestMemory } from './memory.js';

/** What poll_oneoff needs to know about a handle right now. */
export interface Readiness {
  ready: boolean;
  /** Bytes available to read / room to write, when known. */
  nbytes: bigint;
  hangup: boolean;
}

/**
 * An open file description: position, flags and rights, on top of the thing it refers to.
 * Every operation defaults to the error a POSIX system gives for a handle of the wrong type;
 * a file, directory, stream or socket overrides only what it supports.
 */
export abstract class Handle {
  abstract readonly filetype: number;
  /** Rights that make sense for this kind of handle; a missing one of these is NOTCAPABLE. */
  abstract readonly applicableRights: bigint;
  fdflags = 0;

  constructor(public rightsBase: bigint, public rightsInheriting: bigint) {}

  /** Scatter-read into `buffers`; returns bytes read (0 = end of file). */
  read(_buffers: Uint8Array[]): number { throw new WasiError(Errno.BADF); }
  pread(_buffers: Uint8Array[], _offset: bigint): number { throw new WasiError(Errno.SPIPE); }
  /** Gather-write from `buffers`; returns bytes written. */
  write(_buffers: Uint8Array[]): number { throw new WasiError(Errno.BADF); }
  /** fd_write of the one iovec at `iovPtr` (its commonest call): a handle may read it in place rather than through views. */
  writeIovec(memory: GuestMemory, iovPtr: number): number { return this.write(readIovecs(memory, iovPtr, 1)); }
  /** fd_write of `source[at, at + length)`, a staged write (StagedWrite). */
  writeRange(source: Uint8Array, at: number, length: number): number { return this.write([source.subarray(at, at + length)]); }
  pwrite(_buffers: Uint8Array[], _offset: bigint): number { throw new WasiError(Errno.SPIPE); }
  seek(_offset: bigint, _whence: number): bigint { throw new WasiError(Errno.SPIPE); }
  tell(): bigint { throw new WasiError(Errno.SPIPE); }
  stat(): Filestat { throw new WasiError(Errno.BADF); }
  setSize(_size: bigint): void { throw new WasiError(Errno.INVAL); }
  setTimes(_atim: bigint, _mtim: bigint, _fstflags: number): void { throw new WasiError(Errno.BADF); }
  allocate(_offset: bigint, _len: bigint): void { throw new WasiError(Errno.BADF); }
  advise(_offset: bigint, _len: bigint, _advice: number): void { throw new WasiError(Errno.SPIPE); }
  sync(): void { /* nothing to flush: state is in memory */ }
  /** Directory entries from `cookie` on (fd_readdir); `next` of each is the cookie after it. */
  readdir(_cookie: bigint): Iterable<Dirent> { throw new WasiError(Errno.NOTDIR); }
  /** fdflags other than APPEND/NONBLOCK are accepted and kept, as they change nothing in memory. */
  setFlags(flags: number): void { this.fdflags = flags; }
  close(): void { /* default: nothing held */ }
  /** The guest path of a --dir preopen (fd_prestat_get); undefined for other handles. */
  get preopenName(): string | undefined { return undefined; }

  /** What a state hash must cover of this open description beyond type, flags and rights. */
  digestKey(): string { return ''; }

  pollRead(): Readiness { return { ready: true, nbytes: 0n, hangup: false }; }
  /** Whether only the machine's deliveries change this handle's readiness (sockets, a machine's stdin). */
  get waitsOnNetwork(): boolean { return false; }
  pollWrite(): Readiness { return { ready: true, nbytes: 0n, hangup: false }; }

  sockAccept(_fdflags: number): Handle { throw new WasiError(Errno.NOTSOCK); }
  sockRecv(_buffers: Uint8Array[], _riflags: number): { bytes: number; roflags: number } {
    throw new WasiError(Errno.NOTSOCK);
  }
  sockSend(_buffers: Uint8Array[], _siflags: number): number { throw new WasiError(Errno.NOTSOCK); }
  sockShutdown(_how: number): void { throw new WasiError(Errno.NOTSOCK); }
}

/** Total length of a list of buffers. */
export function totalLength(buffers: Uint8Array[]): number {
  let n = 0;
  for (const b of buffers) n += b.length;
  return n;
}

/** Copies `source` into the buffers in order; returns bytes copied. */
export function scatter(source: Uint8Array, buffers: Uint8Array[]): number {
  let copied = 0;
  for (const buf of buffers) {
    if (copied >= source.length) break;
    const n = Math.min(buf.length, source.length - copied);
    buf.set(source.subarray(copied, copied + n));
    copied += n;
  }
  return copied;
}

/** The buffers as one array: the one buffer itself (a view of guest memory, not a copy), or a fresh array joining them. */
export function gatherView(buffers: Uint8Array[]): Uint8Array {
  return buffers.length === 1 ? buffers[0]! : gather(buffers);
}

/** Concatenates buffers into one fresh array. */
export function gather(buffers: Uint8Array[]): Uint8Array {
  if (buffers.length === 1) return buffers[0]!.slice();
  const out = new Uint8Array(totalLength(buffers));
  let at = 0;
  for (const b of buffers) { out.set(b, at); at += b.length; }
  return out;
}
