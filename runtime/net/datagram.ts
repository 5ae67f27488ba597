// A UDP socket on the virtual network. Datagrams between processes of one machine go through
// the NAT table like stream bytes; outside the machine a guest can answer only peers that wrote
// to it first (through a `--listen udp:...` gateway), as behind a NAT. Delivery is in the
// machine's batches, so it is deterministic; what UDP may do (lose a datagram: no one bound,
// a full queue) it does the same way on every replica.
import { FdFlags, FileType, RiFlags, RoFlags, SdFlags, socketRights, type Filestat } from '../abi.js';
import { Errno, WasiError, check } from '../errno.js';
import { Handle, gather, scatter, type Readiness } from '../handle.js';
import type { NetStack } from './stack.js';
import { anyIp, loopback, maxDatagramBytes, maxQueuedDatagrams, sameIp, type Endpoint } from './types.js';

interface Datagram { from: Endpoint; bytes: Uint8Array }

export class DatagramSocket extends Handle {
  readonly filetype = FileType.SOCKET_DGRAM;
  readonly applicableRights = socketRights;
  local: Endpoint | undefined;
  peer: Endpoint | undefined;
  readonly options = new Map<number, number>();
  private readonly queue: Datagram[] = [];
  private closed = false;
  private readShut = false;
  private writeShut = false;

  constructor(private readonly stack: NetStack) {
    super(socketRights, socketRights);
  }

  get state(): 'open' | 'bound' | 'connected' | 'closed' {
    return this.closed ? 'closed' : this.peer ? 'connected' : this.local ? 'bound' : 'open';
  }

  bind(ip: Endpoint['ip'], port: number): void {
    check(this.local === undefined, Errno.INVAL, 'socket already bound');
    check(sameIp(ip, anyIp) || sameIp(ip, loopback) || sameIp(ip, this.stack.address), Errno.ADDRNOTAVAIL, `address ${ip.join('.')}`);
    if (port === 0) port = this.stack.udpPorts.allocate();
    else this.stack.udpPorts.claim(port);
    this.local = { ip, port };
    this.stack.bindDatagram(port, this);
  }

  /** Sets the default destination and keeps only its datagrams (UDP connect). */
  connect(ip: Endpoint['ip'], port: number): void {
    check(port > 0 && port < 65536, Errno.INVAL, `port ${port}`);
    if (!this.local) this.bind(anyIp, 0);
    this.peer = { ip, port };
    const keep = this.queue.filter((d) => this.fromPeer(d.from));
    this.queue.splice(0, this.queue.length, ...keep);
  }

  sendTo(buffers: Uint8Array[], to: Endpoint | undefined, siflags: number): number {
    check(siflags === 0, Errno.INVAL, `siflags ${siflags}`);
    if (this.writeShut) throw new WasiError(Errno.PIPE);
    // Sent as addressed: the machine decides whether 127.0.0.1 means this process or an outside peer that wrote from the host's loopback.
    const destination = to ?? this.peer;
    if (!destination) throw new WasiError(Errno.DESTADDRREQ);
    check(destination.port > 0 && destination.port < 65536, Errno.INVAL, `port ${destination.port}`);
    const bytes = gather(buffers);
    const n = bytes.length; // read before sending: the bytes may be transferred to another thread
    check(n <= maxDatagramBytes, Errno.MSGSIZE, `${n} bytes`);
    if (!this.local) this.bind(anyIp, 0);
    this.stack.sendDatagram(this.local!.port, destination, bytes);
    return n;
  }

  /** The next datagram (cut to the buffers, DATA_TRUNCATED if it did not fit), waiting for one. */
  recvFrom(buffers: Uint8Array[], riflags: number): { bytes: number; roflags: number; from: Endpoint | undefined } {
    check((riflags & ~(RiFlags.PEEK | RiFlags.WAITALL)) === 0, Errno.INVAL, `riflags ${riflags}`);
    for (;;) {
      const next = this.queue[0];
      if (next) {
        if ((riflags & RiFlags.PEEK) === 0) this.queue.shift();
        const n = scatter(next.bytes, buffers);
        return { bytes: n, roflags: n < next.bytes.length ? RoFlags.DATA_TRUNCATED : 0, from: next.from };
      }
      if (this.readShut) return { bytes: 0, roflags: 0, from: undefined };
      if (this.fdflags & FdFlags.NONBLOCK) throw new WasiError(Errno.AGAIN);
      this.stack.wait();
    }
  }

  /** A datagram for this socket's port (dropped when the queue is full, or not from the connected peer). */
  deliver(from: Endpoint, bytes: Uint8Array): void {
    if (this.closed || this.readShut || !this.fromPeer(from) || this.queue.length >= maxQueuedDatagrams) return;
    this.queue.push({ from, bytes });
  }

  override read(buffers: Uint8Array[]): number { return this.recvFrom(buffers, 0).bytes; }
  override write(buffers: Uint8Array[]): number { return this.sendTo(buffers, undefined, 0); }
  override sockRecv(buffers: Uint8Array[], riflags: number): { bytes: number; roflags: number } {
    const { bytes, roflags } = this.recvFrom(buffers, riflags);
    return { bytes, roflags };
  }
  override sockSend(buffers: Uint8Array[], siflags: number): number { return this.sendTo(buffers, undefined, siflags); }
  override sockAccept(): Handle { throw new WasiError(Errno.NOTSUP, 'accept on a UDP socket'); }

  override sockShutdown(how: number): void {
    check(how >= 1 && how <= 3, Errno.INVAL, `how ${how}`);
    check(this.peer !== undefined, Errno.NOTCONN);
    if (how & SdFlags.RD) { this.readShut = true; this.queue.length = 0; }
    if (how & SdFlags.WR) this.writeShut = true;
  }

  override pollRead(): Readiness {
    const next = this.queue[0];
    return { ready: next !== undefined || this.readShut, nbytes: BigInt(next?.bytes.length ?? 0), hangup: false };
  }

  override pollWrite(): Readiness { return { ready: true, nbytes: BigInt(maxDatagramBytes), hangup: false }; }
  override get waitsOnNetwork(): boolean { return true; }

  override stat(): Filestat {
    return { dev: 0n, ino: 0n, filetype: FileType.SOCKET_DGRAM, nlink: 1n, size: 0n, atim: 0n, mtim: 0n, ctim: 0n };
  }

  override digestKey(): string {
    const at = (e: Endpoint | undefined) => (e ? `${e.ip.join('.')}:${e.port}` : '-');
    return `udp ${this.state} local=${at(this.local)} peer=${at(this.peer)} queued=${this.queue.length} shut=${this.readShut}/${this.writeShut}`;
  }

  override close(): void {
    if (this.local && !this.closed) {
      this.stack.unbindDatagram(this.local.port);
      this.stack.udpPorts.release(this.local.port);
    }
    this.queue.length = 0;
    this.closed = true;
  }

  /** With a connected peer, only its datagrams (a peer at 127.0.0.1 may be this process itself). */
  private fromPeer(from: Endpoint): boolean {
    if (!this.peer || from.port !== this.peer.port) return !this.peer;
    const local = sameIp(this.peer.ip, loopback) || sameIp(this.peer.ip, anyIp);
    return sameIp(from.ip, this.peer.ip) || (local && sameIp(from.ip, this.stack.address));
  }
}
