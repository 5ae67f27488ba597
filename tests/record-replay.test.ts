// Record then replay, as users do it: every guest program with the real clock and OS entropy
// (so replay is right only if the trace is), from the trace alone, in another process and in a
// worker; and replays that must fail: a changed module, a tampered trace, a limit reached.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { replayTrace } from '../dist/replayer/index.js';
import { caseRecording, programCases, programsDir, runCli, stepsProgram, tamperTrace, tempDir, type ProgramCase } from './helpers.js';

/** Records a case through the CLI from a scratch copy of its module (and data), then deletes both. */
function recordCase(c: ProgramCase, extra: string[] = []) {
  const dir = tempDir();
  const { args, trace, cleanup } = caseRecording(c, dir, extra);
  const result = runCli(args, c.stdin);
  cleanup();
  return { trace, result, dir };
}

describe('record, then replay from the trace alone', () => {
  it.each(programCases().map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const { trace, result } = recordCase(c);
    expect(result.exitCode, result.stderr).toBe(c.exitCode);
    expect(result.stderr).toMatch(/replicode: recorded \d+ events/);

    const again = runCli(['replay', trace]);
    expect(again.exitCode, again.stderr).toBe(0); // it matches, whatever the guest's exit code
    if (c.exitCode !== 134) expect(again.stderr).toContain(`guest exit code ${c.exitCode}\n`);
    expect(again.stdout).toBe(result.stdout);
    expect(again.stderr).toMatch(/replay matches the recording/);

    const chunks: Buffer[] = [];
    const inWorker = await replayTrace({ tracePath: trace, onOutput: (stream, bytes) => { if (stream === 1) chunks.push(Buffer.from(bytes)); } });
    expect(inWorker.outcome.kind).toBe(c.exitCode === 134 ? 'trap' : 'exit');
    expect(Buffer.concat(chunks).toString('utf8')).toBe(result.stdout);
    expect(inWorker.stats?.checkpoints).toBeGreaterThan(0);
  });

  it('the real clock and OS entropy really are host inputs: two recordings differ, each replays itself', () => {
    const c = programCases().find((x) => x.name === 'random')!;
    const a = recordCase(c);
    const b = recordCase(c);
    expect(a.result.stdout).not.toBe(b.result.stdout);
    expect(runCli(['replay', a.trace]).stdout).toBe(a.result.stdout);
    expect(runCli(['replay', b.trace]).stdout).toBe(b.result.stdout);
  });

  it('replay --quiet verifies without output; --to stops at an event', () => {
    const c = programCases().find((x) => x.name === 'syscall_heavy')!;
    const { trace } = recordCase(c);
    const quiet = runCli(['replay', '--quiet', trace]);
    expect(quiet.exitCode).toBe(0);
    expect(quiet.stdout).toBe('');
    expect(quiet.stderr).toMatch(/matches the recording: 40\d\d\d events/);
    const partial = runCli(['replay', '-q', '--to', '1000', trace]);
    expect(partial.exitCode).toBe(0);
    expect(partial.stderr).toMatch(/stopped at event 1000.*1000 events, \d+ checkpoints verified/);
  });
});

const watProgram = (second: string) => stepsProgram('(call $say) (call $tick) (call $changed_here) (call $say)', `\n  (func $changed_here ${second})`);

describe('replay reports divergence at the right event, exit code 3', () => {
  it('a modified module: the first call that differs, with the guest stack', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'v1.wat'), watProgram('(call $tick)'));
    writeFileSync(join(dir, 'v2.wat'), watProgram('(call $say)'));
    const trace = join(dir, 'v1.rct');
    expect(runCli(['record', '-o', trace, join(dir, 'v1.wat')]).exitCode).toBe(0);
    const r = runCli(['replay', '--module', join(dir, 'v2.wat'), trace]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('is not the one recorded');
    expect(r.stderr).toContain('replay diverged at event 2: the guest made a different call');
    expect(r.stderr).toMatch(/expected: +clock_time_get/);
    expect(r.stderr).toMatch(/actual: +fd_write\(1, 1\)/);
    expect(r.stderr).toMatch(/#0 \$?say[\s\S]*#1 \$?changed_here[\s\S]*#2/);
  });

  /** Rewrites a trace, letting `mutate` change decoded msgpack values chunk by chunk. */
  it('a tampered input (a clock value): caught at the checkpoint right after that event', () => {
    const c = programCases().find((x) => x.name === 'clocks')!;
    const { trace } = recordCase(c, ['--checkpoint-every', '1']);
    let target = -1;
    const tampered = tamperTrace(trace, (v) => {
      if (v[0] === 4 && target < 0 && (v[1] as number) > 10) { // the first clock input after event 10
        target = v[1] as number;
        v[3] = (v[3] as bigint) + 5_000_000_000n;
      }
    });
    expect(runCli(['replay', '-q', trace]).exitCode).toBe(0);
    const r = runCli(['replay', '-q', tampered]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain(`replay diverged at event ${target}: state differs at checkpoint ${target}: memory`);
  });

  it('a tampered call record: caught exactly at that event', () => {
    const c = programCases().find((x) => x.name === 'line_count')!;
    const { trace } = recordCase(c);
    const tampered = tamperTrace(trace, (v) => {
      if (v[0] === 2) (v[4] as Uint8Array)[2 * 4] ^= 0xff; // fingerprint of event 2
    });
    const r = runCli(['replay', '-q', tampered]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('replay diverged at event 2: the guest called with different arguments');
    expect(r.stderr).toContain('checkpoints: none verified yet; next in the trace: #0');
  });

  // Deep in a batch, calls are checked on the boundary's fast path (the columns): a result or a
  // fingerprint that differs there is still caught at its event, and described.
  it('a tampered result or fingerprint deep in a batch: caught exactly at that event', () => {
    const c = programCases().find((x) => x.name === 'syscall_heavy')!;
    const { trace } = recordCase({ ...c, args: ['5000'] });
    expect(runCli(['replay', '-q', trace]).exitCode).toBe(0);
    const tamper = (field: 3 | 4, event: number) => tamperTrace(trace, (v) => {
      if (v[0] !== 2 || (v[1] as number) > event) return;
      const column = v[field] as Uint8Array;
      const at = (event - (v[1] as number)) * (field === 4 ? 4 : 1);
      if (at < column.length) column[at] ^= field === 4 ? 0xff : 8;
    });
    const result = runCli(['replay', '-q', tamper(3, 3001)]);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('replay diverged at event 3001: the call returned a different result');
    expect(result.stderr).toMatch(/expected: +fd_write -> (EBADF|BADF|8)/i);
    const args = runCli(['replay', '-q', tamper(4, 7000)]);
    expect(args.exitCode).toBe(3);
    expect(args.stderr).toContain('replay diverged at event 7000: the guest called with different arguments');
  });
});

describe('record --record-output', () => {
  // 100,000 writes: more output records than replay's look-ahead holds (65,536), which it once
  // queued for ever ("record replay needs is too far ahead").
  it('keeps every write as an output record; inspect lists them; replay, and replay --from through an index, match', () => {
    const c = programCases().find((x) => x.name === 'syscall_heavy')!;
    const { trace, result } = recordCase({ ...c, args: ['100000'] }, ['--record-output']);
    expect(result.exitCode).toBe(0);
    const summary = JSON.parse(runCli(['inspect', '--json', trace]).stdout);
    expect(summary.records.output.count).toBe(100_003); // a write per iteration, then those of the closing summary
    const listed = runCli(['inspect', '--events', '--kind', 'output', '--from', '5', '--limit', '2', trace]);
    expect(listed.stdout).toMatch(/stdout: 1 bytes/);
    const replay = runCli(['replay', '-q', trace]);
    expect(replay.stderr).toBe('replicode: replay matches the recording: 200005 events, 13 checkpoints verified, guest exit code 0\n');
    expect(replay.exitCode).toBe(0);
    expect(runCli(['index', trace]).exitCode).toBe(0);
    const from = runCli(['replay', '-q', '--from', '150000', trace]);
    expect(from.stderr).toMatch(/resumed from the snapshot at event \d+/);
    expect(from.exitCode).toBe(0);
  });
});

describe('inspect, and the trace size limit', () => {
  it('inspect summarizes (text and JSON) and lists events by kind', () => {
    const c = programCases().find((x) => x.name === 'clocks')!;
    const { trace } = recordCase(c, ['--checkpoint-every', '100']);
    const text = runCli(['inspect', trace]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/complete/);
    expect(text.stdout).toMatch(/module: +clocks\.wasm/);
    expect(text.stdout).toMatch(/inputs: +clock real, random os/);
    const summary = JSON.parse(runCli(['inspect', '--json', trace]).stdout);
    expect(summary.events).toBeGreaterThan(1000);
    expect(summary.calls.clock_time_get).toBeGreaterThan(1000);
    expect(summary.checkpoints.length).toBe(Math.floor(summary.events / 100) + 1);
    expect(summary.exit).toMatchObject({ outcome: 'exit', exitCode: 0 });
    expect(summary.records.clock.count).toBeGreaterThan(1000);
    const events = JSON.parse(runCli(['inspect', '--events', '--json', '--kind', 'clock', '--from', '5', '--limit', '3', trace]).stdout);
    expect(events.events).toHaveLength(3);
    for (const e of events.events) {
      expect(e.event).toBeGreaterThanOrEqual(5);
      expect(e.inputs[0]).toMatch(/^clock \d: \d+/);
    }
  });

  // A recording stopped at its size limit and closed properly is whole as far as it goes (policy
  // of issue 11): inspect and replay say where it was stopped and exit 0; once it was "incomplete", exit 1.
  it('recording stops cleanly at --max-trace-bytes; the trace is stopped, not incomplete: inspect and replay exit 0', () => {
    const c = programCases().find((x) => x.name === 'syscall_heavy')!;
    const { trace, result } = recordCase({ ...c, args: ['200000'] }, ['--max-trace-bytes', '20000', '--checkpoint-every', '100']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('recording stopped: trace reached its size limit of 20000 bytes');
    expect(readFileSync(trace).length).toBeLessThan(20000 + 1024);
    const inspected = runCli(['inspect', '--json', trace]);
    expect(inspected.exitCode).toBe(0);
    const summary = JSON.parse(inspected.stdout);
    expect(summary.complete).toBe(false);
    expect(summary.state).toBe('stopped');
    expect(summary.error).toBeNull();
    expect(summary.events).toBeGreaterThan(100);
    expect(summary.stopped).toBe(`recording stopped at its size limit after ${summary.events} events`);
    const text = runCli(['inspect', trace]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toContain(`stopped (recording stopped at its size limit after ${summary.events} events)`);
    const r = runCli(['replay', '-q', trace]);
    expect(r.stderr).toBe(`replicode: replay matches the recording up to where it was stopped (${summary.events} events); ${summary.events} events, ${summary.checkpoints.length} checkpoints verified\n`);
    expect(r.exitCode).toBe(0);
  });
});
