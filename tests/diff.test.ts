// Fault injection and `replicode diff`: for each kind of fault, a run with it is recorded next
// to clean runs, and diff must name the faulty trace and the event where the fault was injected
// (or the first event it affected).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../dist/tui/index.js';
import { programsDir, repoRoot, runCli, runCliAsync, startCli, tempDir } from './helpers.js';

const wasm = (name: string) => join(programsDir, 'build', `${name}.wasm`);

/** Records `program` three times (the middle one with `inject`), diffs them as JSON. */
async function diffWithFault(program: string, inject: string[], stdin = '', args: string[] = []) {
  const dir = tempDir();
  const traces = ['clean-a', 'faulty', 'clean-b'].map((n) => join(dir, `${n}.rct`));
  // The three recordings are independent: side by side (the suite spends its time in CLI runs).
  const recorded = await Promise.all(traces.map((trace, i) => {
    const extra = i === 1 ? inject.flatMap((f) => ['--inject', f]) : [];
    return runCliAsync(['record', ...extra, '-o', trace, wasm(program), '--', ...args], stdin);
  }));
  for (const r of recorded) expect(r.exitCode, r.stderr).toBe(0);
  // The faulty trace replays faithfully: faults are part of its configuration.
  const [replayed, r] = await Promise.all([runCliAsync(['replay', '-q', traces[1]!]), runCliAsync(['diff', '--json', ...traces])]);
  expect(replayed.exitCode, replayed.stderr).toBe(0);
  expect(r.exitCode, r.stderr).toBe(3);
  return { report: JSON.parse(r.stdout), traces };
}

describe('fault injection, found by diff', () => {
  const text = 'the quick brown fox\njumps over the lazy dog\n';

  it('bitflip: the event whose data was flipped', async () => {
    const { report, traces } = await diffWithFault('stdin_echo', ['bitflip@0'], text);
    expect(report.oddOneOut).toEqual([traces[1]]);
    expect(report.event).toBe(0);
    expect(report.sides[0].syscall).toBe('fd_read');
    expect(report.memoryRegions.length).toBeGreaterThan(0);
    expect(report.headerDifferences.map((h: { field: string }) => h.field)).toContain('faults');
  });

  it('bitflip at an explicit address and event', async () => {
    const { report } = await diffWithFault('syscall_heavy', ['bitflip@500:1024:3'], '', ['2000']);
    expect(report.event).toBe(500);
  });

  it('a dropped input byte: the read that lost it', async () => {
    const { report, traces } = await diffWithFault('line_count', ['drop@0'], text);
    expect(report.oddOneOut).toEqual([traces[1]]);
    expect(report.event).toBe(0);
  });

  it('reordered input bytes', async () => {
    const { report } = await diffWithFault('stdin_echo', ['reorder@0'], text);
    expect(report.event).toBe(0);
    expect(report.outputDiff ?? '').toBe('');
  });

  it('a clock skew: the first clock read it affects', async () => {
    const { report } = await diffWithFault('clocks', ['skew@3:5000000000']);
    expect(report.event).toBeGreaterThanOrEqual(3);
    expect(report.sides[0].syscall).toBe('clock_time_get');
  });

  it('a host call that leaks real time: the event where the host was asked', async () => {
    const { report } = await diffWithFault('clocks', ['leak@3']);
    expect(report.event).toBe(3);
    expect(report.reason).toBe('the same call received different input');
    expect(report.sides[1].inputs[0]).toMatch(/^clock 0 = \d+/);
  });

  it('a different PRNG seed: the header says so, and the first random_get', async () => {
    const { report } = await diffWithFault('random', ['seed:9']);
    expect(report.headerDifferences.map((h: { field: string }) => h.field)).toEqual(['seed']);
    expect(report.sides[0].syscall).toBe('random_get');
  });

  it('a changed input (different stdin) shows as the call whose input differs, with the output around it', () => {
    const dir = tempDir();
    const a = join(dir, 'a.rct');
    const b = join(dir, 'b.rct');
    runCli(['record', '-o', a, wasm('stdin_echo')], 'hello\n');
    runCli(['record', '-o', b, wasm('stdin_echo')], 'jello\n');
    const r = runCli(['diff', a, b]);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toContain('first divergent event: 0');
    expect(r.stdout).toContain('the same call received different input');
    expect(r.stdout).toContain('input: stdin 6 bytes "hello\\n"');
    expect(r.stdout).toContain('replicode tui');
  });

  it('a build that computes differently without changing any call: narrowed to the instruction range, with names', () => {
    const dir = tempDir();
    const square = (extra: string) => `(func $square (param $i i32) (result i32) ${extra ? `(i32.add (i32.mul (local.get $i) (local.get $i)) ${extra})` : '(i32.mul (local.get $i) (local.get $i))'})`;
    const program = (extra: string) => `(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  ${square(extra)}
  (func $fill (local $i i32)
    (loop $l
      (i32.store (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2))) (call $square (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100)))))
  (func $main (export "_start")
    (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 0)))
    (call $fill)
    (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 0)))
    (call $exit (i32.const 0))))`;
    const paths = ['v1', 'v2'].map((v) => join(dir, `${v}.wat`));
    writeFileSync(paths[0]!, program(''));
    writeFileSync(paths[1]!, program('(i32.eq (local.get $i) (i32.const 37))')); // off by one at i = 37
    const traces = paths.map((p, i) => join(dir, `t${i}.rct`));
    traces.forEach((t, i) => expect(runCli(['record', '-o', t, paths[i]!]).exitCode).toBe(0));
    const r = runCli(['diff', '--json', ...traces]);
    expect(r.exitCode).toBe(3);
    const report = JSON.parse(r.stdout);
    expect(report.event).toBe(0);
    expect(report.reason).toMatch(/state differs after event 0/);
    // After the first clock call: $fill's entry is hook 1, then each iteration is a loop hook and a
    // $square entry (2 + 2i, 3 + 2i), and $fill's exit (the stack limit's epilogue; $square is a
    // leaf, which the limit leaves alone) is hook 202. Iteration 37's store lands between hooks 77 and 78.
    expect(report.range).toMatchObject({ afterEvent: 0, hook: 78, hooks: 202 });
    expect(report.range.agreeingStack.map((f: { name: string }) => f.name)).toEqual(['square', 'fill', 'main']);
    expect(report.range.differingStack.map((f: { name: string }) => f.name)).toEqual(['fill', 'main']);
    // What each end's hook marks, from the instrumented copy's site map: $square's entry, the head of $fill's loop.
    expect(report.range.agreeingStack[0].hook.kind).toBe('entry');
    expect(report.range.differingStack[0].hook.kind).toBe('loop');
    expect(report.range.second.differingStack[0].hook.kind).toBe('loop');
    const text = runCli(['diff', ...traces]);
    expect(text.stdout).toContain('state agrees at hook 77 after event 0 returned (the entry of square <- fill <- main)\n    and differs at hook 78 (the head of a loop in fill <- main)\n');
    expect(text.stderr).toBe('');
    const eventOnly = JSON.parse(runCli(['diff', '--json', '--no-instructions', ...traces]).stdout);
    expect(eventOnly.event).toBe(0);
    expect(eventOnly.range).toBeNull();
  });

  it('agreeing traces: exit 0; bad arguments: one line, exit 1', () => {
    const dir = tempDir();
    const a = join(dir, 'a.rct');
    const b = join(dir, 'b.rct');
    runCli(['record', '-o', a, wasm('hello')]);
    runCli(['record', '-o', b, wasm('hello')]);
    expect(runCli(['diff', a, b]).exitCode).toBe(0);
    expect(runCli(['diff', a]).exitCode).toBe(1);
    writeFileSync(join(dir, 'junk.rct'), 'junk');
    const junk = runCli(['diff', a, join(dir, 'junk.rct')]);
    expect(junk.exitCode).toBe(1);
    expect(junk.stderr.trim()).toBe(`replicode: ${join(dir, 'junk.rct')}: not a RepliCode trace: only 4 bytes (at byte 0)`);
  });
});

describe('traces that hold their module by hash only (--no-embed-module, a module over 8 MiB)', () => {
  it('diff, index and the TUI say they cannot replay them and what works (they said "pass it with --module", an option only replay has)', async () => {
    const dir = tempDir();
    const [a, b] = ['a.rct', 'b.rct'].map((f) => join(dir, f));
    expect(runCli(['record', '--no-embed-module', '-o', a, wasm('stdin_echo')], 'hello\n').exitCode).toBe(0);
    expect(runCli(['record', '--no-embed-module', '-o', b, wasm('stdin_echo')], 'hellp\n').exitCode).toBe(0);
    const d = runCli(['diff', a, b]);
    expect(d.exitCode).toBe(1);
    expect(d.stderr.trim()).toBe(`replicode: ${a}: the trace does not embed its module (stdin_echo.wasm), so diff cannot replay it (only replay takes --module); diff --no-replay compares what the traces hold`);
    expect(runCli(['diff', '--no-replay', a, b]).exitCode).toBe(3);
    const i = runCli(['index', a]);
    expect(i.exitCode).toBe(1);
    expect(i.stderr.trim()).toBe('replicode: the trace does not embed its module (stdin_echo.wasm), so index cannot replay it (only replay takes --module)');
    expect(runCli(['replay', '--module', wasm('stdin_echo'), a]).exitCode).toBe(0);
    // The TUI's panes say the same, without an option it does not have.
    const model = loadModel([a, b]);
    expect(await model.stack(0, 0)).toEqual(['(cannot replay here: the trace does not embed its module (stdin_echo.wasm); only replay takes it (--module))']);
  }, 60_000);
});

describe('page hashes at checkpoints: the differing 64 KiB pages, without replaying', () => {
  /** One call, byte stores at (address, value) pairs, another call: the stores land between two events. */
  const storing = (stores: [number, number][]) => `(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 6)
  (func $main (export "_start")
    (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 0)))
    ${stores.map(([address, value]) => `(i32.store8 (i32.const ${address}) (i32.const ${value}))`).join('\n    ')}
    (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 0)))
    (call $exit (i32.const 0))))`;

  it('a bitflip at ADDR: diff --no-replay names exactly the page of ADDR, in text and JSON', () => {
    const dir = tempDir();
    const traces = ['clean', 'flipped'].map((n) => join(dir, `${n}.rct`));
    traces.forEach((t, i) => {
      const inject = i === 1 ? ['--inject', 'bitflip@500:70000'] : []; // 0x11170: page 1 of 2
      expect(runCli(['record', ...inject, '--checkpoint-every', '256', '-o', t, wasm('syscall_heavy'), '--', '2000']).exitCode).toBe(0);
    });
    const json = runCli(['diff', '--json', '--no-replay', ...traces]);
    expect(json.exitCode, json.stderr).toBe(3);
    const report = JSON.parse(json.stdout);
    expect(report.checkpoint).toBe(1);
    expect(report.checkpointState).toEqual({ checkpoint: 1, event: 512, components: ['memory'], pages: [{ first: 1, last: 1 }], regions: [{ start: 0x10000, end: 0x20000 }] });
    expect(report.event).toBeNull(); // nothing was replayed
    const inspected = JSON.parse(runCli(['inspect', '--json', traces[0]!]).stdout);
    expect(inspected.checkpoints[1]).toMatchObject({ number: 1, event: 512, pages: 2 }); // syscall_heavy's memory: 2 pages
    const text = runCli(['diff', '--no-replay', ...traces]);
    expect(text.stdout).toContain('at checkpoint #1 (event 512) state differs in: memory page 1 (0x10000-0x1ffff)');
    // With replay the same line comes first, then the event replay finds (narrowing unchanged).
    const replayed = JSON.parse(runCli(['diff', '--json', '--no-instructions', ...traces]).stdout);
    expect(replayed.checkpointState.pages).toEqual([{ first: 1, last: 1 }]);
    expect(replayed.event).toBe(500);
  });

  it('two builds storing in different pages: every differing page named, runs joined', () => {
    const dir = tempDir();
    const sources = [storing([[0x10, 1]]), storing([[0x10, 1], [0x20010, 7], [0x30010, 1], [0x50000, 2]])].map((text, i) => {
      const path = join(dir, `v${i}.wat`);
      writeFileSync(path, text);
      return path;
    });
    const traces = sources.map((_, i) => join(dir, `t${i}.rct`));
    traces.forEach((t, i) => expect(runCli(['record', '-o', t, sources[i]!]).exitCode).toBe(0));
    const report = JSON.parse(runCli(['diff', '--json', '--no-replay', ...traces]).stdout);
    expect(report.checkpointState.pages).toEqual([{ first: 2, last: 3 }, { first: 5, last: 5 }]);
    expect(runCli(['diff', '--no-replay', ...traces]).stdout).toContain('memory pages 2-3, 5 (0x20000-0x3ffff, 0x50000-0x5ffff)');
    // Replaying the first trace with the second build: the checkpoint names the same pages.
    const replay = runCli(['replay', '-q', '--module', sources[1]!, traces[0]!]);
    expect(replay.exitCode).toBe(3);
    expect(replay.stdout + replay.stderr).toContain('memory:      differs in pages 2-3, 5 (0x20000-0x3ffff, 0x50000-0x5ffff)');
  });

  it('traces written before page hashes still diff and replay; the report says the pages are unknown', () => {
    // Recorded by the previous writer: `record --checkpoint-every 256 [--inject bitflip@500:70000] syscall_heavy.wasm -- 2000`.
    const fixtures = join(repoRoot, 'tests', 'fixtures', 'v2-no-pages');
    const traces = ['clean.rct', 'bitflip-500-70000.rct'].map((n) => join(fixtures, n));
    expect(runCli(['replay', '-q', traces[1]!]).exitCode).toBe(0);
    const r = runCli(['diff', '--json', '--no-instructions', ...traces]);
    expect(r.exitCode, r.stderr).toBe(3);
    const report = JSON.parse(r.stdout);
    expect(report.checkpointState).toMatchObject({ checkpoint: 1, components: ['memory'], pages: null });
    expect(report.event).toBe(500);
    expect(report.memoryRegions).toEqual([{ start: 0x11000, end: 0x12000 }]);
    expect(runCli(['diff', '--no-replay', ...traces]).stdout).toContain('state differs in: memory (a trace has no page hashes)');
    expect(JSON.parse(runCli(['inspect', '--json', traces[0]!]).stdout).checkpoints[1]).toMatchObject({ number: 1, pages: null });
  });
});

describe('a replicated server with a fault in one replica', () => {
  it('cluster --inject 2:drop@0 is caught at once, and diff names replica 2, the batch and the event', async () => {
    const dir = tempDir();
    const cli = startCli(['cluster', '--replicas', '3', '--record-dir', dir, '--inject', '2:drop@0', '--listen', '127.0.0.1:0=80', wasm('http_server')]);
    const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    try {
      for (let i = 0; i < 3; i++) expect((await fetch(`http://127.0.0.1:${port}/counter`)).status).toBe(200);
    } finally {
      cli.child.kill('SIGINT');
    }
    expect(await cli.exited).toBe(3);
    expect(cli.stderr()).toMatch(/replica 2 disagrees with the others after batch \d+/);
    const traces = [1, 2, 3].map((r) => join(dir, `replica-${r}.rct`));
    const r = runCli(['diff', '--json', ...traces]);
    expect(r.exitCode).toBe(3);
    const report = JSON.parse(r.stdout);
    expect(report.oddOneOut).toEqual([traces[1]]);
    expect(report.batch).toBeGreaterThanOrEqual(1);
    expect(report.sides[0].syscall).toBeTruthy();
  });
});
