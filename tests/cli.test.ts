import { spawnSync } from 'node:child_process';
// `replicode run` as a user drives it: options, guest exit codes, traps, and one clear line
// with exit code 1 for every kind of bad input.
import { mkdirSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { programsDir, runCli, tempDir } from './helpers.js';

const build = (name: string) => join(programsDir, 'build', `${name}.wasm`);

function expectOneLineError(result: { exitCode: number; stderr: string; stdout: string }, fragment: string) {
  expect(result.exitCode).toBe(1);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^replicode: /);
  expect(lines[0]).toContain(fragment);
  expect(result.stderr).not.toMatch(/\n\s+at /); // no stack dump
}

describe('replicode run', () => {
  it('prints the greeting (the README quick start)', () => {
    const r = runCli(['run', 'wasm_programs/build/hello.wasm']);
    expect(r).toMatchObject({ exitCode: 0, stdout: 'Hello from RepliCode!\n', stderr: '' });
  });

  it('passes guest arguments after --, --env without inheriting the host environment, and --argv0', () => {
    const r = runCli(['run', '--env', 'A=1', '--env', 'B=x=y', '--argv0', 'prog', build('args_env'), '--', '--flag', 'two words']);
    expect(r.stdout).toBe('argc=3\nargv[0]=prog\nargv[1]=--flag\nargv[2]=two words\nenv: A=1\nenv: B=x=y\n');
  });

  it('--epoch moves the realtime clock; --seed changes randomness', () => {
    expect(runCli(['run', '--epoch', '2031-05-06T07:08:09Z', build('clocks')]).stdout).toContain('realtime: 2031-05-06 07:08:09 UTC');
    expect(runCli(['run', '--epoch', '2031-05-06', build('clocks')]).stdout).toContain('realtime: 2031-05-06 00:00:00 UTC');
    const a = runCli(['run', '--seed', '0x10', build('random')]).stdout;
    expect(a).toBe(runCli(['run', '--seed', '16', build('random')]).stdout);
    expect(a).not.toBe(runCli(['run', build('random')]).stdout);
  });

  it("feeds this process's stdin to the guest and returns the guest's exit code", () => {
    expect(runCli(['run', build('line_count')], 'a b\nc\n').stdout).toBe('lines=2 words=3 bytes=6\n');
    expect(runCli(['run', build('exit_code'), '--', '42']).exitCode).toBe(42);
  });

  it('a trap exits 134 with the message and the named wasm stack on stderr', () => {
    const r = runCli(['run', build('trap')]);
    expect(r.exitCode).toBe(134);
    expect(r.stdout).toBe('about to trap\n');
    expect(r.stderr).toMatch(/guest trapped: unreachable/);
    const frames = r.stderr.split('\n').filter((l) => /^\s+#\d/.test(l)).map((l) => l.trim().split(' ')[1]);
    expect(frames.slice(0, 4)).toEqual(['crash_here', 'level_two', 'level_one', 'main']);
  });

  it('--dir changes stay in memory unless --write-back is given', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'kv.db'), 'k\tv\n');
    const script = 'set new 1\nget k\n';
    const r = runCli(['run', '--dir', `${dir}::/data`, build('kvstore')], script);
    expect(r.stdout).toBe('ok\nv\n');
    expect(readFileSync(join(dir, 'kv.db'), 'utf8')).toBe('k\tv\n');
    runCli(['run', '--write-back', '--dir', `${dir}::/data`, build('kvstore')], script);
    expect(readFileSync(join(dir, 'kv.db'), 'utf8')).toBe('k\tv\nnew\t1\n');
    expect(readdirSync(dir).sort()).toEqual(['kv.db']);
  });

  it('--dir HOST without ::GUEST preopens the path as written', () => {
    const dir = tempDir();
    const r = runCli(['run', '--dir', dir, build('files'), '--', dir]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('done\n');
    expect(existsSync(join(dir, 'dir'))).toBe(false);
  });

  it('accepts a WAT text module', () => {
    expect(runCli(['run', 'wasm_programs/wat/hello.wat']).stdout).toBe('Hello from WAT!\n');
  });

  it('--max-memory: memory.grow fails past the limit, the same in replay; a module needing more at start is refused', () => {
    const dir = tempDir();
    // Grows one page at a time until memory.grow fails; exits with the number of pages it got.
    const grow = (initialPages: number) => `(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") ${initialPages})
  (func (export "_start") (local $n i32)
    (block $done (loop $more
      (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $more)))
    (call $exit (local.get $n))))`;
    writeFileSync(join(dir, 'grow.wat'), grow(1));
    writeFileSync(join(dir, 'big.wat'), grow(64));
    expect(runCli(['run', '--max-memory', '2', join(dir, 'grow.wat')]).exitCode).toBe(31); // 2 MiB = 32 pages, 1 to start
    const trace = join(dir, 'grow.rct');
    expect(runCli(['record', '--max-memory', '3', '-o', trace, join(dir, 'grow.wat')]).exitCode).toBe(47);
    const replay = runCli(['replay', trace]);
    expect(replay.exitCode, replay.stderr).toBe(0); // the limit travels in the trace: it matches
    expect(replay.stderr).toMatch(/replay matches the recording: \d+ events, \d+ checkpoints verified, guest exit code 47\n/);
    expect(runCli(['inspect', trace]).stdout).toContain('process:     pid 1, stdin from the machine\'s batches, memory limit 3 MiB');
    expectOneLineError(runCli(['run', '--max-memory', '2', join(dir, 'big.wat')]), 'needs 4 MiB of memory at start, more than the limit of 2 MiB');
    expectOneLineError(runCli(['run', '--max-memory', '0', join(dir, 'grow.wat')]), '--max-memory 0');
  });
});

describe('replicode run: bad input gets one clear line and exit code 1', () => {
  const dir = tempDir();
  const notWasm = join(dir, 'notes.txt');
  writeFileSync(notWasm, 'just some text\n');
  const component = join(dir, 'component.wasm');
  writeFileSync(component, Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]));
  const truncatedComponent = join(dir, 'truncated.wasm');
  writeFileSync(truncatedComponent, Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x05, 0x03]));
  const badWat = join(dir, 'bad.wat');
  writeFileSync(badWat, '(module (func (i32.frobnicate)))');
  const invalidWat = join(dir, 'invalid.wat');
  writeFileSync(invalidWat, '(module (func $f (result i32) (i32.add)))');
  const noStart = join(dir, 'lib.wat');
  writeFileSync(noStart, '(module (memory (export "memory") 1))');
  const foreignImport = join(dir, 'foreign.wat');
  writeFileSync(foreignImport, '(module (import "env" "magic" (func)) (memory (export "memory") 1) (func (export "_start")))');
  mkdirSync(join(dir, 'folder'));

  it.each([
    ['a missing file', ['run', join(dir, 'missing.wasm')], 'no such file'],
    ['a directory', ['run', join(dir, 'folder')], 'is a directory'],
    ['a text file', ['run', notWasm], 'not a WebAssembly module'],
    ['a component that is not a command', ['run', component], 'is a component but not a WASI command'],
    ['a truncated component', ['run', truncatedComponent], 'truncated.wasm is not a valid WebAssembly component: unexpected end-of-file at byte 10'],
    ['WAT with a syntax error', ['run', badWat], 'invalid WebAssembly text'],
    ['WAT that does not validate', ['run', invalidWat], 'not a valid WebAssembly module'],
    ['a module without _start', ['run', noStart], 'no _start export'],
    ['an import RepliCode lacks', ['run', foreignImport], 'env.magic'],
    ['an unknown option', ['run', '--frobnicate', build('hello')], 'frobnicate'],
    ['a bad --seed', ['run', '--seed', 'banana', build('hello')], '--seed banana'],
    ['a bad --epoch', ['run', '--epoch', 'yesterday', build('hello')], '--epoch yesterday'],
    ['a bad --env', ['run', '--env', 'NOEQUALS', build('hello')], '--env NOEQUALS'],
    ['a missing --dir', ['run', '--dir', join(dir, 'nope'), build('hello')], 'no such directory'],
    ['no module', ['run'], 'module'],
    ['no command', [], 'command'],
    ['an unknown command', ['frobnicate'], 'frobnicate'],
    ['replay of a missing trace', ['replay', join(dir, 'missing.rct')], 'missing.rct: no such file'],
    ['inspect of a directory', ['inspect', join(dir, 'folder')], 'is a directory'],
    ['diff of a missing trace', ['diff', join(dir, 'missing.rct'), join(dir, 'other.rct')], 'no such file'],
  ])('%s', (_what, args, fragment) => {
    expectOneLineError(runCli(args), fragment);
  });
});

describe('an error that escapes every handler', () => {
  it('a rejected promise nothing awaited, or a throw in a timer, is one line and exit 70, not a stack', () => {
    const failure = join(import.meta.dirname, '..', 'dist', 'cli', 'failure.js');
    for (const stray of ["Promise.reject(new Error('lost'))", "setTimeout(() => { throw new TypeError('lost'); })"]) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { catchStrays } from ${JSON.stringify(failure)}; catchStrays(); ${stray};`], { encoding: 'utf8' });
      expect(r.status, stray).toBe(70);
      expect(r.stderr, stray).toBe('replicode: internal error: lost (a bug in RepliCode; set REPLICODE_DEBUG=1 for details)\n');
    }
  });
});
