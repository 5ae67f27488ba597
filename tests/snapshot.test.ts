// Restorable snapshots of a replayed guest (runtime/snapshot/, replayer/timetravel.ts): every guest
// program, a machine with two processes per replica and the Rust guest are recorded, snapshots are
// taken every few events, and a replay resumed from each (a sample on long traces) must run to the
// recorded end: the same outcome, no divergence, every event and checkpoint counted, and the output
// after the snapshot exactly the recorded output's suffix. A snapshot of another run is refused by
// a divergence, not restored silently wrong. And the object-graph capture under the kernel's state.
// The snapshot copies of the modules are cached where users' are (REPLICODE_CACHE_DIR unset: the
// default ~/.cache/replicode), so a second run of this file skips binaryen.
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSnapshots, replayFromSnapshot, type MemorySnapshotStore, type ReplayResult, type SnapshotStore } from '../dist/replayer/index.js';
import { captureGraph, ClassRegistry, restoreGraph, SnapshotGraphError } from '../dist/runtime/snapshot/graph.js';
import { caseRecording, programCases, programsDir, runCliAsync, startCli, stepsProgram, tempDir, type ProgramCase } from './helpers.js';

const wasm = (name: string) => join(programsDir, 'build', `${name}.wasm`);

/** Records a case through the CLI (real clock, OS entropy: replay is right only if the trace is). */
async function recordCase(c: ProgramCase, checkpointEvery: number) {
  const { args, trace, cleanup } = caseRecording(c, tempDir(), ['--checkpoint-every', String(checkpointEvery)]);
  const result = await runCliAsync(args, c.stdin);
  cleanup(); // the module and the directory are gone: the replay has only the trace
  return { trace, result };
}

/** `count` positions spread over 0..length-1 (all of them when there are fewer), first and last included. */
function spread(length: number, count: number): number[] {
  if (length <= count) return Array.from({ length }, (_, i) => i);
  return [...new Set(Array.from({ length: count }, (_, i) => Math.round((i * (length - 1)) / (count - 1))))];
}

interface Recorded { events: number; checkpoints: number }

/** The numbers of a recording's last "recorded N events, M checkpoints" line for `trace`. */
function recordedCounts(stderr: string, trace?: string): Recorded {
  const lines = [...stderr.matchAll(/recorded (\d+) events, (\d+) checkpoints, \d+ bytes to (\S+)/g)].filter((m) => trace === undefined || m[3] === trace);
  const m = lines[lines.length - 1];
  if (!m) throw new Error(`no "recorded" line${trace ? ` for ${trace}` : ''} in: ${stderr}`);
  return { events: Number(m[1]), checkpoints: Number(m[2]) };
}

/** An outcome without what legitimately differs between two replays of one trace (none today). */
const outcomeOf = (r: ReplayResult) => r.outcome;

/**
 * Builds snapshots of `trace` every `every` events, then resumes from up to `samples` of them and
 * runs each to the end, checking it against the full replay that built them and the recording.
 */
async function resumeEachToTheEnd(trace: string, every: number, samples: number, recorded: Recorded, recordedStdout?: string): Promise<{ store: MemorySnapshotStore; full: ReplayResult; resumed: number }> {
  const { store, result: full } = await buildSnapshots(trace, every);
  expect(full.outcome.kind, JSON.stringify(full.outcome)).not.toBe('diverged');
  expect(full.stats).toMatchObject(recorded);
  const whole = { 1: Buffer.from(store.output(1, Number.MAX_SAFE_INTEGER)), 2: Buffer.from(store.output(2, Number.MAX_SAFE_INTEGER)) };
  if (recordedStdout !== undefined) expect(whole[1].toString('utf8')).toBe(recordedStdout);
  // Snapshots are taken every `every` events, from event 1 (a replay from event 0 needs none).
  expect(store.events.length).toBeGreaterThan(0);
  store.events.forEach((e, i) => { if (i > 0) expect(e - store.events[i - 1]!).toBe(every); });
  expect(store.events[store.events.length - 1]!).toBeLessThan(recorded.events);
  const picked = spread(store.events.length, samples);
  for (const [n, i] of picked.entries()) {
    const snapshot = store.snapshot(i);
    const earlierOutput = n % 2 === 1; // every other one asks for the output before the snapshot too
    const out: { 1: Buffer[]; 2: Buffer[] } = { 1: [], 2: [] };
    const r = await replayFromSnapshot(store, {
      tracePath: trace, fromEvent: snapshot.event, earlierOutput, quiet: false,
      onOutput: (stream, bytes) => { out[stream].push(Buffer.from(bytes)); },
    });
    const where = `${trace} resumed at event ${snapshot.event}`;
    expect(r.resumedAt, where).toBe(snapshot.event);
    expect(outcomeOf(r), where).toEqual(outcomeOf(full));
    expect(r.stats, where).toMatchObject(recorded);
    for (const stream of [1, 2] as const) {
      const expected = earlierOutput ? whole[stream] : whole[stream].subarray(stream === 1 ? snapshot.stdoutBytes : snapshot.stderrBytes);
      expect(Buffer.concat(out[stream]).toString('latin1'), `${where}, stream ${stream}`).toBe(expected.toString('latin1'));
    }
  }
  return { store, full, resumed: picked.length };
}

describe('a snapshot restored and run to the end gives exactly the recorded outputs and checkpoints', () => {
  const cases = programCases();
  // Every program recorded once, side by side, before the cases run.
  const recordings = Promise.all(cases.map((c) => recordCase(c, 3)));
  const names = cases.map((c) => c.name);
  const must = ['trap', 'files', 'kvstore', 'line_count', 'stdin_echo', 'random', 'clocks', 'wasi_steps'];
  it('covers the programs that matter for restoring state', () => {
    for (const name of must) expect(names).toContain(name);
  });

  it.each(cases.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
    const { trace, result } = (await recordings)[i]!;
    expect(result.exitCode, result.stderr).toBe(c.exitCode);
    const recorded = recordedCounts(result.stderr);
    // Short programs: a snapshot at every event (or every other); long ones: about 20 snapshots, 4 resumed.
    const every = recorded.events <= 60 ? 1 : recorded.events <= 400 ? 2 : Math.ceil(recorded.events / 20);
    const samples = recorded.events <= 400 ? 20 : 4;
    const { full, resumed } = await resumeEachToTheEnd(trace, every, samples, recorded, result.stdout);
    expect(full.outcome.kind).toBe(c.exitCode === 134 ? 'trap' : 'exit');
    expect(full.outcome.exitCode).toBe(c.exitCode);
    expect(resumed).toBeGreaterThan(0);
    if (recorded.events > 2) expect(resumed).toBeGreaterThan(1);
  });
});

/** Counts from `inspect --json` (a trace recorded by a cluster prints no "recorded" line per process). */
async function inspectedCounts(trace: string): Promise<Recorded> {
  const r = await runCliAsync(['inspect', '--json', trace]);
  expect(r.exitCode, r.stderr).toBe(0);
  const summary = JSON.parse(r.stdout) as { events: number; checkpoints: unknown[] };
  return { events: summary.events, checkpoints: summary.checkpoints.length };
}

/** Sends `text` on a connection of its own and waits for all of it to come back. */
function echoOnce(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = connect(port, '127.0.0.1', () => s.write(text));
    s.on('data', (d) => { got += d; if (got.length >= text.length) s.end(); });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

describe('servers: each process trace of a replicated machine, and the Rust guest', () => {
  it('a cluster of two replicas, each a proxy (pid 1) in front of an echo server (pid 2): every replica-N[.p2].rct resumes to its end', async () => {
    const { Cluster } = await import('../dist/consensus/index.js');
    const { compileModule, processConfig } = await import('../dist/runtime/index.js');
    const { readFileSync } = await import('node:fs');
    const dir = tempDir();
    const bytes = { proxy: readFileSync(wasm('proxy')), echo: readFileSync(wasm('echo_server')) };
    const cluster = await Cluster.start({
      replicas: 2, listen: [{ host: '127.0.0.1', port: 0, vport: 80 }], recordDir: dir, checkpointEvery: 4,
      processes: [
        { module: await compileModule(bytes.proxy, 'proxy.wasm'), moduleName: 'proxy.wasm', moduleBytes: bytes.proxy, config: processConfig({ args: ['proxy.wasm', '80', '10.77.0.2', '7'] }) },
        { module: await compileModule(bytes.echo, 'echo_server.wasm'), moduleName: 'echo_server.wasm', moduleBytes: bytes.echo, config: processConfig({ args: ['echo_server.wasm', '7'] }) },
      ],
    });
    try {
      const port = cluster.listening[0]!.port;
      for (let i = 0; i < 4; i++) expect(await echoOnce(port, `through the proxy ${i}\n`)).toBe(`through the proxy ${i}\n`);
      expect(cluster.disagreements).toEqual([]);
    } finally {
      await cluster.stop();
    }
    const traces = readdirSync(dir).filter((f) => f.endsWith('.rct')).sort();
    expect(traces).toEqual(['replica-1.p2.rct', 'replica-1.rct', 'replica-2.p2.rct', 'replica-2.rct']);
    for (const name of traces) {
      const trace = join(dir, name);
      const recorded = await inspectedCounts(trace);
      expect(recorded.checkpoints, name).toBeGreaterThan(2);
      const every = Math.max(1, Math.floor(recorded.events / 12));
      const { resumed } = await resumeEachToTheEnd(trace, every, 6, recorded);
      expect(resumed, name).toBeGreaterThan(2);
    }
  });

  it('the Rust echo server, recorded with two clients, resumes to its end from every snapshot sampled', async () => {
    const trace = join(tempDir(), 'rust.rct');
    const cli = startCli(['record', '--checkpoint-every', '5', '-o', trace, '--listen', '127.0.0.1:0=9090', wasm('rust_echo_server'), '--', '9090', '2']);
    const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+) for guest port 9090/))[1]);
    expect(await echoOnce(port, 'first client\n')).toBe('first client\n');
    expect(await echoOnce(port, 'second client, a longer line\n')).toBe('second client, a longer line\n');
    expect(await cli.exited).toBe(0);
    const recorded = recordedCounts(cli.stderr());
    const { full } = await resumeEachToTheEnd(trace, Math.max(1, Math.floor(recorded.events / 12)), 8, recorded, cli.stdout());
    expect(full.outcome).toEqual({ kind: 'exit', exitCode: 0 });
  });
});

describe('a snapshot whose state is not the recorded one is not restored silently wrong', () => {
  it('snapshots of one trace refuse to resume another (ReplaySetupError, no replay)', async () => {
    const d = tempDir();
    const [a, b] = [join(d, 'a.rct'), join(d, 'b.rct')];
    for (const [path, seed] of [[a, '7'], [b, '8']] as const) {
      expect((await runCliAsync(['record', '--seed', seed, '-o', path, join(programsDir, 'build', 'random.wasm')])).exitCode).toBe(0);
    }
    const { store } = await buildSnapshots(a, 1);
    expect(store.events.length).toBeGreaterThan(0);
    await expect(replayFromSnapshot(store, { tracePath: b, fromEvent: store.events.at(-1)!, onOutput: () => {} }))
      .rejects.toThrow(`the snapshots were taken of ${a}, not of ${b}: they cannot resume it`);
  });

  const program = stepsProgram('(call $say) (call $tick) (call $say) (call $tick) (call $say) (call $tick)');

  /** `store` as it would be read back with one memory byte flipped, or the earlier stdout altered. */
  function tampered(store: MemorySnapshotStore, what: 'memory' | 'stdout'): SnapshotStore {
    return {
      trace: store.trace,
      events: store.events,
      snapshot: (i) => store.snapshot(i),
      page: (hash) => {
        const bytes = store.page(hash);
        if (what !== 'memory') return bytes;
        const copy = Uint8Array.from(bytes);
        copy[1000]! ^= 0x10; // a byte the program never touches
        return copy;
      },
      output: (stream, length) => {
        const bytes = store.output(stream, length);
        if (what !== 'stdout' || stream !== 1 || length === 0) return bytes;
        const copy = Uint8Array.from(bytes);
        copy[0] = 'S'.charCodeAt(0);
        return copy;
      },
    };
  }

  it('a flipped memory byte or altered earlier output in a snapshot: a divergence at the first checkpoint after the resume', async () => {
    const { writeFileSync } = await import('node:fs');
    const dir = tempDir();
    writeFileSync(join(dir, 'steps.wat'), program);
    const trace = join(dir, 'steps.rct');
    const r = await runCliAsync(['record', '--checkpoint-every', '1', '-o', trace, join(dir, 'steps.wat')]);
    expect(r.exitCode, r.stderr).toBe(0);
    const { store } = await buildSnapshots(trace, 1);
    expect(store.events).toEqual([1, 2, 3, 4, 5]);
    for (const what of ['memory', 'stdout'] as const) {
      for (const event of store.events) {
        if (what === 'stdout' && store.snapshot(store.events.indexOf(event)).stdoutBytes === 0) continue;
        const resumed = await replayFromSnapshot(tampered(store, what), { tracePath: trace, fromEvent: event, onOutput: () => {} });
        const where = `${what}, resumed at ${event}`;
        expect(resumed.resumedAt, where).toBe(event);
        expect(resumed.outcome.kind, where).toBe('diverged');
        if (resumed.outcome.kind !== 'diverged') continue;
        expect(resumed.outcome.exitCode).toBe(3);
        // Checkpoints every event: the one after call `event` is the first the resumed replay checks.
        expect(resumed.outcome.divergence.event, where).toBe(event);
        expect(resumed.outcome.divergence.reason, where).toBe(`state differs at checkpoint ${event}: ${what}`);
      }
    }
    // Untampered, each resumes to the recorded end.
    for (const event of store.events) {
      const resumed = await replayFromSnapshot(store, { tracePath: trace, fromEvent: event, onOutput: () => {} });
      expect(resumed.outcome).toEqual({ kind: 'exit', exitCode: 0 });
    }
  });
});

// Classes for the graph tests: one registered, one not.
class Node {
  constructor(public name: string, public next: Node | null = null) {}
  describe(): string { return `node ${this.name}`; }
}
class Stranger { field = 1; }

describe('runtime/snapshot/graph.ts: the kernel state as bytes and back', () => {
  const classes = new ClassRegistry({ Node });
  const none = new Map<object, string>();
  const noEnv = new Map<string, object>();

  it('keeps cycles and shared references, in objects, arrays, Maps and Sets, and registered classes with their prototype', () => {
    const shared = { count: 3 } as { count: number; self?: unknown };
    shared.self = shared;
    const a = new Node('a');
    const b = new Node('b', a);
    a.next = b; // a cycle through two class instances
    const key = { k: 1 };
    const live = { one: shared, two: shared, list: [shared, a], map: new Map<unknown, unknown>([[key, shared], ['b', b]]), set: new Set([key]), big: 2n ** 70n, text: 'x', nothing: null, missing: undefined };
    const bytes = captureGraph({ live }, none, classes);
    const target: Record<string, unknown> = {};
    restoreGraph(bytes, { live: target }, noEnv, classes);
    const t = target as unknown as typeof live;
    expect(t.one).not.toBe(shared); // a copy...
    expect(t.one).toBe(t.two); // ...shared as the original was
    expect(t.one.self).toBe(t.one);
    expect(t.list[0]).toBe(t.one);
    const ra = t.list[1] as Node;
    expect(ra).toBeInstanceOf(Node);
    expect(ra.describe()).toBe('node a');
    expect(ra.next!.next).toBe(ra);
    expect(t.map.get('b')).toBe(ra.next);
    const [restoredKey] = [...t.set];
    expect(t.map.get(restoredKey)).toBe(t.one); // a Map key and a Set member: the same object
    expect([t.big, t.text, t.nothing, 'missing' in t, t.missing]).toEqual([2n ** 70n, 'x', null, true, undefined]);
  });

  it('copies a typed array exactly and alone: a view into a large buffer is stored as its own bytes', () => {
    const big = new Uint8Array(4 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = i / 4096;
    const view = big.subarray(8 * 4096 - 3, 8 * 4096 + 13); // 16 bytes around big[8 * 4096] = 8
    const words = new Uint32Array(big.buffer, 4096, 4); // [1, 0, 0, 0]
    const data = new DataView(big.buffer, 3 * 4096, 8);
    const live = { view, again: view, words, data, floats: Float64Array.of(0.1, -0, NaN, Infinity) };
    const bytes = captureGraph({ live }, none, classes);
    expect(bytes.length).toBeLessThan(1024);
    big[8 * 4096] = 99; // after the capture: the snapshot holds the value at capture time
    const target: Record<string, unknown> = {};
    restoreGraph(bytes, { live: target }, noEnv, classes);
    const t = target as unknown as typeof live;
    expect(t.view).toBeInstanceOf(Uint8Array);
    expect([...t.view]).toEqual([0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(t.view.byteLength).toBe(16);
    expect(t.again).toBe(t.view);
    expect(t.words).toBeInstanceOf(Uint32Array);
    expect([...t.words]).toEqual([1, 0, 0, 0]);
    expect(t.data).toBeInstanceOf(DataView);
    expect([t.data.byteLength, t.data.getUint8(0)]).toEqual([8, 3]);
    expect(Object.is(t.floats[1], -0) && Number.isNaN(t.floats[2]) && t.floats[3] === Infinity && t.floats[0] === 0.1).toBe(true);
  });

  it('refuses an unregistered class, a function or a symbol with SnapshotGraphError naming where it is', () => {
    const refuse = (live: object, path: RegExp) => {
      try {
        captureGraph({ live }, none, classes);
        expect.unreachable('captured');
      } catch (err) {
        expect(err).toBeInstanceOf(SnapshotGraphError);
        expect((err as Error).message).toMatch(path);
      }
    };
    refuse({ deep: { list: [1, new Stranger()] } }, /live\.deep\.list\[1\].*Stranger, not registered/);
    refuse({ callback: () => 1 }, /live\.callback: a function/);
    refuse({ node: new Node('n'), map: new Map([['k', { f: function named() {} }]]) }, /live\.map\[k\]\.f: a function/);
    refuse({ tag: Symbol('s') }, /live\.tag: a symbol/);
    refuse({ at: new Date(0) }, /Date, not registered/);
    // A class instance methods aside, its own function-valued field is refused too.
    const n = new Node('n') as Node & { hook?: () => void };
    n.hook = () => {};
    refuse({ n }, /live\.n\.hook: a function/);
  });

  it('a restore that names a class, root or environment object this run does not have is refused', () => {
    const bytes = captureGraph({ live: { n: new Node('n'), env: Math } }, new Map<object, string>([[Math, 'effects']]), classes);
    expect(() => restoreGraph(bytes, { live: {} }, new Map([['effects', {}]]), new ClassRegistry({}))).toThrow(SnapshotGraphError);
    expect(() => restoreGraph(bytes, { live: {} }, noEnv, classes)).toThrow(/refers to effects, which this run does not have/);
    expect(() => restoreGraph(bytes, { other: {} }, new Map([['effects', {}]]), classes)).toThrow(/holds root live, which this run does not have/);
  });

  it('restores roots in place: the live root objects keep their identity, references to them and to the environment are reconnected', () => {
    const kernel = { name: 'kernel', fds: [] as unknown[], effects: null as unknown };
    const table = { owner: kernel, entries: new Map<number, unknown>([[3, { kernel }]]) };
    kernel.fds.push(table);
    const effects = { real: true };
    kernel.effects = effects;
    const bytes = captureGraph({ kernel, table }, new Map<object, string>([[effects, 'effects']]), classes);
    // A new run: fresh live roots (the syscall tables' closures hold them) and its own environment.
    const liveKernel: Record<string, unknown> = { name: 'stale', extra: 'kept' };
    const liveTable: Record<string, unknown> = {};
    const newEffects = { real: false };
    restoreGraph(bytes, { kernel: liveKernel, table: liveTable }, new Map<string, object>([['effects', newEffects]]), classes);
    expect(liveKernel.name).toBe('kernel');
    expect(liveKernel.extra).toBe('kept'); // fields the snapshot does not name are left alone
    expect((liveKernel.fds as unknown[])[0]).toBe(liveTable); // the root itself, not a copy
    expect(liveTable.owner).toBe(liveKernel);
    expect(((liveTable.entries as Map<number, { kernel: unknown }>).get(3))!.kernel).toBe(liveKernel);
    expect(liveKernel.effects).toBe(newEffects);
  });
});
