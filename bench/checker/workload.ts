// The checker's workload: `replicode cluster --chaos SEED` serving resp_server on loopback, a few
// clients each sending one request at a time (SET/GET on register keys, INCR/GET on counter
// keys), every request recorded with its call and return times on this process's clock; the
// cluster's fault lines are timed as they arrive. It stops by itself: once every fault has
// fired, or at its operation or time bound, whichever comes first; then one final GET per key.
import { seededGenerator } from '../../consensus/index.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { History, TimedFault } from './history.js';
import type { Op } from './linearizable.js';
import { RespConnection, type Outcome } from './resp-client.js';

export interface WorkloadOptions {
  /** The repository (bin/replicode.js and dist/ built). */
  root: string;
  seed: number;
  /** Replicas killed (each restarted later). */
  faults: number;
  replicas?: number;
  /** The most batches between two faults (cluster --chaos-gap). */
  gap?: number;
  replies?: 'designated' | 'majority';
  /** Replicas snapshot their machine every this many batches and restart from it (cluster --snapshot-every, --compact). */
  snapshotEvery?: number;
  clients?: number;
  registers?: number;
  counters?: number;
  timeoutMs?: number;
  /** Bounds: the run stops at whichever comes first (or once every fault has fired). */
  maxOps?: number;
  maxMs?: number;
}

export interface WorkloadResult {
  history: History;
  /** What the cluster's --json said: its faults fired, batches, disagreements. */
  summary: { exitCode: number; batches: number; disagreements: unknown[]; chaos?: { seed: number; faults: number; fired: Omit<TimedFault, 'time'>[] } };
  elapsedMs: number;
  /** Whether the run ended because every fault had fired (not at a bound). */
  allFaultsFired: boolean;
}

const faultLine = /^replicode: chaos \d+: batch (\d+): (kill|restart) replica (\d+) \((\d+) of \d+ alive\)$/;


export async function runWorkload(o: WorkloadOptions): Promise<WorkloadResult> {
  const replicas = o.replicas ?? 3;
  const timeoutMs = o.timeoutMs ?? 10_000;
  const maxOps = o.maxOps ?? 20_000;
  const maxMs = o.maxMs ?? 120_000;
  const dir = mkdtempSync(join(tmpdir(), 'replicode-checker-'));
  const summaryPath = join(dir, 'summary.json');
  const cli = spawn(process.execPath, [
    join(o.root, 'bin', 'replicode.js'), 'cluster', '--replicas', String(replicas), '--chaos', String(o.seed), '--chaos-faults', String(o.faults),
    ...(o.gap ? ['--chaos-gap', String(o.gap)] : []), ...(o.replies ? ['--replies', o.replies] : []),
    ...(o.snapshotEvery ? ['--snapshot-every', String(o.snapshotEvery), '--compact'] : []),
    '--listen', '127.0.0.1:0=6379', `--json=${summaryPath}`, join(o.root, 'wasm_programs', 'build', 'resp_server.wasm'),
  ], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '' } });
  const exited = new Promise<number | null>((resolve) => cli.on('exit', (code) => resolve(code)));
  const faults: TimedFault[] = [];
  let port = 0;
  let stderr = '';
  const listening = new Promise<number>((resolve, reject) => {
    let pending = '';
    cli.stderr.on('data', (d: Buffer) => {
      const now = performance.now();
      stderr += d.toString();
      if (stderr.length > 1_000_000) stderr = stderr.slice(-500_000);
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const m = faultLine.exec(line);
        if (m) faults.push({ time: now, batch: Number(m[1]), action: m[2] as 'kill' | 'restart', replica: Number(m[3]), alive: Number(m[4]) });
        const l = /listening on 127\.0\.0\.1:(\d+)/.exec(line);
        if (l) { port = Number(l[1]); resolve(port); }
      }
    });
    void exited.then((code) => reject(new Error(`the cluster exited (${code}) before listening:\n${stderr}`)));
  });
  await listening;
  const start = performance.now();
  const ops: Op[] = [];
  const extraReplies: History['extraReplies'] = [];
  const events = 2 * o.faults;
  const done = () => faults.length >= events || ops.length >= maxOps || performance.now() - start >= maxMs;
  await driveClients(() => port, o, timeoutMs, ops, extraReplies, done);
  const elapsedMs = performance.now() - start;
  cli.kill('SIGINT');
  const code = await exited;
  let summary: WorkloadResult['summary'];
  try {
    summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as WorkloadResult['summary'];
  } catch {
    throw new Error(`the cluster exited (${code}) without its summary; its stderr ended:\n${stderr.split('\n').slice(-15).join('\n')}`);
  }
  rmSync(dir, { recursive: true, force: true });
  return {
    history: { ops, extraReplies, faults, replicas, timeoutMs, startAlive: replicas },
    summary, elapsedMs, allFaultsFired: faults.length >= events,
  };
}

/**
 * Runs the clients until `done`, then (every client stopped) one final read per key, after
 * every other operation has ended. `portFor` names where a client (re)connects.
 */
export async function driveClients(
  portFor: (client: number, attempt: number) => number, o: Pick<WorkloadOptions, 'seed' | 'clients' | 'registers' | 'counters'>, timeoutMs: number,
  ops: Op[], extra: History['extraReplies'], done: () => boolean,
): Promise<void> {
  await Promise.all(Array.from({ length: o.clients ?? 6 }, (_, c) => runClient(c, portFor, o, timeoutMs, ops, extra, done)));
  await finalReads(portFor, o, timeoutMs, ops, extra);
}

function keys(o: Pick<WorkloadOptions, 'registers' | 'counters'>): { registers: string[]; counters: string[] } {
  return {
    registers: Array.from({ length: o.registers ?? 3 }, (_, i) => `r${i}`),
    counters: Array.from({ length: o.counters ?? 1 }, (_, i) => `c${i}`),
  };
}

async function runClient(
  client: number, portFor: (client: number, attempt: number) => number, o: Pick<WorkloadOptions, 'seed' | 'registers' | 'counters'>, timeoutMs: number,
  ops: Op[], extra: History['extraReplies'], done: () => boolean,
): Promise<void> {
  let attempt = 0;
  const random = seededGenerator(o.seed * 7919 + client + 1);
  const { registers, counters } = keys(o);
  let written = 0;
  let conn: RespConnection | undefined;
  while (!done()) {
    conn ??= await RespConnection.open(portFor(client, attempt++), timeoutMs, (bytes) => extra.push({ client, time: performance.now(), bytes }));
    if (!conn) { await new Promise((resolve) => setTimeout(resolve, 50)); continue; }
    const roll = random();
    const counter = roll < 0.3;
    const key = counter ? counters[Math.floor(random() * counters.length)]! : registers[Math.floor(random() * registers.length)]!;
    const op: Op = counter
      ? (roll < 0.2 ? { client, key, f: 'incr', call: 0, ret: 0, status: 'info' } : { client, key, f: 'get', call: 0, ret: 0, status: 'info' })
      : (roll < 0.65 ? { client, key, f: 'set', value: (client + 1) * 10_000_000 + ++written, call: 0, ret: 0, status: 'info' } : { client, key, f: 'get', call: 0, ret: 0, status: 'info' });
    if (!(await perform(conn, op, timeoutMs, ops))) { conn.close(); conn = undefined; }
  }
  conn?.close();
}

/** Sends one op, records it; false if the connection is no longer usable (timed out, closed). */
async function perform(conn: RespConnection, op: Op, timeoutMs: number, ops: Op[]): Promise<boolean> {
  const args = op.f === 'set' ? ['SET', op.key, String(op.value)] : [op.f.toUpperCase(), op.key];
  op.call = performance.now();
  const outcome: Outcome = await conn.request(args, timeoutMs);
  ops.push(op);
  if (outcome.kind !== 'reply') {
    op.ret = Infinity;
    op.why = outcome.kind;
    return false;
  }
  op.ret = performance.now();
  const r = outcome.reply;
  if (r.kind === 'error') op.status = 'fail';
  else if (op.f === 'set') op.status = r.kind === 'ok' ? 'ok' : 'fail';
  else if (op.f === 'incr') { op.status = r.kind === 'int' ? 'ok' : 'fail'; if (r.kind === 'int') op.result = r.value; } else {
    op.status = r.kind === 'bulk' ? 'ok' : 'fail';
    if (r.kind === 'bulk') op.result = r.value === null ? null : Number(r.value);
  }
  return true;
}

async function finalReads(portFor: (client: number, attempt: number) => number, o: Pick<WorkloadOptions, 'registers' | 'counters'>, timeoutMs: number, ops: Op[], extra: History['extraReplies']): Promise<void> {
  const { registers, counters } = keys(o);
  const client = -1;
  let conn: RespConnection | undefined;
  for (const key of [...registers, ...counters]) {
    for (let attempt = 0; attempt < 3; attempt++) {
      conn ??= await RespConnection.open(portFor(0, attempt), timeoutMs, (bytes) => extra.push({ client, time: performance.now(), bytes }));
      if (!conn) continue;
      const op: Op = { client, key, f: 'get', call: 0, ret: 0, status: 'info' };
      if (await perform(conn, op, timeoutMs, ops)) break;
      conn.close();
      conn = undefined;
    }
  }
  conn?.close();
}
