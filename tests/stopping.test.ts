// Output while a guest runs and when it is stopped, through the CLI: what a guest wrote reaches
// the host while the guest is still computing, survives every way of stopping it, and a guest
// writing into a closed pipe (`run ... | head -c 10`) is told so (EPIPE), in the recording too.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { maxOutputFrameBytes, OutputRingReader, OutputRingWriter, outputRingBuffer, outputRingBytes } from '../dist/runtime/index.js';
import { runCli, startCli, tempDir, type RunningCli } from './helpers.js';

const threeLines = 'line 1\nline 2\nline 3\n';
/** Writes three lines to stdout, then computes for ever (no syscall ever again). */
const writeThenLoop = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "line 1\\n")
  (data (i32.const 32) "line 2\\n")
  (data (i32.const 48) "line 3\\n")
  (func $line (param $at i32)
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (i32.const 7))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (call $line (i32.const 16))
    (call $line (i32.const 32))
    (call $line (i32.const 48))
    (loop $forever (br $forever))))`;

/** Writes "y\\n" until a write fails, then exits with that write's errno (EPIPE is 64). */
const yes = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "y\\n")
  (func (export "_start") (local $errno i32)
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 2))
    (loop $again
      (local.set $errno (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br_if $again (i32.eqz (local.get $errno))))
    (call $proc_exit (local.get $errno))))`;

const dir = tempDir();
const loopWat = join(dir, 'loop.wat');
const yesWat = join(dir, 'yes.wat');
writeFileSync(loopWat, writeThenLoop);
writeFileSync(yesWat, yes);

const started: RunningCli[] = [];
afterEach(() => { for (const cli of started.splice(0)) if (cli.child.exitCode === null) cli.child.kill('SIGKILL'); });
function start(args: string[]): RunningCli {
  const cli = startCli(args);
  started.push(cli);
  return cli;
}

/** Resolves once the child's stdout holds `text`; rejects after `ms` with what it holds. */
function stdoutShows(cli: RunningCli, text: string, ms = 8000): Promise<void> {
  return new Promise((resolve, reject) => {
    const look = () => {
      if (!cli.stdout().includes(text)) return;
      clearTimeout(timer);
      cli.child.stdout!.off('data', look);
      resolve();
    };
    const timer = setTimeout(() => {
      cli.child.stdout!.off('data', look);
      reject(new Error(`stdout after ${ms} ms: ${JSON.stringify(cli.stdout())}; stderr: ${cli.stderr()}`));
    }, ms);
    cli.child.stdout!.on('data', look);
    look();
  });
}

describe('output of a guest that never stops', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`run: the three lines arrive while it computes, and are all there after ${signal} (exit 130)`, async () => {
      const cli = start(['run', loopWat]);
      await stdoutShows(cli, threeLines);
      cli.child.kill(signal);
      expect(await cli.exited).toBe(130);
      expect(cli.stdout()).toBe(threeLines);
    });
  }

  it('record: the lines arrive while it computes, and are all there after SIGINT, the trace closed', async () => {
    const trace = join(dir, 'loop.rct');
    const cli = start(['record', '-o', trace, loopWat]);
    await stdoutShows(cli, threeLines);
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(130);
    expect(cli.stdout()).toBe(threeLines);
    expect(cli.stderr()).toContain('stopped; the traces are closed and readable up to the stop');
    expect(runCli(['inspect', trace]).exitCode).toBe(0);
  });

  it('replay --to: output up to the stop is all printed', () => {
    const trace = join(dir, 'hello.rct');
    const hello = join(dir, 'three.wat');
    writeFileSync(hello, writeThenLoop.replace('(loop $forever (br $forever))', ''));
    expect(runCli(['record', '-o', trace, hello]).stdout).toBe(threeLines);
    const r = runCli(['replay', '--to', '2', trace]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('line 1\nline 2\n');
  });
});

describe('writing into a closed pipe (run ... | head -c 10)', () => {
  /** Reads 10 bytes of the child's stdout, then closes our end, as `head -c 10` does. */
  async function headC10(cli: RunningCli): Promise<void> {
    await stdoutShows(cli, 'y\ny\ny\ny\ny\n');
    cli.child.stdout!.destroy();
  }

  it('run: the guest sees EPIPE on its next write and can stop (its exit code is the errno, 64)', async () => {
    const cli = start(['run', yesWat]);
    await headC10(cli);
    expect(await cli.exited).toBe(64);
  });

  it('record: EPIPE is the recorded result of that write; replay reproduces it wherever its own output goes', async () => {
    const trace = join(dir, 'yes.rct');
    const cli = start(['record', '-o', trace, yesWat]);
    await headC10(cli);
    expect(await cli.exited).toBe(64);
    const replay = runCli(['replay', '--quiet', trace]);
    expect(replay.stderr).toContain('replay matches the recording');
    expect(replay.exitCode).toBe(0);
    expect(replay.stderr).toContain('guest exit code 64');
    const events = runCli(['inspect', '--events', '--kind', 'fd_write', '--limit', '1000000', trace]).stdout.trimEnd().split('\n');
    expect(events.at(-1)).toMatch(/fd_write -> EPIPE$/);
    expect(events.filter((line) => /PIPE/i.test(line))).toHaveLength(1);
    // Replayed into an open pipe, the guest still stops where the recording did.
    const loud = runCli(['replay', trace]);
    expect(loud.exitCode).toBe(0);
    expect(loud.stderr).toContain('guest exit code 64');
    expect(loud.stdout).toMatch(/^(y\n)+$/);
  });
});

describe('the output ring between a guest worker and the main thread', () => {
  it('hands over every byte in order, stream by stream, across wrap-arounds and split frames', () => {
    const write = fc.record({ stream: fc.constantFrom(1 as const, 2 as const), length: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: maxOutputFrameBytes + 5000 })), take: fc.boolean() });
    fc.assert(fc.property(fc.array(write, { maxLength: 40 }), (writes) => {
      const shared = outputRingBuffer();
      const writer = new OutputRingWriter(shared);
      const reader = new OutputRingReader(shared);
      const sent: { stream: 1 | 2; bytes: Uint8Array }[] = [];
      const got: { stream: 1 | 2; bytes: Uint8Array }[] = [];
      let unread = 0;
      let n = 0;
      for (const w of writes) {
        const bytes = new Uint8Array(w.length);
        for (let i = 0; i < bytes.length; i++) bytes[i] = n++ & 0xff;
        // The test is both sides on one thread: take first rather than let the writer wait for room.
        if (w.take || unread + bytes.length + 64 > outputRingBytes / 2) { got.push(...reader.take()); unread = 0; }
        if (bytes.length > outputRingBytes / 2) continue;
        writer.write(w.stream, bytes);
        unread += bytes.length + 8;
        if (bytes.length > 0) sent.push({ stream: w.stream, bytes });
      }
      got.push(...reader.take());
      // Same bytes per stream, and the same order of stream switches.
      for (const stream of [1, 2] as const) {
        const joined = (xs: typeof got) => Buffer.concat(xs.filter((c) => c.stream === stream).map((c) => c.bytes));
        expect(joined(got).equals(joined(sent))).toBe(true);
      }
      const switches = (xs: { stream: number }[]) => xs.map((c) => c.stream).filter((s, i, all) => i === 0 || all[i - 1] !== s);
      expect(switches(got)).toEqual(switches(sent));
    }), { numRuns: 40, seed: 11 });
  });

  it('tells the writer a stream was closed, that stream only', () => {
    const shared = outputRingBuffer();
    const writer = new OutputRingWriter(shared);
    new OutputRingReader(shared).markClosed(1);
    expect([writer.closed(1), writer.closed(2)]).toEqual([true, false]);
  });
});
