// The records of a trace. On the wire each is a msgpack array whose first element is its kind;
// `encode*` are the one factory per kind, `decodeRecord` the one validating reader.
import { maxRecordBytes } from './framing.js';
import { pack } from './msgpack.js';

export const RecordKind = {
  header: 1, calls: 2, stdin: 3, clock: 4, entropy: 5, output: 7, checkpoint: 8, exit: 9, footer: 10, net: 11,
} as const;
export type RecordKindName = keyof typeof RecordKind;
export const recordKindNames = Object.fromEntries(Object.entries(RecordKind).map(([k, v]) => [v, k])) as Record<number, RecordKindName>;

/** A --dir snapshot as stored in a header (same shape as the runtime's TreeNode). */
export type SnapshotTree =
  | { kind: 'file'; data: Uint8Array }
  | { kind: 'dir'; entries: [string, SnapshotTree][] }
  | { kind: 'symlink'; target: string };

export interface TraceHeader {
  replicodeVersion: string;
  module: {
    name: string; sha256: string; size: number; bytes: Uint8Array | null;
    /** The rewriting passes applied before compiling, in order (runtime/rewrite/), applied again by replay. */
    rewrite?: RewritePassRecord[];
  };
  config: {
    args: string[]; env: string[]; seed: bigint; epochNs: bigint; writeBack: boolean; maxOpenFds: number;
    snapshotLimits: { maxEntries: number; maxBytes: number };
    /** The process's id on its machine (its network address is 10.77.0.pid). */
    pid: number;
    /** Faults injected into this run (`--inject`), re-applied by replay. */
    faults?: string[];
    /** 'machine': stdin came in the machine's batches (net records); absent: stdin records. */
    stdin?: 'machine';
    /** Names sock_getaddrinfo resolved (--host NAME=IP). */
    hosts?: [string, string][];
    /** The guest's memory limit (--max-memory), applied to the module again by replay. */
    maxMemoryBytes?: number;
    /** The send buffer of connections to outside clients; absent: unbounded (older traces). */
    sendBufferBytes?: number;
    /** wasi-threads: --max-threads; absent: the default (64). */
    maxThreads?: number;
    /** A wasi:http server's idle timeout in ms (`serve --idle-timeout`); absent: none (older traces). */
    httpIdleTimeoutMs?: number;
    /** A wasi:http server loop's revision (runtime/p2/serve.ts); absent: 1 (older traces). */
    httpServeRevision?: number;
  };
  preopens: { hostPath: string; guestPath: string; sha256: string; tree: SnapshotTree | null }[];
  options: { clock: 'virtual' | 'real'; random: 'seeded' | 'os'; checkpointEvery: number; recordOutput: boolean };
}

/** A module rewriting pass and its options, as the trace header lists them. */
export type RewritePassRecord =
  | { name: 'stack-limit'; maxStackBytes: number }
  /** Fuel counting (--max-fuel): the guest stops once it has used `maxFuel` (runtime/rewrite/fuel.ts). */
  | { name: 'fuel'; maxFuel: number }
  /** NaN canonicalisation (on unless --no-canonical-nans; runtime/rewrite/nans.ts). */
  | { name: 'canonical-nans' }
  /** wasi-threads: wait/notify call the scheduler, which switches threads every `quantum` units of fuel (runtime/rewrite/threads.ts). */
  | { name: 'threads'; quantum: number };
/**
 * The largest call-stack limit (--max-stack): 256 MiB of counted frames, whose thread then gets
 * a 520 MB V8 stack (a 2 GB stack takes Node 10 s to start a worker with).
 */
export const maxStackLimitBytes = 256 * 1024 * 1024;

function isRewritePass(v: unknown): v is RewritePassRecord {
  const p = v as Record<string, unknown> | null;
  if (typeof p !== 'object' || p === null) return false;
  switch (p.name) {
    case 'stack-limit': return isCount(p.maxStackBytes) && p.maxStackBytes > 0 && p.maxStackBytes <= maxStackLimitBytes;
    case 'fuel': return isCount(p.maxFuel) && p.maxFuel > 0;
    case 'canonical-nans': return true;
    case 'threads': return isCount(p.quantum) && p.quantum > 0 && p.quantum <= 2 ** 30;
    default: return false;
  }
}

/** A pass record with exactly its own fields, in their order (the header's bytes depend on it). */
function plainPass(p: RewritePassRecord): RewritePassRecord {
  switch (p.name) {
    case 'stack-limit': return { name: p.name, maxStackBytes: p.maxStackBytes };
    case 'fuel': return { name: p.name, maxFuel: p.maxFuel };
    case 'canonical-nans': return { name: p.name };
    case 'threads': return { name: p.name, quantum: p.quantum };
  }
}

/**
 * A run of consecutive syscall events, stored column by column (they compress well so).
 * `threads`: the guest thread (wasi-threads tid) that made each event; absent when every event
 * is the main thread's (0), as in every single-threaded trace and every trace older than threads.
 */
export interface CallsRecord { kind: 'calls'; first: number; ids: Uint8Array; results: Uint8Array; fingerprints: Uint32Array; threads?: Uint32Array }
export const StdinStatus = { data: 0, eof: 1, again: 2 } as const;
export interface StdinRecord { kind: 'stdin'; event: number; requested: number; poll: boolean; status: number; data: Uint8Array }
export interface ClockRecord { kind: 'clock'; event: number; clockId: number; value: bigint }
export interface EntropyRecord { kind: 'entropy'; event: number; data: Uint8Array }
export interface OutputRecord { kind: 'output'; event: number; stream: 1 | 2; data: Uint8Array }
export interface StateDigest { memory: Uint8Array; globals: Uint8Array; fds: Uint8Array; fs: Uint8Array; stdout: Uint8Array; stderr: Uint8Array }
/**
 * `pages`: a hash per 64 KiB page of linear memory (`pageHashBytes` each, page 0 first), so two
 * traces name the pages where they differ without replaying; then `digest.memory` is derived from
 * the pages' hashes (see runtime/trace/digest.ts). Absent in traces written before it existed,
 * where `digest.memory` is the SHA-256 of the whole memory.
 */
export interface CheckpointRecord { kind: 'checkpoint'; number: number; event: number; chain: Uint8Array; digest: StateDigest; pages?: Uint8Array }
/** The unit of page hashes: a wasm page. */
export const memoryPageBytes = 65536;
/** Each page's hash in a checkpoint: the first 8 bytes of its SHA-256 (the writer and the reader share it). */
export const pageHashBytes = 8;
/** wasm32 memory holds at most 65536 pages, so a checkpoint's page hashes take at most 512 KiB. */
export const maxMemoryPages = 65536;
export interface ExitRecord {
  kind: 'exit'; event: number; outcome: 'exit' | 'trap'; exitCode: number; trapMessage: string | null;
  stdoutBytes: number; stderrBytes: number;
  /** The fuel the guest used, when it counted fuel (--max-fuel): an additive eighth element. */
  fuel?: number;
}
/**
 * Why a recording that was closed properly did not run to its end: the user stopped it (Ctrl-C,
 * SIGTERM), or the trace reached its size limit (--max-trace-bytes, or a record over
 * maxRecordBytes). Absent with `complete` false: it ended early some other way (a host failure).
 */
export type StopReason = 'stopped' | 'size-limit';
export const stopReasons: readonly StopReason[] = ['stopped', 'size-limit'];
export interface FooterRecord {
  kind: 'footer'; events: number; checkpoints: [number: number, event: number, chunkOffset: number][]; complete: boolean;
  /** Added after format 2 was first written (readers of older footers see it absent). */
  stop?: StopReason;
}
export interface HeaderRecord { kind: 'header'; header: TraceHeader }

/** What the machine delivered to a blocked process (same shape as the runtime's Delivery). */
export type NetEventRecord =
  | { kind: 'incoming'; conn: number; port: number; peer: { ip: [number, number, number, number]; port: number } }
  | { kind: 'connected'; request: number; conn: number; errno: number }
  | { kind: 'data'; conn: number; bytes: Uint8Array }
  | { kind: 'eof'; conn: number }
  | { kind: 'reset'; conn: number }
  | { kind: 'datagram'; port: number; from: { ip: [number, number, number, number]; port: number }; bytes: Uint8Array }
  | { kind: 'stdin'; bytes: Uint8Array }
  | { kind: 'stdin-eof' }
  | { kind: 'acked'; conn: number; bytes: number };
export interface NetDelivery { timeNs: bigint; events: NetEventRecord[]; stopping?: boolean }
export interface NetRecord { kind: 'net'; event: number; delivery: NetDelivery }

export type TraceRecord = HeaderRecord | CallsRecord | StdinRecord | ClockRecord | EntropyRecord | OutputRecord | CheckpointRecord | ExitRecord | FooterRecord | NetRecord;
/** Records that feed a value into one syscall event. */
export type InputRecord = StdinRecord | ClockRecord | EntropyRecord | NetRecord;

// ---- factories ---------------------------------------------------------------------------------

export const encodeHeader = (h: TraceHeader): Uint8Array => pack([RecordKind.header, h]);

/**
 * The calls record, written by hand rather than by msgpackr: it is the one record made on the
 * guest's hot path, and its layout is fixed ([2, first, bin ids, bin results, bin fingerprints
 * as u32 LE]). The bytes are exactly what msgpackr would produce (the golden test checks).
 */
export function encodeCalls(first: number, ids: Uint8Array, results: Uint8Array, fingerprints: Uint32Array, threads?: Uint32Array): Uint8Array {
  const n = ids.length;
  if (!Number.isSafeInteger(first) || first < 0 || first > 0xffffffff) {
    // The sixth element, the thread column, only when some event is not the main thread's.
    const withThreads = threads !== undefined && threads.subarray(0, n).some((t) => t !== 0);
    const u32 = (column: Uint32Array) => {
      const bytes = new Uint8Array(n * 4);
      const view = new DataView(bytes.buffer);
      for (let i = 0; i < n; i++) view.setUint32(i * 4, column[i]!, true);
      return bytes;
    };
    return pack([RecordKind.calls, first, ids, results, u32(fingerprints), ...(withThreads ? [u32(threads)] : [])]);
  }
  const out = new Uint8Array(maxCallsRecordBytes(n, threads));
  return out.subarray(0, encodeCallsInto(out, first, ids, results, fingerprints, threads));
}

/** The most bytes a calls record of `n` events takes (encodeCallsInto's room), with a thread column if `threads` is given. */
export const maxCallsRecordBytes = (n: number, threads?: Uint32Array): number => 2 + 5 + 4 * 5 + n * (threads ? 10 : 6);

/** Whether this machine stores a Uint32Array little-endian, as the format does (then fingerprints are copied whole). */
const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * encodeCalls into `out` (at least maxCallsRecordBytes(n, threads) bytes) with no allocation, for
 * a recorder that reuses one buffer; `first` must fit 32 bits (encodeCalls covers the rest).
 * The thread column (a sixth element) is written only when some event is not the main thread's.
 * Returns the record's length.
 */
export function encodeCallsInto(out: Uint8Array, first: number, ids: Uint8Array, results: Uint8Array, fingerprints: Uint32Array, threads?: Uint32Array): number {
  const n = ids.length;
  let withThreads = false;
  if (threads !== undefined) for (let i = 0; i < n && !withThreads; i++) withThreads = threads[i] !== 0;
  assert(Number.isSafeInteger(first) && first >= 0 && first <= 0xffffffff && out.length >= maxCallsRecordBytes(n, withThreads ? threads : undefined), 'a calls record fits its buffer');
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let at = 0;
  out[at++] = withThreads ? 0x96 : 0x95;
  out[at++] = RecordKind.calls;
  at = writeUint(out, view, at, first);
  at = writeBin(out, view, at, ids);
  at = writeBin(out, view, at, results);
  at = writeU32Column(out, view, at, fingerprints, n);
  if (withThreads) at = writeU32Column(out, view, at, threads!, n);
  return at;
}

/** A bin of `n` u32 LE values (copied whole on a little-endian machine). */
function writeU32Column(out: Uint8Array, view: DataView, at: number, column: Uint32Array, n: number): number {
  at = writeBinHeader(out, view, at, n * 4);
  if (littleEndian) {
    out.set(new Uint8Array(column.buffer, column.byteOffset, n * 4), at);
    return at + n * 4;
  }
  for (let i = 0; i < n; i++, at += 4) view.setUint32(at, column[i]!, true);
  return at;
}

function writeUint(out: Uint8Array, view: DataView, at: number, v: number): number {
  if (v < 0x80) { out[at] = v; return at + 1; }
  if (v < 0x100) { out[at] = 0xcc; out[at + 1] = v; return at + 2; }
  if (v < 0x10000) { out[at] = 0xcd; view.setUint16(at + 1, v); return at + 3; }
  out[at] = 0xce; view.setUint32(at + 1, v); return at + 5;
}

function writeBinHeader(out: Uint8Array, view: DataView, at: number, length: number): number {
  if (length < 0x100) { out[at] = 0xc4; out[at + 1] = length; return at + 2; }
  if (length < 0x10000) { out[at] = 0xc5; view.setUint16(at + 1, length); return at + 3; }
  out[at] = 0xc6; view.setUint32(at + 1, length); return at + 5;
}

function writeBin(out: Uint8Array, view: DataView, at: number, data: Uint8Array): number {
  at = writeBinHeader(out, view, at, data.length);
  out.set(data, at);
  return at + data.length;
}

export const encodeStdin = (event: number, requested: number, poll: boolean, status: number, data: Uint8Array): Uint8Array =>
  pack([RecordKind.stdin, event, requested, poll ? 1 : 0, status, data]);
export const encodeClock = (event: number, clockId: number, value: bigint): Uint8Array =>
  pack([RecordKind.clock, event, clockId, BigInt.asUintN(64, value)]);
export const encodeEntropy = (event: number, data: Uint8Array): Uint8Array => pack([RecordKind.entropy, event, data]);
/** [11, event, timeNs, stopping, events]; each event is [kind code, ...fields]. */
export function encodeNet(event: number, d: NetDelivery): Uint8Array {
  const events = d.events.map((e) => {
    switch (e.kind) {
      case 'incoming': return [0, e.conn, e.port, e.peer.ip, e.peer.port];
      case 'connected': return [1, e.request, e.conn, e.errno];
      case 'data': return [2, e.conn, e.bytes];
      case 'eof': return [3, e.conn];
      case 'reset': return [4, e.conn];
      case 'datagram': return [5, e.port, e.from.ip, e.from.port, e.bytes];
      case 'stdin': return [6, 0, e.bytes];
      case 'stdin-eof': return [7, 0];
      case 'acked': return [8, e.conn, e.bytes];
    }
  });
  return pack([RecordKind.net, event, BigInt.asUintN(64, d.timeNs), d.stopping ? 1 : 0, events]);
}
export const encodeOutput = (event: number, stream: 1 | 2, data: Uint8Array): Uint8Array => pack([RecordKind.output, event, stream, data]);
function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`RepliCode bug: ${message}`);
}
assert(maxMemoryPages * pageHashBytes + 1024 < maxRecordBytes, 'a checkpoint with every page hash fits in one record');

/** `[8, number, event, chain, [six hashes]]`, then the page hashes when there are some (an additive sixth element). */
export function encodeCheckpoint(number: number, event: number, chain: Uint8Array, d: StateDigest, pages?: Uint8Array): Uint8Array {
  const parts = [d.memory, d.globals, d.fds, d.fs, d.stdout, d.stderr];
  if (pages === undefined) return pack([RecordKind.checkpoint, number, event, chain, parts]);
  assert(pages.length % pageHashBytes === 0 && pages.length <= maxMemoryPages * pageHashBytes, 'page hashes: whole hashes, at most one per wasm32 page');
  return pack([RecordKind.checkpoint, number, event, chain, parts, pages]);
}
/** `[9, event, outcome, exitCode, trapMessage, stdoutBytes, stderrBytes]`, then the fuel used when counted (an additive eighth element). */
export const encodeExit = (r: Omit<ExitRecord, 'kind'>): Uint8Array => pack(r.fuel === undefined
  ? [RecordKind.exit, r.event, r.outcome, r.exitCode, r.trapMessage, r.stdoutBytes, r.stderrBytes]
  : [RecordKind.exit, r.event, r.outcome, r.exitCode, r.trapMessage, r.stdoutBytes, r.stderrBytes, r.fuel]);
/** `[10, events, checkpoints, complete]`, then the stop reason when there is one (an additive fifth element). */
export const encodeFooter = (r: Omit<FooterRecord, 'kind'>): Uint8Array =>
  pack(r.stop ? [RecordKind.footer, r.events, r.checkpoints, r.complete, r.stop] : [RecordKind.footer, r.events, r.checkpoints, r.complete]);

// ---- the validating reader -----------------------------------------------------------------------

/** A record that does not have the shape its kind requires. */
export class RecordShapeError extends Error {}

const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
/** msgpackr decodes binary as Buffer; records hand out plain Uint8Arrays (views, no copy). */
const plain = (v: Uint8Array): Uint8Array => (v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
function need(condition: unknown, what: string): asserts condition {
  if (!condition) throw new RecordShapeError(what);
}
const toBig = (v: unknown): bigint => {
  need(typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v)), 'expected an integer');
  return BigInt(v as number | bigint);
};

const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function decodeRecord(value: unknown): TraceRecord {
  need(Array.isArray(value) && value.length > 0, 'a record is an array');
  const r = value as unknown[];
  switch (r[0]) {
    case RecordKind.header:
      need(r[1] && typeof r[1] === 'object', 'header body');
      return { kind: 'header', header: decodeHeader(r[1] as Record<string, unknown>) };
    case RecordKind.calls: {
      const [, first, ids, results, fp, tids] = r;
      need(isCount(first) && isBytes(ids) && isBytes(results) && isBytes(fp), 'calls fields');
      need(results.length === ids.length && fp.length === ids.length * 4, 'calls columns of equal length');
      need(r.length <= 6 && (tids === undefined || (isBytes(tids) && tids.length === ids.length * 4)), 'calls thread column of equal length');
      const u32 = (bytes: Uint8Array) => {
        const column = new Uint32Array(ids.length);
        // The column is little-endian, as a Uint32Array is on every host Node runs on: one copy
        // (a DataView read per value cost ~7 ns an event of a replay's guest thread).
        if (littleEndianHost) {
          new Uint8Array(column.buffer).set(bytes);
          return column;
        }
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        for (let i = 0; i < ids.length; i++) column[i] = view.getUint32(i * 4, true);
        return column;
      };
      return { kind: 'calls', first, ids: plain(ids), results: plain(results), fingerprints: u32(fp), ...(tids !== undefined ? { threads: u32(tids as Uint8Array) } : {}) };
    }
    case RecordKind.stdin: {
      const [, event, requested, poll, status, data] = r;
      need(isCount(event) && isCount(requested) && isCount(status) && status <= 2 && isBytes(data), 'stdin fields');
      return { kind: 'stdin', event, requested, poll: poll === 1, status, data: plain(data) };
    }
    case RecordKind.clock: {
      const [, event, clockId, v] = r;
      need(isCount(event) && isCount(clockId), 'clock fields');
      return { kind: 'clock', event, clockId, value: toBig(v) };
    }
    case RecordKind.entropy: {
      const [, event, data] = r;
      need(isCount(event) && isBytes(data), 'entropy fields');
      return { kind: 'entropy', event, data: plain(data) };
    }
    case RecordKind.output: {
      const [, event, stream, data] = r;
      need(isCount(event) && (stream === 1 || stream === 2) && isBytes(data), 'output fields');
      return { kind: 'output', event, stream, data: plain(data) };
    }
    case RecordKind.net: {
      const [, event, timeNs, stopping, events] = r;
      need(isCount(event) && Array.isArray(events), 'net fields');
      return { kind: 'net', event, delivery: { timeNs: toBig(timeNs), stopping: stopping === 1, events: (events as unknown[]).map(decodeNetEvent) } };
    }
    case RecordKind.checkpoint: {
      const [, number, event, chain, parts, pages] = r;
      need(isCount(number) && isCount(event) && isBytes(chain) && Array.isArray(parts) && parts.length === 6 && parts.every(isBytes), 'checkpoint fields');
      need(pages === undefined || (isBytes(pages) && pages.length % pageHashBytes === 0 && pages.length <= maxMemoryPages * pageHashBytes), 'checkpoint page hashes');
      const [memory, globals, fds, fs, stdout, stderr] = (parts as Uint8Array[]).map(plain);
      return {
        kind: 'checkpoint', number, event, chain: plain(chain), digest: { memory: memory!, globals: globals!, fds: fds!, fs: fs!, stdout: stdout!, stderr: stderr! },
        ...(pages !== undefined ? { pages: plain(pages) } : {}),
      };
    }
    case RecordKind.exit: {
      const [, event, outcome, exitCode, trapMessage, stdoutBytes, stderrBytes, fuel] = r;
      need(isCount(event) && (outcome === 'exit' || outcome === 'trap') && isCount(exitCode), 'exit fields');
      need((trapMessage === null || typeof trapMessage === 'string') && isCount(stdoutBytes) && isCount(stderrBytes), 'exit fields');
      need(fuel === undefined || isCount(fuel), 'exit fuel');
      return { kind: 'exit', event, outcome, exitCode, trapMessage, stdoutBytes, stderrBytes, ...(fuel !== undefined ? { fuel } : {}) };
    }
    case RecordKind.footer: {
      const [, events, checkpoints, complete, stop] = r;
      need(isCount(events) && Array.isArray(checkpoints), 'footer fields');
      for (const c of checkpoints) need(Array.isArray(c) && c.length === 3 && c.every(isCount), 'footer checkpoint entry');
      need(stop === undefined || (stopReasons as unknown[]).includes(stop), 'footer stop reason');
      need(stop === undefined || complete !== true, 'a footer that is complete has no stop reason');
      return { kind: 'footer', events, checkpoints: checkpoints as FooterRecord['checkpoints'], complete: complete === true, ...(stop !== undefined ? { stop: stop as StopReason } : {}) };
    }
    default:
      throw new RecordShapeError(`unknown record kind ${String(r[0])}`);
  }
}

function decodeNetEvent(v: unknown): NetEventRecord {
  need(Array.isArray(v) && v.length >= 2 && v.slice(0, 2).every(isCount), 'net event');
  const e = v as unknown[];
  const conn = e[1] as number;
  switch (e[0]) {
    case 0: {
      const ip = e[3];
      need(isCount(e[2]) && Array.isArray(ip) && ip.length === 4 && ip.every(isCount) && isCount(e[4]), 'incoming event');
      return { kind: 'incoming', conn, port: e[2] as number, peer: { ip: ip as [number, number, number, number], port: e[4] as number } };
    }
    case 1:
      need(isCount(e[2]) && isCount(e[3]), 'connected event');
      return { kind: 'connected', request: conn, conn: e[2] as number, errno: e[3] as number };
    case 2: need(isBytes(e[2]), 'data event'); return { kind: 'data', conn, bytes: plain(e[2] as Uint8Array) };
    case 3: return { kind: 'eof', conn };
    case 4: return { kind: 'reset', conn };
    case 5: {
      const ip = e[2];
      need(Array.isArray(ip) && ip.length === 4 && ip.every(isCount) && isCount(e[3]) && isBytes(e[4]), 'datagram event');
      return { kind: 'datagram', port: conn, from: { ip: ip as [number, number, number, number], port: e[3] as number }, bytes: plain(e[4] as Uint8Array) };
    }
    case 6: need(isBytes(e[2]), 'stdin event'); return { kind: 'stdin', bytes: plain(e[2] as Uint8Array) };
    case 7: return { kind: 'stdin-eof' };
    case 8: need(isCount(e[2]) && e[2] > 0, 'acked event'); return { kind: 'acked', conn, bytes: e[2] as number };
    default: throw new RecordShapeError(`unknown net event ${String(e[0])}`);
  }
}

function decodeTree(v: unknown, depth = 0): SnapshotTree {
  need(depth < 4096 && v && typeof v === 'object', 'snapshot node');
  const n = v as Record<string, unknown>;
  if (n.kind === 'file') { need(isBytes(n.data), 'file data'); return { kind: 'file', data: plain(n.data) }; }
  if (n.kind === 'symlink') { need(typeof n.target === 'string', 'symlink target'); return { kind: 'symlink', target: n.target }; }
  need(n.kind === 'dir' && Array.isArray(n.entries), 'directory entries');
  return {
    kind: 'dir',
    entries: (n.entries as unknown[]).map((e) => {
      need(Array.isArray(e) && e.length === 2 && typeof e[0] === 'string', 'directory entry');
      return [e[0] as string, decodeTree(e[1], depth + 1)];
    }),
  };
}

function isHostTable(v: unknown): v is [string, string][] {
  return Array.isArray(v) && v.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && typeof e[1] === 'string');
}

function decodeHeader(h: Record<string, unknown>): TraceHeader {
  const m = h.module as Record<string, unknown> | undefined;
  const c = h.config as Record<string, unknown> | undefined;
  const o = h.options as Record<string, unknown> | undefined;
  need(typeof h.replicodeVersion === 'string' && m && c && o && Array.isArray(h.preopens), 'header sections');
  need(typeof m.name === 'string' && typeof m.sha256 === 'string' && isCount(m.size) && (m.bytes === null || isBytes(m.bytes)), 'header module');
  need(m.rewrite === undefined || (Array.isArray(m.rewrite) && m.rewrite.every(isRewritePass)), 'header module rewrite passes');
  need(Array.isArray(c.args) && c.args.every((a) => typeof a === 'string') && Array.isArray(c.env) && c.env.every((a) => typeof a === 'string'), 'header args/env');
  const limits = c.snapshotLimits as Record<string, unknown> | undefined;
  need(limits && isCount(limits.maxEntries) && isCount(limits.maxBytes) && isCount(c.maxOpenFds), 'header limits');
  need((o.clock === 'virtual' || o.clock === 'real') && (o.random === 'seeded' || o.random === 'os') && isCount(o.checkpointEvery), 'header options');
  return {
    replicodeVersion: h.replicodeVersion,
    module: {
      name: m.name, sha256: m.sha256, size: m.size, bytes: m.bytes === null ? null : plain(m.bytes as Uint8Array),
      ...(m.rewrite !== undefined ? { rewrite: (m.rewrite as RewritePassRecord[]).map(plainPass) } : {}),
    },
    config: {
      args: c.args as string[], env: c.env as string[], seed: toBig(c.seed), epochNs: toBig(c.epochNs),
      writeBack: c.writeBack === true, maxOpenFds: c.maxOpenFds, snapshotLimits: { maxEntries: limits.maxEntries, maxBytes: limits.maxBytes },
      pid: isCount(c.pid) && c.pid > 0 ? c.pid : 1,
      ...(Array.isArray(c.faults) && c.faults.every((f) => typeof f === 'string') && c.faults.length > 0 ? { faults: c.faults as string[] } : {}),
      ...(c.stdin === 'machine' ? { stdin: 'machine' as const } : {}),
      ...(isHostTable(c.hosts) && c.hosts.length > 0 ? { hosts: c.hosts } : {}),
      ...(isCount(c.maxMemoryBytes) ? { maxMemoryBytes: c.maxMemoryBytes } : {}),
      ...(isCount(c.sendBufferBytes) && c.sendBufferBytes > 0 ? { sendBufferBytes: c.sendBufferBytes } : {}),
      ...(isCount(c.maxThreads) && c.maxThreads > 0 ? { maxThreads: c.maxThreads } : {}),
      ...(isCount(c.httpIdleTimeoutMs) && c.httpIdleTimeoutMs > 0 ? { httpIdleTimeoutMs: c.httpIdleTimeoutMs } : {}),
      ...(isCount(c.httpServeRevision) && c.httpServeRevision > 1 ? { httpServeRevision: c.httpServeRevision } : {}),
    },
    preopens: (h.preopens as unknown[]).map((p) => {
      need(p && typeof p === 'object', 'preopen');
      const q = p as Record<string, unknown>;
      need(typeof q.hostPath === 'string' && typeof q.guestPath === 'string' && typeof q.sha256 === 'string', 'preopen fields');
      return { hostPath: q.hostPath, guestPath: q.guestPath, sha256: q.sha256, tree: q.tree == null ? null : decodeTree(q.tree) };
    }),
    options: { clock: o.clock, random: o.random, checkpointEvery: o.checkpointEvery, recordOutput: o.recordOutput === true },
  };
}
