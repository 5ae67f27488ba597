// Real TCP at the edge of a machine: `--listen HOST:PORT=VPORT` accepts client connections on
// the host and turns what clients do into external events for the sequencer; bytes the guests
// send go back out here. The only place a machine touches the host's network.
//
// Flow control, both ways. Bytes a guest sends are acked (an `acked` event in the batches) only
// once the client's socket has taken them from this process (the write's callback), so a guest
// never has more than its send buffer (maxSendBufferBytes) waiting here for a client that does
// not read. Bytes a client sends are read from its socket only while the guest's receive buffer
// (maxReceiveBufferBytes) has room, by the guest's reads (`consumed`): past it the socket is
// paused and the client waits, as a kernel's receive window makes it.
// Half-close: a client's FIN is an `eof` for the guest, and the socket stays open for the
// reply (allowHalfOpen); it ends when the guest closes or shuts down its side.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import type { ClientLinks } from '../net/machine.js';
import type { ExternalEvent } from '../net/sequencer.js';
import { flowReportStepBytes, maxReceiveBufferBytes, type Endpoint } from '../net/types.js';

/** `--listen [udp:]HOST:PORT=VPORT`: a host address whose clients reach virtual port VPORT. */
export interface ListenSpec { host: string; port: number; vport: number; protocol?: 'udp' }

/** A --listen address the host will not give us (in use, not ours). */
export class GatewayError extends Error {}

/** Clients connected at once through one gateway; past it new clients are refused. */
export const maxGatewayClients = 10_000;

function ipv4(address: string | undefined): Endpoint['ip'] {
  const m = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address ?? '');
  return m ? [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])] : [0, 0, 0, 0];
}

export class Gateway implements ClientLinks {
  private readonly servers: Server[] = [];
  private readonly sockets = new Map<number, Socket>();
  /** Per client: bytes passed to the guests and not yet read by them, and what waits for room (its socket paused). */
  private readonly inbound = new Map<number, { unread: number; held: Buffer | undefined; endHeld: boolean }>();
  private readonly udpSockets: UdpSocket[] = [];
  /** UDP flows: each outside peer of a UDP address is a link, as a TCP client is. */
  private readonly flows = new Map<string, number>();
  private readonly flowPeers = new Map<number, { socket: UdpSocket; address: string; port: number }>();
  private nextLink: number;

  /** `firstLink` keeps link ids of gateways on different nodes of one cluster apart. */
  constructor(private readonly specs: ListenSpec[], private readonly sequencer: { push(event: ExternalEvent): void }, firstLink = 1) {
    this.nextLink = firstLink;
  }

  /** Listens on every address; resolves with the ports actually bound (for port 0). */
  async start(): Promise<ListenSpec[]> {
    const bound: ListenSpec[] = [];
    for (const spec of this.specs) {
      if (spec.protocol === 'udp') {
        bound.push(await this.startUdp(spec));
        continue;
      }
      const server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket, spec.vport));
      server.maxConnections = maxGatewayClients;
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) => reject(new GatewayError(`--listen ${spec.host}:${spec.port}: ${err.code === 'EADDRINUSE' ? 'address in use' : err.code ?? err.message}`)));
        server.listen(spec.port, spec.host, () => resolve());
      });
      this.servers.push(server);
      const address = server.address();
      bound.push({ ...spec, port: typeof address === 'object' && address ? address.port : spec.port });
    }
    return bound;
  }

  private async startUdp(spec: ListenSpec): Promise<ListenSpec> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err: NodeJS.ErrnoException) => reject(new GatewayError(`--listen udp:${spec.host}:${spec.port}: ${err.code === 'EADDRINUSE' ? 'address in use' : err.code ?? err.message}`)));
      socket.bind(spec.port, spec.host, () => resolve());
    });
    socket.on('error', () => { /* a send to a vanished peer: UDP loses it */ });
    socket.on('message', (bytes, from) => {
      const key = `${spec.vport}|${from.address}:${from.port}`;
      let link = this.flows.get(key);
      if (link === undefined) {
        if (this.flows.size >= maxGatewayClients) return; // past the bound new peers are ignored
        link = this.nextLink++;
        this.flows.set(key, link);
        this.flowPeers.set(link, { socket, address: from.address, port: from.port });
      }
      this.sequencer.push({ kind: 'datagram', link, port: spec.vport, peer: { ip: ipv4(from.address), port: from.port }, bytes: new Uint8Array(bytes) });
    });
    this.udpSockets.push(socket);
    return { ...spec, port: socket.address().port };
  }

  sendDatagram(link: number, bytes: Uint8Array): void {
    const peer = this.flowPeers.get(link);
    if (!peer) return;
    this.datagramsInFlight++;
    peer.socket.send(bytes, peer.port, peer.address, () => {
      if (--this.datagramsInFlight === 0) this.flushed?.();
    });
  }

  private datagramsInFlight = 0;
  private flushed: (() => void) | undefined;

  private accept(socket: Socket, vport: number): void {
    const link = this.nextLink++;
    this.sockets.set(link, socket);
    let ended = false;
    this.sequencer.push({ kind: 'connect', link, port: vport, peer: { ip: ipv4(socket.remoteAddress), port: socket.remotePort ?? 0 } });
    this.inbound.set(link, { unread: 0, held: undefined, endHeld: false });
    socket.on('data', (chunk: Buffer) => this.pass(link, chunk));
    socket.on('end', () => {
      ended = true;
      // A stream emits 'end' after its last chunk even when paused: the FIN waits for what is held.
      const state = this.inbound.get(link);
      if (state?.held) state.endHeld = true;
      else this.sequencer.push({ kind: 'eof', link });
    });
    socket.on('error', () => { /* 'close' follows */ });
    socket.on('close', () => {
      // Both sides half-closed and everything flushed: a normal end. Any other close is a reset.
      const normal = ended && socket.writableFinished;
      if (this.sockets.delete(link) && !normal) this.sequencer.push({ kind: 'reset', link });
      this.unreportedAcks.delete(link);
      // After a normal end, what is held (and the FIN behind it) still goes to the guest as it reads.
      if (!normal || !this.inbound.get(link)?.endHeld) this.inbound.delete(link);
    });
  }

  /** Passes what fits in the guest's receive buffer on; holds the rest, with the socket paused. */
  private pass(link: number, chunk: Buffer): void {
    const state = this.inbound.get(link);
    if (!state) return;
    if (state.held) { // a chunk that was already on its way when the socket paused
      state.held = Buffer.concat([state.held, chunk]);
      return;
    }
    const room = maxReceiveBufferBytes - state.unread;
    const n = Math.min(room, chunk.length);
    if (n > 0) {
      this.sequencer.push({ kind: 'data', link, bytes: new Uint8Array(chunk.subarray(0, n)) });
      state.unread += n;
    }
    if (n < chunk.length) {
      state.held = chunk.subarray(n);
      this.sockets.get(link)?.pause();
    }
  }

  consumed(link: number, bytes: number): void {
    const state = this.inbound.get(link);
    if (!state) return;
    state.unread = Math.max(0, state.unread - bytes);
    const held = state.held;
    if (!held) return;
    state.held = undefined;
    this.pass(link, held);
    if (state.held) return;
    this.sockets.get(link)?.resume();
    if (state.endHeld) {
      state.endHeld = false;
      this.sequencer.push({ kind: 'eof', link });
      if (!this.sockets.has(link)) this.inbound.delete(link);
    }
  }

  /** Bytes the guests sent that left for the client's socket, not yet reported (see `ack`). */
  private readonly unreportedAcks = new Map<number, number>();
  private acksScheduled = false;

  send(link: number, bytes: Uint8Array): void {
    const s = this.sockets.get(link);
    if (!s || s.destroyed) return;
    const n = bytes.length;
    // The callback runs once the bytes are in the kernel's hands: until then they stay unacked.
    s.write(bytes, (err) => { if (!err) this.ack(link, n); });
  }

  /** Acks go out a step at a time (flowReportStepBytes), gathered over a turn of the event loop. */
  private ack(link: number, bytes: number): void {
    if (!this.sockets.has(link) || bytes === 0) return;
    const unreported = (this.unreportedAcks.get(link) ?? 0) + bytes;
    this.unreportedAcks.set(link, unreported);
    if (unreported < flowReportStepBytes || this.acksScheduled) return;
    this.acksScheduled = true;
    setImmediate(() => {
      this.acksScheduled = false;
      for (const [l, n] of this.unreportedAcks) {
        if (n < flowReportStepBytes) continue;
        this.sequencer.push({ kind: 'acked', link: l, bytes: n });
        this.unreportedAcks.delete(l);
      }
    });
  }

  end(link: number): void {
    this.sockets.get(link)?.end();
  }

  destroy(link: number): void {
    const s = this.sockets.get(link);
    this.sockets.delete(link);
    this.inbound.delete(link);
    if (s) s.end(() => s.destroy());
  }

  reset(link: number): void {
    const s = this.sockets.get(link);
    this.sockets.delete(link);
    this.inbound.delete(link);
    // Closing with the client's bytes unread makes the kernel send the RST (resetAndDestroy
    // cannot once the socket has sent its FIN, and the guest's close usually did that first).
    s?.destroy();
  }

  async close(): Promise<void> {
    for (const s of this.sockets.values()) s.destroy();
    this.sockets.clear();
    // Replies sent just before the machine stopped are still on their way out: let them go (1 s at most).
    if (this.datagramsInFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        this.flushed = () => { clearTimeout(timer); resolve(); };
      });
    }
    for (const u of this.udpSockets) u.close();
    this.udpSockets.length = 0;
    await Promise.all(this.servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
  }
}

const started = process.hrtime.bigint();

/** Real time for a local sequencer: machine time is the host's monotonic time since start. */
export const realMachineClock = {
  now: (): bigint => process.hrtime.bigint() - started,
  wait: (ms: number, wake: () => void): (() => void) => {
    if (ms < 0) return () => {};
    const timer = setTimeout(wake, Math.ceil(ms));
    return () => clearTimeout(timer);
  },
};
