// One machine: several guest processes, each with its own network namespace, joined by a NAT
// table that routes every connection and byte. Processes run in parallel between rounds and
// interact only at round boundaries, in (pid, sequence) order, so everything they observe is a
// function of the external batches alone:
//   1. every live process runs until it blocks on the network (or exits);
//   2. the machine routes what they asked for (listen, connect, send, close) in pid order, then
//      the next external batch if no process has anything to receive;
//   3. processes with input (or whose deadline passed) are woken with their delivery.
import assert from 'node:assert/strict';
import { deserialize, serialize } from 'node:v8';
import type { TakenSnapshot } from '../snapshot/driver.js';
import { Errno } from '../errno.js';
import type { GuestOutcome } from '../run.js';
import type { GuestProcess } from '../spawn.js';
import type { ExternalEvent, Sequencer } from './sequencer.js';
import { anyIp, isVirtual, loopback, maxSendBufferBytes, processAddress, sameIp, type Delivery, type Endpoint, type NetEvent, type NetRequest } from './types.js';

/** The gateway's side of client connections: where bytes for clients go. */
export interface ClientLinks {
  send(link: number, bytes: Uint8Array): void;
  /** The guest will send nothing more (FIN). */
  end(link: number): void;
  /** The connection is gone (the guest closed it, or nobody listens). */
  destroy(link: number): void;
  /** The connection is aborted, as a kernel's RST: bytes not yet sent are dropped (the client sent to a closed socket). */
  reset(link: number): void;
  /** Flow control: the guest read `bytes` more of what the client sent (nothing a guest sees depends on it). */
  consumed(link: number, bytes: number): void;
  /** A UDP datagram for the client peer of flow `link` (a peer that sent to us first). */
  sendDatagram(link: number, bytes: Uint8Array): void;
}

/** The process that reads the machine's stdin (the first one, as a shell's foreground job). */
export const stdinPid = 1;

type End = { kind: 'process'; pid: number } | { kind: 'client'; link: number };

interface Connection {
  ends: [End, End];
  /** Each end still holds the connection (a process has not closed it; a client's socket is up). */
  open: [boolean, boolean];
  /** Each end has half-closed (FIN): it sends nothing more, but may still receive. */
  finished: [boolean, boolean];
  /** A client connection: bytes its process sent that the client has not acked yet. */
  unacked: number;
}

interface ProcessState {
  pid: number;
  guest: GuestProcess | undefined;
  state: 'running' | 'blocked' | 'exited';
  deadline: bigint | null;
  inbox: NetEvent[];
  /**
   * Bytes clients acked per connection, not yet delivered: they go with the process's next
   * delivery, and wake it on their own only when its send buffer is full (it may be waiting).
   */
  acks: Map<number, number>;
  sent: number;
  /** The process's rolling syscall hash when it last blocked (0 if it keeps none). */
  hash: number;
  exitCode: number | null;
}

/** A machine's state between rounds (Machine.captureState). */
interface MachineState {
  processes: Omit<ProcessState, 'guest'>[];
  listeners: Set<string>; connections: Map<number, Connection>; linkToConn: Map<number, number>; datagramPorts: Set<string>;
  flows: Map<string, { link: number; pid: number }>; stdinWants: number; pending: { pid: number; seq: number; request: NetRequest }[];
  nextConn: number; time: bigint; stats: MachineStats;
}

/** Bounds: connections alive at once on a machine. */
export const maxMachineConnections = 65536;

export interface MachineStats { rounds: number; batches: number; connections: number }

export class Machine {
  private readonly processes = new Map<number, ProcessState>();
  private readonly listeners = new Set<string>();
  private readonly connections = new Map<number, Connection>();
  private readonly linkToConn = new Map<number, number>();
  /** UDP ports bound, as `pid:port`. */
  private readonly datagramPorts = new Set<string>();
  /**
   * UDP flows: outside peers that sent a datagram to a guest port, keyed `port|ip:port`. As
   * through a NAT, a guest can answer them and no one else outside.
   */
  private readonly flows = new Map<string, { link: number; pid: number }>();
  private stdinWants = 0;
  private pending: { pid: number; seq: number; request: NetRequest }[] = [];
  private nextConn = 1;
  private time = 0n;
  private advancing = false;
  private stopped = false;
  readonly stats: MachineStats = { rounds: 0, batches: 0, connections: 0 };

  constructor(private readonly sequencer: Sequencer, private readonly clients: ClientLinks) {}

  /** Hooks for a process's network stack; give them to startGuest, then `attach` the process. */
  hooksFor(pid: number) {
    this.processes.set(pid, { pid, guest: undefined, state: 'running', deadline: null, inbox: [], acks: new Map(), sent: 0, hash: 0, exitCode: null });
    return {
      onRequest: (request: NetRequest) => this.onRequest(pid, request),
      onWait: (deadlineNs: bigint | null, stateHash?: number) => this.onWait(pid, deadlineNs, stateHash),
      onSnapshot: (snapshot: TakenSnapshot) => this.onSnapshot(pid, snapshot),
    };
  }

  // ---- snapshots (a replica's catch-up: consensus/cluster.ts) -------------------------------

  /** Snapshots asked of blocked processes and not yet all back: per pid, the snapshot and whether it blocked again. */
  private snapshotting = new Map<number, { snapshot?: TakenSnapshot; blockedAgain: boolean; done: () => void }>();

  /**
   * At a batch boundary (every live process blocked, nothing to route): asks each process for a
   * snapshot inside the call it is blocked in (it takes it, runs the call again, resumed, and
   * blocks again). Undefined when a process has exited (its snapshot could not be restored).
   */
  async snapshotProcesses(): Promise<Map<number, TakenSnapshot> | undefined> {
    const all = [...this.processes.values()].sort((a, b) => a.pid - b.pid);
    if (all.some((p) => p.state !== 'blocked') || this.pending.length > 0 || this.stopped) return undefined;
    await Promise.all(all.map((p) => new Promise<void>((done) => {
      this.snapshotting.set(p.pid, { blockedAgain: false, done });
      p.state = 'running';
      p.guest!.deliver({ timeNs: this.time, events: [], snapshot: true });
    })));
    const taken = new Map<number, TakenSnapshot>();
    for (const [pid, s] of this.snapshotting) taken.set(pid, s.snapshot!);
    this.snapshotting.clear();
    return taken;
  }

  private onSnapshot(pid: number, snapshot: TakenSnapshot): void {
    const s = this.snapshotting.get(pid);
    if (!s) return;
    s.snapshot = snapshot;
    if (s.blockedAgain) s.done();
  }

  /** Everything the machine holds between rounds, as bytes (processes are restored from their own snapshots). */
  captureState(): Uint8Array {
    const state: MachineState = {
      processes: [...this.processes.values()].map(({ guest: _guest, ...rest }) => rest),
      listeners: this.listeners, connections: this.connections, linkToConn: this.linkToConn, datagramPorts: this.datagramPorts, flows: this.flows,
      stdinWants: this.stdinWants, pending: this.pending, nextConn: this.nextConn, time: this.time, stats: this.stats,
    };
    return new Uint8Array(serialize(state));
  }

  /**
   * Puts a machine's state back (before any process of this machine has blocked): its processes
   * resume from their snapshots, each inside the call it was blocked in, and block again.
   */
  restoreState(bytes: Uint8Array): void {
    const state = deserialize(bytes) as MachineState;
    for (const saved of state.processes) {
      const p = this.processes.get(saved.pid);
      assert(p !== undefined, `a snapshot names process ${saved.pid}, which this machine does not have`);
      Object.assign(p, saved, { state: 'running', deadline: null });
    }
    const self = this as unknown as Record<string, unknown>;
    for (const key of ['listeners', 'connections', 'linkToConn', 'datagramPorts', 'flows'] as const) {
      const live = self[key] as Map<unknown, unknown> | Set<unknown>;
      live.clear();
      if (live instanceof Map) for (const [k, v] of state[key] as Map<unknown, unknown>) live.set(k, v);
      else for (const v of state[key] as Set<unknown>) live.add(v);
    }
    this.stdinWants = state.stdinWants;
    this.pending = state.pending;
    this.nextConn = state.nextConn;
    this.time = state.time;
    Object.assign(this.stats, state.stats);
  }

  attach(pid: number, guest: GuestProcess): Promise<GuestOutcome> {
    const p = this.processes.get(pid)!;
    p.guest = guest;
    return guest.outcome.then((outcome) => { p.exitCode = outcome.exitCode; return outcome; }).finally(() => this.onExit(pid));
  }

  /** The OS nice value of every process's worker thread, from each one's next delivery on (not guest-visible). */
  setNiceness(niceness: number): void {
    for (const p of this.processes.values()) p.guest?.setNiceness(niceness);
  }

  /**
   * A summary of every process's history at a batch boundary (all of them are blocked or gone):
   * their rolling syscall hashes and exit codes, in pid order.
   */
  stateHash(): number {
    let h = 0x811c9dc5;
    for (const p of [...this.processes.values()].sort((a, b) => a.pid - b.pid)) {
      h = Math.imul(h ^ p.pid, 0x01000193);
      h = Math.imul(h ^ p.hash, 0x01000193);
      h = Math.imul(h ^ (p.exitCode ?? -1), 0x01000193);
    }
    return h >>> 0;
  }

  /** Ctrl-C: blocked processes are told the network is going away. */
  stop(): void {
    this.stopped = true;
    for (const p of this.processes.values()) {
      if (p.state === 'blocked') this.wake(p, { timeNs: this.time, events: [], stopping: true });
    }
  }

  private onRequest(pid: number, request: NetRequest): void {
    const p = this.processes.get(pid)!;
    this.pending.push({ pid, seq: p.sent++, request });
  }

  private onWait(pid: number, deadlineNs: bigint | null, stateHash?: number): void {
    const p = this.processes.get(pid)!;
    if (stateHash !== undefined) p.hash = stateHash;
    if (this.stopped) return this.wake(p, { timeNs: this.time, events: [], stopping: true });
    p.state = 'blocked';
    p.deadline = deadlineNs;
    const snapshotting = this.snapshotting.get(pid);
    if (snapshotting) {
      snapshotting.blockedAgain = true;
      if (snapshotting.snapshot) snapshotting.done();
      return;
    }
    void this.advance();
  }

  private onExit(pid: number): void {
    const p = this.processes.get(pid)!;
    p.state = 'exited';
    // Its connections end as if it had closed them; its listeners go away.
    for (const [conn, c] of this.connections) {
      const side = c.ends.findIndex((e) => e.kind === 'process' && e.pid === pid);
      if (side >= 0 && c.open[side]) this.pending.push({ pid, seq: p.sent++, request: { kind: 'close', conn } });
    }
    for (const key of [...this.listeners]) if (key.startsWith(`${pid}:`)) this.listeners.delete(key);
    // Its UDP ports go too, after what it sent before exiting has been routed.
    for (const key of this.datagramPorts) {
      if (key.startsWith(`${pid}:`)) this.pending.push({ pid, seq: p.sent++, request: { kind: 'udp-unbind', port: Number(key.slice(key.indexOf(':') + 1)) } });
    }
    void this.advance();
  }

  /** Runs rounds while every live process is blocked. */
  private async advance(): Promise<void> {
    if (this.advancing) return;
    this.advancing = true;
    try {
      for (;;) {
        const live = [...this.processes.values()].filter((p) => p.state !== 'exited');
        if (live.some((p) => p.state === 'running')) return;
        this.stats.rounds++;
        this.route();
        if (live.length === 0) return;
        if (this.wakeReady()) return;
        const deadlines = live.map((p) => p.deadline).filter((d): d is bigint => d !== null);
        const earliest = deadlines.length ? deadlines.reduce((a, b) => (a < b ? a : b)) : null;
        const batch = this.stopped ? undefined : await this.sequencer.next(earliest);
        if (!batch) {
          this.stop();
          return;
        }
        this.stats.batches++;
        if (batch.timeNs > this.time) this.time = batch.timeNs;
        for (const event of batch.events) this.applyExternal(event);
        if (this.wakeReady()) return;
      }
    } finally {
      this.advancing = false;
    }
  }

  /** Wakes, in pid order, every blocked process with input or an expired deadline. */
  private wakeReady(): boolean {
    let woke = false;
    for (const p of [...this.processes.values()].sort((a, b) => a.pid - b.pid)) {
      if (p.state !== 'blocked') continue;
      const due = p.deadline !== null && p.deadline <= this.time;
      if (p.inbox.length === 0 && !due && !this.mayWaitForAcks(p)) continue;
      const events = p.inbox;
      p.inbox = [];
      for (const [conn, bytes] of p.acks) events.push({ kind: 'acked', conn, bytes });
      p.acks.clear();
      this.wake(p, { timeNs: this.time, events });
      woke = true;
    }
    return woke;
  }

  /**
   * Whether a process may be blocked on a full send buffer that acks waiting for it would free:
   * its socket holds the bytes not yet acked plus those acked but not yet delivered.
   */
  private mayWaitForAcks(p: ProcessState): boolean {
    for (const conn of p.acks.keys()) {
      const c = this.connections.get(conn);
      assert(c !== undefined, `acks pending for forgotten conn ${conn}`);
      if (c.unacked + p.acks.get(conn)! >= maxSendBufferBytes) return true;
    }
    return false;
  }

  private wake(p: ProcessState, delivery: Delivery): void {
    p.state = 'running';
    p.deadline = null;
    p.guest?.deliver(delivery);
  }

  // ---- the NAT table -------------------------------------------------------------------------

  /** What processes asked for during the round, in (pid, sequence) order. */
  private route(): void {
    const requests = this.pending.sort((a, b) => a.pid - b.pid || a.seq - b.seq);
    this.pending = [];
    for (const { pid, request } of requests) {
      switch (request.kind) {
        case 'listen': this.listeners.add(`${pid}:${request.port}`); break;
        case 'unlisten': this.listeners.delete(`${pid}:${request.port}`); break;
        case 'connect': this.connectInternal(pid, request); break;
        case 'send': this.toPeer(pid, request.conn, (end, c) => {
          if (end.kind === 'process') return this.inbox(end.pid).push({ kind: 'data', conn: request.conn, bytes: request.bytes });
          c.unacked += request.bytes.length;
          this.clients.send(end.link, request.bytes);
        }); break;
        case 'shutdown': this.toPeer(pid, request.conn, (end, c) => {
          c.finished[this.sideOf(pid, c)] = true;
          if (end.kind === 'process') this.inbox(end.pid).push({ kind: 'eof', conn: request.conn });
          else this.clients.end(end.link);
        }); break;
        case 'close': this.closeSide(pid, request.conn); break;
        case 'consumed': this.toPeer(pid, request.conn, (end) => { if (end.kind === 'client') this.clients.consumed(end.link, request.bytes); }); break;
        case 'udp-bind': this.datagramPorts.add(`${pid}:${request.port}`); break;
        case 'udp-unbind': this.unbindDatagram(pid, request.port); break;
        case 'datagram': this.routeDatagram(pid, request); break;
        case 'stdin-want': if (pid === stdinPid) this.sequencer.wantStdin?.(++this.stdinWants); break;
      }
    }
  }

  private unbindDatagram(pid: number, port: number): void {
    this.datagramPorts.delete(`${pid}:${port}`);
    for (const [key, flow] of this.flows) if (flow.pid === pid && key.startsWith(`${port}|`)) this.flows.delete(key);
  }

  /**
   * An outside peer's flow first (its reply address may be the host's loopback); else inside the
   * machine, where 127.0.0.1 and 0.0.0.0 mean the sender itself. A datagram nobody is bound to
   * is lost, as UDP's are.
   */
  private routeDatagram(pid: number, request: Extract<NetRequest, { kind: 'datagram' }>): void {
    const flow = this.flows.get(flowKey(request.from, request.to));
    if (flow && flow.pid === pid) {
      this.clients.sendDatagram(flow.link, request.bytes);
      return;
    }
    const self = sameIp(request.to.ip, loopback) || sameIp(request.to.ip, anyIp);
    const target = self ? pid : isVirtual(request.to.ip) ? this.pidOf(request.to.ip) : undefined;
    if (target === undefined || this.processes.get(target)!.state === 'exited' || !this.datagramPorts.has(`${target}:${request.to.port}`)) return;
    this.inbox(target).push({ kind: 'datagram', port: request.to.port, from: { ip: processAddress(pid), port: request.from }, bytes: request.bytes });
  }

  private inbox(pid: number): NetEvent[] {
    return this.processes.get(pid)?.inbox ?? [];
  }

  private pidOf(ip: Endpoint['ip']): number | undefined {
    if (ip[0] !== 10 || ip[1] !== 77) return undefined;
    const pid = (ip[2] << 8) | ip[3];
    return this.processes.has(pid) ? pid : undefined;
  }

  private connectInternal(pid: number, request: Extract<NetRequest, { kind: 'connect' }>): void {
    const target = this.pidOf(request.to.ip);
    const live = target !== undefined && this.processes.get(target)!.state !== 'exited';
    if (!live || !this.listeners.has(`${target}:${request.to.port}`) || this.connections.size >= maxMachineConnections) {
      this.inbox(pid).push({ kind: 'connected', request: request.request, conn: 0, errno: Errno.CONNREFUSED });
      return;
    }
    const conn = this.nextConn++;
    this.stats.connections++;
    this.connections.set(conn, { ends: [{ kind: 'process', pid }, { kind: 'process', pid: target! }], open: [true, true], finished: [false, false], unacked: 0 });
    this.inbox(target!).push({ kind: 'incoming', conn, port: request.to.port, peer: { ip: processAddress(pid), port: request.from.port } });
    this.inbox(pid).push({ kind: 'connected', request: request.request, conn, errno: 0 });
  }

  private sideOf(pid: number, c: Connection): number {
    return c.ends.findIndex((e) => e.kind === 'process' && e.pid === pid);
  }

  private toPeer(pid: number, conn: number, act: (peer: End, c: Connection) => void): void {
    const c = this.connections.get(conn);
    if (!c) return;
    const side = this.sideOf(pid, c);
    if (side < 0) return;
    if (c.open[1 - side]) act(c.ends[1 - side]!, c);
  }

  /**
   * A process closed its side: the peer gets its FIN. The connection is over once the peer is
   * gone too, or is a client that half-closed already (both FINs: what it was sent is flushed
   * to it, then its socket closes).
   */
  private closeSide(pid: number, conn: number): void {
    const c = this.connections.get(conn);
    if (!c) return;
    const side = this.sideOf(pid, c);
    if (side < 0 || !c.open[side]) return;
    c.open[side] = false;
    c.finished[side] = true;
    this.processes.get(pid)!.acks.delete(conn);
    const peer = c.ends[1 - side]!;
    if (c.open[1 - side]) {
      if (peer.kind === 'process') this.inbox(peer.pid).push({ kind: 'eof', conn });
      else this.clients.end(peer.link);
    }
    if (!c.open[1 - side] || (peer.kind === 'client' && c.finished[1 - side])) this.forget(conn, c);
  }

  private forget(conn: number, c: Connection): void {
    this.connections.delete(conn);
    for (const e of c.ends) if (e.kind === 'client') { this.linkToConn.delete(e.link); this.clients.destroy(e.link); }
  }

  /** The lowest live pid with `port` in `bound` (`pid:port` keys). */
  private lowestBound(bound: Set<string>, port: number): number | undefined {
    return [...this.processes.values()].filter((p) => p.state !== 'exited').map((p) => p.pid).sort((a, b) => a - b)
      .find((candidate) => bound.has(`${candidate}:${port}`));
  }

  /** A client event from the batch: a new connection goes to the lowest pid listening on its port. */
  private applyExternal(event: ExternalEvent): void {
    if (event.kind === 'stdin' || event.kind === 'stdin-eof') {
      const p = this.processes.get(stdinPid);
      if (p && p.state !== 'exited') p.inbox.push(event.kind === 'stdin' ? { kind: 'stdin', bytes: event.bytes } : { kind: 'stdin-eof' });
      return;
    }
    if (event.kind === 'datagram') {
      const pid = this.lowestBound(this.datagramPorts, event.port);
      if (pid === undefined) return;
      const key = flowKey(event.port, event.peer);
      if (!this.flows.has(key) && this.flows.size >= maxMachineConnections) return;
      this.flows.set(key, { link: event.link, pid });
      this.inbox(pid).push({ kind: 'datagram', port: event.port, from: event.peer, bytes: event.bytes });
      return;
    }
    if (event.kind === 'connect') {
      const pid = this.lowestBound(this.listeners, event.port);
      if (pid === undefined || this.connections.size >= maxMachineConnections) {
        this.clients.destroy(event.link);
        return;
      }
      const conn = this.nextConn++;
      this.stats.connections++;
      this.linkToConn.set(event.link, conn);
      this.connections.set(conn, { ends: [{ kind: 'client', link: event.link }, { kind: 'process', pid }], open: [true, true], finished: [false, false], unacked: 0 });
      this.inbox(pid).push({ kind: 'incoming', conn, port: event.port, peer: event.peer });
      return;
    }
    if (event.kind === 'reset-links') {
      // In the order the connections were made, so every replica wakes the guests in one order.
      const gone = [...this.linkToConn.keys()].filter((link) => link >= event.first && link < event.end);
      for (const link of gone) this.applyExternal({ kind: 'reset', link });
      return;
    }
    const conn = this.linkToConn.get(event.link);
    const c = conn === undefined ? undefined : this.connections.get(conn);
    if (!c || !c.open[0]) return;
    const guest = c.ends[1] as Extract<End, { kind: 'process' }>;
    if (!c.open[1]) {
      // The guest has closed its side: data from the client is refused and the connection ends
      // (a kernel answers it with a reset); so does the client's own end.
      if (event.kind === 'acked') return;
      c.open[0] = false;
      if (event.kind === 'data') this.clients.reset(event.link);
      this.forget(conn!, c);
      return;
    }
    switch (event.kind) {
      case 'data': this.inbox(guest.pid).push({ kind: 'data', conn: conn!, bytes: event.bytes }); break;
      // A half-close: the client still reads, so what the guest sends after it still goes out.
      case 'eof': c.finished[0] = true; this.inbox(guest.pid).push({ kind: 'eof', conn: conn! }); break;
      case 'reset': c.open[0] = false; this.inbox(guest.pid).push({ kind: 'reset', conn: conn! }); break;
      case 'acked': this.acked(guest.pid, conn!, c, event.bytes); break;
    }
  }

  /** The client took bytes: at most what the guest sent it (a gateway never acks more). */
  private acked(pid: number, conn: number, c: Connection, bytes: number): void {
    const n = Math.min(bytes, c.unacked);
    if (n <= 0) return;
    c.unacked -= n;
    const acks = this.processes.get(pid)!.acks;
    acks.set(conn, (acks.get(conn) ?? 0) + n);
  }
}

function flowKey(guestPort: number, peer: Endpoint): string {
  return `${guestPort}|${peer.ip.join('.')}:${peer.port}`;
}
