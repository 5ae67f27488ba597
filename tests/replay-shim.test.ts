// The replay shim (runtime/trace/replay-shim.ts): a generated wasm module that checks a one-thread
// replay's calls against a copy of the recorded batch and calls back into JS only for a mismatch,
// a batch's end or an exit due. Through the CLI, a replay on the shim (REPLICODE_TEST_REPLAY_PATH=
// shim, which fails unless the shim is engaged) and one on the JS path (=js) must give the same
// verdict, the same divergence report (event, reason, expected, actual, checkpoints, the guest's
// stack) and the same exit code; and the shim's own comparison takes exactly the calls formats/
// would find equal.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runCli, stepsProgram, tamperTrace, tempDir, type RunResult } from './helpers.js';
import { replayShim, ReplayWindow, replayWindowSlots } from '../dist/runtime/trace/replay-shim.js';
import { shimCalls } from '../dist/runtime/wasm-shim.js';
import { fingerprint, syscallId, type CallsRecord } from '../dist/formats/index.js';

/** The iteration at which the variant runs: its events (~5200) are deep in the second batch (4096 calls a batch), on the shim's path. */
const deepIteration = 2600;

/**
 * A guest that says one byte (fd_write) and reads the clock `iterations` times, and at iteration
 * `at` calls `$variant` 100 calls deep (a stack past Error.stackTraceLimit, 64 in the worker: both
 * paths must show as many of its frames).
 */
function guest({ variant = '(nop)', iterations = 3000, at = deepIteration } = {}): string {
  return stepsProgram(`(local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (i32.const ${iterations})))
      (call $say) (call $tick)
      (if (i32.eq (local.get $i) (i32.const ${at})) (then (call $deep (i32.const 100))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))`, `
  (func $variant ${variant})
  (func $deep (param $d i32)
    (if (local.get $d) (then (call $deep (i32.sub (local.get $d) (i32.const 1)))) (else (call $variant))))`, {
    said: 'x', saidBytes: 1, precision: 1000,
    imports: '\n  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))',
  });
}

const clock = (id: string, precision: string) => `(drop (call $clock (i32.const ${id}) (i64.const ${precision}) (i32.const 16)))`;
const write = (iovs: number) => `(drop (call $write (i32.const 1) (i32.const ${iovs}) (i32.const 1) (i32.const 8)))`;
/** poll_oneoff on one clock subscription (in memory: not in the fingerprint), of clock `id` with `flags` (1: an absolute time). */
const poll = (id: number, flags: number) => `(i32.store8 (i32.const 1008) (i32.const 0)) (i32.store (i32.const 1016) (i32.const ${id}))
    (i64.store (i32.const 1024) (i64.const 1000)) (i32.store16 (i32.const 1040) (i32.const ${flags}))
    (drop (call $poll (i32.const 1000) (i32.const 1100) (i32.const 1) (i32.const 1200)))`;

/** Records `recorded` (with `recordArgs`), then replays it with `replayed` as its module on both paths. */
function replayBoth(recorded: string, replayed: string | undefined, options: { recordArgs?: string[]; trace?: (path: string) => string } = {}) {
  const dir = tempDir();
  writeFileSync(join(dir, 'v1.wat'), recorded);
  const trace = join(dir, 'v1.rct');
  const rec = runCli(['record', ...(options.recordArgs ?? []), '-o', trace, join(dir, 'v1.wat')]);
  expect(rec.exitCode, rec.stderr).toBe(0);
  const args = ['replay', '-q'];
  if (replayed !== undefined) {
    writeFileSync(join(dir, 'v2.wat'), replayed);
    args.push('--module', join(dir, 'v2.wat'));
  }
  args.push(options.trace ? options.trace(trace) : trace);
  const js = runCli(args, '', repoRoot, { REPLICODE_TEST_REPLAY_PATH: 'js' });
  const shim = runCli(args, '', repoRoot, { REPLICODE_TEST_REPLAY_PATH: 'shim' });
  return { js, shim };
}

function expectSame({ js, shim }: { js: RunResult; shim: RunResult }, exitCode: number, text: RegExp): string {
  expect(js.exitCode, js.stderr).toBe(exitCode);
  expect(js.stderr).toMatch(text);
  expect(shim.stderr).toBe(js.stderr);
  expect(shim.stdout).toBe(js.stdout);
  expect(shim.exitCode).toBe(js.exitCode);
  return js.stderr;
}

describe('a replay on the shim and on the JS path: the same verdict, the same report', () => {
  it('a clean match', () => {
    expectSame(replayBoth(guest({ variant: clock('1', '5') }), undefined), 0, /replay matches the recording: 6\d\d\d events/);
  });

  it('a different call, deep in a batch and within the first one (before any batch was copied), with all 64 frames of a deep stack', () => {
    const deep = expectSame(replayBoth(guest(), guest({ variant: '(call $tick)' })), 3, /replay diverged at event 5202: the guest made a different call/);
    expect(deep).toMatch(/#0 \$?tick[\s\S]*#1 \$?variant[\s\S]*#2 \$?deep[\s\S]*more frames/);
    expectSame(replayBoth(guest({ at: 1 }), guest({ at: 1, variant: '(call $tick)' })), 3, /replay diverged at event 4: the guest made a different call/);
  });

  it('different i32 arguments (INT32_MAX against INT32_MIN)', () => {
    expectSame(replayBoth(guest({ variant: clock('2147483647', '0') }), guest({ variant: clock('-2147483648', '0') })), 3,
      /replay diverged at event 5202: the guest called with different arguments[\s\S]*actual: +clock_time_get\(-2147483648, 0\)/);
  });

  it('different i64 arguments: 2^53 against 2^53 + 2 diverge; 2^53 + 1, and 2^63 - 1 against -2^63, fold to the same fingerprint and match', () => {
    expectSame(replayBoth(guest({ variant: clock('1', '9007199254740992') }), guest({ variant: clock('1', '9007199254740994') })), 3,
      /replay diverged at event 5202: the guest called with different arguments/);
    expectSame(replayBoth(guest({ variant: clock('1', '9007199254740992') }), guest({ variant: clock('1', '9007199254740993') })), 0, /replay matches the recording/);
    expectSame(replayBoth(guest({ variant: clock('1', '9223372036854775807') }), guest({ variant: clock('1', '-9223372036854775808') })), 0, /replay matches the recording/);
  });

  it('a different result (an iovec out of memory: the pointer is not in the fingerprint)', () => {
    expectSame(replayBoth(guest({ variant: write(0) }), guest({ variant: write(65535) })), 3,
      /replay diverged at event 5202: the call returned a different result[\s\S]*expected: +fd_write -> E?SUCCESS[\s\S]*actual: +fd_write -> (EFAULT|FAULT)/i);
  });

  it("a checkpoint whose state differs (memory written without a call)", () => {
    expectSame(replayBoth(guest(), guest({ variant: '(i32.store (i32.const 200) (i32.const 7))' }), { recordArgs: ['--checkpoint-every', '1000'] }), 3,
      /replay diverged at event 5999: state differs at checkpoint 5: memory[\s\S]*checkpoints: #4 verified; next in the trace: #5/);
  });

  it('a divergence inside a kernel call the shim made (a different clock read), with all 64 frames of a deep stack', () => {
    const report = expectSame(replayBoth(guest({ variant: poll(1, 0) }), guest({ variant: poll(0, 1) }), { recordArgs: ['--clock', 'real'] }), 3,
      /replay diverged at event 5202: the guest read a different clock/);
    expect(report).toMatch(/#0 \$?variant[\s\S]*#1 \$?deep[\s\S]*more frames/);
  });

  it('a write whose recorded result is EPIPE (tampered, deep in a batch): refused in the replay as recorded, on both paths', () => {
    const pipe = (path: string) => tamperTrace(path, (v) => {
      const first = v[1] as number;
      if (v[0] === 2 && first <= 5000 && 5000 - first < (v[3] as Uint8Array).length) (v[3] as Uint8Array)[5000 - first] = 64; // PIPE
    });
    const report = expectSame(replayBoth(guest(), undefined, { recordArgs: ['--checkpoint-every', '1000'], trace: pipe }), 3,
      /replay diverged at event 5999: state differs at checkpoint 5: stdout/);
    expect(report).not.toContain('returned a different result');
  });

  it('a guest that exits early', () => {
    expectSame(replayBoth(guest(), guest({ iterations: deepIteration })), 3, /replay diverged at event 5199: the guest exited before the recording did/);
  });

  it('a trace cut short: replayed up to its end, on both paths alike', () => {
    const cut = (path: string) => {
      const bytes = readFileSync(path);
      const short = path.replace(/\.rct$/, '-cut.rct');
      writeFileSync(short, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      return short;
    };
    expectSame(replayBoth(guest({ iterations: 20000 }), undefined, { trace: cut }), 1, /incomplete|cut short/);
  });

  it('a guest importing one call twice (two names for fd_write): one function of each shim, record and replay', () => {
    const twice = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w1 (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w2 (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "hi\\n")
  (func (export "_start") (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 3))
    (drop (call $w1 (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (call $w2 (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`;
    expectSame(replayBoth(twice, undefined), 0, /replay matches the recording: 2 events/);
  });
});

describe("the replay shim's comparison", () => {
  type V = number | bigint;
  const seek = syscallId('fd_seek');
  const i64Edges = [0n, -1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 53n + 2n, 2n ** 63n - 1n, -(2n ** 63n), 0x0123456789abcdefn, -(2n ** 32n) - 1n];

  /** A window on `batch` and the shim over fake kernel imports that count what is called. */
  function shimOver(batch: CallsRecord, names: string[], errno = (_name: string) => 0) {
    const window = new ReplayWindow();
    const seen: string[] = [];
    const table = (kind: string) => Object.fromEntries(names.map((n) => [n, (..._args: V[]) => { seen.push(`${kind} ${n}`); return errno(n); }]));
    const host = { window, exitDue: (e: number) => { seen.push(`exitDue ${e}`); }, resync: () => { seen.push('resync'); } };
    const shim = replayShim(shimCalls(names)!, table('plain') as never, table('traced') as never, host);
    const pos = window.show(batch, 0);
    window.set(pos, window.count, window.count + 1);
    return { window, seen, call: (name: string, ...args: V[]) => (shim[name] as (...a: V[]) => number | undefined)(...args) };
  }

  const batchOf = (calls: { id: number; args: V[]; params: string; result?: number }[], threads?: number[]): CallsRecord => ({
    kind: 'calls', first: 0,
    ids: Uint8Array.from(calls.map((c) => c.id)),
    results: Uint8Array.from(calls.map((c) => c.result ?? 0)),
    fingerprints: Uint32Array.from(calls.map((c) => fingerprint(c.id, c.params, c.args))),
    ...(threads ? { threads: Uint32Array.from(threads) } : {}),
  });

  it('takes a call of the same id and fingerprint (i64 edges among them), and passes the arguments on', () => {
    const { window, seen, call } = shimOver(batchOf(i64Edges.map((v) => ({ id: seek, params: 'iIip', args: [3, v, 1, 0] }))), ['fd_seek']);
    i64Edges.forEach((v) => expect(call('fd_seek', 3, v, 1, 0)).toBe(0));
    expect(seen).toEqual(i64Edges.map(() => 'plain fd_seek'));
    expect(window.pos).toBe(i64Edges.length);
  });

  it("turns away, to the traced import, what formats/ would find different: an i64 whose f64 differs, an i32, another call; takes what folds the same", () => {
    const recorded = { id: seek, params: 'iIip', args: [3, 2n ** 53n, 1, 0] };
    const { window, seen, call } = shimOver(batchOf([recorded, recorded]), ['fd_seek', 'fd_tell']);
    call('fd_seek', 3, 2n ** 53n + 2n, 1, 0);
    call('fd_seek', 4, 2n ** 53n, 1, 0);
    call('fd_tell', 3, 0);
    expect(seen).toEqual(['traced fd_seek', 'resync', 'traced fd_seek', 'resync', 'traced fd_tell', 'resync']);
    expect(window.pos).toBe(0);
    call('fd_seek', 3, 2n ** 53n + 1n, 1, 0); // Number(2^53 + 1) is 2^53: the same fingerprint
    expect(seen.at(-1)).toBe('plain fd_seek');
    expect(window.pos).toBe(1);
  });

  it('calls exitDue with the errno when it is not the recorded result, and at the slot count due', () => {
    const calls = [0, 1, 2, 3].map(() => ({ id: seek, params: 'iIip', args: [3, 0n, 0, 0], result: 0 }));
    const { window, seen, call } = shimOver(batchOf(calls), ['fd_seek'], () => 8);
    expect(call('fd_seek', 3, 0n, 0, 0)).toBe(8);
    expect(seen).toEqual(['plain fd_seek', 'exitDue 8']);
    const due = shimOver(batchOf(calls), ['fd_seek']);
    due.window.set(0, 4, 3); // due once 3 slots are taken
    for (let i = 0; i < 4; i++) due.call('fd_seek', 3, 0n, 0, 0);
    expect(due.seen).toEqual(['plain fd_seek', 'plain fd_seek', 'plain fd_seek', 'exitDue 0', 'plain fd_seek', 'exitDue 0']);
    expect(window.pos).toBe(1);
  });

  it('takes nothing at or past limit, and a call without a result (proc_exit) returns nothing', () => {
    const exit = syscallId('proc_exit');
    const { window, seen, call } = shimOver(batchOf([{ id: exit, params: 'i', args: [7] }, { id: exit, params: 'i', args: [7] }]), ['proc_exit']);
    window.set(0, 1, 99);
    expect(call('proc_exit', 7)).toBeUndefined();
    expect(call('proc_exit', 7)).toBeUndefined();
    expect(seen).toEqual(['plain proc_exit', 'traced proc_exit', 'resync']);
  });

  it("shows a batch up to another thread's call, and a batch longer than the window in parts", () => {
    const one = { id: seek, params: 'iIip', args: [3, 0n, 0, 0] };
    const window = new ReplayWindow();
    const threaded = batchOf([one, one, one, one], [0, 0, 2, 0]);
    expect(window.show(threaded, 0)).toBe(0);
    expect(window.count).toBe(2);
    expect(window.show(threaded, 2)).toBe(0); // the other thread's call: an empty window there
    expect(window.count).toBe(0);
    expect(window.show(threaded, 3)).toBe(0);
    expect(window.count).toBe(1);
    const long = batchOf(Array.from({ length: replayWindowSlots + 10 }, (_, i) => ({ ...one, args: [i, 0n, 0, 0] })));
    expect(window.show(long, 0)).toBe(0);
    expect(window.count).toBe(replayWindowSlots);
    expect(window.show(long, 5)).toBe(5); // within the copy: not copied again
    expect(window.show(long, replayWindowSlots)).toBe(0);
    expect(window.start).toBe(replayWindowSlots);
    expect(window.count).toBe(10);
    expect(window.fingerprints[3]).toBe(long.fingerprints[replayWindowSlots + 3]);
  });
});
