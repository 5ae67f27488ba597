// A threaded C guest through the CLI (wasm_programs/src/threads/mutex_counter.c): built by
// Debian's clang against the raw wasi.thread-spawn import with its own wasi_thread_start in
// assembly, 4 threads adding to a counter under a futex mutex and writing a line every 5,000
// adds. Under RepliCode's scheduler its output is the same in every run, record and replay;
// another --quantum changes the interleaving (the counter values in the lines), the same way
// every run, and never the total.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { programsDir, runCli, tempDir } from './helpers.js';

const guest = join(programsDir, 'build', 'mutex_counter.wasm');
const total = 'total 80000 (expected 80000)';

/** Its lines with the counter values taken out: which thread reached which count, sorted. */
const withoutCounts = (out: string) => out.split('\n').map((l) => l.replace(/, counter \d+$/, '')).sort();

describe('a threaded C guest (futex mutex, 4 threads)', () => {
  it('prints the same lines every run, each thread\'s four and the total', () => {
    const first = runCli(['run', guest]);
    expect(first.exitCode, first.stderr).toBe(0);
    const lines = first.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(17);
    expect(lines.at(-1)).toBe(total);
    for (let t = 0; t < 4; t++) expect(lines.filter((l) => l.startsWith(`thread ${t} (tid ${t + 1}): `))).toHaveLength(4);
    expect(runCli(['run', guest]).stdout).toBe(first.stdout);
  });

  it('record and replay give the run\'s output; replay matches', () => {
    const plain = runCli(['run', guest]).stdout;
    const trace = join(tempDir(), 'mutex.rct');
    const recorded = runCli(['record', '-o', trace, guest]);
    expect(recorded.exitCode, recorded.stderr).toBe(0);
    expect(recorded.stdout).toBe(plain);
    const replayed = runCli(['replay', trace]);
    expect(replayed.exitCode, replayed.stderr).toBe(0);
    expect(replayed.stdout).toBe(plain);
    expect(replayed.stderr).toContain('replay matches the recording: 17 events');
  });

  it('--quantum changes the interleaving, the same way every run, never the total', () => {
    const plain = runCli(['run', guest]).stdout;
    const outputs = ['3000', '20000'].map((q) => {
      const r = runCli(['run', '--quantum', q, guest]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(runCli(['run', '--quantum', q, guest]).stdout).toBe(r.stdout);
      return r.stdout;
    });
    expect(new Set([plain, ...outputs]).size).toBe(3);
    for (const out of outputs) {
      expect(out.trimEnd().split('\n').at(-1)).toBe(total);
      expect(withoutCounts(out)).toEqual(withoutCounts(plain));
    }
  });
});
