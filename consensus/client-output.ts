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

export class ClientOutput {
  private readonly sent = new Map<number, number>();
  /** Per connection, per replica: bytes produced in all, and those not yet sent. */
  private readonly streams = new Map<number, Map<number, Stream>>();
  private readonly ended = new Map<number, Set<number>>();
  /** Per link: bytes of the client's the guests read, per replica, and the most any replica read (reported to the gateway). */
  private readonly reads = new Map<number, { byReplica: Map<number, number>; reported: number }>();
  /** Links some replica aborted (reset): the voters' reset goes out instead of their FIN. */
  private readonly aborted = new Map<number, Set<number>>();
  private readonly closed = new Set<number>();
  /** UDP flows: per link, datagrams released so far and, per replica, how many it produced and those not yet released. */
  private readonly datagrams = new Map<number, Flow>();

  constructor(
    private readonly gateway: Pick<Gateway, 'send' | 'end' | 'reset' | 'consumed' | 'sendDatagram'>,
    private readonly liveReplicas: () => number[],
    private readonly policy: ReplyPolicy,
    /** The replica that answers under 'designated' (undefined: none alive). */
    private readonly designated: () => number | undefined,
  ) {}

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
    if (this.closed.has(link)) return;
    const byReplica = this.streams.get(link) ?? new Map<number, Stream>();
    this.streams.set(link, byReplica);
    const s = byReplica.get(replica) ?? { produced: 0, tail: new Tail() };
    s.produced += bytes.length;
    s.tail.append(bytes);
    byReplica.set(replica, s);
    this.trim(link);
    this.release(link);
  }

  end(replica: number, link: number): void {
    const set = this.ended.get(link) ?? new Set<number>();
    this.ended.set(link, set);
    set.add(replica);
    this.release(link);
  }

  destroy(replica: number, link: number): void { this.end(replica, link); }

  /**
   * Flow control: the gateway reads more from a client as the furthest replica reads what it
   * sent (the log keeps what the others have yet to read).
   */
  consumed(replica: number, link: number, bytes: number): void {
    if (this.closed.has(link)) return;
    const reads = this.reads.get(link) ?? { byReplica: new Map<number, number>(), reported: 0 };
    this.reads.set(link, reads);
    const total = (reads.byReplica.get(replica) ?? 0) + bytes;
    reads.byReplica.set(replica, total);
    if (total <= reads.reported) return;
    this.gateway.consumed(link, total - reads.reported);
    reads.reported = total;
  }

  /** The replica aborted the connection: once the voters agree it ends, it ends with a reset. */
  reset(replica: number, link: number): void {
    const set = this.aborted.get(link) ?? new Set<number>();
    this.aborted.set(link, set);
    set.add(replica);
    this.end(replica, link);
  }

  /**
   * A replica starts afresh (restarted: it replays the log from the beginning), so what it
   * produced before counts for nothing: its output is counted again from zero.
   */
  forget(replica: number): void {
    for (const byReplica of this.streams.values()) byReplica.delete(replica);
    for (const set of this.ended.values()) set.delete(replica);
    for (const set of this.aborted.values()) set.delete(replica);
    for (const reads of this.reads.values()) reads.byReplica.delete(replica);
    for (const flow of this.datagrams.values()) {
      flow.produced.delete(replica);
      flow.pending.delete(replica);
    }
  }

  /** Re-examines every connection (a replica died, or the designated one changed). */
  reconsider(): void {
    for (const link of new Set([...this.streams.keys(), ...this.ended.keys()])) this.release(link);
    for (const link of this.datagrams.keys()) this.releaseDatagrams(link);
  }

  /** A replica's next datagram for a flow; the n-th goes out once the voters produced the same n-th datagram. */
  offerDatagram(replica: number, link: number, bytes: Uint8Array): void {
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
  private trim(link: number): void {
    const sent = this.sent.get(link) ?? 0;
    for (const s of this.streams.get(link)?.values() ?? []) {
      const unsent = Math.max(0, s.produced - sent);
      s.tail.keepLast(unsent);
    }
  }

  private release(link: number): void {
    if (this.closed.has(link)) return;
    const { replicas, quorum } = this.voters();
    const byReplica = this.streams.get(link);
    const views = replicas.map((r) => byReplica?.get(r)?.tail.view() ?? new Uint8Array(0));
    let best = 0;
    let bestView: Uint8Array | undefined;
    for (const mine of views) {
      const prefixes = views.map((other) => commonPrefix(mine, other)).sort((x, y) => y - x);
      const agreed = prefixes[quorum - 1] ?? 0;
      if (agreed > best) { best = agreed; bestView = mine; }
    }
    if (best > 0 && bestView) {
      this.gateway.send(link, bestView.slice(0, best)); // a copy: the tail's buffer is reused
      this.sent.set(link, (this.sent.get(link) ?? 0) + best);
      this.trim(link);
    }
    const sent = this.sent.get(link) ?? 0;
    const finished = [...(this.ended.get(link) ?? [])].filter((r) => replicas.includes(r) && (byReplica?.get(r)?.produced ?? 0) <= sent);
    if (replicas.length > 0 && finished.length >= quorum) {
      const abort = finished.filter((r) => this.aborted.get(link)?.has(r)).length >= quorum;
      this.closed.add(link);
      this.streams.delete(link);
      this.ended.delete(link);
      this.aborted.delete(link);
      this.reads.delete(link);
      if (abort) this.gateway.reset(link);
      else this.gateway.end(link);
    }
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

function commonPrefix(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
