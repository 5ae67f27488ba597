// Writing a trace, in two halves that may run on different threads:
// - RecordBuffer collects records (and batches syscall events column by column) into raw chunk
//   payloads; it runs beside the guest, so it only copies bytes.
// - ChunkFramer compresses and frames those payloads, keeps the checkpoint index, enforces the
//   size limit and closes the file with footer and trailer.
// TraceWriter joins the two in one thread.
import { chunkHeaderBytes, defaultChunkBytes, encodeChunks, encodeFileHeader, encodeTrailer, maxChunkBytes, maxRecordBytes } from './framing.js';
import { encodeCalls, encodeFooter, encodeHeader, type FooterRecord, type StopReason, type TraceHeader } from './records.js';

/** Where framed bytes go (a file, in practice), appended in order. */
export interface TraceSink {
  write(bytes: Uint8Array): void;
}

/** A chunk's records before compression; `checkpoint` marks a chunk that ends with one. */
export interface RawChunk {
  payload: Uint8Array;
  checkpoint?: [number: number, event: number];
  /** Syscall events whose `calls` record is in this chunk (the footer counts those written). */
  events?: number;
}

/**
 * How a recording ended: run to its end (`complete`), or not; then `stop` says why when it was
 * stopped on purpose (see StopReason), and is absent when it ended some other way.
 */
export type TraceEnd = { complete: true } | { complete: false; stop?: StopReason };

/** Calls are batched this many at a time into one columnar record. */
export const callsPerBatch = 4096;
/** A trace's size limit when none is given (`--max-trace-bytes`' default; docs/limits.md). */
export const defaultMaxTraceBytes = 4 * 1024 ** 3;
/**
 * The footer indexes at most this many checkpoints (for seeking; later ones are still in the
 * trace and verified): at most 20 bytes each, the footer stays well under maxRecordBytes.
 */
export const maxIndexedCheckpoints = 1 << 20;
assert(maxIndexedCheckpoints * 20 + 64 < maxRecordBytes, 'the footer fits in one record');

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`RepliCode bug: ${message}`);
}

/** The trace reached its size limit; what was written so far is kept. */
export class TraceLimitError extends Error {}

/** Why a recording stopped at its size limit (the stop's reason, as `record` prints it). */
export const traceLimitReason = (maxTraceBytes: number): string => `trace reached its size limit of ${maxTraceBytes} bytes`;

export class RecordBuffer {
  /** The chunk being filled: records are copied straight in (one buffer per chunk, no lists). */
  private chunk: Uint8Array;
  private used = 0;
  private readonly ids = new Uint8Array(callsPerBatch);
  private readonly results = new Uint8Array(callsPerBatch);
  private readonly fingerprints = new Uint32Array(callsPerBatch);
  private readonly threads = new Uint32Array(callsPerBatch);
  private pending = 0;
  private events = 0;
  /** Events whose calls record is in the chunk being filled. */
  private chunkEvents = 0;

  private readonly chunkBytes: number;
  private readonly reuseChunks: boolean;

  /**
   * `reuseChunks`: `emit` is done with a chunk when it returns (it frames and writes it at once),
   * so every chunk is a view of one buffer; otherwise each chunk's buffer is its own (it may be
   * kept, or transferred to another thread).
   */
  constructor(private readonly emit: (chunk: RawChunk) => void, options: { chunkBytes?: number; reuseChunks?: boolean } = {}) {
    this.chunkBytes = options.chunkBytes ?? defaultChunkBytes;
    this.reuseChunks = options.reuseChunks ?? false;
    this.chunk = new Uint8Array(this.chunkBytes + callsPerBatch * 10 + 64);
  }

  get eventCount(): number { return this.events; }

  /** Starts syscall event number `eventCount`; its result is filled in by `result`. */
  call(id: number, fingerprint: number, thread = 0): number {
    if (this.pending === callsPerBatch) this.flushCalls();
    this.ids[this.pending] = id;
    this.fingerprints[this.pending] = fingerprint;
    this.threads[this.pending] = thread;
    this.results[this.pending] = 0;
    this.pending++;
    return this.events++;
  }

  /** The errno of the last call (errnos fit a byte: the largest is 76). */
  result(errno: number): void {
    this.results[this.pending - 1] = errno;
  }

  /**
   * Appends an encoded record (an input, an output, an exit; or a calls record holding `events`
   * events, made elsewhere); one over maxRecordBytes ends the trace.
   */
  append(record: Uint8Array, events = 0): void {
    if (record.length > maxRecordBytes) {
      throw new TraceLimitError(`a record of ${record.length} bytes is larger than a trace holds (${maxRecordBytes} bytes)`);
    }
    // A big record goes in a chunk of its own, so no group exceeds maxRecordBytes.
    if (this.used > 0 && this.used + record.length > maxRecordBytes) this.endChunk();
    if (this.used + record.length > this.chunk.length) {
      const grown = new Uint8Array(Math.max(this.chunk.length * 2, this.used + record.length));
      grown.set(this.chunk.subarray(0, this.used));
      this.chunk = grown;
    }
    this.chunk.set(record, this.used);
    this.used += record.length;
    this.chunkEvents += events;
    if (this.used >= this.chunkBytes) this.endChunk();
  }

  /** A checkpoint follows every call so far and closes its chunk, so seeking can start after it. */
  checkpoint(number: number, event: number, record: Uint8Array): void {
    this.flushCalls();
    this.append(record);
    this.endChunk([number, event]);
  }

  /** Emits whatever is buffered. */
  flush(): void {
    this.flushCalls();
    this.endChunk();
  }

  private flushCalls(): void {
    if (this.pending === 0) return;
    const n = this.pending;
    this.pending = 0;
    this.append(encodeCalls(this.events - n, this.ids.subarray(0, n), this.results.subarray(0, n), this.fingerprints.subarray(0, n), this.threads.subarray(0, n)), n);
  }

  /** Closes the chunk being filled (after a checkpoint: marks it so). */
  endChunk(checkpoint?: [number, number]): void {
    if (this.used === 0) return;
    const payload = this.chunk.subarray(0, this.used);
    const events = this.chunkEvents;
    if (!this.reuseChunks) this.chunk = new Uint8Array(this.chunk.length);
    this.used = 0;
    this.chunkEvents = 0;
    this.emit({ payload, ...(checkpoint ? { checkpoint } : {}), ...(events ? { events } : {}) });
  }
}

export interface ChunkFramerOptions {
  compress?: boolean;
  /** The trace may not grow past this many bytes (the footer and trailer still fit). */
  maxTraceBytes?: number;
}

/**
 * The bytes a trace's start (file header and header chunk, as ChunkFramer.start writes it) takes
 * when that is more than `maxTraceBytes`; undefined when it fits. Compressed only when the record's
 * own size leaves it in doubt (a chunk is stored raw when that is smaller), so a header holding a
 * module of megabytes is not deflated twice at every start.
 */
export function headerBytesPastLimit(header: TraceHeader, maxTraceBytes: number, compress = true): number | undefined {
  const record = encodeHeader(header);
  const fileHeader = encodeFileHeader().length;
  const most = fileHeader + record.length + Math.ceil(record.length / maxChunkBytes + 1) * chunkHeaderBytes;
  if (most <= maxTraceBytes) return undefined;
  const framed = fileHeader + encodeChunks(record, compress).reduce((n, c) => n + c.length, 0);
  return framed > maxTraceBytes ? framed : undefined;
}

export class ChunkFramer {
  private written = 0;
  private full = false;
  /** Events in the chunks written (a refused chunk's are not). */
  private events = 0;
  /** Checkpoints in the chunks written (the footer indexes at most maxIndexedCheckpoints of them). */
  private checkpointsWritten = 0;
  private readonly checkpoints: FooterRecord['checkpoints'] = [];
  private readonly compress: boolean;
  private readonly maxTraceBytes: number;

  constructor(private readonly sink: TraceSink, options: ChunkFramerOptions = {}) {
    this.compress = options.compress ?? true;
    this.maxTraceBytes = options.maxTraceBytes ?? defaultMaxTraceBytes;
  }

  get offset(): number { return this.written; }
  /** Syscall events the trace holds so far. */
  get eventCount(): number { return this.events; }
  /** Checkpoints the trace holds so far. */
  get checkpointCount(): number { return this.checkpointsWritten; }
  /** A chunk was refused for the size limit; nothing more is written but the footer. */
  get limitReached(): boolean { return this.full; }
  /** The size limit, in bytes. */
  get limit(): number { return this.maxTraceBytes; }

  /** File header and the header chunk, so a trace is identifiable from its start. */
  start(header: TraceHeader): void {
    this.emit(encodeFileHeader());
    const record = encodeHeader(header);
    if (record.length > maxRecordBytes) throw new TraceLimitError(`the trace header would take ${record.length} bytes, more than a record may (${maxRecordBytes})`);
    for (const chunk of encodeChunks(record, this.compress)) this.emit(chunk);
  }

  /** Frames and writes one chunk; false (and nothing written) once the size limit is reached. */
  write(chunk: RawChunk): boolean {
    if (this.full) return false;
    const framed = encodeChunks(chunk.payload, this.compress);
    if (this.written + framed.reduce((n, f) => n + f.length, 0) > this.maxTraceBytes) {
      this.full = true;
      return false;
    }
    for (const f of framed) this.emit(f);
    this.events += chunk.events ?? 0;
    if (chunk.checkpoint) this.checkpointsWritten++;
    if (chunk.checkpoint && this.checkpoints.length < maxIndexedCheckpoints) this.checkpoints.push([chunk.checkpoint[0], chunk.checkpoint[1], this.written]);
    return true;
  }

  /**
   * Footer (the events written, the checkpoint index, how the recording ended) and trailer. A
   * chunk refused for the size limit makes it a recording stopped at its size limit, whatever
   * `end` says: the trace does not hold the end of the run.
   */
  finish(end: TraceEnd): void {
    const footerOffset = this.written;
    const stop: StopReason | undefined = this.full ? 'size-limit' : end.complete ? undefined : end.stop;
    const footer = { events: this.events, checkpoints: this.checkpoints, complete: end.complete && !this.full, ...(stop ? { stop } : {}) };
    for (const chunk of encodeChunks(encodeFooter(footer), this.compress)) this.emit(chunk);
    this.emit(encodeTrailer(footerOffset));
  }

  private emit(bytes: Uint8Array): void {
    this.sink.write(bytes);
    this.written += bytes.length;
  }
}

/** The event log a recording session writes to (one thread, or split across threads). */
export interface EventLog {
  readonly eventCount: number;
  /** `thread`: the guest thread making the call (wasi-threads tid; 0, the main thread, by default). */
  call(id: number, fingerprint: number, thread?: number): number;
  result(errno: number): void;
  append(record: Uint8Array): void;
  checkpoint(number: number, event: number, record: Uint8Array): void;
  /** Flushes and closes the trace, saying how the recording ended. */
  finish(end: TraceEnd): void;
}

export interface TraceWriterOptions extends ChunkFramerOptions {
  chunkBytes?: number;
}

/** RecordBuffer and ChunkFramer in one thread. Throws TraceLimitError when the trace is full. */
export class TraceWriter implements EventLog {
  private readonly framer: ChunkFramer;
  private readonly buffer: RecordBuffer;

  constructor(sink: TraceSink, options: TraceWriterOptions = {}) {
    this.framer = new ChunkFramer(sink, options);
    this.buffer = new RecordBuffer((chunk) => {
      if (!this.framer.write(chunk)) throw new TraceLimitError(traceLimitReason(this.framer.limit));
    }, { ...(options.chunkBytes !== undefined ? { chunkBytes: options.chunkBytes } : {}), reuseChunks: true });
  }

  get offset(): number { return this.framer.offset; }
  get eventCount(): number { return this.buffer.eventCount; }
  start(header: TraceHeader): void { this.framer.start(header); }
  call(id: number, fingerprint: number, thread = 0): number { return this.buffer.call(id, fingerprint, thread); }
  result(errno: number): void { this.buffer.result(errno); }
  append(record: Uint8Array): void { this.buffer.append(record); }
  checkpoint(number: number, event: number, record: Uint8Array): void { this.buffer.checkpoint(number, event, record); }

  finish(end: TraceEnd = { complete: true }): void {
    try {
      if (!this.framer.limitReached) this.buffer.flush();
    } catch (err) {
      if (!(err instanceof TraceLimitError)) throw err;
    }
    assert(!end.complete || this.framer.limitReached || this.framer.eventCount === this.buffer.eventCount, 'a complete trace holds every event');
    this.framer.finish(end);
  }
}

