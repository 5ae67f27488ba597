// What the TUI shows, read from traces chunk by chunk: each replica's checkpoint chain (the
// timeline) and, on demand, the events around a point. Kept apart from the components so tests
// can hand the app a model of their own.
import { TraceFormatError } from '../formats/index.js';
import {
  diffTraces, eventRows, listEvents, ModuleNotEmbeddedError, ReplaySetupError, type TraceSummary, openNamedTrace, openSnapshotIndex, openTrace, replayFromSnapshot, SourceFiles, sourcePoints, summarizeTrace,
  type DiffReport, type EventRow, type SnapshotStore, type SourcePoint,
} from '../replayer/index.js';
import { loadDebugInfo, TraceReadError, type ModuleDebugInfo, type WasmFrame } from '../runtime/index.js';
import type { LocateResult, ReplicaTimeline, SearchRequest, SearchResult } from './state.js';
import { BoundedMap } from './jobs.js';

/** Hook walks (an event's hook count and the hook points seen) kept per model. */
const hookWalksKept = 256;

/** A replica's stack at an event in source terms: `debugInfo` false (and why, in `note`) when its module has no DWARF. */
export interface SourceView { debugInfo: boolean; note: string | null; frames: SourcePoint[] }

/** One event as the TUI lists it; `thread`: the guest thread that made it, in a wasi-threads trace only. */
export interface EventLine { event: number; syscall: string; result: string; fingerprint: string; inputs: string[]; thread?: number }

/** A search looks at what a row shows: its call, its result and its inputs. */
export function rowMatches(row: EventLine, text: string): boolean {
  return text !== '' && [row.syscall, row.result, ...row.inputs].some((field) => field.includes(text));
}

/** A search hands the event loop back after this many rows, so the screen stays live on a long trace. */
export const searchYieldEveryRows = 20_000;

export interface TuiModel {
  replicas: ReplicaTimeline[];
  /** Events from `from` (at most `count`), of one replica, optionally only of one kind. */
  events(replica: number, from: number, count: number, kind: string | null): EventLine[];
  /** The guest's wasm stack at `event` (function names, innermost first). */
  stack(replica: number, event: number): Promise<string[]>;
  /**
   * The guest's stack at `event` in files and lines, or at hook `hook` after it (a snapshot copy's
   * frames are mapped back to the module through its site map: runtime/snapshot/sites.ts).
   */
  source(replica: number, event: number, hook?: number): Promise<SourceView>;
  /** Lines `line - context` to `line + context` of a source file that is on this machine: [number, text]. */
  sourceLines(file: string, line: number, context: number): [number, string][];
  /** What the guest wrote to stdout before `event`. */
  output(replica: number, event: number): Promise<string>;
  /**
   * The first event at or after `from` (direction 1), or the last at or before it (-1), of one
   * replica's trace, whose row matches `text` (and is of `kind`, if given); null if none. `bound`
   * is the far end of the search (the last event looked at forward, the first backward).
   */
  find(replica: number, text: string, from: number, direction: 1 | -1, kind: string | null, bound: number): Promise<number | null>;
  /** The exact first divergence, as replicode diff finds it; `onProgress` gets diff's progress lines. */
  locate(onProgress: (phase: string) => void): Promise<LocateResult>;
  /** How many hooks (function entries, loop iterations) run after `event` returns and before the next call. */
  hookCount(replica: number, event: number): Promise<number>;
  /** The guest at hook `hook` after `event` returned (or at the next call, if it has fewer hooks). */
  hookAt(replica: number, event: number, hook: number): Promise<HookPoint>;
  /** Linear memory at `event` (before that call), or at hook `hook` after it. */
  memory(replica: number, event: number, hook: number | null): Promise<Uint8Array | string>;
}

/**
 * A point on the instruction clock: `reached` false if the replica has fewer hooks there (it
 * stopped at the next call instead); `stateHash` compares state between replicas; `problem`: why it
 * could not be replayed (a damaged trace), instead of a stack.
 */
export interface HookPoint { reached: boolean; stack: string[]; stateHash: string; problem?: string; frames?: WasmFrame[] }

/** The match nearest `from` in the direction (not past `bound`) over every replica, or null. */
async function nearestMatch(model: TuiModel, text: string, from: number, direction: 1 | -1, kind: string | null, bound: number): Promise<number | null> {
  const hits: number[] = [];
  for (let i = 0; i < model.replicas.length; i++) {
    const hit = await model.find(i, text, from, direction, kind, bound);
    if (hit !== null) hits.push(hit);
  }
  if (hits.length === 0) return null;
  return direction === 1 ? Math.min(...hits) : Math.max(...hits);
}

/** Run a search over the whole timeline: from the request's event on (or back), then past the end (or start) around. */
export async function searchTimeline(model: TuiModel, request: SearchRequest): Promise<SearchResult> {
  const { text, from, direction, kind } = request;
  const end = Number.MAX_SAFE_INTEGER;
  const ahead = await nearestMatch(model, text, from, direction, kind, direction === 1 ? end : 0);
  if (ahead !== null) return { event: ahead, wrapped: false };
  // Around past the end (or start), only as far as where the first pass began.
  const around = direction === 1
    ? await nearestMatch(model, text, 0, 1, kind, from - 1)
    : await nearestMatch(model, text, end, -1, kind, from + 1);
  return { event: around, wrapped: around !== null };
}

const toLine = (r: EventRow): EventLine => ({ event: r.event, syscall: r.syscall!, result: r.result!, fingerprint: r.fingerprint!, inputs: r.inputs!, ...(r.thread !== undefined ? { thread: r.thread } : {}) });


/** `onProgress(trace, fraction)`: how far reading trace `trace` (0-based) is, for a loading line. */
export function loadModel(paths: string[], onProgress?: (trace: number, fraction: number) => void): TuiModel {
  // Kept for `d`: diff need not read the traces again.
  const summaries: TraceSummary[] = [];
  const replicas: ReplicaTimeline[] = paths.map((path, i) => {
    const { reader, close } = openNamedTrace(path);
    try {
      const s = summarizeTrace(reader, onProgress && ((f) => onProgress(i, f)));
      summaries[i] = s;
      return {
        name: path, chains: s.checkpoints.map((c) => c.chain), checkpointEvents: s.checkpoints.map((c) => c.event), events: s.events,
        // A stopped trace, like an incomplete one, ends early without diverging; it is named so.
        ...(s.state !== 'intact' ? { problem: { state: s.state, reason: s.error ?? s.stopped ?? s.state } } : {}),
      };
    } finally {
      close();
    }
  });
  // Each replica's snapshot index: one on disk is opened the first time a view needs a replay, and
  // every replay then resumes from the snapshot nearest before the event instead of event 0; a
  // missing one is built in the background meanwhile (views replay from the start until it is).
  const stores = new Map<number, Promise<{ store: SnapshotStore | undefined }>>();
  const storeOf = async (replica: number): Promise<SnapshotStore | undefined> => {
    let entry = stores.get(replica);
    if (!entry) {
      const path = paths[replica]!;
      entry = openSnapshotIndex(path, { build: false }).then((existing) => {
        const held: { store: SnapshotStore | undefined } = { store: existing?.store };
        if (!existing) openSnapshotIndex(path).then((built) => { held.store = built?.store; }, () => {});
        return held;
      }, () => ({ store: undefined }));
      stores.set(replica, entry);
    }
    return (await entry).store;
  };
  const replay = async (replica: number, request: Omit<Parameters<typeof replayFromSnapshot>[1], 'tracePath'>) =>
    replayFromSnapshot(await storeOf(replica), { tracePath: paths[replica]!, ...request });
  // One replay from event E to E+1 gives both the hook count there and one hook's stack and state
  // (ReplayOptions.hooks.continue); both are kept, so landing on a hook takes one replay, not two.
  const walks = new BoundedMap<string, Promise<{ count: number; points: Map<number, HookPoint> }>>(hookWalksKept);
  const hookWalk = async (replica: number, event: number, hook: number) => {
    const key = `${replica} ${event}`;
    const known = await walks.get(key)?.catch(() => undefined);
    if (known && (known.points.has(hook) || hook > known.count)) return known;
    const walk = replay(replica, { toEvent: event + 1, hooks: { after: event, stopAt: hook, continue: true }, quiet: true, onOutput: () => {} }).then(({ outcome }) => {
      const at = outcome.kind === 'stopped' ? outcome.at : undefined;
      const points = known?.points ?? new Map<number, HookPoint>();
      const point = at?.hookPoint;
      points.set(hook, point ? { reached: point.hooks === hook, stack: point.stack.map((f) => f.name), stateHash: point.stateHash, frames: point.stack } : { reached: false, stack: [], stateHash: '' });
      return { count: at?.hooks ?? 0, points };
    });
    walks.set(key, walk);
    return walk;
  };
  // Each replica's DWARF, read once from the module its trace embeds; source files read once.
  const debugInfos = new Map<number, Promise<ModuleDebugInfo>>();
  const debugOf = (replica: number): Promise<ModuleDebugInfo> => {
    let debug = debugInfos.get(replica);
    if (!debug) {
      const { reader, close } = openTrace(paths[replica]!);
      try {
        debug = loadDebugInfo(reader.header.module.bytes ?? undefined);
      } finally {
        close();
      }
      debugInfos.set(replica, debug);
    }
    return debug;
  };
  const files = new SourceFiles();
  let locating: Promise<LocateResult> | undefined;
  let progressListener: (phase: string) => void = () => {};
  return {
    replicas,
    events(replica, from, count, kind) {
      const { reader, close } = openTrace(paths[replica]!);
      try {
        // Checkpoint rows come interleaved with calls: ask for a few more, keep `count` calls.
        const { rows } = listEvents(reader, { from: Math.max(0, from), limit: count + 4, ...(kind ? { kind } : {}) });
        return rows.filter((r) => r.kind === 'call').slice(0, count).map(toLine);
      } finally {
        close();
      }
    },
    async find(replica, text, from, direction, kind, bound) {
      const { reader, close } = openTrace(paths[replica]!);
      let found: number | null = null;
      try {
        let seen = 0;
        const [first, last] = direction === 1 ? [from, bound] : [bound, from];
        for (const row of eventRows(reader, { from: Math.max(0, first), limit: Infinity, ...(kind ? { kind } : {}) })) {
          if (row.event > last) break;
          if (row.kind === 'call' && rowMatches(toLine(row), text)) {
            found = row.event;
            if (direction === 1) break;
          }
          if (++seen % searchYieldEveryRows === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      } catch (err) {
        // A damaged or cut-short trace is searched as far as it can be read (its row says why it stops).
        if (!(err instanceof TraceFormatError || err instanceof TraceReadError)) throw err;
      } finally {
        close();
      }
      return found;
    },
    async stack(replica, event) {
      try {
        const { outcome } = await replay(replica, { toEvent: event, quiet: true, onOutput: () => {} });
        return outcome.kind === 'stopped' ? (outcome.at?.stack ?? []).map((f) => f.name) : [];
      } catch (err) {
        return [`(${unreplayable(err)})`];
      }
    },
    async source(replica, event, hook) {
      const debug = await debugOf(replica);
      if (!debug.info) return { debugInfo: false, note: debug.warning, frames: [] };
      try {
        if (hook !== undefined) {
          const point = (await hookWalk(replica, event, hook)).points.get(hook);
          return { debugInfo: true, note: point?.reached ? null : 'fewer hooks here: at the next call', frames: sourcePoints(debug, point?.frames ?? [], files) };
        }
        const { outcome } = await replay(replica, { toEvent: event, quiet: true, onOutput: () => {} });
        return { debugInfo: true, note: null, frames: sourcePoints(debug, outcome.kind === 'stopped' ? outcome.at?.stack ?? [] : [], files) };
      } catch (err) {
        return { debugInfo: true, note: unreplayable(err), frames: [] };
      }
    },
    sourceLines: (file, line, context) => files.around(file, line, context),
    async output(replica, event) {
      // Output is kept as hashes in a trace (unless --record-output): replaying gives it back.
      const chunks: Buffer[] = [];
      try {
        await replay(replica, { toEvent: event, earlierOutput: true, onOutput: (stream, bytes) => { if (stream === 1) chunks.push(Buffer.from(bytes)); } });
      } catch (err) {
        chunks.push(Buffer.from(`(${unreplayable(err)})\n`));
      }
      return Buffer.concat(chunks).toString('utf8');
    },
    locate(onProgress) {
      // One diff per model, whoever asks first (the TUI starts it as soon as it shows, so that `d`
      // finds the answer ready); progress goes to the latest asker.
      progressListener = onProgress;
      locating ??= diffTraces(paths, { onProgress: (phase) => progressListener(phase), summaries, details: false }).then(locateResult, (err: unknown) => (
        { event: null, reason: `cannot locate the divergence: ${unreplayable(err)}`, checkpoint: null, hook: null }));
      return locating;
    },
    async hookCount(replica, event) {
      try {
        return (await hookWalk(replica, event, 1)).count;
      } catch (err) {
        unreplayable(err); // a damaged trace has no hooks to step through here (hookAt says why)
        return 0;
      }
    },
    async hookAt(replica, event, hook) {
      try {
        const walk = await hookWalk(replica, event, hook);
        return walk.points.get(hook) ?? { reached: false, stack: [], stateHash: '' };
      } catch (err) {
        return { reached: false, stack: [], stateHash: '', problem: unreplayable(err) };
      }
    },
    async memory(replica, event, hook) {
      try {
        const { outcome } = await replay(replica, {
          toEvent: hook === null ? event : event + 1, captureMemory: true, quiet: true, onOutput: () => {},
          ...(hook === null ? {} : { hooks: { after: event, stopAt: hook } }),
        });
        return outcome.kind === 'stopped' && outcome.at?.memory ? outcome.at.memory : `the replay ended before event #${event}`;
      } catch (err) {
        return unreplayable(err);
      }
    },
  };
}

/** What `d` needs of diff's report: the event, why, and where on the instruction clock state starts to differ. */
export function locateResult(report: DiffReport): LocateResult {
  if (report.status !== 'diverge') return { event: null, reason: report.status === 'agree' ? 'the traces agree: no divergence' : report.reason, checkpoint: null, hook: null };
  const range = report.range;
  // hook > hooks: state differs only at the next call (the range names no hook between the two).
  const hook = range && range.hook <= range.hooks ? { k: range.hook, of: range.hooks } : null;
  return { event: report.event, reason: report.reason, checkpoint: report.checkpoint, hook };
}

/** A damaged or cut-short trace cannot be replayed to every event: the pane says why instead. */
function unreplayable(err: unknown): string {
  // The TUI has no --module: say so rather than replay's "pass it with --module".
  if (err instanceof ModuleNotEmbeddedError) return `cannot replay here: the trace does not embed its module (${err.moduleName}); only replay takes it (--module)`;
  // A damaged trace, or one whose module cannot be instrumented (a component has no hooks).
  if (err instanceof TraceFormatError || err instanceof TraceReadError || err instanceof ReplaySetupError) return `cannot replay here: ${err.message}`;
  throw err;
}
