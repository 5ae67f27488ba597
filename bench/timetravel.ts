// Time travel (#12) figures for `npm run bench`, on three 1M-event traces of syscall_heavy (plain,
// a bit flip no call shows after event 600000, a clock skew at 700000): `replicode diff` cold (no
// index, an empty copy cache: the indexes are built) and warm (indexes on disk), through the CLI;
// `replicode index` and its size; `replay --from 900000` against a whole replay; the TUI's
// time-travel keys through its model. Wall clock, median of `repeats`. diff without snapshots
// (the "before", as a library: 15 s here, 31-42 s in the issue) runs only with BENCH_SLOW=1;
// otherwise the issue's figures stand in the results as the reference.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import type { LibraryDiffResult, TuiStepsResult } from './timetravel-child.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The bit flip's event: the first divergence every diff must name. */
const flippedAt = 600_000;
const iterations = '500000'; // two calls each: 1,000,005 events
const faults = [null, `bitflip@${flippedAt}:1024`, 'skew@700000:1000'];
const diffTargetColdMs = 15_000;
const diffTargetWarmMs = 3_000;
const diffGoalWarmMs = 1_000;
const tuiTargetMs = 300;
/** `diff` before snapshots, on these traces (issue #12), when BENCH_SLOW is not set. */
const referenceBeforeMs = { min: 31_000, max: 42_000, source: 'issue #12 (diff before snapshot indexes)' };

interface Run { ms: number; code: number | null; stdout: string; stderr: string }

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: performance.now() - t, code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}

function expectCode(what: string, r: Run, code: number): Run {
  if (r.code !== code) throw new Error(`bench: ${what} exited ${r.code}, not ${code}: ${r.stderr.trim().split('\n').at(-1) ?? ''}`);
  return r;
}

export interface DiffRun { ms: number; event: number | null; hook: number | null; hooks: number | null }
export interface TimeTravelBenchResult {
  events: number; traceBytes: number[]; flippedAt: number; repeats: number;
  /** The machine's 1-minute load average before and after (it is shared: read the figures with it). */
  loadAverage: { before: number; after: number };
  diff: {
    coldMs: number[]; coldMedianMs: number; coldTargetMs: number; warmMs: number[]; warmMedianMs: number; warmTargetMs: number; warmGoalMs: number;
    warmLibraryMs: number; meetsTargets: boolean; report: { event: number | null; hook: number | null; hooks: number | null };
    /** diffTraces with snapshots false, in a fresh process (BENCH_SLOW=1; else null), beside the issue's figure. */
    before: { measuredLibraryMs: number | null; reference: typeof referenceBeforeMs };
  };
  index: { coldMs: number; warmBuildMs: number[]; warmBuildMedianMs: number; bytes: number; snapshots: number; spacing: number | null };
  replay: { fullMs: number[]; fullMedianMs: number; fromEvent: number; resumedAt: number | null; fromMs: number[]; fromMedianMs: number };
  tui: TuiStepsResult & { targetMs: number; over: string[] };
}

export async function benchTimeTravel(root: string, repeats: number, slow: boolean): Promise<TimeTravelBenchResult> {
  const cli = join(root, 'bin', 'replicode.js');
  const wasm = join(root, 'wasm_programs', 'build', 'syscall_heavy.wasm');
  const loadBefore = loadavg()[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'replicode-timetravel-'));
  const caches: string[] = [];
  const freshCache = () => { const c = mkdtempSync(join(tmpdir(), 'replicode-copies-')); caches.push(c); return c; };
  try {
    const paths = ['plain', 'bitflip', 'skew'].map((n) => join(dir, `${n}.rct`));
    for (let i = 0; i < 3; i++) {
      const inject = faults[i] ? ['--inject', faults[i]!] : [];
      expectCode(`record ${paths[i]}`, await run('node', [cli, 'record', wasm, '-o', paths[i]!, ...inject, '--', iterations]), 0);
    }
    const dropIndexes = () => paths.forEach((p) => rmSync(`${p}.idx`, { force: true }));
    const diffOnce = async (cache: string): Promise<DiffRun> => {
      const r = expectCode('diff', await run('node', [cli, 'diff', '--json', ...paths], { REPLICODE_CACHE_DIR: cache }), 3);
      const report = JSON.parse(r.stdout) as { event: number | null; range: { hook: number; hooks: number } | null };
      if (report.event !== flippedAt) throw new Error(`bench: diff named event ${report.event}, not ${flippedAt}, as the first divergence`);
      return { ms: r.ms, event: report.event, hook: report.range?.hook ?? null, hooks: report.range?.hooks ?? null };
    };

    // diff, cold: no index, an empty copy cache each time.
    const cold: DiffRun[] = [];
    for (let i = 0; i < repeats; i++) {
      dropIndexes();
      cold.push(await diffOnce(freshCache()));
    }
    // diff, warm: the indexes the last cold run built, its copy cache.
    const warmCache = caches.at(-1)!;
    const warm: DiffRun[] = [];
    for (let i = 0; i < repeats; i++) warm.push(await diffOnce(warmCache));
    // The same, as a library in a fresh process (no node start-up, no CLI): with the indexes, and
    // (BENCH_SLOW=1) with every replay from event 0, today's code without snapshots.
    const child = async <T>(mode: string): Promise<T> => JSON.parse(expectCode(`timetravel-child ${mode}`,
      await run('node', [join(import.meta.dirname, 'timetravel-child.js'), mode, String(flippedAt), ...paths], { REPLICODE_CACHE_DIR: warmCache }), 0).stdout) as T;
    const warmLibraryMs = (await child<LibraryDiffResult>('diff')).ms;
    const beforeMs = slow ? (await child<LibraryDiffResult>('diff-no-snapshots')).ms : null;
    const [coldMedianMs, warmMedianMs] = [median(cold.map((r) => r.ms)), median(warm.map((r) => r.ms))];
    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    console.log(`time travel: diff of 3 traces of 1M events, first divergence #${cold[0]!.event} (hook ${cold[0]!.hook} of ${cold[0]!.hooks}): cold ${s(coldMedianMs)} (target < ${s(diffTargetColdMs)}), warm ${s(warmMedianMs)} (target < ${s(diffTargetWarmMs)}, goal ${s(diffGoalWarmMs)}; as a library ${s(warmLibraryMs)}), without snapshots ${beforeMs === null ? `${s(referenceBeforeMs.min)}-${s(referenceBeforeMs.max)} (issue #12; BENCH_SLOW=1 measures it)` : `${s(beforeMs)} as a library`}`);

    // replicode index of one trace: once with an empty copy cache, then rebuilt (--force) warm.
    const indexOnce = async (cache: string) => {
      const r = expectCode('index', await run('node', [cli, 'index', '--force', '--json', paths[0]!], { REPLICODE_CACHE_DIR: cache }), 0);
      return { ms: r.ms, ...(JSON.parse(r.stdout) as { bytes: number; snapshots: number; spacing: number | null }) };
    };
    const indexCold = await indexOnce(freshCache());
    const indexWarm = [];
    for (let i = 0; i < repeats; i++) indexWarm.push(await indexOnce(warmCache));
    const index = { coldMs: indexCold.ms, warmBuildMs: indexWarm.map((r) => r.ms), warmBuildMedianMs: median(indexWarm.map((r) => r.ms)),
      bytes: indexWarm[0]!.bytes, snapshots: indexWarm[0]!.snapshots, spacing: indexWarm[0]!.spacing };
    console.log(`time travel: replicode index of 1M events: ${s(index.warmBuildMedianMs)} (${s(index.coldMs)} with an empty copy cache), ${(index.bytes / 2 ** 20).toFixed(2)} MiB, ${index.snapshots} snapshots every ${index.spacing} events`);

    // replay --from 900000 against a whole replay, alternating.
    const fromEvent = 900_000;
    const replay = { fullMs: [] as number[], fromMs: [] as number[], resumedAt: null as number | null };
    for (let i = 0; i < repeats; i++) {
      replay.fullMs.push(expectCode('replay --quiet', await run('node', [cli, 'replay', '--quiet', paths[0]!], { REPLICODE_CACHE_DIR: warmCache }), 0).ms);
      const r = expectCode(`replay --from ${fromEvent}`, await run('node', [cli, 'replay', '--quiet', '--from', String(fromEvent), paths[0]!], { REPLICODE_CACHE_DIR: warmCache }), 0);
      replay.fromMs.push(r.ms);
      replay.resumedAt = Number(/resumed from the snapshot at event (\d+)/.exec(r.stderr)?.[1] ?? NaN);
    }
    const replayResult = { fullMs: replay.fullMs, fullMedianMs: median(replay.fullMs), fromEvent, resumedAt: replay.resumedAt, fromMs: replay.fromMs, fromMedianMs: median(replay.fromMs) };
    console.log(`time travel: replay --quiet of 1M events ${s(replayResult.fullMedianMs)}, replay --from ${fromEvent} (resumed at ${replayResult.resumedAt}) ${s(replayResult.fromMedianMs)}`);

    // The TUI's keys, every trace indexed (diff indexes only the two it compares).
    for (const p of paths) expectCode('index', await run('node', [cli, 'index', p], { REPLICODE_CACHE_DIR: warmCache }), 0);
    const steps = await child<TuiStepsResult>('tui');
    const over = steps.steps.filter((x) => x.ms >= tuiTargetMs).map((x) => `${x.key}: ${x.what} (${x.ms.toFixed(0)} ms)`);
    console.log(`time travel: tui on 3 traces, load ${steps.loadMs.toFixed(0)} ms; ${steps.steps.map((x) => `${x.key} ${x.ms.toFixed(0)} ms`).join(', ')} (target < ${tuiTargetMs} ms each; over: ${over.length}); opening an index ${steps.indexOpenMs.map((x) => x.toFixed(0)).join('/')} ms`);

    const meetsTargets = coldMedianMs < diffTargetColdMs && warmMedianMs < diffTargetWarmMs;
    return {
      events: steps.events, traceBytes: paths.map((p) => statSync(p).size), flippedAt, repeats, loadAverage: { before: loadBefore, after: loadavg()[0]! },
      diff: {
        coldMs: cold.map((r) => r.ms), coldMedianMs, coldTargetMs: diffTargetColdMs, warmMs: warm.map((r) => r.ms), warmMedianMs, warmTargetMs: diffTargetWarmMs, warmGoalMs: diffGoalWarmMs,
        warmLibraryMs, meetsTargets, report: { event: cold[0]!.event, hook: cold[0]!.hook, hooks: cold[0]!.hooks }, before: { measuredLibraryMs: beforeMs, reference: referenceBeforeMs },
      },
      index, replay: replayResult, tui: { ...steps, targetMs: tuiTargetMs, over },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    for (const c of caches) rmSync(c, { recursive: true, force: true });
  }
}
