// wasi-threads through the CLI (runtime/sched/, docs/design.md "Threads"): one guest thread runs
// at a time and the turn passes at syscalls, wait/notify, exits and fuel quanta, so the guests in
// wasm_programs/wat/threads/ print the same thing in every run, record and replay; a deadlock is
// reported with its own exit code; the thread bound holds; replay follows the recorded schedule.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeCalls, pack, unpackAll } from '../dist/formats/index.js';
import { Scheduler, DeadlockError } from '../dist/runtime/index.js';
import { loadModel } from '../dist/tui/index.js';
import { programsDir, runCli, tamperTrace, tempDir } from './helpers.js';

const guest = (name: string) => join(programsDir, 'wat', 'threads', `${name}.wat`);
const deadlockExitCode = 131;

/** The chatter guest's lines in the scheduler's order: thread 0 spawns, each fd_write passes the turn. */
const chatterOutput = 't1 k0\nt1 k1\nt2 k0\nt1 k2\nt2 k1\nt3 k0\nt1 k3\nt2 k2\nt3 k1\nt1 k4\nt2 k3\nt3 k2\nt2 k4\nt3 k3\nt3 k4\ndone\n';

describe('wasi-threads guests run deterministically', () => {
  it('the racy counter prints the same total every run, and the same under record and replay', () => {
    const first = runCli(['run', guest('racy_counter')]);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^\d+\n$/);
    expect(runCli(['run', guest('racy_counter')]).stdout).toBe(first.stdout);
    const trace = join(tempDir(), 'racy.rct');
    const recorded = runCli(['record', '-o', trace, guest('racy_counter')]);
    expect(recorded.exitCode, recorded.stderr).toBe(0);
    expect(recorded.stdout).toBe(first.stdout);
    const replayed = runCli(['replay', trace]);
    expect(replayed.exitCode, replayed.stderr).toBe(0);
    expect(replayed.stdout).toBe(first.stdout);
  });

  it('the producer/consumer hands over 1..1000 through wait/notify: 500500 (V8 Liftoff included: waits are host calls)', () => {
    const r = runCli(['run', guest('producer_consumer')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('500500\n');
  });

  it('a deadlock is reported in one line naming the threads and addresses, with exit code 131, the same twice', () => {
    const line = 'replicode: deadlock: every thread waits: thread 0 on 0x0 (wait32), thread 1 on 0x4 (wait32)\n';
    for (let i = 0; i < 2; i++) {
      const r = runCli(['run', guest('deadlock')]);
      expect(r.exitCode).toBe(deadlockExitCode);
      expect(r.stderr).toBe(line);
      expect(r.stdout).toBe('');
    }
  });

  it('threads that make syscalls interleave in the scheduler\'s order; a quantum shorter than a line changes the order, the same way every run', () => {
    for (const extra of [[], ['--quantum', '1000000000']]) {
      const r = runCli(['run', ...extra, guest('chatter')]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toBe(chatterOutput);
    }
    const short = runCli(['run', '--quantum', '7', guest('chatter')]);
    expect(short.stdout).not.toBe(chatterOutput);
    expect(short.stdout.split('\n').sort()).toEqual(chatterOutput.split('\n').sort());
    expect(runCli(['run', '--quantum', '7', guest('chatter')]).stdout).toBe(short.stdout);
  });

  it('--max-threads bounds the threads alive at once: past it thread-spawn fails (the guest exits 1)', () => {
    // The racy counter needs 5 threads (main + 4) and exits 1 when a spawn fails.
    for (const [max, code] of [[3, 1], [4, 1], [5, 0]] as const) {
      const r = runCli(['run', '--max-threads', String(max), guest('racy_counter')]);
      expect(r.exitCode, `--max-threads ${max}: ${r.stderr}`).toBe(code);
    }
    const bad = runCli(['run', '--max-threads', '0', guest('racy_counter')]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/--max-threads/);
  });
});

describe('record and replay of a threaded guest', () => {
  it('the trace names each event\'s thread; replay follows the schedule; a tampered thread column diverges', () => {
    const trace = join(tempDir(), 'chatter.rct');
    const recorded = runCli(['record', '-o', trace, guest('chatter')]);
    expect(recorded.exitCode, recorded.stderr).toBe(0);
    expect(recorded.stdout).toBe(chatterOutput);
    const events = runCli(['inspect', '--events', trace]);
    expect(events.stdout.split('\n').slice(0, 3)).toEqual(['#0  thread 1  fd_write -> ok', '#1  thread 1  fd_write -> ok', '#2  thread 2  fd_write -> ok']);
    expect(events.stdout).toContain('#15  thread 0  fd_write -> ok');
    const lines = loadModel([trace]).events(0, 0, 3, null);
    expect(lines.map((l) => [l.event, l.thread, l.syscall])).toEqual([[0, 1, 'fd_write'], [1, 1, 'fd_write'], [2, 2, 'fd_write']]); // the TUI's list
    const summary = runCli(['inspect', trace]).stdout;
    expect(summary).toContain('threads(quantum=1000000)');
    expect(summary).toContain(', max threads 64');
    const replayed = runCli(['replay', trace]);
    expect(replayed.exitCode, replayed.stderr).toBe(0);
    expect(replayed.stdout).toBe(chatterOutput);
    expect(replayed.stderr).toContain('replay matches the recording: 16 events');

    const tampered = tamperTrace(trace, (v) => {
      if (v[0] === 2) (v[5] as Uint8Array)[2 * 4] = 3; // event 2 was thread 2's
    });
    const r = runCli(['replay', '-q', tampered]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('replay diverged at event 2: a different thread made the call');
  });

  it('the quantum is in the trace header: a replay switches where the recording did', () => {
    const trace = join(tempDir(), 'chatter-q7.rct');
    const run = runCli(['run', '--quantum', '7', guest('chatter')]);
    const recorded = runCli(['record', '--quantum', '7', '-o', trace, guest('chatter')]);
    expect(recorded.exitCode, recorded.stderr).toBe(0);
    expect(recorded.stdout).toBe(run.stdout);
    const replayed = runCli(['replay', trace]);
    expect(replayed.exitCode, replayed.stderr).toBe(0);
    expect(replayed.stdout).toBe(run.stdout);
    // Against the default quantum's schedule: diff names the first event another thread made.
    const other = join(tempDir(), 'chatter-default.rct');
    expect(runCli(['record', '-o', other, guest('chatter')]).exitCode).toBe(0);
    const diff = runCli(['diff', '--no-replay', other, trace]);
    expect(diff.exitCode).toBe(3);
    expect(diff.stdout + diff.stderr).toMatch(/first divergent event: \d+ .*: the same call made by another thread \(\d and \d\)/);
  });
});

describe('a threaded guest on a cluster', () => {
  it('three replicas run it; the output (the first replica\'s) is run\'s (no network input: no batch hashes to compare)', () => {
    const r = runCli(['cluster', '--replicas', '3', '--listen', '127.0.0.1:0=8080', guest('chatter')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(chatterOutput);
    expect(r.stderr).toContain('0 disagreement(s)');
  });
});

describe('the calls record\'s thread column', () => {
  const ids = new Uint8Array([5, 26, 26]);
  const results = new Uint8Array([0, 8, 0]);
  const fingerprints = new Uint32Array([1, 0xdeadbeef, 3]);
  const le = (values: number[]) => new Uint8Array(new Uint32Array(values).buffer);

  it('is written only when some event is not thread 0\'s, as msgpack would, and read back', () => {
    const single = encodeCalls(7, ids, results, fingerprints, new Uint32Array(3));
    expect(Buffer.from(single)).toEqual(Buffer.from(encodeCalls(7, ids, results, fingerprints))); // the bytes of every trace before threads
    const threaded = encodeCalls(7, ids, results, fingerprints, new Uint32Array([0, 2, 1]));
    expect(Buffer.from(threaded)).toEqual(Buffer.from(pack([2, 7, ids, results, le([1, 0xdeadbeef, 3]), le([0, 2, 1])])));
    const [value] = unpackAll(threaded) as unknown[][];
    const record = decodeRecord(value);
    expect(record.kind === 'calls' && [...record.threads!]).toEqual([0, 2, 1]);
    const [old] = unpackAll(single) as unknown[][];
    expect(decodeRecord(old)).not.toHaveProperty('threads');
  });

  it('of another length is refused', () => {
    expect(() => decodeRecord([2, 7, ids, results, le([1, 2, 3]), le([0, 2])])).toThrow(/thread column/);
  });
});

describe('the scheduler', () => {
  it('round robin in tid order from the thread after the current one; notify wakes the longest waiting first', () => {
    const s = new Scheduler(4);
    expect(s.spawn()).toEqual({ tid: 1, slot: 1 });
    expect(s.spawn()).toEqual({ tid: 2, slot: 2 });
    expect(s.switchTurn().tid).toBe(1);
    s.wait(8, false, -1n);
    expect(s.switchTurn().tid).toBe(2);
    s.wait(8, false, -1n);
    expect(s.switchTurn().tid).toBe(0);
    expect(s.notify(8, 1)).toBe(1);
    expect(s.switchTurn().tid).toBe(1); // woken first: it waited first
    expect(s.switchTurn().tid).toBe(0); // thread 2 still waits
    expect(s.spawn()).toEqual({ tid: 3, slot: 3 });
    expect(s.spawn()).toEqual({ errno: 6 }); // 4 alive: -EAGAIN
  });

  it('when every thread waits, the earliest timeout fires (virtual time); with none, a deadlock', () => {
    const s = new Scheduler(2);
    s.spawn();
    s.wait(4, false, 500n);
    expect(s.switchTurn().tid).toBe(1);
    s.wait(16, true, -1n);
    const woken = s.switchTurn();
    expect([woken.tid, woken.result, s.nowNs]).toEqual([0, 2, 500n]);
    s.wait(4, false, -1n);
    expect(() => s.switchTurn()).toThrow(DeadlockError);
    expect(() => s.switchTurn()).toThrow('deadlock: every thread waits: thread 0 on 0x4 (wait32), thread 1 on 0x10 (wait64)');
  });

  it('runs alone exactly when a switch would give the turn back to the current thread (a worker then yields without asking)', () => {
    const s = new Scheduler(3);
    expect(s.runsAlone()).toBe(true); // thread 0, the only thread
    s.spawn();
    expect(s.runsAlone()).toBe(false);
    s.wait(4, false, 100n); // thread 0 waits, with a timeout: it fires only when no thread can run
    expect(s.switchTurn().tid).toBe(1);
    expect(s.runsAlone()).toBe(true);
    expect(s.switchTurn().tid).toBe(1); // a yield alone keeps the turn, and time does not move
    expect(s.nowNs).toBe(0n);
    s.spawn();
    expect(s.runsAlone()).toBe(false);
    expect(s.switchTurn().tid).toBe(2);
  });
});

describe('wait and notify as host calls', () => {
  /** A threaded module whose _start is `body` (no other thread is spawned). */
  function mainOnly(body: string): string {
    const file = join(tempDir(), 'main_only.wat');
    writeFileSync(file, `(module
  (import "env" "memory" (memory 1 1 shared))
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (func (export "wasi_thread_start") (param i32 i32))
  (func (export "_start") ${body}))`);
    return file;
  }

  it('the memarg offset is part of the address; wait64 too', () => {
    const r = runCli(['run', mainOnly('(drop (memory.atomic.wait64 offset=8 (i32.const 8) (i64.const 0) (i64.const -1)))')]);
    expect(r.exitCode).toBe(deadlockExitCode);
    expect(r.stderr).toBe('replicode: deadlock: every thread waits: thread 0 on 0x10 (wait64)\n');
  });

  it('a value that differs returns 1 (not-equal), a timeout with no one to wake returns 2 (timed-out), notify with no waiter 0', () => {
    const exitWith = (expr: string) => runCli(['run', mainOnly(`(call $exit ${expr})`)]).exitCode;
    expect(exitWith('(memory.atomic.wait32 (i32.const 0) (i32.const 7) (i64.const -1))')).toBe(1);
    expect(exitWith('(memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const 1000))')).toBe(2);
    expect(exitWith('(i32.add (i32.const 40) (memory.atomic.notify (i32.const 0) (i32.const 5)))')).toBe(40);
  });

  it('--max-fuel counts each thread\'s own fuel: a spinning thread stops with exit 152, named', () => {
    const file = join(tempDir(), 'spinning_thread.wat');
    writeFileSync(file, `(module
  (import "env" "memory" (memory 1 1 shared))
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (func (export "wasi_thread_start") (param i32 i32) (loop $spin (br $spin)))
  (func (export "_start") (drop (call $spawn (i32.const 0))) (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1)))))`);
    for (let i = 0; i < 2; i++) {
      const r = runCli(['run', '--max-fuel', '100000', file]);
      expect(r.exitCode).toBe(152);
      expect(r.stderr).toContain('replicode: guest trapped: thread 1: fuel exhausted (--max-fuel)');
    }
  });

  it('an unaligned or out-of-bounds wait traps in the thread that made it', () => {
    const unaligned = runCli(['run', mainOnly('(drop (memory.atomic.wait32 (i32.const 2) (i32.const 0) (i64.const -1)))')]);
    expect(unaligned.exitCode).toBe(134);
    expect(unaligned.stderr).toContain('guest trapped: unaligned atomic');
    const outside = runCli(['run', mainOnly('(drop (memory.atomic.notify (i32.const 65536) (i32.const 1)))')]);
    expect(outside.exitCode).toBe(134);
    expect(outside.stderr).toContain('guest trapped: memory access out of bounds');
  });
});
