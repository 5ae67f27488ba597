// Replaying a trace: everything needed comes from the trace (module, arguments, environment,
// directory snapshots, every host input); the guest runs in a worker that checks each event.
import { TraceFormatError, TraceReader, type TraceHeader, type TraceIntegrity } from '../formats/index.js';
import {
  compileModule, compileProgram, moduleKind, threadsPassOf, processConfig, sha256, stackLimitOf, fuelLimitOf, canonicalNansOf, startGuest, openTraceFile, loadHostTree,
  type GuestOutcome, type SessionStats, type SnapshotPlan, type TakenSnapshot, type SpawnOptions, type TreeNode,
} from '../runtime/index.js';
import { snapshotSha256 } from '../recorder/index.js';
import { snapshotModule } from './instrument.js';

/** The trace cannot be replayed here (module missing or different, snapshot missing...). */
export class ReplaySetupError extends Error {}

/**
 * The trace holds its module by hash only and none was given: only `replay` takes --module, so
 * diff and index say what they can do instead (their own message from these fields).
 */
export class ModuleNotEmbeddedError extends ReplaySetupError {
  constructor(readonly tracePath: string, readonly moduleName: string) {
    super(`the trace does not embed its module (${moduleName}); pass it with --module`);
  }
}

export function openTrace(path: string): { reader: TraceReader; close(): void } {
  const source = openTraceFile(path);
  try {
    return { reader: new TraceReader(source), close: () => source.close() };
  } catch (err) {
    source.close();
    throw err;
  }
}

/**
 * openTrace for a command given several traces (diff, tui): a trace that cannot be opened is named
 * in its error, or "cut inside a chunk (at byte 16)" would not say which one.
 */
export function openNamedTrace(path: string): { reader: TraceReader; close(): void } {
  try {
    return openTrace(path);
  } catch (err) {
    if (err instanceof TraceFormatError) throw new TraceFormatError(`${path}: ${err.reason}`, err.offset, err.kind);
    throw err;
  }
}

export interface ReplayRequest {
  tracePath: string;
  /** Module bytes when the trace does not embed them (checked against the recorded hash). */
  moduleBytes?: Uint8Array;
  quiet?: boolean;
  toEvent?: number;
  captureMemory?: boolean;
  /** The instruction clock: replay the snapshot copy and count hooks after event `after` (see instrument.ts). */
  hooks?: { after: number; stopAt?: number; continue?: boolean; every?: number };
  /** State hashes before each call in a range (see ReplayOptions.stateHashes). */
  stateHashes?: { from: number; to: number };
  /** Take snapshots every so many events and/or resume from one (the snapshot copy is replayed). */
  snapshots?: SnapshotPlan;
  /** Receives each snapshot taken. */
  onSnapshot?: (snapshot: TakenSnapshot) => void;
  onOutput: SpawnOptions['onOutput'];
  /** Streams on a terminal: see SpawnOptions.watchedOutput. */
  watchedOutput?: readonly (1 | 2)[];
  /** Events replayed so far, every replayProgressPollMs while the replay runs (a progress line). */
  onProgress?: (events: number) => void;
}

/** How often a replay's progress is read from its worker. */
export const replayProgressPollMs = 250;

export interface ReplayResult {
  outcome: GuestOutcome; stats: SessionStats | undefined; header: TraceHeader;
  /** Set when the given module differs from the recorded one (replayed anyway, to find where it diverges). */
  moduleMismatch: string | null;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/**
 * A trace's integrity, read once per process for a path and size: checking it reads every chunk,
 * and diff and the TUI replay the same traces many times (each probe from a snapshot).
 */
const integrities = new Map<string, TraceIntegrity>();
const integritiesKept = 64;

function integrityOf(path: string, reader: TraceReader): TraceIntegrity {
  const key = `${path}\0${reader.source.size}`;
  let integrity = integrities.get(key);
  if (!integrity) {
    integrity = reader.integrity;
    if (integrities.size >= integritiesKept) integrities.delete(integrities.keys().next().value!);
    integrities.set(key, integrity);
  }
  return integrity;
}

export async function replayTrace(req: ReplayRequest): Promise<ReplayResult> {
  const { reader, close } = openTrace(req.tracePath);
  const header = reader.header;
  // A damaged trace is refused before anything runs (one line, its byte offset); one cut short
  // is replayed as far as it goes, and the worker says where it ends.
  const integrity = integrityOf(req.tracePath, reader);
  close();
  if (integrity.state === 'damaged') throw integrity.error;
  // A module given explicitly wins over the embedded one: replaying a changed module against an
  // old trace is how one finds where the change altered behaviour.
  const bytes = req.moduleBytes ?? header.module.bytes;
  if (!bytes) throw new ModuleNotEmbeddedError(req.tracePath, header.module.name);
  const actualSha = hex(sha256(bytes));
  const moduleMismatch = actualSha === header.module.sha256 ? null
    : `the module given (sha256 ${actualSha.slice(0, 16)}...) is not the one recorded (${header.module.sha256.slice(0, 16)}...)`;
  const limit = header.config.maxMemoryBytes;
  const passes = header.module.rewrite ?? []; // the same pipeline, in the same order, as recorded
  const copy = req.hooks !== undefined || req.snapshots !== undefined;
  if (copy && moduleKind(bytes) === 'component') throw new ReplaySetupError('this trace runs a WASI 0.2 component: hook steps, snapshots and replay --from need a core module (replay, diff and the TUI work by event)');
  if (copy && threadsPassOf(passes) !== undefined) throw new ReplaySetupError('this trace runs a wasi-threads module: hook steps, snapshots and replay --from need a single-threaded one (replay, diff and the TUI work by event)');
  const module = copy ? await snapshotModule(bytes, actualSha, limit, passes) : await compileProgram(bytes, header.module.name, limit, passes, actualSha);
  const trees: Record<string, TreeNode> = {};
  for (const p of header.preopens) {
    const tree = p.tree ?? loadHostTree(p.hostPath, header.config.snapshotLimits);
    if (!p.tree && snapshotSha256(tree) !== p.sha256) throw new ReplaySetupError(`--dir ${p.hostPath} has changed since it was recorded (its snapshot was too large to embed)`);
    trees[p.hostPath] = tree;
  }
  const config = processConfig({
    ...header.config,
    preopens: header.preopens.map(({ hostPath, guestPath }) => ({ hostPath, guestPath })),
    clock: header.options.clock, random: header.options.random,
    writeBack: false,
    maxStackBytes: stackLimitOf(passes),
    maxFuel: fuelLimitOf(passes),
    canonicalNans: canonicalNansOf(passes),
  });
  let stats: SessionStats | undefined;
  const guest = startGuest({
    module, config, trees, onOutput: req.onOutput, ...(req.watchedOutput ? { watchedOutput: req.watchedOutput } : {}),
    session: {
      kind: 'replay', tracePath: req.tracePath, checkpointEvery: header.options.checkpointEvery, quiet: req.quiet ?? false,
      cutShort: integrity.state === 'incomplete' ? { reason: integrity.error.reason, offset: integrity.error.offset }
        : integrity.state === 'stopped' ? { reason: integrity.note, offset: integrity.footerOffset, stopped: true } : null,
      captureMemory: req.captureMemory ?? false,
      ...(req.toEvent !== undefined ? { toEvent: req.toEvent } : {}),
      ...(req.hooks ? { hooks: req.hooks } : {}),
      ...(copy ? { snapshots: req.snapshots ?? {} } : {}),
      ...(req.stateHashes ? { stateHashes: req.stateHashes } : {}), // the snapshot copy always runs with its driver (the clock, the stop import)
    },
    ...(req.onSnapshot ? { onSnapshot: req.onSnapshot } : {}),
    onStats: (s) => { stats = s; },
  });
  const onProgress = req.onProgress;
  const ticker = onProgress ? setInterval(() => onProgress(guest.eventsSoFar()), replayProgressPollMs) : undefined;
  try {
    const outcome = await guest.outcome;
    return { outcome, stats, header, moduleMismatch };
  } finally {
    clearInterval(ticker);
  }
}
