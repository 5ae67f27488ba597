// A TCP stream socket on the virtual network: created by sock_open (or accept), then bound,
// listening, connecting or connected. Blocking calls wait for the machine's next delivery.
import { FdFlags, FileType, RiFlags, SdFlags, socketRights, type Filestat } from '../abi.js';
import { Errno, WasiError, check } from '../errno.js';
import { Handle, gatherView, totalLength, type Readiness } from '../handle.js';
import type { NetStack } from './stack.js';
import { SnapshotRequest } from '../snapshot/abi.js';
import { anyIp, isVirtual, loopback, maxBacklog, maxReceiveBufferBytes, sameIp, type Endpoint } from './types.js';

type State = 'open' | 'bound' | 'listening' | 'connecting' | 'connected' | 'closed';

export class SocketHandle extends Handle {
  readonly filetype = FileType.SOCKET_STREAM;
  readonly applicableRights = socketRights;
  state: State = 'open';
  local: Endpoint | undefined;
  peer: Endpoint | undefined;
  private conn: number | undefined;
  private backlog = 0;
  /** Connections that arrived and wait for accept: already sockets, so their data is kept. */
  private readonly pending: SocketHandle[] = [];
  private readonly received: Uint8Array[] = [];
  private receivedBytes = 0;
  private peerEof = false;
  private peerReset = false;
  private writeShut = false;
  private readShut = false;
  /** Bytes sent to an outside client that it has not taken yet (see maxSendBufferBytes). */
  private unacked = 0;
  /** SO_ERROR: the outcome of a non-blocking connect, read once. */
  private pendingError = 0;
  /** A blocking send's progress while it waits for room (kept for a resumed send: NetStack.resuming). */
  private sentBeforeWait = 0;
  readonly options = new Map<number, number>();

  constructor(private readonly stack: NetStack, fdflags = 0) {
    super(socketRights, socketRights);
    this.fdflags = fdflags;
  }

  private get nonBlocking(): boolean { return (this.fdflags & FdFlags.NONBLOCK) !== 0; }

  bind(ip: Endpoint['ip'], port: number): void {
    check(this.state === 'open', Errno.INVAL, 'socket already bound');
    check(sameIp(ip, anyIp) || sameIp(ip, loopback) || sameIp(ip, this.stack.address), Errno.ADDRNOTAVAIL, `address ${ip.join('.')}`);
    if (port === 0) port = this.stack.allocatePort();
    else this.stack.claimPort(port);
    this.local = { ip, port };
    this.state = 'bound';
  }

  listen(backlog: number): void {
    if (this.state === 'open') this.bind(anyIp, 0);
    check(this.state === 'bound' || this.state === 'listening', Errno.INVAL, 'listen on a connected socket');
    this.backlog = Math.max(1, Math.min(backlog > 0 ? backlog : maxBacklog, maxBacklog));
    if (this.state === 'bound') this.stack.listen(this.local!.port, this);
    this.state = 'listening';
  }

  get backlogFull(): boolean { return this.pending.length >= this.backlog; }

  /** A connection arrived at this listener: it becomes a socket at once, and waits for accept. */
  enqueue(conn: number, peer: Endpoint): SocketHandle {
    const socket = new SocketHandle(this.stack);
    socket.state = 'connected';
    socket.local = { ip: this.stack.address, port: this.local!.port };
    socket.peer = peer;
    socket.conn = conn;
    socket.ownsLocalPort = false; // the listener's port stays the listener's
    this.pending.push(socket);
    return socket;
  }

  override sockAccept(fdflags: number): Handle {
    check(this.state === 'listening', Errno.INVAL, 'accept on a socket that is not listening');
    check((fdflags & ~FdFlags.NONBLOCK) === 0, Errno.INVAL, `accept flags ${fdflags}`);
    for (;;) {
      // The connection's NAT port is taken before looking, and given back if nothing is
      // pending, so the port sequence does not depend on how often accept came back empty.
      const natPort = this.stack.allocatePort();
      const next = this.pending.shift();
      if (next) {
        next.fdflags = fdflags;
        next.natPort = natPort;
        return next;
      }
      this.stack.returnPort(natPort);
      if (this.nonBlocking) throw new WasiError(Errno.AGAIN);
      this.stack.wait();
    }
  }

  natPort: number | undefined;
  private ownsLocalPort = true;

  connect(ip: Endpoint['ip'], port: number): void {
    check(port > 0 && port < 65536, Errno.INVAL, `port ${port}`);
    // Resumed after a snapshot taken while it waited: it connected already; wait on.
    if (this.state === 'connecting' && this.stack.resuming) return this.awaitConnected();
    if (this.state === 'connecting') throw new WasiError(Errno.ALREADY);
    if (this.state === 'connected') throw new WasiError(Errno.ISCONN);
    check(this.state === 'open' || this.state === 'bound', Errno.INVAL, 'connect on a listening socket');
    if (this.state === 'open') {
      this.local = { ip: this.stack.address, port: this.stack.allocatePort() };
    }
    // Loopback and 0.0.0.0 mean this process; other machines are not reachable from a guest.
    const target = sameIp(ip, loopback) || sameIp(ip, anyIp) ? this.stack.address : ip;
    check(target[0] === 10 && target[1] === 77, Errno.NETUNREACH, `${ip.join('.')} is outside the virtual network`);
    this.peer = { ip: target, port };
    this.state = 'connecting';
    this.stack.connect({ ip: target, port }, this.local!, this);
    if (this.nonBlocking) throw new WasiError(Errno.INPROGRESS);
    this.awaitConnected();
  }

  private awaitConnected(): void {
    while (this.state === 'connecting') this.stack.wait();
    if (this.state !== 'connected') {
      const errno = this.pendingError;
      this.pendingError = 0;
      throw new WasiError(errno as typeof Errno.CONNREFUSED);
    }
  }

  connected(conn: number, errno: number): void {
    if (errno === 0) {
      this.conn = conn;
      this.state = 'connected';
    } else {
      this.state = 'closed';
      this.pendingError = errno;
    }
  }

  takeError(): number {
    const e = this.pendingError;
    this.pendingError = 0;
    return e;
  }

  /** Whether the gateway waits for this socket's reads before reading more from its client. */
  private get fromClient(): boolean {
    return this.toOutside && this.conn !== undefined;
  }

  /** Whether the peer is outside the machine (a client through the gateway). */
  private get toOutside(): boolean {
    return this.peer !== undefined && !isVirtual(this.peer.ip);
  }

  private consumed(bytes: number): void {
    if (this.fromClient) this.stack.consumed(this.conn!, bytes);
  }

  receive(bytes: Uint8Array): void {
    if (this.readShut) { this.consumed(bytes.length); return; }
    // Past the bound the connection is reset: a guest that never reads cannot grow memory.
    if (this.receivedBytes + bytes.length > maxReceiveBufferBytes) {
      this.peerClosed(true);
      if (this.conn !== undefined) this.stack.close(this.conn);
      return;
    }
    this.received.push(bytes);
    this.receivedBytes += bytes.length;
  }

  peerClosed(reset: boolean): void {
    if (reset) this.peerReset = true;
    else this.peerEof = true;
  }

  /** recv: buffered bytes; 0 at EOF; ECONNRESET; else wait (or EAGAIN). */
  private recvInto(buffers: Uint8Array[], peek: boolean, waitAll: boolean): number {
    if (this.state === 'listening') throw new WasiError(Errno.NOTCONN);
    check(this.state === 'connected' || this.state === 'closed', Errno.NOTCONN);
    const wanted = totalLength(buffers);
    if (wanted === 0) return 0;
    for (;;) {
      const enough = waitAll ? this.receivedBytes >= wanted : this.receivedBytes > 0;
      if (enough || (this.receivedBytes > 0 && (this.peerEof || this.peerReset))) return this.copyOut(buffers, peek);
      if (this.readShut || this.peerEof) return this.copyOut(buffers, peek);
      if (this.peerReset) throw new WasiError(Errno.CONNRESET);
      if (this.state === 'closed') return 0;
      if (this.nonBlocking) throw new WasiError(Errno.AGAIN);
      this.stack.wait();
    }
  }

  private copyOut(buffers: Uint8Array[], peek: boolean): number {
    let copied = 0;
    let chunkIndex = 0;
    let offset = 0;
    for (const buf of buffers) {
      let at = 0;
      while (at < buf.length && chunkIndex < this.received.length) {
        const chunk = this.received[chunkIndex]!;
        const n = Math.min(buf.length - at, chunk.length - offset);
        buf.set(chunk.subarray(offset, offset + n), at);
        at += n;
        offset += n;
        copied += n;
        if (offset === chunk.length) { chunkIndex++; offset = 0; }
      }
    }
    if (!peek) {
      this.received.splice(0, chunkIndex);
      if (offset > 0) this.received[0] = this.received[0]!.subarray(offset);
      this.receivedBytes -= copied;
      this.consumed(copied);
    }
    return copied;
  }

  override read(buffers: Uint8Array[]): number {
    return this.recvInto(buffers, false, false);
  }

  override sockRecv(buffers: Uint8Array[], riflags: number): { bytes: number; roflags: number } {
    check((riflags & ~(RiFlags.PEEK | RiFlags.WAITALL)) === 0, Errno.INVAL, `riflags ${riflags}`);
    return { bytes: this.recvInto(buffers, (riflags & RiFlags.PEEK) !== 0, (riflags & RiFlags.WAITALL) !== 0), roflags: 0 };
  }

  /**
   * The send buffer's bound: connections to outside clients have one when the stack was given
   * one (the machine's clients take bytes at their own pace); connections inside the machine
   * are bounded by the receiver's buffer instead.
   */
  private get sendBuffer(): number | undefined {
    const bound = this.stack.sendBufferBytes;
    return bound !== undefined && this.toOutside ? bound : undefined;
  }

  /** Room left in the send buffer (Infinity when unbounded). */
  private get sendSpace(): number {
    const bound = this.sendBuffer;
    return bound === undefined ? Infinity : Math.max(0, bound - this.unacked);
  }

  /**
   * The client took `bytes` more of what was sent: they leave the send buffer. A machine never
   * acks more than was sent (it clamps); a replayed trace is input, so more is clamped here too.
   */
  acked(bytes: number): void {
    if (this.sendBuffer === undefined) return;
    this.unacked -= Math.min(bytes, this.unacked);
  }

  private checkWritable(): void {
    if (this.state !== 'connected') throw new WasiError(this.state === 'closed' ? Errno.PIPE : Errno.NOTCONN);
    if (this.writeShut || this.peerReset) throw new WasiError(Errno.PIPE);
  }

  /**
   * send: as much as the send buffer has room for. Blocking, it waits for room until all is
   * sent (as a kernel does); non-blocking, it sends what fits, and EAGAIN if nothing does.
   */
  override write(buffers: Uint8Array[]): number {
    // Resumed after a snapshot taken while it waited for room: what it had sent stays sent.
    const resumedSent = this.stack.resuming ? this.sentBeforeWait : 0;
    this.sentBeforeWait = 0;
    if (resumedSent === 0) this.checkWritable();
    // A view of guest memory: the host copies what it keeps (HostEffects.netPost), and the rest is
    // copied before this call waits for room (nothing of the guest's may change under it).
    let bytes = gatherView(buffers);
    let copied = false;
    let sent = resumedSent;
    while (sent < bytes.length) {
      const n = Math.min(bytes.length - sent, this.sendSpace);
      if (n > 0) {
        this.stack.send(this.conn!, sent === 0 && n === bytes.length ? bytes : bytes.subarray(sent, sent + n));
        if (this.sendBuffer !== undefined) this.unacked += n;
        sent += n;
        continue;
      }
      if (this.nonBlocking) break;
      if (!copied) {
        bytes = bytes.slice();
        copied = true;
      }
      try {
        this.sentBeforeWait = sent;
        this.stack.wait();
        this.sentBeforeWait = 0;
        this.checkWritable();
      } catch (err) {
        if (err instanceof SnapshotRequest) throw err; // the send resumes after the snapshot
        if (sent > 0) break; // what was sent counts; the error shows on the next call
        throw err;
      }
    }
    if (sent === 0 && bytes.length > 0) throw new WasiError(Errno.AGAIN);
    return sent;
  }

  override sockSend(buffers: Uint8Array[], siflags: number): number {
    check(siflags === 0, Errno.INVAL, `siflags ${siflags}`);
    return this.write(buffers);
  }

  override sockShutdown(how: number): void {
    check(how >= 1 && how <= 3, Errno.INVAL, `how ${how}`);
    check(this.state === 'connected', Errno.NOTCONN);
    if (how & SdFlags.RD) {
      this.readShut = true;
      this.consumed(this.receivedBytes);
      this.received.length = 0;
      this.receivedBytes = 0;
    }
    if (how & SdFlags.WR && !this.writeShut) {
      this.writeShut = true;
      this.stack.shutdown(this.conn!);
    }
  }

  override pollRead(): Readiness {
    if (this.state === 'listening') return { ready: this.pending.length > 0, nbytes: BigInt(this.pending.length), hangup: false };
    const ended = this.peerEof || this.peerReset || this.state === 'closed';
    return { ready: this.receivedBytes > 0 || ended, nbytes: BigInt(this.receivedBytes), hangup: ended };
  }

  override pollWrite(): Readiness {
    if (this.state === 'connecting') return { ready: false, nbytes: 0n, hangup: false };
    const ended = this.peerReset || this.state === 'closed';
    const space = this.sendSpace;
    const room = this.state === 'connected' && space > 0;
    return { ready: room || ended, nbytes: room && Number.isFinite(space) ? BigInt(space) : 0n, hangup: ended };
  }

  /** A socket waits on the machine (poll_oneoff's way to block on it). */
  override get waitsOnNetwork(): boolean { return true; }

  override stat(): Filestat {
    return { dev: 0n, ino: 0n, filetype: FileType.SOCKET_STREAM, nlink: 1n, size: 0n, atim: 0n, mtim: 0n, ctim: 0n };
  }

  override digestKey(): string {
    return `socket ${this.state} local=${this.local ? `${this.local.ip.join('.')}:${this.local.port}` : '-'} conn=${this.conn ?? '-'} nat=${this.natPort ?? '-'} pending=${this.pending.length} buffered=${this.receivedBytes} eof=${this.peerEof} reset=${this.peerReset}${this.sendBuffer !== undefined ? ` unacked=${this.unacked}` : ''}`;
  }

  override close(): void {
    if (this.state === 'listening' && this.local) {
      this.stack.unlisten(this.local.port);
      for (const p of this.pending) p.close();
      this.pending.length = 0;
    }
    if (this.conn !== undefined) this.stack.close(this.conn, this.fromClient ? this.receivedBytes : 0);
    if (this.local && this.ownsLocalPort && this.state !== 'closed') this.stack.releasePort(this.local.port);
    if (this.natPort !== undefined) this.stack.releasePort(this.natPort);
    this.state = 'closed';
  }
}
