// wasi:sockets for components, through the CLI: p2_echo_server (C calling wasi:sockets@0.2.12
// directly, no preview1 adapter) answers nc and Node clients under `run --listen`, its recording
// replays, `cluster --replicas 3` serves it with replica traces that replay, and what the
// virtual network lacks (IPv6) is the not-supported error-code, not a crash.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { programsDir, runCli, servers, startCli, tempDir } from './helpers.js';

const server = join(programsDir, 'build', 'p2_echo_server.component.wasm');
const client = join(programsDir, 'build', 'p2_client.component.wasm');
/** p2_echo_server (pid 1) and p2_client (pid 2) on one machine: the client connects to `server`. */
const twoProcesses = ['--host', 'server=10.77.0.1', server, '--process', `${client} server 7 hello-over-tcp`, '--', '7', '1'];
const clientLines = [
  'connected to 10.77.0.1:7', 'reply: hello-over-tcp', 'port 8: error-code 14', // 14: connection-refused
  'udp: check-send 64, sent 1', 'port 9 got "ping" from 10.77.0.2:32768', 'client got "pong" from 10.77.0.2:9',
  'udp: 70 datagrams sent as 64 + 6, received 64 by one receive', // the bound: 64 datagrams per call
];
const env = { REPLICODE_CACHE_DIR: tempDir('replicode-components-net-cache-') };
const hasNc = spawnSync('nc', ['-h']).status !== null;
const hasEtcd = spawnSync('etcd', ['--version']).status === 0;
const children: ChildProcess[] = [];
afterAll(() => { for (const c of children) c.kill('SIGKILL'); });

const serve = servers(env);

/** Writes `text`, half-closes, and resolves with everything read back until the server closes. */
function nodeClient(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(text));
    let got = '';
    socket.on('data', (d) => { got += d; });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
}

/** The guest's own lines: its lookup, the IPv6 refusal, then one line per connection and a total. */
function expectServed(stdout: string, connections: number, bytes: number): void {
  expect(stdout).toContain('localhost is 127.0.0.1\n');
  expect(stdout).toContain('echo: create-tcp-socket(ipv6) failed: error-code 2\n'); // 2: not-supported
  expect(stdout).toContain('echo server listening on port 7\n');
  expect(stdout.match(/^connection \d+ from 127\.0\.0\.1:\d+$/gm)).toHaveLength(connections);
  expect(stdout).toContain(`served ${connections} connections, echoed ${bytes} bytes\n`);
}

describe('a wasi:sockets component under run --listen', () => {
  it('echoes three Node clients at once, then exits after its third connection', async () => {
    const { cli, port } = await serve(['run', '--listen', '127.0.0.1:0=7', server, '--', '7', '3']);
    const texts = ['one\n', 'two two\n', 'x'.repeat(100_000)];
    const replies = await Promise.all(texts.map((t) => nodeClient(port, t)));
    expect(replies).toEqual(texts);
    expect(await cli.exited).toBe(0);
    expectServed(cli.stdout(), 3, texts.join('').length);
  });

  it('echoes 20 MiB to one client (five times its 4 MiB send buffer)', async () => {
    const { cli, port } = await serve(['run', '--listen', '127.0.0.1:0=7', server, '--', '7', '1']);
    const total = 20 * 1024 * 1024;
    const got = await new Promise<number>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        const chunk = Buffer.alloc(64 * 1024, 'y');
        let sent = 0;
        const pump = (): void => {
          while (sent < total) {
            sent += chunk.length;
            if (!socket.write(chunk)) return void socket.once('drain', pump);
          }
          socket.end();
        };
        pump();
      });
      let received = 0;
      socket.on('data', (d) => { received += d.length; });
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
    });
    expect(got).toBe(total);
    expect(await cli.exited).toBe(0);
    expectServed(cli.stdout(), 1, total);
  }, 60_000);

  it.skipIf(!hasNc)('answers nc', async () => {
    const { cli, port } = await serve(['run', '--listen', '127.0.0.1:0=7', server, '--', '7', '1']);
    const nc = spawnSync('nc', ['-N', '127.0.0.1', String(port)], { input: 'hello from nc\n', encoding: 'utf8', timeout: 20_000 });
    expect(nc.stdout).toBe('hello from nc\n');
    expect(await cli.exited).toBe(0);
    expectServed(cli.stdout(), 1, 14);
  });

  it('serves every function of wasi:sockets@0.2.12 (a dummy component that imports them all)', () => {
    const r = runCli(['run', join(programsDir, 'build', 'p2_sockets_dummy.component.wasm')], '', undefined, env);
    // Its core module only traps (and exports no memory); what it imports is checked first, and
    // nothing is refused (wasi:io/streams' splice, imported with the streams sockets use, too).
    expect(r.stderr).not.toMatch(/does not provide/);
    expect(r.stderr).toMatch(/does not export its memory|unreachable/);
  });

  it('resolves names from --host and answers an unknown one with name-unresolvable', () => {
    const known = runCli(['run', '--host', 'db=10.77.0.9', server, '--', '7', '0', 'db'], '', undefined, env);
    expect(known.stdout).toContain('db is 10.77.0.9\n');
    const unknown = runCli(['run', server, '--', '7', '0', 'nowhere.example'], '', undefined, env);
    expect(unknown.stdout).toContain('nowhere.example does not resolve: error-code 18\n'); // 18: name-unresolvable
    expect(unknown.exitCode).toBe(0);
  });
});

describe('a wasi:sockets client component', () => {
  it('connects (start-connect, finish-connect), is refused on a closed port, does a UDP round trip, and sends and receives at most 64 datagrams a call', () => {
    const r = runCli(['run', ...twoProcesses], '', undefined, env);
    expect(r.exitCode, r.stderr).toBe(0);
    // Each process's lines in its own order; how the two interleave on the terminal may vary.
    const lines = r.stdout.split('\n');
    expect(lines.filter((l) => clientLines.includes(l))).toEqual(clientLines);
    const serverLines = ['echo server listening on port 7', 'connection 1 from 10.77.0.2:32768', 'served 1 connections, echoed 14 bytes'];
    expect(lines.filter((l) => serverLines.includes(l))).toEqual(serverLines);
  });

  it('both processes\' traces replay as matching', () => {
    const dir = tempDir();
    const recorded = runCli(['record', '-o', join(dir, 'm.rct'), ...twoProcesses], '', undefined, env);
    expect(recorded.exitCode, recorded.stderr).toBe(0);
    for (const trace of ['m.rct', 'm.p2.rct']) {
      const replayed = runCli(['replay', join(dir, trace)], '', undefined, env);
      expect(replayed.stderr, trace).toContain('replay matches the recording');
    }
    const inspected = runCli(['inspect', join(dir, 'm.p2.rct')], '', undefined, env);
    expect(inspected.stdout).toMatch(/sock_connect 3.*sock_getsockopt 2/);
    expect(inspected.stdout).toMatch(/sock_send_to 1\b/);
  });
});

describe('a wasi:sockets component\'s traces', () => {
  it('record: the session replays as matching, with the same output', async () => {
    const trace = join(tempDir(), 'p2-echo.rct');
    const { cli, port } = await serve(['record', '-o', trace, '--listen', '127.0.0.1:0=7', server, '--', '7', '2']);
    expect(await nodeClient(port, 'first\n')).toBe('first\n');
    expect(await nodeClient(port, 'second\n')).toBe('second\n');
    expect(await cli.exited).toBe(0);
    expectServed(cli.stdout(), 2, 13);
    const replayed = runCli(['replay', trace], '', undefined, env);
    expect(replayed.stderr).toContain('replay matches the recording');
    expect(replayed.exitCode).toBe(0);
    expect(replayed.stdout).toBe(cli.stdout());
    const inspected = runCli(['inspect', trace], '', undefined, env);
    // Traced as the preview1 socket calls a module makes: the format is unchanged.
    expect(inspected.stdout).toMatch(/events: +\d+ \(.*sock_accept 2.*\)/);
    expect(inspected.stdout).toMatch(/sock_getaddrinfo 1/);
  });

  it('Ctrl-C while the component waits in poll: exit 130, the guest ends with 1 (as a module given ENETDOWN), and the trace replays', async () => {
    const trace = join(tempDir(), 'p2-stopped.rct');
    const { cli, port } = await serve(['record', '-o', trace, '--listen', '127.0.0.1:0=7', server]);
    expect(await nodeClient(port, 'one\n')).toBe('one\n');
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(130);
    expect(cli.stderr()).toContain('stopped by SIGINT, exit code 130 (the guest exited with code 1)');
    const replayed = runCli(['replay', trace], '', undefined, env);
    expect(replayed.stderr).toContain('replay matches the recording');
    expect(replayed.stderr).toContain('guest exit code 1');
  });

  it('cluster --replicas 3: answers, agrees, and every replica\'s trace replays', async () => {
    const dir = tempDir();
    const { cli, port } = await serve(['cluster', '--replicas', '3', '--record-dir', dir, '--listen', '127.0.0.1:0=7', server, '--', '7', '3']);
    const texts = ['a\n', 'bb\n', 'ccc\n'];
    expect(await Promise.all(texts.map((t) => nodeClient(port, t)))).toEqual(texts);
    expect(await cli.exited).toBe(0);
    expect(cli.stderr()).toMatch(/batches applied by every replica; 0 disagreement\(s\)/);
    expectServed(cli.stdout(), 3, 9);
    for (const r of [1, 2, 3]) {
      const replayed = runCli(['replay', join(dir, `replica-${r}.rct`)], '', undefined, env);
      expect(replayed.stderr, `replica ${r}`).toContain('replay matches the recording');
      expect(replayed.stdout).toBe(cli.stdout());
    }
  });

  it('cluster --snapshot-every refuses a component in one line (exit 1)', () => {
    const refused = runCli(['cluster', '--replicas', '3', '--snapshot-every', '2', '--listen', '127.0.0.1:0=7', server], '', undefined, env);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr.trim()).toBe(`replicode: --snapshot-every: ${server} is a WASI 0.2 component, and snapshots do not support components yet`);
  });
});

describe.skipIf(!hasEtcd)('replicode node on a wasi:sockets component', () => {
  /** One etcd member on private loopback ports (apart from tests/etcd.test.ts's range); its client URL once it answers. */
  async function startEtcd(): Promise<string> {
    const base = 26000 + (process.pid % 400) * 4;
    const client = `http://127.0.0.1:${base}`;
    const peer = `http://127.0.0.1:${base + 1}`;
    children.push(spawn('etcd', ['--name', 'p2', '--data-dir', tempDir('etcd-'), '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `p2=${peer}`], { stdio: 'ignore' }));
    for (let attempt = 0; attempt < 100; attempt++) {
      const healthy = await fetch(`${client}/health`).then((r) => r.ok, () => false);
      if (healthy) return client;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('etcd did not start');
  }

  it('two nodes agree through etcd; a client of node 2 is echoed and both guests end the same way', async () => {
    const endpoints = await startEtcd();
    const node = (id: number) => {
      const cli = startCli(['node', '--endpoints', endpoints, '--cluster-name', 'p2net', '--id', String(id), '--replicas', '2',
        '--listen', '127.0.0.1:0=7', server, '--', '7', '1'], env);
      children.push(cli.child);
      return cli;
    };
    const [one, two] = [node(1), node(2)];
    const port = Number((await two.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    expect(await nodeClient(port, 'over etcd\n')).toBe('over etcd\n');
    expect(await one.exited).toBe(0);
    expect(await two.exited).toBe(0);
    for (const n of [one, two]) {
      expectServed(n.stdout(), 1, 10);
      expect(n.stderr()).toMatch(/0 disagreement\(s\)/);
    }
  }, 60_000);
});
