// UDP on the virtual network, sock_getaddrinfo from the machine's fixed table, and stdin as part
// of a machine's batch stream: direct syscall checks for the exact errnos and layouts, then the
// guest programs through the CLI with real UDP clients, recorded and replayed, and on a cluster.
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Errno, SyscallHarness } from './syscall-harness.js';
import { programsDir, runCli, startCli, tempDir } from './helpers.js';

const wasm = (name: string) => join(programsDir, 'build', `${name}.wasm`);
const AF_INET4 = 1, SOCK_DGRAM = 1, SOCK_STREAM = 2, SOCK_ANY = 0;
const EAI = { ADDRFAMILY: 77, BADFLAG: 79, MEMORY: 82, NONAME: 84, SERVICE: 85 };

/** A UDP socket, optionally bound to 0.0.0.0:port. */
function udpSocket(h: SyscallHarness, port?: number): number {
  const out = h.alloc(4);
  expect(h.sys.sock_open!(AF_INET4, SOCK_DGRAM, out)).toBe(0);
  const fd = h.u32(out);
  if (port !== undefined) expect(h.sys.sock_bind!(fd, address(h, [0, 0, 0, 0]), port)).toBe(0);
  return fd;
}

function address(h: SyscallHarness, ip: number[]): number {
  const [buf] = h.bytes(new Uint8Array(ip));
  const addr = h.alloc(8);
  h.view.setUint32(addr, buf, true);
  h.view.setUint32(addr + 4, 4, true);
  return addr;
}

function sendTo(h: SyscallHarness, fd: number, data: Uint8Array, ip: number[], port: number): { errno: number; n: number } {
  const [p, l] = h.bytes(data);
  const iov = h.alloc(8);
  h.view.setUint32(iov, p, true);
  h.view.setUint32(iov + 4, l, true);
  const out = h.alloc(4);
  const errno = h.sys.sock_send_to!(fd, iov, 1, address(h, ip), port, 0, out);
  return { errno, n: h.u32(out) };
}

/** The V2 (8-argument) recv_from the wasmedge_wasi_socket crate uses, into `size` bytes. */
function recvFrom(h: SyscallHarness, fd: number, size: number, riflags = 0) {
  const buf = h.alloc(size);
  const iov = h.alloc(8);
  h.view.setUint32(iov, buf, true);
  h.view.setUint32(iov + 4, size, true);
  const storage = h.alloc(128);
  const addr = h.alloc(8);
  h.view.setUint32(addr, storage, true);
  h.view.setUint32(addr + 4, 128, true);
  const port = h.alloc(4), len = h.alloc(4), roflags = h.alloc(4);
  const errno = h.sys.sock_recv_from!(fd, iov, 1, addr, riflags, port, len, roflags);
  const n = h.u32(len);
  return {
    errno, text: new TextDecoder().decode(h.read(buf, n)), truncated: (h.view.getUint16(roflags, true) & 1) === 1,
    family: h.view.getUint16(storage, true), ip: [...h.read(storage + 2, 4)], port: h.view.getUint16(port, true),
  };
}

/** Hands a datagram to a socket as the machine would. */
function deliver(h: SyscallHarness, fd: number, text: string, from = { ip: [10, 77, 0, 2], port: 4000 }): void {
  (h.kernel.fds.get(fd) as unknown as { deliver(from: unknown, bytes: Uint8Array): void }).deliver(from, new TextEncoder().encode(text));
}

describe('UDP sockets (syscalls)', () => {
  it('recv_from gives the datagram, its sender (V2 layout), and DATA_TRUNCATED when cut; PEEK keeps it', () => {
    const h = new SyscallHarness();
    const fd = udpSocket(h, 9000);
    deliver(h, fd, 'hello datagram');
    const peeked = recvFrom(h, fd, 64, 1);
    expect(peeked).toMatchObject({ errno: 0, text: 'hello datagram', truncated: false, family: AF_INET4, ip: [10, 77, 0, 2], port: 4000 });
    const cut = recvFrom(h, fd, 5);
    expect(cut).toMatchObject({ errno: 0, text: 'hello', truncated: true });
    // The rest of a cut datagram is gone, as on any UDP socket; nothing more waits (non-blocking: EAGAIN).
    expect(h.sys.fd_fdstat_set_flags!(fd, 4)).toBe(0);
    expect(recvFrom(h, fd, 64).errno).toBe(Errno.AGAIN);
  });

  it('bounds: a datagram over 65507 bytes is EMSGSIZE; past 1024 queued datagrams more are dropped', () => {
    const h = new SyscallHarness();
    h.memory.grow(16); // room for two 64 KiB datagrams and a thousand receives
    const fd = udpSocket(h, 9000);
    expect(sendTo(h, fd, new Uint8Array(65508), [10, 77, 0, 2], 53).errno).toBe(Errno.MSGSIZE);
    expect(sendTo(h, fd, new Uint8Array(65507), [10, 77, 0, 2], 53)).toEqual({ errno: 0, n: 65507 });
    for (let i = 0; i < 1030; i++) deliver(h, fd, `d${i}`);
    expect(h.sys.fd_fdstat_set_flags!(fd, 4)).toBe(0);
    const got: string[] = [];
    for (let r = recvFrom(h, fd, 16); r.errno === 0; r = recvFrom(h, fd, 16)) got.push(r.text);
    expect(got.length).toBe(1024);
    expect(got.at(-1)).toBe('d1023');
  });

  it('ports: UDP has its own port space; the same UDP port twice is EADDRINUSE; send without a destination is EDESTADDRREQ; listen/accept are ENOTSUP', () => {
    const h = new SyscallHarness();
    const tcp = h.alloc(4);
    expect(h.sys.sock_open!(AF_INET4, SOCK_STREAM, tcp)).toBe(0);
    expect(h.sys.sock_bind!(h.u32(tcp), address(h, [0, 0, 0, 0]), 9000)).toBe(0);
    const fd = udpSocket(h, 9000); // TCP's 9000 does not stand in the way
    const again = udpSocket(h);
    expect(h.sys.sock_bind!(again, address(h, [0, 0, 0, 0]), 9000)).toBe(Errno.ADDRINUSE);
    const [p, l] = h.bytes('x');
    const iov = h.alloc(8);
    h.view.setUint32(iov, p, true);
    h.view.setUint32(iov + 4, l, true);
    expect(h.sys.sock_send!(fd, iov, 1, 0, h.alloc(4))).toBe(Errno.DESTADDRREQ);
    expect(h.sys.sock_listen!(fd, 5)).toBe(Errno.NOTSUP);
    expect(h.sys.sock_accept!(fd, 0, h.alloc(4))).toBe(Errno.NOTSUP);
    const type = h.alloc(4), typeLen = h.alloc(4);
    h.view.setUint32(typeLen, 4, true);
    expect(h.sys.sock_getsockopt!(fd, 0, 1, type, typeLen)).toBe(0);
    expect(h.u32(type)).toBe(SOCK_DGRAM);
  });

  it('a connected UDP socket keeps only its peer\'s datagrams', () => {
    const h = new SyscallHarness();
    const fd = udpSocket(h, 9000);
    expect(h.sys.sock_connect!(fd, address(h, [10, 77, 0, 2]), 4000)).toBe(0);
    deliver(h, fd, 'stranger', { ip: [10, 77, 0, 3], port: 4000 });
    deliver(h, fd, 'peer');
    expect(recvFrom(h, fd, 16).text).toBe('peer');
  });
});

/** Calls sock_getaddrinfo the way the wasmedge_wasi_socket crate does (NUL counted in the length, up to `max` records). */
function getaddrinfo(h: SyscallHarness, node: string, service: string, hints: { flags?: number; family?: number; socktype?: number; protocol?: number } = {}, max = 10) {
  const [np, nl] = h.bytes(node ? `${node}\0` : '');
  const [sp, sl] = h.bytes(service ? `${service}\0` : '');
  const hintsPtr = h.alloc(28);
  h.view.setUint16(hintsPtr, hints.flags ?? 0, true);
  h.view.setUint8(hintsPtr + 2, hints.family ?? 0);
  h.view.setUint8(hintsPtr + 3, hints.socktype ?? 0);
  h.view.setUint8(hintsPtr + 4, hints.protocol ?? 0);
  const records: number[] = [];
  for (let i = 0; i < max; i++) {
    const rec = h.alloc(28), sockaddr = h.alloc(12), data = h.alloc(26), canon = h.alloc(30);
    h.view.setUint32(sockaddr + 4, 26, true);
    h.view.setUint32(sockaddr + 8, data, true);
    h.view.setUint32(rec + 12, sockaddr, true);
    h.view.setUint32(rec + 16, canon, true);
    h.view.setUint32(rec + 20, 30, true);
    if (i > 0) h.view.setUint32(records[i - 1]! + 24, rec, true);
    records.push(rec);
  }
  const res = h.alloc(4);
  h.view.setUint32(res, records[0]!, true);
  const count = h.alloc(4);
  const errno = h.sys.sock_getaddrinfo!(np, nl, sp, sl, hintsPtr, res, max, count);
  const results = records.slice(0, errno === 0 ? h.u32(count) : 0).map((rec) => {
    const sockaddr = h.u32(rec + 12);
    const data = h.read(h.u32(sockaddr + 8), 6);
    const canon = h.read(h.u32(rec + 16), 30);
    return {
      family: h.view.getUint8(rec + 2), socktype: h.view.getUint8(rec + 3), protocol: h.view.getUint8(rec + 4),
      port: (data[0]! << 8) | data[1]!, ip: [...data.subarray(2, 6)],
      canonname: new TextDecoder().decode(canon.subarray(0, canon.indexOf(0))),
    };
  });
  return { errno, results };
}

describe('sock_getaddrinfo (a fixed table, never the host resolver)', () => {
  it('resolves numbers, localhost and --host names; one answer per socket type', () => {
    const h = new SyscallHarness({ hosts: [['backend', '10.77.0.2']] });
    expect(getaddrinfo(h, '10.1.2.3', '80', { socktype: SOCK_STREAM })).toEqual({
      errno: 0, results: [{ family: AF_INET4, socktype: SOCK_STREAM, protocol: 1, port: 80, ip: [10, 1, 2, 3], canonname: '' }],
    });
    const any = getaddrinfo(h, 'BACKEND', 'http', { socktype: SOCK_ANY, flags: 0x2 });
    expect(any.errno).toBe(0);
    expect(any.results.map((r) => [r.socktype, r.protocol, r.port, r.ip.join('.'), r.canonname])).toEqual([
      [SOCK_STREAM, 1, 80, '10.77.0.2', 'BACKEND'], [SOCK_DGRAM, 2, 80, '10.77.0.2', 'BACKEND'],
    ]);
    expect(getaddrinfo(h, 'localhost', '6379', { socktype: SOCK_DGRAM }).results[0]!.ip).toEqual([127, 0, 0, 1]);
    expect(getaddrinfo(h, '', '8080', { flags: 0x1, socktype: SOCK_STREAM }).results[0]!.ip).toEqual([0, 0, 0, 0]);
    expect(getaddrinfo(h, 'backend', '80', { socktype: SOCK_ANY }, 1).results.length).toBe(1);
  });

  it('CANONNAME with a zero-length name buffer writes nothing there (the crate passes dangling pointers with length 0)', () => {
    const h = new SyscallHarness();
    const [np, nl] = h.bytes('localhost\0');
    const hints = h.alloc(28);
    h.view.setUint16(hints, 0x2, true);
    const rec = h.alloc(28), sockaddr = h.alloc(12), data = h.alloc(14), canary = h.alloc(8);
    h.view.setUint32(sockaddr + 4, 14, true);
    h.view.setUint32(sockaddr + 8, data, true);
    h.view.setUint32(rec + 12, sockaddr, true);
    h.view.setUint32(rec + 16, canary, true);
    h.view.setUint32(rec + 20, 0, true);
    h.view.setUint8(canary, 0xaa);
    const res = h.alloc(4), count = h.alloc(4);
    h.view.setUint32(res, rec, true);
    expect(h.sys.sock_getaddrinfo!(np, nl, 0, 0, hints, res, 1, count)).toBe(0);
    expect(h.u32(count)).toBe(1);
    expect(h.view.getUint8(canary)).toBe(0xaa);
  });

  it('answers WasmEdge\'s EAI_* codes for what it cannot resolve', () => {
    const h = new SyscallHarness({ hosts: [['backend', '10.77.0.2']] });
    expect(getaddrinfo(h, 'example.com', '80').errno).toBe(EAI.NONAME);
    expect(getaddrinfo(h, '', '').errno).toBe(EAI.NONAME);
    expect(getaddrinfo(h, 'backend', 'gopher').errno).toBe(EAI.SERVICE);
    expect(getaddrinfo(h, 'backend', '80', { flags: 0x4 }).errno).toBe(EAI.NONAME); // NUMERICHOST
    expect(getaddrinfo(h, 'backend', '80', { family: 2 }).errno).toBe(EAI.ADDRFAMILY);
    expect(getaddrinfo(h, 'backend', '80', { flags: 0x100 }).errno).toBe(EAI.BADFLAG);
    expect(getaddrinfo(h, 'backend', '80', {}, 0).errno).toBe(EAI.MEMORY);
  });
});

describe('UDP and name lookup through the CLI', () => {
  it('two processes on one machine: the client resolves the server by --host name and gets each reply', () => {
    const r = runCli(['run', '--host', 'server=10.77.0.1', wasm('udp_echo'), '--process', `${wasm('udp_client')} server 9000 hello world`, '--', '9000', '2']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('server is 10.77.0.1');
    expect(r.stdout).toContain('datagram 1: 5 bytes from 10.77.0.2:32768');
    expect(r.stdout).toContain('reply from 10.77.0.1:9000: echo hello');
    expect(r.stdout).toContain('reply from 10.77.0.1:9000: echo world');
    const unknown = runCli(['run', wasm('udp_client'), '--', 'nowhere', '9000', 'x']);
    expect(unknown.stdout).toContain('cannot resolve nowhere: error 84');
    expect(unknown.exitCode).toBe(1);
  });

  it('record --listen udp:...: real UDP clients get one reply per datagram; the trace replays without network', async () => {
    const dir = tempDir();
    const trace = join(dir, 'udp.rct');
    const server = startCli(['record', '-o', trace, '--listen', 'udp:127.0.0.1:0=9000', wasm('udp_echo'), '--', '9000', '4']);
    const port = Number((await server.waitFor(/listening on udp:127\.0\.0\.1:(\d+) for guest UDP port 9000/))[1]);
    const replies = await exchange(port, ['one', 'two', 'three', 'four']);
    expect(replies.sort()).toEqual(['echo four', 'echo one', 'echo three', 'echo two']);
    expect(await server.exited).toBe(0);
    expect(server.stdout()).toContain('datagram 4:');
    const replay = runCli(['replay', trace]);
    expect(replay.exitCode, replay.stderr).toBe(0);
    expect(replay.stdout).toBe(server.stdout());
    expect(runCli(['inspect', '--events', '--kind', 'net', trace]).stdout).toMatch(/datagram 3 bytes from 127\.0\.0\.1:\d+ to port 9000/);
  });

  it('a 3-replica cluster answers each datagram exactly once, and its replicas agree', async () => {
    const dir = tempDir();
    const cluster = startCli(['cluster', '--replicas', '3', '--record-dir', dir, '--listen', 'udp:127.0.0.1:0=9000', wasm('udp_echo'), '--', '9000', '3']);
    const port = Number((await cluster.waitFor(/listening on udp:127\.0\.0\.1:(\d+)/))[1]);
    const replies = await exchange(port, ['a', 'b', 'c'], 500);
    expect(replies.sort()).toEqual(['echo a', 'echo b', 'echo c']); // no duplicates from the other replicas
    expect(await cluster.exited).toBe(0);
    const diff = runCli(['diff', ...[1, 2, 3].map((r) => join(dir, `replica-${r}.rct`))]);
    expect(diff.exitCode, diff.stdout).toBe(0);
  });
});

describe('stdin in the batch stream', () => {
  it('a recorded run carries stdin in its batches; it replays; inspect shows the pieces', () => {
    const dir = tempDir();
    const trace = join(dir, 'stdin.rct');
    const r = runCli(['record', '-o', trace, wasm('line_count')], 'one two\nthree\n');
    expect(r.stdout).toContain('lines=2 words=3 bytes=14');
    const events = runCli(['inspect', '--events', '--kind', 'net', trace]).stdout;
    expect(events).toContain('net: stdin 14 bytes');
    expect(events).toContain('net: stdin EOF');
    expect(runCli(['replay', '-q', trace]).exitCode).toBe(0);
  });

  it('a machine with no outside clients keeps virtual time: the same stdin gives the same trace events twice', () => {
    const dir = tempDir();
    const [a, b] = ['a', 'b'].map((n) => join(dir, `${n}.rct`));
    runCli(['record', '-o', a, wasm('stdin_echo')], 'same input\n');
    runCli(['record', '-o', b, wasm('stdin_echo')], 'same input\n');
    const d = runCli(['diff', a, b]);
    expect(d.exitCode, d.stdout).toBe(0);
  });

  it('a cluster proposes its stdin on the log: every replica reads the same bytes, and their traces agree', async () => {
    const dir = tempDir();
    const cluster = startCli(['cluster', '--replicas', '3', '--record-dir', dir, '--listen', '127.0.0.1:0=80', wasm('line_count')]);
    cluster.child.stdin!.end('alpha beta\ngamma\n');
    expect(await cluster.exited).toBe(0);
    expect(cluster.stdout()).toBe('lines=2 words=3 bytes=17\n');
    const traces = [1, 2, 3].map((r) => join(dir, `replica-${r}.rct`));
    for (const t of traces) expect(runCli(['inspect', '--events', '--kind', 'net', t]).stdout).toContain('net: stdin 17 bytes');
    expect(runCli(['diff', ...traces]).exitCode).toBe(0);
  });
});

/** Sends each message from one UDP socket and collects replies until `quietMs` pass without one (or 5 s). */
function exchange(port: number, messages: string[], quietMs = 300): Promise<string[]> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const replies: string[] = [];
    let timer: NodeJS.Timeout;
    const finish = () => { clearTimeout(timer); socket.close(); resolve(replies); };
    const hardStop = setTimeout(finish, 5000);
    socket.on('message', (m) => {
      replies.push(m.toString());
      clearTimeout(timer);
      if (replies.length >= messages.length) timer = setTimeout(() => { clearTimeout(hardStop); finish(); }, quietMs);
    });
    for (const m of messages) socket.send(m, port, '127.0.0.1');
  });
}
