// The wasi-threads guests (wasm_programs/wat/threads/) on real threads (tests/threads-harness.mjs,
// not deterministic): they do what they say, the racy counter loses updates, the producer/consumer
// hands over every number, the deadlock never ends. RepliCode runs them one thread at a time
// (tests/threads.test.ts); this file checks the guests themselves.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { programsDir, repoRoot, runCli, tempDir } from './helpers.js';

const guest = (name: string) => join(programsDir, 'wat', 'threads', `${name}.wat`);

/** The guest on real threads; `liftoff` false: TurboFan only (Node 20's Liftoff loses a local across wait32 in a loop). */
function onRealThreads(name: string, timeoutMs: number, liftoff = false): string {
  const args = [...(liftoff ? [] : ['--no-liftoff']), join(repoRoot, 'tests', 'threads-harness.mjs'), guest(name), String(timeoutMs)];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: timeoutMs + 20_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('wasi-threads guests', () => {
  it('RepliCode refuses a wasi-threads module that does not import its memory, by name (exit 1)', () => {
    const dir = tempDir();
    const file = join(dir, 'no_shared_memory.wat');
    writeFileSync(file, '(module (import "wasi" "thread-spawn" (func (param i32) (result i32))) (memory (export "memory") 1)'
      + ' (func (export "wasi_thread_start") (param i32 i32)) (func (export "_start")))');
    const r = runCli(['run', file]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`replicode: ${file} uses threads (it imports wasi.thread-spawn) but does not import its memory as env.memory (link with --import-memory --shared-memory)\n`);
  });

  it('the producer/consumer hands over 1..1000 through wait/notify: 500500', () => {
    expect(onRealThreads('producer_consumer', 10_000)).toBe('500500\nexit 0\n');
  });

  it('the racy counter ends with at most 4 x 1,000,000', () => {
    const m = /^(\d+)\nexit 0\n$/.exec(onRealThreads('racy_counter', 20_000));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(1_000_000);
    expect(Number(m![1])).toBeLessThanOrEqual(4_000_000);
  });

  it('the deadlock never ends: every thread waits', () => {
    expect(onRealThreads('deadlock', 1000)).toBe('timeout\n');
  });
});
