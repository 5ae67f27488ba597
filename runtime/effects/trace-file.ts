// Trace files on disk: the sink `record` writes through (the chunks framed from one take of the
// trace ring reach the OS together at its end, so a crash loses at most the chunk being filled)
// and the byte source `replay` and `inspect` read through, one chunk at a time.
import { closeSync, fstatSync, openSync, readSync, writevSync } from 'node:fs';
import { ChunkFramer, traceLimitReason, type ByteSource, type RawChunk, type TraceEnd, type TraceHeader, type TraceSink } from '../../formats/index.js';

/**
 * Bytes written are kept (they are the framer's own) until `flush`, or until they pass
 * `gatherBytes`, then go to the file in one call: a recording's main thread wrote each chunk with
 * a call of its own, ~1,500 per 10M events (a checkpoint ends a chunk).
 */
export class FileTraceSink implements TraceSink {
  private readonly fd: number;
  private held: Uint8Array[] = [];
  private heldBytes = 0;

  constructor(readonly path: string, private readonly gatherBytes = 1024 * 1024) {
    this.fd = openSync(path, 'w');
  }

  write(bytes: Uint8Array): void {
    this.held.push(bytes);
    this.heldBytes += bytes.length;
    if (this.heldBytes >= this.gatherBytes) this.flush();
  }

  /** Everything written so far, to the file. */
  flush(): void {
    let pending = this.held;
    this.held = [];
    this.heldBytes = 0;
    while (pending.length > 0) {
      let done = writevSync(this.fd, pending);
      // A short write: what is left of the first array not written whole, then the rest.
      let i = 0;
      while (i < pending.length && done >= pending[i]!.length) done -= pending[i++]!.length;
      pending = pending.slice(i);
      if (done > 0) pending[0] = pending[0]!.subarray(done);
    }
  }

  close(): void {
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
    }
  }
}

export interface FileByteSource extends ByteSource {
  close(): void;
}

/** A trace file that cannot be opened (missing, a directory, unreadable): one line for the user. */
export class TraceFileError extends Error {}

export function openTraceFile(path: string): FileByteSource {
  let fd: number;
  try {
    fd = openSync(path, 'r');
    if (fstatSync(fd).isDirectory()) {
      closeSync(fd);
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TraceFileError(`${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code})`}`);
  }
  const size = fstatSync(fd).size;
  const readAt = (offset: number, n: number): Uint8Array => {
    const out = new Uint8Array(n);
    for (let done = 0; done < n;) {
      const got = readSync(fd, out, done, n - done, offset + done);
      if (got === 0) break;
      done += got;
    }
    return out;
  };
  // Reads come a chunk's header, then its payload, then the next header: they are served from a
  // window read ahead of them (three reads per chunk were ~20 ms of a 10M-event replay's thread).
  let window: Uint8Array = new Uint8Array(0);
  let windowAt = 0;
  return {
    size,
    read(offset: number, length: number): Uint8Array {
      const n = Math.max(0, Math.min(length, size - offset));
      if (n === 0) return new Uint8Array(0); // at or past the end (a cut trace's reader asks there)
      if (n > readAheadBytes) return readAt(offset, n);
      if (offset < windowAt || offset + n > windowAt + window.length) {
        window = readAt(offset, Math.min(readAheadBytes, size - offset));
        windowAt = offset;
      }
      return window.slice(offset - windowAt, offset - windowAt + n);
    },
    close: () => closeSync(fd),
  };
}

/** What a trace file's reader reads ahead of each read it serves. */
const readAheadBytes = 256 * 1024;

/**
 * The main thread's half of `record`: frames the chunks a guest's worker posts and writes them
 * as they arrive; closes the trace with footer and trailer however the run ends.
 */
export class TraceFileRecorder {
  private readonly sink: FileTraceSink;
  private readonly framer: ChunkFramer;
  private closed = false;

  constructor(path: string, header: TraceHeader, maxTraceBytes: number) {
    this.sink = new FileTraceSink(path);
    this.framer = new ChunkFramer(this.sink, { maxTraceBytes });
    this.framer.start(header);
    this.sink.flush(); // a trace is identifiable from its start, whatever happens next
  }

  get bytes(): number { return this.framer.offset; }
  /** Syscall events written so far. */
  get events(): number { return this.framer.eventCount; }
  /** Checkpoints written so far. */
  get checkpoints(): number { return this.framer.checkpointCount; }
  /** Why the trace stopped short, when it reached its size limit (undefined: it did not). */
  get limitReason(): string | undefined { return this.framer.limitReached ? traceLimitReason(this.framer.limit) : undefined; }
  get isClosed(): boolean { return this.closed; }

  /** Writes a chunk; false once the trace is full (the caller tells the worker to stop). */
  chunk(chunk: RawChunk): boolean {
    return this.closed ? false : this.framer.write(chunk);
  }

  /** The chunks written so far, to the file (after each take of the trace ring). */
  flush(): void {
    if (!this.closed) this.sink.flush();
  }

  close(end: TraceEnd): void {
    if (this.closed) return;
    this.closed = true;
    this.framer.finish(end);
    this.sink.close();
  }
}
