// What a cluster sends to its clients, from its replicas' output. Every replica produces the same
// bytes for a connection (and the same datagrams for a UDP flow); each replica's output is kept
// past what was sent, so whichever replica speaks next continues exactly where the clients are.
//
// Two policies:
// - 'designated' (default): one replica answers (the first launched; when it dies, the live one
//   that has applied the most batches), at once; the others are checked against it through the
//   per-batch state hashes, which cover everything each replica sent. Fast; a faulty designated
//   replica is reported at once but its bytes have gone out.
// - 'majority': bytes go out once a majority of the live replicas produced them (the longest
//   prefix a quorum agrees on), so a faulty replica can never answer alone; it costs latency.
import type { Gateway } from '../runtime/index.js';

export type ReplyPolicy = 'designated' | 'majority';

/** A replica's output counters at a batch boundary (ClientOutput.replicaState). */
export interface ReplicaOutput {
  conns: { link: number; produced: number; ended: boolean; aborted: boolean; reads: number }[];
  flows: { link: number; produced: number }[];
}

/** Room an emptied tail keeps for the next bytes; a larger buffer is given back. */
const maxIdleTailBytes = 256 * 1024;
/** Datagrams kept per replica and flow while waiting to be released. */
const maxPendingDatagrams = 1024;

/**
 * A replica's bytes not yet sent, appended in place (the buffer doubles as needed and is reused
 * once emptied): appending a piece costs its length, not the tail's, however far a replica runs
 * ahead (at most its connection's send buffer: the acks on the log follow what was sent).
 */
class Tail {
  private buf = new Uint8Array(0);
  private start = 0;
  private end = 0;

  get length(): number { return this.end - this.start; }

  /** The bytes, as a view that the next append may overwrite (copy what must outlive it). */
  view(): Uint8Array { return this.buf.subarray(this.start, this.end); }

  append(bytes: Uint8Array): void {
    if (this.end + bytes.length > this.buf.length) {
      const live = this.length;
      const grown = new Uint8Array(Math.max(2 * (live + bytes.length), 64 * 1024));
      grown.set(this.view());
      this.buf = grown;
      this.start = 0;
      this.end = live;
    }
    this.buf.set(bytes, this.end);
    this.end += bytes.length;
  }

  /** Keeps the last `n` bytes. */
  keepLast(n: number): void {
    if (this.length > n) this.start = this.end - n;
    if (this.start !== this.end) return;
    this.start = this.end = 0;
    if (this.buf.length > maxIdleTailBytes) this.buf = new Uint8Array(0); // a burst is over: give its room back
  }
}

interface Stream { produced: number; tail: Tail }
interface Flow { released: number; produced: Map<number, number>; pending: Map<number, Map<number, Uint8Array>> }

/** One client connection of this gateway's, from its connect until its end went out to the client. */
interface Conn {
  /** Bytes sent to the client. */
  sent: number;
  /** Per replica: bytes produced in all, and those not yet sent. */
  streams: Map<number, Stream>;
  /** Replicas whose guests ended the connection, and those of them that aborted it (reset). */
  ended: Set<number>;
  aborted: Set<number>;
  /** Bytes of the client's the guests read, per replica, and the most any replica read (reported to the gateway). */
  reads: Map<number, number>;
  reported: number;
}

/**
 * A connection's state lives from `opened` until its end goes out: what replicas say of a link
 * afterwards (those behind, one restarted and replaying the log, or a link of another node's
 * gateway) is ignored, so the state held is bounded by the connections open now, not by those
 * ever made.
 */
export class ClientOutput {
  private readonly conns = new Map<number, Conn>();
  /** UDP flows: per link, datagrams released so far and, per replica, how many it produced and those not yet released. */
  private readonly datagrams = new Map<number, Flow>();

  constructor(
    private readonly gateway: Pick<Gateway, 'send' | 'end' | 'reset' | 'consumed' | 'sendDatagram'>,
    private readonly liveReplicas: () => number[],
    private readonly policy: ReplyPolicy,
    /** The replica that answers under 'designated' (undefined: none alive). */
    private readonly designated: () => number | undefined,
    /** Whether this gateway numbered the link (a UDP flow of another node's is never answered from here). */
    private readonly ours: (link: number) => boolean = () => true,
  ) {}

  /** Connections and UDP flows whose state is held (see the class comment). */
  get stats(): { connections: number; flows: number } {
    return { connections: this.conns.size, flows: this.datagrams.size };
  }

  /** The gateway took a client's connection (before its connect goes on the log). */
  opened(link: number): void {
    assert(!this.conns.has(link), `link ${link} opened twice`);
    this.conns.set(link, { sent: 0, streams: new Map(), ended: new Set(), aborted: new Set(), reads: new Map(), reported: 0 });
  }

  /** How many replicas must agree on a byte (or a datagram) before it goes out, and which of them may count. */
  private voters(): { replicas: number[]; quorum: number } {
    if (this.policy === 'designated') {
      const d = this.designated();
      return { replicas: d === undefined ? [] : [d], quorum: 1 };
    }
    const live = this.liveReplicas();
    return { replicas: live, quorum: Math.floor(live.length / 2) + 1 };
  }

  offer(replica: number, link: number, bytes: Uint8Array): void {
    const conn = this.conns.get(link);
    if (!conn) return;
    const s = conn.streams.get(replica) ?? { produced: 0, tail: new Tail() };
    // Only what the clients have not had yet is kept (a replica behind the one that answers keeps nothing).
    const had = conn.sent - s.produced;
    s.produced += bytes.length;
    if (had < bytes.length) s.tail.append(had > 0 ? bytes.subarray(had) : bytes);
    conn.streams.set(replica, s);
    // A replica that is not a voter adds nothing that could go out.
    if (this.policy === 'majority' || this.designated() === replica) this.release(link);
  }

  end(replica: number, link: number): void {
    const conn = this.conns.get(link);
    if (!conn) return;
    conn.ended.add(replica);
    this.release(link);
  }

  destroy(replica: number, link: number): void { this.end(replica, link); }

  /**
   * Flow control: the gateway reads more from a client as the furthest replica reads what it
   * sent (the log keeps what the others have yet to read).
   */
  consumed(replica: number, link: number, bytes: number): void {
    const conn = this.conns.get(link);
    if (!conn) return;
    const total = (conn.reads.get(replica) ?? 0) + bytes;
    conn.reads.set(replica, total);
    if (total <= conn.reported) return;
    this.gateway.consumed(link, total - conn.reported);
    conn.reported = total;
  }

  /** The replica aborted the connection: once the voters agree it ends, it ends with a reset. */
  reset(replica: number, link: number): void {
    this.conns.get(link)?.aborted.add(replica);
    this.end(replica, link);
  }

  /**
   * A replica starts afresh (restarted: it replays the log from the beginning), so what it
   * produced before counts for nothing: its output is counted again from zero.
   */
  forget(replica: number): void {
    for (const conn of this.conns.values()) {
      conn.streams.delete(replica);
      conn.ended.delete(replica);
      conn.aborted.delete(replica);
      conn.reads.delete(replica);
    }
    for (const flow of this.datagrams.values()) {
      flow.produced.delete(replica);
      flow.pending.delete(replica);
    }
  }

  /** What a replica has produced so far, per open connection and flow (taken with its snapshot). */
  replicaState(replica: number): ReplicaOutput {
    const conns: ReplicaOutput['conns'] = [];
    for (const [link, conn] of this.conns) {
      const s = conn.streams.get(replica);
      conns.push({ link, produced: s?.produced ?? 0, ended: conn.ended.has(replica), aborted: conn.aborted.has(replica), reads: conn.reads.get(replica) ?? 0 });
    }
    const flows: ReplicaOutput['flows'] = [];
    for (const [link, flow] of this.datagrams) flows.push({ link, produced: flow.produced.get(replica) ?? 0 });
    return { conns, flows };
  }

  /**
   * A replica restored from its snapshot: it produced this much then, and goes on from there (as a
   * replica replaying the log from the start goes on from zero: what it produces again, up to what
   * the clients have, is not sent twice).
   */
  restoreReplica(replica: number, state: ReplicaOutput): void {
    this.forget(replica);
    for (const c of state.conns) {
      const conn = this.conns.get(c.link);
      if (!conn) continue; // gone since: what the replica says of it is ignored, as for any late replica
      conn.streams.set(replica, { produced: c.produced, tail: new Tail() });
      if (c.ended) conn.ended.add(replica);
      if (c.aborted) conn.aborted.add(replica);
      if (c.reads > 0) conn.reads.set(replica, c.reads);
    }
    for (const f of state.flows) this.datagrams.get(f.link)?.produced.set(replica, f.produced);
  }

  /** Re-examines every connection (a replica died, or the designated one changed). */
  reconsider(): void {
    for (const link of [...this.conns.keys()]) this.release(link);
    for (const link of this.datagrams.keys()) this.releaseDatagrams(link);
  }

  /** A replica's next datagram for a flow; the n-th goes out once the voters produced the same n-th datagram. */
  offerDatagram(replica: number, link: number, bytes: Uint8Array): void {
    if (!this.ours(link)) return;
    const flow = this.datagrams.get(link) ?? { released: 0, produced: new Map(), pending: new Map() };
    this.datagrams.set(link, flow);
    const index = flow.produced.get(replica) ?? 0;
    flow.produced.set(replica, index + 1);
    if (index < flow.released) return;
    const mine = flow.pending.get(replica) ?? new Map<number, Uint8Array>();
    flow.pending.set(replica, mine);
    mine.set(index, bytes.slice());
    // A replica far ahead of the others (or one that diverged and is never matched) keeps at
    // most this many; the oldest go first (UDP may lose them anyway).
    if (mine.size > maxPendingDatagrams) mine.delete(mine.keys().next().value!);
    this.releaseDatagrams(link);
  }

  /** Keeps, for every replica, only the bytes past what was sent. */
  private trim(conn: Conn): void {
    for (const s of conn.streams.values()) s.tail.keepLast(Math.max(0, s.produced - conn.sent));
  }

  private release(link: number): void {
    const conn = this.conns.get(link);
    if (!conn) return;
    const { replicas, quorum } = this.voters();
    const [best, bestView] = replicas.length === 1 ? this.voterBytes(conn, replicas[0]!) : this.agreedBytes(conn, replicas, quorum);
    if (best > 0 && bestView) {
      this.gateway.send(link, bestView.slice(0, best)); // a copy: the tail's buffer is reused
      conn.sent += best;
      this.trim(conn);
    }
    if (conn.ended.size === 0) return;
    const finished = [...conn.ended].filter((r) => replicas.includes(r) && (conn.streams.get(r)?.produced ?? 0) <= conn.sent);
    if (replicas.length === 0 || finished.length < quorum) return;
    // The voters ended it: nothing more goes out on it, whatever the others say later.
    const abort = finished.filter((r) => conn.aborted.has(r)).length >= quorum;
    this.conns.delete(link);
    if (abort) this.gateway.reset(link);
    else this.gateway.end(link);
  }

  /** One voter (the designated replica, or the one live one): all it has not sent goes. */
  private voterBytes(conn: Conn, replica: number): [number, Uint8Array | undefined] {
    const tail = conn.streams.get(replica)?.tail;
    return tail && tail.length > 0 ? [tail.length, tail.view()] : [0, undefined];
  }

  /** The longest prefix a quorum of the voters produced alike, and one voter's bytes holding it. */
  private agreedBytes(conn: Conn, replicas: number[], quorum: number): [number, Uint8Array | undefined] {
    const views = replicas.map((r) => conn.streams.get(r)?.tail.view() ?? new Uint8Array(0));
    let best = 0;
    let bestView: Uint8Array | undefined;
    for (const mine of views) {
      const prefixes = views.map((other) => commonPrefix(mine, other)).sort((x, y) => y - x);
      const agreed = prefixes[quorum - 1] ?? 0;
      if (agreed > best) { best = agreed; bestView = mine; }
    }
    return [best, bestView];
  }

  private releaseDatagrams(link: number): void {
    const flow = this.datagrams.get(link);
    if (!flow) return;
    const { replicas, quorum } = this.voters();
    for (;;) {
      const index = flow.released;
      const votes = new Map<string, { bytes: Uint8Array; count: number }>();
      for (const r of replicas) {
        const bytes = flow.pending.get(r)?.get(index);
        if (!bytes) continue;
        const key = Buffer.from(bytes).toString('base64');
        const vote = votes.get(key) ?? { bytes, count: 0 };
        vote.count++;
        votes.set(key, vote);
      }
      const winner = [...votes.values()].find((v) => v.count >= quorum);
      if (!winner) return;
      this.gateway.sendDatagram(link, winner.bytes);
      flow.released++;
      for (const mine of flow.pending.values()) mine.delete(index);
    }
  }
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`internal error: ${message}`);
}

function commonPrefix(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
