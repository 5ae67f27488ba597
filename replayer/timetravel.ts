// Time travel over one trace: a first replay of the snapshot copy takes snapshots every so many
// events (runtime/snapshot/); any later replay to event E resumes from the latest snapshot at or
// before E instead of event 0. The snapshots live in a SnapshotStore (in memory while built, cached
// next to the trace in an index file: index-file.ts), which is never required: without one a
// replay starts at event 0.
import { fileDigest, snapshotMemory, type ResumePoint, type SnapshotState, type TakenSnapshot } from '../runtime/index.js';
import { ReplaySetupError, replayTrace, type ReplayRequest, type ReplayResult } from './replay.js';

/** Snapshots of one trace, by event. */
export interface SnapshotStore {
  /** The trace the snapshots were taken of: they resume only that trace. */
  readonly trace: TraceFile;
  /** The events of the snapshots held, ascending. */
  readonly events: readonly number[];
  /** The snapshot at events[i], whole. */
  snapshot(i: number): SnapshotState;
  /** The content of one 64 KiB page by its hash. */
  page(hash: string): Uint8Array;
  /** The first `length` bytes of the guest's output stream. */
  output(stream: 1 | 2, length: number): Uint8Array;
}

/** A trace file by path, size and SHA-256. */
export interface TraceFile { path: string; bytes: number; sha256: string }

/** Snapshots are taken at least this many events apart (more when memory is large or the trace long). */
export const defaultSnapshotEvery = 1024;
/** At most this many snapshots per trace: a longer trace spaces them further apart. */
export const maxSnapshots = 4096;
/** A snapshot copies and hashes all of memory: space them at least this many events per MiB of memory. */
const eventsPerMemoryMiB = 256;

/** The spacing of snapshots for a trace of `events` events whose memory is `memoryBytes` (at the start). */
export function snapshotSpacing(events: number, memoryBytes: number): number {
  return Math.max(defaultSnapshotEvery, Math.ceil(events / maxSnapshots), Math.ceil((memoryBytes / 2 ** 20) * eventsPerMemoryMiB));
}

/** The position in store.events of the latest snapshot at or before `event` (the guest resumes by making call `event`); -1: none. */
export function nearestSnapshot(store: SnapshotStore | undefined, event: number): number {
  const list = store?.events ?? [];
  let lo = 0;
  let hi = list.length; // first index with event > `event`
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]! <= event) lo = mid + 1; else hi = mid;
  }
  return lo - 1;
}

/** Everything a replay needs to resume at `snapshot`. */
export function resumePoint(store: SnapshotStore, snapshot: SnapshotState): ResumePoint {
  return { state: snapshot, memory: snapshotMemory(snapshot, (hash) => store.page(hash)), stdout: store.output(1, snapshot.stdoutBytes), stderr: store.output(2, snapshot.stderrBytes) };
}

/** A store kept in memory (what a build collects; also what tests use). */
export class MemorySnapshotStore implements SnapshotStore {
  constructor(readonly trace: TraceFile) {}

  private readonly snapshots: SnapshotState[] = [];
  readonly events: number[] = [];

  snapshot(i: number): SnapshotState { return this.snapshots[i]!; }

  private readonly pages = new Map<string, Uint8Array>();
  private readonly streams: { 1: Uint8Array[]; 2: Uint8Array[] } = { 1: [], 2: [] };
  private readonly joined: { 1: Uint8Array | undefined; 2: Uint8Array | undefined } = { 1: undefined, 2: undefined };

  add(snapshot: TakenSnapshot): void {
    for (const { hash, bytes } of snapshot.newPages) this.pages.set(hash, bytes);
    const { newPages: _sent, ...state } = snapshot;
    this.snapshots.push(state);
    this.events.push(state.event);
  }

  appendOutput(stream: 1 | 2, bytes: Uint8Array): void {
    this.streams[stream].push(bytes.slice());
    this.joined[stream] = undefined;
  }

  page(hash: string): Uint8Array {
    const bytes = this.pages.get(hash);
    if (!bytes) throw new Error(`snapshot page ${hash.slice(0, 16)} is missing`);
    return bytes;
  }

  /** Every page, by hash (for writing an index file). */
  allPages(): ReadonlyMap<string, Uint8Array> { return this.pages; }

  output(stream: 1 | 2, length: number): Uint8Array {
    const all = (this.joined[stream] ??= Buffer.concat(this.streams[stream]));
    return all.subarray(0, length);
  }
}

/** Replays the whole trace once, taking snapshots `every` events; the outcome says whether it matched. */
export async function buildSnapshots(tracePath: string, every: number, onProgress?: (events: number) => void): Promise<{ store: MemorySnapshotStore; result: ReplayResult }> {
  const store = new MemorySnapshotStore({ path: tracePath, ...fileDigest(tracePath) });
  const result = await replayTrace({
    tracePath, quiet: false, snapshots: { every }, onSnapshot: (s) => store.add(s),
    onOutput: (stream, bytes) => store.appendOutput(stream, bytes), ...(onProgress ? { onProgress } : {}),
  });
  return { store, result };
}

/**
 * A replay to `toEvent` (or with the instruction clock, or from `fromEvent` on) that resumes from
 * the latest snapshot that serves: at or before the event, and for the clock, at or before the call
 * after which counting starts. With `earlierOutput`, output before the snapshot is passed to
 * onOutput first, so the caller sees all of it.
 */
export async function replayFromSnapshot(
  store: SnapshotStore | undefined, req: ReplayRequest & { fromEvent?: number; earlierOutput?: boolean; onResume?: (event: number) => void },
): Promise<ReplayResult & { resumedAt: number | null }> {
  const { fromEvent, earlierOutput, onResume, ...request } = req;
  const limit = Math.min(fromEvent ?? Infinity, request.toEvent ?? Infinity, request.hooks ? request.hooks.after : Infinity);
  const at = store && limit >= 0 ? nearestSnapshot(store, limit) : -1;
  if (!store || at < 0) return { ...(await replayTrace(request)), resumedAt: null };
  if (request.tracePath !== store.trace.path) {
    const { bytes, sha256 } = fileDigest(request.tracePath);
    if (bytes !== store.trace.bytes || sha256 !== store.trace.sha256) {
      throw new ReplaySetupError(`the snapshots were taken of ${store.trace.path}, not of ${request.tracePath}: they cannot resume it`);
    }
  }
  const snapshot = store.snapshot(at);
  const point = resumePoint(store, snapshot);
  onResume?.(snapshot.event);
  if (earlierOutput && point.stdout.length > 0) await request.onOutput(1, point.stdout);
  if (earlierOutput && point.stderr.length > 0) await request.onOutput(2, point.stderr);
  const result = await replayTrace({ ...request, snapshots: { ...(request.snapshots ?? {}), resume: point } });
  return { ...result, resumedAt: snapshot.event };
}

/** Whether two traces' snapshots hold the same guest memory, globals and output lengths (the kernel's state aside). */
export function sameGuestState(a: SnapshotState, b: SnapshotState): boolean {
  return a.event === b.event && a.memoryBytes === b.memoryBytes && a.stdoutBytes === b.stdoutBytes && a.stderrBytes === b.stderrBytes
    && a.pages.length === b.pages.length && a.pages.every((h, i) => h === b.pages[i])
    && a.globals.length === b.globals.length && a.globals.every((g, i) => g === b.globals[i]);
}
