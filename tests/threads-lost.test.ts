// A wasi-threads thread whose worker cannot start, or stops before its thread ended, is a clean
// outcome, never a hang (runtime/sched/supervisor.ts): a worker that fails before it is online
// makes thread-spawn return -EAGAIN; one that fails after ends the process with exit 71 and one
// line naming the thread. The faults are made deterministic by the supervisor's test-only
// REPLICODE_TEST_THREAD_WORKER (`heap`: a heap too small to start; `throw`: a script that throws
// as it loads). A thread whose instantiation traps (a start function) is a trap of that thread.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { programsDir, runCli, tempDir } from './helpers.js';

const threadLostExitCode = 71;

/** _start spawns one thread: exits with -result if the spawn failed, else waits until the thread stores 1 at 0. */
const spawnOnce = `(module
  (import "env" "memory" (memory 1 1 shared))
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (export "memory" (memory 0))
  (func (export "wasi_thread_start") (param i32 i32)
    (i32.atomic.store (i32.const 0) (i32.const 1)) (drop (memory.atomic.notify (i32.const 0) (i32.const 1))))
  (func (export "_start") (local $r i32)
    (local.set $r (call $spawn (i32.const 0)))
    (if (i32.lt_s (local.get $r) (i32.const 0)) (then (call $exit (i32.sub (i32.const 0) (local.get $r)))))
    (loop $w (if (i32.eqz (i32.atomic.load (i32.const 0))) (then (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1))) (br $w))))
    (call $exit (i32.const 42))))`;

/** Its start function traps in every thread but the first (thread 0 marks memory before it spawns). */
const startTrapsInThreads = `(module
  (import "env" "memory" (memory 1 1 shared))
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (export "memory" (memory 0))
  (func $init (if (i32.atomic.load (i32.const 8)) (then unreachable)))
  (start $init)
  (func (export "wasi_thread_start") (param i32 i32))
  (func (export "_start")
    (i32.atomic.store (i32.const 8) (i32.const 1))
    (drop (call $spawn (i32.const 0)))
    (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1)))))`;

function guest(name: string, text: string): string {
  const file = join(tempDir(), `${name}.wat`);
  writeFileSync(file, text);
  return file;
}

describe('a thread whose worker fails ends cleanly, never hangs', () => {
  it('the guest itself runs: its thread stores, _start exits 42', () => {
    const r = runCli(['run', guest('spawn_once', spawnOnce)]);
    expect(r.exitCode, r.stderr).toBe(42);
  });

  it('a worker that cannot start (before it is online): thread-spawn returns -EAGAIN (-6) to the guest', () => {
    const r = runCli(['run', guest('spawn_once', spawnOnce)], '', undefined, { REPLICODE_TEST_THREAD_WORKER: 'heap' });
    expect(r.exitCode, r.stderr).toBe(6);
    expect(r.stderr).toBe('');
  });

  it('a worker that stops after thread-spawn succeeded: exit 71 and one line naming the thread, in run and record', () => {
    const env = { REPLICODE_TEST_THREAD_WORKER: 'throw' };
    const line = /^replicode: thread worker lost: thread 1 stopped before it ended \(test fault: the thread worker's script throws\)\n$/;
    const r = runCli(['run', guest('spawn_once', spawnOnce)], '', undefined, env);
    expect(r.exitCode).toBe(threadLostExitCode);
    expect(r.stderr).toMatch(line);
    const trace = join(tempDir(), 'lost.rct');
    const rec = runCli(['record', '-o', trace, guest('spawn_once', spawnOnce)], '', undefined, env);
    expect(rec.exitCode).toBe(threadLostExitCode);
    expect(rec.stderr.split('\n')[0] + '\n').toMatch(line);
    // The trace ends as a trap with code 71 would: a replay that loses the thread again matches;
    // one whose thread runs goes past the recording's end (a divergence, exit 3).
    expect(runCli(['inspect', trace]).stdout).toContain('exit:        trap with code 71 (thread worker lost: thread 1 stopped');
    const again = runCli(['replay', '-q', trace], '', undefined, env);
    expect(again.exitCode, again.stderr).toBe(0);
    const healthy = runCli(['replay', '-q', trace]);
    expect(healthy.exitCode).toBe(3);
    expect(healthy.stderr).toContain('the guest made a call after the recording ended');
  });

  it('the chatter guest, three threads, each lost: the first to get the turn is named', () => {
    const r = runCli(['run', join(programsDir, 'wat', 'threads', 'chatter.wat')], '', undefined, { REPLICODE_TEST_THREAD_WORKER: 'throw' });
    expect(r.exitCode).toBe(threadLostExitCode);
    expect(r.stderr).toMatch(/^replicode: thread worker lost: thread 1 stopped before it ended/);
    expect(r.stdout).toBe('');
  });

  it('instantiation that traps in a thread (its start function) is that thread\'s trap: exit 134, named', () => {
    const r = runCli(['run', guest('start_traps', startTrapsInThreads)]);
    expect(r.exitCode).toBe(134);
    expect(r.stderr).toMatch(/^replicode: guest trapped: thread 1: unreachable/);
  });

  it('--help lists exit code 71', () => {
    expect(runCli(['--help']).stdout).toMatch(/ {2}71 +a thread's worker of a wasi-threads guest stopped before its thread ended/);
  });
});
