// Byte layout of a snapshot index (TRACE.rct.idx, see docs/index-format.md): a 16-byte file
// header, then frames appended one after another. Every frame has a 16-byte header whose own
// CRC-32 lets a reader walk the frames (and trust their kinds and lengths) without reading
// their payloads, and a CRC-32 of its payload, checked whenever the payload is read.
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { ByteSource } from '../framing.js';

export const indexMagic = 'RCTINDEX';
export const indexFormatVersion = 1;
export const indexHeaderBytes = 16;
export const frameHeaderBytes = 16;
/** A memory page: the unit of content addressing. */
export const pageBytes = 65536;
export const pageHashBytes = 32;
/** Output is stored in frames of at most this many bytes (read whole to check their CRC). */
export const outputFrameBytes = 1024 * 1024;
/** The largest frame payload (a snapshot's state blob, in practice); readers refuse larger. */
export const maxFrameBytes = 64 * 1024 * 1024;
/** wasm32's largest linear memory: 65536 pages of 64 KiB. */
export const maxMemoryBytes = 65536 * pageBytes;
export const defaultMaxIndexBytes = 2 * 1024 ** 3;
export const defaultMaxSnapshots = 4096;
assert(pageBytes <= maxFrameBytes && outputFrameBytes <= maxFrameBytes, 'a page and an output frame fit in a frame');
// A snapshot record holds 4 bytes per page of memory and 32 per new page, plus a few numbers.
assert((maxMemoryBytes / pageBytes) * (4 + pageHashBytes) + 256 <= maxFrameBytes, 'the largest snapshot record fits in a frame');

/** A page frame's tag: how its bytes are stored. */
export const PageCodec = { raw: 0, deflateRaw: 1 } as const;

export const FrameKind = { identity: 1, page: 2, output: 3, state: 4, snapshot: 5, end: 6 } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];
const frameMagic = [0x49, 0x58]; // "IX"
const kinds = new Set<number>(Object.values(FrameKind));

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`RepliCode bug: ${message}`);
}

/** What makes an index belong to one trace and one replay module. */
export interface IndexIdentity {
  traceBytes: number;
  /** Hex SHA-256 of the whole trace file. */
  traceSha256: string;
  /** Opaque: the replay module's hash and pipeline. */
  moduleKey: string;
  /** Opaque version of the state blob. */
  snapshotFormat: number;
}

/**
 * Damage found in an index: `offset` is the start of the frame (or header field) at fault.
 * readIndex reports problems as values; this is thrown when damage shows up later, in a payload
 * read lazily (a page, a state blob, output): the caller should discard the index and rebuild it.
 */
export class IndexFormatError extends Error {
  constructor(readonly reason: string, readonly offset: number) {
    super(`snapshot index damaged at byte ${offset}: ${reason}`);
  }
}

/** The writer refuses a frame past its size limit or a snapshot past its count limit; nothing was written. */
export class IndexLimitError extends Error {}

/** Random access to an index file, and appending to it (a file in practice; memoryIndexFile in tests). */
export interface IndexFile extends ByteSource {
  append(bytes: Uint8Array): void;
  /** Cuts the file to `length` bytes (to drop a torn tail before appending). */
  truncate(length: number): void;
  close(): void;
}

/** An index held in memory (tests, or a caller that persists it some other way). */
export function memoryIndexFile(initial: Uint8Array = new Uint8Array(0)): IndexFile & { bytes(): Uint8Array } {
  let buf = new Uint8Array(Math.max(1024, initial.length));
  buf.set(initial);
  let size = initial.length;
  return {
    get size() { return size; },
    read: (offset, length) => buf.slice(offset, Math.min(size, offset + length)),
    append(bytes) {
      if (size + bytes.length > buf.length) {
        const grown = new Uint8Array(Math.max(buf.length * 2, size + bytes.length));
        grown.set(buf.subarray(0, size));
        buf = grown;
      }
      buf.set(bytes, size);
      size += bytes.length;
    },
    truncate(length) {
      assert(length <= size, 'truncate only shortens');
      buf.fill(0, length, size);
      size = length;
    },
    bytes: () => buf.slice(0, size),
    close() {},
  };
}

/** SHA-256 of a page's bytes: the key it is stored under. */
export function pageHash(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

export function encodeIndexHeader(version = indexFormatVersion): Uint8Array {
  const out = new Uint8Array(indexHeaderBytes);
  out.set(new TextEncoder().encode(indexMagic));
  new DataView(out.buffer).setUint16(8, version, true);
  return out;
}

/** One frame: header (magic, kind, tag, length, payload CRC, header CRC), then the payload. */
export function encodeFrame(kind: FrameKind, payload: Uint8Array, tag = 0): Uint8Array {
  assert(payload.length <= maxFrameBytes, `a frame of ${payload.length} bytes exceeds maxFrameBytes`);
  const out = new Uint8Array(frameHeaderBytes + payload.length);
  const view = new DataView(out.buffer);
  out.set(frameMagic, 0);
  out[2] = kind;
  out[3] = tag;
  view.setUint32(4, payload.length, true);
  view.setUint32(8, crc32(payload), true);
  view.setUint32(12, crc32(out.subarray(0, 12)), true);
  out.set(payload, frameHeaderBytes);
  return out;
}

/** A frame whose header checked out; its payload is not read yet. */
export interface FrameHead { offset: number; kind: FrameKind; tag: number; length: number; payloadCrc: number; end: number }

/** Why reading stopped at `offset`: a cut file (`truncated`) or bytes no writer produced (`damaged`). */
export class FrameStop {
  constructor(readonly kind: 'truncated' | 'damaged', readonly offset: number, readonly reason: string) {}
}

/** Reads and checks the frame header at `offset` (its payload is only checked to lie within the file). */
export function readFrameHead(src: ByteSource, offset: number): FrameHead | FrameStop {
  if (offset + frameHeaderBytes > src.size) return new FrameStop('truncated', offset, 'cut inside a frame header');
  const head = src.read(offset, frameHeaderBytes);
  const view = new DataView(head.buffer, head.byteOffset, frameHeaderBytes);
  if (view.getUint32(12, true) !== crc32(head.subarray(0, 12))) return new FrameStop('damaged', offset, 'checksum mismatch');
  const kind = head[2]!;
  const length = view.getUint32(4, true);
  // A header whose CRC matches was written by a writer; these guard against a buggy or foreign one.
  if (head[0] !== frameMagic[0] || head[1] !== frameMagic[1] || !kinds.has(kind)) return new FrameStop('damaged', offset, 'not a frame');
  if (length > maxFrameBytes) return new FrameStop('damaged', offset, 'frame length out of range');
  const end = offset + frameHeaderBytes + length;
  if (end > src.size) return new FrameStop('truncated', offset, `cut inside a frame of ${length} bytes`);
  return { offset, kind: kind as FrameKind, tag: head[3]!, length, payloadCrc: view.getUint32(8, true), end };
}

/** The frame's payload, its CRC checked; throws IndexFormatError on a mismatch. */
export function readPayload(src: ByteSource, frame: FrameHead): Uint8Array {
  const payload = src.read(frame.offset + frameHeaderBytes, frame.length);
  if (payload.length !== frame.length) throw new IndexFormatError('the file shrank under the reader', frame.offset);
  if (crc32(payload) !== frame.payloadCrc) throw new IndexFormatError('checksum mismatch', frame.offset);
  return payload;
}

/** A non-negative integer from a decoded record (msgpack may hand a large one back as a BigInt). */
export function uint(value: unknown, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const n = typeof value === 'bigint' && value <= BigInt(max) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= max ? n : undefined;
}
