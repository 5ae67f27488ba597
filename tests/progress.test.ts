// Progress lines and colour: shown on a terminal, never in a pipe or a file; REPLICODE_PROGRESS=1
// and FORCE_COLOR=1 stand in for a terminal here (a pseudo-terminal is hard to spawn), NO_COLOR
// wins over both. And a reader that goes away (`| head`) stops a command quietly.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { colourWanted, noPaint, paintFor } from '../cli/colour.js';
import { Progress, progressEveryMs, progressWanted } from '../cli/progress.js';
import { diffTraces } from '../dist/replayer/index.js';
import { cliEnv, cliPath, programsDir, runCli, startCli, tempDir } from './helpers.js';

const wasm = (name: string) => join(programsDir, 'build', `${name}.wasm`);
const esc = '\x1b[';

/** A stream that keeps what is written, a terminal or not. */
function fakeStream(isTTY: boolean): Writable & { isTTY: boolean; columns: number; text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { chunks.push(String(chunk)); done(); } });
  return Object.assign(stream, { isTTY, columns: 40, text: () => chunks.join('') });
}

describe('the progress line (cli/progress.ts)', () => {
  it('prints nothing when stderr is not a terminal, and one rewritten line when it is', () => {
    const pipe = fakeStream(false);
    const quiet = new Progress(pipe, progressWanted(pipe, {}));
    quiet.update('diff: event scan: 1/10 events', true);
    quiet.clear();
    expect(pipe.text()).toBe('');

    const tty = fakeStream(true);
    let now = 1000;
    const shown = new Progress(tty, progressWanted(tty, {}), () => now);
    shown.update('diff: event scan: 1/10 events');
    now += 1;
    shown.update('diff: event scan: 2/10 events'); // too soon: drawn later, not now
    now += progressEveryMs;
    shown.update('diff: event scan: 3/10 events');
    shown.update('a line far longer than the forty columns of this terminal, cut short');
    shown.clear();
    expect(tty.text()).toBe(`\rdiff: event scan: 1/10 events${esc}K\rdiff: event scan: 3/10 events${esc}K\r${esc}K`);
    const long = new Progress(tty, true, () => 0);
    long.update('a line far longer than the forty columns of this terminal, cut short');
    expect(tty.text()).toContain('\ra line far longer than the forty col...');
  });

  it('REPLICODE_PROGRESS=1 forces it on, =0 off', () => {
    expect(progressWanted(fakeStream(false), { REPLICODE_PROGRESS: '1' })).toBe(true);
    expect(progressWanted(fakeStream(true), { REPLICODE_PROGRESS: '0' })).toBe(false);
    expect(progressWanted(fakeStream(true), {})).toBe(true);
  });
});

describe('colour (cli/colour.ts)', () => {
  it('on a terminal only; NO_COLOR turns it off, FORCE_COLOR on', () => {
    expect(colourWanted(fakeStream(true), {})).toBe(true);
    expect(colourWanted(fakeStream(false), {})).toBe(false);
    expect(colourWanted(fakeStream(true), { NO_COLOR: '1' })).toBe(false);
    expect(colourWanted(fakeStream(false), { FORCE_COLOR: '1' })).toBe(true);
    expect(colourWanted(fakeStream(false), { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(false);
    expect(colourWanted(fakeStream(true), { FORCE_COLOR: '0' })).toBe(false);
    expect(colourWanted(fakeStream(true), { NO_COLOR: '' })).toBe(true); // empty: not set (no-color.org)
    expect(paintFor(fakeStream(false), {})).toBe(noPaint);
    expect(paintFor(fakeStream(true), {}).bad('x')).toBe(`${esc}31mx${esc}39m`);
  });
});

/** Three recordings of stdin_echo, the middle one with different input. */
function threeTraces(): string[] {
  const dir = tempDir();
  return ['hello', 'jello', 'hello'].map((text, i) => {
    const trace = join(dir, `t${i + 1}.rct`);
    expect(runCli(['record', '-o', trace, wasm('stdin_echo')], `${text}\n`).exitCode).toBe(0);
    return trace;
  });
}

/** Two builds of one program whose state parts ways between two calls (see diff.test.ts). */
function stateOnlyTraces(): string[] {
  const dir = tempDir();
  const program = (extra: string) => `(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func $fill (local $i i32)
    (loop $l
      (i32.store (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2))) (i32.add (local.get $i) ${extra}))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 50)))))
  (func $main (export "_start")
    (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 0)))
    (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 0)))
    (call $fill)
    (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 0)))
    (call $exit (i32.const 0))))`;
  return ['(i32.const 0)', '(i32.eq (local.get $i) (i32.const 20))'].map((extra, i) => {
    const source = join(dir, `v${i}.wat`);
    writeFileSync(source, program(extra));
    const trace = join(dir, `v${i}.rct`);
    expect(runCli(['record', '-o', trace, source]).exitCode).toBe(0);
    return trace;
  });
}

describe('diff: progress, colour, a reader that goes away', () => {
  it('names each phase with its counts: reading, checkpoint bisection, event scan, state bisection, instruction search', async () => {
    const phases: string[] = [];
    const report = await diffTraces(stateOnlyTraces(), { onProgress: (p) => phases.push(p) });
    expect(report.range).not.toBeNull();
    // Building the traces' snapshot indexes and hashing a window's states show only when they take
    // long enough for a progress report (a loaded machine): the other phases always show, in order.
    const optional = ['building snapshot indexes', 'hashing the state before each of events '];
    const kinds = [...new Set(phases.map((p) => p.replace(/^diff: ([a-z ]+).*$/, '$1')))].filter((k) => !optional.includes(k));
    expect(kinds).toEqual(['reading trace ', 'checkpoint bisection over ', 'event scan', 'state bisection', 'instruction search', 'replaying both traces to event ']);
    expect(phases).toContain('diff: event scan: 0/4 events');
    expect(phases.some((p) => /^diff: instruction search: hooks \d+\.\.\d+ of \d+$/.test(p))).toBe(true);
  });

  it('through the CLI: a progress line on stderr, erased before the report; none when stderr is not a terminal', () => {
    const traces = threeTraces();
    const plain = runCli(['diff', ...traces]);
    expect(plain.exitCode).toBe(3);
    expect(plain.stderr).toBe('');
    const shown = runCli(['diff', ...traces], '', undefined, { REPLICODE_PROGRESS: '1' });
    expect(shown.exitCode).toBe(3);
    expect(shown.stderr).toMatch(/^\rdiff: reading trace 1\/3 \(.*t1\.rct\): \d+%\x1b\[K/);
    expect(shown.stderr.endsWith('\r\x1b[K')).toBe(true);
    expect(shown.stdout).toBe(plain.stdout);
  });

  it('colours the odd one out and the fields that differ; NO_COLOR and a pipe give plain text', () => {
    const traces = threeTraces();
    const coloured = runCli(['diff', ...traces], '', undefined, { FORCE_COLOR: '1' });
    expect(coloured.exitCode).toBe(3);
    expect(coloured.stdout).toContain(`odd one out: ${esc}31m${traces[1]}${esc}39m`);
    expect(coloured.stdout).toContain(`input: ${esc}33mstdin 6 bytes "jello\\n"${esc}39m`);
    expect(coloured.stdout).toContain('fd_read -> ok [args'); // the same on both sides: not marked
    const plain = runCli(['diff', ...traces]);
    expect(plain.stdout).not.toContain(esc);
    expect(runCli(['diff', ...traces], '', undefined, { FORCE_COLOR: '1', NO_COLOR: '1' }).stdout).toBe(plain.stdout);
  });

  it('a reader that is gone before the report (`| true`): exit 3, no stack', () => {
    const traces = threeTraces();
    const r = spawnSync('bash', ['-c', `"${process.execPath}" "${cliPath}" diff ${traces.join(' ')} | true; exit \${PIPESTATUS[0]}`], { encoding: 'utf8', env: cliEnv() });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(3);
  });
});

describe('replay, cluster and errors', () => {
  it('a long replay shows the events verified so far, then erases the line', () => {
    const trace = join(tempDir(), 'heavy.rct');
    expect(runCli(['record', '-o', trace, wasm('syscall_heavy'), '--', '8000000']).exitCode).toBe(0);
    const r = runCli(['replay', '-q', trace], '', undefined, { REPLICODE_PROGRESS: '1' });
    expect(r.exitCode).toBe(0);
    // 16M events take over a second to replay (~12M a second on a quiet machine); the line is
    // read from the worker every 250 ms.
    expect(r.stderr).toMatch(/^\rreplay: \d+ events verified\x1b\[K/);
    expect(r.stderr).toMatch(/\r\x1b\[Kreplicode: replay matches the recording: 16000005 events/);
    expect(runCli(['replay', '-q', trace]).stderr).toMatch(/^replicode: replay matches/);
  });

  it('an error line is red on a terminal (FORCE_COLOR), plain otherwise', () => {
    const missing = join(tempDir(), 'missing.rct');
    expect(runCli(['inspect', missing], '', undefined, { FORCE_COLOR: '1' }).stderr).toMatch(/^\x1b\[31mreplicode: .*\x1b\[39m\n$/);
    expect(runCli(['inspect', missing]).stderr).toMatch(/^replicode: [^\x1b]*\n$/);
  });

  it("cluster names the disagreeing replica in red", async () => {
    const cli = startCli(['cluster', '--replicas', '3', '--inject', '2:drop@0', '--listen', '127.0.0.1:0=80', wasm('http_server')], { FORCE_COLOR: '1' });
    const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    try {
      for (let i = 0; i < 2; i++) await fetch(`http://127.0.0.1:${port}/counter`);
      await cli.waitFor(/disagrees/);
    } finally {
      cli.child.kill('SIGINT');
    }
    expect(await cli.exited).toBe(3);
    expect(cli.stderr()).toContain(`replicode: ${esc}31mreplica 2 disagrees with the others${esc}39m after batch`);
  });
});

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

describe.skipIf(!hasTmux)('tui in a terminal (tmux)', () => {
  it('shows its loading line at once, before Ink loads, and erases it before the first frame', async () => {
    const traces = threeTraces();
    const dir = tempDir();
    const [err, exit] = [join(dir, 'stderr'), join(dir, 'exit')];
    const session = `replicode-progress-${process.pid}`;
    // stderr to a file (forced on, as it is not a terminal); stdin and stdout are the pane's.
    const command = `${process.execPath} ${cliPath} tui ${traces.join(' ')} 2>${err}; echo $? > ${exit}; sleep 60`;
    spawnSync('tmux', ['new-session', '-d', '-s', session, '-x', '150', '-y', '40', '-e', 'CI=true', '-e', 'REPLICODE_PROGRESS=1', command]);
    const screen = () => spawnSync('tmux', ['capture-pane', '-t', session, '-p'], { encoding: 'utf8' }).stdout;
    try {
      for (let i = 0; i < 100 && !screen().includes('first divergence'); i++) await new Promise((r) => setTimeout(r, 100));
      expect(screen()).toContain('first divergence');
      const written = readFileSync(err, 'utf8');
      expect(written.startsWith('\rloading 3 traces...\x1b[K')).toBe(true);
      expect(written.endsWith('\r\x1b[K')).toBe(true);
      spawnSync('tmux', ['send-keys', '-t', session, 'q']);
      for (let i = 0; i < 50 && !existsSync(exit); i++) await new Promise((r) => setTimeout(r, 100));
      expect(readFileSync(exit, 'utf8').trim()).toBe('0');
    } finally {
      spawnSync('tmux', ['kill-session', '-t', session]);
    }
  }, 30_000);
});
