// A growable byte buffer for the rewriting passes: one allocation per section instead of one
// small array per instruction inserted (the rewrite runs cold, before any JIT has warmed it).
// Shared by the passes, whose output is cached on disk by rewriteVersion (rewrite/index.ts): a
// change to the bytes this writes must raise rewriteVersion (tests/rewrite-cache.test.ts fails until it is).

export class ByteWriter {
  private buffer = new Uint8Array(1024);
  length = 0;

  private reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    const next = new Uint8Array(Math.max(this.buffer.length * 2, this.length + extra));
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
  }

  byte(b: number): this {
    this.reserve(1);
    this.buffer[this.length++] = b;
    return this;
  }

  bytes(bytes: ArrayLike<number>): this {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
    return this;
  }

  /** `value` as unsigned LEB128 (as wasm-binary.ts's leb, without the array). */
  leb(value: number): this {
    this.reserve(10);
    do {
      let b = value & 0x7f;
      value = Math.floor(value / 128);
      if (value !== 0) b |= 0x80;
      this.buffer[this.length++] = b;
    } while (value !== 0);
    return this;
  }

  /** The bytes written so far (a view: copy it before writing more if it must survive). */
  view(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  reset(): void {
    this.length = 0;
  }
}
