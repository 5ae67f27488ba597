// Real TCP at the edge of a machine: `--listen HOST:PORT=VPORT` accepts client connections on
// the host and turns what clients do into external events for the sequencer; bytes the guests
// send go back out here. The only place a machine touches the host's network.
import { createServer, type Server, type Socket } from 'node:net';
import type { ClientLinks } from '../net/machine.js';
import type { ExternalEvent } from '../net/sequencer.js';
import type { Endpoint } from '../net/types.js';

export interface ListenSpec { host: string; port: number; vport: number }

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
  private nextLink: number;

  /** `firstLink` keeps link ids of gateways on different nodes of one cluster apart. */
  constructor(private readonly specs: ListenSpec[], private readonly sequencer: { push(event: ExternalEvent): void }, firstLink = 1) {
    this.nextLink = firstLink;
  }

  /** Listens on every address; resolves with the ports actually bound (for port 0). */
  async start(): Promise<ListenSpec[]> {
    const bound: ListenSpec[] = [];
    for (const spec of this.specs) {
      const server = createServer({ noDelay: true }, (socket) => this.accept(socket, spec.vport));
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

  private accept(socket: Socket, vport: number): void {
    const link = this.nextLink++;
    this.sockets.set(link, socket);
    let ended = false;
    this.sequencer.push({ kind: 'connect', link, port: vport, peer: { ip: ipv4(socket.remoteAddress), port: socket.remotePort ?? 0 } });
    socket.on('data', (chunk: Buffer) => this.sequencer.push({ kind: 'data', link, bytes: new Uint8Array(chunk) }));
    socket.on('end', () => { ended = true; this.sequencer.push({ kind: 'eof', link }); });
    socket.on('error', () => { /* 'close' follows */ });
    socket.on('close', () => {
      if (this.sockets.delete(link) && !ended) this.sequencer.push({ kind: 'reset', link });
    });
  }

  send(link: number, bytes: Uint8Array): void {
    const s = this.sockets.get(link);
    if (s && !s.destroyed) s.write(bytes);
  }

  end(link: number): void {
    this.sockets.get(link)?.end();
  }

  destroy(link: number): void {
    const s = this.sockets.get(link);
    this.sockets.delete(link);
    if (s) s.end(() => s.destroy());
  }

  async close(): Promise<void> {
    for (const s of this.sockets.values()) s.destroy();
    this.sockets.clear();
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
