// Fuel (--max-fuel, runtime/rewrite/fuel.ts) through the CLI: a guest computing for ever stops at
// the same instruction in run, record, replay and on three cluster replicas, with exit code 152,
// its stack and the fuel it used (inspect); Ctrl-C stops a guest that never makes a syscall.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeRecord, encodeExit, unpackAll } from '../dist/formats/index.js';
import { addFuel, fuelExport, moduleBinary } from '../dist/runtime/index.js';
import { programsDir, runCli, startCli, tempDir, type RunningCli } from './helpers.js';

const dir = tempDir();
const file = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };

/** Computes for ever in a loop of its own function: no syscall, ever. */
const spin = file('spin.wat', `(module
  (memory (export "memory") 1)
  (func $spin (local $i i32) (loop $forever (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $forever)))
  (func (export "_start") (call $spin)))`);

/** Says "spinning", then computes for ever without another syscall (what Ctrl-C must stop). */
const spinAfterHello = file('spin-after-hello.wat', `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "spinning\\n")
  (func $spin (local $i i32) (loop $forever (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $forever)))
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 9))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $spin)))`);

/** Writes "tick\\n" for ever (one fd_write event per iteration). */
const ticks = file('ticks.wat', `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "tick\\n")
  (func $tick (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 5))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (loop $forever (call $tick) (br $forever))))`);

/** Counts to N in a loop of 8 instructions (get, const, add, tee, const, lt_u, br_if, end), then exits 0. */
const countTo = (n: number) => file(`count${n}.wat`, `(module
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $l (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const ${n}))))))`);

/** Traps with `unreachable` two calls deep (for the stack's offsets). */
const trapper = file('trap.wat', `(module
  (memory (export "memory") 1)
  (func $inner (local f32) (local.set 0 (f32.add (f32.const 1) (f32.const 2))) unreachable)
  (func $outer (loop $l (call $inner)))
  (func (export "_start") (call $outer)))`);

const started: RunningCli[] = [];
afterEach(() => { for (const cli of started.splice(0)) if (cli.child.exitCode === null) cli.child.kill('SIGKILL'); });

const inspectJson = (trace: string) => JSON.parse(runCli(['inspect', '--json', trace]).stdout);
const runJson = (args: string[]) => {
  const r = runCli(['run', '--json', ...args]);
  return { ...r, summary: JSON.parse(r.stderr.slice(r.stderr.indexOf('{'))) };
};

describe('the fuel pass', () => {
  it('adds an exported i64 global holding the fuel left, and a valid module', async () => {
    const binary = await moduleBinary(new TextEncoder().encode(`(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))`));
    const fuelled = addFuel(binary, 1234);
    expect(WebAssembly.validate(fuelled)).toBe(true);
    const exports = WebAssembly.Module.exports(new WebAssembly.Module(fuelled));
    expect(exports).toContainEqual({ name: fuelExport, kind: 'global' });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(fuelled), {});
    expect((instance.exports[fuelExport] as WebAssembly.Global).value).toBe(1234n);
    expect(() => (instance.exports._start as () => void)()).toThrow(WebAssembly.RuntimeError);
    expect((instance.exports[fuelExport] as WebAssembly.Global).value).toBeLessThan(0n);
  });

  it('the exit record carries the fuel used as an additive eighth element; without it, the old seven', () => {
    const base = { event: 3, outcome: 'trap' as const, exitCode: 152, trapMessage: 'fuel exhausted (--max-fuel)', stdoutBytes: 5, stderrBytes: 0 };
    const withFuel = unpackAll(encodeExit({ ...base, fuel: 2 ** 40 + 1 }))[0] as unknown[];
    expect(withFuel).toHaveLength(8);
    expect(decodeRecord(withFuel)).toEqual({ kind: 'exit', ...base, fuel: 2 ** 40 + 1 });
    const old = unpackAll(encodeExit(base))[0] as unknown[];
    expect(old).toHaveLength(7);
    expect(decodeRecord(old)).toEqual({ kind: 'exit', ...base });
  });
});

describe('--max-fuel through the CLI', () => {
  it('run: a guest computing for ever stops with exit code 152, "fuel exhausted" and its stack', () => {
    const r = runCli(['run', '--max-fuel', '100000', spin]);
    expect(r.exitCode).toBe(152);
    expect(r.stderr).toContain('replicode: guest trapped: fuel exhausted (--max-fuel)');
    expect(r.stderr).toMatch(/#0 spin \(func 0, offset 0x[0-9a-f]+\)/);
    expect(r.stderr).not.toContain('replicode:fuel-exhausted');
  });

  it('run --json: the fuel used, the same in every run, and linear in the work done', () => {
    const a = runJson(['--max-fuel', '1000000000', countTo(1000)]);
    const b = runJson(['--max-fuel', '1000000000', countTo(1000)]);
    const c = runJson(['--max-fuel', '1000000000', countTo(2000)]);
    expect(a.exitCode).toBe(0);
    const used = (s: typeof a) => s.summary.processes[0].fuelUsed as number;
    expect(used(a)).toBe(used(b));
    // 1000 more iterations of a loop of 8 instructions, its `end` included (its hook's cost).
    expect(used(c) - used(a)).toBe(1000 * 8);
    expect(runJson([countTo(1000)]).summary.processes[0].fuelUsed).toBeUndefined(); // no --max-fuel: no counting
  });

  it('a limit it stays under changes nothing; one it passes stops it', () => {
    const used = runJson(['--max-fuel', '1000000000', countTo(1000)]).summary.processes[0].fuelUsed as number;
    expect(runCli(['run', '--max-fuel', String(used), countTo(1000)]).exitCode).toBe(0);
    expect(runCli(['run', '--max-fuel', String(used - 1), countTo(1000)]).exitCode).toBe(152);
  });

  it('stack offsets name the module as given, with fuel and NaN canonicalisation on or off', () => {
    const frames = (args: string[]) => {
      const r = runCli(['run', ...args, trapper]);
      expect(r.exitCode).toBe(134);
      return r.stderr.split('\n').filter((l) => l.includes('offset'));
    };
    const plain = frames(['--no-canonical-nans']);
    expect(plain).toHaveLength(3);
    expect(frames([])).toEqual(plain);
    expect(frames(['--max-fuel', '1000000'])).toEqual(plain);
    expect(frames(['--max-fuel', '1000000', '--no-canonical-nans'])).toEqual(plain);
  });

  it('record and replay stop at the same event with the same fuel used; inspect shows it', () => {
    const trace = join(dir, 'ticks.rct');
    const recorded = runCli(['record', '--max-fuel', '50000', '-o', trace, ticks]);
    expect(recorded.exitCode).toBe(152);
    const ticksPrinted = recorded.stdout.split('\n').length - 1;
    expect(ticksPrinted).toBeGreaterThan(100);
    const s = inspectJson(trace);
    expect(s.header.maxFuel).toBe(50000);
    expect(s.header.rewrite).toContainEqual({ name: 'fuel', maxFuel: 50000 });
    expect(s.exit).toMatchObject({ outcome: 'trap', exitCode: 152, trapMessage: 'fuel exhausted (--max-fuel)' });
    expect(s.exit.fuelUsed).toBeGreaterThan(50000);
    expect(s.exit.fuelUsed).toBeLessThan(50100);
    expect(s.events).toBe(ticksPrinted);
    expect(runCli(['inspect', trace]).stdout).toMatch(new RegExp(`exit: +trap with code 152 \\(fuel exhausted \\(--max-fuel\\)\\); ${ticksPrinted * 5} bytes of stdout, 0 of stderr; fuel used ${s.exit.fuelUsed} of 50000`));
    const replay = runCli(['replay', '-q', trace]);
    expect(replay.stderr).toContain('replay matches the recording');
    expect(replay.exitCode).toBe(0);
    expect(runCli(['replay', '-q', '--exit-code', 'guest', trace]).exitCode).toBe(152);
    // diff's snapshot copy (binaryen, after the recorded passes): resumed from a snapshot, it stops at the same point.
    const resumed = runCli(['replay', '-q', '--from', String(ticksPrinted - 100), trace]);
    expect(resumed.stderr).toMatch(/resumed from the snapshot at event [1-9]\d*/);
    expect(resumed.stderr).toContain(`replay matches the recording (a trap, as recorded): ${ticksPrinted} events`);
    expect(resumed.exitCode).toBe(0);
    // The same module and limit without recording: the same number of ticks.
    const run = runCli(['run', '--max-fuel', '50000', ticks]);
    expect(run.stdout).toBe(recorded.stdout);
  });

  it('three cluster replicas stop at the same event with the same fuel used, and each trace replays', async () => {
    const traces = join(dir, 'cluster');
    const cli = startCli(['cluster', '--replicas', '3', '--max-fuel', '20000', '--record-dir', traces, '--listen', '127.0.0.1:0=80', ticks]);
    started.push(cli);
    expect(await cli.exited).toBe(152);
    expect(cli.stderr()).toMatch(/0 disagreement\(s\)/);
    expect(readdirSync(traces).sort()).toEqual(['replica-1.rct', 'replica-2.rct', 'replica-3.rct']);
    const summaries = [1, 2, 3].map((r) => inspectJson(join(traces, `replica-${r}.rct`)));
    for (const s of summaries) {
      expect(s.exit).toMatchObject({ exitCode: 152, trapMessage: 'fuel exhausted (--max-fuel)' });
      expect({ events: s.events, fuel: s.exit.fuelUsed }).toEqual({ events: summaries[0].events, fuel: summaries[0].exit.fuelUsed });
    }
    expect(summaries[0].events).toBeGreaterThan(20);
    for (const r of [1, 2, 3]) expect(runCli(['replay', '-q', join(traces, `replica-${r}.rct`)]).exitCode).toBe(0);
  }, 60_000);

  it('a WASI 0.2 component stops the same way: exit 152, "fuel exhausted", the fuel used in its trace (it said "trapped: unreachable", exit 134)', () => {
    const sha = join(programsDir, 'build', 'sha256.component.wasm');
    const trace = join(dir, 'sha.rct');
    const recorded = runCli(['record', '--max-fuel', '1000000', '-o', trace, sha]);
    expect(recorded.exitCode).toBe(152);
    expect(recorded.stderr).toMatch(/^replicode: guest trapped: fuel exhausted \(--max-fuel\)\nwasm stack/);
    const s = inspectJson(trace);
    expect(s.exit).toMatchObject({ outcome: 'trap', exitCode: 152, trapMessage: 'fuel exhausted (--max-fuel)' });
    expect(s.exit.fuelUsed).toBeGreaterThan(1000000);
    expect(s.exit.fuelUsed).toBeLessThan(1001000);
    expect(runCli(['replay', '-q', trace]).exitCode).toBe(0);
    // Under the limit: the fuel used is recorded too.
    const hello = join(dir, 'hello.rct');
    expect(runCli(['record', '--max-fuel', '1000000', '-o', hello, join(programsDir, 'build', 'hello.component.wasm')]).exitCode).toBe(0);
    expect(inspectJson(hello).exit.fuelUsed).toBeGreaterThan(0);
  }, 60_000);

  it('the largest limit, 2^53-1, goes through a trace; one more is refused', () => {
    const trace = join(dir, 'largest.rct');
    expect(runCli(['record', '--max-fuel', '9007199254740991', '-o', trace, countTo(10)]).exitCode).toBe(0);
    const s = inspectJson(trace);
    expect(s.header.maxFuel).toBe(9007199254740991);
    expect(s.exit.fuelUsed).toBeGreaterThan(0);
    expect(runCli(['replay', '-q', trace]).exitCode).toBe(0);
    expect(runCli(['run', '--max-fuel', '9007199254740992', countTo(10)]).exitCode).toBe(1);
  });

  it('refuses a limit that is not a whole number from 1', () => {
    for (const bad of ['0', '-5', 'abc', '1.5']) {
      const r = runCli(['run', '--max-fuel', bad, spin]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(`--max-fuel ${bad}: expected a whole number`);
    }
  });
});

describe('Ctrl-C', () => {
  for (const fuel of [[], ['--max-fuel', '9007199254740991']]) {
    it(`stops a guest computing in a loop without any syscall, after the machine's 1 s grace${fuel.length ? ' (with fuel counting)' : ''}`, async () => {
      const cli = startCli(['run', ...fuel, spinAfterHello]);
      started.push(cli);
      // Inside the loop once it has said so (start-up takes seconds on a loaded machine).
      for (const end = Date.now() + 30_000; !cli.stdout().includes('spinning') && Date.now() < end;) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(cli.stdout()).toBe('spinning\n');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(cli.child.exitCode).toBeNull();
      const sent = Date.now();
      cli.child.kill('SIGINT');
      expect(await cli.exited).toBe(130);
      expect(Date.now() - sent).toBeLessThan(4000); // the machine's 1 s grace for blocked guests, then terminate (not never)
      expect(cli.stderr()).toContain('stopped by SIGINT, exit code 130');
    });
  }
});
