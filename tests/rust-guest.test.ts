// Rust guests written against WasmEdge's socket extension the way the wasmedge_wasi_socket crate
// calls it (wasm_programs/rust/echo_server.rs, TCP; rust/udp_echo.rs, UDP and sock_getaddrinfo):
// their imports have the crate's signatures, they serve real clients through `replicode run
// --listen`, and recorded sessions replay the same.
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { programsDir, runCli, startCli, tempDir, type RunningCli } from './helpers.js';

const wasmPath = join(programsDir, 'build', 'rust_echo_server.wasm');
const udpWasmPath = join(programsDir, 'build', 'rust_udp_echo.wasm');
const echoTimeoutMs = 10_000;

// A failed test must not leave its server running.
const started: RunningCli[] = [];
const start = (args: string[]) => { const cli = startCli(args); started.push(cli); return cli; };
afterEach(() => { for (const cli of started.splice(0)) if (cli.child.exitCode === null) cli.child.kill('SIGKILL'); });

/** Every function import's wasm type ("i32,i32->i32"), read from the type and import sections. */
function importSignatures(bytes: Uint8Array): Map<string, string> {
  const valueTypes: Record<number, string> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64' };
  let pos = 8; // magic and version
  const leb = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[pos++]!;
      value |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return value >>> 0;
    }
  };
  const text = (): string => {
    const length = leb();
    pos += length;
    return Buffer.from(bytes.subarray(pos - length, pos)).toString('utf8');
  };
  const valueList = (): string => Array.from({ length: leb() }, () => valueTypes[bytes[pos++]!] ?? '?').join(',');
  const types: string[] = [];
  const imports = new Map<string, string>();
  while (pos < bytes.length) {
    const section = bytes[pos++]!;
    const end = leb() + pos;
    if (section === 1) {
      for (let n = leb(); n > 0; n--) {
        pos++; // 0x60: a function type
        const params = valueList();
        types.push(`${params}->${valueList()}`);
      }
    } else if (section === 2) {
      for (let n = leb(); n > 0; n--) {
        const name = `${text()}.${text()}`;
        if (bytes[pos++] !== 0) throw new Error(`${name} is not a function import`);
        imports.set(name, types[leb()]!);
      }
    }
    pos = end;
  }
  return imports;
}

const i32s = (n: number) => `${Array(n).fill('i32').join(',')}->i32`;

/** The crate's declarations (src/socket.rs, src/wasi_poll.rs) lowered to wasm: every argument an i32. */
const crateImports: Record<string, number> = {
  sock_open: 3, sock_bind: 3, sock_listen: 2, sock_accept: 2, sock_connect: 3,
  sock_recv: 6, sock_recv_from: 8, sock_send: 5, sock_send_to: 7, sock_shutdown: 2,
  sock_getpeeraddr: 4, sock_getlocaladdr: 4, sock_getsockopt: 5, sock_setsockopt: 5,
  sock_getaddrinfo: 8, poll_oneoff: 4,
};

/** A node `net` client; `echo` sends bytes and resolves with their echo once it has all come back. */
interface EchoClient {
  localPort: number;
  echo(bytes: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

async function openClient(port: number): Promise<EchoClient> {
  const socket: Socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const closed = once(socket, 'close');
  let received = Buffer.alloc(0);
  let sent = 0;
  return {
    localPort: socket.localPort!,
    echo: (bytes) => new Promise((resolve, reject) => {
      const from = sent;
      sent += bytes.length;
      const timer = setTimeout(() => reject(new Error(`no full echo within ${echoTimeoutMs} ms: ${received.length - from} of ${bytes.length} bytes`)), echoTimeoutMs);
      const done = () => {
        if (received.length < sent) return;
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(received.subarray(from, sent));
      };
      const onData = (d: Buffer) => { received = Buffer.concat([received, d]); done(); };
      socket.on('data', onData);
      socket.once('close', () => reject(new Error(`closed after ${received.length} of ${sent} bytes`)));
      socket.write(bytes);
    }),
    close: async () => { socket.end(); await closed; },
  };
}

/** Bytes that are not one repeated character, so a reordered or dropped chunk shows. */
function pattern(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0, x = 1; i < length; i++) bytes[i] = (x = (x * 1664525 + 1013904223) >>> 0) >>> 24;
  return bytes;
}

/**
 * Two clients at once: A is answered, B (while A stays open) sends 256 KiB, then A again.
 * A server that served one connection at a time would never answer B.
 */
async function twoClients(port: number): Promise<{ a: EchoClient; b: EchoClient; bytes: number }> {
  const a = await openClient(port);
  expect((await a.echo(Buffer.from('alpha 1\n'))).toString()).toBe('alpha 1\n');
  const b = await openClient(port);
  const big = pattern(256 * 1024);
  expect((await b.echo(big)).equals(big)).toBe(true);
  expect((await a.echo(Buffer.from('alpha 2\n'))).toString()).toBe('alpha 2\n');
  await Promise.all([a.close(), b.close()]);
  return { a, b, bytes: 8 + big.length + 8 };
}

const listening = (port: number) =>
  `rust echo server listening on 0.0.0.0:${port} (SO_REUSEADDR 1, SO_ACCEPTCONN 1, SO_TYPE 2)`;

describe('a Rust guest using the wasmedge_wasi_socket calling convention', () => {
  it('imports the crate\'s socket calls with the crate\'s wasm signatures, and nothing RepliCode lacks', () => {
    const modules: [string, string[]][] = [
      [wasmPath, Object.keys(crateImports)], // the whole set: the echo server links what it does not call too
      [udpWasmPath, ['sock_open', 'sock_bind', 'sock_recv_from', 'sock_send_to', 'sock_shutdown', 'sock_getaddrinfo']],
    ];
    for (const [path, required] of modules) {
      const signatures = importSignatures(readFileSync(path));
      for (const name of required) expect(signatures.has(`wasi_snapshot_preview1.${name}`), `${path}: ${name}`).toBe(true);
      for (const [name, arity] of Object.entries(crateImports)) {
        const signature = signatures.get(`wasi_snapshot_preview1.${name}`);
        if (signature !== undefined) expect(signature, `${path}: ${name}`).toBe(i32s(arity));
      }
      expect([...signatures.keys()].every((name) => name.startsWith('wasi_snapshot_preview1.')), path).toBe(true);
    }
    // The crate's fcntl (O_NONBLOCK) goes through wasi-libc to the standard fdstat calls.
    expect(importSignatures(readFileSync(wasmPath)).get('wasi_snapshot_preview1.fd_fdstat_set_flags')).toBe(i32s(2));
  });

  it('serves two concurrent node clients through run --listen and prints their addresses', async () => {
    const cli = start(['run', '--listen', '127.0.0.1:0=8080', wasmPath]);
    const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+) for guest port 8080/))[1]);
    const { a, b, bytes } = await twoClients(port);
    cli.child.kill('SIGINT'); // blocked calls fail with ENETDOWN: the server prints its summary
    expect(await cli.exited).toBe(130); // a stop by Ctrl-C, whatever the guest's exit code (0 here)
    expect(cli.stderr()).toContain('replicode: stopped by SIGINT, exit code 130 (the guest exited with code 0)');
    expect(cli.stdout().split('\n')).toEqual([
      listening(8080),
      `conn 1 from 127.0.0.1:${a.localPort} to 10.77.0.1:8080`,
      `conn 2 from 127.0.0.1:${b.localPort} to 10.77.0.1:8080`,
      `served 2 connections, echoed ${bytes} bytes`,
      '',
    ]);
    expect(cli.stderr()).not.toMatch(/internal error|rust_echo_server:/);
  }, 30_000);

  it('records a session (port from argv, exit after two connections) that replays to the same output', async () => {
    const trace = join(tempDir(), 'rust.rct');
    const cli = start(['record', '-o', trace, '--listen', '127.0.0.1:0=9090', wasmPath, '--', '9090', '2']);
    const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+) for guest port 9090/))[1]);
    const { a, b, bytes } = await twoClients(port);
    expect(await cli.exited).toBe(0);
    expect(cli.stderr()).toMatch(/recorded \d+ events/);
    expect(cli.stdout().split('\n')).toEqual([
      listening(9090),
      `conn 1 from 127.0.0.1:${a.localPort} to 10.77.0.1:9090`,
      `conn 2 from 127.0.0.1:${b.localPort} to 10.77.0.1:9090`,
      `served 2 connections, echoed ${bytes} bytes`,
      '',
    ]);
    const replay = runCli(['replay', trace]);
    expect(replay.stderr).toMatch(/replay matches the recording: \d+ events, \d+ checkpoints verified, guest exit code 0/);
    expect(replay.exitCode).toBe(0);
    expect(replay.stdout).toBe(cli.stdout());
  }, 30_000);
});

/** Resolves with `pattern`'s match once the guest's stdout shows it; rejects if the CLI exits first. */
function waitForStdout(cli: RunningCli, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const look = () => {
      const m = pattern.exec(cli.stdout());
      if (m) { cli.child.stdout!.off('data', look); resolve(m); }
    };
    cli.child.stdout!.on('data', look);
    look();
    void cli.exited.then(() => reject(new Error(`exited before printing ${pattern}: ${cli.stderr()}`)));
  });
}

/** What a node dgram client saw: each reply and the address it came from. */
interface UdpExchange { clientPort: number; replies: { text: string; port: number }[] }

/**
 * Sends `messages` from one node UDP socket, one at a time, each once its predecessor's reply is
 * in; the socket stays open (and keeps counting replies) until `until` settles, so a duplicate
 * reply would show.
 */
async function udpExchange(port: number, messages: string[], until: Promise<unknown>): Promise<UdpExchange> {
  const socket = createSocket('udp4');
  const replies: { text: string; port: number }[] = [];
  socket.on('message', (m, from) => replies.push({ text: m.toString(), port: from.port }));
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const clientPort = socket.address().port;
  try {
    for (const [i, m] of messages.entries()) {
      socket.send(m, port, '127.0.0.1');
      const deadline = Date.now() + echoTimeoutMs;
      while (replies.length <= i && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      if (replies.length <= i) throw new Error(`no reply to datagram ${i + 1} (${JSON.stringify(m)}) within ${echoTimeoutMs} ms`);
    }
    await until;
    await new Promise((r) => setTimeout(r, 100)); // a reply sent just before the exit is still on its way
  } finally {
    socket.close();
  }
  return { clientPort, replies };
}

const udpMessages = ['one', 'two words', 'three: a longer datagram'];
const udpArgs = ['--host', 'backend=10.77.0.9', '--env', 'LOOKUP=backend', '--listen', 'udp:127.0.0.1:0=9000', udpWasmPath, '--', '9000', '3'];

/**
 * Starts `replicode COMMAND ... rust_udp_echo 9000 3`, waits until the guest is bound (a datagram
 * to an unbound port is lost, as UDP's are), exchanges three datagrams, and waits for the exit.
 */
async function udpSession(command: string[]): Promise<UdpExchange & { cli: RunningCli; port: number; exitCode: number | null }> {
  const cli = start([...command, ...udpArgs]);
  const port = Number((await cli.waitFor(/listening on udp:127\.0\.0\.1:(\d+) for guest UDP port 9000/))[1]);
  await waitForStdout(cli, /^rust udp echo on 0\.0\.0\.0:9000$/m);
  const exchange = await udpExchange(port, udpMessages, cli.exited);
  return { ...exchange, cli, port, exitCode: await cli.exited };
}

/** The guest's whole stdout for a session with the client at 127.0.0.1:clientPort. */
const udpStdout = (clientPort: number) => [
  'lookup backend: 10.77.0.9:80', // the crate asks for service "http": 80, big-endian in sa_data
  'rust udp echo on 0.0.0.0:9000',
  ...udpMessages.map((m, i) => `datagram ${i + 1}: ${m.length} bytes from 127.0.0.1:${clientPort}`),
  '',
].join('\n');

describe('a Rust guest using the wasmedge_wasi_socket UDP and name-lookup calling conventions', () => {
  it('resolves a --host name through sock_getaddrinfo, and echoes three datagrams from a node client to its real port', async () => {
    const { cli, port, clientPort, replies, exitCode } = await udpSession(['run']);
    expect(exitCode, cli.stderr()).toBe(0);
    // Exactly one reply per datagram, each from the gateway's port: the guest's sock_send_to reached the sender.
    expect(replies).toEqual(udpMessages.map((m) => ({ text: `echo ${m}`, port })));
    expect(cli.stdout()).toBe(udpStdout(clientPort));
    expect(cli.stderr()).not.toMatch(/internal error|rust_udp_echo:/);
  }, 30_000);

  it('records the same session, and the trace replays to the same output without a network', async () => {
    const trace = join(tempDir(), 'rust-udp.rct');
    const { cli, port, clientPort, replies, exitCode } = await udpSession(['record', '-o', trace]);
    expect(exitCode, cli.stderr()).toBe(0);
    expect(cli.stderr()).toMatch(/recorded \d+ events/);
    expect(replies).toEqual(udpMessages.map((m) => ({ text: `echo ${m}`, port })));
    expect(cli.stdout()).toBe(udpStdout(clientPort));
    const replay = runCli(['replay', trace]);
    expect(replay.stderr).toMatch(/replay matches the recording: \d+ events, \d+ checkpoints verified, guest exit code 0/);
    expect(replay.exitCode).toBe(0);
    expect(replay.stdout).toBe(cli.stdout());
  }, 30_000);

  it('a name not in the table: the lookup fails with WasmEdge\'s EAI_NONAME (84) and the program exits 1; localhost resolves by default', () => {
    const unknown = runCli(['run', '--host', 'backend=10.77.0.9', '--env', 'LOOKUP=nowhere', udpWasmPath, '--', '9000', '0']);
    expect(unknown.stdout).toBe('lookup nowhere: error 84\n');
    expect(unknown.exitCode).toBe(1);
    const localhost = runCli(['run', udpWasmPath, '--', '9001', '0']); // COUNT 0: bind, then exit
    expect(localhost.stdout).toBe('lookup localhost: 127.0.0.1:80\nrust udp echo on 0.0.0.0:9001\n');
    expect(localhost.exitCode, localhost.stderr).toBe(0);
  });
});
