// A trace's events in order, each with the host inputs attached to it, and its checkpoints where
// they fall: inputs are written before the calls record that holds their event, so they are
// gathered until it arrives. One reading shared by `inspect --events`, `diff` and the TUI.
import { syscallName, type CheckpointRecord, type TraceReader, type TraceRecord } from '../formats/index.js';
import { errnoName } from '../runtime/index.js';

export interface CallView {
  type: 'call';
  index: number;
  id: number;
  fingerprint: number;
  result: number;
  /** The guest thread that made it (0 in single-threaded traces). */
  thread: number;
  /** Host inputs (and, with --record-output, output) attached to this event. */
  inputs: TraceRecord[];
  /** Network deliveries received before this event. */
  batch: number;
}
export interface CheckpointView { type: 'checkpoint'; record: CheckpointRecord }

/** The inputs of an event that has none (shared: never changed). */
const noInputs = Object.freeze([]) as unknown as TraceRecord[];

const attachable = (r: TraceRecord) => r.kind === 'stdin' || r.kind === 'clock' || r.kind === 'entropy' || r.kind === 'net' || r.kind === 'output';

/** Events (and checkpoints) from event `from` on; inputs of earlier events are not kept. */
export function* eventsOf(reader: TraceReader, from = 0): Generator<CallView | CheckpointView> {
  const inputs = new Map<number, TraceRecord[]>();
  let batches = 0;
  for (const { record } of reader.records()) {
    if (attachable(record)) {
      const event = (record as { event: number }).event;
      if (event >= from || record.kind === 'net') inputs.set(event, [...(inputs.get(event) ?? []), record]);
    } else if (record.kind === 'calls') {
      for (let i = 0; i < record.ids.length; i++) {
        const index = record.first + i;
        const got = inputs.get(index) ?? noInputs;
        if (got !== noInputs) inputs.delete(index);
        if (index >= from) yield { type: 'call', index, id: record.ids[i]!, fingerprint: record.fingerprints[i]!, result: record.results[i]!, thread: record.threads?.[i] ?? 0, inputs: got, batch: batches };
        for (const r of got) if (r.kind === 'net') batches++;
      }
    } else if (record.kind === 'checkpoint' && record.event >= from) {
      yield { type: 'checkpoint', record };
    }
  }
}

/** One calls record of a trace, with the host inputs (not output) its events received. */
export interface CallsBatch {
  first: number;
  ids: Uint8Array;
  fingerprints: Uint32Array;
  results: Uint8Array;
  /** The thread column, when the record has one (wasi-threads). */
  threads?: Uint32Array | undefined;
  /** Inputs by event, for the events of this record that have any. */
  inputs: Map<number, TraceRecord[]>;
  /** Network deliveries received before the record's first event. */
  batchesBefore: number;
}

/**
 * The trace's calls records in order, each with its events' inputs: what diff compares a record
 * at a time (columns equal, inputs equal) before it looks at single events.
 */
export function* callBatchesOf(reader: TraceReader): Generator<CallsBatch> {
  const pending = new Map<number, TraceRecord[]>();
  let batches = 0;
  for (const { record } of reader.records()) {
    if (attachable(record) && record.kind !== 'output') {
      const event = (record as { event: number }).event;
      pending.set(event, [...(pending.get(event) ?? []), record]);
    } else if (record.kind === 'calls') {
      const end = record.first + record.ids.length;
      const inputs = new Map<number, TraceRecord[]>();
      for (const [event, got] of pending) {
        if (event >= end) continue;
        inputs.set(event, got);
        pending.delete(event);
      }
      yield { first: record.first, ids: record.ids, fingerprints: record.fingerprints, results: record.results, threads: record.threads, inputs, batchesBefore: batches };
      for (const got of inputs.values()) for (const r of got) if (r.kind === 'net') batches++;
    }
  }
}

/** How a result is shown: "ok", or the errno's name. */
export const resultName = (errno: number): string => (errno === 0 ? 'ok' : errnoName(errno));
export { syscallName };

type NetEventRecord = Extract<TraceRecord, { kind: 'net' }>['delivery']['events'][number];
const latin1 = (b: Uint8Array, n: number) => JSON.stringify(Buffer.from(b.subarray(0, n)).toString('latin1'));

/** One network event as people read it (`quote`: show the first bytes of data as text). */
export function describeNetEvent(e: NetEventRecord, quote: number): string {
  const shown = (b: Uint8Array) => (quote > 0 ? ` ${latin1(b, quote)}` : '');
  switch (e.kind) {
    case 'data': return `data ${e.bytes.length} bytes on conn ${e.conn}${shown(e.bytes)}`;
    case 'datagram': return `datagram ${e.bytes.length} bytes from ${e.from.ip.join('.')}:${e.from.port} to port ${e.port}${shown(e.bytes)}`;
    case 'stdin': return `stdin ${e.bytes.length} bytes${shown(e.bytes)}`;
    case 'stdin-eof': return 'stdin EOF';
    case 'acked': return `acked ${e.bytes} bytes on conn ${e.conn}`;
    default: return `${e.kind} conn ${e.conn}`;
  }
}

/** Everything a network event carries, for comparing two traces' inputs. */
export function netEventKey(e: NetEventRecord): string {
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  switch (e.kind) {
    case 'data': return `data:${e.conn}:${hex(e.bytes)}`;
    case 'datagram': return `datagram:${e.port}:${e.from.ip.join('.')}:${e.from.port}:${hex(e.bytes)}`;
    case 'stdin': return `stdin:${hex(e.bytes)}`;
    case 'stdin-eof': return 'stdin-eof';
    case 'incoming': return `incoming:${e.conn}:${e.port}:${e.peer.ip.join('.')}:${e.peer.port}`;
    case 'connected': return `connected:${e.request}:${e.conn}:${e.errno}`;
    case 'acked': return `acked:${e.conn}:${e.bytes}`;
    default: return `${e.kind}:${e.conn}`;
  }
}
