// The checker's workload on an etcd-backed cluster: a 3-member etcd (Debian's etcd-server) and
// three `replicode node` processes serving resp_server, all on loopback; clients spread over the
// nodes (one whose node is gone moves to the next). Faults, one every `faultEveryMs` or so, from
// a seeded generator: an etcd member killed (kill -9) and later restarted on its data, keeping
// etcd's quorum, or (the second fault and every fifth after it) two members at once: etcd stops
// until one is back; or a node killed with kill -9 and restarted. The history is checked as the `cluster --chaos` one is.
import { seededGenerator } from '../../consensus/index.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
  /** Nodes take snapshots on disk every this many batches, restart from them, and compact the etcd log (--snapshot-every N --compact). */
  snapshotEvery?: number;
}

export interface EtcdWorkloadResult {
  history: History;
  /** Node kills and restarts (history.faults holds etcd's members: quorum is etcd's). */
  nodeFaults: { time: number; action: 'kill' | 'restart'; node: number }[];
  /** What each node said on stderr at the end (the last lines). */
  nodeTails: string[];
  elapsedMs: number;
  disagreements: number;
  /**
   * Nodes that did not end within stopGraceMs of Ctrl-C at the end (then killed), with their last
   * lines: a node must stop on Ctrl-C whatever state etcd is in.
   */
  stuck: string[];
  /** Node starts that resumed from a snapshot on disk (with snapshotEvery). */
  resumedFromSnapshots: number;
}


const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** How long a node may take to say it listens once started (it retries etcd meanwhile), and to end after Ctrl-C. */
const startGraceMs = 20_000;
const stopGraceMs = 15_000;
/** `promise`, or `onTimeout`'s answer once `ms` have passed without it. */
async function within<T>(promise: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<T>((resolve) => { timer = setTimeout(() => resolve(onTimeout()), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** Three etcd members on loopback, each killed (kill -9) and restarted on its data at will. */
class EtcdMembers {
  private readonly procs: (ChildProcess | undefined)[] = [];
  private readonly initial: string;

  constructor(private readonly dir: string, private readonly base: number) {
    this.initial = [0, 1, 2].map((i) => `m${i}=${this.peer(i)}`).join(',');
    for (const i of [0, 1, 2]) this.start(i);
  }

  private peer(i: number): string { return `http://127.0.0.1:${this.base + 2 * i + 1}`; }
  client(i: number): string { return `http://127.0.0.1:${this.base + 2 * i}`; }

  start(i: number): void {
    this.procs[i] = spawn('etcd', ['--name', `m${i}`, '--data-dir', join(this.dir, `m${i}`), '--listen-client-urls', this.client(i), '--advertise-client-urls', this.client(i),
      '--listen-peer-urls', this.peer(i), '--initial-advertise-peer-urls', this.peer(i), '--initial-cluster', this.initial, '--initial-cluster-state', 'new'], { stdio: 'ignore' });
  }

  kill(i: number): void {
    this.procs[i]?.kill('SIGKILL');
    this.procs[i] = undefined;
  }

  killAll(): void { for (const i of [0, 1, 2]) this.kill(i); }
}

interface NodeProc { child: ChildProcess; port: number; stderr: () => string; exited: Promise<unknown> }

/** Three `replicode node`s of resp_server on the members; each killed (kill -9) and restarted at will. */
class Nodes {
  readonly procs: (NodeProc | undefined)[] = [];
  readonly tails = ['', '', ''];
  resumed = 0;

  constructor(private readonly root: string, private readonly endpoints: string, private readonly name: string, private readonly extra: (n: number) => string[] = () => []) {}

  /** Node n (0-based) started, once it listens (tried again while etcd does not answer yet). */
  async start(n: number): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const child = spawn(process.execPath, [join(this.root, 'bin', 'replicode.js'), 'node', '--endpoints', this.endpoints, '--cluster-name', this.name, '--id', String(n + 1), '--replicas', '3',
        '--listen', '127.0.0.1:0=6379', ...this.extra(n), join(this.root, 'wasm_programs', 'build', 'resp_server.wasm')], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '' } });
      let err = '';
      const exited = new Promise((resolve) => child.on('exit', resolve));
      const listening = new Promise<number | undefined>((resolve) => {
        child.stderr!.on('data', (d) => {
          err = (err + d).slice(-100_000);
          this.tails[n] = err.split('\n').slice(-6).join('\n');
          const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
          if (m) resolve(Number(m[1]));
        });
        void exited.then(() => resolve(undefined));
      });
      // A node that neither listens nor ends would hold the whole run: it fails it, saying so.
      const port = await within(listening, startGraceMs, () => {
        child.kill('SIGKILL');
        throw new Error(`node ${n + 1} neither listened nor ended within ${startGraceMs} ms of its start: ${this.tails[n]}`);
      });
      if (port !== undefined) {
        if (/resumes from its snapshot at batch/.test(err)) this.resumed++;
        this.procs[n] = { child, port, stderr: () => err, exited };
        return;
      }
      await sleep(200); // etcd not ready yet (a node refuses to start without it)
    }
    throw new Error(`node ${n + 1} did not start: ${this.tails[n]}`);
  }

  async kill(n: number): Promise<void> {
    const node = this.procs[n]!;
    this.procs[n] = undefined;
    node.child.kill('SIGKILL');
    await node.exited;
  }

  live(): number[] { return [0, 1, 2].filter((n) => this.procs[n]); }

  /** Where client c connects on its attempt-th connection: the live nodes in turn. */
  portFor(c: number, attempt: number): number {
    const live = this.live();
    return live.length ? this.procs[live[(c + attempt) % live.length]!]!.port : 1;
  }

  /** Ctrl-C to every live node; the disagreements they reported, and those that did not end within stopGraceMs (killed then). */
  async stop(): Promise<{ disagreements: number; stuck: string[] }> {
    const live = this.live();
    for (const n of live) this.procs[n]!.child.kill('SIGINT');
    const stuck: string[] = [];
    await Promise.all(live.map((n) => within(this.procs[n]!.exited, stopGraceMs, () => {
      stuck.push(`node ${n + 1} had not ended ${stopGraceMs} ms after Ctrl-C: ${this.tails[n]}`);
      this.procs[n]!.child.kill('SIGKILL');
    })));
    return { disagreements: live.reduce((sum, n) => sum + Number(/(\d+) disagreement\(s\)/.exec(this.procs[n]!.stderr())?.[1] ?? 0), 0), stuck };
  }

  killAll(): void { for (const p of this.procs) p?.child.kill('SIGKILL'); }
}

/**
 * Faults until `done` or `faults` of them: a member down then back; two (the second fault and
 * every fifth after it: etcd without quorum); or a node killed then restarted.
 */
async function nemesis(o: EtcdWorkloadOptions, members: EtcdMembers, nodes: Nodes, done: () => boolean, faults: TimedFault[], nodeFaults: EtcdWorkloadResult['nodeFaults']): Promise<void> {
  const random = seededGenerator(o.seed);
  const every = o.faultEveryMs ?? 1500;
  for (let f = 0; f < o.faults && !done(); f++) {
    await sleep(every / 2 + random() * every);
    const roll = random();
    const outage = f % 5 === 1;
    if (outage || roll < 0.6) {
      const one = Math.floor(random() * 3);
      const victims = outage ? [0, 1, 2].filter((i) => i !== one) : [one];
      for (const i of victims) members.kill(i);
      faults.push({ time: performance.now(), action: 'kill', replica: victims[0]! + 1, alive: 3 - victims.length, batch: 0 });
      await sleep(every / 2 + random() * every);
      victims.forEach((i, k) => {
        members.start(i);
        faults.push({ time: performance.now(), action: 'restart', replica: i + 1, alive: 3 - victims.length + 1 + k, batch: 0 });
      });
    } else {
      const n = Math.floor(random() * 3);
      await nodes.kill(n);
      nodeFaults.push({ time: performance.now(), action: 'kill', node: n + 1 });
      await sleep(random() * every);
      await nodes.start(n);
      nodeFaults.push({ time: performance.now(), action: 'restart', node: n + 1 });
    }
  }
}

export async function runEtcdWorkload(o: EtcdWorkloadOptions): Promise<EtcdWorkloadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'replicode-etcd-checker-'));
  // Below Linux's ephemeral range (32768-), and apart from tests/etcd.test.ts's (24000-28999).
  const members = new EtcdMembers(dir, o.basePort ?? 29000 + (process.pid % 300) * 10);
  const snapshots = (n: number) => (o.snapshotEvery ? ['--snapshot-every', String(o.snapshotEvery), '--snapshot-dir', join(dir, `snapshots-${n + 1}`), '--compact'] : []);
  const nodes = new Nodes(o.root, [0, 1, 2].map((i) => members.client(i)).join(','), `checker${o.seed}`, snapshots);
  try {
    for (const n of [0, 1, 2]) await nodes.start(n);
    const start = performance.now();
    const ops: Op[] = [];
    const extra: History['extraReplies'] = [];
    const faults: TimedFault[] = [];
    const nodeFaults: EtcdWorkloadResult['nodeFaults'] = [];
    let stop = false;
    const done = () => stop || ops.length >= (o.maxOps ?? 50_000) || performance.now() - start >= (o.maxMs ?? 120_000);
    const faulting = nemesis(o, members, nodes, done, faults, nodeFaults).finally(() => { stop = true; });
    const timeoutMs = o.timeoutMs ?? 10_000;
    await driveClients((c, attempt) => nodes.portFor(c, attempt), { seed: o.seed, clients: o.clients ?? 6 }, timeoutMs, ops, extra, done);
    stop = true;
    await faulting;
    const elapsedMs = performance.now() - start;
    const { disagreements, stuck } = await nodes.stop();
    return { history: { ops, extraReplies: extra, faults, replicas: 3, timeoutMs }, nodeFaults, nodeTails: nodes.tails, elapsedMs, disagreements, stuck, resumedFromSnapshots: nodes.resumed };
  } finally {
    nodes.killAll();
    members.killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
