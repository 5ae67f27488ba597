// Reading a trace: the header, records in order (chunk by chunk, bounded memory), and a cursor
// that hands replay its syscall events, inputs and checkpoints in the order it needs them.
import { checkFrame, chunksEndAt, readChunk, readFileHeader, readTrailerAt, TraceFormatError, type ByteSource } from './framing.js';
import {
  decodeRecord, RecordShapeError, type CallsRecord, type CheckpointRecord, type ExitRecord, type FooterRecord, type InputRecord,
  type StopReason, type TraceHeader, type TraceRecord,
} from './records.js';

export interface PlacedRecord {
  record: TraceRecord;
  /** Offset of the chunk the record came from. */
  chunkOffset: number;
}

export interface ChunkInfo { offset: number; storedBytes: number; rawBytes: number; records: number }

/**
 * Whether a trace is whole. `intact`: every chunk checks out, the footer chunk ends them, the
 * trailer points at it and ends the file, and the run was recorded to its end. `stopped`: all
 * that, but the recording was stopped on purpose (the user, the size limit) and closed properly:
 * nothing in it is missing or wrong, it only ends where it was stopped (`note` says so in one
 * line). Otherwise `error` says where and why (`error.kind`: incomplete, or damaged); `footer`
 * is there when the file itself is whole but the recording ended early some other way.
 */
export type TraceIntegrity =
  | { state: 'intact'; footer: FooterRecord; footerOffset: number }
  | { state: 'stopped'; footer: FooterRecord; footerOffset: number; stop: StopReason; note: string }
  | { state: 'incomplete' | 'damaged'; error: TraceFormatError; footer?: FooterRecord; footerOffset?: number };

/** `recording stopped by the user after 3 events`: one line for a stopped trace. */
export function describeStop(stop: StopReason, events: number): string {
  const how = stop === 'stopped' ? 'by the user' : 'at its size limit';
  return `recording stopped ${how} after ${events} event${events === 1 ? '' : 's'}`;
}

export class TraceReader {
  readonly version: number;
  readonly header: TraceHeader;
  /** Where the records after the header start. */
  readonly bodyOffset: number;
  private checked: TraceIntegrity | undefined;

  constructor(readonly source: ByteSource) {
    this.version = readFileHeader(source);
    const first = readChunk(source, 16, this.version);
    const headerRecord = first?.values.length === 1 ? safeDecode(first.values[0], 16) : undefined;
    if (!first || headerRecord?.kind !== 'header') throw new TraceFormatError('corrupt trace: no header record', 16);
    this.header = headerRecord.header;
    this.bodyOffset = first.end;
  }

  /** Checks every chunk's framing and checksum and the end of the file (read once, then kept). */
  get integrity(): TraceIntegrity {
    this.checked ??= this.scan();
    return this.checked;
  }

  /** The footer, if the trace was closed properly (a footer chunk and a trailer pointing at it). */
  get footer(): FooterRecord | undefined { return this.integrity.footer; }

  private scan(): TraceIntegrity {
    let at = this.bodyOffset;
    let groupStart = at;
    let inGroup = false;
    try {
      while (!chunksEndAt(this.source, at)) {
        if (!inGroup) groupStart = at;
        const frame = checkFrame(this.source, at, this.version, false);
        inGroup = frame.continues;
        at = frame.end;
      }
      if (inGroup && at >= this.source.size) throw new TraceFormatError('trace is incomplete: it is cut inside a record that spans chunks', at, 'incomplete');
      if (inGroup) throw new TraceFormatError('corrupt trace: a record spanning chunks is not finished', at);
      return this.verdict(this.checkEnd(at, groupStart));
    } catch (err) {
      if (!(err instanceof TraceFormatError)) throw err;
      return { state: err.kind, error: err };
    }
  }

  private verdict(end: { footer: FooterRecord; footerOffset: number }): TraceIntegrity {
    if (end.footer.complete) return { state: 'intact', ...end };
    if (end.footer.stop) return { state: 'stopped', ...end, stop: end.footer.stop, note: describeStop(end.footer.stop, end.footer.events) };
    const error = new TraceFormatError('trace is incomplete: the recording stopped early (closed before the run ended)', end.footerOffset, 'incomplete');
    return { state: 'incomplete', error, ...end };
  }

  /**
   * The chunks end at `at` and the last group started at `last`: that group must be the footer
   * alone, followed by a trailer that points at it and ends the file.
   */
  private checkEnd(at: number, last: number): { footer: FooterRecord; footerOffset: number } {
    if (at >= this.source.size) throw new TraceFormatError('trace is incomplete: it ends without its footer and trailer (the recording was cut short)', at, 'incomplete');
    const pointer = readTrailerAt(this.source, at);
    const chunk = last < at ? readChunk(this.source, last, this.version) : undefined;
    const record = chunk?.values.length === 1 ? safeDecode(chunk.values[0], last) : undefined;
    if (record?.kind !== 'footer' || chunk!.end !== at) throw new TraceFormatError('corrupt trace: the last chunk is not a footer', last);
    if (pointer !== BigInt(last)) throw new TraceFormatError(`corrupt trace: the trailer points at byte ${pointer}, the footer is at byte ${last}`, at);
    return { footer: record, footerOffset: last };
  }

  /**
   * Records from `offset` (a chunk start) on, up to the footer. Throws TraceFormatError where the
   * trace stops being readable, and at its end unless it ends as a closed trace does.
   */
  *records(offset = this.bodyOffset, onChunk?: (info: ChunkInfo) => void): Generator<PlacedRecord> {
    let events = offset === this.bodyOffset ? 0 : -1;
    let last = offset;
    for (let at = offset; ;) {
      const chunk = readChunk(this.source, at, this.version);
      if (!chunk) {
        this.checkEnd(at, last); // throws: the footer would have ended the loop
        throw new TraceFormatError('corrupt trace: no footer', at);
      }
      onChunk?.({ offset: chunk.offset, storedBytes: chunk.storedBytes, rawBytes: chunk.rawBytes, records: chunk.values.length });
      for (const value of chunk.values) {
        const record = safeDecode(value, chunk.offset);
        if (record.kind === 'footer') {
          const end = this.checkEnd(chunk.end, chunk.offset);
          // A footer with a stop reason counts exactly the events written; one without, from a
          // recording that ended early otherwise (older writers), may count more than it holds.
          const exact = end.footer.complete || end.footer.stop !== undefined;
          if (events >= 0 && (exact ? end.footer.events !== events : end.footer.events < events)) {
            throw new TraceFormatError(`corrupt trace: the footer counts ${end.footer.events} events, the trace holds ${events}`, chunk.offset);
          }
          this.checked ??= this.verdict(end);
          return;
        }
        if (record.kind === 'calls' && events >= 0) {
          if (record.first !== events) throw new TraceFormatError(`corrupt trace: a calls record starts at event ${record.first}, the one before ended at ${events}`, chunk.offset);
          events += record.ids.length;
        }
        yield { record, chunkOffset: chunk.offset };
      }
      last = chunk.offset;
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
export interface CallEvent { index: number; id: number; fingerprint: number; result: number; /** The guest thread that made it (0 in single-threaded traces). */ thread: number }

/** Where an EventCursor stands (EventCursor.state). */
export interface CursorState {
  chunkOffset: number; takenInChunk: number; queue: TraceRecord[];
  batch: Extract<TraceRecord, { kind: 'calls' }> | undefined; batchAt: number; ended: boolean;
}

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
  /** Records taken from that chunk so far (with chunkOffset: where the source stands, for a snapshot). */
  private takenInChunk = 0;

  constructor(private readonly source: Iterator<PlacedRecord>) {}

  /** Where the cursor stands, structured-cloneable: `resume` continues from exactly here. */
  state(): CursorState {
    // Only the calls of the current batch still to come (a batch holds thousands).
    const b = this.batch;
    const batch = b && {
      kind: 'calls' as const, first: b.first + this.batchAt, ids: b.ids.slice(this.batchAt), results: b.results.slice(this.batchAt), fingerprints: b.fingerprints.slice(this.batchAt),
      ...(b.threads ? { threads: b.threads.slice(this.batchAt) } : {}),
    };
    return { chunkOffset: this.chunkOffset, takenInChunk: this.takenInChunk, queue: [...this.queue], batch, batchAt: 0, ended: this.ended };
  }

  /** A cursor over `reader` that continues where `state` stood (the same trace: the caller checks). */
  static resume(reader: TraceReader, state: CursorState): EventCursor {
    const records = reader.records(state.chunkOffset === 0 ? undefined : state.chunkOffset);
    for (let i = 0; i < state.takenInChunk; i++) {
      if (records.next().done) throw new TraceFormatError('a snapshot stands past the end of its trace', state.chunkOffset);
    }
    const cursor = new EventCursor(records);
    cursor.queue.push(...state.queue);
    cursor.batch = state.batch;
    cursor.batchAt = state.batchAt;
    cursor.ended = state.ended;
    cursor.chunkOffset = state.chunkOffset;
    cursor.takenInChunk = state.takenInChunk;
    return cursor;
  }

  /**
   * The next record replay reads. Output records (`record --record-output`) are passed over: a
   * replay checks output through its hashes, and nothing takes them, so they would pile up in the
   * look-ahead queue until a long recording no longer replayed.
   */
  private pull(): TraceRecord | undefined {
    for (;;) {
      if (this.ended) return undefined;
      let next: IteratorResult<PlacedRecord>;
      try {
        next = this.source.next();
      } catch (err) {
        // A cut-short trace is replayed up to its end (the session says where it ended); damage is not.
        if (!(err instanceof TraceFormatError) || err.kind !== 'incomplete') throw err;
        this.ended = true;
        return undefined;
      }
      if (next.done) { this.ended = true; return undefined; }
      if (next.value.chunkOffset !== this.chunkOffset) this.takenInChunk = 0;
      this.takenInChunk++;
      this.chunkOffset = next.value.chunkOffset;
      if (next.value.record.kind !== 'output') return next.value.record;
    }
  }

  /**
   * True while the trace holds another call event or the exit record (reads ahead, bounded):
   * once it holds neither, nothing the guest does next can be checked.
   */
  hasMore(): boolean {
    if (this.batch && this.batchAt < this.batch.ids.length) return true;
    const more = (r: TraceRecord) => r.kind === 'calls' || r.kind === 'exit';
    if (this.queue.some(more)) return true;
    while (this.queue.length < maxLookahead) {
      const r = this.pull();
      if (!r) return false;
      this.queue.push(r);
      if (more(r)) return true;
    }
    throw new TraceFormatError('corrupt trace: record replay needs is too far ahead', this.chunkOffset);
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
    return { index: b.first + i, id: b.ids[i]!, fingerprint: b.fingerprints[i]!, result: b.results[i]!, thread: b.threads?.[i] ?? 0 };
  }

  /**
   * Replay's fast path: when the next call of the batch at hand is `id` with `fingerprint`, made
   * by thread 0, it is taken and its recorded result returned; otherwise -1, and nothing is taken
   * (nextCall then loads the next batch, or says what the call was).
   */
  takeCall(id: number, fingerprint: number): number {
    const b = this.batch;
    const i = this.batchAt;
    if (b === undefined || i >= b.ids.length || b.ids[i] !== id || b.fingerprints[i] !== fingerprint || (b.threads !== undefined && b.threads[i] !== 0)) return -1;
    this.batchAt = i + 1;
    return b.results[i]!;
  }

  /**
   * The calls batch at hand and the index in it of its next call (undefined: none loaded yet),
   * for the replay shim (runtime/trace/replay-shim.ts), which checks calls against a copy of it.
   */
  batchAtHand(): { batch: CallsRecord; at: number } | undefined {
    return this.batch && { batch: this.batch, at: this.batchAt };
  }

  /** Takes the next `n` calls of the batch at hand, which the replay shim has checked as takeCall would. */
  skipCalls(n: number): void {
    if (this.batch === undefined || this.batchAt + n > this.batch.ids.length) throw new Error(`RepliCode bug: ${n} calls skipped past the batch's end`);
    this.batchAt += n;
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

  exit(): ExitRecord | undefined {
    return this.take((r): r is ExitRecord => r.kind === 'exit', false);
  }
}
