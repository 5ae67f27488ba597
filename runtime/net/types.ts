// The messages between a guest process's network stack (in its worker) and the machine that
// routes its connections (the main thread). Plain data: they cross threads and go into traces.

/** An IPv4 address and port. Guests live on a virtual network: process `pid` is 10.77.0.pid. */
export interface Endpoint { ip: [number, number, number, number]; port: number }

/** What the machine hands a blocked process: everything that happened to it, and the time. */
export interface Delivery {
  /** Machine time (virtual monotonic ns); the process's clock moves up to it. */
  timeNs: bigint;
  events: NetEvent[];
  /** The machine is stopping: blocked network calls fail (ENETDOWN) instead of waiting. */
  stopping?: boolean;
  /**
   * Not a delivery: the machine asks the blocked process for a snapshot (runtime/snapshot/): it
   * is taken inside the blocked call, which then runs again, resumed, and blocks again.
   */
  snapshot?: true;
  /**
   * Not guest-visible: the OS scheduling nice value the process's worker thread takes from now on
   * (a cluster runs the replicas that do not answer clients below the one that does).
   */
  niceness?: number;
}

export type NetEvent =
  /** A connection arrived at this process's listener on `port`. */
  | { kind: 'incoming'; conn: number; port: number; peer: Endpoint }
  /** The outcome of this process's connect request `request`. */
  | { kind: 'connected'; request: number; conn: number; errno: number }
  | { kind: 'data'; conn: number; bytes: Uint8Array }
  /** The peer will send nothing more (FIN). */
  | { kind: 'eof'; conn: number }
  /** The peer is gone (closed with data unread, or the client vanished). */
  | { kind: 'reset'; conn: number }
  /**
   * An outside client has taken `bytes` more of what this process sent on `conn` (they left the
   * host for the client's socket): as many bytes of the connection's send buffer are free again.
   */
  | { kind: 'acked'; conn: number; bytes: number }
  /** A UDP datagram for this process's port `port`, from `from`. */
  | { kind: 'datagram'; port: number; from: Endpoint; bytes: Uint8Array }
  /** The next piece of the machine's stdin (the stdin process only), or its end. */
  | { kind: 'stdin'; bytes: Uint8Array }
  | { kind: 'stdin-eof' };

/** From a process to its machine, in the order the process made them. */
export type NetRequest =
  | { kind: 'listen'; port: number }
  | { kind: 'unlisten'; port: number }
  | { kind: 'connect'; request: number; to: Endpoint; from: Endpoint }
  | { kind: 'send'; conn: number; bytes: Uint8Array }
  | { kind: 'shutdown'; conn: number }
  | { kind: 'close'; conn: number }
  /**
   * The process has read `bytes` more of what an outside client sent on `conn`: flow control
   * for the gateway, which reads no more from a client than the guest's receive buffer holds.
   * Nothing the process observes depends on it (it only paces the client's next input).
   */
  | { kind: 'consumed'; conn: number; bytes: number }
  /** UDP: the process bound / let go of a datagram port (its own namespace, apart from TCP's). */
  | { kind: 'udp-bind'; port: number }
  | { kind: 'udp-unbind'; port: number }
  | { kind: 'datagram'; from: number; to: Endpoint; bytes: Uint8Array }
  /** The stdin process wants the next piece of stdin (one piece per request: flow control). */
  | { kind: 'stdin-want' };

export const loopback: Endpoint['ip'] = [127, 0, 0, 1];

export function processAddress(pid: number): Endpoint['ip'] {
  return [10, 77, (pid >> 8) & 0xff, pid & 0xff];
}

/** Ephemeral ports a process allocates from, in order (Linux's default range). */
export const ephemeralPorts = { first: 32768, last: 60999 } as const;

/** Bounds: pending connections per listener, bytes buffered unread per connection. */
export const maxBacklog = 1024;
export const maxReceiveBufferBytes = 4 * 1024 * 1024;
/**
 * Bytes a process may have sent to an outside client and not yet seen `acked` (a kernel's send
 * buffer): past it a blocking send waits and a non-blocking one gets EAGAIN. Recorded in trace
 * headers (`sendBufferBytes`), so replay applies the bound the run had.
 */
export const maxSendBufferBytes = 4 * 1024 * 1024;
/**
 * Flow control is reported in steps of this many bytes (acks by the gateway, reads by a guest),
 * so small exchanges cost nothing. Deadlock-free while a step is below each buffer: with a full
 * buffer at one end, at least a buffer less one step is pending at the other, so a step comes.
 */
export const flowReportStepBytes = 256 * 1024;
if (!(flowReportStepBytes < maxSendBufferBytes && flowReportStepBytes < maxReceiveBufferBytes)) {
  throw new Error('bug: a flow control step must be smaller than the buffers it frees');
}
/** UDP bounds: the largest datagram (IPv4's), and datagrams queued unread per socket (more are dropped, as UDP does). */
export const maxDatagramBytes = 65507;
export const maxQueuedDatagrams = 1024;

export const sameIp = (a: Endpoint['ip'], b: Endpoint['ip']): boolean => a.every((v, i) => v === b[i]);
export const anyIp: Endpoint['ip'] = [0, 0, 0, 0];
export const isVirtual = (ip: Endpoint['ip']): boolean => ip[0] === 10 && ip[1] === 77;
