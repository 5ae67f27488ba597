// The call-stack limit (--max-stack, runtime/rewrite/stack-limit.ts): where a guest runs out of
// stack is a function of the module and the limit, the same in every run, replay and
// instrumented replay, and never V8's own (nondeterministic) limit.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyRewrites, compileModule, formatTrap, ModuleFormatError, moduleBinary, processConfig } from '../dist/runtime/index.js';
import { openTrace, replayTrace, summarizeTrace } from '../dist/replayer/index.js';
import { memorySource, TraceFormatError, TraceReader, TraceWriter, type TraceHeader } from '../dist/formats/index.js';
import { cliPath, programsDir, repoRoot, runCli, runInWorker, tempDir } from './helpers.js';

const recurseClock = join(programsDir, 'wat', 'recurse_clock.wat');
const stackTrap = 'replicode: guest trapped: call stack exhausted (--max-stack)';

function summary(trace: string) {
  const { reader, close } = openTrace(trace);
  try {
    return summarizeTrace(reader);
  } finally {
    close();
  }
}
const recordedEvents = (trace: string): number => summary(trace).events;

/** A guest like recurse_clock.wat that stops at `depth` levels and exits 0. */
const boundedRecursion = (depth: number) => `(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func $down (param $depth i32)
    (drop (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 0)))
    (if (i32.lt_u (local.get $depth) (i32.const ${depth}))
      (then (call $down (i32.add (local.get $depth) (i32.const 1))))))
  (func (export "_start") (call $down (i32.const 1))))`;

describe('call stack limit', () => {
  it('a guest recursing with a clock call per level runs out at the same event in every run, and its trace replays as matching', () => {
    const dir = tempDir();
    const counts: number[] = [];
    for (let run = 0; run < 3; run++) {
      const trace = join(dir, `r${run}.rct`);
      const r = runCli(['record', '-o', trace, recurseClock]);
      expect(r.exitCode, r.stderr).toBe(134);
      expect(r.stderr).toContain(stackTrap);
      expect(r.stderr).toMatch(/#0 down \(func 1, offset 0x[0-9a-f]+\)\n {2}#1 down/);
      counts.push(recordedEvents(trace));
    }
    const replay = runCli(['replay', join(dir, 'r0.rct')]);
    expect(replay.exitCode, replay.stderr).toBe(0); // matched: the trap, as recorded
    expect(replay.stderr).toContain('replay matches the recording (a trap, as recorded)');
    expect(replay.stderr).toContain(stackTrap);
    expect(new Set(counts).size).toBe(1);
    expect(counts[0]).toBeGreaterThan(50_000); // the default 8 MiB is deep enough for real programs
  });

  it('--max-stack sets the depth: each frame counts 64 bytes plus 8 per parameter, local and operand-stack slot', () => {
    const dir = tempDir();
    // $down: 1 parameter, the pass's own local and at most 3 operands (clock_time_get's
    // arguments): 64 + 5 * 8 = 104 bytes; _start: 64 + 2 * 8 = 80.
    for (const mib of [1, 2]) {
      const trace = join(dir, `limit${mib}.rct`);
      expect(runCli(['record', '--max-stack', String(mib), '-o', trace, recurseClock]).exitCode).toBe(134);
      const s = summary(trace);
      expect(s.events).toBe(Math.floor((mib * 2 ** 20 - 80) / 104));
      expect(s.header.rewrite).toEqual([{ name: 'stack-limit', maxStackBytes: mib * 2 ** 20 }, { name: 'canonical-nans' }]); // NaN canonicalisation is on by default
    }
    const trace = join(dir, 'limit1.rct');
    expect(runCli(['inspect', trace]).stdout).toContain('memory limit 1024 MiB, stack limit 1 MiB');
    const replay = runCli(['replay', trace]);
    expect(replay.exitCode, replay.stderr).toBe(0); // the limit travels in the trace: the same trap, a match
    expect(replay.stderr).toContain('replay matches the recording');
  });

  it('every replica of a cluster runs out at the same event', () => {
    const dir = tempDir();
    const r = runCli(['cluster', '--max-stack', '1', '--listen', '127.0.0.1:0=80', '--record-dir', dir, recurseClock]);
    expect(r.exitCode, r.stderr).toBe(134);
    expect(r.stderr).toContain(stackTrap);
    const traces = readdirSync(dir).filter((f) => f.endsWith('.rct')).map((f) => join(dir, f));
    expect(traces).toHaveLength(3);
    expect(traces.map(recordedEvents)).toEqual([10_081, 10_081, 10_081]);
    const diff = runCli(['diff', ...traces]);
    expect(diff.exitCode, diff.stdout).toBe(0);
  });

  it('a module with a name of its own (V8 puts it before each function\'s) is told it ran out of stack, not "unreachable"', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'named.wat'), boundedRecursion(300_000).replace(/^\(module/m, '(module $named'));
    const r = runCli(['run', join(dir, 'named.wat')]);
    expect(r.exitCode).toBe(134);
    expect(r.stderr).toContain(stackTrap);
    expect(r.stderr).toMatch(/#0 named\./);
  });

  it('a deep but bounded recursion below the limit runs fine', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'deep.wat'), boundedRecursion(75_000)); // 7.8 MB of the default 8 MiB; V8's own stack gave out at 71,000
    const r = runCli(['run', join(dir, 'deep.wat')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    writeFileSync(join(dir, 'deeper.wat'), boundedRecursion(300_000));
    expect(runCli(['run', join(dir, 'deeper.wat')]).stderr).toContain(stackTrap);
    expect(runCli(['run', '--max-stack', '32', join(dir, 'deeper.wat')]).exitCode).toBe(0);
  });

  it("diff's instrumented replay (binaryen's hooks on top of the same passes) runs out at the same event", async () => {
    const trace = join(tempDir(), 'r.rct');
    expect(runCli(['record', '--max-stack', '1', '-o', trace, recurseClock]).exitCode).toBe(134);
    const result = await replayTrace({ tracePath: trace, quiet: true, hooks: { after: 0 }, onOutput: () => {} });
    expect(result.outcome.kind).toBe('trap');
    expect(result.stats?.events).toBe(recordedEvents(trace));
  });

  it('frames with many live locals, a deep operand stack or v128 values hit the limit before V8 does, in Liftoff and in TurboFan', () => {
    const dir = tempDir();
    const n = 100;
    const range = [...Array(n).keys()];
    const head = '(module (memory (export "memory") 1) (global $g (mut i64) (i64.const 0))';
    const start = '(func (export "_start") (drop (call $f (i64.const 1)))))';
    const shapes: Record<string, string> = {
      locals: `${head} (func $f (param $x i64) (result i64) (local ${range.map(() => 'i64').join(' ')})
        ${range.map((i) => `(local.set ${i + 1} (i64.add (local.get 0) (global.get $g)))`).join(' ')}
        (local.set 0 (call $f (i64.add (local.get 0) (i64.const 1))))
        ${range.map((i) => `(local.set 0 (i64.mul (local.get 0) (local.get ${i + 1})))`).join(' ')} (local.get 0)) ${start}`,
      operands: `${head} (func $f (param $x i64) (result i64)
        ${range.map((i) => `(i64.add (local.get 0) (i64.const ${i}))`).join(' ')}
        (call $f (i64.add (local.get 0) (i64.const 1))) ${'(i64.add) '.repeat(n)}) ${start}`,
      v128: `${head} (func $f (param $x i64) (result i64) (local ${range.slice(0, 50).map(() => 'v128').join(' ')})
        ${range.slice(0, 50).map((i) => `(local.set ${i + 1} (i64x2.splat (i64.add (local.get 0) (i64.const ${i}))))`).join(' ')}
        (drop (call $f (i64.add (local.get 0) (i64.const 1))))
        (i64x2.extract_lane 0 (local.get 1)) ${range.slice(1, 50).map((i) => `(i64.add (i64x2.extract_lane 1 (local.get ${i + 1})))`).join(' ')}) ${start}`,
    };
    const files = Object.entries(shapes).map(([name, wat]) => {
      writeFileSync(join(dir, `${name}.wat`), wat);
      return join(dir, `${name}.wat`);
    });
    // All three as processes of one machine (each traps on its own), once per JIT tier.
    for (const tier of [['--liftoff', '--no-wasm-tier-up'], ['--no-liftoff']]) {
      const args = [...tier, cliPath, 'run', ...files.slice(1).flatMap((f) => ['--process', f]), files[0]!];
      const r = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, `${tier.join(' ')}: ${r.stderr}`).toBe(134);
      expect(r.stderr.split(stackTrap)).toHaveLength(4);
      expect(r.stderr).not.toContain('Maximum call stack size exceeded');
    }
  });

  it('an exception unwinding through frames gives their stack back', () => {
    const dir = tempDir();
    // 20,000 times: 21 frames deep, throw, catch at the top. Without giving the unwound frames'
    // cost back, the count would pass 8 MiB after about 4,500 rounds.
    writeFileSync(join(dir, 'eh.wat'), `(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (tag $oops (param i32))
  (func $thrower (param $n i32)
    (if (i32.eqz (local.get $n)) (then (throw $oops (i32.const 7))))
    (call $thrower (i32.sub (local.get $n) (i32.const 1))))
  (func (export "_start") (local $i i32) (local $sum i32)
    (loop $again
      try
        (call $thrower (i32.const 20))
      catch $oops
        (local.set $sum (i32.add (local.get $sum)))
      end
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 20000))))
    (call $exit (i32.rem_u (local.get $sum) (i32.const 256)))))`);
    const r = runCli(['run', join(dir, 'eh.wat')]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe((20_000 * 7) % 256);
  });

  it('the rewritten module computes the same: multi-value, branches to the function label, returns in blocks, tail and indirect calls, imported globals', async () => {
    const wat = `(module
  (import "env" "g" (global $imported i32))
  (import "env" "f" (func $host (param i32) (result i32)))
  (global $mine (mut i32) (i32.const 5))
  (type $pair (func (param i32) (result i32 i64)))
  (table 2 funcref) (elem (i32.const 0) $pair $early)
  (func $pair (type $pair) (local.get 0) (i64.extend_i32_u (i32.mul (local.get 0) (global.get $imported))))
  (func $early (param i32) (result i32 i64)
    (block $out (br_if $out (i32.gt_u (local.get 0) (i32.const 10)))
      (return (i32.const 1) (i64.const 2)))
    (br 0 (i32.const 3) (i64.const 4)))
  (func $tail (param i32) (result i32 i64)
    (if (i32.eqz (local.get 0)) (then (return_call $pair (i32.const 7))))
    (return_call_indirect (type $pair) (i32.sub (local.get 0) (i32.const 1)) (i32.const 0)))
  (func $sum (param $n i32) (result i64) (local $acc i64)
    (loop $l
      (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (call $host (local.get $n)))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n)))
    (local.get $acc))
  (func (export "run") (param i32) (result i64) (local $a i32) (local $b i64)
    (call $tail (local.get 0)) (local.set $b) (local.set $a)
    (call_indirect (type $pair) (local.get 0) (i32.const 1)) (drop) (drop)
    (call $early (local.get 0)) (local.set $b (i64.add (local.get $b))) (local.set $a (i32.add (local.get $a)))
    (global.set $mine (i32.add (global.get $mine) (local.get $a)))
    (i64.add (i64.add (local.get $b) (call $sum (local.get 0))) (i64.extend_i32_u (global.get $mine))))
  (func $count (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 42))
      (else (return_call $count (i32.sub (local.get 0) (i32.const 1))))))
  (func (export "count") (param i32) (result i32) (call $count (local.get 0))))`;
    const binary = await moduleBinary(new TextEncoder().encode(wat));
    const rewritten = applyRewrites(binary, [{ name: 'stack-limit', maxStackBytes: 2 ** 20 }]);
    const imports = { env: { g: 3, f: (x: number) => x * 2 } };
    const instance = (bytes: Uint8Array) => new WebAssembly.Instance(new WebAssembly.Module(bytes), imports).exports;
    const [plain, limited] = [instance(binary), instance(rewritten)];
    const inputs = Array.from({ length: 20_000 }, (_, i) => 1 + (i % 20));
    // The same answers; and 20,000 calls within 1 MiB: the epilogues give every frame back.
    expect(inputs.map((x) => (limited.run as (x: number) => bigint)(x))).toEqual(inputs.map((x) => (plain.run as (x: number) => bigint)(x)));
    // A tail call replaces its frame: a million of them in a row stay within 1 MiB.
    expect((limited.count as (n: number) => number)(1_000_000)).toBe(42);
  });

  it('trap reports name offsets in the module as given, not as rewritten', async () => {
    // Without passes or a memory limit, the library runs the module exactly as given.
    const plainRun = async (file: string) => {
      const outcome = (await runInWorker(await compileModule(readFileSync(file), file), processConfig({ args: ['x'] }))).outcome;
      if (outcome?.kind !== 'trap') throw new Error(`${file} did not trap`);
      return outcome.trap;
    };
    const trapWasm = join(programsDir, 'build', 'trap.wasm');
    expect(runCli(['run', trapWasm]).stderr).toBe(formatTrap(await plainRun(trapWasm)));
    // Recursion: the callers' frames are at the same `call` instruction either way.
    const plain = await plainRun(recurseClock); // V8's own limit: RangeError
    const limited = runCli(['run', '--max-stack', '1', recurseClock]).stderr;
    expect(limited).toContain(`#1 down (func 1, offset 0x${plain.frames[1]!.offset.toString(16)})`);
  });

  it('every prebuilt guest is still a valid module after the pass, rewritten the same way each time', async () => {
    const build = join(programsDir, 'build');
    // Core modules only: a component's core modules get the pass inside it (runtime/p2/transpile.ts).
    for (const file of readdirSync(build).filter((f) => f.endsWith('.wasm') && !f.endsWith('.component.wasm'))) {
      const binary = await moduleBinary(readFileSync(join(build, file)));
      const passes = [{ name: 'stack-limit' as const, maxStackBytes: 2 ** 23 }];
      const once = applyRewrites(binary, passes);
      expect(WebAssembly.validate(once), file).toBe(true);
      expect(Buffer.compare(Buffer.from(once), Buffer.from(applyRewrites(binary, passes))), file).toBe(0);
      expect(WebAssembly.Module.exports(new WebAssembly.Module(once))).toEqual(WebAssembly.Module.exports(new WebAssembly.Module(binary)));
    }
  });

  it('the header lists the rewriting passes; a pass this reader does not know makes the trace unreadable, in one line', () => {
    const header = (rewrite: unknown): TraceHeader => ({
      replicodeVersion: 'test',
      module: { name: 'm.wasm', sha256: '00'.repeat(32), size: 3, bytes: new Uint8Array([1, 2, 3]), rewrite: rewrite as TraceHeader['module']['rewrite'] },
      config: { args: ['m.wasm'], env: [], seed: 0n, epochNs: 0n, writeBack: false, maxOpenFds: 64, snapshotLimits: { maxEntries: 10, maxBytes: 100 }, pid: 1 },
      preopens: [],
      options: { clock: 'virtual', random: 'seeded', checkpointEvery: 16, recordOutput: false },
    });
    const write = (h: TraceHeader) => {
      const parts: Uint8Array[] = [];
      const writer = new TraceWriter({ write: (b) => parts.push(b.slice()) }, {});
      writer.start(h);
      writer.finish();
      return Buffer.concat(parts);
    };
    const known = header([{ name: 'stack-limit', maxStackBytes: 2 ** 20 }]);
    expect(new TraceReader(memorySource(write(known))).header).toEqual(known);
    for (const bad of [[{ name: 'fuel', units: 5 }], [{ name: 'stack-limit', maxStackBytes: 2 ** 40 }], 'stack-limit']) {
      expect(() => new TraceReader(memorySource(write(header(bad))))).toThrow(TraceFormatError);
    }
    const file = join(tempDir(), 'future.rct');
    writeFileSync(file, write(header([{ name: 'fuel', units: 5 }])));
    const r = runCli(['replay', file]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/rewrite passes.*at byte \d+/);
  });

  it('corrupted modules (seeded byte flips and cuts): the pass stays valid or says why as a ModuleFormatError, never another error', () => {
    const sources = ['hello', 'trap', 'sha256'].map((name) => readFileSync(join(programsDir, 'build', `${name}.wasm`)));
    let seed = 12345;
    const random = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    const passes = [{ name: 'stack-limit' as const, maxStackBytes: 2 ** 20 }];
    let refused = 0;
    for (let i = 0; i < 400; i++) {
      const bytes = Uint8Array.from(sources[i % sources.length]!);
      for (let k = 1 + random(4); k > 0; k--) bytes[8 + random(bytes.length - 8)] = random(256);
      const input = random(10) === 0 ? bytes.subarray(0, 8 + random(bytes.length - 8)) : bytes;
      try {
        const out = applyRewrites(input, passes);
        if (WebAssembly.validate(input)) expect(WebAssembly.validate(out), `case ${i}`).toBe(true);
      } catch (err) {
        expect(err, `case ${i}`).toBeInstanceOf(ModuleFormatError);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0); // the corruption reached the code
  });

  it('bad --max-stack values and unreadable code get one line and exit 1', () => {
    for (const bad of ['0', '257', '1.5']) {
      const r = runCli(['run', '--max-stack', bad, recurseClock]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr.trimEnd().split('\n')).toEqual([`replicode: --max-stack ${bad}: expected a whole number from 1 to 256`]);
    }
    // type () -> (), one function whose body is the unknown opcode 0xff
    const module = Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, 5, 1, 3, 0, 0xff, 0x0b);
    const file = join(tempDir(), 'bad.wasm');
    writeFileSync(file, module);
    const r = runCli(['run', file]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/is not a valid WebAssembly module: .*0xff @\+23/);
  });
});
