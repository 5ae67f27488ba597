// `replicode serve`: a wasi:http/incoming-handler component (wasm_programs/js/http_counter.js,
// built with componentize-js) answering curl and Node's http client over HTTP/1.1; the HTTP
// parsing behind it (runtime/p2/http-wire.ts); a served session recorded and replayed, and
// served by a 3-replica cluster.
import { execFile } from 'node:child_process';
import { request, Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxHeadBytes, maxRequestBodyBytes, parseRequest, serializeResponse } from '../dist/runtime/index.js';
import { httpHost, maxFieldsBytes } from '../dist/runtime/p2/index.js';
import { programsDir, runCli, startCli, tempDir, type RunningCli } from './helpers.js';

const env = { REPLICODE_CACHE_DIR: tempDir('replicode-serve-cache-') };
const handler = join(programsDir, 'build', 'js_http_counter.component.wasm');
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
/** A 14 MB component on a shared 2-core machine: transpiling and compiling it can take a while. */
const startupMs = 240_000;

describe('HTTP/1.1 requests parsed from the bytes a connection delivered', () => {
  it('a GET: method, target, lower-cased headers in order, keep-alive, what it consumed', () => {
    const wire = 'GET /counter?x=1 HTTP/1.1\r\nHost: example\r\nX-Two:  a b \t\r\n\r\nNEXT';
    const parsed = parseRequest(bytes(wire));
    if (parsed.kind !== 'request') throw new Error(JSON.stringify(parsed));
    expect(parsed.request.method).toBe('GET');
    expect(parsed.request.target).toBe('/counter?x=1');
    expect(parsed.request.headers.map(([n, v]) => [n, text(v)])).toEqual([['host', 'example'], ['x-two', 'a b']]);
    expect(parsed.request.keepAlive).toBe(true);
    expect(parsed.consumed).toBe(wire.length - 'NEXT'.length);
  });

  it('is incomplete until the head and the whole body arrived', () => {
    const wire = 'POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello';
    for (let cut = 0; cut < wire.length; cut++) expect(parseRequest(bytes(wire.slice(0, cut))).kind).toBe('incomplete');
    const parsed = parseRequest(bytes(wire));
    expect(parsed.kind === 'request' && text(parsed.request.body)).toBe('hello');
  });

  it('a chunked body, with a chunk extension and a trailer', () => {
    const wire = 'POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n';
    const parsed = parseRequest(bytes(wire));
    if (parsed.kind !== 'request') throw new Error(JSON.stringify(parsed));
    expect(text(parsed.request.body)).toBe('hello world');
    expect(parsed.consumed).toBe(wire.length);
    for (let cut = 0; cut < wire.length; cut++) expect(parseRequest(bytes(wire.slice(0, cut))).kind).toBe('incomplete');
  });

  it('a head that expects 100-continue says so while its body is missing (HTTP/1.1 only)', () => {
    const head = 'POST /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n\r\n';
    expect(parseRequest(bytes(head))).toEqual({ kind: 'incomplete', expectsContinue: true });
    expect(parseRequest(bytes(`${head}hel`))).toEqual({ kind: 'incomplete', expectsContinue: true });
    expect(parseRequest(bytes(`${head}hello`)).kind).toBe('request');
    expect(parseRequest(bytes(head.replace('1.1', '1.0')))).toEqual({ kind: 'incomplete' });
    expect(parseRequest(bytes(head.slice(0, -2)))).toEqual({ kind: 'incomplete' });
  });

  it('Connection: close ends HTTP/1.1; HTTP/1.0 closes unless it asks to keep alive', () => {
    const keep = (wire: string) => { const p = parseRequest(bytes(wire)); return p.kind === 'request' && p.request.keepAlive; };
    expect(keep('GET / HTTP/1.1\r\nConnection: close\r\n\r\n')).toBe(false);
    expect(keep('GET / HTTP/1.0\r\n\r\n')).toBe(false);
    expect(keep('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n')).toBe(true);
  });

  it.each([
    ['a request line without a version', 400, 'GET /\r\n\r\n'],
    ['HTTP/2.0', 505, 'GET / HTTP/2.0\r\n\r\n'],
    ['a folded header line', 400, 'GET / HTTP/1.1\r\n bad: fold\r\n\r\n'],
    ['two different Content-Lengths', 400, 'POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n'],
    ['a negative Content-Length', 400, 'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n'],
    ['a body past maxRequestBodyBytes', 413, `POST / HTTP/1.1\r\nContent-Length: ${maxRequestBodyBytes + 1}\r\n\r\n`],
    ['a transfer-encoding other than chunked', 501, 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n'],
    ['a chunk size that is not hex', 400, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['101 header lines', 431, `GET / HTTP/1.1\r\n${'a: b\r\n'.repeat(101)}\r\n`],
    ['a head past maxHeadBytes', 431, `GET /${'a'.repeat(maxHeadBytes)}`],
    ['a NUL in a header value', 400, 'GET / HTTP/1.1\r\nX: a\0b\r\n\r\n'],
    ['a bare LF in a header value (a second header to some parsers)', 400, 'GET / HTTP/1.1\r\nX: a\nContent-Length: 5\r\n\r\n'],
    ['a bare CR in a header value', 400, 'GET / HTTP/1.1\r\nX: a\rb\r\n\r\n'],
    ['both Content-Length and Transfer-Encoding (a smuggling vector)', 400, 'POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ])('refuses %s with %i', (_what, status, wire) => {
    const parsed = parseRequest(bytes(wire));
    expect(parsed.kind === 'bad' && parsed.status).toBe(status);
  });

  it('the serve loop of revision 1 (traces recorded before) parses those as it did, so they replay alike', () => {
    const parsed = parseRequest(bytes('POST / HTTP/1.1\r\nX: a\0b\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), 1);
    expect(parsed.kind === 'request' && parsed.request.body.length).toBe(0);
  });

  it('any request written with a Content-Length parses back, and each of its prefixes is incomplete', () => {
    const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
    fc.assert(fc.property(
      fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'PROPFIND'),
      fc.stringMatching(/^\/[a-z0-9/?=&]{0,20}$/),
      fc.array(fc.tuple(token.filter((t) => t !== 'content-length' && t !== 'transfer-encoding' && t !== 'connection'), fc.stringMatching(/^[!-~]([ -~]{0,10}[!-~])?$/)), { maxLength: 5 }),
      fc.uint8Array({ maxLength: 64 }),
      (method, target, headers, body) => {
        const head = `${method} ${target} HTTP/1.1\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}content-length: ${body.length}\r\n\r\n`;
        const wire = new Uint8Array([...bytes(head), ...body]);
        const parsed = parseRequest(wire);
        if (parsed.kind !== 'request') return false;
        expect(parsed.request.headers.slice(0, -1).map(([n, v]) => [n, text(v)])).toEqual(headers);
        expect(parsed.request.body).toEqual(body);
        expect(parsed.consumed).toBe(wire.length);
        return [0, 1, head.length - 1, wire.length - 1].filter((cut) => cut >= 0 && cut < wire.length).every((cut) => parseRequest(wire.subarray(0, cut)).kind === 'incomplete');
      },
    ), { numRuns: 200 });
  });
});

describe('responses as bytes', () => {
  it('the handler\'s headers in order, its framing headers replaced by RepliCode\'s', () => {
    const out = serializeResponse(201, [['content-type', bytes('text/plain')], ['Content-Length', bytes('999')], ['x-a', bytes('1')]], bytes('hi'), { keepAlive: false, head: false });
    expect(text(out)).toBe('HTTP/1.1 201 Created\r\ncontent-type: text/plain\r\nx-a: 1\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi');
  });

  it('a HEAD request\'s response says the length and leaves the body out', () => {
    const out = serializeResponse(200, [], bytes('hello'), { keepAlive: true, head: true });
    expect(text(out)).toBe('HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\n');
  });
});

describe('wasi:http/types as a handler sees them', () => {
  // Nothing here reaches the kernel: fields, requests and responses are memory only.
  const { types } = httpHost(undefined as never) as unknown as { types: Record<string, any> };
  const { Fields, IncomingRequest, OutgoingResponse, OutgoingBody, ResponseOutparam } = types;
  /** 'ok', or the tag of the error the call threw for jco ('err' for a result with no error value). */
  const payload = (fn: () => unknown) => { try { fn(); return 'ok'; } catch (err) { return (err as { payload?: { tag: string } }).payload?.tag ?? 'err'; } };

  it('fields: names lower-cased, values in order; hop-by-hop names forbidden, bad syntax refused', () => {
    const f = Fields.fromList([['X-A', bytes('1')], ['x-a', bytes('2')], ['b', bytes('3')]]);
    expect(f.get('x-A').map(text)).toEqual(['1', '2']);
    expect(f.entries().map(([n, v]: [string, Uint8Array]) => `${n}=${text(v)}`)).toEqual(['x-a=1', 'x-a=2', 'b=3']);
    f.set('x-a', [bytes('9')]);
    expect(f.get('x-a').map(text)).toEqual(['9']);
    expect(payload(() => f.append('Connection', bytes('close')))).toBe('forbidden');
    expect(payload(() => f.append('bad name', bytes('v')))).toBe('invalid-syntax');
    expect(payload(() => f.append('x', bytes('a\r\nb: c')))).toBe('invalid-syntax');
    expect(payload(() => Fields.fromList([['transfer-encoding', bytes('chunked')]]))).toBe('forbidden');
  });

  it('fields hold at most maxFieldsBytes: past it the call traps (header-error has no case for it)', () => {
    const f = new Fields();
    const value = new Uint8Array(64 * 1024).fill(97);
    for (let i = 0; i < Math.floor(maxFieldsBytes / (value.length + 4)); i++) f.append(`h${i}`, value);
    expect(() => f.append('last', value)).toThrow(`fields of more than ${maxFieldsBytes} bytes`);
    expect(() => f.append('last', value)).toThrow(WebAssembly.RuntimeError);
  });

  it('a request\'s headers are immutable; its body is consumed once and streams its bytes, then closed', () => {
    const request = new IncomingRequest({ method: 'PROPFIND', target: 'http://h:1/p?q', version: '1.1', headers: [['host', bytes('h:1')]], body: bytes('abcdef'), keepAlive: true });
    expect(request.method()).toEqual({ tag: 'other', val: 'PROPFIND' });
    expect(request.pathWithQuery()).toBe('/p?q');
    expect(request.authority()).toBe('h:1');
    expect(payload(() => request.headers().append('x', bytes('1')))).toBe('immutable');
    const stream = request.consume().stream();
    expect(payload(() => request.consume())).toBe('err');
    expect(text(stream.read(4n))).toBe('abcd');
    expect(text(stream.blockingRead(100n))).toBe('ef');
    expect(payload(() => stream.read(1n))).toBe('closed');
  });

  it('a response: status, headers, and the body written after response-outparam.set', () => {
    const response = new OutgoingResponse(Fields.fromList([['content-type', bytes('text/plain')]]));
    response.setStatusCode(201);
    expect(payload(() => response.setStatusCode(1000))).toBe('err');
    const body = response.body();
    const out = new ResponseOutparam();
    ResponseOutparam.set(out, { tag: 'ok', val: response });
    const stream = body.write();
    stream.blockingWriteAndFlush(bytes('hello '));
    stream.write(bytes('world'));
    OutgoingBody.finish(body, undefined);
    expect(payload(() => stream.write(bytes('!')))).toBe('closed');
    const sent = out.outcome.response.toResponse();
    expect([sent.status, text(sent.body), sent.headers.map(([n]: [string]) => n)]).toEqual([201, 'hello world', ['content-type']]);
  });
});

/** The body of a response to a Node http request. */
function nodeRequest(port: number, options: { method?: string; path: string; agent?: Agent; chunks?: string[]; headers?: Record<string, string> }): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, agent: options.agent, headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    for (const chunk of options.chunks ?? []) req.write(chunk);
    req.end();
  });
}

/**
 * Writes `text` on a new connection and resolves with everything that came back once the server
 * closed it; `onData` may answer as the bytes arrive (with all received so far).
 */
function rawExchange(port: number, text: string, onData?: (got: string, socket: Socket) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let got = '';
    socket.on('data', (d) => { got += d; onData?.(got, socket); });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
}

const curl = async (...args: string[]) => (await promisify(execFile)('curl', ['-s', '--max-time', '60', ...args])).stdout;
const counterOf = (body: string) => (JSON.parse(body) as { counter: number }).counter;

describe('replicode serve with a componentize-js handler', () => {
  let cli: RunningCli;
  let port: number;
  beforeAll(async () => {
    cli = startCli(['serve', '--listen', '127.0.0.1:0', handler], env);
    port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+) for guest port 80/))[1]);
  }, startupMs);
  afterAll(async () => {
    if (cli.child.exitCode === null) cli.child.kill('SIGINT');
    await cli.exited;
  });

  it('answers curl: a page, a counter that counts on one instance, an echo, HEAD and 404', async () => {
    expect(await curl(`http://127.0.0.1:${port}/`)).toBe('hello from a JavaScript HTTP handler\n');
    // Two URLs on one curl: one keep-alive connection.
    const [a, b] = (await curl(`http://127.0.0.1:${port}/counter`, `http://127.0.0.1:${port}/counter`)).trim().split('\n');
    expect(counterOf(b!)).toBe(counterOf(a!) + 1);
    expect(JSON.parse(a!).time).toMatch(/^2020-01-01T00:/); // the virtual clock, from the default epoch
    const binary = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff));
    const dir = tempDir();
    const { writeFileSync, readFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'body.bin'), binary);
    await curl('-o', join(dir, 'echo.bin'), '-H', 'content-type: application/x-test', '--data-binary', `@${join(dir, 'body.bin')}`, `http://127.0.0.1:${port}/echo`);
    expect(readFileSync(join(dir, 'echo.bin')).equals(binary)).toBe(true);
    // The handler answers HEAD / as it answers any other route it does not know, without a body.
    const head = await curl('-I', `http://127.0.0.1:${port}/`);
    expect(head).toBe('HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\nx-served-by: js_http_counter\r\ncontent-length: 18\r\nconnection: keep-alive\r\n\r\n');
    const missing = await curl('-i', `http://127.0.0.1:${port}/nowhere`);
    expect(missing).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect(missing).toContain('not found: GET /nowhere');
  });

  it('answers Node\'s http client: 20 requests at once over keep-alive, each counted once; a chunked body echoed', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const replies = await Promise.all(Array.from({ length: 20 }, () => nodeRequest(port, { path: '/counter', agent })));
    agent.destroy();
    const counters = replies.map((r) => counterOf(r.body)).sort((x, y) => x - y);
    expect(new Set(counters).size).toBe(20);
    expect(counters[19]! - counters[0]!).toBe(19);
    const echoed = await nodeRequest(port, { method: 'POST', path: '/echo', chunks: ['first ', 'second ', 'third'], headers: { 'content-type': 'text/x-chunks' } });
    expect(echoed).toMatchObject({ status: 200, body: 'first second third', headers: { 'content-type': 'text/x-chunks' } });
  });

  it('answers a malformed request with 400 and closes the connection; the server goes on', async () => {
    const reply = await rawExchange(port, 'NOT HTTP\r\n\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[^]*connection: close\r\n\r\nmalformed request line\n$/);
    expect(await curl(`http://127.0.0.1:${port}/`)).toBe('hello from a JavaScript HTTP handler\n');
  });

  it('answers 500 when the handler sets no response or sets an error; the server goes on', async () => {
    const unset = await curl('-i', `http://127.0.0.1:${port}/unset`);
    expect(unset).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n[^]*\r\n\r\nthe handler did not set a response\n$/);
    const error = await curl('-i', `http://127.0.0.1:${port}/error`);
    expect(error).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n[^]*\r\n\r\nthe handler answered with error internal-error\n$/);
    expect(await curl(`http://127.0.0.1:${port}/`)).toBe('hello from a JavaScript HTTP handler\n');
  });

  it('answers two pipelined requests on one connection, in order, and closes after Connection: close', async () => {
    const reply = await rawExchange(port, 'GET /counter HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    const statuses = [...reply.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((m) => m[1]);
    expect(statuses).toEqual(['200', '404']);
    expect(reply).toMatch(/"counter":\d+[^]*not found: GET \/nope\n$/);
    expect(reply).toContain('connection: close\r\n');
  });

  it('stops on SIGINT with exit code 130', async () => {
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(130);
    expect(cli.stderr()).not.toMatch(/internal error/);
  });
});

describe('a served session', () => {
  it('records with serve -o, and replays with the same output and checkpoints', async () => {
    const trace = join(tempDir(), 'serve.rct');
    const cli = startCli(['serve', '--listen', '127.0.0.1:0', '-o', trace, handler], env);
    const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    const agent = new Agent({ keepAlive: true, maxSockets: 3 });
    const replies = await Promise.all(Array.from({ length: 9 }, (_, i) => nodeRequest(port, i % 3 === 2
      ? { method: 'POST', path: '/echo', agent, chunks: [`body ${i}`] }
      : { path: '/counter', agent })));
    agent.destroy();
    expect(replies.filter((r) => r.body.startsWith('body ')).map((r) => r.body).sort()).toEqual(['body 2', 'body 5', 'body 8']);
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(130);
    expect(cli.stderr()).toMatch(/recorded \d+ events, \d+ checkpoints/);
    const replay = runCli(['replay', '--module', handler, trace], '', undefined, env);
    expect(replay.exitCode, replay.stderr).toBe(0);
    expect(replay.stderr).toMatch(/replay matches the recording: \d+ events, \d+ checkpoints verified/);
    expect(replay.stdout).toBe(cli.stdout());
    const summary = JSON.parse(runCli(['inspect', '--json', trace], '', undefined, env).stdout);
    expect(summary.events).toBeGreaterThan(50);
    expect(summary.records.net.count).toBeGreaterThanOrEqual(1);
  }, startupMs + 120_000);

  it('is served by a 3-replica cluster whose replicas agree, and a replica\'s trace replays', async () => {
    const dir = tempDir();
    const cli = startCli(['cluster', '--replicas', '3', '--record-dir', dir, '--listen', '127.0.0.1:0=80', handler], env);
    const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    const counters = [];
    for (let i = 0; i < 3; i++) counters.push(counterOf(await curl(`http://127.0.0.1:${port}/counter`)));
    expect(counters).toEqual([1, 2, 3]);
    cli.child.kill('SIGINT');
    await cli.exited;
    expect(cli.stderr()).toMatch(/\d+ batches applied by every replica; 0 disagreement\(s\)/);
    const replay = runCli(['replay', '--module', handler, join(dir, 'replica-2.rct')], '', undefined, env);
    expect(replay.stderr).toMatch(/replay matches the recording: \d+ events/);
    // Served as serve serves it: the loop whose writes do not block, and the idle timeout.
    const header = JSON.parse(runCli(['inspect', '--json', join(dir, 'replica-2.rct')], '', undefined, env).stdout).header;
    expect(header).toMatchObject({ httpIdleTimeoutMs: 30_000, httpServeRevision: 2 });
  }, startupMs + 120_000);
});

/** Stops a recording `serve` with Ctrl-C, checks its trace replays, and returns the trace's header as inspect gives it. */
async function stopAndReplay(cli: RunningCli, trace: string): Promise<Record<string, unknown>> {
  cli.child.kill('SIGINT');
  expect(await cli.exited).toBe(130);
  const replay = runCli(['replay', '--module', handler, trace], '', undefined, env);
  expect(replay.stderr).toMatch(/replay matches the recording/);
  return JSON.parse(runCli(['inspect', '--json', trace], '', undefined, env).stdout).header;
}

describe('serve --idle-timeout', () => {
  it('closes a connection that stops sending halfway through its head, keeps the others, and the trace replays', async () => {
    const trace = join(tempDir(), 'idle.rct');
    const cli = startCli(['serve', '--listen', '127.0.0.1:0', '--idle-timeout', '2', '-o', trace, handler], env);
    const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    // Sends half a head, then nothing: the server closes it without an answer.
    const idle = rawExchange(port, 'GET /counter HTTP/1.1\r\nHost: a\r\n');
    // Meanwhile a client that keeps its requests coming, a little under every 2 s, is answered
    // on one connection for longer than the timeout (a gap of 2 s would lose it: that is the
    // timeout doing its work, so the gaps leave room for a loaded machine).
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set();
    agent.on('free', (socket) => sockets.add(socket));
    for (let i = 0; i < 8; i++) {
      expect((await nodeRequest(port, { path: '/', agent })).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
    agent.destroy();
    expect(sockets.size).toBe(1);
    expect(await idle).toBe('');
    expect((await stopAndReplay(cli, trace)).httpIdleTimeoutMs).toBe(2000);
  }, startupMs + 60_000);

  it('refuses a value that is not seconds', () => {
    const r = runCli(['serve', '--listen', '127.0.0.1:0', '--idle-timeout', 'soon', handler], '', undefined, env);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim()).toBe('replicode: --idle-timeout soon: expected seconds from 0 to 86400, e.g. 30 or 0.5');
  });
});

describe('serve and a client that does not read its responses', () => {
  let server: RunningCli | undefined;
  // A failed assertion must not leave the server running.
  afterAll(() => { if (server?.child.exitCode === null) server.child.kill('SIGKILL'); });

  it('serves the other clients meanwhile, sends the rest once it reads, closes it once idle; answers 100-continue; the trace replays', async () => {
    const trace = join(tempDir(), 'unread.rct');
    const cli = startCli(['serve', '--listen', '127.0.0.1:0', '--idle-timeout', '8', '-o', trace, handler], env);
    server = cli;
    const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    // 12 echoes of 1 MiB, pipelined, not read: far more than the 4 MiB send buffer holds.
    const body = Buffer.alloc(1024 * 1024, 'a');
    const echoes = Buffer.concat(Array.from({ length: 12 }, () => Buffer.concat([Buffer.from(`POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n`), body])));
    const hog = () => {
      const socket = connect(port, '127.0.0.1', () => { socket.pause(); socket.write(echoes); });
      let got = 0;
      const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(got)));
      socket.on('data', (d) => { got += d.length; });
      socket.on('error', () => {});
      return { socket, closed };
    };
    const reader = hog();
    await new Promise((r) => setTimeout(r, 1000));
    // Another client is answered while the hog's responses wait (before the fix: never).
    const reply = await Promise.race([nodeRequest(port, { path: '/counter' }), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('not answered in 20 s')), 20_000))]);
    expect(reply.status).toBe(200);
    // A client that waits for 100 Continue before its body gets it, then its answer.
    const continued = await rawExchange(port, 'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n', (got, socket) => {
      if (got === 'HTTP/1.1 100 Continue\r\n\r\n') socket.write('hello');
    });
    expect(continued).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nhello$/);
    // The first hog reads at last (well within the idle timeout): it gets all 12 echoes.
    reader.socket.resume();
    await expect.poll(() => reader.socket.bytesRead, { timeout: 30_000, interval: 200 }).toBeGreaterThanOrEqual(12 * body.length);
    reader.socket.end();
    // A second hog that never reads is closed after the idle timeout, holding back the rest.
    const idler = hog();
    await new Promise((r) => setTimeout(r, 12_000));
    idler.socket.resume();
    expect(await idler.closed).toBeLessThan(12 * body.length);
    expect((await stopAndReplay(cli, trace)).httpServeRevision).toBe(2);
  }, startupMs + 120_000);
});

describe('serve refuses, in one line', () => {
  it('without --listen', () => {
    const r = runCli(['serve', handler], '', undefined, env);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim()).toBe('replicode: serve needs --listen HOST:PORT (where HTTP clients connect)');
  });

  it('a preview1 module, or a command component, with exit 1 (each was run as a command after "listening", exit 0)', () => {
    for (const module of [join(programsDir, 'build', 'hello.wasm'), join(programsDir, 'wat', 'hello.wat')]) {
      const r = runCli(['serve', '--listen', '127.0.0.1:0', module], '', undefined, env);
      expect(r.exitCode).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim()).toBe(`replicode: ${module} is a WASI preview1 module: serve runs a WASI 0.2 component exporting wasi:http/incoming-handler (serve a preview1 server with replicode run --listen HOST:PORT=VPORT)`);
    }
    const trace = join(tempDir(), 'cmd.rct');
    const r = runCli(['serve', '--listen', '127.0.0.1:0', '-o', trace, join(programsDir, 'build', 'hello.component.wasm')], '', undefined, env);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n').at(-1)).toBe('replicode: the component does not export wasi:http/incoming-handler@0.2: serve needs a handler (run a command with replicode run)');
  }, 120_000);

  it('a --listen to a guest port other than the loop\'s (80): no one would answer its clients', () => {
    const r = runCli(['serve', '--listen', '127.0.0.1:0=81', handler], '', undefined, env);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim()).toBe('replicode: --listen 127.0.0.1:0=81: serve\'s loop listens on guest port 80; give HOST:PORT, e.g. 127.0.0.1:8080');
  });

  it('a --listen that is not HOST:PORT', () => {
    const r = runCli(['serve', '--listen', 'nowhere', handler], '', undefined, env);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim()).toBe('replicode: --listen nowhere: expected HOST:PORT, e.g. 127.0.0.1:8080');
  });
});
