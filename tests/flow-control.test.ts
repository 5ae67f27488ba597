// Issue 11, items 1, 4, 6 and 16, through the CLI: a client that half-closes still gets its
// reply; a client that never reads neither grows the host (run or cluster) nor makes a guest's
// sends fail: they wait (or get EAGAIN) once the connection's 4 MiB send buffer is full, and the
// client is read no faster than the guest reads; a recorded session with a non-reading client
// replays; resp_server keeps serving others while one client pipelines large GETs unread.
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeHeader, encodeNet, unpackAll, type TraceHeader } from '../dist/formats/index.js';
import { decodeBatch, encodeBatch } from '../dist/consensus/index.js';
import { programsDir, runCli, servers, tempDir } from './helpers.js';

const wasm = (name: string) => join(programsDir, 'build', `${name}.wasm`);
const sendBufferBytes = 4 * 1024 * 1024;
/** The bound on host growth with a client that never reads. */
const maxGrowthMB = 150;

const serve = servers();

const rssMB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `request` and half-closes at once (as `nc -N` or an HTTP/1.0 client); resolves with all it got back. */
function halfClosingClient(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(request));
    let got = '';
    socket.on('data', (d) => { got += d; });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
}

/**
 * A client that never reads: it connects, writes 64 KiB chunks as long as its socket takes them
 * (when `send`), and counts what it got out. The host's RSS is sampled meanwhile.
 */
async function nonReader(pid: number, port: number, send: boolean, ms: number) {
  const base = rssMB(pid);
  const socket = connect(port, '127.0.0.1');
  socket.pause();
  let sent = 0;
  let failure = '';
  socket.on('error', (e: NodeJS.ErrnoException) => { failure = e.code ?? e.message; });
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const pump = () => { while (!socket.destroyed && socket.write(chunk)) sent += chunk.length; };
  if (send) { socket.on('connect', pump); socket.on('drain', () => { sent += chunk.length; pump(); }); }
  let peak = base;
  for (let t = 0; t < ms; t += 100) {
    await sleep(100);
    peak = Math.max(peak, rssMB(pid));
  }
  return { socket, growthMB: peak - base, sentMB: sent / 2 ** 20, failure: () => failure };
}

/** A client that sends `message` and reads until `done` says it has the reply (or 5 s pass, or the server hangs up). */
function ask(port: number, message: string, done: (got: string) => boolean): Promise<string> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1', () => socket.write(message));
    let got = '';
    const finish = () => { clearTimeout(timer); socket.destroy(); resolve(got); };
    const timer = setTimeout(finish, 5000);
    socket.on('data', (d) => { got += d; if (done(got)) finish(); });
    socket.on('close', finish);
    socket.on('error', () => {});
  });
}

describe('a client that half-closes gets its reply (item 1)', () => {
  it('http_server answers 10 of 10 clients that end() their request', async () => {
    const { port } = await serve(['run', '--listen', '127.0.0.1:0=80', wasm('http_server')]);
    const replies = await Promise.all(Array.from({ length: 10 }, () => halfClosingClient(port, 'GET /counter HTTP/1.1\r\nHost: x\r\n\r\n')));
    for (const r of replies) expect(r).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*"counter":\s*\d+/);
  });

  it('echo_server echoes 10 of 10 clients that half-close after their bytes', async () => {
    const { port } = await serve(['run', '--listen', '127.0.0.1:0=7', wasm('echo_server')]);
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => halfClosingClient(port, `half-closed ${i}\n`)));
    replies.forEach((r, i) => expect(r).toBe(`half-closed ${i}\n`));
  });
});

describe('a client that never reads (items 4 and 6)', () => {
  it('echo_server under run: the client is held back and the host stays bounded', async () => {
    const { cli, port } = await serve(['run', '--listen', '127.0.0.1:0=7', wasm('echo_server')]);
    const hog = await nonReader(cli.child.pid!, port, true, 2500);
    expect(hog.growthMB).toBeLessThan(maxGrowthMB);
    // Its echo fills the guest's send buffer, then the guest's receive buffer, then the client waits.
    expect(hog.sentMB).toBeLessThan(64);
    expect(hog.failure()).toBe('');
    // echo_server writes with blocking calls, so (as natively) it waits for this client; once
    // the client goes, its write fails and it serves the next one.
    hog.socket.destroy();
    expect(await ask(port, 'next\n', (g) => g.endsWith('\n'))).toBe('next\n');
  });

  it('a guest writing 1 MiB blocks: its write waits at the send buffer, and fails only once the client is gone', async () => {
    const { cli, port } = await serve(['run', '--listen', '127.0.0.1:0=9', wasm('flood_server'), '--', '9', String(1 << 20)]);
    const hog = await nonReader(cli.child.pid!, port, false, 2500);
    expect(hog.growthMB).toBeLessThan(maxGrowthMB);
    expect(cli.stdout()).not.toMatch(/client gone/);
    hog.socket.destroy();
    for (let i = 0; i < 50 && !/client gone/.test(cli.stdout()); i++) await sleep(100);
    const sent = Number(/client gone after (\d+) bytes/.exec(cli.stdout())![1]);
    // The send buffer, plus what the host's own socket buffers took before the client stopped.
    expect(sent).toBeGreaterThanOrEqual(sendBufferBytes);
    expect(sent).toBeLessThan(64 * 2 ** 20);
  });

  it('a non-blocking guest gets EAGAIN at exactly the 4 MiB bound; the recorded session replays', async () => {
    const dir = tempDir();
    const trace = join(dir, 'flood.rct');
    const { cli, port } = await serve(['record', '-o', trace, '--listen', '127.0.0.1:0=9', wasm('flood_server'), '--', '9', String(1 << 20), 'nonblock']);
    const hog = await nonReader(cli.child.pid!, port, false, 1000);
    // The guest never blocked before its first EAGAIN, so no ack reached it: exactly the bound.
    expect(cli.stdout()).toContain(`EAGAIN after ${sendBufferBytes} bytes`);
    // Now the client reads 3 times the bound: the guest's poll for POLLOUT wakes as acks come.
    let got = 0;
    await new Promise<void>((resolve) => {
      hog.socket.on('data', (d: Buffer) => { got += d.length; if (got >= 3 * sendBufferBytes) resolve(); });
      hog.socket.resume();
    });
    hog.socket.destroy();
    for (let i = 0; i < 50 && !/client gone/.test(cli.stdout()); i++) await sleep(100);
    expect(Number(/client gone after (\d+) bytes/.exec(cli.stdout())![1])).toBeGreaterThanOrEqual(3 * sendBufferBytes);
    cli.child.kill('SIGINT');
    await cli.exited;
    const replay = runCli(['replay', trace]);
    expect(replay.stderr).toMatch(/replay matches the recording/);
    expect(replay.stdout).toBe(cli.stdout());
    const acked = JSON.parse(runCli(['inspect', '--events', '--json', '--kind', 'net', trace]).stdout).events
      .flatMap((e: { inputs: string[] }) => e.inputs).filter((i: string) => /acked \d+ bytes on conn/.test(i));
    expect(acked.length).toBeGreaterThan(0);
  });

  it('cluster (embedded log): a non-reading client keeps the host bounded and the replicas agree', async () => {
    const { cli, port } = await serve(['cluster', '--replicas', '3', '--listen', '127.0.0.1:0=7', wasm('echo_server')]);
    const hog = await nonReader(cli.child.pid!, port, true, 3000);
    expect(hog.growthMB).toBeLessThan(maxGrowthMB);
    expect(hog.sentMB).toBeLessThan(64);
    hog.socket.destroy();
    expect(await halfClosingClient(port, 'half-closed\n')).toBe('half-closed\n');
    cli.child.kill('SIGINT');
    await cli.exited;
    expect(cli.stderr()).toMatch(/0 disagreement\(s\)/);
  });
});

/** Sends `total` bytes of a pattern while reading the echo; resolves with whether every byte came back in order. */
function echoMany(port: number, total: number): Promise<{ received: number; intact: boolean }> {
  return new Promise((resolve, reject) => {
    const pattern = (i: number) => (i * 7 + (i >> 13)) & 0xff;
    const data = Buffer.alloc(total);
    for (let i = 0; i < total; i++) data[i] = pattern(i);
    const chunk = (at: number, n: number) => data.subarray(at, at + n);
    const socket = connect(port, '127.0.0.1');
    let sent = 0;
    let received = 0;
    let intact = true;
    const pump = () => {
      while (sent < total) {
        const n = Math.min(256 * 1024, total - sent);
        const more = socket.write(chunk(sent, n));
        sent += n;
        if (!more) return;
      }
      socket.end();
    };
    socket.on('connect', pump);
    socket.on('drain', pump);
    socket.on('data', (d: Buffer) => {
      for (let k = 0; k < d.length && intact; k++) intact = d[k] === pattern(received + k);
      received += d.length;
    });
    socket.on('close', () => resolve({ received, intact }));
    socket.on('error', reject);
  });
}

describe('a guest that closes on a client still sending', () => {
  it('the client, held back at the buffers, gets a reset instead of hanging', async () => {
    const { port } = await serve(['run', '--listen', '127.0.0.1:0=6379', wasm('resp_server')]);
    const socket = connect(port, '127.0.0.1');
    const junk = Buffer.alloc(64 * 1024, 'x');
    junk.write('*999\r\n'); // too many arguments: resp_server drops the client
    const pump = () => { while (!socket.destroyed && socket.write(junk)); };
    socket.on('connect', pump);
    socket.on('drain', pump);
    const failure = await new Promise<string>((resolve) => {
      socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      setTimeout(() => resolve('still open after 5 s'), 5000);
    });
    socket.destroy();
    expect(failure).toMatch(/ECONNRESET|EPIPE/);
  });
});

describe('a client that reads: many times the buffers go through, nothing stalls', () => {
  it('16 MiB through echo_server both ways, under run and under a cluster', async () => {
    const total = 16 * 2 ** 20;
    const single = await serve(['run', '--listen', '127.0.0.1:0=7', wasm('echo_server')]);
    expect(await echoMany(single.port, total)).toEqual({ received: total, intact: true });
    const cluster = await serve(['cluster', '--replicas', '3', '--listen', '127.0.0.1:0=7', wasm('echo_server')]);
    expect(await echoMany(cluster.port, total)).toEqual({ received: total, intact: true });
  });
});

describe('resp_server and a client pipelining large GETs without reading (item 16)', () => {
  it('keeps running and answers other clients', async () => {
    const { cli, port } = await serve(['run', '--listen', '127.0.0.1:0=6379', wasm('resp_server')]);
    const value = 'v'.repeat(100_000);
    const hog = connect(port, '127.0.0.1');
    hog.pause();
    hog.on('error', () => {});
    hog.write(`*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${value.length}\r\n${value}\r\n`);
    const gets = 'GET big\r\n'.repeat(20_000);
    for (let i = 0; i < 10; i++) hog.write(gets);
    await sleep(1500);
    expect(await ask(port, 'PING\r\n', (g) => g.endsWith('\r\n'))).toBe('+PONG\r\n');
    expect(await ask(port, 'GET nothing\r\n', (g) => g.endsWith('\r\n'))).toBe('$-1\r\n');
    expect(cli.stderr()).not.toMatch(/trap|internal error/);
    hog.destroy();
  });
});

describe('the acked event and the send buffer bound in traces and on the log', () => {
  it('round-trip: net record kind 8, batch kind 7, header sendBufferBytes (absent in older traces)', () => {
    const net = decodeRecord(unpackAll(encodeNet(3, { timeNs: 5n, events: [{ kind: 'acked', conn: 2, bytes: 65536 }] }))[0]);
    expect(net).toEqual({ kind: 'net', event: 3, delivery: { timeNs: 5n, stopping: false, events: [{ kind: 'acked', conn: 2, bytes: 65536 }] } });
    expect(() => decodeRecord(unpackAll(encodeNet(3, { timeNs: 5n, events: [{ kind: 'acked', conn: 2, bytes: 0 }] }))[0])).toThrow(/acked event/);
    const batch = { timeNs: 9n, events: [{ kind: 'acked' as const, link: 4, bytes: 100 }] };
    expect(decodeBatch(encodeBatch(batch))).toEqual(batch);
    const header: TraceHeader = {
      replicodeVersion: 'test', module: { name: 'm.wasm', sha256: '00'.repeat(32), size: 0, bytes: null },
      config: { args: ['m'], env: [], seed: 0n, epochNs: 0n, writeBack: false, maxOpenFds: 8, snapshotLimits: { maxEntries: 1, maxBytes: 1 }, pid: 1 },
      preopens: [], options: { clock: 'virtual', random: 'seeded', checkpointEvery: 1, recordOutput: false },
    };
    const old = decodeRecord(unpackAll(encodeHeader(header))[0]);
    expect(old.kind === 'header' && old.header.config.sendBufferBytes).toBe(undefined);
    const bounded = decodeRecord(unpackAll(encodeHeader({ ...header, config: { ...header.config, sendBufferBytes: sendBufferBytes } }))[0]);
    expect(bounded.kind === 'header' && bounded.header.config.sendBufferBytes).toBe(sendBufferBytes);
  });
});
