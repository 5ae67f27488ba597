// What the command line checks before a run, and what a guest's odd corners do: imports and
// _start typed against the syscall table, start functions that trap, write or exit, an --epoch
// the guest's clock cannot hold, and numeric options that are not numbers (issue 11, items 11-14).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { syscallTable } from '../dist/formats/index.js';
import { programsDir, runCli, tempDir } from './helpers.js';

const hello = join(programsDir, 'build', 'hello.wasm');
const dir = tempDir();

function wat(name: string, text: string): string {
  const file = join(dir, `${name}.wat`);
  writeFileSync(file, text);
  return file;
}

function expectOneLineError(result: { exitCode: number; stderr: string; stdout: string }, fragment: string) {
  expect(result.exitCode, result.stderr).toBe(1);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^replicode: /);
  expect(lines[0]).toContain(fragment);
}

/** A command that imports `fd_write` and `proc_exit` as given and writes "hi\n" from $body's call site. */
const command = (imports: string, body: string, extra = '') => `(module
  ${imports}
  (memory (export "memory") 1)
  (data (i32.const 16) "hi\\n") (data (i32.const 0) "\\10\\00\\00\\00\\03\\00\\00\\00")
  ${extra}
  (func (export "_start") ${body}))`;
const fdWrite = '(import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))';
const procExit = '(import "wasi_snapshot_preview1" "proc_exit" (func $e (param i32)))';
const writeHi = '(drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))';

describe('imports and _start are checked against what RepliCode provides, before the run', () => {
  const cases: [string, string, string][] = [
    ['fd_write with one parameter', command('(import "wasi_snapshot_preview1" "fd_write" (func $w (param i32) (result i32)))', '(drop (call $w (i32.const 1)))'),
      'imports wasi_snapshot_preview1.fd_write as (i32) -> (i32), but RepliCode provides (i32, i32, i32, i32) -> (i32)'],
    ['proc_exit as (i64, i64) -> (f64)', command('(import "wasi_snapshot_preview1" "proc_exit" (func $e (param i64 i64) (result f64)))', '(drop (call $e (i64.const 5) (i64.const 1)))'),
      'imports wasi_snapshot_preview1.proc_exit as (i64, i64) -> (f64), but RepliCode provides (i32) -> ()'],
    ['clock_time_get with an i32 where the table has an i64', command('(import "wasi_snapshot_preview1" "clock_time_get" (func $c (param i32 i32 i32) (result i32)))', ''),
      'clock_time_get as (i32, i32, i32) -> (i32), but RepliCode provides (i32, i64, i32) -> (i32)'],
    ['a memory imported from wasi_snapshot_preview1', '(module (import "wasi_snapshot_preview1" "fd_write" (memory 1)) (func (export "_start")))',
      'does not provide: wasi_snapshot_preview1.fd_write (a memory)'],
    ['a _start with a parameter', command('', '', '').replace('(func (export "_start") ', '(func (export "_start") (param i32) '),
      "its _start has type (i32) -> (); a WASI command's _start is () -> ()"],
    ['a _start with a result', command('', '(i32.const 0)').replace('(func (export "_start") ', '(func (export "_start") (result i32) '),
      '_start has type () -> (i32)'],
    ['a _start that is a global', '(module (memory (export "memory") 1) (global (export "_start") i32 (i32.const 0)))', 'has no _start export'],
    ['no memory export', '(module (memory 1) (func (export "_start")))', 'does not export its memory as "memory"'],
    ['a data segment past the initial memory', '(module (memory (export "memory") 0) (data (i32.const 16) "hi") (func (export "_start")))',
      "data segment 0 (2 bytes at 16) lies past the memory's initial 0 bytes"],
  ];
  it.each(cases)('%s: run and record refuse it with one line, and no trace is written', (name, text, fragment) => {
    const file = wat(name.replace(/\W+/g, '-'), text);
    expectOneLineError(runCli(['run', file]), fragment);
    const trace = join(dir, `${name.replace(/\W+/g, '-')}.rct`);
    expectOneLineError(runCli(['record', '-o', trace, file]), fragment);
    expect(existsSync(trace)).toBe(false);
  });

  it('accepts every syscall of the table imported with its own type, as C and Rust toolchains emit them', () => {
    const imports = syscallTable.filter(([name]) => name !== 'fd_write').map(([name, params]) => {
      const types = [...params].map((k) => (k === 'I' ? 'i64' : 'i32')).join(' ');
      return `(import "wasi_snapshot_preview1" "${name}" (func (param ${types})${name === 'proc_exit' ? '' : ' (result i32)'}))`;
    });
    const file = wat('every-syscall', command(`${fdWrite} ${imports.join(' ')}`, writeHi));
    expect(runCli(['run', file])).toMatchObject({ exitCode: 0, stdout: 'hi\n', stderr: '' });
  });

  it("accepts WasmEdge's shorter socket forms that share a name (V1 sock_accept, V2 sock_getlocaladdr)", () => {
    const file = wat('socket-forms', command(`${fdWrite}
      (import "wasi_snapshot_preview1" "sock_accept" (func $a (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "sock_getlocaladdr" (func $l (param i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "sock_recv_from" (func $r (param i32 i32 i32 i32 i32 i32 i32) (result i32)))`, writeHi));
    expect(runCli(['run', file])).toMatchObject({ exitCode: 0, stdout: 'hi\n', stderr: '' });
  });
});

describe("a module's start function is guest code like any other", () => {
  const start = (body: string, imports = `${fdWrite} ${procExit}`) => command(imports, '', `(func $s ${body}) (start $s)`);

  it('a trap in it is a guest trap (134) with its stack, in run, record and replay', () => {
    const file = wat('start-trap', start('(unreachable)'));
    const r = runCli(['run', file]);
    expect(r.exitCode).toBe(134);
    expect(r.stderr).toContain('guest trapped: unreachable');
    expect(r.stderr).toMatch(/#0 s \(func \d+/);
    const trace = join(dir, 'start-trap.rct');
    expect(runCli(['record', '-o', trace, file]).exitCode).toBe(134);
    const replay = runCli(['replay', trace]);
    expect(replay.exitCode).toBe(0); // it matches; --exit-code guest gives the trap's 134
    expect(replay.stderr).toContain('replay matches the recording (a trap, as recorded)');
    expect(runCli(['replay', '--exit-code', 'guest', trace]).exitCode).toBe(134);
  });

  it('fd_write from it reaches stdout, and the call is recorded and replayed', () => {
    const file = wat('start-write', start(writeHi));
    expect(runCli(['run', file])).toMatchObject({ exitCode: 0, stdout: 'hi\n', stderr: '' });
    const trace = join(dir, 'start-write.rct');
    const rec = runCli(['record', '-o', trace, file]);
    expect(rec.stdout).toBe('hi\n');
    expect(rec.stderr).toContain('recorded 1 events');
    const replay = runCli(['replay', trace]);
    expect(replay.exitCode, replay.stderr).toBe(0);
    expect(replay.stdout).toBe('hi\n');
  });

  it('proc_exit(5) in it exits 5 before _start runs', () => {
    const file = wat('start-exit', start('(call $e (i32.const 5))').replace('(func (export "_start") ', `(func (export "_start") ${writeHi}`));
    expect(runCli(['run', file])).toMatchObject({ exitCode: 5, stdout: '', stderr: '' });
    const trace = join(dir, 'start-exit.rct');
    expect(runCli(['record', '-o', trace, file]).exitCode).toBe(5);
    expect(runCli(['replay', trace]).exitCode).toBe(0);
    expect(runCli(['replay', '--exit-code', 'guest', trace]).exitCode).toBe(5);
  });
});

describe("--epoch must fit the guest's 64-bit nanosecond clock", () => {
  // Reads the realtime clock twice and exits with the second call's errno.
  const twoReads = wat('two-reads', command('(import "wasi_snapshot_preview1" "clock_time_get" (func $c (param i32 i64 i32) (result i32))) ' + procExit,
    '(drop (call $c (i32.const 0) (i64.const 1) (i32.const 64))) (call $e (call $c (i32.const 0) (i64.const 1) (i32.const 64)))'));

  it.each([['9999-12-31T23:59:59Z'], ['2600-01-01T00:00:00Z'], ['2554-07-21T23:34:34Z']])('%s is refused before anything is written', (epoch) => {
    const trace = join(dir, `epoch-${epoch.slice(0, 4)}.rct`);
    expectOneLineError(runCli(['record', '--epoch', epoch, '-o', trace, hello]), `--epoch ${epoch}: after 2554-07-21T23:34:33.709551615Z`);
    expect(existsSync(trace)).toBe(false);
    expectOneLineError(runCli(['run', '--epoch', epoch, hello]), 'the last instant');
  });

  it('the last nanosecond is accepted; a clock the run carries past it gives EOVERFLOW (61), not a wrapped time', () => {
    expect(runCli(['run', '--epoch', '2554-07-21T23:34:33.709551615Z', twoReads]).exitCode).toBe(61);
    expect(runCli(['run', '--epoch', '2554-07-21T23:34:33.709550Z', twoReads]).exitCode).toBe(0);
  });

  it.each([['2020-02-30'], ['2020-01-01T25:00:00Z'], ['Jan 1 2020'], ['2020-01-01T00:00:00+24:00'], ['1']])('%s is not an ISO date RepliCode accepts', (epoch) => {
    expectOneLineError(runCli(['run', '--epoch', epoch, hello]), `--epoch ${epoch}`);
  });
});

describe('numeric options: what is not a whole number in range gets one line, echoing what was typed', () => {
  it.each([
    [['run', '--max-memory', 'abc', hello], '--max-memory abc: expected a whole number from 1 to 4096'],
    [['run', '--max-memory', '1.5', hello], '--max-memory 1.5'],
    [['run', '--max-memory', '4097', hello], '--max-memory 4097'],
    [['record', '--checkpoint-every', 'abc', hello], '--checkpoint-every abc: expected a whole number >= 1'],
    [['record', '--checkpoint-every', '1e3', hello], '--checkpoint-every 1e3'],
    [['record', '--max-trace-bytes', '-5', hello], '--max-trace-bytes -5'],
    [['record', '--max-trace-bytes', '0x1000', hello], '--max-trace-bytes 0x1000'],
    [['record', '--seed', '18446744073709551616', hello], 'larger than 2^64-1'],
    [['record', '--inject', 'seed:18446744073709551616', hello], 'the seed is larger than 2^64-1'],
    [['record', '--inject', 'bitflip@1:100:1.5', hello], 'BIT 0 to 7'],
    [['record', '--inject', 'bitflip@1:-4', hello], 'bitflip@1:-4'],
    [['record', '--inject', 'drop@99999999999999999999', hello], 'is too large'],
    [['record', '--inject', 'skew@1:99999999999999999999999', hello], 'within 64 bits'],
    [['record', '--inject', 'skew@1:-5', hello], 'the clock only moves forward'],
    [['replay', '--to', 'ten', 'x.rct'], '--to ten'],
    [['inspect', '--limit', 'NaN', 'x.rct'], '--limit NaN'],
    [['inspect', '--from', '-1', 'x.rct'], '--from -1'],
    [['cluster', '--replicas', 'three', '--listen', '7000=80', hello], '--replicas three'],
    [['cluster', '--replicas', '16', '--listen', '7000=80', hello], '--replicas 16: expected a whole number from 1 to 15'],
    [['node', '--id', '4', '--replicas', '3', '--log', 'etcd', '--endpoints', 'http://127.0.0.1:1', '--listen', '7000=80', hello], '--id 4: expected a whole number from 1 to 3'],
  ])('%j', (args, fragment) => {
    expectOneLineError(runCli(args), fragment);
  });
});

describe('--inject bitflip addresses and memory', () => {
  const small = wat('small-memory', command(fdWrite, writeHi).replace('(memory (export "memory") 1)', '(memory (export "memory") 1 2)'));

  it("an address past the most memory the module can have is refused before recording (its own maximum, or --max-memory's)", () => {
    const trace = join(dir, 'flip-beyond.rct');
    expectOneLineError(runCli(['record', '--inject', 'bitflip@0:131072', '-o', trace, small]), 'the address is past the most memory');
    expect(existsSync(trace)).toBe(false);
    expectOneLineError(runCli(['record', '--inject', 'bitflip@0:99999999', '--max-memory', '64', '-o', trace, hello]), '(67108864 bytes, see --max-memory)');
  });

  it('an address the memory could grow to but has not is reported after the run; a fault never reached too', () => {
    const trace = join(dir, 'flip-later.rct');
    const r = runCli(['record', '--inject', 'bitflip@0:99999999', '--inject', 'drop@50', '-o', trace, hello]);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain("--inject bitflip@0:99999999 flipped nothing: address 99999999 is past the guest's memory (131072 bytes) after event 0");
    expect(r.stderr).toContain('--inject drop@50 never applied: the run ended after event 1');
    const inside = runCli(['record', '--inject', 'bitflip@0:65535', '-o', trace, small]);
    expect(inside.stderr).not.toContain('flipped nothing');
    const real = runCli(['record', '--clock', 'real', '--inject', 'skew@0:5000', '-o', trace, hello]);
    expect(real.stderr).toContain("--inject skew@0:5000 changed nothing: the guest reads the host's clock (--clock real)");
  });
});
