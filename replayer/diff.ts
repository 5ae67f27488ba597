// `replicode diff`: where do two or more traces of the same program part ways? Headers first,
// then the checkpoint chains (binary search: a chained hash agrees up to the first divergence and
// never after), then event by event up to that checkpoint (the call, its arguments' fingerprint,
// its result, the host inputs it got); if every event agrees, the difference is in state that
// no call has shown yet, and replaying both traces to events between the checkpoints narrows it
// to the first event after which guest memory differs. At that event both traces are replayed
// once more for the guest's stacks, the differing memory regions and the output around it.
import { diffLines } from 'diff';
import { memoryPageBytes, syscallName, TraceFormatError, type CheckpointRecord, type TraceReader, type TraceRecord } from '../formats/index.js';
import { describePages, describePass, differingComponents, differingPages, moduleKind, threadsPassOf, type PageRun, type WasmFrame } from '../runtime/index.js';
import { callBatchesOf, describeNetEvent, eventsOf, netEventKey, resultName, type CallsBatch, type CallView } from './events.js';
import { summarizeTrace, type TraceSummary } from './inspect.js';
import { ModuleNotEmbeddedError, openNamedTrace, openTrace, ReplaySetupError } from './replay.js';
import { openSnapshotIndex, type OpenedIndex } from './index-file.js';
import { nearestSnapshot, replayFromSnapshot, sameGuestState, type SnapshotStore } from './timetravel.js';
import { diffSource, formatDiffSource, type DiffSource } from './source.js';

export interface DiffSide {
  trace: string;
  syscall: string | null;
  result: string | null;
  fingerprint: string | null;
  inputs: string[];
  stack: WasmFrame[];
}

export interface DiffReport {
  /** Every trace whole and all agree. */
  agree: boolean;
  /**
   * `agree`; `diverge`: two traces part ways at an event both hold; `incomplete`: they agree as far
   * as they go, but a trace ends early (cut short: not a divergence); `stopped`: the same, but every
   * trace that ends early was stopped on purpose and closed properly (nothing is missing).
   */
  status: 'agree' | 'diverge' | 'incomplete' | 'stopped';
  /**
   * Traces that end early, cut short (`incomplete`) or stopped on purpose (`stopped`): why (one
   * line; with the byte offset when cut) and how many events they hold.
   */
  incomplete: { trace: string; state: 'incomplete' | 'stopped'; reason: string; events: number }[];
  traces: string[];
  headerDifferences: { field: string; values: string[] }[];
  /** Index of the first checkpoint whose chain differs (null: they all agree, or none has one). */
  checkpoint: number | null;
  /** What differs at that checkpoint, read from the two traces' checkpoint records (no replay). */
  checkpointState: CheckpointState | null;
  /** Traces outside the majority at that checkpoint (3 or more traces). */
  oddOneOut: string[];
  /** The first event that differs, or after which state differs. */
  event: number | null;
  /** Network deliveries (batches) the process had received before that event. */
  batch: number | null;
  reason: string;
  sides: DiffSide[];
  memoryRegions: { start: number; end: number }[];
  outputDiff: string | null;
  /** When only state differs: the instruction range where it starts (see narrowToRange). */
  range: InstructionRange | null;
  /** The stacks above in source terms (source.ts); null when nothing was replayed. */
  source: DiffSource | null;
}

/**
 * The state components whose hashes differ at the first divergent checkpoint and, when memory
 * differs and both checkpoints hold page hashes, the 64 KiB pages that differ (`regions`: the
 * same as byte ranges, end exclusive). `pages` null: a trace has no page hashes (an older trace).
 */
export interface CheckpointState {
  checkpoint: number;
  event: number;
  components: string[];
  pages: PageRun[] | null;
  regions: { start: number; end: number }[];
}

/**
 * Where, between two calls, guest state first differs, on the instruction clock (function
 * entries and loop iterations counted from the return of `afterEvent`; -1: from the start):
 * the same at hook `hook - 1` (0: right after the call returned) and different at hook `hook`
 * (`hooks + 1`: only at the next call). Between two hooks runs straight-line code only.
 */
export interface InstructionRange {
  afterEvent: number;
  hook: number;
  /** Hooks between the two calls (the smaller count of the two sides). */
  hooks: number;
  /** The guest's stack at the last point where state agrees, and at the first where it differs (first trace). */
  agreeingStack: WasmFrame[];
  differingStack: WasmFrame[];
  /** The same two stacks in the second trace compared (the odd one out, with three or more). */
  second: { trace: string; agreeingStack: WasmFrame[]; differingStack: WasmFrame[] };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function describeInput(r: TraceRecord): string {
  switch (r.kind) {
    case 'stdin': return r.status === 1 ? 'stdin EOF' : r.status === 2 ? 'stdin nothing ready' : `stdin ${r.data.length} bytes ${JSON.stringify(Buffer.from(r.data.subarray(0, 48)).toString('latin1'))}`;
    case 'clock': return `clock ${r.clockId} = ${r.value}`;
    case 'entropy': return `entropy ${hex(r.data.subarray(0, 16))}`;
    case 'net': {
      const onlyStdin = r.delivery.events.length > 0 && r.delivery.events.every((e) => e.kind === 'stdin' || e.kind === 'stdin-eof');
      return `${onlyStdin ? '' : 'network: '}${r.delivery.events.map((e) => describeNetEvent(e, 32)).join('; ') || 'tick'}`;
    }
    default: return r.kind;
  }
}

function inputKey(r: TraceRecord): string {
  switch (r.kind) {
    case 'stdin': return `stdin ${r.status} ${hex(r.data)}`;
    case 'clock': return `clock ${r.clockId} ${r.value}`;
    case 'entropy': return `entropy ${hex(r.data)}`;
    case 'net': return `net ${r.delivery.timeNs} ${r.delivery.events.map(netEventKey).join(',')}`;
    default: return r.kind;
  }
}

type EventView = CallView;

/** A trace's syscall events in order, with the host inputs each received (not output). */
function* callsOf(reader: TraceReader): Generator<EventView> {
  for (const view of eventsOf(reader)) {
    if (view.type !== 'call') continue;
    // Most events have no input: the view is passed on as it is (the scan reads millions).
    yield view.inputs.length === 0 || !view.inputs.some((r) => r.kind === 'output') ? view : { ...view, inputs: view.inputs.filter((r) => r.kind !== 'output') };
  }
}

function side(trace: string, e: EventView | undefined, stack: WasmFrame[] = []): DiffSide {
  return {
    trace, syscall: e ? syscallName(e.id) : null, result: e ? resultName(e.result) : null,
    fingerprint: e ? e.fingerprint.toString(16).padStart(8, '0') : null, inputs: e ? e.inputs.map(describeInput) : [], stack,
  };
}

/**
 * Replays a trace up to `event` (before that call), collecting output and the stop snapshot;
 * from the trace's nearest snapshot when `store` holds one that serves (timetravel.ts).
 */
async function replayTo(path: string, event: number, captureMemory = false, hooks?: { after: number; stopAt?: number; every?: number }, store?: SnapshotStore) {
  const out: Buffer[] = [];
  const { outcome } = await replayFromSnapshot(store, {
    tracePath: path, toEvent: event, captureMemory, ...(hooks ? { hooks } : {}), earlierOutput: true,
    onOutput: (stream, bytes) => { if (stream === 1) out.push(Buffer.from(bytes)); },
  });
  return { stdout: Buffer.concat(out).toString('utf8'), at: outcome.kind === 'stopped' ? outcome.at : undefined };
}

/**
 * State agrees after event `good` returned (-1: at the start) and differs before call `bad`.
 * Replays both traces with the instruction clock and binary-searches the hook at which state
 * first differs (each probe replays both from the start and stops at that hook).
 */
async function narrowToRange(pa: string, pb: string, good: number, bad: number, progress: (phase: string) => void, stores: (SnapshotStore | undefined)[] = []): Promise<InstructionRange> {
  progress(`diff: instruction search: counting hooks between events ${good} and ${bad}`);
  const [sa, sb] = stores;
  // With a snapshot to go by, the counting replay also notes the state and stack at every hook
  // (as many as hashing memory that often allows): the first that differs is then read off, no
  // bisection needed.
  const at = sa ? nearestSnapshot(sa, good) : -1;
  const every = at < 0 ? 0 : Math.min(maxHookPoints, Math.floor(hookPointsBudgetBytes / Math.max(1, sa!.snapshot(at).memoryBytes)));
  const counting = { after: good, ...(every >= minHookPoints ? { every } : {}) };
  const [ta, tb] = await Promise.all([replayTo(pa, bad, false, counting, sa), replayTo(pb, bad, false, counting, sb)]);
  const hooks = Math.min(ta.at?.hooks ?? 0, tb.at?.hooks ?? 0);
  const [pointsA, pointsB] = [ta.at?.hookPoints, tb.at?.hookPoints];
  if (pointsA && pointsB && pointsA.length >= hooks && pointsB.length >= hooks) {
    let agree = 0;
    while (agree < hooks && pointsA[agree]!.stateHash === pointsB[agree]!.stateHash) agree++;
    const hook = agree + 1; // the first hook where state differs; hooks + 1: only at the next call
    const ends = (points: typeof pointsA, last: WasmFrame[] | undefined) => ({
      agreeingStack: hook > 1 ? points[hook - 2]!.stack : [], differingStack: hook <= hooks ? points[hook - 1]!.stack : last ?? [],
    });
    return { afterEvent: good, hook, hooks, ...ends(pointsA, ta.at?.stack), second: { trace: pb, ...ends(pointsB, tb.at?.stack) } };
  }
  const probe = (hook: number) => Promise.all([replayTo(pa, bad, false, { after: good, stopAt: hook }, sa), replayTo(pb, bad, false, { after: good, stopAt: hook }, sb)]);
  let lo = 1;
  let hi = hooks + 1; // the first hook where state differs, in [1, hooks + 1]
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    progress(`diff: instruction search: hooks ${lo}..${Math.min(hi, hooks)} of ${hooks}`);
    const [a, b] = await probe(mid);
    if (a.at?.stateHash === b.at?.stateHash) lo = mid + 1; else hi = mid;
  }
  const agreeing = lo > 1 ? (await probe(lo - 1)).map((r) => r.at?.stack ?? []) : [[], []];
  const differing = lo <= hooks ? (await probe(lo)).map((r) => r.at?.stack ?? []) : [ta.at?.stack ?? [], tb.at?.stack ?? []];
  return {
    afterEvent: good, hook: lo, hooks, agreeingStack: agreeing[0]!, differingStack: differing[0]!,
    second: { trace: pb, agreeingStack: agreeing[1]!, differingStack: differing[1]! },
  };
}

function differingRegions(a: Uint8Array, b: Uint8Array, page = 4096, limit = 10): { start: number; end: number }[] {
  const regions: { start: number; end: number }[] = [];
  const n = Math.max(a.length, b.length);
  for (let at = 0; at < n && regions.length <= limit; at += page) {
    let differs = false;
    for (let i = at; i < Math.min(at + page, n); i++) if (a[i] !== b[i]) { differs = true; break; }
    if (!differs) continue;
    const last = regions[regions.length - 1];
    if (last && last.end === at) last.end = Math.min(at + page, n);
    else regions.push({ start: at, end: Math.min(at + page, n) });
  }
  return regions.slice(0, limit);
}

/** A line diff (`- ` first, `+ ` second, `  ` both) of the last `lines` lines of two outputs; null when equal. */
export function outputAround(a: string, b: string, lines = 12): string | null {
  if (a === b) return null;
  const tail = (s: string) => s.split('\n').slice(-lines).join('\n');
  return diffLines(tail(a), tail(b)).map((part) => part.value.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1)
    .map((l) => `${part.added ? '+' : part.removed ? '-' : ' '} ${l}`).join('\n')).filter(Boolean).join('\n');
}

export interface DiffOptions {
  /** Narrow a state-only divergence below the event, on the instruction clock (default true). */
  instructions?: boolean;
  /** Where the work is, for a progress line (called often: the caller throttles). */
  onProgress?: (phase: string) => void;
  /**
   * Replay to find the event where state starts to differ, the stacks and the output around it
   * (default true). False: the report holds only what the traces say (checkpoints, events).
   */
  replay?: boolean;
  /**
   * Use each trace's snapshot index (TRACE.rct.idx), building it when a state difference must be
   * narrowed and it is missing or unusable (default true). False: every replay starts at event 0.
   */
  snapshots?: boolean;
  /** One line about an index (rebuilt, or kept in memory because it cannot be written). */
  onNote?: (line: string) => void;
  /** The traces' summaries, when the caller has read them already (in the order of the paths). */
  summaries?: TraceSummary[];
  /**
   * The stacks, differing memory, output and source lines at the divergence (default true).
   * False: only where it is (event, batch, instruction range): what the TUI's `d` needs.
   */
  details?: boolean;
}

/** Checkpoint `number`'s record (read from the start: a trace is read in one pass anyway). */
function checkpointRecord(reader: TraceReader, number: number): CheckpointRecord | undefined {
  for (const { record } of reader.records()) if (record.kind === 'checkpoint' && record.number === number) return record;
  return undefined;
}

/** What differs at checkpoint `number` of two traces, straight from their records. */
function checkpointState(a: TraceReader, b: TraceReader, number: number): CheckpointState | null {
  const [ca, cb] = [checkpointRecord(a, number), checkpointRecord(b, number)];
  if (!ca || !cb) return null;
  const components = differingComponents(ca.digest, cb.digest);
  const pages = !components.includes('memory') ? [] : ca.pages && cb.pages ? differingPages(ca.pages, cb.pages) : null;
  const regions = (pages ?? []).map((r) => ({ start: r.first * memoryPageBytes, end: (r.last + 1) * memoryPageBytes }));
  return { checkpoint: number, event: ca.event, components, pages, regions };
}

/** The event scan reports its position every this many events. */
const scanProgressEveryEvents = 4096;

export async function diffTraces(paths: string[], options: DiffOptions = {}): Promise<DiffReport> {
  let report: DiffReport;
  try {
    report = await compareTraces(paths, options);
  } catch (err) {
    if (!(err instanceof ModuleNotEmbeddedError)) throw err;
    throw new ReplaySetupError(`${err.tracePath}: the trace does not embed its module (${err.moduleName}), so diff cannot replay it (only replay takes --module); diff --no-replay compares what the traces hold`);
  }
  if (options.details !== false && report.status === 'diverge' && report.sides.some((s) => s.stack.length > 0)) report.source = await sourceOf(report);
  return report;
}

/** The report's stacks in file and line, through the DWARF of the module each trace embeds. */
async function sourceOf(report: DiffReport): Promise<DiffSource> {
  const modules = report.sides.map((s) => {
    const o = openTrace(s.trace);
    try { return o.reader.header.module.bytes; } finally { o.close(); }
  });
  return diffSource(report.sides.map((s, i) => ({ trace: s.trace, stack: s.stack, module: modules[i] })), report.range);
}

async function compareTraces(paths: string[], asked: DiffOptions): Promise<DiffReport> {
  const opened = paths.map((p) => openNamedTrace(p));
  // A component's core modules and a threaded module are not instrumented (no snapshot copy, no
  // instruction clock): the divergence is found by plain replays, down to the event, and the
  // report says so.
  const plainOnly = opened.map((o) => {
    const { bytes, rewrite } = o.reader.header.module;
    return bytes != null && moduleKind(bytes) === 'component' ? 'a WASI 0.2 component' : threadsPassOf(rewrite ?? []) ? 'a wasi-threads module' : undefined;
  }).find((why) => why !== undefined);
  const options: DiffOptions = plainOnly ? { ...asked, instructions: false, snapshots: false } : asked;
  try {
    const progress = options.onProgress ?? (() => {});
    const given = options.summaries?.length === paths.length ? options.summaries : undefined;
    const summaries: TraceSummary[] = given ?? opened.map((o, i) => summarizeTrace(o.reader,
      (f) => progress(`diff: reading trace ${i + 1}/${paths.length} (${paths[i]}): ${Math.floor(f * 100)}%`)));
    // Damage means bytes no writer produced: nothing in such a trace can be trusted to compare.
    summaries.forEach((s, i) => {
      if (s.state === 'damaged') throw new TraceFormatError(`${paths[i]}: ${s.error!.replace(/ \(at byte \d+\)$/, '')}`, s.errorOffset!);
    });
    // A stopped trace ends early as a cut one does: compared as far as it goes, named for what it is.
    const cut = summaries.flatMap((s, i) => (s.state === 'incomplete' || s.state === 'stopped'
      ? [{ trace: paths[i]!, state: s.state, reason: s.state === 'stopped' ? s.stopped! : s.error!, events: s.events }] : []));
    const report: DiffReport = {
      agree: true, status: 'agree', incomplete: cut, traces: paths, headerDifferences: [], checkpoint: null, checkpointState: null, oddOneOut: [], event: null, batch: null,
      reason: 'all traces agree', sides: [], memoryRegions: [], outputDiff: null, range: null, source: null,
    };
    const fields: [string, (s: TraceSummary, r: TraceReader) => string][] = [
      ['module', (s) => s.header.module.sha256], ['args', (s) => JSON.stringify(s.header.args)], ['env', (s) => JSON.stringify(s.header.env)],
      ['seed', (s) => s.header.seed], ['epoch', (s) => s.header.epoch], ['clock', (s) => s.header.clock], ['random', (s) => s.header.random],
      ['faults', (_s, r) => JSON.stringify(r.header.config.faults ?? [])],
      // The passes' options (--quantum, --max-fuel, --max-stack, NaNs) and the limits change what a guest does too.
      ['rewriting', (s) => s.header.rewrite.map(describePass).join(', ')],
      ['max memory', (s) => String(s.header.maxMemoryBytes)], ['max threads', (s) => String(s.header.maxThreads ?? '-')],
    ];
    for (const [field, get] of fields) {
      const values = summaries.map((s, i) => get(s, opened[i]!.reader));
      if (new Set(values).size > 1) report.headerDifferences.push({ field, values });
    }

    // The first checkpoint where the chains disagree.
    const chains = summaries.map((s) => s.checkpoints.map((c) => c.chain));
    const common = Math.min(...chains.map((c) => c.length));
    const sameAt = (i: number) => new Set(chains.map((c) => c[i])).size === 1;
    let lo = 0;
    let hi = common; // first index in [0, common) that differs, or common
    progress(`diff: checkpoint bisection over ${common} checkpoints`);
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sameAt(mid)) lo = mid + 1; else hi = mid;
    }
    const exits = summaries.map((s) => JSON.stringify(s.exit));
    const same = lo === common && chains.every((c) => c.length === common) && new Set(exits).size === 1 && summaries.every((s) => s.events === summaries[0]!.events);
    if (same && cut.length === 0) return report;
    report.agree = false;
    report.status = 'diverge';
    report.checkpoint = lo < common ? lo : null;
    if (lo === common && cut.length > 0) return compareCutShort(report, opened.map((o) => o.reader), summaries, paths, options.replay !== false);

    // Majority and odd ones out, by chain at the divergent checkpoint (or by event count at the end).
    const key = (i: number) => (lo < common ? chains[i]![lo]! : `${chains[i]!.length}:${exits[i]}`);
    const groups = new Map<string, number[]>();
    paths.forEach((_, i) => groups.set(key(i), [...(groups.get(key(i)) ?? []), i]));
    const ordered = [...groups.values()].sort((a, b) => b.length - a.length);
    const majority = ordered[0]!;
    const odd = paths.length >= 3 && majority.length > 1 ? ordered.slice(1).flat() : [];
    report.oddOneOut = odd.map((i) => paths[i]!);
    const [ia, ib] = odd.length ? [majority[0]!, odd[0]!] : [0, ordered[1]?.[0] ?? 1];
    const [pa, pb] = [paths[ia]!, paths[ib]!];
    if (lo < common) report.checkpointState = checkpointState(opened[ia]!.reader, opened[ib]!.reader, lo);
    const replay = options.replay !== false;

    // Event by event up to the divergent checkpoint.
    const limit = lo < common ? summaries[ia]!.checkpoints[lo]!.event : Math.max(summaries[ia]!.events, summaries[ib]!.events);
    const found = firstDifferingEvent(opened[ia]!.reader, opened[ib]!.reader, limit, (n) => progress(`diff: event scan: ${n}/${limit} events`));
    if (found) {
      const { va, vb } = found;
      report.event = va?.index ?? vb!.index;
      report.batch = va?.batch ?? vb!.batch;
      report.reason = !va || !vb ? 'one trace ends here' : differenceReason(va, vb);
      const details = replay && options.details !== false;
      if (details) progress(`diff: replaying both traces to event ${report.event} for their stacks and output`);
      return withSides(report, report.event, pa, va, pb, vb, details);
    }
    if (!replay) {
      // Every event agrees up to the checkpoint: the state differs somewhere in between.
      const from = lo > 0 ? summaries[ia]!.checkpoints[lo - 1]!.event : 0;
      report.reason = `guest state differs between event ${from} and checkpoint #${lo} (event ${limit}) although every call and input agree; replay (diff without --no-replay) finds the event`;
      return report;
    }

    // Every event agrees up to the checkpoint: narrow the state difference by replaying, first to
    // the event (state equal before call `good`... after it returns, different before call `bad`),
    // then on the instruction clock to the straight-line stretch of code where it starts. With the
    // traces' snapshot indexes, the snapshots' page hashes narrow it to two snapshots without a
    // replay, and every replay starts from a snapshot inside the window.
    const from = lo > 0 ? summaries[ia]!.checkpoints[lo - 1]!.event : 0;
    const indexes = options.snapshots === false ? [] : await openIndexes([pa, pb], progress, options.onNote);
    const stores = indexes.map((x) => x?.store);
    try {
      let replays = 0;
      const stateAt = async (e: number) => (progress(`diff: state bisection: events ${good}..${bad}, replay ${++replays}`),
        await Promise.all([replayTo(pa, e, false, undefined, stores[0]), replayTo(pb, e, false, undefined, stores[1])])).map((r) => r.at?.stateHash);
      let good = from;
      let bad = limit;
      // Before the first call state can differ too (a different build); a checkpoint that agreed cannot.
      const startsEqual = lo > 0 || (([x, y]) => x === y)(await stateAt(from));
      good = startsEqual ? from : from - 1;
      bad = startsEqual ? limit : from;
      if (startsEqual && stores[0] && stores[1]) {
        [good, bad] = await snapshotWindow(stores[0], stores[1], good, bad, stateAt);
        [good, bad] = await hashWindow([pa, pb], [stores[0], stores[1]], good, bad, progress);
      }
      while (bad - good > 1) {
        const mid = (good + bad) >> 1;
        const [x, y] = await stateAt(mid);
        if (x === y) good = mid; else bad = mid;
      }
      report.event = Math.max(0, bad - 1);
      report.reason = bad === 0
        ? 'guest state differs before the first call although the module and configuration agree'
        : `guest state differs after event ${bad - 1} although every call and input so far agree`;
      if (plainOnly && asked.instructions !== false) report.reason += ` (${plainOnly}: not narrowed below the event)`;
      if (options.instructions !== false) report.range = await narrowToRange(pa, pb, bad - 1, bad, progress, stores);
      if (options.details === false) return report;
      progress(`diff: replaying both traces to event ${bad} for their stacks, memory and output`);
      const [ra, rb, sa, sb] = await Promise.all([
        replayTo(pa, bad, true, undefined, stores[0]), replayTo(pb, bad, true, undefined, stores[1]),
        replayTo(pa, report.event, false, undefined, stores[0]), replayTo(pb, report.event, false, undefined, stores[1]), // the stacks at that call
      ]);
      const ev = (r: TraceReader) => { for (const e of callsOf(r)) if (e.index === report.event) return e; return undefined; };
      const [fa, fb] = [openTrace(pa), openTrace(pb)];
      try {
        const [va, vb] = [ev(fa.reader), ev(fb.reader)];
        report.batch = va?.batch ?? null;
        report.sides = [side(pa, va, sa.at?.stack), side(pb, vb, sb.at?.stack)];
      } finally {
        fa.close();
        fb.close();
      }
      if (ra.at?.memory && rb.at?.memory) report.memoryRegions = differingRegions(ra.at.memory, rb.at.memory);
      report.outputDiff = outputAround(ra.stdout, rb.stdout);
      return report;
    } finally {
      for (const x of indexes) x?.store.close();
    }
  } finally {
    for (const o of opened) o.close();
  }
}

/** The instruction search notes every hook's state in one replay when it hashes at most this much memory per side, and at most this many hooks. */
const hookPointsBudgetBytes = 256 * 2 ** 20;
const maxHookPoints = 4096;
/** Below this many hooks' worth, the bisection is no dearer. */
const minHookPoints = 16;

/** hashWindow replays a window whole only if it hashes at most this many bytes of memory per side. */
const hashWindowBudgetBytes = 512 * 2 ** 20;

/**
 * Narrows [good, bad] to two consecutive events with one replay per side that hashes the state
 * before every call in the window (instead of a replay per bisection step), when the window is
 * short enough for that: its events times the memory size within hashWindowBudgetBytes.
 */
async function hashWindow(paths: [string, string], stores: [SnapshotStore, SnapshotStore], good: number, bad: number, progress: (phase: string) => void): Promise<[number, number]> {
  const at = nearestSnapshot(stores[0], good);
  if (bad - good <= 1 || at < 0 || (bad - good) * stores[0].snapshot(at).memoryBytes > hashWindowBudgetBytes) return [good, bad];
  progress(`diff: hashing the state before each of events ${good}..${bad}`);
  const runs = await Promise.all(paths.map((tracePath, i) => replayFromSnapshot(stores[i], {
    tracePath, fromEvent: good, toEvent: bad, quiet: true, stateHashes: { from: good, to: bad }, onOutput: () => {},
  })));
  const [ha, hb] = runs.map((r) => (r.outcome.kind === 'stopped' ? r.outcome.at?.hashes : undefined));
  if (!ha || !hb || ha[0] === undefined || ha[0] !== hb[0]) return [good, bad]; // not as expected: let the bisection decide
  const first = ha.findIndex((h, i) => h !== hb[i]);
  return first < 0 ? [good, bad] : [good + first - 1, good + first];
}

/** The traces' snapshot indexes, opened or built side by side (undefined for one that cannot be had). */
async function openIndexes(paths: string[], progress: (phase: string) => void, onNote?: (line: string) => void): Promise<(OpenedIndex | undefined)[]> {
  const done = paths.map(() => 0);
  const totals = paths.map(() => 0);
  return Promise.all(paths.map((path, i) => openSnapshotIndex(path, {
    onProgress: (events, total) => {
      done[i] = events;
      totals[i] = total;
      progress(`diff: building snapshot indexes: ${done.reduce((a, b) => a + b, 0)}/${totals.reduce((a, b) => a + b, 0)} events`);
    },
    ...(onNote ? { onNote } : {}),
  }).catch((err: unknown) => {
    onNote?.(`${path}: no snapshot index (${(err as Error).message}); replaying from the start`);
    return undefined;
  })));
}

/**
 * Narrows [good, bad] (state agrees at good, differs at bad) to two consecutive snapshots both
 * traces have, from their page and global hashes alone, then checks the new ends with one replay
 * each: if the snapshots' view disagrees with the full state hash (a difference only in files or
 * descriptors), the window is left as it was.
 */
async function snapshotWindow(a: SnapshotStore, b: SnapshotStore, good: number, bad: number, stateAt: (e: number) => Promise<(string | undefined)[]>): Promise<[number, number]> {
  const common = a.events.filter((e) => e > good && e < bad && b.events.includes(e));
  if (common.length === 0) return [good, bad];
  const agreeAt = (e: number) => sameGuestState(a.snapshot(a.events.indexOf(e)), b.snapshot(b.events.indexOf(e)));
  let lo = 0;
  let hi = common.length; // the first common snapshot where the guest state differs, or common.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (agreeAt(common[mid]!)) lo = mid + 1; else hi = mid;
  }
  const newGood = lo > 0 ? common[lo - 1]! : good;
  const newBad = lo < common.length ? common[lo]! : bad;
  const same = (hashes: (string | undefined)[]) => hashes[0] !== undefined && hashes[0] === hashes[1];
  // Both ends checked at once (two replays per side, side by side).
  const [atGood, atBad] = await Promise.all([newGood !== good ? stateAt(newGood) : undefined, newBad !== bad ? stateAt(newBad) : undefined]);
  if (atGood && !same(atGood)) return [good, bad];
  if (atBad && same(atBad)) return [good, bad];
  return [newGood, newBad];
}

/**
 * Some traces end early (cut short) and every checkpoint all of them hold agrees: compare the
 * events every trace holds. A difference there is a divergence; none means the traces agree as
 * far as they go, and the report says which trace is incomplete rather than calling it divergent.
 */
async function compareCutShort(report: DiffReport, readers: TraceReader[], summaries: TraceSummary[], paths: string[], replay: boolean): Promise<DiffReport> {
  const held = Math.min(...summaries.map((s) => s.events));
  let first: { j: number; va: EventView; vb: EventView } | undefined;
  for (let j = 1; j < readers.length; j++) {
    // Events they all hold: before the first difference found so far, or below `held`.
    const d = firstDifferingEvent(readers[0]!, readers[j]!, (first ? first.va.index : held) - 1);
    if (d?.va && d.vb && (!first || d.va.index < first.va.index)) first = { j, va: d.va, vb: d.vb };
  }
  if (!first) {
    report.status = report.incomplete.every((c) => c.state === 'stopped') ? 'stopped' : 'incomplete';
    report.event = held;
    const named = (state: 'incomplete' | 'stopped') => {
      const which = report.incomplete.filter((c) => c.state === state).map((c) => c.trace);
      return which.length === 0 ? [] : [`${which.join(', ')} ${which.length === 1 ? 'is' : 'are'} ${state === 'stopped' ? 'stopped (closed where the recording was stopped)' : 'incomplete'}`];
    };
    report.reason = `the traces agree on all ${held} events they all hold; ${[...named('incomplete'), ...named('stopped')].join('; ')}`;
    return report;
  }
  const { j, va, vb } = first;
  report.event = va.index;
  report.batch = va.batch;
  report.reason = differenceReason(va, vb);
  return withSides(report, va.index, paths[0]!, va, paths[j]!, vb, replay);
}

/**
 * The first event, up to `limit`, where two traces differ (or where one ends), a calls record at a
 * time: two records that start at the same event, hold the same columns and the same inputs are
 * passed over whole; otherwise their events are compared one by one. Undefined: none differs.
 */
function firstDifferingEvent(a: TraceReader, b: TraceReader, limit: number, onProgress?: (events: number) => void): { va: EventView | undefined; vb: EventView | undefined } | undefined {
  // Each side reads its next calls record only when it needs it: never past the events compared
  // (a trace cut short is read only as far as the other traces go).
  const sides = [callBatchesOf(a), callBatchesOf(b)].map((batches) => ({ batches, batch: undefined as CallsBatch | undefined, ended: false, i: 0, net: 0 }));
  type Side = (typeof sides)[number];
  const current = (side: Side): CallsBatch | undefined => {
    if (!side.batch && !side.ended) {
      const next = side.batches.next();
      if (next.done) side.ended = true;
      else Object.assign(side, { batch: next.value, i: 0, net: 0 });
    }
    return side.batch;
  };
  const view = (side: Side): EventView | undefined => {
    const batch = current(side);
    if (!batch) return undefined;
    const index = batch.first + side.i;
    return { type: 'call', index, id: batch.ids[side.i]!, fingerprint: batch.fingerprints[side.i]!, result: batch.results[side.i]!, thread: batch.threads?.[side.i] ?? 0, inputs: batch.inputs.get(index) ?? [], batch: batch.batchesBefore + side.net };
  };
  const step = (side: Side): void => {
    const batch = side.batch!;
    for (const r of batch.inputs.get(batch.first + side.i) ?? []) if (r.kind === 'net') side.net++;
    if (++side.i >= batch.ids.length) side.batch = undefined;
  };
  const [x, y] = sides as [Side, Side];
  // Both sides stand at the same event: events are numbered from 0 in every trace.
  let reported = -1;
  for (let position = 0; position <= limit;) {
    const block = Math.floor(position / scanProgressEveryEvents);
    if (block > reported) onProgress?.((reported = block) * scanProgressEveryEvents);
    const [bx, by] = [current(x), current(y)];
    if (bx && by && x.i === 0 && y.i === 0 && sameBatch(bx, by)) {
      position = bx.first + bx.ids.length;
      x.batch = y.batch = undefined;
      continue;
    }
    const [va, vb] = [view(x), view(y)];
    if (!va && !vb) return undefined;
    if (!va || !vb || eventsDiffer(va, vb)) return { va, vb };
    step(x);
    step(y);
    position++;
  }
  return undefined;
}

/** Whether two calls records hold the same events: the same first event, calls, arguments, results and inputs. */
function sameBatch(a: CallsBatch, b: CallsBatch): boolean {
  if (a.first !== b.first || a.ids.length !== b.ids.length || a.inputs.size !== b.inputs.size) return false;
  if (!Buffer.from(a.ids).equals(Buffer.from(b.ids)) || !Buffer.from(a.results).equals(Buffer.from(b.results))) return false;
  if (!Buffer.from(a.fingerprints.buffer, a.fingerprints.byteOffset, a.fingerprints.byteLength)
    .equals(Buffer.from(b.fingerprints.buffer, b.fingerprints.byteOffset, b.fingerprints.byteLength))) return false;
  if ((a.threads || b.threads) && !(a.threads ?? new Uint32Array(a.ids.length)).every((t, i) => t === (b.threads?.[i] ?? 0))) return false;
  for (const [event, got] of a.inputs) {
    const other = b.inputs.get(event);
    if (!other || got.map(inputKey).join('|') !== other.map(inputKey).join('|')) return false;
  }
  return true;
}

/** Whether two events differ in their call, arguments, result or inputs. */
function eventsDiffer(va: EventView, vb: EventView): boolean {
  if (va.id !== vb.id || va.thread !== vb.thread || va.fingerprint !== vb.fingerprint || va.result !== vb.result || va.inputs.length !== vb.inputs.length) return true;
  return va.inputs.length > 0 && va.inputs.map(inputKey).join('|') !== vb.inputs.map(inputKey).join('|');
}

/** What differs first between two events that differ. */
function differenceReason(va: EventView, vb: EventView): string {
  return va.id !== vb.id ? 'the calls differ'
    : va.thread !== vb.thread ? `the same call made by another thread (${va.thread} and ${vb.thread})`
    : va.fingerprint !== vb.fingerprint ? 'the same call with different arguments'
    : va.result !== vb.result ? 'the same call returned different results'
    : 'the same call received different input';
}

/** Each side's event at `event`; with `replay`, also each guest's stack there and the output around it. */
async function withSides(report: DiffReport, event: number, pa: string, va: EventView | undefined, pb: string, vb: EventView | undefined, replay: boolean): Promise<DiffReport> {
  if (!replay) {
    report.sides = [side(pa, va), side(pb, vb)];
    return report;
  }
  // Indexes that exist already are used; one replay each is not worth building them.
  const indexes = await Promise.all([pa, pb].map((p) => openSnapshotIndex(p, { build: false }).catch(() => undefined)));
  try {
    const [ra, rb] = await Promise.all([replayTo(pa, event, false, undefined, indexes[0]?.store), replayTo(pb, event, false, undefined, indexes[1]?.store)]);
    report.sides = [side(pa, va, ra.at?.stack), side(pb, vb, rb.at?.stack)];
    report.outputDiff = outputAround(ra.stdout, rb.stdout);
  } finally {
    for (const x of indexes) x?.store.close();
  }
  return report;
}

/** How formatDiff marks what matters (colour on a terminal: cli/colour.ts); plain by default. */
export interface DiffStyle { bad(text: string): string; notice(text: string): string }
const plainStyle: DiffStyle = { bad: (t) => t, notice: (t) => t };

export function formatDiff(r: DiffReport, style: DiffStyle = plainStyle): string {
  const cut = r.incomplete.map((c) => `  ${c.state}: ${c.trace} (${c.events} events): ${c.reason}`);
  if (r.agree) return `replicode: the ${r.traces.length} traces agree (same headers, checkpoint chains, events and exit)\n`;
  if (r.status === 'incomplete') return `replicode: the traces do not diverge, but not all are whole: ${r.reason}\n${cut.join('\n')}\n`;
  if (r.status === 'stopped') return `replicode: the traces do not diverge; some end where their recording was stopped: ${r.reason}\n${cut.join('\n')}\n`;
  const lines: string[] = [...cut.map((l) => l.trimStart())];
  if (r.oddOneOut.length) lines.push(`odd one out: ${style.bad(r.oddOneOut.join(', '))}`);
  for (const h of r.headerDifferences) lines.push(`header differs: ${style.notice(h.field)}: ${h.values.join(' | ')}`);
  lines.push(`first divergent checkpoint: ${r.checkpoint === null ? '(none: they part at the end)' : `#${r.checkpoint}`}`);
  if (r.checkpointState) lines.push(describeCheckpointState(r.checkpointState));
  lines.push(`first divergent event: ${r.event ?? '(not replayed)'}${r.batch !== null ? ` (after ${r.batch} network batches)` : ''}: ${style.notice(r.reason)}`);
  lines.push(...formatSides(r.sides, style));
  if (r.range) lines.push(...describeRange(r.range));
  if (r.source) lines.push(...formatDiffSource(r.source, style.notice));
  if (r.memoryRegions.length) lines.push(`memory differs in: ${style.notice(r.memoryRegions.map((m) => `0x${m.start.toString(16)}-0x${m.end.toString(16)}`).join(', '))}`);
  if (r.outputDiff) lines.push('output around the divergence (- first, + second):', ...r.outputDiff.split('\n').map((l) => `  ${l}`));
  return `replicode: the traces diverge\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}

/** Each side's event; a field (call, result, arguments, an input) that differs between the sides is marked. */
function formatSides(sides: DiffSide[], style: DiffStyle): string[] {
  const lines: string[] = [];
  const differs = (get: (s: DiffSide) => unknown) => new Set(sides.map((s) => JSON.stringify(get(s)))).size > 1;
  const mark = (text: string, diff: boolean) => (diff ? style.notice(text) : text);
  const [call, result, args] = [differs((s) => s.syscall), differs((s) => s.result), differs((s) => s.fingerprint)];
  for (const s of sides) {
    lines.push(`  ${s.trace}: ${mark(s.syscall ?? '(no event)', call)}${s.result ? ` -> ${mark(s.result, result)}` : ''}${s.fingerprint ? ` [args ${mark(s.fingerprint, args)}]` : ''}`);
    const others = new Set(sides.filter((o) => o !== s).flatMap((o) => o.inputs));
    for (const i of s.inputs) lines.push(`      input: ${mark(i, !others.has(i))}`);
    if (s.stack.length) lines.push(`      stack: ${s.stack.slice(0, 6).map((f) => f.name).join(' <- ')}`);
  }
  return lines;
}

/** "at checkpoint #3 (event 1024) state differs in: memory page 1 (0x10000-0x1ffff), stdout". */
function describeCheckpointState(c: CheckpointState): string {
  const parts = c.components.map((k) => (k !== 'memory' ? k
    : c.pages === null ? 'memory (a trace has no page hashes)'
    : c.pages.length === 0 ? 'memory' : `memory ${describePages(c.pages)}`));
  return `at checkpoint #${c.checkpoint} (event ${c.event}) state differs in: ${parts.join(', ') || 'nothing but the chain'}`;
}

/** "the head of a loop in fill <- main": a hook's stack by function, what the hook marks first. */
function describeHookStack(frames: WasmFrame[]): string {
  const names = frames.slice(0, 6).map((f) => f.name).join(' <- ');
  const kind = frames[0]?.hook?.kind;
  return kind === 'loop' ? `the head of a loop in ${names}` : kind === 'entry' ? `the entry of ${names}` : kind === 'exit' ? `the exit of ${names}` : names;
}

function describeRange(r: InstructionRange): string[] {
  const stack = describeHookStack;
  const since = r.afterEvent < 0 ? 'the start' : `event ${r.afterEvent} returned`;
  const from = r.hook === 1
    ? (r.afterEvent < 0 ? 'at the start' : `before event ${r.afterEvent} (so the difference comes from that call itself or the straight-line code right after it)`)
    : `at hook ${r.hook - 1} after ${since} (${stack(r.agreeingStack)})`;
  const to = r.hook > r.hooks ? `at event ${r.afterEvent + 1}, the next call (${stack(r.differingStack)})` : `at hook ${r.hook} (${stack(r.differingStack)})`;
  return [`narrowed to an instruction range (${r.hooks} hooks, at function entries, exits and loop iterations, between the two calls):`,
    `  state agrees ${from}`, `  and differs ${to}`];
}
