// Byte layout of a .rct file: a 16-byte file header, then chunks (each with its own length
// and CRC-32, compressed independently), then a 16-byte trailer pointing at the footer chunk.
// A file cut anywhere is readable chunk by chunk up to its last complete chunk.
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { unpackAll } from './msgpack.js';

export const formatVersion = 1;
export const fileMagic = 'RCTRACE\0';
export const trailerMagic = 'RCTEND\0\0';
export const fileHeaderBytes = 16;
export const chunkHeaderBytes = 16;
export const trailerBytes = 16;
/** A chunk is closed once its records reach this many bytes (before compression). */
export const defaultChunkBytes = 64 * 1024;
/** Readers refuse larger chunks: a corrupted length must not make them allocate gigabytes. */
export const maxChunkBytes = 16 * 1024 * 1024;

export const Codec = { none: 0, deflateRaw: 1 } as const;
const chunkMagic = [0x43, 0x4b]; // "CK"
const ascii = new TextEncoder();

/** A trace that cannot be read past `offset`; the message says why, in one line. */
export class TraceFormatError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} (at byte ${offset})`);
  }
}

export function encodeFileHeader(version = formatVersion): Uint8Array {
  const out = new Uint8Array(fileHeaderBytes);
  out.set(ascii.encode(fileMagic));
  new DataView(out.buffer).setUint16(8, version, true);
  return out;
}

/** Frames one chunk: header (magic, codec, lengths, CRC-32 of the stored payload), payload. */
export function encodeChunk(raw: Uint8Array, compress = true): Uint8Array {
  // Level 1: event streams are repetitive, so it compresses nearly as well as 6 at a fraction of the cost.
  const compressed = compress ? deflateRawSync(raw, { level: 1 }) : raw;
  const useCompressed = compress && compressed.length < raw.length;
  const payload = useCompressed ? compressed : raw;
  const out = new Uint8Array(chunkHeaderBytes + payload.length);
  const view = new DataView(out.buffer);
  out.set(chunkMagic, 0);
  out[2] = useCompressed ? Codec.deflateRaw : Codec.none;
  view.setUint32(4, payload.length, true);
  view.setUint32(8, raw.length, true);
  view.setUint32(12, crc32(payload), true);
  out.set(payload, chunkHeaderBytes);
  return out;
}

export function encodeTrailer(footerOffset: number): Uint8Array {
  const out = new Uint8Array(trailerBytes);
  out.set(ascii.encode(trailerMagic));
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
  if (version !== formatVersion) {
    throw new TraceFormatError(`trace format version ${version} is not supported (this RepliCode reads version ${formatVersion})`, 8);
  }
  return version;
}

/** The footer chunk's offset if the file ends with a valid trailer (a complete trace). */
export function readTrailer(src: ByteSource): number | undefined {
  if (src.size < fileHeaderBytes + trailerBytes) return undefined;
  const t = src.read(src.size - trailerBytes, trailerBytes);
  if (new TextDecoder().decode(t.subarray(0, 8)) !== trailerMagic) return undefined;
  const offset = Number(new DataView(t.buffer, t.byteOffset, 16).getBigUint64(8, true));
  return offset >= fileHeaderBytes && offset < src.size - trailerBytes ? offset : undefined;
}

export interface Chunk {
  offset: number;
  /** Offset just past this chunk. */
  end: number;
  storedBytes: number;
  rawBytes: number;
  values: unknown[];
}

/** True if a trailer starts at `offset` (so the chunk sequence ends there). */
function trailerAt(src: ByteSource, offset: number): boolean {
  if (offset + trailerBytes !== src.size) return false;
  return new TextDecoder().decode(src.read(offset, 8)) === trailerMagic;
}

/** Reads the chunk at `offset`, verifying framing and checksum; undefined at the end of the chunks. */
export function readChunk(src: ByteSource, offset: number): Chunk | undefined {
  if (offset === src.size || trailerAt(src, offset)) return undefined;
  if (offset + chunkHeaderBytes > src.size) throw new TraceFormatError('trace is truncated inside a chunk header', offset);
  const head = src.read(offset, chunkHeaderBytes);
  const view = new DataView(head.buffer, head.byteOffset, chunkHeaderBytes);
  if (head[0] !== chunkMagic[0] || head[1] !== chunkMagic[1]) throw new TraceFormatError('corrupt trace: no chunk starts here', offset);
  const codec = head[2];
  const storedBytes = view.getUint32(4, true);
  const rawBytes = view.getUint32(8, true);
  if (codec !== Codec.none && codec !== Codec.deflateRaw) throw new TraceFormatError(`corrupt trace: unknown chunk codec ${codec}`, offset);
  if (storedBytes > maxChunkBytes || rawBytes > maxChunkBytes) throw new TraceFormatError('corrupt trace: chunk length out of range', offset);
  const end = offset + chunkHeaderBytes + storedBytes;
  if (end > src.size) throw new TraceFormatError(`trace is truncated: chunk of ${storedBytes} bytes runs past the end of the file`, offset);
  const payload = src.read(offset + chunkHeaderBytes, storedBytes);
  if (crc32(payload) !== view.getUint32(12, true)) throw new TraceFormatError('corrupt trace: chunk checksum mismatch', offset);
  let raw: Uint8Array;
  try {
    raw = codec === Codec.deflateRaw ? inflateRawSync(payload, { maxOutputLength: maxChunkBytes }) : payload;
  } catch {
    throw new TraceFormatError('corrupt trace: chunk does not decompress', offset);
  }
  if (raw.length !== rawBytes) throw new TraceFormatError('corrupt trace: chunk length mismatch after decompression', offset);
  let values: unknown[];
  try {
    values = unpackAll(raw);
  } catch {
    throw new TraceFormatError('corrupt trace: chunk is not valid msgpack', offset);
  }
  return { offset, end, storedBytes, rawBytes, values };
}
