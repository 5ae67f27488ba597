// Reading a snapshot index. Opening walks the frame headers only (plus the small identity and
// snapshot records, checked whole): page, state and output payloads are read when asked for,
// their CRCs checked then, so a large index opens in the time it takes to read its headers.
import type { ByteSource } from '../framing.js';
import { inflateRawSync } from 'node:zlib';
import {
  FrameKind, FrameStop, IndexFormatError, PageCodec, assert, indexFormatVersion, indexHeaderBytes, indexMagic, pageBytes,
  pageHashBytes, readFrameHead, readPayload, type FrameHead, type IndexIdentity,
} from './layout.js';
import { decodeIdentity, decodeSnapshotRecord, type SnapshotRecord } from './records.js';

export type OutputStream = 1 | 2;

/** A snapshot as read back: its page hashes and state are read through the index (pageHashes, state, memory). */
export interface IndexedSnapshot {
  event: number;
  clock: bigint;
  memoryBytes: number;
  stdoutBytes: number;
  stderrBytes: number;
  /** Page ids (see SnapshotIndex.pageHashes): internal, but cheap to compare between snapshots. */
  readonly pageIds: Uint32Array;
  /** Offset of its state frame. */
  readonly stateOffset: number;
}

export type IndexProblemKind = 'foreign' | 'unsupported' | 'damaged' | 'truncated' | 'stale';

/**
 * readIndex's verdict. Usable: `ok` with the index; `truncated` when the file ends inside a
 * frame (an interrupted build): the index holds the whole frames before that byte. Not usable:
 * `problem` is one line for the user (it names the byte offset where there is one).
 */
export type IndexReadResult =
  | { ok: true; index: SnapshotIndex; truncated?: string }
  | { ok: false; problem: string; kind: IndexProblemKind; offset?: number };

interface OutputChunk { frame: FrameHead; start: number }

/** Everything the open-time walk learns (shared with IndexWriter.open). */
export interface IndexScan {
  identity: IndexIdentity;
  records: SnapshotRecord[];
  pageFrames: FrameHead[];
  /** Hashes of the pages that have ids (those listed by a snapshot record), 32 bytes per id. */
  hashes: Uint8Array;
  pageIds: Map<string, number>;
  stateFrames: Map<number, FrameHead>;
  output: [OutputChunk[], OutputChunk[]];
  /** End of the last whole frame. */
  validEnd: number;
  /** End of the last snapshot record (or the identity): where an appending writer resumes. */
  resumeAt: number;
  /** The file ends inside a frame here. */
  cut?: FrameStop;
}

type Failure = Extract<IndexReadResult, { ok: false }>;

/** Opens an index for `expected` (see IndexReadResult). Throws only for our own bugs. */
export function readIndex(src: ByteSource, expected: IndexIdentity): IndexReadResult {
  const scan = scanIndex(src, expected);
  if ('ok' in scan) return scan;
  const index = new SnapshotIndex(src, scan);
  return scan.cut ? { ok: true, index, truncated: describeStop(scan.cut) } : { ok: true, index };
}

function describeStop(stop: FrameStop): string {
  return stop.kind === 'truncated' ? `truncated at byte ${stop.offset}: ${stop.reason}` : `damaged at byte ${stop.offset}: ${stop.reason}`;
}

const fail = (kind: Failure['kind'], problem: string, offset?: number): Failure => ({ ok: false, kind, problem, ...(offset === undefined ? {} : { offset }) });
const failAt = (stop: FrameStop): Failure => fail(stop.kind, describeStop(stop), stop.offset);

export function scanIndex(src: ByteSource, expected: IndexIdentity): IndexScan | Failure {
  const header = checkHeader(src);
  if (header) return header;
  const first = readFrameHead(src, indexHeaderBytes);
  if (first instanceof FrameStop) return failAt(first);
  if (first.kind !== FrameKind.identity) return failAt(new FrameStop('damaged', first.offset, 'the first frame is not the identity'));
  let identity: IndexIdentity | undefined;
  try {
    identity = decodeIdentity(readPayload(src, first));
  } catch (err) {
    if (!(err instanceof IndexFormatError)) throw err;
    return failAt(new FrameStop('damaged', err.offset, err.reason));
  }
  if (!identity) return failAt(new FrameStop('damaged', first.offset, 'identity record of the wrong shape'));
  const stale = staleness(identity, expected);
  if (stale) return fail('stale', stale);
  const scan: IndexScan = {
    identity, records: [], pageFrames: [], hashes: new Uint8Array(0), pageIds: new Map(), stateFrames: new Map(),
    output: [[], []], validEnd: first.end, resumeAt: first.end,
  };
  const stop = walkFrames(src, scan);
  if (stop?.kind === 'damaged') return failAt(stop);
  if (stop) scan.cut = stop;
  return scan;
}

function checkHeader(src: ByteSource): Failure | undefined {
  const head = src.read(0, indexHeaderBytes);
  const magic = new TextEncoder().encode(indexMagic);
  const n = Math.min(head.length, magic.length);
  if (!head.subarray(0, n).every((b, i) => b === magic[i])) return fail('foreign', 'not a RepliCode index (bad magic)', 0);
  if (head.length < indexHeaderBytes) return fail('truncated', `truncated at byte ${head.length}: cut inside the file header`, head.length);
  const version = new DataView(head.buffer, head.byteOffset, indexHeaderBytes).getUint16(8, true);
  if (version !== indexFormatVersion) return fail('unsupported', `unsupported index version ${version} (this RepliCode reads version ${indexFormatVersion})`, 8);
  if (head.subarray(10).some((b) => b !== 0)) return fail('damaged', 'damaged at byte 10: reserved header bytes are not zero', 10);
  return undefined;
}

function staleness(found: IndexIdentity, expected: IndexIdentity): string | undefined {
  if (found.traceSha256 !== expected.traceSha256 || found.traceBytes !== expected.traceBytes) {
    return `stale: written for another trace (sha256 ${found.traceSha256.slice(0, 16)}, ${found.traceBytes} bytes)`;
  }
  if (found.moduleKey !== expected.moduleKey) return 'stale: another module key';
  if (found.snapshotFormat !== expected.snapshotFormat) return `stale: snapshot format ${found.snapshotFormat}, this RepliCode writes ${expected.snapshotFormat}`;
  return undefined;
}

/** Walks the frames after the identity, filling `scan`; where and why it stopped, unless at the end. */
function walkFrames(src: ByteSource, scan: IndexScan): FrameStop | undefined {
  const hashes: Uint8Array[] = [];
  try {
    return walk(src, scan, hashes);
  } finally {
    scan.hashes = Buffer.concat(hashes);
  }
}

function walk(src: ByteSource, scan: IndexScan, hashes: Uint8Array[]): FrameStop | undefined {
  const outputBytes = [0, 0];
  const events = new Set<number>();
  let pending = 0; // page frames not yet listed by a snapshot record
  for (let at = scan.validEnd; at < src.size; at = scan.validEnd) {
    const frame = readFrameHead(src, at);
    if (frame instanceof FrameStop) return frame;
    const bad = (reason: string) => new FrameStop('damaged', frame.offset, reason);
    if (frame.kind === FrameKind.page) {
      if ((frame.tag !== PageCodec.raw && frame.tag !== PageCodec.deflateRaw) || frame.length > pageBytes) return bad('page frame out of range');
      scan.pageFrames.push(frame);
      pending++;
    } else if (frame.kind === FrameKind.output) {
      if (frame.tag !== 1 && frame.tag !== 2) return bad(`output frame for stream ${frame.tag}`);
      scan.output[frame.tag - 1]!.push({ frame, start: outputBytes[frame.tag - 1]! });
      outputBytes[frame.tag - 1]! += frame.length;
    } else if (frame.kind === FrameKind.state) {
      scan.stateFrames.set(frame.offset, frame);
    } else if (frame.kind === FrameKind.snapshot) {
      let record: SnapshotRecord | undefined;
      try {
        record = decodeSnapshotRecord(readPayload(src, frame));
      } catch (err) {
        if (!(err instanceof IndexFormatError)) throw err;
        return bad(err.reason);
      }
      if (!record) return bad('snapshot record of the wrong shape');
      const firstNew = scan.pageFrames.length - pending;
      if (record.newPages.length / pageHashBytes !== pending) return bad(`snapshot record lists ${record.newPages.length / pageHashBytes} new pages, ${pending} were framed`);
      if (record.pageIds.some((id) => id >= scan.pageFrames.length)) return bad('snapshot record names a page not framed before it');
      if (record.stdoutBytes > outputBytes[0]! || record.stderrBytes > outputBytes[1]!) return bad('snapshot record counts output not framed before it');
      if (!scan.stateFrames.has(record.stateOffset)) return bad('snapshot record names no state frame');
      if (events.has(record.event)) return bad(`a second snapshot at event ${record.event}`);
      for (let i = 0; i < pending; i++) {
        const hash = record.newPages.subarray(i * pageHashBytes, (i + 1) * pageHashBytes);
        if (scan.pageIds.has(hashKey(hash))) return bad('a page framed twice');
        scan.pageIds.set(hashKey(hash), firstNew + i);
      }
      hashes.push(record.newPages);
      events.add(record.event);
      scan.records.push(record);
      pending = 0;
      scan.resumeAt = frame.end;
    } else if (frame.kind === FrameKind.end) {
      // The writer's last word: how many snapshots it wrote. Nothing may follow it.
      let payload: Uint8Array;
      try {
        payload = readPayload(src, frame);
      } catch (err) {
        if (!(err instanceof IndexFormatError)) throw err;
        return bad(err.reason);
      }
      const count = payload.length === 4 ? new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true) : -1;
      if (count !== scan.records.length) return bad(`the end frame counts ${count} snapshots, the index holds ${scan.records.length}`);
      if (frame.end !== src.size) return bad('bytes after the end frame');
      scan.validEnd = frame.end;
      return undefined;
    } else {
      return bad('a second identity frame');
    }
    scan.validEnd = frame.end;
  }
  // Cut at a frame boundary (a build killed between two frames, a full disk): whole frames, no end.
  return new FrameStop('truncated', scan.validEnd, 'the index ends without its end frame');
}

export function hashKey(hash: Uint8Array): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.length).toString('latin1');
}

/** An open index (see readIndex). Payloads are read on demand; damage found then throws IndexFormatError. */
export class SnapshotIndex {
  readonly identity: IndexIdentity;
  /** Sorted by event. */
  readonly snapshots: readonly IndexedSnapshot[];
  /** Bytes of whole frames (the file's size unless its tail is cut). */
  readonly validBytes: number;
  private readonly scan: IndexScan;

  constructor(private readonly src: ByteSource, scan: IndexScan) {
    this.scan = scan;
    this.identity = scan.identity;
    this.validBytes = scan.validEnd;
    this.snapshots = scan.records
      .map((r): IndexedSnapshot => ({ event: r.event, clock: r.clock, memoryBytes: r.memoryBytes, stdoutBytes: r.stdoutBytes, stderrBytes: r.stderrBytes, pageIds: r.pageIds, stateOffset: r.stateOffset }))
      .sort((a, b) => a.event - b.event);
  }

  /** Distinct pages stored (and listed by a snapshot). */
  get pageCount(): number { return this.scan.pageIds.size; }

  /** Output bytes stored for a stream. */
  outputBytes(stream: OutputStream): number {
    const chunks = this.scan.output[stream - 1];
    const last = chunks[chunks.length - 1];
    return last ? last.start + last.frame.length : 0;
  }

  /** The latest snapshot at or before `event` (where a replay to `event` can start). */
  nearest(event: number): IndexedSnapshot | undefined {
    let lo = 0;
    let hi = this.snapshots.length; // answer: snapshots[lo - 1]
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.snapshots[mid]!.event <= event) lo = mid + 1;
      else hi = mid;
    }
    return this.snapshots[lo - 1];
  }

  /** A page's bytes by its hash; undefined when the index does not hold it. */
  page(hash: Uint8Array): Uint8Array | undefined {
    const id = this.scan.pageIds.get(hashKey(hash));
    return id === undefined ? undefined : this.pageById(id);
  }

  /** The snapshot's page hashes, in memory order. */
  pageHashes(s: IndexedSnapshot): Uint8Array[] {
    return Array.from(s.pageIds, (id) => this.scan.hashes.subarray(id * pageHashBytes, (id + 1) * pageHashBytes));
  }

  /** The snapshot's whole linear memory (a page stored shorter than 64 KiB is followed by zeros). */
  memory(s: IndexedSnapshot): Uint8Array {
    const out = new Uint8Array(s.memoryBytes);
    const placed = new Map<number, number>(); // a page repeated (zero pages, say) is read once
    s.pageIds.forEach((id, i) => {
      const first = placed.get(id);
      if (first === undefined) {
        out.set(this.pageById(id), i * pageBytes);
        placed.set(id, i);
      } else {
        out.copyWithin(i * pageBytes, first * pageBytes, (first + 1) * pageBytes);
      }
    });
    return out;
  }

  /** The snapshot's opaque state blob. */
  state(s: IndexedSnapshot): Uint8Array {
    const frame = this.scan.stateFrames.get(s.stateOffset);
    assert(frame, 'an indexed snapshot has a state frame');
    return readPayload(this.src, frame);
  }

  /** The first `length` bytes of a stored output stream. */
  output(stream: OutputStream, length: number): Uint8Array {
    if (length > this.outputBytes(stream)) throw new RangeError(`the index holds ${this.outputBytes(stream)} bytes of stream ${stream}, not ${length}`);
    const out = new Uint8Array(length);
    for (const { frame, start } of this.scan.output[stream - 1]) {
      if (start >= length) break;
      const bytes = readPayload(this.src, frame);
      out.set(bytes.subarray(0, Math.min(bytes.length, length - start)), start);
    }
    return out;
  }

  /**
   * Reads and checks every payload (what opening skips): the first damage found, as readIndex
   * would describe it, or undefined when every frame checks out.
   */
  verify(): string | undefined {
    const frames = [...this.scan.pageFrames, ...this.scan.stateFrames.values(), ...this.scan.output.flat().map((c) => c.frame)];
    frames.sort((a, b) => a.offset - b.offset);
    for (const frame of frames) {
      try {
        readPayload(this.src, frame);
      } catch (err) {
        if (!(err instanceof IndexFormatError)) throw err;
        return `damaged at byte ${err.offset}: ${err.reason}`;
      }
    }
    return undefined;
  }

  private pageById(id: number): Uint8Array {
    const frame = this.scan.pageFrames[id];
    assert(frame, 'a page id names a page frame');
    const payload = readPayload(this.src, frame);
    if (frame.tag === PageCodec.raw) return payload;
    try {
      return new Uint8Array(inflateRawSync(payload, { maxOutputLength: pageBytes }));
    } catch {
      throw new IndexFormatError('a compressed page does not inflate', frame.offset);
    }
  }
}
