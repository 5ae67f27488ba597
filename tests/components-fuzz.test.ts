// A hostile WASI 0.2 component (wasm_programs/p2/p2_fuzz.c) calls every function RepliCode serves
// with raw core arguments: pointers and lengths past memory, strings that are not UTF-8, cases,
// flags and bools out of range, handles never made, dropped, or dropped twice. Through the CLI,
// each run ends with the guest's outcome (done, or a clean trap naming what was wrong): never
// exit 70, never a JavaScript stack, never a hang; and what records replays the same. Fixed seeds
// and counts keep it reproducible and within budget (about 40 s here, two runs at a time).
// REPLICODE_FUZZ_SEED explores other seeds by hand.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Script } from 'node:vm';
import { bindingsFile, guestFault, unmatchedPatches } from '../dist/runtime/p2/index.js';
import { inPairs, programsDir, runCliBounded, tempDir, type BoundedCliResult } from './helpers.js';

const fuzzer = join(programsDir, 'build', 'p2_fuzz.component.wasm');
const dir = tempDir('replicode-components-fuzz-');
const data = join(dir, 'data');
mkdirSync(data);
writeFileSync(join(data, 'a.txt'), 'hi\n');
const env = { ...process.env, REPLICODE_CACHE_DIR: join(dir, 'cache') };
/** What a CLI run may take at most before it counts as a hang (each takes about a second). */
const hangMs = 20_000;
const firstSeed = Number(process.env.REPLICODE_FUZZ_SEED ?? 1);
/** Calls per random run: a run stops at its first trap, long before that, or prints `done`. */
const callsPerRun = 200;

type CliResult = BoundedCliResult;
const cli = (args: string[]): Promise<CliResult> => runCliBounded(args, { hangMs, env, maxStdout: 1e6 });

/** RepliCode's own lines on stderr (the guest may write anything there first, through wasi:cli/stderr). */
const ownLines = (stderr: string) => [...stderr.matchAll(/replicode: [^\n]*/g)].map((m) => m[0]);

/** Ended as the guest made it end: done (0), a trap (134) reported in one line plus wasm frames. */
function expectGuestOutcome(what: string, r: CliResult): void {
  const context = `${what}\n${r.stdout.split('\n').slice(-3).join('\n')}\n${r.stderr.slice(-2000)}`;
  expect(r.signal, `hang or crash: ${context}`).toBeNull();
  expect(r.stderr, context).not.toContain('internal error');
  expect(r.stderr, context).not.toMatch(/\n\s+at .*(\.js|\.ts|node:)/);
  // wasi:cli/exit ends the run with the guest's own code: exit(err) is 1, exit-with-code N is N.
  const exit = /^#\d+ wasi:cli\/exit#(exit|exit-with-code) (-?\d+)$/.exec(r.stdout.trimEnd().split('\n').pop() ?? '');
  if (exit && r.exitCode !== 134) return expect(r.exitCode, context).toBe(exit[1] === 'exit' ? Number(exit[2] !== '0') : Number(exit[2]));
  expect(r.exitCode, context).not.toBe(70);
  expect([0, 134], context).toContain(r.exitCode);
  if (r.exitCode === 0) expect(r.stdout.endsWith('done\n'), context).toBe(true);
  if (r.exitCode === 134) {
    expect(ownLines(r.stderr)[0], context).toMatch(/^replicode: guest trapped: \S/);
    expect(r.stderr, context).toMatch(/wasm stack \(innermost first\):\n {2}#0 /);
  }
}

let traceCount = 0;
const run = (args: string[]) => ['run', '--dir', `${data}::/d`, fuzzer, '--', ...args];
const record = (trace: string, args: string[]) => ['record', '-o', trace, '--dir', `${data}::/d`, fuzzer, '--', ...args];

/**
 * Record and replay `args` (and first run them, with `withRun`): the guest's outcome each time,
 * the same output from run and record, a replay that matches. The records' (or runs') results.
 */
async function runRecordReplay(cases: { name: string; args: string[] }[], withRun: boolean): Promise<CliResult[]> {
  const runs = withRun ? await inPairs(cases.map((c) => () => cli(run(c.args)))) : [];
  runs.forEach((r, i) => expectGuestOutcome(`run ${cases[i]!.name}`, r));
  const traces = cases.map(() => join(dir, `${traceCount++}.rct`));
  const records = await inPairs(cases.map((c, i) => () => cli(record(traces[i]!, c.args))));
  records.forEach((r, i) => {
    expectGuestOutcome(`record ${cases[i]!.name}`, r);
    if (!withRun) return;
    expect(r.exitCode, cases[i]!.name).toBe(runs[i]!.exitCode);
    expect(r.stdout, cases[i]!.name).toBe(runs[i]!.stdout);
  });
  const replays = await inPairs(cases.map((_, i) => () => cli(['replay', '--quiet', traces[i]!])));
  replays.forEach((r, i) => {
    const context = `replay ${cases[i]!.name}\n${r.stderr.slice(-2000)}`;
    expect(r.signal, context).toBeNull();
    expect(r.exitCode, context).toBe(0);
    expect(r.stderr, context).toContain('replay matches the recording');
  });
  return withRun ? runs : records;
}

describe('a hostile component gets results, error-codes or a clean trap, never a host crash', () => {
  it('every patch of runtime/p2/guard.ts matches the bindings jco writes for the fuzzer (another jco fails here first)', async () => {
    const { transpile } = await import('@bytecodealliance/jco');
    const out = await transpile(readFileSync(fuzzer), { name: 'guest', instantiation: 'sync', noTypescript: true, base64Cutoff: 0 });
    const js = new TextDecoder().decode((out.files as unknown as Record<string, Uint8Array>)['guest.js']);
    expect(unmatchedPatches(js)).toEqual([]);
    expect(unmatchedPatches('')).toHaveLength(7);
  }, 60_000);

  it('random calls (fixed seeds): every run ends as the guest made it end, and replays', async () => {
    const filters = [[], [], [], [], [], [], ['wasi:filesystem'], ['wasi:io/'], ['wasi:sockets'], ['wasi:cli', 'wasi:clocks', 'wasi:random']];
    const cases = filters.map((f, i) => ({ name: `seed ${firstSeed + i} ${f.join(' ')}`, args: [String(firstSeed + i), String(callsPerRun), ...f] }));
    const runs = await runRecordReplay(cases, true);
    if (process.env.REPLICODE_FUZZ_VERBOSE) runs.forEach((r, i) => console.log(cases[i]!.name, r.exitCode, ownLines(r.stderr)[0]));
    // The runs reach far: many functions called, and traps of several kinds (each a lifting check).
    const called = new Set(runs.flatMap((r) => [...r.stdout.matchAll(/^#\d+ (\S+)/gm)].map((m) => m[1])));
    expect(called.size, [...called].join('\n')).toBeGreaterThanOrEqual(55);
    const traps = new Set(runs.map((r) => ownLines(r.stderr)[0]?.replace(/\d+/g, 'N')).filter(Boolean));
    expect(traps.size, [...traps].join('\n')).toBeGreaterThanOrEqual(6);
    if (process.env.REPLICODE_FUZZ_VERBOSE) console.log(called.size, [...traps]);
  }, 180_000);

  // What the fuzzer found, one call each (the `-` mode names a function and its raw arguments).
  const stdout = 'wasi:cli/stdout#get-stdout';
  const preopen = 'wasi:filesystem/preopens#get-directories res';
  const found: { name: string; steps: string[]; trap: RegExp | null }[] = [
    { name: 'a borrow of a handle never made', steps: ['wasi:filesystem/types#[method]descriptor.sync-data 7 res'], trap: /unknown Descriptor handle/ },
    { name: 'a method on a dropped handle', steps: [stdout, 'wasi:io/streams#[resource-drop]output-stream 1', 'wasi:io/streams#[method]output-stream.blocking-flush 1 res'], trap: /unknown OutputStream handle/ },
    { name: 'a drop past the end of the table', steps: ['wasi:io/streams#[resource-drop]output-stream 336464'], trap: /unknown handle index/ },
    { name: 'a preopen dropped twice', steps: [preopen, 'wasi:filesystem/types#[resource-drop]descriptor 1', 'wasi:filesystem/types#[resource-drop]descriptor 1'], trap: /unknown handle index/ },
    { name: 'a bool that is 2', steps: ['wasi:sockets/tcp-create-socket#create-tcp-socket 0 res', 'wasi:sockets/tcp#[method]tcp-socket.set-keep-alive-enabled 1 2 res'], trap: /a bool that is neither 0 nor 1/ },
    { name: 'an enum case out of range', steps: ['wasi:sockets/tcp-create-socket#create-tcp-socket 9 res'], trap: /invalid argument to a WASI 0\.2 call: invalid discriminant/ },
    { name: 'a result case out of range (exit)', steps: ['wasi:cli/exit#exit 5'], trap: /invalid argument to a WASI 0\.2 call/ },
    { name: 'a u8 out of range (exit-with-code 300)', steps: ['wasi:cli/exit#exit-with-code 300'], trap: /300 is not between 0 and 255/ },
    { name: 'a list<u8> past the end of memory', steps: [stdout, 'wasi:io/streams#[method]output-stream.write 1 end-8 64 res'], trap: /out of bounds memory access/ },
    { name: 'a list<u8> at a "negative" address', steps: [stdout, 'wasi:io/streams#[method]output-stream.write 1 -16 16 res'], trap: /out of bounds memory access/ },
    { name: 'a string that is not UTF-8', steps: [preopen, 'wasi:filesystem/types#[method]descriptor.open-at 1 0 buf+28 4 0 0 res'], trap: /not valid for encoding utf-8/ },
    { name: 'a string past the end of memory', steps: [preopen, 'wasi:filesystem/types#[method]descriptor.open-at 1 0 end-2 4 0 0 res'], trap: /out of bounds memory access/ },
    { name: 'a return area past the end of memory', steps: ['wasi:clocks/wall-clock#now end-4'], trap: /out of bounds memory access/ },
    { name: 'a poll of no pollables', steps: ['wasi:clocks/monotonic-clock#subscribe-duration 1000', 'wasi:io/poll#poll buf+64 0 res'], trap: /poll of an empty list/ },
    { name: 'a poll listing one pollable twice', steps: ['wasi:clocks/monotonic-clock#subscribe-duration 1000', 'wasi:clocks/monotonic-clock#subscribe-duration 5', 'wasi:io/poll#poll buf+64 3 res'], trap: null },
    { name: 'a poll listing a handle never made', steps: ['wasi:clocks/monotonic-clock#subscribe-duration 1000', 'wasi:io/poll#poll buf+64 4 res'], trap: /unknown Pollable handle/ },
    { name: 'a clock pollable 2^64-1 ns away', steps: ['wasi:clocks/monotonic-clock#subscribe-duration -1', 'wasi:io/poll#[method]pollable.block 1'], trap: null },
    {
      // The stream of an empty file, its descriptor dropped, then a.txt opened: the stream must
      // not read a.txt through the fd the kernel would otherwise have given again.
      name: 'a stream outliving its descriptor',
      steps: [preopen, 'wasi:filesystem/types#[method]descriptor.open-at 1 0 buf+6 3 1 3 res', 'wasi:filesystem/types#[method]descriptor.read-via-stream 2 0 res',
        'wasi:filesystem/types#[resource-drop]descriptor 2', 'wasi:filesystem/types#[method]descriptor.open-at 1 0 buf+1 5 0 1 res',
        'wasi:io/streams#[method]input-stream.blocking-read 1 10 res', '@list res+4', 'wasi:io/streams#[resource-drop]input-stream 1',
        'wasi:filesystem/types#[method]descriptor.read-via-stream 2 0 res', 'wasi:io/streams#[method]input-stream.blocking-read 1 10 res', '@list res+4'],
      trap: null,
    },
    { name: 'get-random-bytes of 2^60 bytes', steps: ['wasi:random/random#get-random-bytes 1152921504606846976 res'], trap: /get-random-bytes of \d+ bytes \(at most/ },
  ];

  it('what the fuzzer found, one case each: the trap it now is (or the result)', async () => {
    const runs = await inPairs(found.map((f) => () => cli(run(['-', ...f.steps]))));
    runs.forEach((r, i) => {
      const f = found[i]!;
      const context = `${f.name}\n${r.stdout}\n${r.stderr}`;
      expectGuestOutcome(f.name, r);
      if (f.name === 'a stream outliving its descriptor') expect(r.stdout.match(/^@list .*$/gm), context).toEqual(['@list []', '@list [104 105 10]']);
      if (f.trap === null) return expect(r.exitCode, context).toBe(0);
      expect(r.exitCode, context).toBe(134);
      expect(ownLines(r.stderr)[0], context).toMatch(f.trap);
      // The trap is reported at the call the guest made (the last line it printed).
      expect(r.stdout.trimEnd().split('\n').pop(), context).toContain(f.steps[f.steps.length - 1]!.split(' ')[0]!);
    });
  }, 180_000);

  it('a stream write whose return area is not in memory: the byte is written, then the store traps', async () => {
    // Our own code stores a stream write's ok when the return area is in memory (lowered.ts); one
    // outside it (past the end, or at a "negative" address) is left to jco's store, as before.
    const writes = ['wasi:io/streams#[method]output-stream.blocking-write-and-flush 1 buf+0 1 end', 'wasi:io/streams#[method]output-stream.write 1 buf+0 1 -4'];
    const runs = await inPairs(writes.map((w) => () => cli(run(['-', stdout, w]))));
    runs.forEach((r, i) => {
      const context = `${writes[i]}\n${r.stdout}\n${r.stderr}`;
      expect(r.exitCode, context).toBe(134);
      expect(ownLines(r.stderr)[0], context).toMatch(/out of bounds memory access in a WASI 0\.2 call/);
      // buf+0 holds '.': the call's line, then the one byte it wrote before the trap.
      expect(r.stdout, context).toMatch(/#\d+ wasi:io\/streams#\[method\]output-stream\.\S+ 1 \d+ 1 -?\d+\n\.$/);
    });
  }, 60_000);

  it('a few of them recorded and replayed: the trap (or the result) replays', async () => {
    const some = found.filter((f) => /past the end of the table|bool|UTF-8|twice|2\^64|outliving/.test(f.name));
    expect(some).toHaveLength(7);
    await runRecordReplay(some.map((f) => ({ name: f.name, args: ['-', ...f.steps] })), false);
  }, 180_000);
});

describe('a lifting error against an error of our own host code', () => {
  // The bindings run under bindingsFile, as instantiate.ts compiles them; `host` stands for one of
  // our functions that a direct (untracked) import calls.
  const bindings = new Script('(function (host) { return { lift(ptr, buffer) { return new DataView(buffer).getUint32(ptr); }, call() { return host(); } }; })', { filename: bindingsFile })
    .runInThisContext() as (host: () => unknown) => { lift(ptr: number, buffer: ArrayBuffer): number; call(): unknown };
  const caught = (f: () => unknown): Error => {
    try { f(); } catch (err) { return err as Error; }
    throw new Error('nothing thrown');
  };

  it('a RangeError thrown by a builtin the bindings called is the guest\'s (a trap)', () => {
    const err = caught(() => bindings(() => 0).lift(1 << 20, new ArrayBuffer(8)));
    expect(guestFault(err, new WeakSet())).toBeInstanceOf(WebAssembly.RuntimeError);
  });

  it('a TypeError thrown in our host function, called without jco\'s tracking, is ours (exit 70), not a trap', () => {
    const ours = () => (null as unknown as { x: number }).x;
    const err = caught(() => bindings(ours).call());
    expect(err).toBeInstanceOf(TypeError);
    expect(guestFault(err, new WeakSet())).toBeUndefined();
  });
});
