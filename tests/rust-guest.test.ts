// A Rust guest written against WasmEdge's socket extension the way the wasmedge_wasi_socket crate
// calls it (wasm_programs/rust/echo_server.rs): its imports have the crate's signatures, it
// serves real clients through `replicode run --listen`, and a recorded session replays the same.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { programsDir, runCli, startCli, tempDir, type RunningCli } from './helpers.js';

const wasmPath = join(programsDir, 'build', 'rust_echo_server.wasm');
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
    const signatures = importSignatures(readFileSync(wasmPath));
    for (const [name, arity] of Object.entries(crateImports)) {
      expect(signatures.get(`wasi_snapshot_preview1.${name}`), name).toBe(i32s(arity));
    }
    // The crate's fcntl (O_NONBLOCK) goes through wasi-libc to the standard fdstat calls.
    expect(signatures.get('wasi_snapshot_preview1.fd_fdstat_set_flags')).toBe(i32s(2));
    expect([...signatures.keys()].every((name) => name.startsWith('wasi_snapshot_preview1.'))).toBe(true);
  });

  it('serves two concurrent node clients through run --listen and prints their addresses', async () => {
    const cli = start(['run', '--listen', '127.0.0.1:0=8080', wasmPath]);
    const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+) for guest port 8080/))[1]);
    const { a, b, bytes } = await twoClients(port);
    cli.child.kill('SIGINT'); // blocked calls fail with ENETDOWN: the server prints its summary
    expect(await cli.exited).toBe(0);
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
    expect(replay.stderr).toMatch(/replay matches the recording: \d+ events, \d+ checkpoints verified, exit code 0/);
    expect(replay.exitCode).toBe(0);
    expect(replay.stdout).toBe(cli.stdout());
  }, 30_000);
});
