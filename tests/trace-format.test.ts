// The .rct format itself: golden bytes (so an accidental change to the encoding fails loudly),
// version checks, a round trip, and a reader that survives any truncation or corruption with a
// TraceFormatError naming the byte offset.
import { readFileSync, writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeRecord, encodeCalls, encodeCallsInto, encodeCheckpoint, maxCallsRecordBytes, encodeChunk, encodeClock, encodeFileHeader, encodeStdin, encodeTrailer, EventCursor, memorySource,
  pack, readChunk, RecordShapeError, unpackAll, replicodeVersion, TraceFormatError, TraceReader, TraceWriter, type TraceHeader,
} from '../dist/formats/index.js';
import { repoRoot, runCli, tempDir } from './helpers.js';
import { openTraceFile } from '../dist/runtime/effects/trace-file.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const header: TraceHeader = {
  replicodeVersion: 'test',
  module: { name: 'm.wasm', sha256: '00'.repeat(32), size: 3, bytes: new Uint8Array([1, 2, 3]) },
  config: { args: ['m.wasm'], env: ['A=1'], seed: 7n, epochNs: 5n, writeBack: false, maxOpenFds: 64, snapshotLimits: { maxEntries: 10, maxBytes: 100 }, pid: 1 },
  preopens: [{ hostPath: '/h', guestPath: '/g', sha256: 'ab', tree: { kind: 'dir', entries: [['f', { kind: 'file', data: new Uint8Array([9]) }]] } }],
  options: { clock: 'real', random: 'os', checkpointEvery: 2, recordOutput: false },
};

function writeSample(events = 10_000): Uint8Array {
  const parts: Uint8Array[] = [];
  const writer = new TraceWriter({ write: (b) => parts.push(b.slice()) }, { chunkBytes: 1024 });
  writer.start(header);
  for (let i = 0; i < events; i++) {
    const e = writer.call(i % 7, i * 31);
    if (i % 100 === 0) writer.append(encodeClock(e, 1, BigInt(i) * 1000n));
    writer.result(i % 3 === 0 ? 8 : 0);
  }
  writer.finish();
  return Buffer.concat(parts);
}

describe('trace format', () => {
  it('encodes exactly these bytes (golden)', () => {
    expect(hex(encodeFileHeader())).toBe('52435452414345000300000000000000');
    expect(hex(encodeCalls(7, new Uint8Array([5, 26]), new Uint8Array([0, 8]), new Uint32Array([0x01020304, 0xdeadbeef]))))
      .toBe('950207c402051ac4020008c40804030201efbeadde');
    expect(hex(encodeClock(9, 1, 123456789012n))).toBe('94040901d30000001cbe991a14');
    expect(hex(encodeStdin(3, 4096, false, 0, new TextEncoder().encode('hi\n')))).toBe('960303cd10000000c40368690a');
    // Version 2: the CRC covers the chunk header's first 12 bytes, then the payload.
    expect(hex(encodeChunk(encodeClock(9, 1, 5n), false))).toBe('434b00000d0000000d000000ab6f126f94040901d30000000000000005');
    // Version 1's chunk (CRC of the payload only) still reads as version 1, and only so.
    const v1Chunk = memorySource(Buffer.from('434b00000d0000000d0000006e48c91194040901d30000000000000005', 'hex'));
    expect(readChunk(v1Chunk, 0, 1)?.values).toEqual([[4, 9, 1, 5n]]);
    expect(() => readChunk(v1Chunk, 0, 2)).toThrow(/checksum mismatch/);
    expect(hex(encodeTrailer(1234))).toBe('524354454e440000d204000000000000');
  });

  it('encodes a calls record into a reused buffer exactly as encodeCalls does (the recorder writes it so)', () => {
    const out = new Uint8Array(maxCallsRecordBytes(300)).fill(0xaa);
    for (const [first, n] of [[7, 2], [0, 0], [200, 300], [70000, 255], [0xffffffff, 256]] as const) {
      const ids = Uint8Array.from({ length: n }, (_, i) => i % 57);
      const results = Uint8Array.from({ length: n }, (_, i) => (i * 7) % 77);
      const fingerprints = Uint32Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 0);
      const length = encodeCallsInto(out, first, ids, results, fingerprints);
      expect(hex(out.subarray(0, length))).toBe(hex(encodeCalls(first, ids, results, fingerprints)));
      expect(length).toBeLessThanOrEqual(maxCallsRecordBytes(n));
    }
    expect(() => encodeCallsInto(new Uint8Array(10), 0, new Uint8Array(4), new Uint8Array(4), new Uint32Array(4))).toThrow(/fits its buffer/);
  });

  it("writes the package's version into traces", () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(replicodeVersion).toBe(pkg.version);
  });

  it('round-trips header, calls, inputs and footer', () => {
    const bytes = writeSample();
    const reader = new TraceReader(memorySource(bytes));
    expect(reader.header).toEqual(header);
    expect(reader.footer?.events).toBe(10_000);
    expect(reader.footer?.complete).toBe(true);
    const cursor = new EventCursor(reader.records());
    for (let i = 0; i < 10_000; i++) {
      const call = cursor.nextCall()!;
      expect([call.index, call.id, call.fingerprint, call.result]).toEqual([i, i % 7, i * 31, i % 3 === 0 ? 8 : 0]);
      const input = cursor.input(i);
      if (i % 100 === 0) expect(input).toMatchObject({ kind: 'clock', event: i, value: BigInt(i) * 1000n });
      else expect(input).toBeUndefined();
    }
    expect(cursor.nextCall()).toBeUndefined();
  });

  it('stays under 8 bytes per event even when every fingerprint differs', () => {
    expect(writeSample(100_000).length / 100_000).toBeLessThan(8);
  });

  it('checkpoints: page hashes are an additive sixth element; a record without them reads as before', () => {
    const h = (n: number) => new Uint8Array(32).fill(n);
    const digest = { memory: h(1), globals: h(2), fds: h(3), fs: h(4), stdout: h(5), stderr: h(6) };
    const pages = new Uint8Array(24).map((_, i) => i);
    const withPages = decodeRecord(unpackAll(encodeCheckpoint(3, 96, h(9), digest, pages))[0]);
    expect(withPages).toEqual({ kind: 'checkpoint', number: 3, event: 96, chain: h(9), digest, pages });
    const before = decodeRecord(unpackAll(encodeCheckpoint(3, 96, h(9), digest))[0]);
    expect(before).toEqual({ kind: 'checkpoint', number: 3, event: 96, chain: h(9), digest });
    expect('pages' in before).toBe(false);
    // Page hashes come whole (8 bytes each): anything else is a bad record, never a crash.
    const parts = [h(1), h(2), h(3), h(4), h(5), h(6)];
    expect(() => decodeRecord(unpackAll(pack([8, 3, 96, h(9), parts, new Uint8Array(7)]))[0])).toThrow(RecordShapeError);
    expect(() => decodeRecord(unpackAll(pack([8, 3, 96, h(9), parts, 'pages']))[0])).toThrow(RecordShapeError);
  });

  it('refuses other versions and other files with a clear error', () => {
    const bytes = writeSample(10);
    const v4 = bytes.slice();
    v4[8] = 4;
    expect(() => new TraceReader(memorySource(v4))).toThrow(/format version 4 is not supported.*at byte 8/);
    // Version 1 (no chunk groups; each CRC over the payload only) is still read.
    const v1 = bytes.slice();
    v1[8] = 1;
    expect(() => new TraceReader(memorySource(v1))).toThrow(/checksum mismatch/);
    for (let at = 16; at < v1.length - 16;) {
      const view = new DataView(v1.buffer, v1.byteOffset + at);
      const stored = view.getUint32(4, true);
      view.setUint32(12, crc32(v1.subarray(at + 16, at + 16 + stored)), true);
      at += 16 + stored;
    }
    const reader = new TraceReader(memorySource(v1));
    expect(reader.integrity.state).toBe('intact');
    expect([...reader.records()].filter((r) => r.record.kind === 'calls').map((r) => (r.record as { ids: Uint8Array }).ids.length)).toEqual([10]);
    expect(() => new TraceReader(memorySource(new TextEncoder().encode('just some text, longer than sixteen')))).toThrow(/not a RepliCode trace/);
    expect(() => new TraceReader(memorySource(new Uint8Array(3)))).toThrow(TraceFormatError);
  });

  it('reads a trace cut at any offset up to its last complete chunk, then names the offset', () => {
    const bytes = writeSample(3000);
    const complete = [...new TraceReader(memorySource(bytes)).records()].length;
    let lastCount = 0;
    for (let cut = 16; cut < bytes.length; cut += 7) {
      const src = memorySource(bytes.subarray(0, cut));
      let reader: TraceReader;
      try {
        reader = new TraceReader(src);
      } catch (err) {
        expect(err).toBeInstanceOf(TraceFormatError);
        continue;
      }
      expect(reader.footer).toBeUndefined();
      let count = 0;
      try {
        for (const _ of reader.records()) count++;
      } catch (err) {
        expect(err).toBeInstanceOf(TraceFormatError);
        expect((err as Error).message).toMatch(/at byte \d+/);
      }
      expect(count).toBeGreaterThanOrEqual(lastCount); // a longer prefix never reads less
      expect(count).toBeLessThanOrEqual(complete);
      lastCount = count;
    }
  });

  it('survives random corruption: only TraceFormatError, never a crash (fuzz)', () => {
    const bytes = writeSample(2000);
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.nat(bytes.length),
      (flips, cut) => {
        const mutated = bytes.slice(0, Math.max(cut, 17));
        for (const [at, value] of flips) if (at < mutated.length) mutated[at] = value;
        try {
          const reader = new TraceReader(memorySource(mutated));
          const cursor = new EventCursor(reader.records());
          for (let i = 0; i < 3000 && cursor.nextCall(); i++) cursor.input(i);
        } catch (err) {
          if (!(err instanceof TraceFormatError)) throw err;
        }
      },
    ), { numRuns: 400, seed: 42 });
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (junk) => {
      const withMagic = new Uint8Array([...encodeFileHeader(), ...junk]);
      for (const candidate of [junk, withMagic]) {
        try {
          const src = memorySource(candidate);
          readChunk(src, 16);
          for (const _ of new TraceReader(src).records()) { /* drain */ }
        } catch (err) {
          if (!(err instanceof TraceFormatError)) throw err;
        }
      }
    }), { numRuns: 500, seed: 7 });
  });

  it('a trace written by `replicode record` is cut at every chunk boundary: replay and inspect give one clear line', () => {
    const dir = tempDir();
    const trace = join(dir, 'line.rct');
    const rec = runCli(['record', '--checkpoint-every', '2', '-o', trace, 'wasm_programs/build/line_count.wasm'], 'a b\nc d e\n'.repeat(200));
    expect(rec.exitCode).toBe(0);
    const bytes = readFileSync(trace);
    const reader = new TraceReader(memorySource(bytes));
    const boundaries: number[] = [];
    for (let at = reader.bodyOffset, chunk = readChunk(reader.source, at); chunk; at = chunk.end, chunk = readChunk(reader.source, at)) boundaries.push(chunk.end);
    expect(boundaries.length).toBeGreaterThan(3);
    // The last two boundaries: after the exit record (all there but the footer), after the footer.
    const cuts = [...boundaries.slice(0, -2), 20, 100, reader.bodyOffset + 5, boundaries.at(-2)! + 9];
    for (const cut of cuts) {
      const cutPath = join(dir, `cut-${cut}.rct`);
      writeFileSync(cutPath, bytes.subarray(0, cut));
      for (const args of [['replay', '-q', cutPath], ['inspect', cutPath]]) {
        const r = runCli(args);
        expect(r.stderr).not.toMatch(/\n\s+at /);
        expect(r.stderr).not.toMatch(/internal error/);
        if (args[0] === 'replay' && cut < boundaries.at(-2)!) {
          expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(1);
          expect(r.stderr).toMatch(/replicode: .*(incomplete|corrupt).*byte \d+/);
        }
        if (args[0] === 'replay' && cut > boundaries.at(-2)!) {
          // Everything up to the exit was recorded: the replay checks it all, but the trace is not whole.
          expect(r.exitCode, r.stderr).toBe(1);
          expect(r.stderr).toMatch(/incomplete.*matched all \d+ events it holds, its exit included \(at byte \d+\)/);
        }
      }
    }
  });
});

describe('a trace file read through its read-ahead window', () => {
  it('gives the bytes a plain read gives, for any offset and length (past the end, across windows, larger than one), each a copy of its own', () => {
    const bytes = Buffer.alloc(700_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    const path = join(tempDir(), 'window.bin');
    writeFileSync(path, bytes);
    const source = openTraceFile(path);
    try {
      fc.assert(fc.property(fc.integer({ min: 0, max: 720_000 }), fc.integer({ min: 0, max: 600_000 }), (offset, length) => {
        const got = source.read(offset, length);
        expect(Buffer.from(got).equals(bytes.subarray(offset, offset + length))).toBe(true);
        if (got.length > 0) {
          got[0]! ^= 0xff; // a caller may change what it was given: the next read is unchanged
          expect(source.read(offset, 1)[0]).toBe(bytes[offset]);
        }
      }), { numRuns: 300 });
    } finally {
      source.close();
    }
  });
});
