import { Errno, WasiError } from './errno.js';

/**
 * Bounds-checked access to a guest's linear memory. Memory can grow (and detach the old
 * ArrayBuffer) during any call, so every accessor looks at `memory.buffer` afresh.
 * A bad pointer or length raises WasiError(FAULT), which the syscall boundary returns as errno.
 */
export class GuestMemory {
  private cachedBuffer: ArrayBuffer | undefined;
  private cachedView: DataView | undefined;

  constructor(private readonly memory: WebAssembly.Memory) {}

  get byteLength(): number {
    return this.memory.buffer.byteLength;
  }

  /** A DataView over the current buffer; rebuilt only after the memory grew (and the old buffer detached). */
  view(): DataView {
    const buffer = this.memory.buffer;
    if (buffer !== this.cachedBuffer) {
      this.cachedBuffer = buffer;
      this.cachedView = new DataView(buffer);
    }
    return this.cachedView!;
  }

  /** Checks [ptr, ptr+len) lies in memory; returns ptr as an unsigned offset. */
  checkRange(ptr: number, len: number): number {
    const start = ptr >>> 0;
    const length = len >>> 0;
    if (start + length > this.memory.buffer.byteLength) {
      throw new WasiError(Errno.FAULT, `range ${start}+${length} outside memory`);
    }
    return start;
  }

  /** A live view onto guest bytes (not a copy): valid until the next memory growth. */
  bytes(ptr: number, len: number): Uint8Array {
    const start = this.checkRange(ptr, len);
    return new Uint8Array(this.memory.buffer, start, len >>> 0);
  }

  readString(ptr: number, len: number): string {
    return utf8Decoder.decode(this.bytes(ptr, len));
  }

  u8(ptr: number): number { return this.view().getUint8(this.checkRange(ptr, 1)); }
  u16(ptr: number): number { return this.view().getUint16(this.checkRange(ptr, 2), true); }
  u32(ptr: number): number { return this.view().getUint32(this.checkRange(ptr, 4), true); }
  u64(ptr: number): bigint { return this.view().getBigUint64(this.checkRange(ptr, 8), true); }

  setU8(ptr: number, v: number): void { this.view().setUint8(this.checkRange(ptr, 1), v); }
  setU16(ptr: number, v: number): void { this.view().setUint16(this.checkRange(ptr, 2), v, true); }
  setU32(ptr: number, v: number): void { this.view().setUint32(this.checkRange(ptr, 4), v >>> 0, true); }
  setU64(ptr: number, v: bigint): void {
    this.view().setBigUint64(this.checkRange(ptr, 8), BigInt.asUintN(64, v), true);
  }

  /** Copies `data` into guest memory at ptr. */
  write(ptr: number, data: Uint8Array): void {
    this.bytes(ptr, data.length).set(data);
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
  const buffers: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const buf = view.getUint32(base + i * 8, true);
    const len = view.getUint32(base + i * 8 + 4, true);
    buffers.push(mem.bytes(buf, len));
  }
  return buffers;
}

/** Linux's IOV_MAX; WasmEdge uses the same bound. */
export const maxIovecs = 1024;
