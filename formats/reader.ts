// Reading a trace: the header, records in order (chunk by chunk, bounded memory), and a cursor
// that hands replay its syscall events, inputs and checkpoints in the order it needs them.
import { readChunk, readFileHeader, readTrailer, TraceFormatError, type ByteSource } from './framing.js';
import {
  decodeRecord, RecordShapeError, type CheckpointRecord, type ExitRecord, type FooterRecord, type InputRecord,
  type OutputRecord, type TraceHeader, type TraceRecord,
} from './records.js';

export interface PlacedRecord {
  record: TraceRecord;
  /** Offset of the chunk the record came from. */
  chunkOffset: number;
  /** Uncompressed size of the record's msgpack value is not tracked; chunk sizes are. */
}

export interface ChunkInfo { offset: number; storedBytes: number; rawBytes: number; records: number }

export class TraceReader {
  readonly version: number;
  readonly header: TraceHeader;
  /** Where the records after the header start. */
  readonly bodyOffset: number;
  /** The footer, if the trace was closed properly (it has a trailer). */
  readonly footer: FooterRecord | undefined;

  constructor(readonly source: ByteSource) {
    this.version = readFileHeader(source);
    const first = readChunk(source, 16);
    const headerRecord = first?.values.length ? safeDecode(first.values[0], 16) : undefined;
    if (!first || headerRecord?.kind !== 'header') throw new TraceFormatError('trace has no header record', 16);
    this.header = headerRecord.header;
    this.bodyOffset = first.end;
    this.footer = this.readFooter();
  }

  private readFooter(): FooterRecord | undefined {
    const at = readTrailer(this.source);
    if (at === undefined) return undefined;
    try {
      const chunk = readChunk(this.source, at);
      const record = chunk?.values.length ? safeDecode(chunk.values[0], at) : undefined;
      return record?.kind === 'footer' ? record : undefined;
    } catch {
      return undefined;
    }
  }

  /** Records from `offset` (a chunk start) on. Throws TraceFormatError where the trace stops being readable. */
  *records(offset = this.bodyOffset, onChunk?: (info: ChunkInfo) => void): Generator<PlacedRecord> {
    for (let at = offset; ;) {
      const chunk = readChunk(this.source, at);
      if (!chunk) return;
      onChunk?.({ offset: chunk.offset, storedBytes: chunk.storedBytes, rawBytes: chunk.rawBytes, records: chunk.values.length });
      for (const value of chunk.values) {
        const record = safeDecode(value, chunk.offset);
        if (record.kind === 'footer') return;
        yield { record, chunkOffset: chunk.offset };
      }
      at = chunk.end;
    }
  }
}

function safeDecode(value: unknown, chunkOffset: number): TraceRecord {
  try {
    return decodeRecord(value);
  } catch (err) {
    if (err instanceof RecordShapeError) throw new TraceFormatError(`corrupt trace: bad record (${err.message})`, chunkOffset);
    throw err;
  }
}

/** One syscall event as recorded. */
export interface CallEvent { index: number; id: number; fingerprint: number; result: number }

/** Bound on records read ahead while looking for the one replay needs. */
const maxLookahead = 1 << 16;

/**
 * Replay's view of a trace: the next syscall event, the inputs attached to it, and the
 * checkpoints, in whatever order the writer interleaved them.
 */
export class EventCursor {
  private readonly queue: TraceRecord[] = [];
  private batch: Extract<TraceRecord, { kind: 'calls' }> | undefined;
  private batchAt = 0;
  private ended = false;
  /** Offset of the chunk the last record came from (for error messages). */
  chunkOffset = 0;

  constructor(private readonly source: Iterator<PlacedRecord>) {}

  private sawExit = false;

  private pull(): TraceRecord | undefined {
    if (this.ended) return undefined;
    let next: IteratorResult<PlacedRecord>;
    try {
      next = this.source.next();
    } catch (err) {
      // Damage after the exit record (the footer, the trailer) costs nothing: the run is all there.
      if (this.sawExit && err instanceof TraceFormatError) { this.ended = true; return undefined; }
      throw err;
    }
    if (next.done) { this.ended = true; return undefined; }
    this.chunkOffset = next.value.chunkOffset;
    if (next.value.record.kind === 'exit') this.sawExit = true;
    return next.value.record;
  }

  /** Removes and returns the first queued-or-upcoming record matching `want`. */
  private take<T extends TraceRecord>(want: (r: TraceRecord) => r is T, stopAtCalls: boolean): T | undefined {
    const i = this.queue.findIndex(want);
    if (i >= 0) return this.queue.splice(i, 1)[0] as T;
    while (this.queue.length < maxLookahead) {
      const r = this.pull();
      if (!r) return undefined;
      if (want(r)) return r;
      this.queue.push(r);
      if (stopAtCalls && r.kind === 'calls') return undefined;
    }
    throw new TraceFormatError('corrupt trace: record replay needs is too far ahead', this.chunkOffset);
  }

  nextCall(): CallEvent | undefined {
    while (!this.batch || this.batchAt >= this.batch.ids.length) {
      const calls = this.take((r): r is Extract<TraceRecord, { kind: 'calls' }> => r.kind === 'calls', false);
      if (!calls) return undefined;
      this.batch = calls;
      this.batchAt = 0;
    }
    const b = this.batch;
    const i = this.batchAt++;
    return { index: b.first + i, id: b.ids[i]!, fingerprint: b.fingerprints[i]!, result: b.results[i]! };
  }

  /** The next input record for `event`, if the recording had one. */
  input(event: number): InputRecord | undefined {
    const isInput = (r: TraceRecord): r is InputRecord => (r.kind === 'stdin' || r.kind === 'clock' || r.kind === 'entropy' || r.kind === 'net');
    const r = this.take(isInput, true);
    if (r && r.event !== event) {
      this.queue.unshift(r);
      return undefined;
    }
    return r;
  }

  checkpoint(): CheckpointRecord | undefined {
    return this.take((r): r is CheckpointRecord => r.kind === 'checkpoint', true);
  }

  output(): OutputRecord | undefined {
    return this.take((r): r is OutputRecord => r.kind === 'output', true);
  }

  exit(): ExitRecord | undefined {
    return this.take((r): r is ExitRecord => r.kind === 'exit', false);
  }
}
