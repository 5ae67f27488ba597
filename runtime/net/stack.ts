// A process's network stack: its listeners, connections and ports (its own namespace: two
// processes may both listen on 8080), and the one way input arrives: when the process blocks,
// the machine delivers what happened since, and the stack applies it.
import { Errno, WasiError, check } from '../errno.js';
import type { GuestClock } from '../clock.js';
import { VirtualClock } from '../clock.js';
import type { SocketHandle } from './socket.js';
import type { DatagramSocket } from './datagram.js';
import { MachineStdin } from './stdin.js';
import { ephemeralPorts, flowReportStepBytes, maxBacklog, processAddress, type Delivery, type Endpoint, type NetRequest } from './types.js';

/** One port space (TCP and UDP each have their own, as on Linux): a counter over the ephemeral range. */
export class PortSpace {
  private readonly used = new Set<number>();
  private next: number = ephemeralPorts.first;

  /** The next free ephemeral port; EADDRNOTAVAIL when the range is used up. */
  allocate(): number {
    const span = ephemeralPorts.last - ephemeralPorts.first + 1;
    for (let i = 0; i < span; i++) {
      const port = this.next;
      this.next = port === ephemeralPorts.last ? ephemeralPorts.first : port + 1;
      if (!this.used.has(port)) {
        this.used.add(port);
        return port;
      }
    }
    throw new WasiError(Errno.ADDRNOTAVAIL, 'ephemeral ports exhausted');
  }

  /** Gives back an allocation that was not used (accept that found nothing). */
  giveBack(port: number): void {
    this.used.delete(port);
    // Rewind when it was the latest allocation, so the next one is the same on every replica
    // however many times accept came back empty-handed.
    const after = port === ephemeralPorts.last ? ephemeralPorts.first : port + 1;
    if (this.next === after) this.next = port;
  }

  claim(port: number): void {
    check(!this.used.has(port), Errno.ADDRINUSE, `port ${port}`);
    this.used.add(port);
  }

  release(port: number): void { this.used.delete(port); }

  get size(): number { return this.used.size; }
}

/** What the stack needs from the host effects. */
export interface NetHost {
  netPost(request: NetRequest): void;
  /** Blocks until the machine has something for this process (or `deadlineNs` passes). */
  netAwait(deadlineNs: bigint | null): Delivery;
}

export class NetStack {
  readonly address: Endpoint['ip'];
  private readonly listeners = new Map<number, SocketHandle>();
  private readonly conns = new Map<number, SocketHandle>();
  private readonly connecting = new Map<number, SocketHandle>();
  private readonly datagramPorts = new Map<number, DatagramSocket>();
  /** The machine's stdin, for the process it goes to (see MachineStdin). */
  readonly stdin = new MachineStdin(this);
  private nextRequest = 1;
  private stopping = false;
  /**
   * The call now running is one a snapshot was taken inside (a replica's machine asked while it
   * was blocked) and runs again: blocking calls pick up where they were instead of starting over.
   */
  resuming = false;
  /** poll_oneoff's deadlines while it waits (fixed at its start: a resumed poll keeps them). */
  pollDeadlines: unknown;

  /**
   * `sendBufferBytes`: the send buffer of connections to outside clients (see
   * maxSendBufferBytes); undefined: unbounded, as traces written before the bound replay.
   */
  constructor(readonly pid: number, private readonly host: NetHost, private readonly clock: GuestClock, readonly sendBufferBytes?: number) {
    this.address = processAddress(pid);
  }

  // ---- ports: a per-process counter over the ephemeral range, so allocation is deterministic ----

  private readonly tcpPorts = new PortSpace();
  readonly udpPorts = new PortSpace();

  /** The next free ephemeral TCP port; EADDRNOTAVAIL when the range is used up. */
  allocatePort(): number { return this.tcpPorts.allocate(); }
  /** Gives back a port allocated by `allocatePort` that was not used (accept that found nothing). */
  returnPort(port: number): void { this.tcpPorts.giveBack(port); }
  claimPort(port: number): void { this.tcpPorts.claim(port); }
  releasePort(port: number): void { this.tcpPorts.release(port); }
  get portsInUse(): number { return this.tcpPorts.size; }

  // ---- registration -------------------------------------------------------------------------

  listen(port: number, socket: SocketHandle): void {
    this.listeners.set(port, socket);
    this.host.netPost({ kind: 'listen', port });
  }

  unlisten(port: number): void {
    if (this.listeners.delete(port)) this.host.netPost({ kind: 'unlisten', port });
  }

  /** Starts a connect; the answer arrives as a `connected` event. Returns the request id. */
  connect(to: Endpoint, from: Endpoint, socket: SocketHandle): number {
    const request = this.nextRequest++;
    this.connecting.set(request, socket);
    this.host.netPost({ kind: 'connect', request, to, from });
    return request;
  }

  adopt(conn: number, socket: SocketHandle): void {
    this.conns.set(conn, socket);
  }

  send(conn: number, bytes: Uint8Array): void {
    this.host.netPost({ kind: 'send', conn, bytes });
  }

  shutdown(conn: number): void {
    this.host.netPost({ kind: 'shutdown', conn });
  }

  /** Bytes read from outside clients' connections since the process last blocked (see `consumed` requests). */
  private readonly unreportedConsumed = new Map<number, number>();

  consumed(conn: number, bytes: number): void {
    if (bytes > 0) this.unreportedConsumed.set(conn, (this.unreportedConsumed.get(conn) ?? 0) + bytes);
  }

  /** Closes a connection this process never accepted. */
  refuse(conn: number): void {
    this.host.netPost({ kind: 'close', conn });
  }

  /**
   * Closes a connection; `unreadBytes` it held are as good as read (so a gateway paused on a
   * client reads on, and sees the client's next bytes meet a closed socket).
   */
  close(conn: number, unreadBytes = 0): void {
    const unreported = (this.unreportedConsumed.get(conn) ?? 0) + unreadBytes;
    this.unreportedConsumed.delete(conn);
    if (!this.conns.has(conn)) return;
    if (unreported > 0) this.host.netPost({ kind: 'consumed', conn, bytes: unreported });
    this.conns.delete(conn);
    this.host.netPost({ kind: 'close', conn });
  }

  bindDatagram(port: number, socket: DatagramSocket): void {
    this.datagramPorts.set(port, socket);
    this.host.netPost({ kind: 'udp-bind', port });
  }

  unbindDatagram(port: number): void {
    if (this.datagramPorts.delete(port)) this.host.netPost({ kind: 'udp-unbind', port });
  }

  sendDatagram(from: number, to: Endpoint, bytes: Uint8Array): void {
    this.host.netPost({ kind: 'datagram', from, to, bytes });
  }

  wantStdin(): void {
    this.host.netPost({ kind: 'stdin-want' });
  }

  // ---- input ----------------------------------------------------------------------------------

  /** Blocks until the machine delivers something (or the deadline passes), and applies it. */
  wait(deadlineNs: bigint | null = null): void {
    if (this.stopping) throw new WasiError(Errno.NETDOWN, 'the machine is stopping');
    // What was read goes out as the process blocks, a step at a time: the gateway may then read more.
    for (const [conn, bytes] of this.unreportedConsumed) {
      if (bytes < flowReportStepBytes) continue;
      this.host.netPost({ kind: 'consumed', conn, bytes });
      this.unreportedConsumed.delete(conn);
    }
    this.apply(this.host.netAwait(deadlineNs));
  }

  apply(delivery: Delivery): void {
    if (delivery.stopping) this.stopping = true;
    if (this.clock instanceof VirtualClock) this.clock.advanceTo(delivery.timeNs);
    for (const event of delivery.events) {
      switch (event.kind) {
        case 'incoming': {
          const listener = this.listeners.get(event.port);
          if (!listener || listener.backlogFull) this.refuse(event.conn);
          else this.conns.set(event.conn, listener.enqueue(event.conn, event.peer));
          break;
        }
        case 'connected': {
          const socket = this.connecting.get(event.request);
          this.connecting.delete(event.request);
          if (socket) {
            if (event.errno === 0) this.conns.set(event.conn, socket);
            socket.connected(event.conn, event.errno);
          } else if (event.errno === 0) {
            this.host.netPost({ kind: 'close', conn: event.conn }); // the socket was closed meanwhile
          }
          break;
        }
        case 'data': this.conns.get(event.conn)?.receive(event.bytes); break;
        case 'eof': this.conns.get(event.conn)?.peerClosed(false); break;
        case 'reset': this.conns.get(event.conn)?.peerClosed(true); break;
        case 'acked': this.conns.get(event.conn)?.acked(event.bytes); break;
        case 'datagram': this.datagramPorts.get(event.port)?.deliver(event.from, event.bytes); break;
        case 'stdin': this.stdin.receive(event.bytes); break;
        case 'stdin-eof': this.stdin.receiveEof(); break;
      }
    }
  }

  get isStopping(): boolean { return this.stopping; }
}

export { maxBacklog };
