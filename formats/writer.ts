// Streaming trace writer: records go into the current chunk; a chunk is framed, compressed and
// handed to the sink once it is big enough, at a checkpoint, or at the end. Memory stays bounded
// by one chunk plus one batch of calls.
import { defaultChunkBytes, encodeChunk, encodeFileHeader, encodeTrailer } from './framing.js';
import { encodeCalls, encodeFooter, encodeHeader, type FooterRecord, type TraceHeader } from './records.js';

/** Where framed bytes go (a file, in practice), appended in order. */
export interface TraceSink {
  write(bytes: Uint8Array): void;
}

export interface TraceWriterOptions {
  chunkBytes?: number;
  compress?: boolean;
  /** The trace may not grow past this many bytes (the footer and trailer still fit). */
  maxTraceBytes?: number;
}

/** Calls are batched this many at a time into one columnar record. */
export const callsPerBatch = 4096;
export const defaultMaxTraceBytes = 8 * 1024 ** 3;

/** The trace reached its size limit; what was written so far is kept. */
export class TraceLimitError extends Error {}

export class TraceWriter {
  private parts: Uint8Array[] = [];
  private partBytes = 0;
  private written = 0;
  private readonly ids = new Uint8Array(callsPerBatch);
  private readonly results = new Uint8Array(callsPerBatch);
  private readonly fingerprints = new Uint32Array(callsPerBatch);
  private pending = 0;
  private events = 0;
  private readonly checkpoints: FooterRecord['checkpoints'] = [];
  private readonly chunkBytes: number;
  private readonly compress: boolean;
  private readonly maxTraceBytes: number;

  constructor(private readonly sink: TraceSink, options: TraceWriterOptions = {}) {
    this.chunkBytes = options.chunkBytes ?? defaultChunkBytes;
    this.compress = options.compress ?? true;
    this.maxTraceBytes = options.maxTraceBytes ?? defaultMaxTraceBytes;
  }

  /** Bytes handed to the sink so far. */
  get offset(): number { return this.written; }
  get eventCount(): number { return this.events; }

  /** File header and the header chunk, written at once so a trace is identifiable from its start. */
  start(header: TraceHeader): void {
    this.emit(encodeFileHeader());
    this.append(encodeHeader(header));
    this.endChunk();
  }

  /** Starts syscall event number `eventCount`; its result is filled in by `result`. */
  call(id: number, fingerprint: number): number {
    if (this.pending === callsPerBatch) this.flushCalls();
    this.ids[this.pending] = id;
    this.fingerprints[this.pending] = fingerprint;
    this.results[this.pending] = 0;
    this.pending++;
    return this.events++;
  }

  /** The errno of the last call (errnos fit a byte: the largest is 76). */
  result(errno: number): void {
    this.results[this.pending - 1] = errno;
  }

  /** Appends an encoded record (an input, an output, an exit). */
  append(record: Uint8Array): void {
    this.parts.push(record);
    this.partBytes += record.length;
    if (this.partBytes >= this.chunkBytes) this.endChunk();
  }

  /** Appends a checkpoint after every call so far and closes the chunk (so seeking can start at the next one). */
  checkpoint(number: number, event: number, record: Uint8Array): void {
    this.flushCalls();
    this.append(record);
    this.endChunk();
    this.checkpoints.push([number, event, this.written]);
  }

  /** Closes the trace: remaining calls, the footer chunk and the trailer. */
  finish(complete = true): void {
    this.flushCalls();
    this.endChunk();
    const footerOffset = this.written;
    const footer = encodeFooter({ events: this.events, checkpoints: this.checkpoints, complete });
    this.parts.push(footer);
    this.partBytes = footer.length;
    this.endChunk(true);
    this.emit(encodeTrailer(footerOffset), true);
  }

  private flushCalls(): void {
    if (this.pending === 0) return;
    const n = this.pending;
    this.pending = 0;
    this.append(encodeCalls(this.events - n, this.ids.slice(0, n), this.results.slice(0, n), this.fingerprints.slice(0, n)));
  }

  private endChunk(force = false): void {
    if (this.partBytes === 0 && !force) return;
    const raw = this.parts.length === 1 ? this.parts[0]! : concat(this.parts, this.partBytes);
    this.parts = [];
    this.partBytes = 0;
    this.emit(encodeChunk(raw, this.compress), force);
  }

  private emit(bytes: Uint8Array, ignoreLimit = false): void {
    if (!ignoreLimit && this.written + bytes.length > this.maxTraceBytes) {
      throw new TraceLimitError(`trace reached its size limit of ${this.maxTraceBytes} bytes`);
    }
    this.sink.write(bytes);
    this.written += bytes.length;
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}
