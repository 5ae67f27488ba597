// wasi:io (error, streams, poll) over the kernel's fds. A stream is an fd and, for a file, its own
// offset (WASI 0.2 streams on files are positional: fd_pread/fd_pwrite); a pollable is a
// poll_oneoff subscription.
import { ClockId, EventType, SubclockFlags, SubscriptionLayout } from '../abi.js';
import { Errno, type ErrnoValue } from '../errno.js';
import { CallFailed, Scratch, type KernelCalls } from './calls.js';
import { loweredByHand } from './lowered.js';
import { errorCode } from './errors.js';

const streamErrorOf = (err: unknown): unknown => {
  if (!(err instanceof CallFailed)) throw err;
  return err.errno === Errno.PIPE ? { tag: 'closed' } : { tag: 'last-operation-failed', val: new IoError(err.errno) };
};

/** A stream-error for jco: thrown objects with a payload become the call's `err` (the streams' methods catch and wrap). */
const closed = Object.freeze({ payload: Object.freeze({ tag: 'closed' }) });

/** A call's errno: non-zero throws CallFailed. */
function check(errno: number): void {
  if (errno !== 0) throw new CallFailed(errno as ErrnoValue);
}

/** wasi:io/error's error: the errno of the operation that failed. */
export class IoError {
  constructor(readonly errno: number) {}
  toDebugString(): string { return errorCode(this.errno); }
}

/** The most pollables one poll takes: their subscriptions and events fill the scratch data area. */
export const maxPollables = Math.floor(Scratch.dataBytes / (SubscriptionLayout.size + 32));

type Wait =
  | { kind: 'ready' }
  | { kind: 'clock'; ns: bigint; absolute: boolean }
  | { kind: 'fd'; fd: number; write: boolean };

export class Pollable {
  constructor(readonly calls: KernelCalls, readonly wait: Wait) {}
  ready(): boolean { return pollList(this.calls, [this], true).length > 0; }
  block(): void { pollList(this.calls, [this], false); }
}

/**
 * poll_oneoff over the pollables' subscriptions (userdata = index); `now` adds a zero timeout so
 * that nothing blocks. A relative clock pollable counts from the poll, not from its subscription
 * (the adapter subscribes and polls at once; this keeps the number of clock reads a module makes).
 */
export function pollList(calls: KernelCalls, list: readonly Pollable[], now = false): Uint32Array {
  if (list.length === 0) throw new WebAssembly.RuntimeError('poll of an empty list');
  if (list.length + 1 > maxPollables) throw new WebAssembly.RuntimeError(`poll of ${list.length} pollables (at most ${maxPollables - 1})`);
  const { mem } = calls;
  const subs = Scratch.data;
  const count = list.length + (now ? 1 : 0);
  const events = subs + count * SubscriptionLayout.size;
  mem.bytes(subs, count * SubscriptionLayout.size).fill(0);
  const waits: Wait[] = list.map((p) => p.wait);
  if (now) waits.push({ kind: 'ready' });
  waits.forEach((wait, i) => {
    const at = subs + i * SubscriptionLayout.size;
    mem.setU64(at, BigInt(i));
    if (wait.kind === 'fd') {
      mem.setU8(at + 8, wait.write ? EventType.FD_WRITE : EventType.FD_READ);
      mem.setU32(at + 16, wait.fd);
      return;
    }
    mem.setU8(at + 8, EventType.CLOCK);
    mem.setU32(at + 16, ClockId.MONOTONIC);
    mem.setU64(at + 24, wait.kind === 'clock' ? wait.ns : 0n);
    mem.setU16(at + 40, wait.kind === 'clock' && wait.absolute ? SubclockFlags.ABSTIME : 0);
  });
  calls.call('poll_oneoff', subs, events, count, Scratch.out);
  const fired = new Set<number>();
  for (let i = 0, n = mem.u32(Scratch.out); i < n; i++) {
    const index = Number(mem.u64(events + i * 32));
    if (index < list.length) fired.add(index);
  }
  return Uint32Array.from([...fired].sort((a, b) => a - b));
}

/**
 * How a stream reaches its fd: stdio reads and writes in order; a file at its own offset. `owner`:
 * what keeps a file's fd open while the stream lives (filesystem.ts), told when the stream is dropped.
 */
type Target = { fd: number; offset: bigint | 'append' | null; owner?: { release(): void } };

export class InputStream {
  constructor(readonly calls: KernelCalls, readonly target: Target) {}

  read(len: bigint): Uint8Array {
    try {
      return this.readChunk(Math.min(Number(len), Scratch.dataBytes));
    } catch (err) {
      throw { payload: streamErrorOf(err) };
    }
  }
  blockingRead(len: bigint): Uint8Array { return this.read(len); }
  skip(len: bigint): bigint { return BigInt(this.read(len).length); }
  blockingSkip(len: bigint): bigint { return this.skip(len); }
  [Symbol.dispose](): void { this.target.owner?.release(); }
  subscribe(): Pollable {
    return new Pollable(this.calls, typeof this.target.offset === 'bigint' ? { kind: 'ready' } : { kind: 'fd', fd: this.target.fd, write: false });
  }

  private readChunk(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const { calls, target } = this;
    calls.iovec(n);
    const { fd, offset } = target;
    if (typeof offset === 'bigint') calls.call('fd_pread', fd, Scratch.iovec, 1, offset, Scratch.out);
    else check(calls.fdRead(fd, Scratch.iovec, 1, Scratch.out));
    const got = calls.out();
    if (got === 0) throw closed;
    if (typeof offset === 'bigint') target.offset = offset + BigInt(got);
    return calls.data(got);
  }
}

/** A stream call's result as jco lowers it: ok, made once (it is only read). */
const streamOk = Object.freeze({ tag: 'ok', val: undefined });
/** check-write's answer: writes are not buffered, so any size up to a chunk may be written at once. */
const writable = Object.freeze({ tag: 'ok', val: BigInt(Scratch.dataBytes) });
type StreamResult = typeof streamOk | { tag: 'err'; val: unknown };

export class OutputStream {
  /** writeLowered and checkWriteResult serve the hand-lowered calls (lowered.ts). */
  static readonly [loweredByHand] = true;

  constructor(readonly calls: KernelCalls, readonly target: Target) {}

  checkWrite(): bigint { return writable.val; }
  /** check-write, hand-lowered: its result. */
  checkWriteResult(): typeof writable { return writable; }
  write(contents: Uint8Array): void {
    const result = this.writeFrom(contents, 0, contents.length);
    if (result !== streamOk) throw { payload: result.val };
  }
  /**
   * write and blocking-write-and-flush as their trampolines call them (lowered.ts): `true` when the
   * guest's bytes [ptr, ptr + len) were written whole and the call's ok stored at `retptr` (the
   * i32 the guest passed, where jco's lowering would store it); otherwise writeGuest's answer, for
   * jco's lowering to store (it traps on a retptr outside memory, as before).
   */
  writeLowered(memory: WebAssembly.Memory, ptr: number, len: number, retptr: number): true | StreamResult | undefined {
    const { calls } = this;
    const bytes = calls.guestBytes(memory);
    if (len === 0 || len > Scratch.dataBytes || ptr + len > bytes.length || this.target.offset !== null) return this.writeGuest(memory, ptr, len);
    // One chunk to stdio, a pipe or a socket, the commonest call: writeFrom's fd_write for it.
    const written = calls.writeOnce(this.target.fd, bytes, ptr, len);
    if (written !== len) return this.afterFirstWrite(written, bytes, ptr, len);
    // The guest's memory cannot have grown meanwhile: the kernel wrote only the scratch memory.
    if (!(retptr >= 0 && retptr < bytes.length)) return streamOk;
    bytes[retptr] = 0;
    return true;
  }
  /**
   * The guest's bytes [ptr, ptr + len) written straight from its memory: the call's result, or
   * undefined, having done nothing, when they are not in it.
   */
  writeGuest(memory: WebAssembly.Memory, ptr: number, len: number): StreamResult | undefined {
    const bytes = this.calls.guestBytes(memory);
    return ptr + len > bytes.length ? undefined : this.writeFrom(bytes, ptr, len);
  }
  blockingWriteAndFlush(contents: Uint8Array): void { this.write(contents); }
  flush(): void { /* every write reached the kernel */ }
  blockingFlush(): void { /* every write reached the kernel */ }
  writeZeroes(len: bigint): void { this.write(new Uint8Array(Math.min(Number(len), Scratch.dataBytes))); }
  blockingWriteZeroesAndFlush(len: bigint): void { this.writeZeroes(len); }
  /** One read of at most `len` bytes from `src`, written here: the bytes moved. */
  splice(src: InputStream, len: bigint): bigint { const bytes = src.read(len); this.write(bytes); return BigInt(bytes.length); }
  blockingSplice(src: InputStream, len: bigint): bigint { return this.splice(src, len); }
  [Symbol.dispose](): void { this.target.owner?.release(); }
  subscribe(): Pollable {
    return new Pollable(this.calls, typeof this.target.offset === 'bigint' ? { kind: 'ready' } : { kind: 'fd', fd: this.target.fd, write: true });
  }

  /**
   * Writes src[at, at + n), in chunks of at most Scratch.dataBytes. The common write, one chunk to
   * stdio or a pipe, is the one fd_write the loop would make for it, with the bytes taken where
   * they are (KernelCalls.writeOnce), without the loop's helper calls, checks and subarray (each
   * helper is compiled on its own in every fresh worker, and ran unoptimised meanwhile:
   * syscall_heavy 200000 in a cold thread 140-242 -> 123-167 ms CPU).
   */
  private writeFrom(src: Uint8Array, at: number, n: number): StreamResult {
    if (this.target.offset === null && n > 0 && n <= Scratch.dataBytes) {
      return this.afterFirstWrite(this.calls.writeOnce(this.target.fd, src, at, n), src, at, n);
    }
    return this.writeRest(src, at, n, 0);
  }

  /** After a first fd_write of src[at, at + n) that answered `written` (writeOnce's count or negated errno): its result, or the rest written. */
  private afterFirstWrite(written: number, src: Uint8Array, at: number, n: number): StreamResult {
    if (written < 0) return { tag: 'err', val: streamErrorOf(new CallFailed(-written as ErrnoValue)) };
    if (written === 0) return { tag: 'err', val: streamErrorOf(new CallFailed(Errno.IO)) };
    return written === n ? streamOk : this.writeRest(src, at, n, written);
  }

  /** src[at + done, at + n) in chunks, as many calls as it takes. */
  private writeRest(src: Uint8Array, at: number, n: number, done: number): StreamResult {
    try {
      while (done < n) done += this.writeChunk(src.subarray(at + done, at + Math.min(n, done + Scratch.dataBytes)));
    } catch (err) {
      return { tag: 'err', val: streamErrorOf(err) };
    }
    return streamOk;
  }

  private writeChunk(chunk: Uint8Array): number {
    const { calls, target } = this;
    calls.stage(chunk);
    if (target.offset === 'append') calls.call('fd_seek', target.fd, 0n, 2 /* END */, Scratch.out2);
    if (typeof target.offset === 'bigint') calls.call('fd_pwrite', target.fd, Scratch.iovec, 1, target.offset, Scratch.out);
    else check(calls.fdWrite(target.fd, Scratch.iovec, 1, Scratch.out));
    const written = calls.out();
    if (typeof target.offset === 'bigint') target.offset += BigInt(written);
    if (written === 0) throw new CallFailed(Errno.IO);
    return written;
  }
}
