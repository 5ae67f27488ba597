// Servers under RepliCode with real clients over 127.0.0.1: node `net` clients, fetch, and
// redis-cli; many clients at once, clients that vanish mid-request, a slow client, 1,000
// connections, a two-process program, port exhaustion, and a recorded session replayed.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compileModule, processConfig, startMachine, type RunningMachine } from '../dist/runtime/index.js';
import { Errno, SyscallHarness } from './syscall-harness.js';
import { programsDir, runCli, startCli, tempDir } from './helpers.js';
import { readFileSync } from 'node:fs';

const wasm = (name: string) => join(programsDir, 'build', `${name}.wasm`);
const modules = new Map<string, Promise<WebAssembly.Module>>();
const load = (name: string) => {
  if (!modules.has(name)) modules.set(name, compileModule(readFileSync(wasm(name)), name));
  return modules.get(name)!;
};

const machines: RunningMachine[] = [];
afterEach(async () => {
  await Promise.all(machines.splice(0).map((m) => m.stop(200)));
});

/** Starts guests on a machine listening on an ephemeral host port; returns that port. */
async function serve(processes: [name: string, args: string[]][], vport: number): Promise<{ port: number; output: () => string; machine: RunningMachine }> {
  let text = '';
  const running = await startMachine({
    listen: [{ host: '127.0.0.1', port: 0, vport }],
    processes: await Promise.all(processes.map(async ([name, args]) => ({
      module: await load(name), config: processConfig({ args: [`${name}.wasm`, ...args] }),
      onOutput: (_s: 1 | 2, b: Uint8Array) => { text += Buffer.from(b).toString(); },
    }))),
  });
  machines.push(running);
  return { port: running.listening[0]!.port, output: () => text, machine: running };
}

/** Sends `message`, reads until `until` says the reply is complete, closes. */
function exchange(port: number, message: string | Buffer, until: (got: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(message));
    let got = '';
    socket.on('data', (d) => { got += d; if (until(got)) socket.end(); });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
}

const lines = (got: string) => got.endsWith('\n');

describe('echo server with node net clients', () => {
  it('serves 100 concurrent clients, each getting its own bytes back', async () => {
    const { port } = await serve([['echo_server', ['7']]], 7);
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => exchange(port, `client ${i}\n`, lines)));
    replies.forEach((r, i) => expect(r).toBe(`client ${i}\n`));
  });

  it('keeps serving when clients vanish mid-request, and copes with a slow client', async () => {
    const { port } = await serve([['echo_server', ['7']]], 7);
    await Promise.all(Array.from({ length: 20 }, () => new Promise<void>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.write('half a req'); s.destroy(); resolve(); });
      s.on('error', () => resolve());
    })));
    const slow = new Promise<string>((resolve, reject) => {
      const s: Socket = connect(port, '127.0.0.1');
      let got = '';
      const text = 'slowly, byte by byte\n';
      s.on('connect', async () => {
        for (const ch of text) { s.write(ch); await new Promise((r) => setTimeout(r, 5)); }
      });
      s.on('data', (d) => { got += d; if (got === text) s.end(); });
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });
    const [slowReply, fast] = await Promise.all([slow, exchange(port, 'fast\n', lines)]);
    expect(slowReply).toBe('slowly, byte by byte\n');
    expect(fast).toBe('fast\n');
  });

  it('holds 1,000 connections open at once', async () => {
    const { port } = await serve([['echo_server', ['7']]], 7);
    const sockets = await Promise.all(Array.from({ length: 1000 }, () => new Promise<Socket>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    })));
    const replies = await Promise.all(sockets.map((s, i) => new Promise<string>((resolve) => {
      let got = '';
      s.on('data', (d) => { got += d; if (got.endsWith('\n')) { s.end(); resolve(got); } });
      s.write(`#${i}\n`);
    })));
    replies.forEach((r, i) => expect(r).toBe(`#${i}\n`));
  }, 60_000);
});

describe('HTTP server with fetch', () => {
  it('serves the page, a JSON counter over keep-alive connections, and 404s', async () => {
    const { port } = await serve([['http_server', ['80']]], 80);
    const base = `http://127.0.0.1:${port}`;
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Hello from a deterministic server');
    const counters: number[] = [];
    for (let i = 0; i < 5; i++) counters.push(((await (await fetch(`${base}/counter`)).json()) as { counter: number }).counter);
    expect(counters).toEqual([1, 2, 3, 4, 5]);
    expect((await fetch(`${base}/missing`)).status).toBe(404);
    const parallel = await Promise.all(Array.from({ length: 50 }, () => fetch(`${base}/counter`).then((r) => r.json() as Promise<{ counter: number }>)));
    expect(new Set(parallel.map((p) => p.counter)).size).toBe(50);
    // Virtual time: the guest's clock starts at the default epoch, not the host's date.
    expect(((await (await fetch(`${base}/counter`)).json()) as { time: number }).time).toBeLessThan(1577836800 + 3600);
  });

  it('answers pipelined requests on one connection in order', async () => {
    const { port } = await serve([['http_server', ['80']]], 80);
    const req = 'GET /counter HTTP/1.1\r\nHost: x\r\n\r\n';
    const got = await exchange(port, req + req + req.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'), () => false);
    expect(got.match(/"counter":\d+/g)).toEqual(['"counter":1', '"counter":2', '"counter":3']);
  });
});

const hasRedisCli = spawnSync('redis-cli', ['--version']).status === 0;
const execFileAsync = promisify(execFile);

describe('Redis-protocol server', () => {
  it.skipIf(!hasRedisCli)('works with redis-cli', async () => {
    const { port } = await serve([['resp_server', ['6379']]], 6379);
    // Asynchronously: the machine runs on this thread's event loop.
    const cli = async (...args: string[]) => (await execFileAsync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' })).stdout.trim();
    expect(await cli('PING')).toBe('PONG');
    expect(await cli('SET', 'greeting', 'hello')).toBe('OK');
    expect(await cli('GET', 'greeting')).toBe('hello');
    expect(await cli('INCR', 'n')).toBe('1');
    expect(await cli('INCR', 'n')).toBe('2');
    expect(await cli('EXPIRE', 'n', '100')).toBe('1');
    expect(Number(await cli('TTL', 'n'))).toBeGreaterThan(98);
    expect(await cli('DEL', 'greeting', 'nothing')).toBe('1');
    expect(await cli('GET', 'greeting')).toBe('');
    expect(await cli('DBSIZE')).toBe('1');
  });

  it('speaks RESP to a plain socket client, inline and multibulk', async () => {
    const { port } = await serve([['resp_server', ['6379']]], 6379);
    const got = await exchange(port, '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\nGET k\r\n*1\r\n$4\r\nPING\r\n', (g) => g.endsWith('+PONG\r\n'));
    expect(got).toBe('+OK\r\n$2\r\nv1\r\n+PONG\r\n');
  });
});

describe('machines with several processes', () => {
  it('a front process forwards to a back process over a virtual port; both may listen on the same port number', async () => {
    const { port } = await serve([['proxy', ['7', '10.77.0.2', '7']], ['echo_server', ['7']]], 7);
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => exchange(port, `through ${i}\n`, lines)));
    replies.forEach((r, i) => expect(r).toBe(`through ${i}\n`));
  });

  it('run --listen and --process from the CLI, stopped with SIGINT', async () => {
    const cli = startCli(['run', '--listen', '127.0.0.1:0=80', wasm('proxy'), '--process', `${wasm('echo_server')} 7`]);
    const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+) for guest port 80/))[1]);
    expect(await exchange(port, 'hi\n', lines)).toBe('hi\n');
    cli.child.kill('SIGINT');
    expect(await cli.exited).not.toBeNull();
    expect(cli.stderr()).not.toMatch(/internal error/);
  });
});

describe('port allocation', () => {
  it('is a per-process counter; exhaustion is EADDRNOTAVAIL, never a crash; freed ports come back', () => {
    const h = new SyscallHarness({ maxOpenFds: 40_000 });
    const fdOut = h.alloc(4);
    const addr = h.alloc(8);
    const ip = h.alloc(4);
    h.view.setUint32(addr, ip, true);
    h.view.setUint32(addr + 4, 4, true);
    const bound: number[] = [];
    for (;;) {
      expect(h.sys.sock_open!(1, 2, fdOut)).toBe(0);
      const fd = h.u32(fdOut);
      const errno = h.sys.sock_bind!(fd, addr, 0);
      if (errno !== 0) {
        expect(errno).toBe(Errno.ADDRNOTAVAIL);
        break;
      }
      bound.push(fd);
    }
    expect(bound.length).toBe(60999 - 32768 + 1);
    expect(h.sys.fd_close!(bound[100]!)).toBe(0);
    expect(h.sys.sock_open!(1, 2, fdOut)).toBe(0);
    expect(h.sys.sock_bind!(h.u32(fdOut), addr, 0)).toBe(0);
    const local = h.alloc(4);
    const type = h.alloc(4);
    const portOut = h.alloc(4);
    expect(h.sys.sock_getlocaladdr!(h.u32(fdOut), addr, type, portOut)).toBe(0);
    expect(h.u32(portOut)).toBe(32768 + 100);
    void local;
  });

  it('a non-blocking accept that finds nothing gives its preallocated port back (EAGAIN)', () => {
    const h = new SyscallHarness();
    const fdOut = h.alloc(4);
    const addr = h.alloc(8);
    h.view.setUint32(addr, h.alloc(4), true);
    h.view.setUint32(addr + 4, 4, true);
    h.sys.sock_open!(1, 2, fdOut);
    const listener = h.u32(fdOut);
    expect(h.sys.sock_bind!(listener, addr, 8080)).toBe(0);
    expect(h.sys.sock_listen!(listener, 16)).toBe(0);
    expect(h.sys.fd_fdstat_set_flags!(listener, 4)).toBe(0);
    for (let i = 0; i < 3; i++) expect(h.sys.sock_accept!(listener, 0, h.alloc(4))).toBe(Errno.AGAIN);
    h.sys.sock_open!(1, 2, fdOut);
    expect(h.sys.sock_bind!(h.u32(fdOut), addr, 0)).toBe(0);
    const portOut = h.alloc(4);
    h.sys.sock_getlocaladdr!(h.u32(fdOut), addr, h.alloc(4), portOut);
    expect(h.u32(portOut)).toBe(32768); // as if accept had never been called
    expect(h.sys.sock_bind!(h.u32(fdOut), addr, 8080)).toBe(Errno.INVAL);
    h.sys.sock_open!(1, 2, fdOut);
    expect(h.sys.sock_bind!(h.u32(fdOut), addr, 8080)).toBe(Errno.ADDRINUSE);
    // Without a machine, a blocking network wait fails instead of hanging.
    expect(h.sys.fd_fdstat_set_flags!(listener, 0)).toBe(0);
    expect(h.sys.sock_accept!(listener, 0, h.alloc(4))).toBe(Errno.NETDOWN);
  });
});

describe('record and replay a server session', () => {
  it('records an HTTP session with many clients; replay in another process gives the same outputs and checkpoints', async () => {
    const dir = tempDir();
    const trace = join(dir, 'http.rct');
    const cli = startCli(['record', '--checkpoint-every', '50', '-o', trace, '--listen', '127.0.0.1:0=80', wasm('http_server')]);
    const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    const bodies = await Promise.all(Array.from({ length: 40 }, () => fetch(`http://127.0.0.1:${port}/counter`).then((r) => r.text())));
    expect(new Set(bodies).size).toBe(40);
    cli.child.kill('SIGINT');
    await cli.exited;
    expect(cli.stderr()).toMatch(/recorded \d+ events, \d+ checkpoints/);
    const replay = runCli(['replay', trace]);
    expect(replay.stderr).toMatch(/replay matches the recording: \d+ events, \d+ checkpoints verified/);
    expect(replay.stdout).toBe(cli.stdout());
    const summary = JSON.parse(runCli(['inspect', '--json', trace]).stdout);
    expect(summary.records.net.count).toBeGreaterThanOrEqual(2);
    expect(summary.events).toBeGreaterThan(200);
    expect(summary.checkpoints.length).toBeGreaterThan(3);
    const deliveries = JSON.parse(runCli(['inspect', '--events', '--json', '--kind', 'net', '--limit', '5', trace]).stdout).events;
    expect(deliveries.length).toBeGreaterThan(0);
    expect(deliveries[0].inputs.some((i: string) => /^net: (incoming|data \d+ bytes on conn \d+)/.test(i))).toBe(true);
  });
});
