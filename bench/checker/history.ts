// Checks a key-value history recorded under faults, as Jepsen does: linearizability per key
// (linearizable.ts), and, named separately so a report says what went wrong, lost and stale
// writes, increments counted twice or lost, replies nobody asked for, and clients left waiting
// past their timeout while a majority of the replicas was alive.
import { checkKey, defaultMaxSteps, type KeyVerdict, type Op } from './linearizable.js';

/** A fault as the client saw it happen (its time on the client's clock). */
export interface TimedFault { time: number; action: 'kill' | 'restart'; replica: number; alive: number; batch: number }

export interface History {
  ops: Op[];
  /** Replies that came with no request waiting (a request answered twice), per client. */
  extraReplies: { client: number; time: number; bytes: string }[];
  faults: TimedFault[];
  replicas: number;
  /** The clients' timeout, in ms. */
  timeoutMs: number;
  /** Alive replicas before the first fault. */
  startAlive?: number;
}

export type Anomaly =
  | { kind: 'not-linearizable'; key: string; excerpt: Op[] }
  | { kind: 'stale-read'; key: string; read: Op; newer: Op }
  | { kind: 'lost-write'; key: string; write: Op; finalRead: Op }
  | { kind: 'lost-increment' | 'double-increment'; key: string; acknowledged: number; unknown: number; finalValue: number | null }
  | { kind: 'duplicate-increment'; key: string; value: number }
  | { kind: 'extra-reply'; client: number; bytes: string }
  | { kind: 'timeout-with-quorum'; op: Op };

export interface CheckResult {
  operations: number;
  ok: number;
  unknown: number;
  keys: number;
  anomalies: Anomaly[];
  /** Keys whose search ran out of steps: neither passed nor failed. */
  undecided: string[];
  verdicts: KeyVerdict[];
}

export function checkHistory(h: History, maxSteps = defaultMaxSteps): CheckResult {
  const byKey = new Map<string, Op[]>();
  for (const op of h.ops) {
    const ops = byKey.get(op.key);
    if (ops) ops.push(op); else byKey.set(op.key, [op]);
  }
  const anomalies: Anomaly[] = [];
  const verdicts: KeyVerdict[] = [];
  for (const [key, ops] of byKey) {
    const v = checkKey(key, ops, maxSteps);
    verdicts.push(v);
    if (v.result === 'not-linearizable') anomalies.push({ kind: 'not-linearizable', key, excerpt: v.excerpt ?? [] });
    // A key both SET and INCRed gets the linearizability check only.
    const incrs = ops.some((o) => o.f === 'incr');
    const sets = ops.some((o) => o.f === 'set');
    if (incrs && !sets) anomalies.push(...counterAnomalies(key, ops));
    if (sets && !incrs) anomalies.push(...registerAnomalies(key, ops));
  }
  for (const e of h.extraReplies) anomalies.push({ kind: 'extra-reply', client: e.client, bytes: e.bytes });
  for (const op of h.ops) {
    if (op.why === 'timeout' && quorumThroughout(h, op.call, op.call + h.timeoutMs)) anomalies.push({ kind: 'timeout-with-quorum', op });
  }
  return {
    operations: h.ops.length, ok: h.ops.filter((o) => o.status === 'ok').length, unknown: h.ops.filter((o) => o.status === 'info').length,
    keys: byKey.size, anomalies, undecided: verdicts.filter((v) => v.result === 'unknown').map((v) => v.key), verdicts,
  };
}

/**
 * SET/GET keys, values unique per write: a read that returns a value older than a write
 * acknowledged before the read began is stale; if that read came after every operation ended
 * (the final read), the newer write is lost.
 */
function registerAnomalies(key: string, ops: Op[]): Anomaly[] {
  const writes = new Map<number, Op>();
  for (const o of ops) if (o.f === 'set') writes.set(o.value!, o);
  const acked = ops.filter((o) => o.f === 'set' && o.status === 'ok');
  const lastEnd = Math.max(...ops.filter((o) => o.f !== 'get').map((o) => o.ret), -Infinity);
  const out: Anomaly[] = [];
  for (const r of ops) {
    if (r.f !== 'get' || r.status !== 'ok') continue;
    const source = r.result === null || r.result === undefined ? undefined : writes.get(r.result);
    // A newer write: acknowledged before the read began, and begun after the read's value was written.
    const newer = acked.find((w) => w.ret < r.call && (source === undefined ? true : source.ret < w.call));
    if (!newer) continue;
    if (r.call > lastEnd) out.push({ kind: 'lost-write', key, write: newer, finalRead: r });
    else out.push({ kind: 'stale-read', key, read: r, newer });
  }
  return out;
}

/** INCR/GET keys: the final read counts every acknowledged INCR, and no more than were sent; no two INCRs return the same value. */
function counterAnomalies(key: string, ops: Op[]): Anomaly[] {
  const out: Anomaly[] = [];
  const incrs = ops.filter((o) => o.f === 'incr');
  const acked = incrs.filter((o) => o.status === 'ok');
  const seen = new Set<number>();
  for (const o of acked) {
    if (seen.has(o.result as number)) out.push({ kind: 'duplicate-increment', key, value: o.result as number });
    seen.add(o.result as number);
  }
  const lastEnd = Math.max(...incrs.map((o) => o.ret), -Infinity);
  const final = ops.filter((o) => o.f === 'get' && o.status === 'ok' && o.call > lastEnd).sort((a, b) => b.call - a.call)[0];
  if (final) {
    const value = final.result ?? 0;
    const unknown = incrs.length - acked.length;
    const base = { key, acknowledged: acked.length, unknown, finalValue: final.result ?? null };
    if (value < acked.length) out.push({ kind: 'lost-increment', ...base });
    if (value > acked.length + unknown) out.push({ kind: 'double-increment', ...base });
  }
  return out;
}

/** Whether a majority of the replicas was alive from `from` to `to` (by the faults' times). */
export function quorumThroughout(h: History, from: number, to: number): boolean {
  const majority = Math.floor(h.replicas / 2) + 1;
  let alive = h.startAlive ?? h.replicas;
  for (const f of h.faults) {
    if (f.time > to) break;
    if (f.time <= from) { alive = f.alive; continue; }
    if (alive < majority) return false;
    alive = f.alive;
  }
  return alive >= majority;
}

/** A short line per anomaly, for a report. */
export function describeAnomaly(a: Anomaly): string {
  const op = (o: Op) => `client ${o.client} ${o.f.toUpperCase()} ${o.key}${o.value !== undefined ? ` ${o.value}` : ''} -> ${o.status === 'ok' ? JSON.stringify(o.result ?? 'OK') : o.status} [${o.call.toFixed(1)}, ${o.ret.toFixed(1)}] ms`;
  switch (a.kind) {
    case 'not-linearizable': return `key ${a.key}: not linearizable, around:\n    ${a.excerpt.map(op).join('\n    ')}`;
    case 'stale-read': return `key ${a.key}: stale read ${op(a.read)} after ${op(a.newer)}`;
    case 'lost-write': return `key ${a.key}: lost write ${op(a.write)}: the final read ${op(a.finalRead)}`;
    case 'lost-increment': case 'double-increment':
      return `key ${a.key}: ${a.kind}: final value ${a.finalValue}, ${a.acknowledged} INCR acknowledged, ${a.unknown} unknown`;
    case 'duplicate-increment': return `key ${a.key}: two INCRs acknowledged with ${a.value}`;
    case 'extra-reply': return `client ${a.client}: a reply nobody asked for: ${JSON.stringify(a.bytes)}`;
    case 'timeout-with-quorum': return `timed out while a majority was alive: ${op(a.op)}`;
  }
}
