// The recording's per-call path and its checkpoint hashing, through the worker's log and the
// digest helpers: what they compute must equal the plain definitions they stand in for.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { chainHash, OutputHasher, PageChanges, PageDigests, PageHasher } from '../dist/runtime/trace/digest.js';
import { CheckpointFinisher, OutputDigests } from '../dist/runtime/trace/checkpoint-parts.js';
import { columnRegions, SharedTraceLog, TraceRingReader, traceRingBuffer } from '../dist/runtime/worker/trace-channel.js';
import { OutputRingReader, OutputRingWriter, outputRingBuffer, type OutputChunk } from '../dist/runtime/worker/output-ring.js';
import { RecordingSession } from '../dist/runtime/trace/recording.js';
import { FileTraceSink } from '../dist/runtime/effects/trace-file.js';
import { FdTable } from '../dist/runtime/fdtable.js';
import { Handle } from '../dist/runtime/handle.js';
import { tempDir } from './helpers.js';
import { callsPerBatch, decodeRecord, encodeCheckpoint, encodeClock, unpackAll, type RawChunk } from '../dist/formats/index.js';

const sha = (data: Uint8Array): Buffer => createHash('sha256').update(data).digest();
const page = 65536;

/** The page hashes' definition: each page's SHA-256 (its first 8 bytes kept), the memory's over all of them. */
function reference(memory: WebAssembly.Memory): { memory: string; pages: string } {
  const bytes = new Uint8Array(memory.buffer);
  const digests = [];
  for (let at = 0; at < bytes.length; at += page) digests.push(sha(bytes.subarray(at, at + page)));
  return { memory: Buffer.from(sha(Buffer.concat(digests))).toString('hex'), pages: Buffer.concat(digests.map((d) => d.subarray(0, 8))).toString('hex') };
}
const hex = (d: { memory: Uint8Array; pages: Uint8Array }) => ({ memory: Buffer.from(d.memory).toString('hex'), pages: Buffer.from(d.pages).toString('hex') });

describe('checkpoint hashing', () => {
  it('PageHasher gives the page hashes of their definition as memory changes and grows, reusing only unchanged pages', () => {
    const memory = new WebAssembly.Memory({ initial: 3, maximum: 8 });
    const hasher = new PageHasher();
    const bytes = () => new Uint8Array(memory.buffer);
    expect(hex(hasher.digest(memory))).toEqual(reference(memory));
    bytes()[page + 5] = 7; // page 1 only
    expect(hex(hasher.digest(memory))).toEqual(reference(memory));
    bytes()[page + 5] = 0; // back as it was: the same hashes as at first
    const first = hex(hasher.digest(memory));
    expect(first).toEqual(reference(memory));
    memory.grow(2);
    bytes()[4 * page + page - 1] = 1; // the last byte of a new page
    bytes()[0] = 9;
    expect(hex(hasher.digest(memory))).toEqual(reference(memory));
    expect(hex(hasher.digest(memory))).toEqual(reference(memory));
  });

  it('PageHasher keeps no copy of a memory over its bound, and still hashes it right', () => {
    const memory = new WebAssembly.Memory({ initial: 4 });
    const hasher = new PageHasher(2 * page);
    new Uint8Array(memory.buffer)[3 * page] = 1;
    expect(hex(hasher.digest(memory))).toEqual(reference(memory));
    expect((hasher as unknown as { changes: { copy: Uint8Array } }).changes.copy.length).toBe(0);
    new Uint8Array(memory.buffer)[3 * page] = 2;
    expect(hex(hasher.digest(memory))).toEqual(reference(memory));
    const small = new PageHasher(4 * page);
    small.digest(memory);
    expect((small as unknown as { changes: { copy: Uint8Array } }).changes.copy.length).toBe(4 * page);
  });

  it('OutputHasher hashes every byte in order, short and long writes alike, and digests on and on', () => {
    const hasher = new OutputHasher();
    const all: Uint8Array[] = [];
    const add = (data: Uint8Array) => { hasher.add(data); all.push(data); };
    for (let i = 0; i < 5000; i++) add(Uint8Array.of(i & 0xff));
    expect(Buffer.from(hasher.digest()).equals(sha(Buffer.concat(all)))).toBe(true);
    add(new Uint8Array(17).fill(3));
    add(new Uint8Array(70000).fill(4)); // past the staging buffer
    for (let i = 0; i < 70000; i++) add(Uint8Array.of(i % 251, i % 13)); // fills and drains it
    const digest = hasher.digest();
    expect(Buffer.from(digest).equals(sha(Buffer.concat(all)))).toBe(true);
    digest[0] ^= 1; // a caller's copy: the next digest is whole
    expect(Buffer.from(hasher.digest()).equals(sha(Buffer.concat(all)))).toBe(true);
    expect(hasher.bytes).toBe(Buffer.concat(all).length);
  });
});

/** For logs that take no checkpoint. */
const noDrafts = { finish(): never { throw new Error('no checkpoint expected'); } };

describe('checkpoints finished on the main thread', () => {
  it('PageChanges past its budget hands pages over hashed; PageDigests gives the hashes of their definition either way', () => {
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 6 });
    const bytes = () => new Uint8Array(memory.buffer);
    const changes = new PageChanges();
    const digests = new PageDigests();
    const first = changes.diff(memory, page); // one page as bytes, three hashed here
    expect(first.changed.map((c) => (c.bytes ? 'bytes' : 'digest'))).toEqual(['bytes', 'digest', 'digest', 'digest']);
    expect(hex(digests.apply(first))).toEqual(reference(memory));
    bytes()[2 * page + 9] = 1;
    memory.grow(1);
    bytes()[4 * page] = 3;
    const next = changes.diff(memory);
    expect(next.changed.map((c) => c.page)).toEqual([2, 4]); // only what changed, and the new page
    expect(hex(digests.apply(next))).toEqual(reference(memory));
    expect(changes.diff(memory).changed).toEqual([]);
    expect(hex(digests.apply({ byteLength: memory.buffer.byteLength, changed: [] }))).toEqual(reference(memory));
  });

  it('with a mirror, a changed page comes as the 4 KiB blocks that changed, and the hashes stay those of their definition', () => {
    const memory = new WebAssembly.Memory({ initial: 3, maximum: 5 });
    const bytes = () => new Uint8Array(memory.buffer);
    const changes = new PageChanges(undefined, true);
    const digests = new PageDigests(undefined, true);
    const step = (budget = Infinity) => {
      const diff = changes.diff(memory, budget);
      expect(hex(digests.apply(diff))).toEqual(reference(memory));
      return diff.changed.map((c) => (c.patches ? `${c.page}:${c.patches.map((p) => `${p.offset}+${p.bytes.length}`).join(',')}` : `${c.page}:${c.bytes ? 'whole' : 'hashed'}`));
    };
    expect(step(2 * page)).toEqual(['0:whole', '1:whole', '2:hashed']);
    bytes()[5] = 1; // block 0 of page 0
    bytes().fill(2, page + 4095, page + 4097); // blocks 0 and 1 of page 1: one run
    bytes()[page + 15 * 4096] = 3; // and its last block
    bytes()[2 * page] = 4; // page 2 was hashed, not handed over: it comes whole now
    expect(step()).toEqual(['0:0+4096', '1:0+8192,61440+4096', '2:whole']);
    bytes()[2 * page + 1] = 5;
    memory.grow(1);
    bytes()[3 * page + 7] = 6;
    expect(step()).toEqual(['2:0+4096', '3:whole']);
    bytes()[7] = 7;
    expect(step(0)).toEqual(['0:hashed']); // past the budget: hashed, and no longer mirrored
    bytes()[8] = 8;
    expect(step()).toEqual(['0:whole']);
    expect(step()).toEqual([]);
  });

  it('with a mirror, the changed blocks found are those a block-by-block comparison finds (random changes, 300 rounds)', () => {
    const memory = new WebAssembly.Memory({ initial: 3 });
    const bytes = new Uint8Array(memory.buffer);
    const changes = new PageChanges(undefined, true);
    const digests = new PageDigests(undefined, true);
    digests.apply(changes.diff(memory));
    const before = new Uint8Array(bytes);
    let seed = 7;
    const next = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
    for (let round = 0; round < 300; round++) {
      for (let k = next(6); k > 0; k--) bytes[next(bytes.length)] ^= 1 + next(255);
      // The definition: runs of consecutive 4 KiB blocks that differ, per page.
      const expected: string[] = [];
      for (let n = 0; n < 3; n++) {
        const runs: string[] = [];
        let run = -1;
        for (let block = 0; block <= 16; block++) {
          const at = n * page + block * 4096;
          const differs = block < 16 && Buffer.compare(bytes.subarray(at, at + 4096), before.subarray(at, at + 4096)) !== 0;
          if (differs && run < 0) run = block;
          if (!differs && run >= 0) { runs.push(`${run * 4096}+${(block - run) * 4096}`); run = -1; }
        }
        if (runs.length) expected.push(`${n}:${runs.join(',')}`);
      }
      const diff = changes.diff(memory);
      expect(diff.changed.map((c) => `${c.page}:${c.patches!.map((p) => `${p.offset}+${p.bytes.length}`).join(',')}`)).toEqual(expected);
      expect(hex(digests.apply(diff))).toEqual(reference(memory));
      before.set(bytes);
    }
  });

  it("the fd table's digest text is its definition's, line by line, as fds open, change and close", () => {
    class Probe extends Handle {
      readonly filetype = 4;
      readonly applicableRights = 0xffn;
      key = '';
      override digestKey(): string { return this.key; }
    }
    const table = new FdTable();
    // The definition: a line per open fd, in fd order, joined by newlines.
    const definition = () => table.entries().map(([fd, h]) => `${fd} ${h.filetype} ${h.fdflags} ${h.rightsBase} ${h.rightsInheriting} ${h.digestKey()}`).join('\n');
    const check = () => expect(table.digestText()).toBe(definition());
    check();
    const [a, b, c] = [new Probe(0xffn, 0xffn), new Probe(1n, 0n), new Probe(2n ** 63n, 3n)];
    table.allocate(a);
    check();
    table.allocate(b);
    table.allocate(c);
    check();
    a.fdflags = 1;
    check();
    b.rightsBase = 0n;
    c.rightsInheriting = 2n ** 64n - 1n;
    check();
    a.key = 'file ino=3 pos=7';
    check();
    table.remove(1);
    check();
    table.allocate(new Probe(5n, 5n)); // the same fd, another handle
    check();
    table.renumber(2, 0);
    check();
    table.remove(1);
    check();
    table.remove(0);
    check();
    expect(table.digestText()).toBe('');
  });

  it("the output ring's marks split its runs, and the tap sees each run, then the mark, in the order written", () => {
    const shared = outputRingBuffer();
    const seen: string[] = [];
    const reader = new OutputRingReader(shared, { add: (stream, b) => seen.push(`${stream}:${Buffer.from(b).toString()}`), mark: (n) => seen.push(`mark ${n}`) });
    const writer = new OutputRingWriter(shared);
    const write = (stream: 1 | 2, text: string) => writer.write(stream, Buffer.from(text), 0, text.length);
    write(1, 'ab');
    write(1, 'c');
    writer.mark(0);
    write(1, 'd');
    write(2, 'e');
    reader.hashAhead(); // a checkpoint's draft needs its mark: the tap sees the frames, left in the ring
    expect(seen).toEqual(['1:abc', 'mark 0', '1:d', '2:e']);
    // Nothing taken: the writer has no more room than before (a slow reader still makes the guest wait).
    expect(new Int32Array(shared, 0, 2)[1]).toBe(0);
    writer.mark(1);
    writer.mark(2);
    write(2, 'x'.repeat(40));
    const chunks: OutputChunk[] = reader.take();
    expect(chunks.map((c) => `${c.stream}:${Buffer.from(c.bytes).toString()}`)).toEqual(['1:abc', '1:d', '2:e', `2:${'x'.repeat(40)}`]);
    expect(seen).toEqual(['1:abc', 'mark 0', '1:d', '2:e', 'mark 1', 'mark 2', `2:${'x'.repeat(40)}`]);
    expect(reader.take()).toEqual([]);
    reader.hashAhead();
    expect(seen.length).toBe(7);
  });

  it('a checkpoint drafted in the guest thread and finished in the main one is the record one thread would write', () => {
    const trace = traceRingBuffer();
    const output = outputRingBuffer();
    const digests = new OutputDigests();
    const outputReader = new OutputRingReader(output, digests);
    const chunks: RawChunk[] = [];
    const reader = new TraceRingReader(trace, (c) => chunks.push({ ...c, payload: c.payload.slice() }), new CheckpointFinisher(digests, () => outputReader.hashAhead()));
    const outputWriter = new OutputRingWriter(output);
    const log = new SharedTraceLog(trace, { postMessage() {} } as never, 1e12, { rollingHash: false, output: outputWriter });
    log.schedule(1 << 30, { checkpoint: () => {}, full: (err) => { throw err; } });
    const memory = new WebAssembly.Memory({ initial: 8 });
    const changes = new PageChanges(undefined, true); // as a recording's: the main thread mirrors
    const small = { globals: sha(Buffer.from('g')), fds: sha(Buffer.from('f')), fs: sha(Buffer.from('s')) };
    // What one thread would write: every hash taken in place.
    const hasher = new PageHasher();
    const streams = { 1: new OutputHasher(), 2: new OutputHasher() };
    let chain = new Uint8Array(32);
    const expected: Buffer[] = [];
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < 100 * (k + 1); i++) {
        const text = Buffer.from(`line ${k} ${i}\n`);
        const stream = i % 7 === 0 ? 2 : 1;
        outputWriter.write(stream, text, 0, text.length);
        streams[stream].add(text);
        log.exit(log.enter(1, i), 0);
      }
      new Uint8Array(memory.buffer).fill(k + 1, k * page, k * page + 10); // page 0 comes whole, then as patches
      new Uint8Array(memory.buffer).fill(k + 7, 5 * page + 5000, 5 * page + 9000); // hashed at first (past the budget), then whole
      const event = log.eventCount;
      const { memory: memoryHash, pages } = hasher.digest(memory);
      const digest = { memory: memoryHash, ...small, stdout: streams[1].digest(), stderr: streams[2].digest() };
      chain = chainHash(chain, k, event, digest);
      expected.push(Buffer.from(encodeCheckpoint(k, event, chain, digest, pages)));
      // A budget of 3 pages: the first draft hands over 5 pages hashed (the default is draftPageBudget).
      log.checkpoint(k, event, { ...small, memory: changes.diff(memory, 3 * page) });
      if (k === 1) outputReader.take(); // the output taken before its draft (the usual order), or after
    }
    reader.take();
    reader.flush();
    const got = chunks.flatMap((c) => unpackAll(c.payload).map(decodeRecord)).filter((r) => r.kind === 'checkpoint');
    expect(got.length).toBe(3);
    got.forEach((r, k) => expect(decodeRecord(unpackAll(expected[k]!)[0])).toEqual(r));
  });
});

describe("the recording's event log", () => {
  function log() {
    const shared = traceRingBuffer();
    const chunks: RawChunk[] = [];
    const reader = new TraceRingReader(shared, (c) => chunks.push({ ...c, payload: c.payload.slice() }), noDrafts);
    const writer = new SharedTraceLog(shared, { postMessage() {} } as never, 1e12);
    const records = () => {
      reader.take();
      reader.flush();
      return chunks.flatMap((c) => unpackAll(c.payload).map(decodeRecord));
    };
    return { writer, reader, records };
  }

  it("folds HashingSession's rolling hash from the columns, a call in progress without its errno, across batches", () => {
    const { writer } = log();
    writer.schedule(1 << 30, { checkpoint: () => {}, full: (err) => { throw err; } });
    let h = 0x811c9dc5;
    const n = callsPerBatch * 2 + 100;
    for (let i = 0; i < n; i++) {
      const [id, fp, errno] = [i % 40, (i * 2654435761) >>> 0, i % 9];
      h = Math.imul(Math.imul(h ^ id, 0x01000193) ^ fp, 0x01000193);
      const slot = writer.enter(id, fp);
      if (i % 1000 === 7) expect(writer.rollingHash() >>> 0).toBe(h >>> 0);
      writer.exit(slot, errno);
      h = Math.imul(h ^ errno, 0x01000193);
      if (i % 1500 === 3) expect(writer.rollingHash() >>> 0).toBe(h >>> 0);
    }
    expect(writer.rollingHash() >>> 0).toBe(h >>> 0);
    expect(writer.eventCount).toBe(n);
  });

  it('keeps no rolling hash unless asked (only a cluster replica reads it), and writes the same records either way', () => {
    const written = (rollingHash: boolean) => {
      const shared = traceRingBuffer();
      const chunks: RawChunk[] = [];
      const reader = new TraceRingReader(shared, (c) => chunks.push({ ...c, payload: c.payload.slice() }), noDrafts);
      const writer = new SharedTraceLog(shared, { postMessage() {} } as never, 1e12, { rollingHash });
      writer.schedule(1 << 30, { checkpoint: () => {}, full: (err) => { throw err; } });
      for (let i = 0; i < callsPerBatch + 10; i++) writer.exit(writer.enter(i % 40, (i * 2654435761) >>> 0), i % 9);
      const hash = writer.rollingHash();
      writer.finish({ complete: true });
      reader.take();
      reader.flush();
      return { hash, bytes: Buffer.concat(chunks.map((c) => c.payload)) };
    };
    const kept = written(true);
    const none = written(false);
    expect(typeof kept.hash).toBe('number');
    expect(none.hash).toBeUndefined();
    expect(none.bytes.equals(kept.bytes)).toBe(true);
    // Without guest threads the calls records carry no thread column.
    const calls = unpackAll(none.bytes).map(decodeRecord).filter((r) => r.kind === 'calls');
    expect(calls.length).toBe(2);
    expect(calls.every((r) => r.kind === 'calls' && r.threads === undefined)).toBe(true);
  });

  it('a network wait reports the rolling hash to the machine only when the log keeps one (a cluster replica)', () => {
    for (const rollingHash of [true, false]) {
      const writer = new SharedTraceLog(traceRingBuffer(), { postMessage() {} } as never, 1e12, { rollingHash });
      const session = new RecordingSession(writer, { checkpointEvery: 1 << 20, recordOutput: false });
      const reported: (number | undefined)[] = [];
      const effects = session.wrapEffects({
        netAwait: (_deadline: bigint | null, stateHash?: number) => {
          reported.push(stateHash);
          return { timeNs: 0n, events: [], stopping: true };
        },
      } as never);
      writer.exit(writer.enter(5, 9), 0);
      const slot = writer.enter(3, 7);
      effects.netAwait(null);
      writer.exit(slot, 0);
      expect(reported).toEqual([rollingHash ? (Math.imul(Math.imul(Math.imul(Math.imul(Math.imul(0x811c9dc5 ^ 5, 0x01000193) ^ 9, 0x01000193) ^ 0, 0x01000193) ^ 3, 0x01000193) ^ 7, 0x01000193) >>> 0) : undefined]);
    }
  });

  it('a trace that fills as its end is written ends the run stopped at its limit, not in our bug', () => {
    // The main thread, behind the guest, may find the limit just as the guest has ended: the
    // session's finish then stopped with a GuestStop nothing caught (exit 70 in 1 run of ~10).
    const shared = traceRingBuffer();
    const writer = new SharedTraceLog(shared, { postMessage() {} } as never, 8000);
    const session = new RecordingSession(writer, { checkpointEvery: 1 << 20, recordOutput: false });
    const small = { globals: new Uint8Array(32), fds: new Uint8Array(32), fs: new Uint8Array(32) };
    session.attach({ hashedMemory: undefined, smallDigests: () => small, outputBytes: () => 0 } as never);
    writer.exit(writer.enter(5, 9), 0);
    new TraceRingReader(shared as unknown as SharedArrayBuffer, () => {}, { finish: () => new Uint8Array(0) } as never).markLimitReached();
    expect(session.finish({ kind: 'exit', exitCode: 0, trapMessage: null })).toMatchObject({ kind: 'stopped', reason: 'trace reached its size limit of 8000 bytes' });
    expect(session.stats.complete).toBe(false);
  });

  it('writes the thread column once guest threads are attached', () => {
    const { writer, records } = log();
    writer.schedule(1 << 30, { checkpoint: () => {}, full: (err) => { throw err; } });
    writer.exit(writer.enter(1, 1), 0);
    let current = 0;
    writer.attachThreads(() => current);
    for (const t of [0, 3, 2]) {
      current = t;
      writer.exit(writer.enter(1, 1), 0);
    }
    writer.finish({ complete: true });
    const calls = records().filter((r) => r.kind === 'calls');
    expect(calls.map((r) => (r.kind === 'calls' ? [...(r.threads ?? [])] : []))).toEqual([[0, 0, 3, 2]]);
  });

  it('asks for a checkpoint after each multiple of checkpointEvery, and publishes a call\'s records when it completes', () => {
    const { writer, records } = log();
    const due: number[] = [];
    writer.schedule(5, { checkpoint: (events) => due.push(events), full: (err) => { throw err; } });
    for (let i = 0; i < 12; i++) {
      const slot = writer.enter(1, i);
      if (i === 3) writer.append(encodeClock(3, 1, 5n)); // an input record of event 3
      writer.exit(slot, 0);
      if (i === 3) expect(records().length).toBe(1); // published with its call, before any batch
    }
    expect(due).toEqual([5, 10]);
    writer.finish({ complete: true });
    const calls = records().filter((r) => r.kind === 'calls');
    expect(calls.reduce((sum, r) => sum + (r.kind === 'calls' ? r.ids.length : 0), 0)).toBe(12);
  });
  it('holds at most columnRegions batches for the reader: a worker past them waits until the reader takes, and every call arrives in order', async () => {
    const shared = traceRingBuffer();
    const progress = new Int32Array(new SharedArrayBuffer(4));
    const batches = columnRegions * 2 + 3;
    // The writer in a thread of its own, as in a recording: a call's id, fingerprint and errno follow from its number.
    const worker = new Worker(`
      const { workerData } = require('node:worker_threads');
      import(workerData.module).then(({ SharedTraceLog }) => {
        const log = new SharedTraceLog(workerData.shared, { postMessage() {} }, 1e12, { rollingHash: false });
        log.schedule(1 << 30, { checkpoint() {}, full(err) { throw err; } });
        for (let i = 0; i < workerData.calls; i++) {
          const slot = log.enter(i % 40, Math.imul(i, 0x9e3779b1) >>> 0);
          Atomics.store(workerData.progress, 0, i + 1); // calls entered: the exit that fills a batch may wait
          log.exit(slot, i % 9);
        }
        log.finish({ complete: true });
        Atomics.store(workerData.progress, 0, -1);
      });
    `, { eval: true, workerData: { shared, progress, calls: batches * callsPerBatch, module: new URL('../dist/runtime/worker/trace-channel.js', import.meta.url).href } });
    try {
      const settled = async () => {
        for (let last = -2; ;) {
          await new Promise((r) => setTimeout(r, 300));
          const now = Atomics.load(progress, 0);
          if (now === last) return now;
          last = now;
        }
      };
      // Nobody takes: the worker stops once every region holds a batch the reader has not had.
      expect(await settled()).toBe(columnRegions * callsPerBatch);
      const chunks: RawChunk[] = [];
      const reader = new TraceRingReader(shared, (c) => chunks.push({ ...c, payload: c.payload.slice() }), noDrafts);
      while (Atomics.load(progress, 0) !== -1) {
        reader.take();
        await new Promise((r) => setTimeout(r, 5));
      }
      reader.take();
      reader.flush();
      const calls = chunks.flatMap((c) => unpackAll(c.payload).map(decodeRecord)).filter((r) => r.kind === 'calls');
      expect(calls.length).toBe(batches);
      let i = 0;
      for (const r of calls) {
        if (r.kind !== 'calls') continue;
        expect(r.first).toBe(i);
        for (let k = 0; k < r.ids.length; k++, i++) {
          if (r.ids[k] !== i % 40 || r.fingerprints[k] !== Math.imul(i, 0x9e3779b1) >>> 0 || r.results[k] !== i % 9) expect.fail(`call ${i} is not what was written`);
        }
      }
      expect(i).toBe(batches * callsPerBatch);
    } finally {
      await worker.terminate();
    }
  }, 30_000);
});

describe('the trace file', () => {
  it('holds what is written until flushed, or until it holds gatherBytes, then writes it all, in order', () => {
    const path = join(tempDir(), 'held.rct');
    const sink = new FileTraceSink(path, 100);
    const size = () => statSync(path).size;
    sink.write(new Uint8Array(40).fill(1));
    sink.write(new Uint8Array(40).fill(2));
    expect(size()).toBe(0); // 80 bytes held
    sink.write(new Uint8Array(40).fill(3));
    expect(size()).toBe(120); // past 100: all of it
    sink.write(new Uint8Array(10).fill(4));
    sink.flush();
    expect(size()).toBe(130);
    sink.write(new Uint8Array(5).fill(5));
    sink.close(); // closing writes what is held
    expect([...readFileSync(path)]).toEqual([1, 2, 3, 4, 5].flatMap((b, i) => new Array([40, 40, 40, 10, 5][i]).fill(b)));
  });
});
