import { Errno, WasiError } from './errno.js';

/**
 * Bounds-checked access to a guest's linear memory. Memory can grow during any import, and the
 * `memory.buffer` getter is too slow to call per access (it was 12.6% of a syscall-heavy run), so
 * the buffer and its views are cached and refreshed when they no longer cover an access: a grown
 * non-shared memory detaches the old buffer (its views' length drops to 0), a grown shared memory
 * keeps the old, shorter one. Either way the access fails the one length comparison in checkRange,
 * which refreshes and checks again. A bad pointer or length raises WasiError(FAULT), which the
 * syscall boundary returns as errno.
 */
export class GuestMemory {
  private buffer: ArrayBuffer;
  private octets: Uint8Array;
  private dataView: DataView;

  constructor(private readonly memory: WebAssembly.Memory) {
    this.buffer = memory.buffer;
    this.octets = new Uint8Array(this.buffer);
    this.dataView = new DataView(this.buffer);
  }

  get byteLength(): number {
    this.refresh();
    return this.octets.length;
  }

  /**
   * A DataView over the current buffer, valid for offsets checked by checkRange until the next
   * memory growth. Call it after checkRange: a check that refreshes replaces the view.
   */
  view(): DataView {
    if (this.octets.length === 0) this.refresh();
    return this.dataView;
  }

  /** All of memory as bytes, for offsets checked by checkRange until the next growth: call it after checkRange, as view(). */
  octetsView(): Uint8Array {
    if (this.octets.length === 0) this.refresh();
    return this.octets;
  }

  /** Checks [ptr, ptr+len) lies in memory; returns ptr as an unsigned offset. */
  checkRange(ptr: number, len: number): number {
    const start = ptr >>> 0;
    const end = start + (len >>> 0);
    // One comparison on the fast path; `end === 0` only for an empty range at 0 (which must not
    // hand out a detached view either).
    if (end > this.octets.length || end === 0) this.refreshCovering(start, end);
    return start;
  }

  /** A live view onto guest bytes (not a copy): valid until the next memory growth. */
  bytes(ptr: number, len: number): Uint8Array {
    const start = this.checkRange(ptr, len);
    // The constructor is about twice as fast as octets.subarray (no species lookup).
    return new Uint8Array(this.buffer, start, len >>> 0);
  }

  readString(ptr: number, len: number): string {
    return utf8Decoder.decode(this.bytes(ptr, len));
  }

  // The offset is checked (which may refresh the cached view) before the view is read.
  u8(ptr: number): number { const at = this.checkRange(ptr, 1); return this.dataView.getUint8(at); }
  u16(ptr: number): number { const at = this.checkRange(ptr, 2); return this.dataView.getUint16(at, true); }
  u32(ptr: number): number { const at = this.checkRange(ptr, 4); return this.dataView.getUint32(at, true); }
  u64(ptr: number): bigint { const at = this.checkRange(ptr, 8); return this.dataView.getBigUint64(at, true); }

  setU8(ptr: number, v: number): void { const at = this.checkRange(ptr, 1); this.dataView.setUint8(at, v); }
  setU16(ptr: number, v: number): void { const at = this.checkRange(ptr, 2); this.dataView.setUint16(at, v, true); }
  setU32(ptr: number, v: number): void { const at = this.checkRange(ptr, 4); this.dataView.setUint32(at, v >>> 0, true); }
  setU64(ptr: number, v: bigint): void {
    const at = this.checkRange(ptr, 8);
    this.dataView.setBigUint64(at, BigInt.asUintN(64, v), true);
  }

  /** Copies `data` into guest memory at ptr. */
  write(ptr: number, data: Uint8Array): void {
    this.bytes(ptr, data.length).set(data);
  }

  /** Slow path of checkRange: the cached buffer may be stale (memory grew); refresh, check again. */
  private refreshCovering(start: number, end: number): void {
    this.refresh();
    if (end > this.octets.length) {
      throw new WasiError(Errno.FAULT, `range ${start}+${end - start} outside memory`);
    }
  }

  /** Re-reads `memory.buffer` if it is not the cached one (detached, or a shared memory grew). */
  private refresh(): void {
    const buffer = this.memory.buffer;
    if (buffer === this.buffer && buffer.byteLength === this.octets.length) return;
    this.buffer = buffer;
    this.octets = new Uint8Array(buffer);
    this.dataView = new DataView(buffer);
  }
}

export const utf8Encoder = new TextEncoder();
export const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/** Reads a (u32 ptr, u32 len) iovec array; returns live views onto each buffer. */
export function readIovecs(mem: GuestMemory, iovsPtr: number, iovsLen: number): Uint8Array[] {
  const count = iovsLen >>> 0;
  if (count > maxIovecs) throw new WasiError(Errno.INVAL, `${count} iovecs (max ${maxIovecs})`);
  const base = mem.checkRange(iovsPtr, count * 8);
  const view = mem.view();
  // The commonest call has one iovec: an array literal of one (an empty array that is pushed to
  // gets room for 17, ~150 bytes of garbage per write).
  if (count === 1) return [mem.bytes(view.getUint32(base, true), view.getUint32(base + 4, true))];
  const buffers = new Array<Uint8Array>(count);
  for (let i = 0; i < count; i++) {
    const buf = view.getUint32(base + i * 8, true);
    const len = view.getUint32(base + i * 8 + 4, true);
    buffers[i] = mem.bytes(buf, len);
  }
  return buffers;
}

/** Linux's IOV_MAX; WasmEdge uses the same bound. */
export const maxIovecs = 1024;
