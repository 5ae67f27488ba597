// The kernel's preview1 calls as the WASI 0.2 host makes them: arguments that are guest memory in
// preview1 (paths, buffers, result slots) live in a scratch memory RepliCode owns, and every call
// goes through the kernel's (traced) syscall boundary, so each one is one trace event exactly as
// a preview1 module's call would be. See docs/design.md, "WASI 0.2 components".
import { Errno, WasiError, type ErrnoValue } from '../errno.js';
import { maxPathBytes } from '../fs/resolve.js';
import { GuestMemory } from '../memory.js';

type Syscall = (...args: (number | bigint)[]) => number;

/** Scratch layout (bytes): one iovec, two result slots, a filestat, two paths, then data. */
export const Scratch = {
  iovec: 0, out: 8, out2: 16, stat: 64, pathA: 4096, pathB: 4096 + maxPathBytes, data: 65536,
  /** The most bytes one read or write moves (a longer write is split into several calls). */
  dataBytes: 128 * 1024,
} as const;
const scratchPages = (Scratch.data + Scratch.dataBytes) / 65536;

const utf8 = new TextEncoder();

/** Thrown by a call that returned an errno: the interface turns it into its own error type. */
export class CallFailed extends Error {
  constructor(readonly errno: ErrnoValue) { super(`errno ${errno}`); }
}

/** One process's preview1 calls over a private scratch memory. */
export class KernelCalls {
  readonly scratch = new WebAssembly.Memory({ initial: scratchPages, maximum: scratchPages });
  readonly mem = new GuestMemory(this.scratch);

  constructor(private readonly table: Record<string, Syscall>) {}

  /** Calls `name`; a non-zero errno throws CallFailed. */
  call(name: string, ...args: (number | bigint)[]): void {
    const fn = this.table[name];
    if (!fn) throw new Error(`the kernel has no ${name}`);
    const errno = fn(...args);
    if (errno !== 0) throw new CallFailed(errno as ErrnoValue);
  }

  /** Copies a path into one of the two path slots; returns its byte length (the kernel checks it). */
  path(slot: number, path: string): number {
    const bytes = utf8.encode(path);
    if (bytes.length > maxPathBytes) return bytes.length; // the kernel answers ENAMETOOLONG from the length alone
    this.mem.write(slot, bytes);
    return bytes.length;
  }

  /** Writes `bytes` (at most Scratch.dataBytes) to the data area and points the iovec at it. */
  stage(bytes: Uint8Array): void {
    if (bytes.length > Scratch.dataBytes) throw new WasiError(Errno.INVAL, 'staged more than the scratch area holds');
    this.mem.write(Scratch.data, bytes);
    this.iovec(bytes.length);
  }

  iovec(length: number): void {
    this.mem.setU32(Scratch.iovec, Scratch.data);
    this.mem.setU32(Scratch.iovec + 4, length);
  }

  /** A copy of the first `length` data bytes. */
  data(length: number): Uint8Array {
    return this.mem.bytes(Scratch.data, length).slice();
  }
}
