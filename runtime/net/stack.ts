// A process's network stack: its listeners, connections and ports (its own namespace: two
// processes may both listen on 8080), and the one way input arrives: when the process blocks,
// the machine delivers what happened since, and the stack applies it.
import { Errno, WasiError, check } from '../errno.js';
import type { GuestClock } from '../clock.js';
import { VirtualClock } from '../clock.js';
import type { SocketHandle } from './socket.js';
import { ephemeralPorts, maxBacklog, processAddress, type Delivery, type Endpoint, type NetRequest } from './types.js';

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
  private readonly usedPorts = new Set<number>();
  private nextPort: number = ephemeralPorts.first;
  private nextRequest = 1;
  private stopping = false;

  constructor(readonly pid: number, private readonly host: NetHost, private readonly clock: GuestClock) {
    this.address = processAddress(pid);
  }

  // ---- ports: a per-process counter over the ephemeral range, so allocation is deterministic ----

  /** The next free ephemeral port; EADDRNOTAVAIL when the range is used up. */
  allocatePort(): number {
    const span = ephemeralPorts.last - ephemeralPorts.first + 1;
    for (let i = 0; i < span; i++) {
      const port = this.nextPort;
      this.nextPort = port === ephemeralPorts.last ? ephemeralPorts.first : port + 1;
      if (!this.usedPorts.has(port)) {
        this.usedPorts.add(port);
        return port;
      }
    }
    throw new WasiError(Errno.ADDRNOTAVAIL, 'ephemeral ports exhausted');
  }

  /** Gives back a port allocated by `allocatePort` that was not used (accept that found nothing). */
  returnPort(port: number): void {
    this.usedPorts.delete(port);
    // Rewind when it was the latest allocation, so the next one is the same on every replica
    // however many times accept came back empty-handed.
    const after = port === ephemeralPorts.last ? ephemeralPorts.first : port + 1;
    if (this.nextPort === after) this.nextPort = port;
  }

  claimPort(port: number): void {
    check(!this.usedPorts.has(port), Errno.ADDRINUSE, `port ${port}`);
    this.usedPorts.add(port);
  }

  releasePort(port: number): void {
    this.usedPorts.delete(port);
  }

  get portsInUse(): number { return this.usedPorts.size; }

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

  /** Closes a connection this process never accepted. */
  refuse(conn: number): void {
    this.host.netPost({ kind: 'close', conn });
  }

  close(conn: number): void {
    if (this.conns.delete(conn)) this.host.netPost({ kind: 'close', conn });
  }

  // ---- input ----------------------------------------------------------------------------------

  /** Blocks until the machine delivers something (or the deadline passes), and applies it. */
  wait(deadlineNs: bigint | null = null): void {
    if (this.stopping) throw new WasiError(Errno.NETDOWN, 'the machine is stopping');
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
      }
    }
  }

  get isStopping(): boolean { return this.stopping; }
}

export { maxBacklog };
