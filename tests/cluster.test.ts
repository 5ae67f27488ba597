// A machine replicated three times behind the embedded consensus log, with real HTTP clients:
// replicas agree batch by batch, a killed replica is not missed and catches up when restarted,
// a replica that behaves differently is named at once, and every replica's trace replays.
import { readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchFormatError, Cluster, decodeBatch, encodeBatch } from '../dist/consensus/index.js';
import { compileModule, processConfig } from '../dist/runtime/index.js';
import { programsDir, runCli, startCli, tempDir } from './helpers.js';

const httpWasm = join(programsDir, 'build', 'http_server.wasm');
const bytes = readFileSync(httpWasm);
const running: Cluster[] = [];
afterEach(async () => { await Promise.all(running.splice(0).map((c) => c.stop())); });

async function startHttpCluster(extra: Partial<Parameters<typeof Cluster.start>[0]> = {}) {
  const module = await compileModule(bytes, 'http_server.wasm');
  const cluster = await Cluster.start({
    replicas: 3, listen: [{ host: '127.0.0.1', port: 0, vport: 80 }],
    processes: [{ module, moduleName: 'http_server.wasm', moduleBytes: bytes, config: processConfig({ args: ['http_server.wasm'] }) }],
    ...extra,
  });
  running.push(cluster);
  return { cluster, base: `http://127.0.0.1:${cluster.listening[0]!.port}` };
}

const counter = async (base: string) => ((await (await fetch(`${base}/counter`)).json()) as { counter: number }).counter;
const until = async (what: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('a 3-replica cluster on the embedded log', () => {
  it('takes clients only while it has ids left in its block: past it they are refused, and never reach the log', async () => {
    const { cluster, base } = await startHttpCluster({ links: { first: 10, end: 12 } });
    // Each request on a connection of its own.
    const fresh = (): Promise<number> => new Promise((resolve, reject) => {
      get(`${base}/counter`, { agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve((JSON.parse(body) as { counter: number }).counter));
        res.on('error', reject);
      }).on('error', reject);
    });
    expect(await fresh()).toBe(1);
    expect(await fresh()).toBe(2);
    await expect(fresh()).rejects.toThrow();
    await until(() => cluster.agreedBatches > 0);
    expect(cluster.disagreements).toEqual([]);
  });

  it('serves clients once and every replica publishes the same hash after every batch', async () => {
    const { cluster, base } = await startHttpCluster();
    const seen = [];
    for (let i = 0; i < 5; i++) seen.push(await counter(base));
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    const parallel = await Promise.all(Array.from({ length: 60 }, () => counter(base)));
    expect(new Set(parallel).size).toBe(60);
    await until(() => cluster.agreedBatches > 5);
    expect(cluster.disagreements).toEqual([]);
    for (let b = 1; b < cluster.agreedBatches; b++) {
      const hashes = Object.values(cluster.hashesAt(b));
      expect(hashes.length).toBe(3);
      expect(new Set(hashes).size).toBe(1);
    }
  });

  it('a killed replica is not missed; restarted, it replays the log and agrees again', async () => {
    const { cluster, base } = await startHttpCluster();
    for (let i = 0; i < 10; i++) await counter(base);
    await cluster.kill(1); // the fastest replica usually speaks: kill it, replies keep coming from the others
    const during = [];
    for (let i = 0; i < 10; i++) during.push(await counter(base));
    expect(during).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    cluster.restart(1);
    const after = [];
    for (let i = 0; i < 5; i++) after.push(await counter(base));
    expect(after).toEqual([21, 22, 23, 24, 25]);
    // Replica 1 has replayed the log from the start and caught up with the others.
    await until(() => cluster.appliedBy(1) === cluster.appliedBy(2) && cluster.appliedBy(2) === cluster.appliedBy(3)
      && Object.keys(cluster.hashesAt(cluster.appliedBy(1))).length === 3);
    const last = cluster.appliedBy(1);
    expect(new Set(Object.values(cluster.hashesAt(last))).size).toBe(1);
    expect(cluster.disagreements).toEqual([]);
  });

  for (const replies of ['designated', 'majority'] as const) {
    it(`replies: ${replies}: one keep-alive connection stays byte-exact while the replica answering dies, restarts, and the next one dies`, async () => {
      const { cluster } = await startHttpCluster({ replies });
      const conn = await keepAlive(cluster.listening[0]!.port);
      const counters: number[] = [];
      const ask = async (n: number) => { for (let i = 0; i < n; i++) counters.push(await conn.counter()); };
      await ask(10);
      const first = cluster.designated!;
      await cluster.kill(first);
      await ask(10);
      cluster.restart(first);
      await ask(5);
      await until(() => cluster.appliedBy(first) === cluster.appliedBy(cluster.designated!));
      const second = cluster.designated!;
      expect(second).not.toBe(first);
      await cluster.kill(second); // now the restarted replica must carry its share
      await ask(10);
      conn.close();
      // Every response parsed (Content-Length framing intact) and the counter never skips or repeats.
      expect(counters).toEqual(Array.from({ length: 35 }, (_, i) => i + 1));
      expect(cluster.disagreements).toEqual([]);
    });
  }

  for (const replies of ['designated', 'majority'] as const) {
    it(`replies: ${replies}: many short connections are each answered once, and leave no state behind`, async () => {
      const { cluster } = await startHttpCluster({ replies, comparedBatches: 40 });
      const port = cluster.listening[0]!.port;
      const counters: number[] = [];
      // HTTP/1.0 clients that half-close after their request (as `nc -N` does), then read to the end.
      for (let i = 0; i < 150; i++) counters.push(await oneShot(port));
      expect(counters).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
      await until(() => cluster.stats.connections === 0);
      expect(cluster.stats.hashedBatches).toBeLessThanOrEqual(40);
      // Well past the 40 batches of hashes kept (events of one connection may share a batch under load).
      expect(cluster.agreedBatches).toBeGreaterThan(80);
      // A replica restarted now replays every one of those connections: none of it reaches a client or stays.
      await cluster.kill(2);
      cluster.restart(2);
      await until(() => cluster.appliedBy(2) === cluster.appliedBy(1));
      expect(await oneShot(port)).toBe(151);
      await until(() => cluster.stats.connections === 0);
      expect(cluster.stats.hashedBatches).toBeLessThanOrEqual(40);
      expect(cluster.disagreements).toEqual([]);
    });
  }

  it('reset-links on the log resets, on every replica, the open connections in its range and no other', async () => {
    const echo = readFileSync(join(programsDir, 'build', 'echo_server.wasm'));
    const module = await compileModule(echo, 'echo_server.wasm');
    // echo_server 7 2: exits after two connections closed, saying how many bytes it echoed.
    const cluster = await Cluster.start({
      replicas: 3, listen: [{ host: '127.0.0.1', port: 0, vport: 7 }], links: { first: 100, end: 200 },
      processes: [{ module, moduleName: 'echo_server.wasm', moduleBytes: echo, config: processConfig({ args: ['echo_server.wasm', '7', '2'] }) }],
    });
    running.push(cluster);
    const echoed = async (s: Socket, text: string) => {
      s.write(text);
      await new Promise<void>((resolve) => s.once('data', () => resolve()));
    };
    const open = () => new Promise<Socket>((resolve) => { const s = connect(cluster.listening[0]!.port, '127.0.0.1', () => resolve(s)); s.on('error', () => {}); });
    const [a, b] = [await open(), await open()]; // links 100 and 101
    await echoed(a, 'one');
    await echoed(b, 'two');
    cluster.linksGone({ first: 100, end: 101 }); // a's link only
    await echoed(b, 'three'); // b still answered, after the reset applied
    cluster.linksGone({ first: 101, end: 200 });
    const outcomes = await cluster.outcomes;
    expect(outcomes.map((o) => o?.[0]?.exitCode)).toEqual([0, 0, 0]);
    expect(cluster.disagreements).toEqual([]);
    a.destroy();
    b.destroy();
  });

  it('batch kind 8 (reset-links) round-trips with ids past 2^32, and a range out of order is refused', () => {
    const batch = { timeNs: 3n, events: [{ kind: 'reset-links' as const, first: 5 * 2 ** 32, end: 6 * 2 ** 32 }] };
    expect(decodeBatch(encodeBatch(batch))).toEqual(batch);
    expect(() => decodeBatch(encodeBatch({ timeNs: 3n, events: [{ kind: 'reset-links', first: 9, end: 8 }] }))).toThrow(BatchFormatError);
  });

  it('names the replica that disagrees, at the first batch where it does', async () => {
    const reports: number[][] = [];
    const { cluster, base } = await startHttpCluster({
      // Replica 2 starts its clock elsewhere: /counter reports the time, so its replies differ.
      configFor: (replica, config) => (replica === 2 ? { ...config, epochNs: config.epochNs + 86_400_000_000_000n } : config),
      onDisagreement: (d) => reports.push(d.replicas),
    });
    expect(await counter(base)).toBe(1);
    await until(() => cluster.disagreements.length > 0);
    expect(reports[0]).toEqual([2]);
    const first = cluster.disagreements[0]!;
    // Before that batch every replica agreed.
    for (let b = 1; b < first.batch; b++) expect(new Set(Object.values(cluster.hashesAt(b))).size).toBe(1);
  });

  it("records every replica's trace; the traces have identical checkpoint chains and replay", async () => {
    const dir = tempDir();
    const { cluster, base } = await startHttpCluster({ recordDir: dir, checkpointEvery: 5 });
    for (let i = 0; i < 8; i++) await counter(base);
    await cluster.stop();
    running.length = 0;
    const chains = [1, 2, 3].map((r) => JSON.parse(runCli(['inspect', '--json', join(dir, `replica-${r}.rct`)]).stdout).checkpoints.map((c: { chain: string }) => c.chain));
    expect(chains[0]!.length).toBeGreaterThan(3);
    expect(chains[1]).toEqual(chains[0]);
    expect(chains[2]).toEqual(chains[0]);
    for (const r of [1, 2, 3]) expect(runCli(['replay', '-q', join(dir, `replica-${r}.rct`)]).stderr).toMatch(/replay matches the recording/);
  });

  it('cluster --record-dir, Ctrl-C while the guest computes: each replica\'s trace holds every event, is stopped (exit 0) and replays', async () => {
    const dir = tempDir();
    // Three lines to stdout, then computing for ever: the replicas are terminated on Ctrl-C.
    const loop = join(dir, 'loop.wat');
    writeFileSync(loop, `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "line\\n")
  (func $line (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 5))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (call $line) (call $line) (call $line) (loop $forever (br $forever))))`);
    const traces = join(dir, 'traces');
    const cli = startCli(['cluster', '--replicas', '2', '--record-dir', traces, '--listen', '127.0.0.1:0=80', loop]);
    await cli.waitFor(/listening on 127\.0\.0\.1:\d+/);
    await until(() => cli.stdout() === 'line\nline\nline\n');
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(130);
    for (const r of [1, 2]) {
      const trace = join(traces, `replica-${r}.rct`);
      const inspected = runCli(['inspect', trace]);
      expect(inspected.exitCode, inspected.stderr).toBe(0);
      expect(inspected.stdout).toContain('stopped (recording stopped by the user after 3 events)');
      const replay = runCli(['replay', '-q', trace]);
      expect(replay.stderr).toMatch(/^replicode: replay matches the recording up to where it was stopped \(3 events\)/);
      expect(replay.exitCode).toBe(0);
    }
  });

  it('replicode cluster from the CLI', async () => {
    const cli = startCli(['cluster', '--replicas', '3', '--listen', '127.0.0.1:0=80', httpWasm]);
    const port = Number((await cli.waitFor(/cluster of 3 replicas listening on 127\.0\.0\.1:(\d+)/))[1]);
    expect(await counter(`http://127.0.0.1:${port}`)).toBe(1);
    cli.child.kill('SIGINT');
    await cli.exited;
    expect(cli.stderr()).toMatch(/\d+ batches applied by every replica; 0 disagreement\(s\)/);
  });
});

/** One HTTP/1.0 request on a connection of its own, half-closed after the request; the counter in the reply. */
async function oneShot(port: number): Promise<number> {
  const reply = await new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end('GET /counter HTTP/1.0\r\n\r\n'));
    let got = '';
    s.setTimeout(10_000, () => s.destroy(new Error(`no reply: ${JSON.stringify(got)}`)));
    s.on('data', (d) => { got += d; });
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
  return (JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as { counter: number }).counter;
}

/** One HTTP/1.1 keep-alive connection: each /counter request waits for its whole response (Content-Length). */
async function keepAlive(port: number): Promise<{ counter(): Promise<number>; close(): void }> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  let buffered = Buffer.alloc(0);
  let waiting: (() => void) | undefined;
  socket.on('data', (d) => { buffered = Buffer.concat([buffered, d]); waiting?.(); });
  const response = async (): Promise<string> => {
    for (;;) {
      const head = buffered.indexOf('\r\n\r\n');
      const length = head >= 0 ? Number(/content-length: (\d+)/i.exec(buffered.subarray(0, head).toString())?.[1]) : NaN;
      if (head >= 0 && buffered.length >= head + 4 + length) {
        const body = buffered.subarray(head + 4, head + 4 + length).toString();
        expect(buffered.subarray(0, 15).toString()).toBe('HTTP/1.1 200 OK');
        buffered = buffered.subarray(head + 4 + length);
        return body;
      }
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no full response: ${JSON.stringify(buffered.toString())}`)), 10_000);
        waiting = () => { clearTimeout(timer); waiting = undefined; resolve(); };
      });
    }
  };
  return {
    counter: async () => {
      socket.write('GET /counter HTTP/1.1\r\nHost: cluster\r\n\r\n');
      return (JSON.parse(await response()) as { counter: number }).counter;
    },
    close: () => socket.destroy(),
  };
}
