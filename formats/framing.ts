// Byte layout of a .rct file: a 16-byte file header, then chunks (each with its own length
// and CRC-32, compressed independently), then a 16-byte trailer pointing at the footer chunk.
// A file cut anywhere is readable chunk by chunk up to its last complete chunk. A record larger
// than a chunk spans several: each chunk but the last of such a group has the `continues` flag.
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { unpackAll } from './msgpack.js';

/**
 * Version 2 added the `continues` chunk flag (byte 3, reserved and zero in version 1). Version 3
 * added page hashes to checkpoints, from which their memory hash is derived: framed as version 2,
 * but a version-2 reader would take that memory hash for the whole memory's and see a divergence.
 */
export const formatVersion = 3;
/** Versions this reader reads: a version-1 file is a version-2 file without groups; version 2 one without page hashes. */
export const readableVersions: readonly number[] = [1, 2, 3];
export const fileMagic = 'RCTRACE\0';
export const trailerMagic = 'RCTEND\0\0';
export const fileHeaderBytes = 16;
export const chunkHeaderBytes = 16;
export const trailerBytes = 16;
/** A chunk is closed once its records reach this many bytes (before compression). */
export const defaultChunkBytes = 64 * 1024;
/** Readers refuse larger chunks: a corrupted length must not make them allocate gigabytes. */
export const maxChunkBytes = 16 * 1024 * 1024;
/**
 * The largest record (a group of chunks joined by `continues`, before compression). The writer
 * refuses a larger one (the recording stops, the trace stays readable) and readers refuse a
 * larger group, so both sides hold at most this much of one record.
 */
export const maxRecordBytes = 64 * 1024 * 1024;
assert(defaultChunkBytes < maxChunkBytes && maxChunkBytes < maxRecordBytes, 'chunk limits: default < chunk maximum < record maximum');

export const ChunkFlag = { continues: 1 } as const;
export const Codec = { none: 0, deflateRaw: 1 } as const;
const chunkMagic = [0x43, 0x4b]; // "CK"
const ascii = new TextEncoder();
/** The trailer's magic as bytes: what encodeTrailer writes and chunksEndAt looks for. */
const trailerMagicBytes = ascii.encode(trailerMagic);

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`RepliCode bug: ${message}`);
}

/**
 * A trace that cannot be read past `offset`; the message says why, in one line. `incomplete`:
 * the bytes are a correct beginning of a trace that was cut short (a killed recorder, a copy cut
 * off); `damaged`: bytes that no writer produced (a flipped byte, junk, two traces joined).
 */
export class TraceFormatError extends Error {
  constructor(readonly reason: string, readonly offset: number, readonly kind: 'damaged' | 'incomplete' = 'damaged') {
    super(`${reason} (at byte ${offset})`);
  }
}

const noChunk = 'corrupt trace: neither a chunk nor the trailer starts here';
const incomplete = (message: string, offset: number) => new TraceFormatError(`trace is incomplete: ${message}`, offset, 'incomplete');

export function encodeFileHeader(version = formatVersion): Uint8Array {
  const out = new Uint8Array(fileHeaderBytes);
  out.set(ascii.encode(fileMagic));
  new DataView(out.buffer).setUint16(8, version, true);
  return out;
}

/**
 * A chunk's CRC-32: since version 2 over the header's first 12 bytes (codec, flags, lengths)
 * then the stored payload, so no flipped byte of a chunk goes unnoticed; version 1, the payload only.
 */
function chunkChecksum(head12: Uint8Array, payload: Uint8Array, version: number): number {
  return version >= 2 ? crc32(payload, crc32(head12)) : crc32(payload);
}

/** Frames one chunk: header (magic, codec, lengths, CRC-32 of the stored payload), payload. */
export function encodeChunk(raw: Uint8Array, compress = true, flags = 0): Uint8Array {
  assert(raw.length <= maxChunkBytes, `a chunk of ${raw.length} bytes exceeds maxChunkBytes`);
  // Level 1: event streams are repetitive, so it compresses nearly as well as 6 at a fraction of the cost.
  const compressed = compress ? deflateRawSync(raw, { level: 1 }) : raw;
  const useCompressed = compress && compressed.length < raw.length;
  const payload = useCompressed ? compressed : raw;
  const out = new Uint8Array(chunkHeaderBytes + payload.length);
  const view = new DataView(out.buffer);
  out.set(chunkMagic, 0);
  out[2] = useCompressed ? Codec.deflateRaw : Codec.none;
  out[3] = flags;
  view.setUint32(4, payload.length, true);
  view.setUint32(8, raw.length, true);
  out.set(payload, chunkHeaderBytes);
  view.setUint32(12, chunkChecksum(out.subarray(0, 12), payload, formatVersion), true);
  return out;
}

/** Frames one record group: a payload over maxChunkBytes becomes several chunks joined by `continues`. */
export function encodeChunks(raw: Uint8Array, compress = true): Uint8Array[] {
  assert(raw.length <= maxRecordBytes, `a record group of ${raw.length} bytes exceeds maxRecordBytes`);
  const out: Uint8Array[] = [];
  for (let at = 0; at < raw.length || out.length === 0; at += maxChunkBytes) {
    const last = at + maxChunkBytes >= raw.length;
    out.push(encodeChunk(raw.subarray(at, at + maxChunkBytes), compress, last ? 0 : ChunkFlag.continues));
  }
  return out;
}

export function encodeTrailer(footerOffset: number): Uint8Array {
  const out = new Uint8Array(trailerBytes);
  out.set(trailerMagicBytes);
  new DataView(out.buffer).setBigUint64(8, BigInt(footerOffset), true);
  return out;
}

/** Random access to a trace's bytes (a file, or memory). */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
}

export function memorySource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

/** Checks magic and version; returns the version. */
export function readFileHeader(src: ByteSource): number {
  if (src.size < fileHeaderBytes) throw new TraceFormatError(`not a RepliCode trace: only ${src.size} bytes`, 0);
  const head = src.read(0, fileHeaderBytes);
  if (new TextDecoder().decode(head.subarray(0, 8)) !== fileMagic) throw new TraceFormatError('not a RepliCode trace (bad magic)', 0);
  const version = new DataView(head.buffer, head.byteOffset, 16).getUint16(8, true);
  if (!readableVersions.includes(version)) {
    throw new TraceFormatError(`trace format version ${version} is not supported (this RepliCode reads versions ${readableVersions.join(' and ')})`, 8);
  }
  if (head.subarray(10).some((b) => b !== 0)) throw new TraceFormatError('corrupt trace: reserved file header bytes are not zero', 10);
  return version;
}

/**
 * True where the chunks end: at the end of the file, or where a trailer starts (or as much of
 * one as the file still holds). What follows is for `checkEnd` (reader.ts) to judge.
 */
export function chunksEndAt(src: ByteSource, offset: number): boolean {
  if (offset >= src.size) return true;
  const n = Math.min(8, src.size - offset);
  // Compared in place: two Buffers made per chunk read were ~10 ms of a 10M-event replay.
  const head = src.read(offset, n);
  for (let i = 0; i < n; i++) if (head[i] !== trailerMagicBytes[i]) return false;
  return true;
}

function endsWithTrailer(src: ByteSource): boolean {
  return src.size >= fileHeaderBytes + trailerBytes && chunksEndAt(src, src.size - trailerBytes);
}

/** The trailer at `offset`: the footer chunk's offset it points at. Throws unless it ends the file exactly. */
export function readTrailerAt(src: ByteSource, offset: number): bigint {
  if (!chunksEndAt(src, offset)) throw new TraceFormatError(noChunk, offset);
  if (offset + trailerBytes > src.size) throw incomplete('it is cut inside its trailer', offset);
  if (offset + trailerBytes < src.size) {
    throw new TraceFormatError(`corrupt trace: ${src.size - offset - trailerBytes} bytes follow the trailer (two traces joined, or junk appended?)`, offset + trailerBytes);
  }
  const t = src.read(offset, trailerBytes);
  return new DataView(t.buffer, t.byteOffset, trailerBytes).getBigUint64(8, true);
}

export interface Chunk {
  /** Offset of the (first) chunk. */
  offset: number;
  /** Offset just past this chunk (the last of its group). */
  end: number;
  storedBytes: number;
  rawBytes: number;
  /** Chunks in this group (1 unless a record spans several). */
  pieces: number;
  values: unknown[];
}

/** One chunk's frame: checked magic, codec, flags, lengths and checksum; its raw payload. */
interface Frame { end: number; storedBytes: number; raw: Uint8Array; continues: boolean }

/** Reads and checks one chunk's framing at `offset` (framing only: the payload is not decoded). */
export function checkFrame(src: ByteSource, offset: number, version: number, inflate = true): Frame {
  if (offset + chunkHeaderBytes > src.size) throw incomplete('it is cut inside a chunk header', offset);
  const head = src.read(offset, chunkHeaderBytes);
  const view = new DataView(head.buffer, head.byteOffset, chunkHeaderBytes);
  if (head[0] !== chunkMagic[0] || head[1] !== chunkMagic[1]) throw new TraceFormatError(noChunk, offset);
  const codec = head[2];
  const flags = head[3]!;
  const storedBytes = view.getUint32(4, true);
  const rawBytes = view.getUint32(8, true);
  if (codec !== Codec.none && codec !== Codec.deflateRaw) throw new TraceFormatError(`corrupt trace: unknown chunk codec ${codec}`, offset);
  const knownFlags = version >= 2 ? ChunkFlag.continues : 0;
  if ((flags & ~knownFlags) !== 0) throw new TraceFormatError(`corrupt trace: unknown chunk flags ${flags}`, offset);
  if (storedBytes > maxChunkBytes || rawBytes > maxChunkBytes) throw new TraceFormatError('corrupt trace: chunk length out of range', offset);
  if (codec === Codec.none && storedBytes !== rawBytes) throw new TraceFormatError('corrupt trace: stored chunk with two lengths', offset);
  const end = offset + chunkHeaderBytes + storedBytes;
  if (end > src.size) {
    // A file that ends with a trailer was closed: a chunk running past its end is a bad length, not a cut.
    if (endsWithTrailer(src)) throw new TraceFormatError(`corrupt trace: a chunk of ${storedBytes} bytes runs past the end of the file`, offset);
    throw incomplete(`it is cut inside a chunk of ${storedBytes} bytes`, offset);
  }
  const payload = src.read(offset + chunkHeaderBytes, storedBytes);
  if (chunkChecksum(head.subarray(0, 12), payload, version) !== view.getUint32(12, true)) throw new TraceFormatError('corrupt trace: chunk checksum mismatch', offset);
  let raw = payload;
  if (inflate && codec === Codec.deflateRaw) {
    try {
      // Into one buffer of the length the header gives (zlib's default grows 16 KiB pieces and joins them).
      raw = inflateRawSync(payload, { maxOutputLength: maxChunkBytes, chunkSize: Math.max(64, rawBytes) });
    } catch {
      throw new TraceFormatError('corrupt trace: chunk does not decompress', offset);
    }
    if (raw.length !== rawBytes) throw new TraceFormatError('corrupt trace: chunk length mismatch after decompression', offset);
  }
  return { end, storedBytes, raw, continues: (flags & ChunkFlag.continues) !== 0 };
}

/**
 * Reads the chunk group at `offset` (one chunk, or several joined by `continues`), verifying
 * framing and checksums; undefined where the chunks end (see chunksEndAt).
 */
export function readChunk(src: ByteSource, offset: number, version: number = formatVersion): Chunk | undefined {
  if (chunksEndAt(src, offset)) return undefined;
  const pieces: Uint8Array[] = [];
  let rawBytes = 0;
  let storedBytes = 0;
  let at = offset;
  for (;;) {
    if (pieces.length > 0 && chunksEndAt(src, at)) {
      if (at >= src.size) throw incomplete('it is cut inside a record that spans chunks', at);
      throw new TraceFormatError('corrupt trace: a record spanning chunks is not finished', at);
    }
    const frame = checkFrame(src, at, version);
    rawBytes += frame.raw.length;
    storedBytes += frame.storedBytes;
    if (rawBytes > maxRecordBytes) throw new TraceFormatError('corrupt trace: record larger than the format allows', offset);
    pieces.push(frame.raw);
    at = frame.end;
    if (!frame.continues) break;
  }
  const raw = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  let values: unknown[];
  try {
    values = unpackAll(raw);
  } catch {
    throw new TraceFormatError('corrupt trace: chunk is not valid msgpack', offset);
  }
  return { offset, end: at, storedBytes, rawBytes, pieces: pieces.length, values };
}
