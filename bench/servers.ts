// Server figures for `npm run bench`: the HTTP and Redis-protocol guests under RepliCode vs the
// same C programs built natively with gcc, measured one after the other in the same run, each
// driven by a load generator in its own process (bench/http-load.ts, redis-benchmark).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Load { rps: number; p50: number; p90?: number; p99: number; requests?: number }
export interface ServerBenchResult { name: string; replicode: Load; native: Load; ratio: number }

const waitForPort = async (port: number, ms = 10_000): Promise<void> => {
  const until = performance.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (performance.now() > until) throw new Error(`server on port ${port} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGINT');
    setTimeout(() => child.kill('SIGKILL'), 2000);
  });
}

/**
 * Load before the measured one: a server's throughput is what it serves once its code is compiled
 * (V8 optimises the hot JavaScript of every thread separately, and a cluster has four busy ones;
 * docs/design.md has the cold figures).
 */
const warmUpMs = 1000;

function httpLoad(root: string, port: number, durationMs = 3000): Load {
  const out = execFileSync(process.execPath, [join(root, 'dist', 'bench', 'http-load.js'), String(port), '50', String(durationMs)], { encoding: 'utf8' });
  return JSON.parse(out) as Load;
}

function respLoad(port: number, requests = 50000): Load {
  const out = execFileSync('redis-benchmark', ['-p', String(port), '-n', String(requests), '-c', '50', '-t', 'set,get', '--csv'], { encoding: 'utf8' });
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const rows = out.trim().split('\n').slice(1).map((line) => line.split(',').map((f) => f.replace(/"/g, '')));
  const avg = (i: number) => rows.reduce((s, r) => s + Number(r[i]), 0) / rows.length;
  return { rps: avg(1), p50: avg(4), p99: avg(6) };
}

async function measure(root: string, server: string, port: number, vport: number, native: string, load: (port: number) => Load) {
  const guest = spawn(process.execPath, [join(root, 'bin', 'replicode.js'), 'run', '--listen', `127.0.0.1:${port}=${vport}`, join(root, 'wasm_programs', 'build', `${server}.wasm`), '--', String(vport)], { stdio: 'ignore' });
  await waitForPort(port);
  const replicode = load(port);
  await stop(guest);
  const nativeChild = spawn(native, [String(port + 1)], { stdio: 'ignore' });
  await waitForPort(port + 1);
  const baseline = load(port + 1);
  await stop(nativeChild);
  return { replicode, native: baseline };
}

/**
 * The same guest on one machine (`run`) and on a 3-replica cluster (`cluster`, embedded log), each
 * warmed up by `warm` first; and the pair once more cold (measured from its start, as before).
 */
async function measureReplicated(root: string, server: string, port: number, vport: number, load: (port: number) => Load, warm: (port: number) => void) {
  const start = async (command: string[], at: number, warmed = true) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'replicode.js'), ...command, '--listen', `127.0.0.1:${at}=${vport}`, join(root, 'wasm_programs', 'build', `${server}.wasm`), '--', String(vport)], { stdio: 'ignore' });
    await waitForPort(at);
    if (warmed) warm(at);
    return child;
  };
  const single = await start(['run'], port);
  const unreplicated = load(port);
  await stop(single);
  const cluster = await start(['cluster', '--replicas', '3'], port + 1);
  const replicated = load(port + 1);
  await stop(cluster);
  const coldSingle = await start(['run'], port + 4, false);
  const coldUnreplicated = load(port + 4);
  await stop(coldSingle);
  const coldCluster = await start(['cluster', '--replicas', '3'], port + 5, false);
  const coldReplicated = load(port + 5);
  await stop(coldCluster);
  const majorityCluster = await start(['cluster', '--replicas', '3', '--replies', 'majority'], port + 2);
  const majority = load(port + 2);
  await stop(majorityCluster);
  // The same as `replicated` with every replica at the same OS priority (before --follower-niceness).
  const evenCluster = await start(['cluster', '--replicas', '3', '--follower-niceness', '0'], port + 3);
  const even = load(port + 3);
  await stop(evenCluster);
  return { unreplicated, replicated, majority, even, cold: { unreplicated: coldUnreplicated, replicated: coldReplicated } };
}

export interface ClusterBenchResult { name: string; unreplicated: Load; replicated: Load; ratio: number; target: number }

/** A one-member etcd on private ports for the duration of a measurement. */
async function withEtcd<T>(fn: (endpoint: string) => Promise<T>): Promise<T | undefined> {
  if (spawnSync('etcd', ['--version']).status !== 0) {
    console.log('etcd not found (apt-get install etcd-server): etcd figures skipped');
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'replicode-etcd-'));
  const etcd = spawn('etcd', ['--data-dir', dir, '--listen-client-urls', 'http://127.0.0.1:24379', '--advertise-client-urls', 'http://127.0.0.1:24379',
    '--listen-peer-urls', 'http://127.0.0.1:24380', '--initial-advertise-peer-urls', 'http://127.0.0.1:24380', '--initial-cluster', 'default=http://127.0.0.1:24380'], { stdio: 'ignore' });
  try {
    await waitForPort(24379);
    return await fn('http://127.0.0.1:24379');
  } finally {
    await stop(etcd);
  }
}

export async function benchCluster(root: string): Promise<ClusterBenchResult[]> {
  const results: ClusterBenchResult[] = [];
  const http = await measureReplicated(root, 'http_server', 18180, 80, (p) => httpLoad(root, p), (p) => httpLoad(root, p, warmUpMs));
  results.push({ name: 'HTTP, 3 replicas (embedded log) vs 1 machine', unreplicated: http.unreplicated, replicated: http.replicated, ratio: http.replicated.rps / http.unreplicated.rps, target: 0.6 });
  results.push({ name: 'HTTP, 3 replicas vs 1 machine, both cold', unreplicated: http.cold.unreplicated, replicated: http.cold.replicated, ratio: http.cold.replicated.rps / http.cold.unreplicated.rps, target: 0 });
  results.push({ name: 'HTTP, 3 replicas, --replies majority', unreplicated: http.unreplicated, replicated: http.majority, ratio: http.majority.rps / http.unreplicated.rps, target: 0 });
  results.push({ name: 'HTTP, 3 replicas, --follower-niceness 0', unreplicated: http.unreplicated, replicated: http.even, ratio: http.even.rps / http.unreplicated.rps, target: 0 });
  const etcdHttp = await withEtcd(async (endpoint) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'replicode.js'), 'cluster', '--replicas', '3', '--log', 'etcd', '--endpoints', endpoint,
      '--listen', '127.0.0.1:18290=80', join(root, 'wasm_programs', 'build', 'http_server.wasm'), '--', '80'], { stdio: 'ignore' });
    await waitForPort(18290);
    const load = httpLoad(root, 18290);
    await stop(child);
    return load;
  });
  if (etcdHttp) results.push({ name: 'HTTP, 3 replicas (etcd log) vs 1 machine', unreplicated: http.unreplicated, replicated: etcdHttp, ratio: etcdHttp.rps / http.unreplicated.rps, target: 0 });
  if (spawnSync('redis-benchmark', ['--version']).status === 0) {
    const resp = await measureReplicated(root, 'resp_server', 16490, 6379, (p) => respLoad(p), (p) => respLoad(p, 10000));
    results.push({ name: 'RESP, 3 replicas (embedded log) vs 1 machine', unreplicated: resp.unreplicated, replicated: resp.replicated, ratio: resp.replicated.rps / resp.unreplicated.rps, target: 0.6 });
    results.push({ name: 'RESP, 3 replicas vs 1 machine, both cold', unreplicated: resp.cold.unreplicated, replicated: resp.cold.replicated, ratio: resp.cold.replicated.rps / resp.cold.unreplicated.rps, target: 0 });
    results.push({ name: 'RESP, 3 replicas, --replies majority', unreplicated: resp.unreplicated, replicated: resp.majority, ratio: resp.majority.rps / resp.unreplicated.rps, target: 0 });
    results.push({ name: 'RESP, 3 replicas, --follower-niceness 0', unreplicated: resp.unreplicated, replicated: resp.even, ratio: resp.even.rps / resp.unreplicated.rps, target: 0 });
  }
  for (const r of results) {
    console.log(`${r.name.padEnd(46)} replicated ${r.replicated.rps.toFixed(0).padStart(7)} req/s p50 ${r.replicated.p50.toFixed(2)} ms p99 ${r.replicated.p99.toFixed(2)} ms | one machine ${r.unreplicated.rps.toFixed(0).padStart(7)} req/s p50 ${r.unreplicated.p50.toFixed(2)} ms p99 ${r.unreplicated.p99.toFixed(2)} ms | ${(r.ratio * 100).toFixed(0)}%${r.target ? ` (target >= ${r.target * 100}%)` : ''}`);
  }
  return results;
}

export async function benchServers(root: string): Promise<ServerBenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'replicode-native-'));
  const build = (name: string) => {
    const out = join(dir, name);
    execFileSync('gcc', ['-O2', '-D_GNU_SOURCE', '-o', out, join(root, 'wasm_programs', 'src', `${name}.c`)]);
    return out;
  };
  const results: ServerBenchResult[] = [];
  const http = await measure(root, 'http_server', 18080, 80, build('http_server'), (p) => httpLoad(root, p));
  results.push({ name: 'HTTP GET /counter, 50 keep-alive connections', ...http, ratio: http.replicode.rps / http.native.rps });
  if (spawnSync('redis-benchmark', ['--version']).status === 0) {
    const resp = await measure(root, 'resp_server', 16390, 6379, build('resp_server'), respLoad);
    results.push({ name: 'RESP SET+GET, redis-benchmark -c 50', ...resp, ratio: resp.replicode.rps / resp.native.rps });
  } else {
    console.log('redis-benchmark not found (apt-get install redis-tools): RESP server skipped');
  }
  for (const r of results) {
    console.log(`${r.name.padEnd(46)} replicode ${r.replicode.rps.toFixed(0).padStart(7)} req/s p50 ${r.replicode.p50.toFixed(2)} ms p99 ${r.replicode.p99.toFixed(2)} ms | native ${r.native.rps.toFixed(0).padStart(7)} req/s p50 ${r.native.p50.toFixed(2)} ms p99 ${r.native.p99.toFixed(2)} ms | ${(r.ratio * 100).toFixed(0)}% of native`);
  }
  return results;
}
