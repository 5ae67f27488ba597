// Bounds-checked reading of one DWARF section: every read past the end, and every value the
// reader cannot represent, is a DwarfError naming the section and the byte offset, never a
// RangeError from a DataView or a silently wrong number.

/** The DWARF in a module is damaged or uses something this reader does not know. */
export class DwarfError extends Error {
  constructor(message: string, readonly section: string, readonly offset: number) {
    super(`${section}: ${message} (at byte ${offset})`);
    this.name = 'DwarfError';
  }
}

export class SectionReader {
  pos: number;

  constructor(readonly name: string, readonly bytes: Uint8Array, start = 0) {
    this.pos = start;
  }

  fail(message: string, at = this.pos): never {
    throw new DwarfError(message, this.name, at);
  }

  get done(): boolean {
    return this.pos >= this.bytes.length;
  }

  need(n: number): void {
    if (n < 0 || this.pos + n > this.bytes.length) this.fail(`${n} bytes needed, the section ends`);
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.pos++]!;
  }

  i8(): number {
    const v = this.u8();
    return v >= 0x80 ? v - 0x100 : v;
  }

  /** Little-endian unsigned, 1 to 8 bytes; above 2^53 (a 64-bit tombstone) saturates to MAX_SAFE_INTEGER. */
  uint(size: number): number {
    this.need(size);
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.bytes[this.pos + i]!;
    this.pos += size;
    return Math.min(v, Number.MAX_SAFE_INTEGER);
  }

  uleb(): number {
    const at = this.pos;
    let v = 0;
    let scale = 1;
    for (;;) {
      const b = this.u8();
      if (scale < 2 ** 63) v += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) break;
      if (this.pos - at > 16) this.fail('LEB128 number longer than 16 bytes', at);
    }
    return Math.min(v, Number.MAX_SAFE_INTEGER);
  }

  sleb(): number {
    const at = this.pos;
    let v = 0;
    let scale = 1;
    let b: number;
    do {
      b = this.u8();
      if (scale < 2 ** 63) v += (b & 0x7f) * scale;
      scale *= 128;
      if (this.pos - at > 16) this.fail('LEB128 number longer than 16 bytes', at);
    } while (b & 0x80);
    if (b & 0x40) v -= scale;
    return Math.max(Math.min(v, Number.MAX_SAFE_INTEGER), Number.MIN_SAFE_INTEGER);
  }

  /** A NUL-terminated UTF-8 string. */
  cstring(): string {
    const end = this.bytes.indexOf(0, this.pos);
    if (end < 0) this.fail('string without its terminating NUL');
    const s = utf8.decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** An initial length: [length, offset size (4 or 8)]. */
  initialLength(): [length: number, offsetSize: 4 | 8] {
    const n = this.uint(4);
    if (n === 0xffffffff) return [this.uint(8), 8];
    if (n >= 0xfffffff0) this.fail(`reserved unit length 0x${n.toString(16)}`, this.pos - 4);
    return [n, 4];
  }
}

const utf8 = new TextDecoder('utf-8');

/** The NUL-terminated string at `offset` of a string section (.debug_str, .debug_line_str). */
export function stringAt(name: string, bytes: Uint8Array | undefined, offset: number): string {
  if (!bytes) throw new DwarfError(`a string refers to ${name}, which the module does not have`, name, offset);
  if (offset >= bytes.length) throw new DwarfError(`string offset past the end (${bytes.length} bytes)`, name, offset);
  return new SectionReader(name, bytes, offset).cstring();
}
