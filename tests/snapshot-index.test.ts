// The snapshot index file (TRACE.rct.idx): round trips with pages shared between snapshots and
// stored once, output prefixes, nearest(), every flipped byte and every cut detected at the
// right offset (a cut tail keeps its whole frames, damage keeps nothing), staleness, bounds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  IndexFormatError, IndexLimitError, IndexWriter, defaultMaxIndexBytes, defaultMaxSnapshots, indexOutputFrameBytes, indexPageBytes,
  memoryIndexFile, pageHash, readIndex, type IndexFile, type IndexIdentity, type IndexSnapshot, type SnapshotIndex,
} from '../dist/formats/index.js';
import { openIndexFile } from '../dist/runtime/index.js';
import { tempDir } from './helpers.js';

const identity: IndexIdentity = { traceBytes: 4096, traceSha256: 'ab'.repeat(32), moduleKey: 'module-1/fuel+clock', snapshotFormat: 1 };

/** A file-backed IndexFile: the runtime's (the formats layer does no I/O itself). */
const fileIndex = (path: string): IndexFile => openIndexFile(path, true);

/**
 * Page content from a seed (`length` bytes: the index keeps short pages' length); pseudo-random,
 * so that the index's page compression cannot shrink it and sizes stay predictable.
 */
function pageOf(seed: number, length = indexPageBytes): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

interface Model { memory: Uint8Array[]; stdout: number[]; stderr: number[] }

/**
 * Adds snapshot `n` of a guest whose memory is `pageCount` pages, page (n mod pageCount)
 * changing each time: one new page per snapshot after the first.
 */
function addStep(w: IndexWriter, model: Model, n: number, event: number, pageLength = indexPageBytes): IndexSnapshot {
  if (n === 0) for (let i = 0; i < model.memory.length; i++) model.memory[i] = pageOf(1000 + i, pageLength);
  else model.memory[n % model.memory.length] = pageOf(n, pageLength);
  for (const page of model.memory) w.addPage(pageHash(page), page);
  const out = new TextEncoder().encode(`step ${n}\n`);
  w.appendOutput(1, out);
  model.stdout.push(...out);
  if (n % 2 === 1) {
    w.appendOutput(2, Uint8Array.of(n, n));
    model.stderr.push(n, n);
  }
  const s: IndexSnapshot = {
    event, clock: BigInt(event) * 1000n + 7n, memoryBytes: model.memory.length * indexPageBytes, pages: model.memory.map(pageHash),
    stdoutBytes: model.stdout.length, stderrBytes: model.stderr.length, state: new TextEncoder().encode(`state at ${event}`.repeat(3)),
  };
  expect(w.addSnapshot(s)).toBe(true);
  return s;
}

function expectOk(file: IndexFile, id = identity): SnapshotIndex {
  const r = readIndex(file, id);
  if (!r.ok) throw new Error(r.problem);
  // Tests that build an index and read it without finishing it see only the missing end frame.
  if (r.truncated !== undefined) expect(r.truncated).toMatch(/: the index ends without its end frame$/);
  return r.index;
}

/** Offsets where frames start in an index (from the documented layout: length at +4, 16-byte header). */
function frameStarts(bytes: Uint8Array): number[] {
  const starts: number[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let at = 16; at < bytes.length; at += 16 + view.getUint32(at + 4, true)) starts.push(at);
  return starts;
}

/** A small index (short pages, so every byte can be flipped and every cut tried): 4 snapshots. */
function smallIndex(): { bytes: Uint8Array; snapshots: IndexSnapshot[]; model: Model } {
  const file = memoryIndexFile();
  const w = IndexWriter.create(file, identity);
  const model: Model = { memory: new Array(3), stdout: [], stderr: [] };
  const snapshots = [0, 5, 9, 14].map((event, n) => addStep(w, model, n, event, 40));
  w.finish();
  return { bytes: file.bytes(), snapshots, model };
}

describe('snapshot index: round trip', () => {
  it('stores a compressible page deflated and reads it back exactly', () => {
    const file = memoryIndexFile();
    const w = IndexWriter.create(file, identity);
    const sparse = new Uint8Array(indexPageBytes);
    sparse[12345] = 7;
    w.addPage(pageHash(sparse), sparse);
    w.addSnapshot({ event: 1, clock: 0n, memoryBytes: indexPageBytes, pages: [pageHash(sparse)], stdoutBytes: 0, stderrBytes: 0, state: new Uint8Array(3) });
    w.close();
    expect(file.bytes().length).toBeLessThan(2000);
    const read = readIndex(memoryIndexFile(file.bytes()), identity);
    if (!read.ok) throw new Error(read.problem);
    expect(Buffer.from(read.index.memory(read.index.snapshots[0]!)).equals(Buffer.from(sparse))).toBe(true);
  });

  it('reads back every snapshot, its memory, state and page hashes; pages shared between snapshots are stored once', () => {
    const dir = tempDir();
    const path = join(dir, 'trace.rct.idx');
    const w = IndexWriter.create(fileIndex(path), identity);
    const model: Model = { memory: new Array(4), stdout: [], stderr: [] };
    const sizes: number[] = [];
    const written: { s: IndexSnapshot; memory: Uint8Array }[] = [];
    for (let n = 0; n < 6; n++) {
      if (n === 3) model.memory.push(new Uint8Array(0)); // memory grows by a page (stored as 0 bytes)
      const s = addStep(w, model, n, n * 10);
      written.push({ s, memory: Buffer.concat(model.memory.map((p) => Buffer.concat([p, Buffer.alloc(indexPageBytes - p.length)]))) });
      sizes.push(w.bytes);
    }
    w.close();
    expect(readFileSync(path).length).toBe(sizes[5]);
    // After the first snapshot each adds one new page (n = 3 adds a second: the memory grew by an empty page).
    for (const n of [1, 2, 4, 5]) {
      const growth = sizes[n]! - sizes[n - 1]!;
      expect(growth).toBeGreaterThan(indexPageBytes);
      expect(growth).toBeLessThan(indexPageBytes + 1024);
    }
    const file = fileIndex(path);
    const index = expectOk(file);
    expect(index.snapshots.map((s) => s.event)).toEqual([0, 10, 20, 30, 40, 50]);
    expect(index.pageCount).toBe(4 + 5 + 1);
    for (const [i, { s, memory }] of written.entries()) {
      const got = index.snapshots[i]!;
      expect({ ...got, pageIds: undefined, stateOffset: undefined }).toEqual({ event: s.event, clock: s.clock, memoryBytes: s.memoryBytes, stdoutBytes: s.stdoutBytes, stderrBytes: s.stderrBytes, pageIds: undefined, stateOffset: undefined });
      expect(index.pageHashes(got).map((h) => Buffer.from(h).toString('hex'))).toEqual(s.pages.map((h) => Buffer.from(h).toString('hex')));
      expect(Buffer.from(index.memory(got)).equals(Buffer.from(memory))).toBe(true);
      expect(Buffer.from(index.state(got)).toString()).toBe(Buffer.from(s.state).toString());
    }
    expect(Buffer.from(index.page(pageHash(pageOf(5)))!).equals(Buffer.from(pageOf(5)))).toBe(true);
    expect(index.page(pageHash(pageOf(99)))).toBeUndefined();
    expect(index.verify()).toBeUndefined();
    file.close();
  });

  it('keeps a short page short, and assembles memory with zeros after it', () => {
    const file = memoryIndexFile();
    const w = IndexWriter.create(file, identity);
    const short = Uint8Array.of(1, 2, 3);
    w.addPage(pageHash(short), short);
    w.addSnapshot({ event: 0, clock: 0n, memoryBytes: 2 * indexPageBytes, pages: [pageHash(short), pageHash(short)], stdoutBytes: 0, stderrBytes: 0, state: new Uint8Array(0) });
    const index = expectOk(file);
    expect([...index.page(pageHash(short))!]).toEqual([1, 2, 3]);
    const memory = index.memory(index.snapshots[0]!);
    expect(memory.length).toBe(2 * indexPageBytes);
    expect([...memory.subarray(0, 4), ...memory.subarray(indexPageBytes, indexPageBytes + 4)]).toEqual([1, 2, 3, 0, 1, 2, 3, 0]);
    expect(index.state(index.snapshots[0]!).length).toBe(0);
  });

  it('opens by reading frame headers and records only: a large index reads a few percent of its bytes', () => {
    const file = memoryIndexFile();
    const w = IndexWriter.create(file, identity);
    const model: Model = { memory: new Array(16), stdout: [], stderr: [] };
    for (let n = 0; n < 40; n++) addStep(w, model, n, n);
    let read = 0;
    const counting = { get size() { return file.size; }, read: (o: number, l: number) => { const b = file.read(o, l); read += b.length; return b; } };
    const r = readIndex(counting, identity);
    expect(r.ok).toBe(true);
    expect(file.size).toBeGreaterThan(50 * indexPageBytes);
    expect(read).toBeLessThan(file.size / 50);
  });

  it('an index reopened for appending keeps its pages, events and output, and adds to them', () => {
    const file = memoryIndexFile();
    const model: Model = { memory: new Array(3), stdout: [], stderr: [] };
    const w1 = IndexWriter.create(file, identity);
    addStep(w1, model, 0, 0);
    addStep(w1, model, 1, 4);
    const opened = IndexWriter.open(file, identity);
    if (!opened.ok) throw new Error(opened.problem);
    const w2 = opened.writer;
    expect([w2.snapshotCount, w2.outputBytes(1), w2.outputBytes(2), w2.hasSnapshot(4), w2.hasPage(pageHash(pageOf(1, indexPageBytes)))]).toEqual([2, model.stdout.length, model.stderr.length, true, true]);
    const before = file.size;
    expect(w2.addPage(pageHash(pageOf(1)), pageOf(1))).toBe(false); // stored already: nothing written
    expect(file.size).toBe(before);
    addStep(w2, model, 2, 8);
    expect(w2.addSnapshot({ ...addStep(w2, model, 3, 12), state: Uint8Array.of(9) })).toBe(false); // that event is there
    const index = expectOk(file);
    expect(index.snapshots.map((s) => s.event)).toEqual([0, 4, 8, 12]);
    expect(Buffer.from(index.output(1, model.stdout.length)).toString()).toBe(Buffer.from(model.stdout).toString());
  });

  it('the writer refuses a snapshot naming a page it was not given, or output it does not hold (our bug)', () => {
    const w = IndexWriter.create(memoryIndexFile(), identity);
    const base = { event: 0, clock: 0n, memoryBytes: indexPageBytes, stdoutBytes: 0, stderrBytes: 0, state: new Uint8Array(0) };
    expect(() => w.addSnapshot({ ...base, pages: [pageHash(pageOf(1))] })).toThrow(/RepliCode bug: snapshot page 0 was not added/);
    w.addPage(pageHash(pageOf(1)), pageOf(1));
    expect(() => w.addSnapshot({ ...base, pages: [pageHash(pageOf(1))], stdoutBytes: 1 })).toThrow(/RepliCode bug: a snapshot counts output/);
    expect(() => w.addSnapshot({ ...base, pages: [] })).toThrow(/RepliCode bug: a snapshot of 65536 bytes names 0 pages/);
  });
});

describe('snapshot index: output and nearest', () => {
  it('output(stream, n) is the first n bytes of each stream, across frames', () => {
    const file = memoryIndexFile();
    const w = IndexWriter.create(file, identity);
    const big = pageOf(3, 2 * indexOutputFrameBytes + 12345); // three frames
    w.appendOutput(2, big);
    w.appendOutput(2, Uint8Array.of(7, 8, 9));
    w.appendOutput(1, new TextEncoder().encode('hello '));
    w.appendOutput(1, new TextEncoder().encode('world'));
    const index = expectOk(file);
    expect(index.outputBytes(1)).toBe(11);
    expect(Buffer.from(index.output(1, 11)).toString()).toBe('hello world');
    expect(Buffer.from(index.output(1, 8)).toString()).toBe('hello wo');
    expect(index.output(1, 0).length).toBe(0);
    const all = Buffer.concat([big, Uint8Array.of(7, 8, 9)]);
    for (const n of [1, indexOutputFrameBytes - 1, indexOutputFrameBytes, indexOutputFrameBytes + 1, big.length, all.length]) {
      expect(Buffer.from(index.output(2, n)).equals(all.subarray(0, n))).toBe(true);
    }
    expect(() => index.output(1, 12)).toThrow(RangeError);
  });

  it('nearest(event) is the latest snapshot at or before it, whatever order they were added in', () => {
    const file = memoryIndexFile();
    const w = IndexWriter.create(file, identity);
    for (const event of [20, 0, 35, 10]) w.addSnapshot({ event, clock: 0n, memoryBytes: 0, pages: [], stdoutBytes: 0, stderrBytes: 0, state: Uint8Array.of(event) });
    const index = expectOk(file);
    expect(index.snapshots.map((s) => s.event)).toEqual([0, 10, 20, 35]);
    const at = (e: number) => index.nearest(e)?.event;
    expect([at(-1), at(0), at(9), at(10), at(19), at(20), at(34), at(35), at(1e9)]).toEqual([undefined, 0, 0, 10, 10, 20, 20, 35, 35]);
    expect([...index.state(index.nearest(12)!)]).toEqual([10]);
    expect(expectOk(writeEmpty()).nearest(5)).toBeUndefined();
  });
});

function writeEmpty(): IndexFile {
  const file = memoryIndexFile();
  IndexWriter.create(file, identity);
  return file;
}

/** readIndex, then (if it opened) every payload: the first problem found, or 'intact'. */
function verdict(bytes: Uint8Array): string {
  const r = readIndex(memoryIndexFile(bytes), identity);
  if (!r.ok) return r.problem;
  return r.truncated ?? r.index.verify() ?? 'intact';
}

describe('snapshot index: damage and truncation', () => {
  const { bytes, snapshots } = smallIndex();
  const starts = frameStarts(bytes);
  const frameOf = (offset: number) => starts.filter((s) => s <= offset).pop()!;

  it('the small index is whole and framed as documented', () => {
    expect(verdict(bytes)).toBe('intact');
    expect(starts[0]).toBe(16);
    expect(starts.length).toBeGreaterThan(20);
  });

  it('a flipped byte anywhere is found, naming the frame (or header field) it is in', () => {
    for (let offset = 0; offset < bytes.length; offset++) {
      const damaged = Uint8Array.from(bytes);
      damaged[offset]! ^= 0x10;
      const expected = offset < 8 ? 'not a RepliCode index (bad magic)'
        : offset < 10 ? `unsupported index version ${damaged[8]! | (damaged[9]! << 8)}`
          : offset < 16 ? 'damaged at byte 10: reserved header bytes are not zero'
            : `damaged at byte ${frameOf(offset)}: `;
      expect(verdict(damaged).startsWith(expected), `flip at ${offset}: ${verdict(damaged)}`).toBe(true);
    }
  });

  it('any change to a frame byte is damage at that frame (fast-check, any xor)', () => {
    fc.assert(fc.property(fc.integer({ min: 16, max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (offset, xor) => {
      const damaged = Uint8Array.from(bytes);
      damaged[offset]! ^= xor;
      expect(verdict(damaged)).toMatch(new RegExp(`^damaged at byte ${frameOf(offset)}: (checksum mismatch|not a frame)`));
    }), { seed: 20261129, numRuns: 500 });
  });

  it('damage in a page payload surfaces as IndexFormatError from memory() and page() too', () => {
    // The first page frame follows the identity frame; flip its last byte.
    const page = starts[1]!;
    const damaged = Uint8Array.from(bytes);
    damaged[starts[2]! - 1]! ^= 1;
    const opened = readIndex(memoryIndexFile(damaged), identity);
    if (!opened.ok) throw new Error(opened.problem);
    const first = opened.index.snapshots[0]!;
    expect(() => opened.index.memory(first)).toThrow(IndexFormatError);
    const hash = opened.index.pageHashes(first)[0]!;
    try {
      opened.index.page(hash);
      expect.unreachable('a damaged page was read');
    } catch (err) {
      expect(err).toBeInstanceOf(IndexFormatError);
      expect((err as IndexFormatError).offset).toBe(page);
      expect((err as Error).message).toBe(`snapshot index damaged at byte ${page}: checksum mismatch`);
    }
  });

  it('a cut at a frame boundary reads back as the snapshots before it; inside a frame, the same plus the cut named', () => {
    const snapshotEnds = frameStarts(bytes).filter((s) => bytes[s + 2] === 5).map((s) => s + 16 + new DataView(bytes.buffer).getUint32(s + 4, true));
    expect(snapshotEnds).toHaveLength(snapshots.length);
    const identityEnd = starts[1]!;
    for (let cut = 0; cut < bytes.length; cut++) {
      const r = readIndex(memoryIndexFile(bytes.subarray(0, cut)), identity);
      if (cut < identityEnd) {
        expect(r.ok, `cut at ${cut}`).toBe(false);
        if (!r.ok) expect(r.problem).toMatch(cut < 16 ? `truncated at byte ${cut}: cut inside the file header` : /^truncated at byte 16: /);
        continue;
      }
      if (!r.ok) throw new Error(`cut at ${cut}: ${r.problem}`);
      const boundary = starts.includes(cut);
      // A cut at a frame boundary leaves whole frames but no end frame: cut short all the same.
      expect(r.truncated, `cut at ${cut}`).toBe(boundary ? `truncated at byte ${cut}: the index ends without its end frame` : `truncated at byte ${frameOf(cut)}: ${cut - frameOf(cut) < 16 ? 'cut inside a frame header' : `cut inside a frame of ${new DataView(bytes.buffer).getUint32(frameOf(cut) + 4, true)} bytes`}`);
      expect(r.index.snapshots.length).toBe(snapshotEnds.filter((end) => end <= cut).length);
      expect(r.index.validBytes).toBe(boundary ? cut : frameOf(cut));
      expect(r.index.verify()).toBeUndefined();
      for (const s of r.index.snapshots) expect(r.index.memory(s).length).toBe(s.memoryBytes);
    }
  });

  it('a cut index reopened for appending drops the cut tail and what no snapshot names, then grows again', () => {
    for (const cut of [starts[5]! + 3, starts[9]!, bytes.length - 1]) {
      const file = memoryIndexFile(bytes.subarray(0, cut));
      const opened = IndexWriter.open(file, identity);
      if (!opened.ok) throw new Error(opened.problem);
      const kept = opened.writer.snapshotCount;
      const model: Model = { memory: new Array(3), stdout: [], stderr: [] };
      model.stdout.length = opened.writer.outputBytes(1);
      model.stderr.length = opened.writer.outputBytes(2);
      addStep(opened.writer, model, 0, 100, 40);
      const index = expectOk(file);
      expect(index.snapshots.length).toBe(kept + 1);
      expect(index.nearest(1000)!.event).toBe(100);
      expect(index.verify()).toBeUndefined();
    }
  });

  it('a damaged index is refused whole, and openOrCreate rebuilds it saying why', () => {
    const damaged = Uint8Array.from(bytes);
    const at = starts.filter((s) => bytes[s + 2] === 5).at(-1)!;
    damaged[at + 20]! ^= 0xff; // inside the last snapshot record
    const r = readIndex(memoryIndexFile(damaged), identity);
    expect(r).toEqual({ ok: false, kind: 'damaged', problem: `damaged at byte ${at}: checksum mismatch`, offset: at });
    const file = memoryIndexFile(damaged);
    const { writer, rebuilt } = IndexWriter.openOrCreate(file, identity);
    expect(rebuilt).toBe(`damaged at byte ${at}: checksum mismatch`);
    expect(writer.snapshotCount).toBe(0);
    expect(expectOk(file).snapshots).toEqual([]);
  });
});

describe('snapshot index: the end frame', () => {
  it('a finished index reads whole; one closed without finishing, or cut at a frame boundary, reads as cut short', () => {
    const file = memoryIndexFile();
    const w = IndexWriter.create(file, identity);
    const model: Model = { memory: new Array(2), stdout: [], stderr: [] };
    [0, 3].forEach((event, n) => addStep(w, model, n, event, 40));
    const unfinished = file.bytes().slice();
    w.finish();
    const whole = readIndex(memoryIndexFile(file.bytes()), identity);
    if (!whole.ok) throw new Error(whole.problem);
    expect(whole.truncated).toBeUndefined();
    expect(whole.index.snapshots.length).toBe(2);
    const cut = readIndex(memoryIndexFile(unfinished), identity);
    if (!cut.ok) throw new Error(cut.problem);
    expect(cut.truncated).toBe(`truncated at byte ${unfinished.length}: the index ends without its end frame`);
    expect(cut.index.snapshots.length).toBe(2);
  });

  it('an end frame that miscounts the snapshots, or bytes after it, is damage', () => {
    const file = memoryIndexFile();
    const w = IndexWriter.create(file, identity);
    const model: Model = { memory: new Array(2), stdout: [], stderr: [] };
    addStep(w, model, 0, 0, 40);
    w.finish();
    const bytes = file.bytes();
    const after = readIndex(memoryIndexFile(Buffer.concat([bytes, bytes.subarray(16, 48)])), identity);
    expect(after.ok ? 'ok' : after.problem).toMatch(/^damaged at byte \d+: bytes after the end frame$/);
    // The same end frame, rewritten (CRCs and all, as docs/index-format.md lays a frame out) to claim two.
    const endAt = frameStarts(bytes).at(-1)!;
    const frame = Buffer.from(bytes.subarray(endAt));
    frame.writeUInt32LE(2, 16);
    frame.writeUInt32LE(crc32(frame.subarray(16)), 8);
    frame.writeUInt32LE(crc32(frame.subarray(0, 12)), 12);
    const r = readIndex(memoryIndexFile(Buffer.concat([bytes.subarray(0, endAt), frame])), identity);
    expect(r.ok ? 'ok' : r.problem).toBe(`damaged at byte ${endAt}: the end frame counts 2 snapshots, the index holds 1`);
  });
});

describe('snapshot index: identity', () => {
  const { bytes } = smallIndex();
  const problem = (b: Uint8Array, id = identity) => {
    const r = readIndex(memoryIndexFile(b), id);
    return r.ok ? 'ok' : `${r.kind}: ${r.problem}`;
  };

  it('an index for another trace, module key or snapshot format is stale', () => {
    expect(problem(bytes, { ...identity, traceSha256: 'cd'.repeat(32) })).toBe(`stale: stale: written for another trace (sha256 ${'ab'.repeat(8)}, 4096 bytes)`);
    expect(problem(bytes, { ...identity, traceBytes: 4097 })).toMatch(/^stale: stale: written for another trace/);
    expect(problem(bytes, { ...identity, moduleKey: 'module-2' })).toBe('stale: stale: another module key');
    expect(problem(bytes, { ...identity, snapshotFormat: 2 })).toBe('stale: stale: snapshot format 1, this RepliCode writes 2');
    const file = memoryIndexFile(bytes);
    expect(IndexWriter.openOrCreate(file, { ...identity, moduleKey: 'module-2' }).rebuilt).toBe('stale: another module key');
    expect(problem(file.bytes(), { ...identity, moduleKey: 'module-2' })).toBe('ok');
  });

  it('not an index, another version, an empty file', () => {
    expect(problem(new TextEncoder().encode('RCTRACE\0 and so on, a trace'))).toBe('foreign: not a RepliCode index (bad magic)');
    const v2 = Uint8Array.from(bytes);
    v2[8] = 2;
    expect(problem(v2)).toBe('unsupported: unsupported index version 2 (this RepliCode reads version 1)');
    expect(problem(new Uint8Array(0))).toBe('truncated: truncated at byte 0: cut inside the file header');
    expect(IndexWriter.openOrCreate(memoryIndexFile(), identity).rebuilt).toBeUndefined();
  });
});

describe('snapshot index: bounds', () => {
  it('defaults: 2 GiB and 4096 snapshots', () => {
    expect([defaultMaxIndexBytes, defaultMaxSnapshots]).toEqual([2 * 1024 ** 3, 4096]);
  });

  it('the writer refuses a snapshot past maxSnapshots with IndexLimitError, writing nothing', () => {
    const file = memoryIndexFile();
    const w = IndexWriter.create(file, identity, { maxSnapshots: 3 });
    const model: Model = { memory: new Array(2), stdout: [], stderr: [] };
    for (let n = 0; n < 3; n++) addStep(w, model, n, n);
    const size = file.size;
    expect(() => w.addSnapshot({ event: 9, clock: 0n, memoryBytes: 0, pages: [], stdoutBytes: 0, stderrBytes: 0, state: new Uint8Array(0) })).toThrow(IndexLimitError);
    expect(file.size).toBe(size);
    expect(expectOk(file).snapshots.length).toBe(3);
    const reopened = IndexWriter.open(file, identity, { maxSnapshots: 3 });
    if (!reopened.ok) throw new Error(reopened.problem);
    expect(() => reopened.writer.addSnapshot({ event: 9, clock: 0n, memoryBytes: 0, pages: [], stdoutBytes: 0, stderrBytes: 0, state: new Uint8Array(0) })).toThrow(/limit of 3 snapshots/);
  });

  it('the writer never lets the file pass maxIndexBytes: pages, output and snapshots are refused whole', () => {
    const maxIndexBytes = 3 * indexPageBytes;
    const file = memoryIndexFile();
    const w = IndexWriter.create(file, identity, { maxIndexBytes });
    const refused: string[] = [];
    let added = 0;
    for (let n = 0; n < 10; n++) {
      try {
        w.addPage(pageHash(pageOf(n)), pageOf(n));
        w.appendOutput(1, Uint8Array.of(n));
        w.addSnapshot({ event: n, clock: 0n, memoryBytes: indexPageBytes, pages: [pageHash(pageOf(n))], stdoutBytes: n + 1, stderrBytes: 0, state: pageOf(n, 30000) });
        added++;
      } catch (err) {
        if (!(err instanceof IndexLimitError)) throw err;
        refused.push(err.message);
      }
      expect(file.size).toBeLessThanOrEqual(maxIndexBytes);
    }
    expect(added).toBe(2);
    expect(refused[0]).toMatch(/^the snapshot index would pass its size limit of 196608 bytes with a (page|snapshot) of \d+ bytes$/);
    const index = expectOk(file);
    expect(index.snapshots.length).toBe(2);
    expect(index.verify()).toBeUndefined();
  });

  it('a state blob larger than a frame is refused with IndexLimitError', () => {
    const w = IndexWriter.create(memoryIndexFile(), identity);
    expect(() => w.addSnapshot({ event: 0, clock: 0n, memoryBytes: 0, pages: [], stdoutBytes: 0, stderrBytes: 0, state: new Uint8Array(64 * 1024 * 1024 + 1) })).toThrow(IndexLimitError);
  });
});
