import { deflateRawSync } from 'node:zlib';
// Writing a snapshot index: frames are only ever appended, each in one write, so a file cut
// anywhere (a crash, Ctrl-C) reads back as the whole frames before the cut. A snapshot's pages
// and output are framed before the snapshot record that refers to them.
import {
  FrameKind, IndexLimitError, PageCodec, assert, defaultMaxIndexBytes, defaultMaxSnapshots, encodeFrame, encodeIndexHeader, frameHeaderBytes,
  maxFrameBytes, maxMemoryBytes, outputFrameBytes, pageBytes, pageHashBytes, type IndexFile, type IndexIdentity,
} from './layout.js';
import { encodeIdentity, encodeSnapshotRecord, type IndexSnapshot } from './records.js';
import { hashKey, scanIndex, type IndexReadResult, type IndexScan, type OutputStream } from './reader.js';

export interface IndexWriterOptions {
  /** The file may not grow past this many bytes (default 2 GiB). */
  maxIndexBytes?: number;
  /** At most this many snapshots (default 4096). */
  maxSnapshots?: number;
}

type OpenFailure = Extract<IndexReadResult, { ok: false }>;

export class IndexWriter {
  private size: number;
  private readonly pageIds = new Map<string, number>();
  /** Hashes of the pages framed since the last snapshot record (listed by the next one). */
  private pending: Uint8Array[] = [];
  private readonly outputs = [0, 0];
  private readonly events = new Set<number>();
  private readonly maxIndexBytes: number;
  private readonly maxSnapshots: number;

  private constructor(private readonly file: IndexFile, options: IndexWriterOptions) {
    this.size = file.size;
    this.maxIndexBytes = options.maxIndexBytes ?? defaultMaxIndexBytes;
    this.maxSnapshots = options.maxSnapshots ?? defaultMaxSnapshots;
  }

  /** Starts a new index in `file`, discarding what it held. */
  static create(file: IndexFile, identity: IndexIdentity, options: IndexWriterOptions = {}): IndexWriter {
    file.truncate(0);
    const writer = new IndexWriter(file, options);
    writer.emit(encodeIndexHeader());
    writer.emit(encodeFrame(FrameKind.identity, encodeIdentity(identity)));
    return writer;
  }

  /**
   * Opens an existing index to add to it. Refuses one that readIndex would refuse (damaged,
   * stale, not an index); a cut tail is dropped, and so is whatever follows the last snapshot
   * record (pages and output no snapshot names yet): `outputBytes` says where output resumes.
   */
  static open(file: IndexFile, identity: IndexIdentity, options: IndexWriterOptions = {}): { ok: true; writer: IndexWriter; truncated?: string } | OpenFailure {
    const scan = scanIndex(file, identity);
    if ('ok' in scan) return scan;
    file.truncate(scan.resumeAt);
    const writer = new IndexWriter(file, options);
    writer.resume(scan);
    return scan.cut ? { ok: true, writer, truncated: `truncated at byte ${scan.cut.offset}: ${scan.cut.reason}` } : { ok: true, writer };
  }

  /** `open`, or `create` when the index is missing or cannot be kept; `rebuilt` says why it was not kept. */
  static openOrCreate(file: IndexFile, identity: IndexIdentity, options: IndexWriterOptions = {}): { writer: IndexWriter; rebuilt?: string } {
    if (file.size === 0) return { writer: IndexWriter.create(file, identity, options) };
    const opened = IndexWriter.open(file, identity, options);
    if (opened.ok) return { writer: opened.writer };
    return { writer: IndexWriter.create(file, identity, options), rebuilt: opened.problem };
  }

  private resume(scan: IndexScan): void {
    scan.pageIds.forEach((id, key) => this.pageIds.set(key, id));
    for (const record of scan.records) this.events.add(record.event);
    scan.output.forEach((chunks, i) => {
      for (const c of chunks) if (c.frame.end <= scan.resumeAt) this.outputs[i] = c.start + c.frame.length;
    });
  }

  get bytes(): number { return this.size; }
  get snapshotCount(): number { return this.events.size; }
  /** Output bytes of a stream the index holds: the next appendOutput continues from there. */
  outputBytes(stream: OutputStream): number { return this.outputs[stream - 1]!; }
  hasSnapshot(event: number): boolean { return this.events.has(event); }
  hasPage(hash: Uint8Array): boolean { return this.pageIds.has(hashKey(hash)); }

  /**
   * Stores a page (at most 64 KiB) under its hash, once: false when it is already stored. The
   * hash is the caller's (the SHA-256 of the page; see pageHash): it is not recomputed here.
   */
  addPage(hash: Uint8Array, bytes: Uint8Array): boolean {
    assert(hash.length === pageHashBytes, `a page hash is ${pageHashBytes} bytes, not ${hash.length}`);
    assert(bytes.length <= pageBytes, `a page is at most ${pageBytes} bytes, not ${bytes.length}`);
    if (this.hasPage(hash)) return false;
    // Pages are mostly zeros or repetitive: deflate at its fastest level shrinks them many times.
    const packed = deflateRawSync(bytes, { level: 1 });
    const stored = packed.length < bytes.length ? packed : bytes;
    this.reserve(frameHeaderBytes + stored.length, 'a page');
    this.emit(encodeFrame(FrameKind.page, stored, stored === bytes ? PageCodec.raw : PageCodec.deflateRaw));
    this.pageIds.set(hashKey(hash), this.pageIds.size);
    this.pending.push(hash.slice());
    return true;
  }

  /** Appends to a stored output stream (1: stdout, 2: stderr). */
  appendOutput(stream: OutputStream, bytes: Uint8Array): void {
    assert(stream === 1 || stream === 2, `output stream ${stream}`);
    const frames = Math.ceil(bytes.length / outputFrameBytes);
    this.reserve(frames * frameHeaderBytes + bytes.length, 'output');
    for (let at = 0; at < bytes.length; at += outputFrameBytes) {
      this.emit(encodeFrame(FrameKind.output, bytes.subarray(at, at + outputFrameBytes), stream));
    }
    this.outputs[stream - 1]! += bytes.length;
  }

  /**
   * Stores a snapshot: its state, then its record. Every page it names must be stored and its
   * output lengths within the stored output. False when the index has a snapshot at that event
   * already. Throws IndexLimitError (writing nothing) past the count or size limit.
   */
  addSnapshot(s: IndexSnapshot): boolean {
    this.check(s);
    if (this.events.has(s.event)) return false;
    if (this.events.size >= this.maxSnapshots) throw new IndexLimitError(`the snapshot index holds its limit of ${this.maxSnapshots} snapshots`);
    if (s.state.length > maxFrameBytes) throw new IndexLimitError(`a snapshot state of ${s.state.length} bytes is larger than an index frame holds (${maxFrameBytes})`);
    const record = encodeSnapshotRecord({
      event: s.event, clock: s.clock, memoryBytes: s.memoryBytes, stdoutBytes: s.stdoutBytes, stderrBytes: s.stderrBytes,
      stateOffset: this.size, newPages: Buffer.concat(this.pending), pageIds: Uint32Array.from(s.pages, (h) => this.pageIds.get(hashKey(h))!),
    });
    this.reserve(2 * frameHeaderBytes + s.state.length + record.length, 'a snapshot');
    this.emit(encodeFrame(FrameKind.state, s.state));
    this.emit(encodeFrame(FrameKind.snapshot, record));
    this.pending = [];
    this.events.add(s.event);
    return true;
  }

  /** Writes the end frame (the index is whole) and closes the file. */
  finish(): void {
    const count = new Uint8Array(4);
    new DataView(count.buffer).setUint32(0, this.events.size, true);
    this.emit(encodeFrame(FrameKind.end, count));
    this.file.close();
  }

  /** Closes the file without the end frame: a reader takes it as cut short. */
  close(): void {
    this.file.close();
  }

  private check(s: IndexSnapshot): void {
    assert(Number.isSafeInteger(s.event) && s.event >= 0, `snapshot event ${s.event}`);
    assert(s.memoryBytes % pageBytes === 0 && s.memoryBytes >= 0 && s.memoryBytes <= maxMemoryBytes, `snapshot memory of ${s.memoryBytes} bytes`);
    assert(s.pages.length === s.memoryBytes / pageBytes, `a snapshot of ${s.memoryBytes} bytes names ${s.pages.length} pages`);
    for (const [i, hash] of s.pages.entries()) assert(this.hasPage(hash), `snapshot page ${i} was not added to the index`);
    assert(s.stdoutBytes <= this.outputs[0]! && s.stderrBytes <= this.outputs[1]!, 'a snapshot counts output not appended to the index');
  }

  private reserve(bytes: number, what: string): void {
    if (this.size + bytes > this.maxIndexBytes) {
      throw new IndexLimitError(`the snapshot index would pass its size limit of ${this.maxIndexBytes} bytes with ${what} of ${bytes} bytes`);
    }
  }

  private emit(bytes: Uint8Array): void {
    this.file.append(bytes);
    this.size += bytes.length;
  }
}
