// A replica's catch-up from a snapshot (consensus/cluster.ts, runtime/snapshot/): replicas take a
// snapshot of their machine every few batches (each process's inside the call it is blocked in);
// a killed replica restarts from the latest agreed one and replays only the log after it, agrees
// with the others from there, and can carry the service alone; the log is compacted below it.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, EmbeddedLog } from '../dist/consensus/index.js';
import { compileModule, processConfig } from '../dist/runtime/index.js';
import { programsDir, runCli, startCli, tempDir } from './helpers.js';

const httpWasm = join(programsDir, 'build', 'http_server.wasm');
const bytes = readFileSync(httpWasm);
const running: Cluster[] = [];
afterEach(async () => { await Promise.all(running.splice(0).map((c) => c.stop())); });

const until = async (what: () => boolean, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** A keep-alive HTTP connection asking /counter, one request at a time. */
function keepAlive(port: number) {
  const socket = connect(port, '127.0.0.1');
  let buffer = '';
  let waiting: ((n: number) => void) | undefined;
  socket.on('data', (d) => {
    buffer += d.toString('latin1');
    const head = buffer.indexOf('\r\n\r\n');
    if (head < 0) return;
    const length = Number(/content-length: *(\d+)/i.exec(buffer.slice(0, head))?.[1] ?? 0);
    if (buffer.length < head + 4 + length) return;
    const body = buffer.slice(head + 4, head + 4 + length);
    buffer = buffer.slice(head + 4 + length);
    waiting?.((JSON.parse(body) as { counter: number }).counter);
  });
  return {
    counter: () => new Promise<number>((resolve) => { waiting = resolve; socket.write('GET /counter HTTP/1.1\r\nHost: t\r\n\r\n'); }),
    close: () => socket.end(),
  };
}

describe('catch-up from snapshots', () => {
  it('a restarted replica resumes from the latest snapshot, replays only the log after it, agrees, and can answer alone; the log is compacted', async () => {
    const module = await compileModule(bytes, 'http_server.wasm');
    const log = new EmbeddedLog();
    const cluster = await Cluster.start({
      replicas: 3, listen: [{ host: '127.0.0.1', port: 0, vport: 80 }], log, snapshotEvery: 4, compact: true,
      processes: [{ module, moduleName: 'http_server.wasm', moduleBytes: bytes, config: processConfig({ args: ['http_server.wasm'] }) }],
    });
    running.push(cluster);
    const conn = keepAlive(cluster.listening[0]!.port);
    const counters: number[] = [];
    const ask = async (n: number) => { for (let i = 0; i < n; i++) counters.push(await conn.counter()); };
    await ask(20);
    await until(() => cluster.snapshotStats.taken >= 3);
    await cluster.kill(2);
    await ask(10);
    // A snapshot is usable once a majority published its hash: the other follower (at a lower
    // priority, behind on a loaded machine) must have caught up first.
    await until(() => cluster.appliedBy(3) === cluster.appliedBy(1));
    cluster.restart(2);
    expect(cluster.snapshotStats.lastRestartFrom).toBeGreaterThan(0);
    await ask(10);
    await until(() => cluster.appliedBy(2) === cluster.appliedBy(1) && Object.keys(cluster.hashesAt(cluster.appliedBy(2))).length === 3);
    expect(new Set(Object.values(cluster.hashesAt(cluster.appliedBy(2)))).size).toBe(1);
    expect(cluster.disagreements).toEqual([]);
    // The restored replica carries the service alone: its counter goes on where the clients are.
    await cluster.kill(1);
    await cluster.kill(3);
    await ask(5);
    conn.close();
    expect(counters).toEqual(Array.from({ length: 45 }, (_, i) => i + 1));
    expect(log.first).toBeGreaterThan(0);
    expect(cluster.snapshotStats.compactedBelow).toBe(log.first);
  });

  it('a machine of two processes (a proxy in front of an echo server, each connection a connect and sends between them): restored mid-traffic, it agrees and answers alone', async () => {
    const wasm = (name: string) => join(programsDir, 'build', `${name}.wasm`);
    const code = { proxy: readFileSync(wasm('proxy')), echo: readFileSync(wasm('echo_server')) };
    const cluster = await Cluster.start({
      replicas: 3, listen: [{ host: '127.0.0.1', port: 0, vport: 80 }], snapshotEvery: 3,
      processes: [
        { module: await compileModule(code.proxy, 'proxy.wasm'), moduleName: 'proxy.wasm', moduleBytes: code.proxy, config: processConfig({ args: ['proxy.wasm', '80', '10.77.0.2', '7'] }) },
        { module: await compileModule(code.echo, 'echo_server.wasm'), moduleName: 'echo_server.wasm', moduleBytes: code.echo, config: processConfig({ args: ['echo_server.wasm', '7'] }) },
      ],
    });
    running.push(cluster);
    const port = cluster.listening[0]!.port;
    const echoOnce = (text: string) => new Promise<string>((resolve, reject) => {
      let got = '';
      const s = connect(port, '127.0.0.1', () => s.write(text));
      s.on('data', (d) => { got += d; if (got.length >= text.length) s.end(); });
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });
    for (let i = 0; i < 6; i++) expect(await echoOnce(`before ${i}\n`)).toBe(`before ${i}\n`);
    await until(() => cluster.snapshotStats.taken >= 3);
    await cluster.kill(3);
    for (let i = 0; i < 4; i++) expect(await echoOnce(`while down ${i}\n`)).toBe(`while down ${i}\n`);
    // As above: a majority's hashes make a snapshot usable.
    await until(() => cluster.appliedBy(2) === cluster.appliedBy(1));
    cluster.restart(3);
    expect(cluster.snapshotStats.lastRestartFrom).toBeGreaterThan(0);
    for (let i = 0; i < 4; i++) expect(await echoOnce(`after ${i}\n`)).toBe(`after ${i}\n`);
    await until(() => cluster.appliedBy(3) === cluster.appliedBy(1) && Object.keys(cluster.hashesAt(cluster.appliedBy(3))).length === 3);
    expect(cluster.disagreements).toEqual([]);
    await cluster.kill(1);
    await cluster.kill(2);
    for (let i = 0; i < 3; i++) expect(await echoOnce(`restored alone ${i}\n`)).toBe(`restored alone ${i}\n`);
  });

  it('through the CLI: cluster --snapshot-every N --compact serves as before; the options refuse what they cannot do', async () => {
    const cli = startCli(['cluster', '--replicas', '3', '--snapshot-every', '2', '--compact', '--listen', '127.0.0.1:0=80', httpWasm]);
    const port = Number((await cli.waitFor(/cluster of 3 replicas listening on 127\.0\.0\.1:(\d+)/))[1]);
    const conn = keepAlive(port);
    const seen: number[] = [];
    for (let i = 0; i < 12; i++) seen.push(await conn.counter());
    conn.close();
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(130);
    expect(cli.stderr()).toMatch(/\d+ batches applied by every replica; 0 disagreement\(s\)/);
    for (const [args, message] of [
      [['--snapshot-every', '5', '--record-dir', tempDir()], '--snapshot-every: replicas that record traces (--record-dir) take no snapshots'],
      [['--compact'], "--compact drops the log below the replicas' snapshots: give --snapshot-every N"],
      [['--snapshot-every', 'often'], '--snapshot-every'],
    ] as const) {
      const r = runCli(['cluster', ...args, '--listen', '127.0.0.1:0=80', httpWasm]);
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr).toContain(message);
    }
  });

  it('a full embedded log (--max-log-entries) stops the cluster with one line and exit 1 (--json says log-full)', async () => {
    const cli = startCli(['cluster', '--replicas', '2', '--max-log-entries', '8', '--json', '--listen', '127.0.0.1:0=80', httpWasm]);
    const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    const conn = keepAlive(port);
    for (let i = 0; i < 3; i++) await conn.counter();
    // More requests than the log can take: the cluster stops, and the connection is closed.
    const more = (async () => { for (let i = 0; i < 20; i++) await conn.counter(); })();
    expect(await cli.exited).toBe(1);
    conn.close();
    void more.catch(() => {});
    expect(cli.stderr()).toContain('replicode: the consensus log is full (the log holds 8 entries, its limit); stopping the cluster\n');
    expect(JSON.parse(cli.stderr().trim().split('\n').at(-1)!)).toMatchObject({ command: 'cluster', outcome: 'log-full', exitCode: 1 });
  });
});
