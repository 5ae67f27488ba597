// The two MessagePack records of a snapshot index: the identity (first frame) and a snapshot.
// Both are arrays, so the field order below is part of the bytes.
import { pack, unpackAll } from '../msgpack.js';
import { assert, maxMemoryBytes, pageBytes, pageHashBytes, uint, type IndexIdentity } from './layout.js';

/** One restorable snapshot of the guest: the writer's input. */
export interface IndexSnapshot {
  /** The guest resumes at the call of this event (0-based); events before it are done. */
  event: number;
  /** Instruction-clock value there (opaque here). */
  clock: bigint;
  /** Linear memory size in bytes, a multiple of 65536. */
  memoryBytes: number;
  /** 32-byte SHA-256 of each 64 KiB page of memory, in order (memoryBytes / 65536 of them). */
  pages: Uint8Array[];
  /** Output lengths so far: prefixes of the index's stored output streams. */
  stdoutBytes: number;
  stderrBytes: number;
  /** Opaque: kernel, session and asyncify stack state. */
  state: Uint8Array;
}

/** A snapshot record as stored: pages by id (the order page frames appear in the file). */
export interface SnapshotRecord {
  event: number;
  clock: bigint;
  memoryBytes: number;
  stdoutBytes: number;
  stderrBytes: number;
  /** Offset of the state frame holding the snapshot's state blob. */
  stateOffset: number;
  /** Hashes of the pages framed since the previous snapshot record (32 bytes each, in frame order). */
  newPages: Uint8Array;
  /** The page id of each page of memory (u32 little-endian each). */
  pageIds: Uint32Array;
}

const int64Range = [-(1n << 63n), (1n << 64n) - 1n] as const;

export function encodeIdentity(id: IndexIdentity): Uint8Array {
  return pack([id.traceBytes, id.traceSha256, id.moduleKey, id.snapshotFormat]);
}

export function decodeIdentity(bytes: Uint8Array): IndexIdentity | undefined {
  const v = decodeOne(bytes);
  if (!Array.isArray(v) || v.length !== 4) return undefined;
  const [traceBytes, traceSha256, moduleKey, snapshotFormat] = [uint(v[0]), v[1], v[2], uint(v[3])];
  if (traceBytes === undefined || typeof traceSha256 !== 'string' || typeof moduleKey !== 'string' || snapshotFormat === undefined) return undefined;
  return { traceBytes, traceSha256, moduleKey, snapshotFormat };
}

export function encodeSnapshotRecord(r: SnapshotRecord): Uint8Array {
  assert(r.clock >= int64Range[0] && r.clock <= int64Range[1], 'a snapshot clock fits 64 bits');
  const ids = new Uint8Array(r.pageIds.length * 4);
  const view = new DataView(ids.buffer);
  r.pageIds.forEach((id, i) => view.setUint32(i * 4, id, true));
  return pack([r.event, r.clock, r.memoryBytes, r.stdoutBytes, r.stderrBytes, r.stateOffset, r.newPages, ids]);
}

/** The record, or undefined when it is not a snapshot record's shape. */
export function decodeSnapshotRecord(bytes: Uint8Array): SnapshotRecord | undefined {
  const v = decodeOne(bytes);
  if (!Array.isArray(v) || v.length !== 8) return undefined;
  const [event, clock, memoryBytes, stdoutBytes, stderrBytes, stateOffset, newPages, ids] = v as unknown[];
  const numbers = [uint(event), uint(memoryBytes, maxMemoryBytes), uint(stdoutBytes), uint(stderrBytes), uint(stateOffset)];
  if (numbers.some((n) => n === undefined) || !(newPages instanceof Uint8Array) || !(ids instanceof Uint8Array)) return undefined;
  if (typeof clock !== 'bigint' && typeof clock !== 'number') return undefined;
  const [e, m, out, err, state] = numbers as number[];
  if (m! % pageBytes !== 0 || ids.length !== (m! / pageBytes) * 4 || newPages.length % pageHashBytes !== 0) return undefined;
  const pageIds = new Uint32Array(ids.length / 4);
  const view = new DataView(ids.buffer, ids.byteOffset, ids.length);
  for (let i = 0; i < pageIds.length; i++) pageIds[i] = view.getUint32(i * 4, true);
  return { event: e!, clock: BigInt(clock), memoryBytes: m!, stdoutBytes: out!, stderrBytes: err!, stateOffset: state!, newPages, pageIds };
}

function decodeOne(bytes: Uint8Array): unknown {
  try {
    const values = unpackAll(bytes);
    return values.length === 1 ? values[0] : undefined;
  } catch {
    return undefined;
  }
}
