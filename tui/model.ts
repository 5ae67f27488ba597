// What the TUI shows, read from traces chunk by chunk: each replica's checkpoint chain (the
// timeline) and, on demand, the events around a point. Kept apart from the components so tests
// can hand the app a model of their own.
import { TraceFormatError } from '../formats/index.js';
import { listEvents, openTrace, replayTrace, summarizeTrace } from '../replayer/index.js';
import { TraceReadError } from '../runtime/index.js';
import type { ReplicaTimeline } from './state.js';

export interface EventLine { event: number; syscall: string; result: string; fingerprint: string; inputs: string[] }

export interface TuiModel {
  replicas: ReplicaTimeline[];
  /** Events from `from` (at most `count`), of one replica, optionally only of one kind. */
  events(replica: number, from: number, count: number, kind: string | null): EventLine[];
  /** The guest's wasm stack at `event` (function names, innermost first). */
  stack(replica: number, event: number): Promise<string[]>;
  /** What the guest wrote to stdout before `event`. */
  output(replica: number, event: number): Promise<string>;
}

export function loadModel(paths: string[], onProgress?: (done: number, total: number) => void): TuiModel {
  const replicas: ReplicaTimeline[] = paths.map((path, i) => {
    const { reader, close } = openTrace(path);
    try {
      const s = summarizeTrace(reader);
      onProgress?.(i + 1, paths.length);
      return {
        name: path, chains: s.checkpoints.map((c) => c.chain), checkpointEvents: s.checkpoints.map((c) => c.event), events: s.events,
        // A stopped trace, like an incomplete one, ends early without diverging; it is named so.
        ...(s.state !== 'intact' ? { problem: { state: s.state, reason: s.error ?? s.stopped ?? s.state } } : {}),
      };
    } finally {
      close();
    }
  });
  return {
    replicas,
    events(replica, from, count, kind) {
      const { reader, close } = openTrace(paths[replica]!);
      try {
        // Checkpoint rows come interleaved with calls: ask for a few more, keep `count` calls.
        const { rows } = listEvents(reader, { from: Math.max(0, from), limit: count + 4, ...(kind ? { kind } : {}) });
        return rows.filter((r) => r.kind === 'call').slice(0, count).map((r) => ({ event: r.event, syscall: r.syscall!, result: r.result!, fingerprint: r.fingerprint!, inputs: r.inputs! }));
      } finally {
        close();
      }
    },
    async stack(replica, event) {
      try {
        const { outcome } = await replayTrace({ tracePath: paths[replica]!, toEvent: event, quiet: true, onOutput: () => {} });
        return outcome.kind === 'stopped' ? (outcome.at?.stack ?? []).map((f) => f.name) : [];
      } catch (err) {
        return [`(${unreplayable(err)})`];
      }
    },
    async output(replica, event) {
      // Output is kept as hashes in a trace (unless --record-output): replaying gives it back.
      const chunks: Buffer[] = [];
      try {
        await replayTrace({ tracePath: paths[replica]!, toEvent: event, onOutput: (stream, bytes) => { if (stream === 1) chunks.push(Buffer.from(bytes)); } });
      } catch (err) {
        chunks.push(Buffer.from(`(${unreplayable(err)})\n`));
      }
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/** A damaged or cut-short trace cannot be replayed to every event: the pane says why instead. */
function unreplayable(err: unknown): string {
  if (err instanceof TraceFormatError || err instanceof TraceReadError) return `cannot replay here: ${err.message}`;
  throw err;
}
