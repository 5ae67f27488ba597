// Replicated execution on a real consensus system: etcd (Debian's etcd-server, which .ci/run
// installs), started here on private ports: a 3-replica cluster on an etcd log, two nodes in
// separate processes agreeing through it, and a 3-member etcd that loses the member in use.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { Cluster, connectEtcdLog, maxLinkBlock } from '../dist/consensus/index.js';
import { closeGraceMs, EtcdHashBoard } from '../dist/consensus/etcd-log.js';
import { compileModule, processConfig } from '../dist/runtime/index.js';
import { programsDir, startCli, tempDir } from './helpers.js';

const hasEtcd = spawnSync('etcd', ['--version']).status === 0;
const httpWasm = join(programsDir, 'build', 'http_server.wasm');
const echoWasm = join(programsDir, 'build', 'echo_server.wasm');
const children: ChildProcess[] = [];
afterAll(() => { for (const c of children) c.kill('SIGKILL'); });

let nextPort = 24000 + (process.pid % 500) * 10;
/** Starts an etcd cluster of `members` on 127.0.0.1; returns the client URLs and the processes. */
async function startEtcd(members: number): Promise<{ urls: string[]; procs: ChildProcess[] }> {
  const base = nextPort;
  nextPort += 10;
  const names = Array.from({ length: members }, (_, i) => `m${i}`);
  const peer = (i: number) => `http://127.0.0.1:${base + 2 * i + 1}`;
  const client = (i: number) => `http://127.0.0.1:${base + 2 * i}`;
  const initial = names.map((n, i) => `${n}=${peer(i)}`).join(',');
  const procs = names.map((name, i) => {
    const p = spawn('etcd', ['--name', name, '--data-dir', tempDir('etcd-'), '--listen-client-urls', client(i), '--advertise-client-urls', client(i),
      '--listen-peer-urls', peer(i), '--initial-advertise-peer-urls', peer(i), '--initial-cluster', initial, '--initial-cluster-state', 'new'], { stdio: 'ignore' });
    children.push(p);
    return p;
  });
  const urls = names.map((_, i) => client(i));
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const log = await connectEtcdLog(urls, 'probe', 'probe');
      await log.append(new Uint8Array([1]));
      await log.close();
      return { urls, procs };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('etcd did not start');
}

const counter = async (base: string) => ((await (await fetch(`${base}/counter`)).json()) as { counter: number }).counter;

async function httpCluster(urls: string[], name: string) {
  const bytes = readFileSync(httpWasm);
  const module = await compileModule(bytes, 'http_server.wasm');
  return Cluster.start({
    replicas: 3, listen: [{ host: '127.0.0.1', port: 0, vport: 80 }], log: await connectEtcdLog(urls, name, 'test'),
    processes: [{ module, moduleName: 'http_server.wasm', moduleBytes: bytes, config: processConfig({ args: ['http_server.wasm'] }) }],
  });
}

describe.skipIf(!hasEtcd)('clusters on an etcd log', () => {
  it('a node stopped with Ctrl-C while etcd does not answer ends within seconds, exit 130 (it waited ~90 s)', async () => {
    const { urls, procs } = await startEtcd(1);
    const cli = startCli(['node', '--log', 'etcd', '--endpoints', urls.join(','), '--cluster-name', 'frozen-node', '--id', '1', '--replicas', '1', '--listen', '127.0.0.1:0=80', httpWasm]);
    children.push(cli.child);
    const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    expect(await counter(`http://127.0.0.1:${port}`)).toBe(1);
    procs[0]!.kill('SIGSTOP');
    try {
      const started = performance.now();
      cli.child.kill('SIGINT');
      expect(await cli.exited).toBe(130);
      // The last batch's append is given stopAppendRetryMs (5 s), the log's watches and leases
      // closeGraceMs (2 s) twice; then a connection to the frozen etcd no longer holds the process.
      expect(performance.now() - started).toBeLessThan(25_000);
      expect(cli.stderr()).toMatch(/0 disagreement\(s\)/);
    } finally {
      procs[0]!.kill('SIGCONT');
      procs[0]!.kill('SIGKILL');
    }
  }, 60_000);

  it('closing a log does not wait for an etcd that stopped answering (a node\'s Ctrl-C): its watches and leases are given closeGraceMs', async () => {
    const { urls, procs } = await startEtcd(1);
    const log = await connectEtcdLog(urls, 'frozen', 'frozen');
    await log.claimLinkBlock(); // a lease, kept alive
    log.watchGoneBlocks(() => {}); // a watch
    await new Promise((r) => setTimeout(r, 200));
    // Stopped, not killed: its port still takes connections and requests, and nothing answers.
    procs[0]!.kill('SIGSTOP');
    try {
      const started = performance.now();
      await log.close();
      expect(performance.now() - started).toBeLessThan(closeGraceMs + 3000);
    } finally {
      procs[0]!.kill('SIGCONT');
      procs[0]!.kill('SIGKILL');
    }
  }, 30_000);

  it('the hash board keeps only the newest batches of hashes (older ones are deleted as new ones come)', async () => {
    const { urls } = await startEtcd(1);
    const client = new Etcd3({ hosts: urls });
    try {
      const board = new EtcdHashBoard(client, 'board', 1, 20); // a hash every batch, 20 batches kept
      for (let batch = 0; batch <= 200; batch++) {
        board.publish(1, batch, `h${batch}`);
        if (batch % 20 === 0) await new Promise((r) => setTimeout(r, 20));
      }
      const count = () => client.getAll().prefix('/replicode/board/hash/').count();
      let held = await count();
      for (let i = 0; i < 50 && held > 30; i++) { await new Promise((r) => setTimeout(r, 50)); held = await count(); }
      expect(held).toBeLessThanOrEqual(30); // 201 without the sweep
      expect(await client.get('/replicode/board/hash/000000000200/1').string()).toBe('h200');
      expect(await client.get('/replicode/board/hash/000000000100/1').string()).toBeNull();
      await board.close();
    } finally {
      client.close();
    }
  });

  it('three replicas agree on every batch', async () => {
    const { urls } = await startEtcd(1);
    const cluster = await httpCluster(urls, 'three');
    const base = `http://127.0.0.1:${cluster.listening[0]!.port}`;
    const seen = [];
    for (let i = 0; i < 5; i++) seen.push(await counter(base));
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    const parallel = await Promise.all(Array.from({ length: 30 }, () => counter(base)));
    expect(new Set(parallel).size).toBe(30);
    await cluster.stop();
    expect(cluster.disagreements).toEqual([]);
    expect(cluster.agreedBatches).toBeGreaterThan(3);
  });

  it('two nodes in separate processes serve one state through etcd; Ctrl-C stops each with 130 and its --json summary', async () => {
    const { urls } = await startEtcd(1);
    const traces = tempDir();
    const node = (id: number) => {
      // --log etcd is implied: node 2 leaves it out.
      const log = id === 1 ? ['--log', 'etcd'] : [];
      const cli = startCli(['node', ...log, '--json', '--record-dir', traces, '--endpoints', urls.join(','), '--cluster-name', 'nodes', '--id', String(id), '--replicas', '2', '--listen', '127.0.0.1:0=80', httpWasm]);
      children.push(cli.child);
      return { ...cli, port: cli.waitFor(/listening on 127\.0\.0\.1:(\d+)/).then((m) => Number(m[1])) };
    };
    const a = node(1);
    const b = node(2);
    const ports = [await a.port, await b.port];
    const seen = [];
    for (let i = 0; i < 6; i++) seen.push(await counter(`http://127.0.0.1:${ports[i % 2]}`));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    for (const n of [a, b]) n.child.kill('SIGINT');
    expect(await Promise.all([a.exited, b.exited])).toEqual([130, 130]);
    expect(a.stderr()).toMatch(/0 disagreement\(s\)/);
    [a, b].forEach((n, i) => {
      const summary = JSON.parse(n.stderr().trimEnd().split('\n').at(-1)!);
      expect(summary).toMatchObject({
        command: 'node', outcome: 'interrupted', exitCode: 130, signal: 'SIGINT', replicas: 2, node: i + 1, log: 'etcd',
        disagreements: [], traces: [join(traces, `replica-${i + 1}.rct`)],
      });
      expect(summary.batches).toBeGreaterThan(0);
    });
  });

  it('a node restarted after kill -9 answers its first clients (their ids are new to the log) and counts on', async () => {
    const { urls } = await startEtcd(1);
    const node = (id: number) => {
      const cli = startCli(['node', '--log', 'etcd', '--endpoints', urls.join(','), '--cluster-name', 'restart', '--id', String(id), '--replicas', '3', '--listen', '127.0.0.1:0=80', httpWasm]);
      children.push(cli.child);
      return { ...cli, port: cli.waitFor(/listening on 127\.0\.0\.1:(\d+)/).then((m) => Number(m[1])) };
    };
    // A client that gives up after 5 s, as a person would.
    const counterWithin5s = async (port: number) => ((await (await fetch(`http://127.0.0.1:${port}/counter`, { signal: AbortSignal.timeout(5000) })).json()) as { counter: number }).counter;
    const nodes = [node(1), node(2), node(3)];
    const ports = await Promise.all(nodes.map((n) => n.port));
    const seen = [];
    for (let i = 0; i < 6; i++) seen.push(await counterWithin5s(ports[i % 3]!));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    nodes[1]!.child.kill('SIGKILL');
    await nodes[1]!.exited;
    const restarted = node(2);
    const port = await restarted.port;
    const after = [];
    for (let i = 0; i < 3; i++) after.push(await counterWithin5s(port));
    after.push(await counterWithin5s(ports[0]!));
    expect(after).toEqual([7, 8, 9, 10]);
    for (const n of [nodes[0]!, restarted, nodes[2]!]) n.child.kill('SIGINT');
    await Promise.all([nodes[0]!.exited, restarted.exited, nodes[2]!.exited]);
    expect(restarted.stderr()).toMatch(/0 disagreement\(s\)/);
  }, 60_000);

  /** Two nodes running echo_server 7 1 (the guest exits once its first connection is closed, saying so); a client of node 2's, echoed. */
  async function echoNodes(urls: string[], name: string, replicas = 2) {
    const node = (id: number) => {
      const cli = startCli(['node', '--log', 'etcd', '--endpoints', urls.join(','), '--cluster-name', name, '--id', String(id), '--replicas', String(replicas), '--listen', '127.0.0.1:0=7', echoWasm, '--', '7', '1']);
      children.push(cli.child);
      const port = cli.waitFor(/listening on 127\.0\.0\.1:(\d+)/).then((m) => Number(m[1]));
      // A node whose guest replays the log to its end may exit before it listens; a test that
      // needs the port awaits it (and fails), the others must not leave an unhandled rejection.
      port.catch(() => {});
      return { ...cli, port };
    };
    const survivor = node(1);
    const gone = node(2);
    const client = connect(await gone.port, '127.0.0.1');
    client.on('error', () => {});
    client.write('hi');
    await new Promise<void>((resolve) => client.once('data', () => resolve()));
    return { node, survivor, gone, client };
  }
  const exitWithin15s = (exited: Promise<number | null>) => Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 15_000))]);

  it("a node killed with an open client connection: restarted, it resets that connection on every replica's guest", async () => {
    const { urls } = await startEtcd(1);
    const { node, survivor, gone, client } = await echoNodes(urls, 'orphans');
    gone.child.kill('SIGKILL');
    await gone.exited;
    // The client's connection stays open on node 1's guest: nothing on the log says it ended.
    await new Promise((r) => setTimeout(r, 500));
    expect(survivor.stdout()).not.toMatch(/served/);
    const restarted = node(2);
    expect(await exitWithin15s(survivor.exited)).toBe(0);
    expect(survivor.stdout()).toMatch(/served 1 connections, echoed 2 bytes/);
    // The restarted node's replica replays the log, reset included, and its guest ends the same way.
    expect(await restarted.exited).toBe(0);
    expect(restarted.stdout()).toMatch(/served 1 connections, echoed 2 bytes/);
    expect(restarted.stderr()).toMatch(/0 disagreement\(s\)/);
    client.destroy();
  }, 60_000);

  it("a node killed and never restarted: once its lease runs out, the live node resets its clients' connections on the log", async () => {
    const { urls } = await startEtcd(1);
    const { survivor, gone, client } = await echoNodes(urls, 'lease');
    gone.child.kill('SIGKILL');
    await gone.exited;
    expect(await exitWithin15s(survivor.exited)).toBe(0);
    expect(survivor.stdout()).toMatch(/served 1 connections, echoed 2 bytes/);
    client.destroy();
  }, 60_000);

  it('a node killed while no other node ran: the next node to start resets its clients\' connections on the log', async () => {
    const { urls } = await startEtcd(1);
    const { node, survivor: first, gone, client } = await echoNodes(urls, 'unwatched', 3);
    // Node 1 goes first (stopped: its own connections are none), then node 2 is killed with its client's connection open.
    first.child.kill('SIGINT');
    await first.exited;
    gone.child.kill('SIGKILL');
    await gone.exited;
    const etcd = await connectEtcdLog(urls, 'unwatched', 'test');
    for (let look = 0; (await etcd.etcd.getAll().prefix('/replicode/unwatched/live-blocks/').keys()).length > 0; look++) {
      expect(look).toBeLessThan(300); // the lease runs out after 4 s; 30 s at most
      await new Promise((r) => setTimeout(r, 100));
    }
    await etcd.close();
    // A node that never ran before: its guest replays the log, the connection open, then its reset.
    const third = node(3);
    expect(await exitWithin15s(third.exited)).toBe(0);
    expect(third.stdout()).toMatch(/served 1 connections, echoed 2 bytes/);
    client.destroy();
  }, 60_000);

  it('a node stopped with an open client connection resets it on the log, for the other nodes too', async () => {
    const { urls } = await startEtcd(1);
    const { survivor, gone, client } = await echoNodes(urls, 'stopped');
    gone.child.kill('SIGINT');
    expect(await gone.exited).toBe(130);
    expect(await exitWithin15s(survivor.exited)).toBe(0);
    expect(survivor.stdout()).toMatch(/served 1 connections, echoed 2 bytes/);
    expect(survivor.stderr()).toMatch(/0 disagreement\(s\)/);
    client.destroy();
  }, 60_000);

  it('a node refuses to start, with one line, once the log has given out every block of client ids', async () => {
    const { urls } = await startEtcd(1);
    const log = await connectEtcdLog(urls, 'worn', 'test');
    await log.etcd.put('/replicode/worn/link-blocks').value(String(maxLinkBlock)).exec();
    await log.close();
    const cli = startCli(['node', '--log', 'etcd', '--endpoints', urls.join(','), '--cluster-name', 'worn', '--id', '1', '--replicas', '1', '--listen', '127.0.0.1:0=80', httpWasm]);
    children.push(cli.child);
    expect(await cli.exited).toBe(1);
    expect(cli.stderr()).toBe(`replicode: this cluster has used all its ${maxLinkBlock} blocks of client ids (one per node start): start it under a new --cluster-name\n`);
  });

  it('survives losing the etcd member it talks to, when etcd runs as three members', async () => {
    const { urls, procs } = await startEtcd(3);
    const cluster = await httpCluster(urls, 'survive');
    const base = `http://127.0.0.1:${cluster.listening[0]!.port}`;
    for (let i = 1; i <= 3; i++) expect(await counter(base)).toBe(i);
    procs[0]!.kill('SIGKILL');
    const after = [];
    for (let i = 0; i < 3; i++) after.push(await counter(base));
    expect(after).toEqual([4, 5, 6]);
    await cluster.stop();
    expect(cluster.disagreements).toEqual([]);
  }, 60_000);
});
