// The wasi-threads guests (wasm_programs/wat/threads/) that a deterministic thread scheduler is to
// run (docs/design.md, "Threads: designed, not built"). Today RepliCode refuses them by name;
// on real threads (tests/threads-harness.mjs, not deterministic) they do what they say: the racy
// counter loses updates, the producer/consumer hands over every number, the deadlock never ends.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { programsDir, repoRoot, runCli } from './helpers.js';

const guest = (name: string) => join(programsDir, 'wat', 'threads', `${name}.wat`);
const guests = ['racy_counter', 'producer_consumer', 'deadlock'];

/** The guest on real threads; `liftoff` false: TurboFan only (Node 20's Liftoff loses a local across wait32 in a loop). */
function onRealThreads(name: string, timeoutMs: number, liftoff = false): string {
  const args = [...(liftoff ? [] : ['--no-liftoff']), join(repoRoot, 'tests', 'threads-harness.mjs'), guest(name), String(timeoutMs)];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: timeoutMs + 20_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('wasi-threads guests', () => {
  it('RepliCode refuses each by name, before running anything (exit 1)', () => {
    for (const name of guests) {
      const r = runCli(['run', guest(name)]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toBe(`replicode: ${guest(name)} uses threads (it imports wasi.thread-spawn): RepliCode does not run wasi-threads modules yet\n`);
    }
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
