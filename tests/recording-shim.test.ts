// The recording shim (runtime/worker/recording-shim.ts): a generated wasm module that does a
// one-thread recording's per-call path. What it writes must be what the JavaScript path writes:
// the fingerprint of formats/ for every parameter kind, the same records through the same log.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, stepsProgram, tempDir } from './helpers.js';
import { precompiledShim, recordingShim, shimCalls } from '../dist/runtime/worker/recording-shim.js';
import { adoptShim, wasiImportNames } from '../dist/runtime/wasm-shim.js';
import { precompiledReplayShim } from '../dist/runtime/trace/replay-shim.js';
import { leb, section } from '../dist/runtime/wasm-binary.js';
import { SharedTraceLog, shimLayout, TraceRingReader, traceRingBuffer, traceRingMemory } from '../dist/runtime/worker/trace-channel.js';
import { CheckpointFinisher, OutputDigests } from '../dist/runtime/trace/checkpoint-parts.js';
import { PageChanges } from '../dist/runtime/trace/digest.js';
import { OutputRingReader, OutputRingWriter, outputRingBuffer } from '../dist/runtime/worker/output-ring.js';
import { callsPerBatch, decodeRecord, encodeClock, fingerprint, syscallId, syscallTable, unpackAll, type RawChunk } from '../dist/formats/index.js';

type V = number | bigint;
const sha = (text: string) => createHash('sha256').update(text).digest();

/** A seeded PRNG (xorshift32), so a failure names its values again. */
function prng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

const i32Edges = [0, 1, -1, 0x7fffffff, -0x80000000, 0x12345678, -42];
const i64Edges = [
  0n, 1n, -1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, -(2n ** 32n), -(2n ** 32n) - 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 53n + 3n,
  -(2n ** 53n) - 1n, -(2n ** 53n) - 3n, 2n ** 62n + 12345n, 2n ** 63n - 1n, 2n ** 63n - 512n, 2n ** 63n - 513n, 2n ** 63n - 1025n,
  -(2n ** 63n), -(2n ** 63n) + 1n, -(2n ** 63n) + 1025n, 0x0123456789abcdefn, -0x0123456789abcdefn,
];

function argumentsFor(params: string, next: () => number, k: number): V[] {
  return [...params].map((kind) => {
    if (kind === 'I') {
      if (k % 3 === 0) return i64Edges[(next() % i64Edges.length)]!;
      return BigInt.asIntN(64, (BigInt(next()) << 32n) | BigInt(next()));
    }
    if (kind === 'i' && k % 3 === 0) return i32Edges[next() % i32Edges.length]!;
    return next() | 0; // an i32 or a pointer
  });
}

const noDrafts = { finish(): never { throw new Error('no checkpoint expected'); } };

/** A log over a ring in a WebAssembly.Memory, its reader, and the records it has written so far. */
function ring(memory: boolean) {
  const shared = memory ? traceRingMemory() : traceRingBuffer();
  const buffer = shared instanceof WebAssembly.Memory ? shared.buffer as unknown as SharedArrayBuffer : shared;
  const chunks: RawChunk[] = [];
  const reader = new TraceRingReader(buffer, (c) => chunks.push({ ...c, payload: c.payload.slice() }), noDrafts);
  const writer = new SharedTraceLog(shared, { postMessage() {} } as never, 1e12, { rollingHash: true });
  const bytes = () => {
    reader.take();
    reader.flush();
    return Buffer.concat(chunks.map((c) => c.payload));
  };
  return { writer, reader, bytes };
}

/** Every syscall the shim takes (those without a shorter form), with a fake kernel answering errno `n % 77` for call n. */
const shimmed = syscallTable.map(([name]) => name).filter((name) => shimCalls([name]) !== undefined);

/** A module that imports these wasi functions (each as () -> (): only their names are read) and does nothing else. */
function importing(names: string[]): WebAssembly.Module {
  const text = (t: string) => [...leb(t.length), ...Buffer.from(t)];
  const imports = names.map((n) => [...text('wasi_snapshot_preview1'), ...text(n), 0x00, 0x00]);
  return new WebAssembly.Module(Buffer.concat([
    Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00),
    section(1, [1, 0x60, 0, 0]),
    section(2, [...leb(imports.length), ...imports.flat()]),
  ]));
}

describe('the recording shim', () => {
  it('takes every syscall but the shorter WasmEdge forms, and refuses names not in the table', () => {
    expect(shimmed.length).toBe(syscallTable.length - 4);
    expect(shimCalls(['fd_write', 'sock_accept'])).toBeUndefined();
    expect(shimCalls(['fd_write', 'no_such_call'])).toBeUndefined();
  });

  it("folds each call's fingerprint as formats/ does, for random arguments of every kind (i64 past 2^53, negative, at 2^63), and passes the arguments on unchanged", () => {
    const { writer, bytes } = ring(true);
    writer.schedule(1 << 30, { checkpoint: () => {}, full: (err) => { throw err; } });
    const host = writer.wasmShim()!;
    const calls = shimCalls(shimmed)!;
    const received: V[][] = [];
    let n = 0;
    const kernel = Object.fromEntries(shimmed.map((name) => [name, (...args: V[]) => { received.push(args); return n++ % 77; }]));
    const shim = recordingShim(calls, kernel as never, host);
    host.engage();
    const next = prng(18);
    const expected: { id: number; fingerprint: number; errno: number }[] = [];
    const total = callsPerBatch + 500; // across a batch written out by the exit that fills it
    for (let k = 0; k < total; k++) {
      const name = shimmed[next() % shimmed.length]!;
      const id = syscallId(name);
      const params = syscallTable[id]![1];
      const args = argumentsFor(params, next, k);
      const got = (shim[name] as (...a: V[]) => number | undefined)(...args);
      const errno = name === 'proc_exit' ? 0 : (n - 1) % 77;
      if (name !== 'proc_exit') expect(got).toBe(errno);
      // The kernel sees what the guest passed (an i64 as the same signed BigInt), but for the
      // parameters it never reads (clock_time_get's precision: no BigInt made for it).
      const passed = calls.find((c) => c.name === name)!.passed;
      expect(received.at(-1)).toEqual(passed.map((i) => args[i]));
      if (name === 'clock_time_get') expect(passed).toEqual([0, 2]);
      expected.push({ id, fingerprint: fingerprint(id, params, args), errno });
    }
    expect(writer.eventCount).toBe(total);
    writer.finish({ complete: true });
    const calls2 = unpackAll(bytes()).map(decodeRecord).filter((r) => r.kind === 'calls');
    const got = calls2.flatMap((r) => (r.kind === 'calls' ? [...r.ids].map((id, i) => ({ id, fingerprint: r.fingerprints[i]!, errno: r.results[i]! })) : []));
    expect(got.length).toBe(total);
    for (let k = 0; k < total; k++) expect(got[k], `call ${k}`).toEqual(expected[k]);
  });

  it('i64 edge values fold as formats/ folds them, each on its own', () => {
    const { writer } = ring(true);
    writer.schedule(1 << 30, { checkpoint: () => {}, full: (err) => { throw err; } });
    const host = writer.wasmShim()!;
    const shim = recordingShim(shimCalls(['fd_seek'])!, { fd_seek: () => 0 } as never, host);
    host.engage();
    const fingerprints = new Uint32Array(host.memory.buffer, shimLayout.fingerprints, callsPerBatch);
    const id = syscallId('fd_seek');
    i64Edges.forEach((v, k) => {
      (shim.fd_seek as (...a: V[]) => number)(3, v, 1, 0);
      expect(fingerprints[k], String(v)).toBe(fingerprint(id, 'iIip', [3, v, 1, 0]));
    });
  });

  it('writes through the log the same trace bytes as the JavaScript path: checkpoints every 7, inputs during calls, a persisted batch, a rolling hash mid-call', () => {
    const run = (viaShim: boolean) => {
      const shared = viaShim ? traceRingMemory() : traceRingBuffer();
      const buffer = shared instanceof WebAssembly.Memory ? shared.buffer as unknown as SharedArrayBuffer : shared;
      const chunks: RawChunk[] = [];
      const output = outputRingBuffer();
      const digests = new OutputDigests();
      const outputReader = new OutputRingReader(output, digests);
      const reader = new TraceRingReader(buffer, (c) => chunks.push({ ...c, payload: c.payload.slice() }), new CheckpointFinisher(digests, () => outputReader.hashAhead()));
      const writer = new SharedTraceLog(shared, { postMessage() {} } as never, 1e12, { rollingHash: true, output: new OutputRingWriter(output) });
      const memory = new WebAssembly.Memory({ initial: 2 });
      const changes = new PageChanges(undefined, true);
      const small = { globals: sha('g'), fds: sha('f'), fs: sha('s') };
      let checkpoints = 0;
      const seen: unknown[] = [];
      writer.schedule(7, {
        checkpoint: (events) => {
          new Uint8Array(memory.buffer)[events % 65536] = events & 0xff;
          writer.checkpoint(checkpoints++, events, { ...small, memory: changes.diff(memory, 4 * 65536) });
          outputReader.take();
          reader.take(); // this thread is the ring's reader too: it would fill and wait for room forever
        },
        full: (err) => { throw err; },
      });
      let k = 0;
      // A call's side effects, as the kernel's would be: an input record, the session's event number, a rolling hash.
      const during = (): void => {
        seen.push(writer.eventCount, writer.rollingHash());
        if (k % 5 === 0) writer.append(encodeClock(writer.eventCount - 1, 1, BigInt(k)));
        if (k === 5000) writer.persistCompleted();
      };
      const fdWrite = (...args: V[]) => { during(); return k % 3; };
      const clock = (...args: V[]) => { during(); return 0; };
      let call: (k: number) => void;
      if (viaShim) {
        const host = writer.wasmShim()!;
        const shim = recordingShim(shimCalls(['fd_write', 'clock_time_get'])!, { fd_write: fdWrite, clock_time_get: clock } as never, host);
        host.engage();
        call = (i) => (i % 2 ? (shim.fd_write as (...a: V[]) => number)(1, 100, 1, 200) : (shim.clock_time_get as (...a: V[]) => number)(1, BigInt(i) * 3000000000n, 300));
      } else {
        call = (i) => {
          const fd = i % 2 === 1;
          const id = syscallId(fd ? 'fd_write' : 'clock_time_get');
          const slot = writer.enter(id, fd ? fingerprint(id, 'ipip', [1, 100, 1, 200]) : fingerprint(id, 'iIp', [1, BigInt(i) * 3000000000n, 300]));
          const errno = fd ? fdWrite() : clock();
          writer.exit(slot, errno);
        };
      }
      for (k = 0; k < 3 * callsPerBatch + 77; k++) {
        call(k);
        if (k % 997 === 0) seen.push(writer.rollingHash(), writer.eventCount);
      }
      writer.finish({ complete: true });
      reader.take();
      reader.flush();
      return { bytes: Buffer.concat(chunks.map((c) => c.payload)), seen, checkpoints };
    };
    const js = run(false);
    const wasm = run(true);
    expect(wasm.checkpoints).toBe(Math.floor((3 * callsPerBatch + 77) / 7));
    expect(wasm.seen).toEqual(js.seen);
    expect(wasm.bytes.length).toBeGreaterThan(0);
    expect(wasm.bytes.equals(js.bytes)).toBe(true);
  });

  it('leaves every completed call in the columns for a reader whose worker is gone, not the call in progress', () => {
    const { writer, reader } = ring(true);
    writer.schedule(1 << 30, { checkpoint: () => {}, full: (err) => { throw err; } });
    const host = writer.wasmShim()!;
    let recovered = -1;
    let k = 0;
    const shim = recordingShim(shimCalls(['fd_write'])!, {
      fd_write: () => {
        if (k === callsPerBatch + 10) {
          reader.take();
          recovered = reader.recoverCalls();
        }
        return 0;
      },
    } as never, host);
    host.engage();
    for (; k <= callsPerBatch + 10; k++) (shim.fd_write as (...a: V[]) => number)(1, 0, 1, 0);
    // The first batch went out as a calls record; the 10 after it only in the columns.
    expect(recovered).toBe(10);
  });

  it('is compiled on the main thread for the guest (precompiledShim), and a worker uses that one (adoptShim) instead of compiling its own', () => {
    const memory = traceRingMemory();
    const guest = importing(['fd_write', 'clock_time_get', 'proc_exit']);
    expect(wasiImportNames(guest)).toEqual(['fd_write', 'clock_time_get', 'proc_exit']);
    const shim = precompiledShim(guest, memory);
    expect(shim?.module).toBeInstanceOf(WebAssembly.Module);
    expect(WebAssembly.Module.exports(shim!.module).map((e) => e.name)).toEqual(['fd_write', 'clock_time_get', 'proc_exit']);
    // A guest with a call the shim does not take gets none: its worker records the JS way.
    expect(precompiledShim(importing(['fd_write', 'sock_accept']), memory)).toBeUndefined();
    // Adopted under the guest's key, a shim built for another call is what recordingShim then
    // instantiates (the worker compiles nothing of its own): it asks for a kernel call it is not given.
    const other = precompiledShim(importing(['random_get']), memory)!;
    adoptShim({ key: shim!.key, module: other.module });
    const kernel = Object.fromEntries(['fd_write', 'clock_time_get', 'proc_exit'].map((n) => [n, () => 0]));
    const host = { memory, afterDue: () => {}, overflow: (): never => { throw new Error('overflow'); } };
    expect(() => recordingShim(shimCalls(wasiImportNames(guest))!, kernel, host)).toThrow(/"random_get"/);
    adoptShim(shim!);
    expect(Object.keys(recordingShim(shimCalls(wasiImportNames(guest))!, kernel, host))).toEqual(['fd_write', 'clock_time_get', 'proc_exit']);
    // A replay's shim likewise (its own module: it checks calls instead of recording them), a
    // function imported twice once.
    const twice = importing(['fd_write', 'clock_time_get', 'fd_write']);
    expect(wasiImportNames(twice)).toEqual(['fd_write', 'clock_time_get']);
    const replay = precompiledReplayShim(twice);
    expect(WebAssembly.Module.exports(replay!.module).map((e) => e.name)).toEqual(['fd_write', 'clock_time_get']);
    expect(replay!.key).not.toBe(precompiledShim(twice, memory)!.key);
    expect(precompiledReplayShim(importing(['sock_accept']))).toBeUndefined();
  });

  it("records the calls a module's start function makes while it is instantiated, before _start (the shim is engaged first)", () => {
    const dir = tempDir();
    const wat = join(dir, 'start.wat');
    // The start function says "step"; _start reads the clock and says it again.
    writeFileSync(wat, stepsProgram('(call $tick) (call $say)', '\n  (func $init (call $say))\n  (start $init)'));
    const trace = join(dir, 'start.rct');
    const recorded = runCli(['record', '-o', trace, wat]);
    expect(recorded.exitCode).toBe(0);
    expect(recorded.stdout).toBe('step\nstep\n');
    expect(runCli(['inspect', trace]).stdout).toMatch(/events: +3 \(/);
    expect(runCli(['inspect', '--events', trace]).stdout).toMatch(/fd_write[^]*clock_time_get[^]*fd_write/);
    const replayed = runCli(['replay', trace]);
    expect(replayed.stdout).toBe('step\nstep\n');
    expect(replayed.exitCode).toBe(0);
  });
});
