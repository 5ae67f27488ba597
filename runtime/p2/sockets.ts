// wasi:sockets@0.2.x (network, instance-network, tcp, tcp-create-socket, udp, udp-create-socket,
// ip-name-lookup) on the virtual network, through the kernel calls a preview1 guest makes for the
// same work (WasmEdge's sock_open/bind/listen/connect/getaddrinfo..., sock_accept, sock_recv,
// sock_send, poll_oneoff), so traces, replay and the cluster's batches see what they see for a
// module. WASI 0.2 sockets never block: every socket fd is O_NONBLOCK in the kernel, and a
// guest waits through a pollable, i.e. poll_oneoff, over the same worker channel. IPv4 only (the
// virtual network has no IPv6): an ipv6 socket is not-supported. See docs/design.md,
// "wasi:sockets".
import { FdFlags, SdFlags } from '../abi.js';
import { Errno } from '../errno.js';
import { Ai, Sa } from '../net/getaddrinfo.js';
import type { GuestMemory } from '../memory.js';
import { maxDatagramBytes, maxReceiveBufferBytes, maxSendBufferBytes, type Endpoint } from '../net/types.js';
import { CallFailed, Scratch, type KernelCalls } from './calls.js';
import { InputStream, IoError, OutputStream, Pollable } from './streams.js';

// The interfaces' types, generated from the WIT (scripts/wit-types.mjs); the classes and
// functions below are checked against them at the end of this file.
import type * as WitNetwork from './wit/wasi-sockets-network.js';
import type * as WitInstanceNetwork from './wit/wasi-sockets-instance-network.js';
import type * as WitTcp from './wit/wasi-sockets-tcp.js';
import type * as WitTcpCreate from './wit/wasi-sockets-tcp-create-socket.js';
import type * as WitUdp from './wit/wasi-sockets-udp.js';
import type * as WitUdpCreate from './wit/wasi-sockets-udp-create-socket.js';
import type * as WitLookup from './wit/wasi-sockets-ip-name-lookup.js';

type ErrorCode = WitNetwork.ErrorCode;
type Family = WitNetwork.IpAddressFamily;
type IpAddress = WitNetwork.IpAddress;
type IpSocketAddress = WitNetwork.IpSocketAddress;

/** The one table from the errno a socket call returned to wasi:sockets' error-code. */
const socketCodes: Record<number, ErrorCode> = {
  [Errno.ACCES]: 'access-denied', [Errno.PERM]: 'access-denied',
  [Errno.NOTSUP]: 'not-supported', [Errno.NOSYS]: 'not-supported', [Errno.AFNOSUPPORT]: 'not-supported',
  [Errno.NOPROTOOPT]: 'not-supported', [Errno.PROTONOSUPPORT]: 'not-supported',
  [Errno.INVAL]: 'invalid-argument', [Errno.DESTADDRREQ]: 'invalid-argument', [Errno.FAULT]: 'invalid-argument',
  [Errno.NOMEM]: 'out-of-memory', [Errno.NOBUFS]: 'out-of-memory', [Errno.TIMEDOUT]: 'timeout',
  [Errno.ALREADY]: 'concurrency-conflict', [Errno.INPROGRESS]: 'concurrency-conflict', [Errno.AGAIN]: 'would-block',
  [Errno.ISCONN]: 'invalid-state', [Errno.NOTCONN]: 'invalid-state', [Errno.BADF]: 'invalid-state', [Errno.NOTSOCK]: 'invalid-state',
  [Errno.MFILE]: 'new-socket-limit', [Errno.NFILE]: 'new-socket-limit',
  [Errno.ADDRNOTAVAIL]: 'address-not-bindable', [Errno.ADDRINUSE]: 'address-in-use',
  [Errno.NETUNREACH]: 'remote-unreachable', [Errno.HOSTUNREACH]: 'remote-unreachable', [Errno.NETDOWN]: 'remote-unreachable',
  [Errno.CONNREFUSED]: 'connection-refused', [Errno.CONNRESET]: 'connection-reset', [Errno.PIPE]: 'connection-reset',
  [Errno.CONNABORTED]: 'connection-aborted', [Errno.MSGSIZE]: 'datagram-too-large',
  [Errno.AI_NONAME]: 'name-unresolvable', [Errno.AI_NODATA]: 'name-unresolvable', [Errno.AI_ADDRFAMILY]: 'name-unresolvable',
  [Errno.AI_AGAIN]: 'temporary-resolver-failure', [Errno.AI_FAIL]: 'permanent-resolver-failure',
  [Errno.AI_MEMORY]: 'out-of-memory', [Errno.AI_BADFLAG]: 'invalid-argument', [Errno.AI_FAMILY]: 'invalid-argument',
  [Errno.AI_SERVICE]: 'invalid-argument', [Errno.AI_SOCKTYPE]: 'invalid-argument', [Errno.AI_SYSTEM]: 'unknown',
};

/** The error-code for an errno; an errno outside the table is our bug. */
export function socketErrorCode(errno: number): ErrorCode {
  const code = socketCodes[errno];
  if (code === undefined) throw new Error(`no wasi:sockets error-code for errno ${errno}`);
  return code;
}

/** Raises an error-code as the call's `err` (jco: a thrown object with a payload). */
function fail(code: ErrorCode): never {
  throw { payload: code };
}

/** A kernel call's errno as the call's error-code; anything else is rethrown. */
function failWith(err: unknown): never {
  if (err instanceof CallFailed) fail(socketErrorCode(err.errno));
  throw err;
}

/** Runs kernel calls; an errno becomes the call's error-code. */
function socketCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    return failWith(err);
  }
}

/**
 * Scratch bytes for socket calls, between the filestat slot and the first path: an address
 * ({buf, len}) and its buffer (V2's 128 bytes), the V1 type and port slots, a socket option,
 * the getaddrinfo hints and its one result (record, sockaddr, sa_data).
 */
const At = { addr: 128, addrBuf: 136, type: 264, port: 268, option: 272, optionLen: 276, hints: 320, res: 384, record: 400, sockaddr: 448, saData: 464 } as const;
/** WasmEdge's __wasi_address_t {buf u32 @0, buf_len u32 @4}: V1 a 4-byte IPv4 buffer; V2 128 bytes, family u16 @0, address @2. */
const Address = { buf: 0, bufLen: 4, v1Bytes: 4, v2Bytes: 128, v2Ip: 2 } as const;
/** sa_data: the port (big-endian) @0, the IPv4 address @2; 14 bytes as the host's sockaddr. */
const SaData = { ip: 2, bytes: 14 } as const;
if (!(At.addrBuf + Address.v2Bytes <= At.type && At.hints + Ai.size <= At.res && At.record + Ai.size <= At.sockaddr
  && At.saData + SaData.bytes <= Scratch.pathA && At.addr >= Scratch.stat + 64)) {
  throw new Error('bug: the socket scratch slots overlap');
}

/** Points the scratch address at its buffer, of V1's or V2's size. */
function pointAddress(mem: GuestMemory, bytes: number): void {
  mem.setU32(At.addr + Address.buf, At.addrBuf);
  mem.setU32(At.addr + Address.bufLen, bytes);
}

function ipAt(mem: GuestMemory, ptr: number): Endpoint['ip'] {
  const b = mem.bytes(ptr, 4);
  return [b[0]!, b[1]!, b[2]!, b[3]!];
}

const AddressFamily = { INET4: 1, INET6: 2 } as const;
const SockType = { DGRAM: 1, STREAM: 2 } as const;
const soError = 2;
/** Datagrams one receive returns and one check-send permits (each a kernel call). */
export const maxDatagramsPerCall = 64;

/** The wasi:sockets calls of one process, over its kernel calls. */
class Sockets {
  constructor(readonly calls: KernelCalls) {}

  /** sock_open then O_NONBLOCK: a socket fd as WASI 0.2 uses it. */
  open(family: Family, type: number): number {
    return socketCall(() => {
      this.calls.call('sock_open', family === 'ipv4' ? AddressFamily.INET4 : AddressFamily.INET6, type, Scratch.out);
      const fd = this.calls.mem.u32(Scratch.out);
      this.calls.call('fd_fdstat_set_flags', fd, FdFlags.NONBLOCK);
      return fd;
    });
  }

  /** Stages an IPv4 socket address (WasmEdge's V1 form: a 4-byte buffer); returns its port. */
  address(addr: IpSocketAddress): number {
    if (addr.tag !== 'ipv4') fail('invalid-argument'); // an ipv6 address on an ipv4 socket
    const { mem } = this.calls;
    pointAddress(mem, Address.v1Bytes);
    mem.write(At.addrBuf, Uint8Array.from(addr.val.address));
    return addr.val.port;
  }

  /** sock_bind to an IPv4 socket address (TCP's and UDP's start-bind). */
  bind(fd: number, local: IpSocketAddress): void {
    const port = this.address(local);
    socketCall(() => this.calls.call('sock_bind', fd, At.addr, port));
  }

  /** sock_getlocaladdr / sock_getpeeraddr (V1: fd, addr, type, port). */
  endpoint(call: 'sock_getlocaladdr' | 'sock_getpeeraddr', fd: number): IpSocketAddress {
    return socketCall(() => {
      const { mem } = this.calls;
      pointAddress(mem, Address.v1Bytes);
      this.calls.call(call, fd, At.addr, At.type, At.port);
      return { tag: 'ipv4', val: { port: mem.u32(At.port), address: ipAt(mem, At.addrBuf) } };
    });
  }

  close(fd: number): void {
    // A close cannot fail for a socket fd this host opened; an errno here is our bug.
    this.calls.call('fd_close', fd);
  }

  readable(fd: number): Pollable { return new Pollable(this.calls, { kind: 'fd', fd, write: false }); }
  writable(fd: number): Pollable { return new Pollable(this.calls, { kind: 'fd', fd, write: true }); }
}

/** wasi:sockets/network's network: a capability with no state (the virtual network is the process's). */
export class Network {}

/** The fd a socket and its streams share, and whether the socket was dropped (its fd is closed). */
interface SocketFd { readonly fd: number; closed: boolean }

/** wasi:io/error's error for a socket stream: its debug string is the socket error-code. */
class SocketIoError extends IoError {
  override toDebugString(): string { return socketErrorCode(this.errno); }
}

function streamFailure(err: unknown): never {
  if (!(err instanceof CallFailed)) throw err;
  throw { payload: err.errno === Errno.PIPE ? { tag: 'closed' } : { tag: 'last-operation-failed', val: new SocketIoError(err.errno) } };
}

/** A connection's input: sock_recv, never blocking; blocking-read waits in poll_oneoff. */
class SocketInputStream extends InputStream {
  constructor(private readonly sockets: Sockets, private readonly socket: SocketFd) {
    super(sockets.calls, { fd: socket.fd, offset: null });
  }

  override read(len: bigint): Uint8Array {
    if (this.socket.closed) throw { payload: { tag: 'closed' } };
    const n = Math.min(Number(len), Scratch.dataBytes);
    if (n === 0) return new Uint8Array(0);
    const { calls } = this.sockets;
    calls.iovec(n);
    try {
      calls.call('sock_recv', this.socket.fd, Scratch.iovec, 1, 0, Scratch.out, Scratch.out2);
    } catch (err) {
      if (err instanceof CallFailed && err.errno === Errno.AGAIN) return new Uint8Array(0);
      streamFailure(err);
    }
    const got = calls.mem.u32(Scratch.out);
    if (got === 0) throw { payload: { tag: 'closed' } }; // the peer's FIN
    return calls.data(got);
  }

  override blockingRead(len: bigint): Uint8Array {
    // Each turn but the first follows a poll that found the socket readable (data, FIN or reset).
    for (;;) {
      const got = this.read(len);
      if (got.length > 0 || len === 0n) return got;
      this.subscribe().block();
    }
  }

  override blockingSkip(len: bigint): bigint { return BigInt(this.blockingRead(len).length); }
}

/** A connection's output: sock_send of all it is given, waiting in poll_oneoff while the send buffer is full. */
class SocketOutputStream extends OutputStream {
  constructor(private readonly sockets: Sockets, private readonly socket: SocketFd) {
    super(sockets.calls, { fd: socket.fd, offset: null });
  }

  override checkWrite(): bigint {
    if (this.socket.closed) throw { payload: { tag: 'closed' } };
    return BigInt(Scratch.dataBytes);
  }

  override write(contents: Uint8Array): void {
    if (this.socket.closed) throw { payload: { tag: 'closed' } };
    const { calls } = this.sockets;
    // Bounded by the bytes: each turn sends some, or waits in poll_oneoff until some can go.
    for (let at = 0; at < contents.length;) {
      calls.stage(contents.subarray(at, at + Scratch.dataBytes));
      try {
        calls.call('sock_send', this.socket.fd, Scratch.iovec, 1, 0, Scratch.out);
        at += calls.mem.u32(Scratch.out);
      } catch (err) {
        if (!(err instanceof CallFailed) || err.errno !== Errno.AGAIN) streamFailure(err);
        this.subscribe().block();
      }
    }
  }

  override blockingWriteAndFlush(contents: Uint8Array): void { this.write(contents); }
  override writeZeroes(len: bigint): void { this.write(new Uint8Array(Math.min(Number(len), Scratch.dataBytes))); }
  override blockingWriteZeroesAndFlush(len: bigint): void { this.writeZeroes(len); }
}

type TcpState = 'unbound' | 'bind-started' | 'bound' | 'listen-started' | 'listening' | 'connect-started' | 'connected' | 'closed';
const defaultBacklog = 128;
const second = 1_000_000_000n;

/** wasi:sockets/tcp's tcp-socket over one kernel socket fd. */
export class TcpSocket {
  private readonly socket: SocketFd;
  private backlog = defaultBacklog;
  /** Options the virtual network keeps but does not act on (as sock_setsockopt's). */
  private readonly options = {
    keepAlive: false, keepAliveIdle: 7200n * second, keepAliveInterval: 75n * second, keepAliveCount: 9, hopLimit: 64,
    receiveBuffer: BigInt(maxReceiveBufferBytes), sendBuffer: BigInt(maxSendBufferBytes),
  };

  constructor(private readonly sockets: Sockets, fd: number, private state: TcpState) {
    this.socket = { fd, closed: false };
  }

  startBind(_network: Network, local: IpSocketAddress): void {
    if (this.state !== 'unbound') fail('invalid-state');
    this.sockets.bind(this.socket.fd, local);
    this.state = 'bind-started';
  }

  finishBind(): void { this.finish('bind-started', 'bound'); }

  startConnect(_network: Network, remote: IpSocketAddress): void {
    if (this.state !== 'unbound' && this.state !== 'bound') fail('invalid-state');
    const port = this.sockets.address(remote);
    if (port === 0) fail('invalid-argument');
    try {
      this.sockets.calls.call('sock_connect', this.socket.fd, At.addr, port);
    } catch (err) {
      if (!(err instanceof CallFailed) || err.errno !== Errno.INPROGRESS) failWith(err);
    }
    this.state = 'connect-started';
  }

  /** Connected once the fd is writable (poll_oneoff, not waiting); SO_ERROR says how it went. */
  finishConnect(): [InputStream, OutputStream] {
    if (this.state !== 'connect-started') fail('not-in-progress');
    if (!this.sockets.writable(this.socket.fd).ready()) fail('would-block');
    const { calls } = this.sockets;
    const errno = socketCall(() => {
      calls.mem.setU32(At.optionLen, 4);
      calls.call('sock_getsockopt', this.socket.fd, 0, soError, At.option, At.optionLen);
      return calls.mem.u32(At.option);
    });
    if (errno !== 0) {
      this.state = 'closed';
      fail(socketErrorCode(errno));
    }
    this.state = 'connected';
    return this.streams();
  }

  startListen(): void {
    if (this.state !== 'bound') fail('invalid-state');
    socketCall(() => this.sockets.calls.call('sock_listen', this.socket.fd, this.backlog));
    this.state = 'listen-started';
  }

  finishListen(): void { this.finish('listen-started', 'listening'); }

  accept(): [TcpSocket, InputStream, OutputStream] {
    if (this.state !== 'listening') fail('invalid-state');
    const { calls } = this.sockets;
    const fd = socketCall(() => {
      calls.call('sock_accept', this.socket.fd, FdFlags.NONBLOCK, Scratch.out);
      return calls.mem.u32(Scratch.out);
    });
    const accepted = new TcpSocket(this.sockets, fd, 'connected');
    return [accepted, ...accepted.streams()];
  }

  localAddress(): IpSocketAddress {
    if (this.state === 'unbound' || this.state === 'bind-started' || this.state === 'closed') fail('invalid-state');
    return this.sockets.endpoint('sock_getlocaladdr', this.socket.fd);
  }

  remoteAddress(): IpSocketAddress {
    if (this.state !== 'connected') fail('invalid-state');
    return this.sockets.endpoint('sock_getpeeraddr', this.socket.fd);
  }

  isListening(): boolean { return this.state === 'listening'; }
  addressFamily(): Family { return 'ipv4'; }

  setListenBacklogSize(value: bigint): void {
    if (value === 0n) fail('invalid-argument');
    if (this.state === 'connect-started' || this.state === 'connected') fail('invalid-state');
    this.backlog = Number(value > 1_000_000n ? 1_000_000n : value); // the kernel clamps to its own bound
    if (this.state === 'listening') socketCall(() => this.sockets.calls.call('sock_listen', this.socket.fd, this.backlog));
  }

  keepAliveEnabled(): boolean { return this.options.keepAlive; }
  setKeepAliveEnabled(value: boolean): void { this.options.keepAlive = value; }
  keepAliveIdleTime(): bigint { return this.options.keepAliveIdle; }
  setKeepAliveIdleTime(value: bigint): void { this.options.keepAliveIdle = positive(value); }
  keepAliveInterval(): bigint { return this.options.keepAliveInterval; }
  setKeepAliveInterval(value: bigint): void { this.options.keepAliveInterval = positive(value); }
  keepAliveCount(): number { return this.options.keepAliveCount; }
  setKeepAliveCount(value: number): void { this.options.keepAliveCount = Number(positive(BigInt(value))); }
  hopLimit(): number { return this.options.hopLimit; }
  setHopLimit(value: number): void { this.options.hopLimit = Number(positive(BigInt(value))); }
  receiveBufferSize(): bigint { return this.options.receiveBuffer; }
  setReceiveBufferSize(value: bigint): void { this.options.receiveBuffer = positive(value); }
  sendBufferSize(): bigint { return this.options.sendBuffer; }
  setSendBufferSize(value: bigint): void { this.options.sendBuffer = positive(value); }

  subscribe(): Pollable {
    if (this.state === 'listening') return this.sockets.readable(this.socket.fd);
    if (this.state === 'connect-started') return this.sockets.writable(this.socket.fd);
    return new Pollable(this.sockets.calls, { kind: 'ready' });
  }

  shutdown(how: 'receive' | 'send' | 'both'): void {
    if (this.state !== 'connected') fail('invalid-state');
    const flags = how === 'receive' ? SdFlags.RD : how === 'send' ? SdFlags.WR : SdFlags.RD | SdFlags.WR;
    socketCall(() => this.sockets.calls.call('sock_shutdown', this.socket.fd, flags));
  }

  /** [resource-drop]tcp-socket: the fd is closed (its streams, dropped first or not, read closed). */
  [Symbol.dispose](): void {
    if (this.socket.closed) return;
    this.socket.closed = true;
    this.state = 'closed';
    this.sockets.close(this.socket.fd);
  }

  private finish(from: TcpState, to: TcpState): void {
    if (this.state !== from) fail('not-in-progress');
    this.state = to;
  }

  private streams(): [InputStream, OutputStream] {
    return [new SocketInputStream(this.sockets, this.socket), new SocketOutputStream(this.sockets, this.socket)];
  }
}

function positive(value: bigint): bigint {
  if (value <= 0n) fail('invalid-argument');
  return value;
}

/** wasi:sockets/udp's udp-socket over one kernel datagram fd. */
export class UdpSocket {
  private readonly socket: SocketFd;
  private state: 'unbound' | 'bind-started' | 'bound' | 'closed' = 'unbound';
  private peer: IpSocketAddress | undefined;
  private readonly options = { hopLimit: 64, receiveBuffer: BigInt(maxReceiveBufferBytes), sendBuffer: BigInt(maxSendBufferBytes) };

  constructor(private readonly sockets: Sockets, fd: number) {
    this.socket = { fd, closed: false };
  }

  startBind(_network: Network, local: IpSocketAddress): void {
    if (this.state !== 'unbound') fail('invalid-state');
    this.sockets.bind(this.socket.fd, local);
    this.state = 'bind-started';
  }

  finishBind(): void {
    if (this.state !== 'bind-started') fail('not-in-progress');
    this.state = 'bound';
  }

  /** With a remote address: UDP connect (only its datagrams). The virtual network cannot disconnect one. */
  stream(remote: IpSocketAddress | undefined): [IncomingDatagramStream, OutgoingDatagramStream] {
    if (this.state !== 'bound') fail('invalid-state');
    if (remote) {
      const port = this.sockets.address(remote);
      if (port === 0) fail('invalid-argument');
      socketCall(() => this.sockets.calls.call('sock_connect', this.socket.fd, At.addr, port));
      this.peer = remote;
    } else if (this.peer) {
      fail('not-supported');
    }
    return [new IncomingDatagramStream(this.sockets, this.socket), new OutgoingDatagramStream(this.sockets, this.socket, this.peer)];
  }

  localAddress(): IpSocketAddress {
    if (this.state !== 'bound') fail('invalid-state');
    return this.sockets.endpoint('sock_getlocaladdr', this.socket.fd);
  }

  remoteAddress(): IpSocketAddress {
    if (!this.peer) fail('invalid-state');
    return this.peer;
  }

  addressFamily(): Family { return 'ipv4'; }
  unicastHopLimit(): number { return this.options.hopLimit; }
  setUnicastHopLimit(value: number): void { this.options.hopLimit = Number(positive(BigInt(value))); }
  receiveBufferSize(): bigint { return this.options.receiveBuffer; }
  setReceiveBufferSize(value: bigint): void { this.options.receiveBuffer = positive(value); }
  sendBufferSize(): bigint { return this.options.sendBuffer; }
  setSendBufferSize(value: bigint): void { this.options.sendBuffer = positive(value); }
  subscribe(): Pollable { return new Pollable(this.sockets.calls, { kind: 'ready' }); }

  [Symbol.dispose](): void {
    if (this.socket.closed) return;
    this.socket.closed = true;
    this.state = 'closed';
    this.sockets.close(this.socket.fd);
  }
}

/** Received datagrams: sock_recv_from (V2: the sender's port too), until would-block. */
export class IncomingDatagramStream {
  constructor(private readonly sockets: Sockets, private readonly socket: SocketFd) {}

  receive(maxResults: bigint): WitUdp.IncomingDatagram[] {
    if (this.socket.closed) fail('invalid-state');
    const { calls } = this.sockets;
    const { mem } = calls;
    const out: WitUdp.IncomingDatagram[] = [];
    const wanted = maxResults < BigInt(maxDatagramsPerCall) ? Number(maxResults) : maxDatagramsPerCall;
    while (out.length < wanted) {
      calls.iovec(maxDatagramBytes);
      pointAddress(mem, Address.v2Bytes);
      try {
        calls.call('sock_recv_from', this.socket.fd, Scratch.iovec, 1, At.addr, 0, At.port, Scratch.out, Scratch.out2);
      } catch (err) {
        if (err instanceof CallFailed && err.errno === Errno.AGAIN) break;
        failWith(err);
      }
      const from = { port: mem.u16(At.port), address: ipAt(mem, At.addrBuf + Address.v2Ip) };
      out.push({ data: calls.data(mem.u32(Scratch.out)), remoteAddress: { tag: 'ipv4', val: from } });
    }
    return out;
  }

  subscribe(): Pollable { return this.sockets.readable(this.socket.fd); }
}

/** Datagrams out: sock_send_to each (sock_send on a connected socket, to its peer only). */
export class OutgoingDatagramStream {
  constructor(private readonly sockets: Sockets, private readonly socket: SocketFd, private readonly peer: IpSocketAddress | undefined) {}

  checkSend(): bigint {
    if (this.socket.closed) fail('invalid-state');
    return BigInt(maxDatagramsPerCall);
  }

  /** As many as go (at most maxDatagramsPerCall); an error only when the first cannot. */
  send(datagrams: WitUdp.OutgoingDatagram[]): bigint {
    if (this.socket.closed) fail('invalid-state');
    let sent = 0;
    for (const d of datagrams.slice(0, maxDatagramsPerCall)) {
      try {
        this.sendOne(d.data, d.remoteAddress);
      } catch (err) {
        if (sent === 0 || err instanceof Error) throw err;
        break;
      }
      sent++;
    }
    return BigInt(sent);
  }

  subscribe(): Pollable { return this.sockets.writable(this.socket.fd); }

  private sendOne(data: Uint8Array, to: IpSocketAddress | undefined): void {
    const target = to ?? this.peer;
    if (!target || (this.peer && !sameSocketAddress(target, this.peer))) fail('invalid-argument');
    if (data.length > maxDatagramBytes) fail('datagram-too-large');
    const { calls } = this.sockets;
    socketCall(() => {
      calls.stage(data);
      if (this.peer) calls.call('sock_send', this.socket.fd, Scratch.iovec, 1, 0, Scratch.out);
      else calls.call('sock_send_to', this.socket.fd, Scratch.iovec, 1, At.addr, this.sockets.address(target), 0, Scratch.out);
    });
  }
}

function sameSocketAddress(a: IpSocketAddress, b: IpSocketAddress): boolean {
  return a.tag === b.tag && a.val.port === b.val.port && a.val.address.every((v, i) => v === b.val.address[i]);
}

/** A name's addresses, looked up at once by sock_getaddrinfo (one IPv4 answer, from the fixed table). */
export class ResolveAddressStream {
  private next = 0;
  constructor(private readonly sockets: Sockets, private readonly answer: IpAddress[] | ErrorCode) {}

  resolveNextAddress(): IpAddress | undefined {
    if (typeof this.answer === 'string') fail(this.answer);
    return this.answer[this.next++];
  }

  subscribe(): Pollable { return new Pollable(this.sockets.calls, { kind: 'ready' }); }
}

function resolve(sockets: Sockets, name: string): ResolveAddressStream {
  const { calls } = sockets;
  const { mem } = calls;
  if (name === '') fail('invalid-argument');
  const nodeLen = calls.path(Scratch.pathA, name);
  mem.bytes(At.hints, Ai.size).fill(0);
  mem.setU8(At.hints + Ai.socktype, SockType.STREAM); // one answer per address
  mem.setU32(At.res, At.record);
  mem.bytes(At.record, Ai.size).fill(0);
  mem.setU32(At.record + Ai.addr, At.sockaddr);
  mem.setU32(At.sockaddr + Sa.dataLen, SaData.bytes);
  mem.setU32(At.sockaddr + Sa.data, At.saData);
  try {
    calls.call('sock_getaddrinfo', Scratch.pathA, nodeLen, Scratch.pathB, 0, At.hints, At.res, 1, Scratch.out);
  } catch (err) {
    if (!(err instanceof CallFailed)) throw err;
    const code = socketErrorCode(err.errno);
    if (code === 'invalid-argument') fail(code);
    return new ResolveAddressStream(sockets, code);
  }
  const answers: IpAddress[] = [];
  if (mem.u32(Scratch.out) > 0) {
    answers.push({ tag: 'ipv4', val: ipAt(mem, At.saData + SaData.ip) });
  }
  return new ResolveAddressStream(sockets, answers);
}

/** The wasi:sockets interfaces for one process, keyed as componentHost's. */
export function socketInterfaces(calls: KernelCalls): Record<string, Record<string, unknown>> {
  const sockets = new Sockets(calls);
  return {
    'wasi:sockets/network': {
      Network,
      ...{ networkErrorCode: (err: IoError) => (err instanceof SocketIoError ? socketErrorCode(err.errno) : undefined) } satisfies Functions<typeof WitNetwork>,
    },
    'wasi:sockets/instance-network': { instanceNetwork: () => new Network() } satisfies Functions<typeof WitInstanceNetwork>,
    'wasi:sockets/tcp': { TcpSocket },
    'wasi:sockets/tcp-create-socket': {
      createTcpSocket: (family: Family) => new TcpSocket(sockets, sockets.open(family, SockType.STREAM), 'unbound'),
    } satisfies Functions<typeof WitTcpCreate>,
    'wasi:sockets/udp': { UdpSocket, IncomingDatagramStream, OutgoingDatagramStream },
    'wasi:sockets/udp-create-socket': {
      createUdpSocket: (family: Family) => new UdpSocket(sockets, sockets.open(family, SockType.DGRAM)),
    } satisfies Functions<typeof WitUdpCreate>,
    'wasi:sockets/ip-name-lookup': {
      ResolveAddressStream,
      ...{ resolveAddresses: (_network: Network, name: string) => resolve(sockets, name) } satisfies Functions<typeof WitLookup>,
    },
  };
}

/** An interface's functions (its resources' classes are checked by their instances, below). */
type Functions<M> = { [K in keyof M as M[K] extends (...args: never[]) => unknown ? K : never]: M[K] };
/** Compiles only when `T` has every method of `Spec`, with the spec's parameter and result types. */
type Implements<T extends Spec, Spec> = T;
export type SpecChecks = [
  Implements<Network, WitNetwork.Network>,
  Implements<TcpSocket, WitTcp.TcpSocket>,
  Implements<UdpSocket, WitUdp.UdpSocket>,
  Implements<IncomingDatagramStream, WitUdp.IncomingDatagramStream>,
  Implements<OutgoingDatagramStream, WitUdp.OutgoingDatagramStream>,
  Implements<ResolveAddressStream, WitLookup.ResolveAddressStream>,
];
