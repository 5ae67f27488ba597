// `replicode node` restart figures for `npm run bench` (BENCH_ONLY=node-catchup): a node killed
// with -9 and started again on an etcd log of N batches, until it answers its first client (whose
// request is on the log after the N batches, so the answer means it has replayed them all), from
// the whole log and from its snapshot on disk (--snapshot-every, --compact). A one-node cluster
// (its own snapshots are agreed), etcd on loopback with its data in /dev/shm where there is one
// (this etcd, 3.4, has no --unsafe-no-fsync: filling the log would otherwise time the disk).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectEtcdLog, encodeBatch } from '../consensus/index.js';

export interface NodeCatchUpResult {
  batches: number;
  snapshotEvery: number | null;
  /** Batch the restarted node resumed from (null: the start of the log). */
  resumedFrom: number | null;
  /** From spawning the restarted node until its first client had its answer (process start included). */
  restartMs: number;
  /** From spawning it until it listened (start-up: loading, etcd, its snapshot read). */
  listenMs: number;
  /** Keys of the etcd log after the restart. */
  logKeys: number;
}

const request = new TextEncoder().encode('GET /counter HTTP/1.1\r\nHost: bench\r\n\r\n');

/** Fills the log: a client (link 1) connects, then one request per batch, its replies acknowledged. */
async function fill(url: string, cluster: string, batches: number): Promise<void> {
  const log = await connectEtcdLog([url], cluster, 'bench');
  await log.append(encodeBatch({ timeNs: 1_000_000n, events: [{ kind: 'connect', link: 1, port: 80, peer: { ip: [127, 0, 0, 1], port: 40000 } }] }));
  for (let b = 1; b < batches; b++) {
    await log.append(encodeBatch({ timeNs: BigInt(b + 1) * 1_000_000n, events: [{ kind: 'acked', link: 1, bytes: 4096 }, { kind: 'data', link: 1, bytes: request }] }));
  }
  await log.close();
}

/** Time (ms) from now until the node on `port` answers /counter (asked again while it does not listen). */
async function firstAnswer(child: ChildProcess, port: Promise<number>, started: number): Promise<number> {
  const p = await port;
  for (;;) {
    if (child.exitCode !== null) throw new Error('the node exited');
    try {
      const res = await fetch(`http://127.0.0.1:${p}/counter`, { signal: AbortSignal.timeout(120_000) });
      await res.text();
      return performance.now() - started;
    } catch {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

function startNode(root: string, url: string, cluster: string, extra: string[]) {
  const child = spawn(process.execPath, [join(root, 'bin', 'replicode.js'), 'node', '--endpoints', url, '--cluster-name', cluster, '--id', '1', '--replicas', '1',
    '--listen', '127.0.0.1:0=80', ...extra, join(root, 'wasm_programs', 'build', 'http_server.wasm')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const port = new Promise<number>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      err += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', () => reject(new Error(`node exited: ${err}`)));
  });
  port.catch(() => {});
  return { child, port, stderr: () => err, exited: new Promise((r) => child.on('exit', r)) };
}

async function logKeys(url: string, cluster: string): Promise<number> {
  const { Etcd3 } = await import('etcd3');
  const etcd = new Etcd3({ hosts: url });
  try {
    return await etcd.getAll().prefix(`/replicode/${cluster}/log/`).count();
  } finally {
    etcd.close();
  }
}

export async function benchNodeCatchUp(root: string, sizes: number[], snapshotEvery: number): Promise<NodeCatchUpResult[]> {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const data = mkdtempSync(join(base, 'replicode-bench-etcd-'));
  const port = 19000 + (process.pid % 250) * 4; // apart from the tests' etcd ports (20000-31999)
  const url = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${port + 1}`;
  const etcd = spawn('etcd', ['--name', 'b', '--data-dir', data, '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `b=${peer}`], { stdio: 'ignore' });
  const results: NodeCatchUpResult[] = [];
  try {
    for (let attempt = 0; ; attempt++) {
      try { await (await connectEtcdLog([url], 'probe', 'probe')).close(); break; } catch (err) { if (attempt > 50) throw err; await new Promise((r) => setTimeout(r, 100)); }
    }
    for (const batches of sizes) {
      for (const every of [null, snapshotEvery]) {
        const cluster = `bench-${batches}-${every ?? 0}`;
        await fill(url, cluster, batches);
        const snapDir = mkdtempSync(join(base, 'replicode-bench-snap-'));
        const extra = every ? ['--snapshot-every', String(every), '--snapshot-dir', snapDir, '--compact'] : [];
        // A first run replays the log (and, with snapshots, writes them), then is killed with -9.
        const first = startNode(root, url, cluster, extra);
        await firstAnswer(first.child, first.port, performance.now());
        if (every) {
          const last = Math.floor(batches / every) * every;
          for (let i = 0; i < 6000 && !readdirSync(snapDir).some((n) => Number(/(\d+)\.snap$/.exec(n)?.[1]) >= last); i++) await new Promise((r) => setTimeout(r, 10));
          await new Promise((r) => setTimeout(r, 300)); // its publication on etcd
        }
        first.child.kill('SIGKILL');
        await first.exited;
        const started = performance.now();
        const again = startNode(root, url, cluster, extra);
        const listenMs = await again.port.then(() => performance.now() - started);
        const restartMs = await firstAnswer(again.child, again.port, started);
        const resumed = /resumes from its snapshot at batch (\d+)/.exec(again.stderr());
        again.child.kill('SIGKILL');
        await again.exited;
        rmSync(snapDir, { recursive: true, force: true });
        const result: NodeCatchUpResult = { batches, snapshotEvery: every, resumedFrom: resumed ? Number(resumed[1]) : null, restartMs, listenMs, logKeys: await logKeys(url, cluster) };
        console.log(`node catch-up: ${batches} batches on etcd, ${every ? `snapshots every ${every}` : 'no snapshots'}: restarted node listened in ${(listenMs / 1000).toFixed(2)} s, answered in ${(restartMs / 1000).toFixed(2)} s${result.resumedFrom !== null ? ` (resumed at batch ${result.resumedFrom})` : ''}; the etcd log holds ${result.logKeys} keys`);
        results.push(result);
      }
    }
  } finally {
    etcd.kill('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  }
  return results;
}
