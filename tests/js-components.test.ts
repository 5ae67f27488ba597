// Components that are not adapted preview1 modules: JavaScript built with componentize-js
// (wasm_programs/js, `make -C wasm_programs js`). The command reads clocks and random through
// JavaScript's own Date, performance, Math.random and crypto, and writes and reads a file under
// its /data preopen with wasi:filesystem: its output is a function of --seed and --epoch alone.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { programsDir, runCli, tempDir } from './helpers.js';

const env = { REPLICODE_CACHE_DIR: tempDir('replicode-js-cache-') };
const command = join(programsDir, 'build', 'js_command.component.wasm');

/** A /data directory holding one file, as the expected output shows it. */
function dataDir(): string {
  const dir = tempDir();
  writeFileSync(join(dir, 'existing.txt'), 'hello\n');
  return dir;
}
const run = (extra: string[], dir = dataDir()) => runCli(['run', ...extra, '--dir', `${dir}::/data`, command], '', undefined, env);

describe('a JavaScript command component (componentize-js)', () => {
  it('is under 15 MB, as committed', () => expect(statSync(command).size).toBeLessThan(15_000_000));

  it('prints what its expected output shows under --seed 7', () => {
    const r = run(['--seed', '7']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(readFileSync(join(programsDir, 'expected', 'js_command.txt'), 'utf8'));
  });

  it('prints the same for the same --seed and --epoch, and otherwise differs where it read them', () => {
    const a = run(['--seed', '3', '--epoch', '2024-05-06T07:08:09Z']);
    const b = run(['--seed', '3', '--epoch', '2024-05-06T07:08:09Z']);
    expect(a.exitCode, a.stderr).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    expect(a.stdout).toContain('wall clock: 2024-05-06T07:08:09.000Z');
    const lines = (s: string) => s.split('\n');
    const otherSeed = lines(run(['--seed', '4', '--epoch', '2024-05-06T07:08:09Z']).stdout);
    const differing = lines(a.stdout).filter((line, i) => line !== otherSeed[i]).map((line) => line.split(':')[0]);
    expect(differing).toEqual(['Math.random', 'crypto.getRandomValues', 'wrote and read /data/js-note.txt (40 bytes, end true)']);
    const otherEpoch = run(['--seed', '3', '--epoch', '2030-01-01T00:00:00Z']).stdout;
    expect(otherEpoch).toContain('wall clock: 2030-01-01T00:00:00.000Z');
    expect(otherEpoch.replaceAll('2030-01-01T00:00:00.000Z', 'T')).toBe(a.stdout.replaceAll('2024-05-06T07:08:09.000Z', 'T'));
  });

  it('writes its file into the snapshot of /data, and to disk only with --write-back', () => {
    const dir = dataDir();
    expect(run(['--seed', '7'], dir).exitCode).toBe(0);
    expect(existsSync(join(dir, 'js-note.txt'))).toBe(false);
    expect(run(['--seed', '7', '--write-back'], dir).exitCode).toBe(0);
    expect(readFileSync(join(dir, 'js-note.txt'), 'utf8')).toMatch(/^note \d+ at 2020-01-01T00:00:00.000Z\n$/);
  });

  it('without its /data preopen: fails with the error it threw (exit 1)', () => {
    const r = runCli(['run', command], '', undefined, env);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('hello from JavaScript');
    expect(r.stderr).toContain('no /data preopen');
  });

  it('records, and replays with the same output (past 8 MiB, the trace names the component by hash)', () => {
    const trace = join(tempDir(), 'js.rct');
    const dir = dataDir();
    const recorded = runCli(['record', '--seed', '7', '--dir', `${dir}::/data`, '-o', trace, command], '', undefined, env);
    expect(recorded.exitCode, recorded.stderr).toBe(0);
    expect(recorded.stderr).toMatch(/recorded \d+ events/);
    expect(recorded.stdout).toBe(readFileSync(join(programsDir, 'expected', 'js_command.txt'), 'utf8'));
    const without = runCli(['replay', trace], '', undefined, env);
    expect(without.exitCode).toBe(1);
    expect(without.stderr.trim()).toBe('replicode: the trace does not embed its module (js_command.component.wasm); pass it with --module');
    for (let i = 0; i < 2; i++) {
      const replayed = runCli(['replay', '--module', command, trace], '', undefined, env);
      expect(replayed.exitCode, replayed.stderr).toBe(0);
      expect(replayed.stderr).toContain('replay matches the recording');
      expect(replayed.stdout).toBe(recorded.stdout);
    }
  });
});
