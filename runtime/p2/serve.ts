// `replicode serve`: a wasi:http/incoming-handler component served over HTTP/1.1. The server is
// this loop, run in the guest's thread as a C server's main loop would be: it listens on a guest
// port of the virtual network and waits, accepts, reads and writes through the kernel's preview1
// socket calls (each one traced, as a module's), parses each request from the bytes received
// (http-wire.ts) and calls the handler once per request, in arrival order, on one instance. So a
// recording holds the network input, and a replay parses and answers the same bytes the same way.
import { ClockId, FdFlags } from '../abi.js';
import { Errno } from '../errno.js';
import { CallFailed, Scratch, type KernelCalls } from './calls.js';
import type { HttpHost } from './http.js';
import { maxHeadBytes, maxRequestBodyBytes, parseRequest, plainResponse, serializeResponse, type WireRequest } from './http-wire.js';
import { Pollable, maxPollables, pollList } from './streams.js';

/** The guest port the server listens on (`serve --listen HOST:PORT` delivers there). */
export const httpGuestPort = 80;
/** The most connections open at once; more wait in the listener's backlog. */
export const maxHttpConnections = 1000;
/** The most bytes a connection holds before a request in them is complete (head, body, chunk framing). */
const maxBufferedBytes = 2 * (maxHeadBytes + maxRequestBodyBytes);
const listenBacklog = 128;
if (maxHttpConnections + 1 >= maxPollables) throw new Error('maxHttpConnections must fit in one poll');

/** The export a wasi:http handler gives: handle(request, response-outparam). */
export interface IncomingHandler { handle(request: unknown, responseOut: unknown): void }

/**
 * Bytes received on one connection and not yet parsed into a request, and when it last sent any
 * or took any of a response (the monotonic clock's first reading after; undefined until then).
 * Revision 2: `out` is a response the client has not taken all of (from `outAt`); the connection
 * is watched for room to write instead of for requests until it has, so a client that never
 * reads holds one response, and the server goes on serving the others. `closing`: close once
 * `out` is sent; `continued`: a 100 Continue was sent for the request at the buffer's start.
 */
interface Connection {
  buffer: Uint8Array; used: number; active: bigint | undefined;
  out: Uint8Array | undefined; outAt: number; closing: boolean; continued: boolean;
}

/** What serveHttp needs besides the handler. */
export interface ServeOptions {
  /** The guest port to listen on. */
  port?: number;
  /**
   * A connection that sends nothing for this long (monotonic nanoseconds, the machine's time) is
   * closed, so idle clients cannot hold every slot; absent: connections stay open until the peer
   * closes them (traces recorded before the timeout existed replay so: no clock reads).
   */
  idleTimeoutNs?: bigint;
  /**
   * The loop's revision (`httpServeRevision` in the trace header): 2 writes without blocking (a
   * client that does not read holds only its own connection) and answers `Expect: 100-continue`;
   * 1 or absent (traces recorded before): blocking writes, no 100 Continue.
   */
  revision?: number;
}

/** The serve loop's revision `serve` records today (ServeOptions.revision). */
export const httpServeRevision = 2;
const continueResponse = Uint8Array.from('HTTP/1.1 100 Continue\r\n\r\n', (c) => c.charCodeAt(0));

/** The idle timeout `serve` gives unless told otherwise (hyper's header-read timeout is the same). */
export const defaultHttpIdleTimeoutMs = 30_000;

/** Thrown by a call while the machine stops (ENETDOWN): the server ends, exit 0. */
const stopping = (err: unknown) => err instanceof CallFailed && err.errno === Errno.NETDOWN;
/** A peer that went away: its connection is closed, the server goes on. */
const peerGone = (err: unknown) => err instanceof CallFailed && err.errno !== Errno.NETDOWN;

/** Serves until the machine stops. */
export function serveHttp(handler: IncomingHandler, http: HttpHost['types'], calls: KernelCalls, options: ServeOptions = {}): void {
  const { port = httpGuestPort, idleTimeoutNs } = options;
  const queue = (options.revision ?? 1) >= 2;
  const listener = listen(calls, port);
  const conns = new Map<number, Connection>();
  for (;;) {
    let watched: number[];
    let fired: Uint32Array;
    try {
      const deadline = idleTimeoutNs !== undefined && conns.size > 0 ? closeIdle(calls, conns, idleTimeoutNs) : undefined;
      const fds = [...conns.keys()];
      watched = conns.size < maxHttpConnections ? [listener, ...fds] : fds;
      const pollables = watched.map((fd) => readiness(calls, conns, fd));
      fired = pollList(calls, deadline ? [...pollables, deadline] : pollables);
    } catch (err) {
      if (stopping(err)) return;
      throw err;
    }
    for (const index of fired) {
      const fd = watched[index];
      if (fd === undefined) continue; // the idle deadline: the next round closes what it reached
      try {
        const conn = conns.get(fd);
        if (fd === listener) accept(calls, listener, conns, queue);
        else if (conn!.out !== undefined) {
          flush(calls, fd, conn!);
          if (conn!.out === undefined && !answer(handler, http, calls, fd, conn!, queue)) close(calls, fd, conns);
        } else if (!receive(calls, fd, conn!, queue) || !answer(handler, http, calls, fd, conn!, queue)) close(calls, fd, conns);
      } catch (err) {
        if (stopping(err)) return;
        if (!peerGone(err)) throw err;
        if (conns.has(fd)) close(calls, fd, conns);
      }
    }
  }
}

/** What the loop waits for on `fd`: room to write while a response waits to go out, else bytes to read (or a client, on the listener). */
function readiness(calls: KernelCalls, conns: Map<number, Connection>, fd: number): Pollable {
  return new Pollable(calls, { kind: 'fd', fd, write: conns.get(fd)?.out !== undefined });
}

/**
 * Reads the monotonic clock once, stamps the connections that were active since the last reading,
 * closes those idle for `idle` or longer with nothing waiting to be read (bytes that arrived while
 * the server was busy count as activity: one poll that does not block asks), and returns a
 * pollable for the next deadline (none when no connection is left).
 */
function closeIdle(calls: KernelCalls, conns: Map<number, Connection>, idle: bigint): Pollable | undefined {
  const now = calls.clock(ClockId.MONOTONIC);
  const expired: number[] = [];
  for (const [fd, conn] of conns) {
    conn.active ??= now;
    if (now - conn.active >= idle) expired.push(fd);
  }
  if (expired.length > 0) {
    // A connection with a response waiting is asked whether it has room for more (it reads none).
    const ready = expired.map((fd) => readiness(calls, conns, fd));
    const readable = new Set(pollList(calls, ready, true));
    expired.forEach((fd, i) => {
      if (readable.has(i)) conns.get(fd)!.active = now;
      else close(calls, fd, conns);
    });
  }
  let oldest: bigint | undefined;
  for (const { active } of conns.values()) if (oldest === undefined || active! < oldest) oldest = active;
  return oldest === undefined ? undefined : new Pollable(calls, { kind: 'clock', ns: oldest + idle, absolute: true });
}

/** A TCP socket listening on 0.0.0.0:port (sock_open, sock_bind, sock_listen). */
function listen(calls: KernelCalls, port: number): number {
  const address = Scratch.pathA;
  calls.mem.write(address, new Uint8Array(4)); // 0.0.0.0
  calls.mem.setU32(address + 8, address);
  calls.mem.setU32(address + 12, 4);
  calls.call('sock_open', 1 /* INET4 */, 2 /* STREAM */, Scratch.out);
  const fd = calls.mem.u32(Scratch.out);
  calls.call('sock_bind', fd, address + 8, port);
  calls.call('sock_listen', fd, listenBacklog);
  return fd;
}

function accept(calls: KernelCalls, listener: number, conns: Map<number, Connection>, queue: boolean): void {
  try {
    calls.call('sock_accept', listener, queue ? FdFlags.NONBLOCK : 0, Scratch.out);
  } catch (err) {
    if (err instanceof CallFailed && err.errno === Errno.AGAIN) return; // the client left before it was accepted
    throw err;
  }
  conns.set(calls.mem.u32(Scratch.out), { buffer: new Uint8Array(4096), used: 0, active: undefined, out: undefined, outAt: 0, closing: false, continued: false });
}

/**
 * One sock_recv into the connection's buffer; false when the peer closed it (or sent too much:
 * revision 2 keeps it open until the 413 is taken, as `closing`).
 */
function receive(calls: KernelCalls, fd: number, conn: Connection, queue: boolean): boolean {
  calls.iovec(Scratch.dataBytes);
  try {
    calls.call('sock_recv', fd, Scratch.iovec, 1, 0, Scratch.out, Scratch.out2);
  } catch (err) {
    if (queue && err instanceof CallFailed && err.errno === Errno.AGAIN) return true; // nothing after all (non-blocking)
    throw err;
  }
  const n = calls.mem.u32(Scratch.out);
  if (n === 0) return false;
  conn.active = undefined;
  if (conn.used + n > maxBufferedBytes) {
    conn.closing = true;
    write(calls, fd, conn, plainResponse(413, `more than ${maxBufferedBytes} bytes without a complete request`, false), queue);
    return queue;
  }
  if (conn.used + n > conn.buffer.length) {
    const grown = new Uint8Array(Math.min(maxBufferedBytes, Math.max(conn.used + n, conn.buffer.length * 2)));
    grown.set(conn.buffer.subarray(0, conn.used));
    conn.buffer = grown;
  }
  conn.buffer.set(calls.mem.bytes(Scratch.data, n), conn.used);
  conn.used += n;
  return true;
}

/**
 * Answers every complete request in the buffer, in order (revision 2: until a response waits for
 * the client to take it); false when the connection is to close now.
 */
function answer(handler: IncomingHandler, http: HttpHost['types'], calls: KernelCalls, fd: number, conn: Connection, queue: boolean): boolean {
  for (;;) {
    if (conn.out !== undefined) return true;
    if (conn.closing) return false;
    const parsed = parseRequest(conn.buffer.subarray(0, conn.used), queue ? 2 : 1);
    if (parsed.kind === 'incomplete') {
      // RFC 9110 10.1.1: a client that expects 100-continue may wait for it before its body.
      if (queue && parsed.expectsContinue === true && !conn.continued) {
        conn.continued = true;
        write(calls, fd, conn, continueResponse, queue);
      }
      return true;
    }
    conn.closing = parsed.kind === 'bad' || !parsed.request.keepAlive;
    if (parsed.kind === 'bad') {
      write(calls, fd, conn, plainResponse(parsed.status, parsed.reason, false), queue);
      continue;
    }
    write(calls, fd, conn, respond(handler, http, parsed.request), queue);
    conn.buffer.copyWithin(0, parsed.consumed, conn.used);
    conn.used -= parsed.consumed;
    conn.continued = false;
  }
}

/** One handle call: the response it set, or a 500 saying why there is none. */
function respond(handler: IncomingHandler, http: HttpHost['types'], request: WireRequest): Uint8Array {
  const out = new http.ResponseOutparam();
  handler.handle(new http.IncomingRequest(request), out);
  const { outcome } = out;
  if (outcome.kind === 'unset') return plainResponse(500, 'the handler did not set a response', request.keepAlive);
  if (outcome.kind === 'error') return plainResponse(500, `the handler answered with error ${outcome.code}`, request.keepAlive);
  const { status, headers, body } = outcome.response.toResponse();
  return serializeResponse(status, headers, body, { keepAlive: request.keepAlive, head: request.method === 'HEAD' });
}

/**
 * Revision 1: sends all of `bytes`, blocking. Revision 2: sends what the socket takes now and
 * keeps the rest in `conn.out` (the loop waits for room and sends it, reading nothing meanwhile).
 */
function write(calls: KernelCalls, fd: number, conn: Connection, bytes: Uint8Array, queue: boolean): void {
  if (!queue) return send(calls, fd, bytes);
  if (conn.out !== undefined) throw new Error('a response was written while another one waited');
  conn.out = bytes;
  conn.outAt = 0;
  flush(calls, fd, conn);
}

/** Sends as much of `conn.out` as the (non-blocking) socket takes; what it took counts as activity. */
function flush(calls: KernelCalls, fd: number, conn: Connection): void {
  const out = conn.out!;
  while (conn.outAt < out.length) {
    calls.stage(out.subarray(conn.outAt, conn.outAt + Scratch.dataBytes));
    try {
      calls.call('sock_send', fd, Scratch.iovec, 1, 0, Scratch.out);
    } catch (err) {
      if (err instanceof CallFailed && err.errno === Errno.AGAIN) return;
      throw err;
    }
    const sent = calls.mem.u32(Scratch.out);
    if (sent === 0) throw new CallFailed(Errno.PIPE);
    conn.outAt += sent;
    conn.active = undefined;
  }
  conn.out = undefined;
}

/** Writes all of `bytes` (sock_send, a scratch area at a time). */
function send(calls: KernelCalls, fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length;) {
    calls.stage(bytes.subarray(at, at + Scratch.dataBytes));
    calls.call('sock_send', fd, Scratch.iovec, 1, 0, Scratch.out);
    const sent = calls.mem.u32(Scratch.out);
    if (sent === 0) throw new CallFailed(Errno.PIPE);
    at += sent;
  }
}

function close(calls: KernelCalls, fd: number, conns: Map<number, Connection>): void {
  conns.delete(fd);
  calls.call('fd_close', fd);
}
