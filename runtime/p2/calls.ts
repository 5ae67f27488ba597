// The kernel's preview1 calls as the WASI 0.2 host makes them: arguments that are guest memory in
// preview1 (paths, buffers, result slots) live in a scratch memory RepliCode owns, and every call
// goes through the kernel's (traced) syscall boundary, so each one is one trace event exactly as
// a preview1 module's call would be. See docs/design.md, "WASI 0.2 components".
import { ClockId } from '../abi.js';
import { Errno, WasiError, type ErrnoValue } from '../errno.js';
import { maxPathBytes } from '../fs/resolve.js';
import type { StagedWrite } from '../context.js';
import { GuestMemory } from '../memory.js';
import { section } from '../wasm-binary.js';

type Syscall = (...args: (number | bigint)[]) => number;
/** fd_write of bytes where they are: the count, or the errno negated (Kernel.untracedWrite, KernelCalls.writeOnce). */
type UntracedWrite = (fd: number, src: Uint8Array, at: number, n: number) => number;

/** Scratch layout (bytes): one iovec, two result slots, a filestat, two paths, then data. */
export const Scratch = {
  iovec: 0, out: 8, out2: 16, stat: 64, pathA: 4096, pathB: 4096 + maxPathBytes, data: 65536,
  /** The most bytes one read or write moves (a longer write is split into several calls). */
  dataBytes: 128 * 1024,
} as const;
const scratchPages = (Scratch.data + Scratch.dataBytes) / 65536;

const utf8 = new TextEncoder();
/** Up to this many bytes, staging copies byte by byte rather than with TypedArray.prototype.set. */
export const smallCopyBytes = 32;

/**
 * (module
 *   (import "k" "memory" (memory 0))
 *   (import "k" "tick" (func $tick (result i32)))      ;; clock_time_get(MONOTONIC, 1, out): errno
 *   (import "k" "fail" (func $fail (param i32)))       ;; throws CallFailed(errno)
 *   (func (export "now") (result i64) (local $errno i32)
 *     (if (local.tee $errno (call $tick)) (then (call $fail (local.get $errno)) unreachable))
 *     (i64.load (i32.const Scratch.out))))
 */
const monotonicNowModule = (() => {
  if (Scratch.out >= 64 || Scratch.out % 8 !== 0) throw new Error('Scratch.out must be a one-byte, 8-aligned offset');
  const name = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  const body = [1, 1, 0x7f, 0x10, 0, 0x22, 0, 0x04, 0x40, 0x20, 0, 0x10, 1, 0x00, 0x0b, 0x41, Scratch.out, 0x29, 3, 0, 0x0b];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, [3, 0x60, 0, 1, 0x7f, 0x60, 1, 0x7f, 0, 0x60, 0, 1, 0x7e]),
    ...section(2, [3, ...name('k'), ...name('memory'), 2, 0, 0, ...name('k'), ...name('tick'), 0, 0, ...name('k'), ...name('fail'), 0, 1]),
    ...section(3, [1, 2]),
    ...section(7, [1, ...name('now'), 0, 2]),
    ...section(10, [1, body.length, ...body]),
  ]);
})();

/**
 * monotonicNowModule compiled: by the process that compiles a component, once (it is immutable),
 * and handed to each guest thread with the program (ComponentProgram.nowCore), where compiling it
 * again cost ~0.4 ms of every start.
 */
let nowModule: Promise<WebAssembly.Module> | undefined;
export const compiledNowModule = (): Promise<WebAssembly.Module> => (nowModule ??= WebAssembly.compile(monotonicNowModule));

/** Thrown by a call that returned an errno: the interface turns it into its own error type. */
export class CallFailed extends Error {
  constructor(readonly errno: ErrnoValue) { super(`errno ${errno}`); }
}

/** One process's preview1 calls over a private scratch memory. */
export class KernelCalls {
  readonly scratch = new WebAssembly.Memory({ initial: scratchPages, maximum: scratchPages });
  readonly mem = new GuestMemory(this.scratch);
  /**
   * The scratch memory's bytes and a view of them, for the per-call paths (a stream write, a clock
   * read): its maximum is its initial size, so it never grows and these never go stale.
   */
  readonly octets = new Uint8Array(this.scratch.buffer);
  readonly view = new DataView(this.scratch.buffer);
  /** The calls made once per guest syscall by the common paths, looked up once (`call` finds the rest by name). */
  readonly fdWrite: Syscall;
  readonly fdRead: Syscall;
  readonly clockTimeGet: Syscall;
  /**
   * One chunk, src[at, at + n) (at most Scratch.dataBytes), written to fd: the count, or the errno
   * negated. With `untraced` (a run), the kernel's own write of bytes where they are; else
   * writeStaged, the traced fd_write a recording or a replay sees.
   */
  readonly writeOnce: UntracedWrite;
  private guestMemory: WebAssembly.Memory | undefined;
  private guestOctets = new Uint8Array(0);

  /**
   * `staged`: the kernel's StagedWrite, through which a stream write hands fd_write the guest's
   * bytes where they are (the same kernel the table's calls go to). `nowModule`: monotonicNowModule
   * compiled (compiledNowModule), if the caller has it; else compiled here when first asked for.
   * `untraced`: the kernel's untracedWrite, only when `table` has no tracer (nothing records or
   * replays its calls), for writeOnce.
   */
  constructor(private readonly table: Record<string, Syscall>, readonly staged: StagedWrite, private readonly nowModule?: WebAssembly.Module, untraced?: UntracedWrite) {
    this.fdWrite = this.syscall('fd_write');
    this.fdRead = this.syscall('fd_read');
    this.clockTimeGet = this.syscall('clock_time_get');
    this.writeOnce = untraced ?? ((fd, src, at, n) => {
      const errno = this.writeStaged(fd, src, at, n);
      return errno === 0 ? this.out() : -errno;
    });
  }

  /** Calls `name`; a non-zero errno throws CallFailed. */
  call(name: string, ...args: (number | bigint)[]): void {
    const errno = this.syscall(name)(...args);
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
    const n = bytes.length;
    if (n > Scratch.dataBytes) throw new WasiError(Errno.INVAL, 'staged more than the scratch area holds');
    // TypedArray.prototype.set costs ~30 ns whatever the length, a loop over a few bytes ~4.
    if (n <= smallCopyBytes) for (let i = 0; i < n; i++) this.octets[Scratch.data + i] = bytes[i]!;
    else this.octets.set(bytes, Scratch.data);
    this.iovec(n);
  }

  /**
   * fd_write(fd, the iovec, 1, the result slot) of src[at, at + n) (at most Scratch.dataBytes),
   * which the kernel takes where it is (StagedWrite) rather than as a copy in the scratch memory:
   * the same call with the same arguments, so the same event. Its errno; the count is in `out()`.
   */
  writeStaged(fd: number, src: Uint8Array, at: number, n: number): number {
    const { staged } = this;
    staged.stage(src, at, n);
    try {
      return this.fdWrite(fd, Scratch.iovec, 1, Scratch.out);
    } finally {
      staged.source = null; // fd_write took it; not if the call stopped before it ran
    }
  }

  /**
   * The bytes of a guest's memory, kept while it does not grow: growing detaches the old buffer
   * (length 0 then), and reading `memory.buffer` per call costs a C++ accessor (component
   * memories are never shared, so they only grow by detaching).
   */
  guestBytes(memory: WebAssembly.Memory): Uint8Array {
    if (this.guestMemory !== memory || this.guestOctets.length === 0) {
      this.guestMemory = memory;
      this.guestOctets = new Uint8Array(memory.buffer);
    }
    return this.guestOctets;
  }

  iovec(length: number): void {
    this.view.setUint32(Scratch.iovec, Scratch.data, true);
    this.view.setUint32(Scratch.iovec + 4, length, true);
  }

  /** The u32 a call left in the first result slot. */
  out(): number { return this.view.getUint32(Scratch.out, true); }

  /** A copy of the first `length` data bytes. */
  data(length: number): Uint8Array {
    if (length > Scratch.dataBytes) throw new Error(`a call returned ${length} bytes, more than the scratch area holds`);
    return this.octets.slice(Scratch.data, Scratch.data + length);
  }

  /** A clock's time, in nanoseconds (precision 1 ns, as the preview1 adapter asks). */
  clock(id: number): bigint {
    const errno = this.clockTimeGet(id, 1n, Scratch.out);
    if (errno !== 0) throw new CallFailed(errno as ErrnoValue);
    return this.view.getBigUint64(Scratch.out, true);
  }

  /**
   * monotonic-clock `now` as a core function (`() -> i64`), made on first use: the kernel's
   * clock_time_get writes the time into the scratch memory, and the function loads it from there,
   * so no BigInt is made for it and none converted back (see monotonicNowModule).
   */
  monotonicNowCore(): () => bigint {
    if (this.nowCore === undefined) {
      const tick = (): number => this.clockTimeGet(ClockId.MONOTONIC, 1n, Scratch.out);
      const fail = (errno: number): never => { throw new CallFailed(errno as ErrnoValue); };
      const instance = new WebAssembly.Instance(this.nowModule ?? new WebAssembly.Module(monotonicNowModule), { k: { memory: this.scratch, tick, fail } });
      this.nowCore = instance.exports.now as () => bigint;
    }
    return this.nowCore;
  }
  private nowCore: (() => bigint) | undefined;

  private syscall(name: string): Syscall {
    const fn = this.table[name];
    if (!fn) throw new Error(`the kernel has no ${name}`);
    return fn;
  }
}
