// The snapshot index next to a trace (TRACE.rct.idx; the format: formats/snapshot-index/,
// docs/index-format.md). It is a cache: opened if it belongs to this trace, this module copy and
// this snapshot format and checks out; otherwise rebuilt by one replay, and never required (if it
// cannot be written, the snapshots are kept in memory for this command only).
import { deserialize, serialize } from 'node:v8';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { IndexLimitError, IndexWriter, readIndex, TraceReader, type IndexFile, type IndexIdentity, type SnapshotIndex } from '../formats/index.js';
import {
  fileBlocked, fileDigest, moduleKind, openIndexFile, TraceReadError, readModuleInterface, removeFile, replaceFile, openTraceFile, sha256, snapshotFormatVersion, wasmPageBytes, type SnapshotState, type TakenSnapshot,
} from '../runtime/index.js';
import { snapshotModuleKey } from './instrument.js';
import { buildSnapshots, MemorySnapshotStore, snapshotSpacing, type SnapshotStore, type TraceFile } from './timetravel.js';
import { ModuleNotEmbeddedError, replayTrace, ReplaySetupError, type ReplayResult } from './replay.js';

/** Where a trace's index lives. */
export const indexPathOf = (tracePath: string): string => `${tracePath}.idx`;

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** What an index must match to be used: the trace's bytes, the snapshot copy of its module, the snapshot format. */
export function traceIdentity(tracePath: string): { identity: IndexIdentity; events: number; memoryBytes: number } {
  const source = openTraceFile(tracePath);
  let header;
  let events = 0;
  try {
    const reader = new TraceReader(source);
    header = reader.header;
    events = reader.integrity.footer?.events ?? 0;
  } finally {
    source.close();
  }
  const { bytes, sha256: traceSha256 } = fileDigest(tracePath);
  const moduleSha = header.module.bytes ? hex(sha256(header.module.bytes)) : header.module.sha256;
  return {
    identity: { traceBytes: bytes, traceSha256, moduleKey: snapshotModuleKey(moduleSha, header.config.maxMemoryBytes, header.module.rewrite ?? []), snapshotFormat: snapshotFormatVersion },
    events, memoryBytes: initialMemoryBytes(header.module.bytes),
  };
}

/** The memory a core module starts with (0 when that cannot be read: WAT text, a component, not embedded). */
function initialMemoryBytes(module: Uint8Array | null | undefined): number {
  if (!module || moduleKind(module) !== 'core') return 0;
  try {
    return (readModuleInterface(module).memories[0]?.minPages ?? 0) * wasmPageBytes;
  } catch {
    return 0; // the run that replays it says what is wrong with it
  }
}

/** A snapshot's parts the index keeps as one opaque blob. */
type StateBlob = Pick<SnapshotState, 'globals' | 'stack' | 'kernel' | 'session'>;

/** An index file as a SnapshotStore. */
class IndexStore implements SnapshotStore {
  readonly events: readonly number[];
  readonly trace: TraceFile;
  constructor(private readonly index: SnapshotIndex, private readonly file: IndexFile, tracePath: string) {
    this.events = index.snapshots.map((s) => s.event);
    this.trace = { path: tracePath, bytes: index.identity.traceBytes, sha256: index.identity.traceSha256 };
  }
  snapshot(i: number): SnapshotState {
    const s = this.index.snapshots[i]!;
    const blob = deserialize(inflateRawSync(this.index.state(s))) as StateBlob;
    return { event: s.event, clock: s.clock, memoryBytes: s.memoryBytes, stdoutBytes: s.stdoutBytes, stderrBytes: s.stderrBytes, pages: this.index.pageHashes(s).map(hex), ...blob };
  }
  page(hash: string): Uint8Array {
    const bytes = this.index.page(Buffer.from(hash, 'hex'));
    if (!bytes) throw new Error(`snapshot page ${hash.slice(0, 16)} is missing from the index`);
    return bytes;
  }
  output(stream: 1 | 2, length: number): Uint8Array { return this.index.output(stream, length); }
  close(): void { this.file.close(); }
}

export interface IndexOptions {
  /** Build the index if there is no usable one (default true); false: undefined instead. */
  build?: boolean;
  /** Rebuild even if a usable index exists. */
  force?: boolean;
  /** Events replayed so far while building (a progress line). */
  onProgress?: (events: number, total: number) => void;
  /** One line about the index: why an existing one was not used, or that it could not be written. */
  onNote?: (line: string) => void;
}

export interface OpenedIndex {
  store: SnapshotStore & { close(): void };
  /** Set when it was built now: the build replay's result (it verified the whole trace). */
  built: ReplayResult | null;
  path: string;
  /** False when it could not be written and lives in memory only. */
  onDisk: boolean;
}

/** Builds in progress in this process, by index path: a second caller waits for the first. */
const building = new Map<string, Promise<unknown>>();

/** The trace's index: opened if usable, else built (see IndexOptions). */
export async function openSnapshotIndex(tracePath: string, options: IndexOptions = {}): Promise<OpenedIndex | undefined> {
  const path = indexPathOf(tracePath);
  const inFlight = building.get(path);
  if (inFlight) await inFlight.catch(() => {});
  const { identity, events, memoryBytes } = traceIdentity(tracePath);
  if (!options.force) {
    const usable = tryOpen(tracePath, path, identity, options.onNote);
    if (usable) return { store: usable, built: null, path, onDisk: true };
  }
  if (options.build === false) return undefined;
  const built = build(tracePath, path, identity, snapshotSpacing(events, memoryBytes), events, options);
  building.set(path, built);
  try {
    return await built;
  } finally {
    building.delete(path);
  }
}

function tryOpen(tracePath: string, path: string, identity: IndexIdentity, onNote?: (line: string) => void): IndexStore | undefined {
  let file: IndexFile;
  try {
    file = openIndexFile(path, false);
  } catch {
    return undefined; // none yet
  }
  const read = readIndex(file, identity);
  if (read.ok) {
    const damage = read.index.verify();
    if (!damage && !read.truncated) return new IndexStore(read.index, file, tracePath);
    onNote?.(`${path}: ${damage ?? read.truncated}; rebuilding it`);
  } else {
    onNote?.(`${path}: ${read.problem}; rebuilding it`);
  }
  file.close();
  return undefined;
}

async function build(tracePath: string, path: string, identity: IndexIdentity, every: number, events: number, options: IndexOptions): Promise<OpenedIndex> {
  // Written beside the index and renamed over it when done: a reader (another command) never sees
  // half an index, and an interrupted build leaves the old one, or none.
  const temporary = `${path}.${process.pid}.tmp`;
  let file: IndexFile | undefined;
  const blocked = fileBlocked(path);
  try {
    if (blocked) throw Object.assign(new Error(blocked), { code: blocked });
    file = openIndexFile(temporary, true);
  } catch (err) {
    options.onNote?.(`${path}: cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); keeping the snapshots in memory`);
  }
  const progress = options.onProgress ? (n: number) => options.onProgress!(n, events) : undefined;
  if (!file) {
    const { store, result } = await buildSnapshots(tracePath, every, progress);
    return { store: Object.assign(store, { close() {} }), built: result, path, onDisk: false };
  }
  const writer = IndexWriter.create(file, identity);
  let full = false;
  const add = (s: TakenSnapshot): void => {
    if (full) return;
    try {
      for (const { hash, bytes } of s.newPages) writer.addPage(Buffer.from(hash, 'hex'), bytes);
      const blob: StateBlob = { globals: s.globals, stack: s.stack, kernel: s.kernel, session: s.session };
      writer.addSnapshot({ event: s.event, clock: s.clock, memoryBytes: s.memoryBytes, pages: s.pages.map((h) => Buffer.from(h, 'hex')), stdoutBytes: s.stdoutBytes, stderrBytes: s.stderrBytes, state: deflateRawSync(serialize(blob), { level: 1 }) });
    } catch (err) {
      if (!(err instanceof IndexLimitError)) throw err;
      full = true; // the bound is reached: the index keeps the snapshots so far
      options.onNote?.(`${path}: ${err.message}; later events have no snapshot`);
    }
  };
  let result: ReplayResult | undefined;
  let cut: TraceReadError | undefined;
  let finished = false;
  try {
    try {
      result = await replayTrace({
        tracePath, quiet: false, snapshots: { every }, onSnapshot: add,
        onOutput: (stream, bytes) => { if (!full) writer.appendOutput(stream, bytes); },
        ...(progress ? { onProgress: progress } : {}),
      });
    } catch (err) {
      if (err instanceof ModuleNotEmbeddedError) throw new ReplaySetupError(`the trace does not embed its module (${err.moduleName}), so index cannot replay it (only replay takes --module)`);
      // A trace cut short (a recorder killed) is replayed to its cut: its snapshots so far are good.
      if (!(err instanceof TraceReadError)) throw err;
      cut = err;
    }
    writer.finish();
    replaceFile(temporary, path);
    finished = true;
  } finally {
    if (!finished) {
      try { writer.close(); } catch { /* closed already */ }
      removeFile(temporary);
    }
  }
  if (cut) {
    options.onNote?.(`${path}: indexed up to where the trace ends (${cut.message.replace(/ \(at byte \d+\)$/, '')})`);
    throw cut;
  }
  const store = tryOpen(tracePath, path, identity, options.onNote);
  if (!store) throw new Error(`${path}: the index just written cannot be read back`);
  return { store, built: result!, path, onDisk: true };
}
