// The checker's workload on an etcd-backed cluster: a 3-member etcd (Debian's etcd-server) and
// three `replicode node` processes serving resp_server, all on loopback; clients spread over the
// nodes (one whose node is gone moves to the next). Faults, one every `faultEveryMs` or so, from
// a seeded generator: an etcd member killed (kill -9) and later restarted on its data, keeping
// etcd's quorum, or (the second fault and every fifth after it) two members at once: etcd stops
// until one is back; or a node killed with kill -9 and restarted. The history is checked as the `cluster --chaos` one is.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { History, TimedFault } from './history.js';
import type { Op } from './linearizable.js';
import { driveClients } from './workload.js';

export const hasEtcd = (): boolean => spawnSync('etcd', ['--version']).status === 0;

export interface EtcdWorkloadOptions {
  root: string;
  seed: number;
  /** Faults in all (etcd member and node kills; each is restarted). */
  faults: number;
  faultEveryMs?: number;
  timeoutMs?: number;
  maxOps?: number;
  maxMs?: number;
  clients?: number;
  /** First of 6 free loopback ports (3 members x client and peer). */
  basePort?: number;
}

export interface EtcdWorkloadResult {
  history: History;
  /** Node kills and restarts (history.faults holds etcd's members: quorum is etcd's). */
  nodeFaults: { time: number; action: 'kill' | 'restart'; node: number }[];
  /** What each node said on stderr at the end (the last lines). */
  nodeTails: string[];
  elapsedMs: number;
  disagreements: number;
}

function generator(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runEtcdWorkload(o: EtcdWorkloadOptions): Promise<EtcdWorkloadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'replicode-etcd-checker-'));
  const base = o.basePort ?? 31000 + (process.pid % 300) * 10;
  const timeoutMs = o.timeoutMs ?? 10_000;
  const peer = (i: number) => `http://127.0.0.1:${base + 2 * i + 1}`;
  const client = (i: number) => `http://127.0.0.1:${base + 2 * i}`;
  const initial = [0, 1, 2].map((i) => `m${i}=${peer(i)}`).join(',');
  const members: (ChildProcess | undefined)[] = [];
  const startMember = (i: number) => {
    members[i] = spawn('etcd', ['--name', `m${i}`, '--data-dir', join(dir, `m${i}`), '--listen-client-urls', client(i), '--advertise-client-urls', client(i),
      '--listen-peer-urls', peer(i), '--initial-advertise-peer-urls', peer(i), '--initial-cluster', initial, '--initial-cluster-state', 'new'], { stdio: 'ignore' });
  };
  for (const i of [0, 1, 2]) startMember(i);
  const endpoints = [0, 1, 2].map(client).join(',');
  const nodes: ({ child: ChildProcess; port: number; stderr: () => string; exited: Promise<unknown> } | undefined)[] = [];
  const tails: string[] = ['', '', ''];
  const startNode = async (n: number) => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const child = spawn(process.execPath, [join(o.root, 'bin', 'replicode.js'), 'node', '--endpoints', endpoints, '--cluster-name', `checker${o.seed}`, '--id', String(n + 1), '--replicas', '3',
        '--listen', '127.0.0.1:0=6379', join(o.root, 'wasm_programs', 'build', 'resp_server.wasm')], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '' } });
      let err = '';
      child.stderr!.on('data', (d) => { if (process.env.CHECKER_NODE_LOG) appendFileSync(process.env.CHECKER_NODE_LOG, `[node ${n + 1} ${performance.now().toFixed(0)}] ${d}`); err += d; if (err.length > 200_000) err = err.slice(-100_000); tails[n] = err.split('\n').slice(-6).join('\n'); });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      const port = await new Promise<number | undefined>((resolve) => {
        const look = () => { const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err); if (m) resolve(Number(m[1])); };
        child.stderr!.on('data', look);
        void exited.then(() => resolve(undefined));
      });
      if (port !== undefined) { nodes[n] = { child, port, stderr: () => err, exited }; return; }
      await sleep(200); // etcd not ready yet (the node refuses to start without it)
    }
    throw new Error(`node ${n + 1} did not start: ${tails[n]}`);
  };
  try {
    for (const n of [0, 1, 2]) await startNode(n);
    const start = performance.now();
    const ops: Op[] = [];
    const extra: History['extraReplies'] = [];
    const faults: TimedFault[] = [];
    const nodeFaults: EtcdWorkloadResult['nodeFaults'] = [];
    let stop = false;
    const maxOps = o.maxOps ?? 50_000;
    const maxMs = o.maxMs ?? 120_000;
    const done = () => stop || ops.length >= maxOps || performance.now() - start >= maxMs;
    const live = () => [0, 1, 2].filter((n) => nodes[n]);
    const portFor = (c: number, attempt: number) => { const l = live(); return l.length ? nodes[l[(c + attempt) % l.length]!]!.port : 1; };
    const nemesis = (async () => {
      const random = generator(o.seed);
      const every = o.faultEveryMs ?? 1500;
      for (let f = 0; f < o.faults && !done(); f++) {
        await sleep(every / 2 + random() * every);
        const roll = random();
        const outage = f % 5 === 1; // the second fault, and every fifth after it
        if (outage || roll < 0.6) {
          // One member down; two in an outage (etcd has lost its quorum until one is back).
          const one = Math.floor(random() * 3);
          const victims = outage ? [0, 1, 2].filter((i) => i !== one) : [one];
          for (const i of victims) { members[i]!.kill('SIGKILL'); members[i] = undefined; }
          faults.push({ time: performance.now(), action: 'kill', replica: victims[0]! + 1, alive: 3 - victims.length, batch: 0 });
          await sleep(every / 2 + random() * every);
          for (const i of victims) { startMember(i); faults.push({ time: performance.now(), action: 'restart', replica: i + 1, alive: 3 - victims.length + 1 + victims.indexOf(i), batch: 0 }); }
        } else {
          const n = Math.floor(random() * 3);
          const node = nodes[n]!;
          nodes[n] = undefined;
          node.child.kill('SIGKILL');
          await node.exited;
          nodeFaults.push({ time: performance.now(), action: 'kill', node: n + 1 });
          await sleep(random() * every);
          await startNode(n);
          nodeFaults.push({ time: performance.now(), action: 'restart', node: n + 1 });
        }
      }
      stop = true;
    })();
    await driveClients(portFor, { seed: o.seed, clients: o.clients ?? 6 }, timeoutMs, ops, extra, done);
    stop = true;
    await nemesis;
    const elapsedMs = performance.now() - start;
    for (const n of live()) nodes[n]!.child.kill('SIGINT');
    await Promise.all(live().map((n) => nodes[n]!.exited));
    const disagreements = live().reduce((sum, n) => sum + Number(/(\d+) disagreement\(s\)/.exec(nodes[n]!.stderr())?.[1] ?? 0), 0);
    return { history: { ops, extraReplies: extra, faults, replicas: 3, timeoutMs }, nodeFaults, nodeTails: tails, elapsedMs, disagreements };
  } finally {
    for (const n of nodes) n?.child.kill('SIGKILL');
    for (const m of members) m?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
