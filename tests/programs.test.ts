// Every guest program in wasm_programs/ gives its expected output through the CLI, through a
// worker, and in-thread; and it does so byte for byte every time.
import { describe, expect, it } from 'vitest';
import {
  cliArgsFor, compileProgram, configFor, dataDirFor, expectedStdout, programCases, runCli,
  runInThread, runInWorker,
} from './helpers.js';

const cases = programCases();

describe('guest programs through the CLI', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const result = runCli(cliArgsFor(c, dataDirFor(c)), c.stdin);
    expect(result.exitCode, result.stderr).toBe(c.exitCode);
    const expected = expectedStdout(c);
    if (expected !== null) expect(result.stdout).toBe(expected);
    for (const fragment of c.stderrIncludes) expect(result.stderr).toContain(fragment);
  });
});

describe('guest programs through the library', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s: in-thread and in a worker agree with the expected output', async (_name, c) => {
    const module = await compileProgram(c.wasm);
    const inThread = runInThread(module, configFor(c, dataDirFor(c)), c.stdin);
    const inWorker = await runInWorker(module, configFor(c, dataDirFor(c)), c.stdin);
    expect(inThread.exitCode).toBe(c.exitCode);
    expect(inWorker.exitCode).toBe(c.exitCode);
    expect(inWorker.stdout).toBe(inThread.stdout);
    const expected = expectedStdout(c);
    if (expected !== null) expect(inThread.stdout).toBe(expected);
  });
});

describe('determinism', () => {
  const byName = (name: string) => {
    const c = cases.find((x) => x.name === name);
    if (!c) throw new Error(`no case ${name} in cases.json`);
    return c;
  };

  it('the same program run twice gives byte-identical output', async () => {
    for (const name of ['clocks', 'random', 'syscall_heavy']) {
      const c = cases.find((x) => x.name.startsWith(name))!;
      const module = await compileProgram(c.wasm);
      const first = runInThread(module, configFor(c, dataDirFor(c)), c.stdin);
      const second = runInThread(module, configFor(c, dataDirFor(c)), c.stdin);
      expect(second.stdout).toBe(first.stdout);
      expect(first.stdout.length).toBeGreaterThan(0);
    }
  });

  it('two worker threads running side by side give byte-identical output', async () => {
    const c = cases.find((x) => x.name.startsWith('clocks'))!;
    const module = await compileProgram(c.wasm);
    const [a, b] = await Promise.all([
      runInWorker(module, configFor(c, null), c.stdin),
      runInWorker(module, configFor(c, null), c.stdin),
    ]);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout.length).toBeGreaterThan(0);
  });

  it('a different --seed changes random output, the same seed repeats it', () => {
    const c = byName('random');
    const args = (seed: string) => ['run', '--seed', seed, `wasm_programs/${c.wasm}`];
    const seven = runCli(args('7'));
    const eight = runCli(args('8'));
    expect(seven.exitCode).toBe(0);
    expect(seven.stdout).not.toBe(eight.stdout);
    expect(runCli(args('7')).stdout).toBe(seven.stdout);
  });
});
