// `replicode inspect`: what a trace holds, read chunk by chunk (bounded memory), and its events.
import { pack, pageHashBytes, type RewritePassRecord, syscallName, syscallTable, TraceFormatError, type TraceReader, type TraceRecord } from '../formats/index.js';
import { defaultMaxThreads, canonicalNansOf, fuelLimitOf, stackLimitOf } from '../runtime/index.js';
import { describeNetEvent, eventsOf, resultName } from './events.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export interface TraceSummary {
  formatVersion: number;
  header: {
    replicodeVersion: string; module: { name: string; sha256: string; size: number; embedded: boolean };
    args: string[]; env: string[]; seed: string; epoch: string; clock: string; random: string;
    checkpointEvery: number; recordOutput: boolean;
    preopens: { hostPath: string; guestPath: string; sha256: string; embedded: boolean }[];
    /** The process on its machine: pid, where stdin came from, its limits, names and faults. */
    pid: number; stdin: 'batches' | 'records'; maxMemoryBytes: number | null; hosts: [string, string][]; faults: string[];
    /** The call-stack limit (--max-stack) in counted bytes; null: none of its own (traces before it existed). */
    maxStackBytes: number | null;
    /** The module rewriting passes, in order, with their options (replay applies them again). */
    rewrite: RewritePassRecord[];
    /** The fuel limit (--max-fuel); null: no fuel counting. */
    maxFuel: number | null;
    /** Whether float results were NaN-canonicalised (false in traces recorded before it existed, or with --no-canonical-nans). */
    canonicalNans: boolean;
    /** wasi-threads traces only: the bound on threads alive at once (--max-threads). */
    maxThreads?: number;
    /** wasi:http servers only (`serve --idle-timeout`): the idle timeout in milliseconds. */
    httpIdleTimeoutMs?: number;
    httpServeRevision?: number;
  };
  /** Whole: every chunk checks out, closed with footer and trailer, recorded to its end. */
  complete: boolean;
  /**
   * `stopped`: whole, but the recording was stopped on purpose (the user, the size limit; see
   * `stopped`); `incomplete`: cut short, or the recording ended early otherwise; `damaged`: bytes
   * no writer produced (see `error`).
   */
  state: 'intact' | 'stopped' | 'incomplete' | 'damaged';
  /** For a stopped trace: why and after how many events, in one line. */
  stopped: string | null;
  events: number;
  calls: Record<string, number>;
  records: Record<string, { count: number; bytes: number }>;
  /** `pages`: how many 64 KiB memory pages the checkpoint hashed one by one (null: a trace without page hashes). */
  checkpoints: { number: number; event: number; chain: string; pages: number | null }[];
  /** `fuelUsed`: what the guest used of its --max-fuel (null: it did not count fuel). */
  exit: { outcome: string; exitCode: number; trapMessage: string | null; stdoutBytes: number; stderrBytes: number; fuelUsed: number | null } | null;
  size: { fileBytes: number; chunks: number; storedBytes: number; rawBytes: number; bytesPerEvent: number };
  /** Where and why reading stopped early, or why the trace is not whole (one line, with the byte offset). */
  error: string | null;
  errorOffset: number | null;
}

export function summarizeTrace(reader: TraceReader, onProgress?: (fraction: number) => void): TraceSummary {
  const h = reader.header;
  const summary: TraceSummary = {
    formatVersion: reader.version,
    header: {
      replicodeVersion: h.replicodeVersion,
      module: { name: h.module.name, sha256: h.module.sha256, size: h.module.size, embedded: h.module.bytes !== null },
      args: h.config.args, env: h.config.env, seed: String(h.config.seed),
      epoch: new Date(Number(h.config.epochNs / 1_000_000n)).toISOString(),
      clock: h.options.clock, random: h.options.random, checkpointEvery: h.options.checkpointEvery, recordOutput: h.options.recordOutput,
      preopens: h.preopens.map((p) => ({ hostPath: p.hostPath, guestPath: p.guestPath, sha256: p.sha256, embedded: p.tree !== null })),
      pid: h.config.pid, stdin: h.config.stdin === 'machine' ? 'batches' : 'records', maxMemoryBytes: h.config.maxMemoryBytes ?? null,
      hosts: h.config.hosts ?? [], faults: h.config.faults ?? [],
      maxStackBytes: stackLimitOf(h.module.rewrite ?? []) ?? null, rewrite: h.module.rewrite ?? [],
      maxFuel: fuelLimitOf(h.module.rewrite ?? []) ?? null, canonicalNans: canonicalNansOf(h.module.rewrite ?? []),
      ...((h.module.rewrite ?? []).some((p) => p.name === 'threads') ? { maxThreads: h.config.maxThreads ?? defaultMaxThreads } : {}),
      ...(h.config.httpIdleTimeoutMs !== undefined ? { httpIdleTimeoutMs: h.config.httpIdleTimeoutMs } : {}),
      ...(h.config.httpServeRevision !== undefined ? { httpServeRevision: h.config.httpServeRevision } : {}),
    },
    complete: false, state: 'damaged', stopped: null,
    events: 0, calls: {}, records: {}, checkpoints: [], exit: null,
    size: { fileBytes: reader.source.size, chunks: 1, storedBytes: 0, rawBytes: 0, bytesPerEvent: 0 },
    error: null, errorOffset: null,
  };
  const count = (kind: string, bytes: number) => {
    const r = (summary.records[kind] ??= { count: 0, bytes: 0 });
    r.count++;
    r.bytes += bytes;
  };
  try {
    for (const { record } of reader.records(reader.bodyOffset, (chunk) => {
      summary.size.chunks++;
      summary.size.storedBytes += chunk.storedBytes;
      summary.size.rawBytes += chunk.rawBytes;
      onProgress?.(chunk.offset / reader.source.size);
    })) {
      count(record.kind, encodedSize(record));
      if (record.kind === 'calls') {
        summary.events = record.first + record.ids.length;
        for (const id of record.ids) {
          const name = syscallName(id);
          summary.calls[name] = (summary.calls[name] ?? 0) + 1;
        }
      } else if (record.kind === 'checkpoint') {
        const pages = record.pages ? record.pages.length / pageHashBytes : null;
        summary.checkpoints.push({ number: record.number, event: record.event, chain: hex(record.chain), pages });
      } else if (record.kind === 'exit') {
        const { outcome, exitCode, trapMessage, stdoutBytes, stderrBytes } = record;
        summary.exit = { outcome, exitCode, trapMessage, stdoutBytes, stderrBytes, fuelUsed: record.fuel ?? null };
      }
    }
    const integrity = reader.integrity; // known by now: reading reached the footer
    summary.state = integrity.state;
    if (integrity.state === 'stopped') summary.stopped = integrity.note;
    else if (integrity.state !== 'intact') [summary.error, summary.errorOffset] = [integrity.error.message, integrity.error.offset];
  } catch (err) {
    if (!(err instanceof TraceFormatError)) throw err;
    [summary.error, summary.errorOffset] = [err.message, err.offset];
    summary.state = err.kind;
  }
  summary.complete = summary.state === 'intact';
  // Per event, the header (module, snapshots) left out: it does not grow with the run.
  summary.size.bytesPerEvent = summary.events > 0 ? (reader.source.size - reader.bodyOffset) / summary.events : 0;
  onProgress?.(1);
  return summary;
}

/** Encoded size of a record before compression (to within a few bytes of framing). */
function encodedSize(record: TraceRecord): number {
  switch (record.kind) {
    case 'calls': return record.ids.length * 6 + 16;
    case 'stdin': case 'entropy': case 'output': return record.data.length + 12;
    case 'clock': return 14;
    case 'checkpoint': return 7 * 34 + 12;
    case 'exit': return 24 + (record.trapMessage?.length ?? 0);
    default: return pack(record).length;
  }
}

export interface EventRow {
  event: number;
  kind: 'call' | 'checkpoint';
  syscall?: string;
  result?: string;
  fingerprint?: string;
  /** The guest thread that made the call (wasi-threads; 0: the main thread, and every single-threaded trace). */
  thread?: number;
  inputs?: string[];
  checkpoint?: { number: number; chain: string };
}

export interface EventQuery { from?: number; limit?: number; kind?: string }

function describeInput(r: TraceRecord): string {
  switch (r.kind) {
    case 'stdin': return r.status === 1 ? `stdin: EOF` : r.status === 2 ? `stdin: nothing ready (poll)` : `stdin: ${r.data.length} bytes ${JSON.stringify(Buffer.from(r.data.subarray(0, 40)).toString('latin1'))}${r.data.length > 40 ? '...' : ''}`;
    case 'clock': return `clock ${r.clockId}: ${r.value}`;
    case 'entropy': return `entropy: ${r.data.length} bytes ${hex(r.data.subarray(0, 16))}${r.data.length > 16 ? '...' : ''}`;
    case 'output': return `${r.stream === 1 ? 'stdout' : 'stderr'}: ${r.data.length} bytes`;
    case 'net': return `net: ${r.delivery.events.map((e) => describeNetEvent(e, 40)).join('; ') || 'tick'}`;
    default: return r.kind;
  }
}

/** What `--kind` selects besides a syscall's name. */
export const eventKinds = ['stdin', 'clock', 'entropy', 'net', 'output', 'checkpoint'] as const;

/** True if `kind` names something an event query can select: a syscall, an input kind, or "checkpoint". */
export function isEventKind(kind: string): boolean {
  return (eventKinds as readonly string[]).includes(kind) || syscallTable.some(([name]) => name === kind);
}

/**
 * Events from `from` on, filtered by kind (a syscall name, an input kind, or "checkpoint"), one
 * row at a time: memory does not depend on how many are listed. Throws TraceFormatError where
 * reading stops.
 */
export function* eventRows(reader: TraceReader, query: EventQuery = {}): Generator<EventRow> {
  const from = query.from ?? 0;
  const limit = query.limit ?? 50;
  const wanted = (row: EventRow, inputRecords: TraceRecord[]) => {
    if (!query.kind) return true;
    if (row.kind === 'checkpoint') return query.kind === 'checkpoint';
    return row.syscall === query.kind || inputRecords.some((r) => r.kind === query.kind);
  };
  let listed = 0;
  // A thread per row only in a trace of a wasi-threads run: older and single-threaded listings stay as they were.
  const threaded = (reader.header.module.rewrite ?? []).some((p) => p.name === 'threads');
  for (const view of eventsOf(reader, from)) {
    if (listed >= limit) return;
    const row: EventRow = view.type === 'call'
      ? {
        event: view.index, kind: 'call', syscall: syscallName(view.id), result: resultName(view.result),
        fingerprint: view.fingerprint.toString(16).padStart(8, '0'), ...(threaded ? { thread: view.thread } : {}), inputs: view.inputs.map(describeInput),
      }
      : { event: view.record.event, kind: 'checkpoint', checkpoint: { number: view.record.number, chain: hex(view.record.chain) } };
    if (!wanted(row, view.type === 'call' ? view.inputs : [])) continue;
    listed++;
    yield row;
  }
}

/** The rows of `eventRows` in a list (for a screenful: keep `limit` small), and where reading stopped. */
export function listEvents(reader: TraceReader, query: EventQuery = {}): { rows: EventRow[]; error: string | null } {
  const rows: EventRow[] = [];
  try {
    for (const row of eventRows(reader, query)) rows.push(row);
  } catch (err) {
    if (!(err instanceof TraceFormatError)) throw err;
    return { rows, error: err.message };
  }
  return { rows, error: null };
}
