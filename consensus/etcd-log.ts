// The consensus log on etcd, so replicas on different machines agree on one order of batches.
// Every append is a put of a new key under the cluster's prefix; etcd's revisions order them,
// and every subscriber sees the same sequence: existing entries sorted by creation revision,
// then a watch from the next revision. Any number of nodes may append.
import { Etcd3, Range, type IKeyValue, type IOptions, type Lease } from 'etcd3';
import type { ConsensusLog } from './log.js';
import { wallClockMs } from '../runtime/index.js';

/** etcd did not answer (not running, wrong endpoints), or holds what we cannot use. */
export class EtcdUnavailableError extends Error {}

/**
 * Seconds a node's link block stays live in etcd after the node's last keepalive (sent every
 * third of it): a node killed and never restarted has its clients' connections reset this long
 * after it died, by whichever nodes are live (see watchGoneBlocks).
 */
export const nodeLeaseSeconds = 4;
/** How long closing a log waits for etcd to take its watches and leases back (then the leases run out by themselves). */
export const closeGraceMs = 2000;

/** Once every one of `calls` has settled (failures ignored), or after `ms`, whichever is first. */
async function settledWithin(calls: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled(calls), new Promise((resolve) => { timer = setTimeout(resolve, ms); })]);
  clearTimeout(timer);
}

/** How long an append is tried again while etcd does not take it (a member lost, a quorum lost), in ms. */
export const appendRetryMs = 60_000;
/** The same once the cluster is stopping (EtcdLog.stopping): Ctrl-C gives etcd this long for the last batches. */
export const stopAppendRetryMs = 5_000;
/** How long one try at an append may take before it is made again, in ms. */
export const appendTryMs = 1_000;

/** Tries at reading the log when etcd's history was compacted under the reader. */
const maxSubscribeTries = 5;

/** Tries at claiming a link block while other nodes claim theirs (each failed try means another node succeeded). */
const maxClaimAttempts = 50;

type FaultHandling = NonNullable<IOptions['faultHandling']>;

/**
 * etcd3's default per-host policy is a circuit breaker that, after three failures, skips a host
 * for 5 s: once etcd lost its quorum, every member has failed three times, so every call fails at
 * once for 5 s after the quorum is back (clients of the cluster wait that long). Without it, a
 * call goes to the hosts in turn (the client's global retry, three tries), and a member that is
 * down costs one refused connection.
 */
const tryEveryHost = {
  execute: async <T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T) => fn({ signal: new AbortController().signal }),
  onSuccess: () => ({ dispose() {} }),
  onFailure: () => ({ dispose() {} }),
} as unknown as ReturnType<NonNullable<FaultHandling['host']>>;

/** Most time between two tries at re-opening a watch (etcd3's default grows to 30 s), in ms. */
export const maxWatchBackoffMs = 1000;

/** Backoff of a watch being re-opened: 100 ms, doubling, at most maxWatchBackoffMs. */
function watchBackoff(attempt: number): NonNullable<FaultHandling['watchBackoff']> {
  return { duration: Math.min(100 * 2 ** attempt, maxWatchBackoffMs), next: () => watchBackoff(Math.min(attempt + 1, 10)) };
}

/** A point of the log: `index` entries come before it, the last created at `revision`. */
export interface LogPoint { index: number; revision: number }

/** A snapshot a node holds, as it publishes it on etcd. */
export interface PublishedSnapshot {
  batch: number;
  hash: string;
  position?: number;
  /** The node saw a majority publish this hash at this batch (and says so while it lists it). */
  agreed?: boolean;
  /** The node holds its file. */
  file?: boolean;
}

export class EtcdLog implements ConsensusLog {
  private seq = 0;
  private readonly prefix: string;
  private readonly watchers: { cancel(): Promise<void> }[] = [];
  /** The client, shared with the hash board. */
  readonly etcd: Etcd3;

  private readonly linkBlocksKey: string;
  private readonly nodesKey: string;
  private readonly liveBlocksKey: string;
  /** { index, revision }: the entries created at or before `revision` were compacted away; they were `index` entries. */
  private readonly firstKey: string;
  private readonly snapshotsKey: string;
  /** Where a subscriber may start reading instead of the first entry: after a snapshot's position (resumeAt). */
  private hint: LogPoint | undefined;
  private knownFirst = 0;
  private readonly leases: Lease[] = [];
  private closing = false;

  private constructor(private readonly client: Etcd3, cluster: string, private readonly appender: string) {
    this.etcd = client;
    this.prefix = `/replicode/${cluster}/log/`;
    this.linkBlocksKey = `/replicode/${cluster}/link-blocks`;
    this.nodesKey = `/replicode/${cluster}/node/`;
    this.liveBlocksKey = `/replicode/${cluster}/live-blocks/`;
    this.firstKey = `/replicode/${cluster}/log-first`;
    this.snapshotsKey = `/replicode/${cluster}/snapshots/`;
  }

  /** The first entry still held, as last read (0 until the log is compacted). */
  get first(): number { return this.knownFirst; }

  /** The log's prefix in etcd (tests count its keys). */
  get keyPrefix(): string { return this.prefix; }

  /**
   * Where the log starts: entries created at or before `revision` were compacted away, and they
   * were `index` entries ({0, 0} for a log never compacted).
   */
  async firstPoint(revision?: number): Promise<LogPoint & { read: number }> {
    const get = this.client.get(this.firstKey);
    const res = await (revision === undefined ? get : get.revision(revision)).exec();
    const kv = res.kvs[0];
    const read = Number(res.header.revision);
    if (!kv) return { index: 0, revision: 0, read };
    const point = JSON.parse(kv.value.toString()) as LogPoint;
    if (!Number.isSafeInteger(point.index) || !Number.isSafeInteger(point.revision) || point.index < 0) {
      throw new EtcdUnavailableError(`etcd key ${this.firstKey} holds ${JSON.stringify(kv.value.toString())}, not a log start`);
    }
    this.knownFirst = point.index;
    return { ...point, read };
  }

  /** A subscriber from `index` on reads the log after `revision` (the create revision of entry index - 1: a snapshot's position). */
  resumeAt(index: number, revision: number): void {
    this.hint = { index, revision };
  }
  /**
   * Claims the next block of gateway link ids (1, 2, ...): a counter in etcd, raised by a
   * compare-and-swap, so no two processes serving this log, and no process after a restart,
   * ever get the same block (see link-blocks.ts). In the same transaction the block is marked
   * live, under a lease this process keeps alive while it runs (see watchGoneBlocks), so a block
   * claimed and not live is one whose process is gone.
   */
  async claimLinkBlock(): Promise<number> {
    const key = this.linkBlocksKey;
    const lease = this.keepLease();
    const leaseId = await lease.grant();
    for (let attempt = 0; attempt < maxClaimAttempts; attempt++) {
      const kv = (await this.client.get(key).exec()).kvs[0];
      const block = (kv ? Number(kv.value.toString()) : 0) + 1;
      if (!Number.isSafeInteger(block) || block < 1) throw new EtcdUnavailableError(`etcd key ${key} holds ${JSON.stringify(kv?.value.toString())}, not a block count`);
      const unchanged = kv ? this.client.if(key, 'Mod', '==', kv.mod_revision) : this.client.if(key, 'Create', '==', 0);
      const claimed = unchanged.then(this.client.put(key).value(String(block)), this.client.put(`${this.liveBlocksKey}${block}`).value('').lease(leaseId));
      if ((await claimed.commit()).succeeded) {
        lease.on('lost', () => this.holdLinkBlock(block));
        return block;
      }
    }
    throw new EtcdUnavailableError(`could not claim link ids from etcd: ${maxClaimAttempts} other nodes claimed theirs at the same moment`);
  }

  /**
   * Blocks claimed before `block` whose process is gone (not live), as runs [first, end) of
   * block numbers: their connections may still be open on the log.
   */
  async goneLinkBlocks(block: number): Promise<{ first: number; end: number }[]> {
    const keys = await this.client.getAll().prefix(this.liveBlocksKey).keys();
    const live = keys.map((k) => Number(k.slice(this.liveBlocksKey.length))).filter((b) => Number.isSafeInteger(b) && b >= 1 && b < block).sort((a, b) => a - b);
    const runs: { first: number; end: number }[] = [];
    let next = 1;
    for (const b of [...live, block]) {
      if (b > next) runs.push({ first: next, end: b });
      next = b + 1;
    }
    return runs;
  }

  /**
   * Notes that node `node` now numbers its clients in `block`; returns the block its previous
   * incarnation had (undefined on its first start), whose connections the log must reset.
   */
  async swapNodeLinkBlock(node: number, block: number): Promise<number | undefined> {
    const key = `${this.nodesKey}${node}/link-block`;
    const previous = await this.client.put(key).value(String(block)).getPrevious();
    if (!previous?.value) return undefined;
    const was = Number(previous.value.toString());
    if (!Number.isSafeInteger(was) || was < 1) throw new EtcdUnavailableError(`etcd key ${key} held ${JSON.stringify(previous.value.toString())}, not a block number`);
    return was;
  }

  /**
   * Marks `block` live again after its lease was lost (etcd unreachable for too long): the
   * other nodes will have reset our connections meanwhile, but not the ones to come.
   */
  private holdLinkBlock(block: number): void {
    if (this.closing) return;
    const lease = this.keepLease();
    lease.on('lost', () => this.holdLinkBlock(block));
    void lease.put(`${this.liveBlocksKey}${block}`).value('').exec().catch(() => { /* 'lost' follows */ });
  }

  /** A lease of nodeLeaseSeconds, kept alive until lost or until this log is closed. */
  private keepLease(): Lease {
    const lease = this.client.lease(nodeLeaseSeconds);
    this.leases.push(lease);
    lease.on('lost', () => {
      const i = this.leases.indexOf(lease);
      if (i >= 0) this.leases.splice(i, 1);
    });
    return lease;
  }

  /** Calls back with each block whose holder's lease ran out (its process died) or was given up. */
  watchGoneBlocks(onGone: (block: number) => void): void {
    void this.client.watch().prefix(this.liveBlocksKey).create().then((watcher) => {
      this.watchers.push(watcher);
      watcher.on('delete', (kv) => {
        const block = Number(kv.key.toString().slice(this.liveBlocksKey.length));
        if (Number.isSafeInteger(block) && block >= 1) onGone(block);
      });
    }).catch(() => { /* etcd is gone: the log reports it */ });
  }

  /** Connects (and checks that etcd answers within `timeoutMs`). `appender` must be unique per appending process. */
  static async connect(endpoints: string[], cluster: string, appender: string, timeoutMs = 5000): Promise<EtcdLog> {
    const client = new Etcd3({ hosts: endpoints, dialTimeout: timeoutMs, faultHandling: { host: () => tryEveryHost, watchBackoff: watchBackoff(0) } });
    try {
      await Promise.race([
        client.get('/replicode/ping').string(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref()),
      ]);
    } catch (err) {
      client.close();
      throw new EtcdUnavailableError(`etcd at ${endpoints.join(',')} does not answer (${(err as Error).message})`);
    }
    return new EtcdLog(client, cluster, appender);
  }

  /** Appends are not tried again past this wall-clock time (set when the cluster stops). */
  private retryUntil = Infinity;

  stopping(): void {
    this.retryUntil = Math.min(this.retryUntil, wallClockMs() + stopAppendRetryMs);
  }

  /**
   * Puts the entry under a key of its own. A put that fails (the member we talk to died, etcd
   * lost its quorum for a while) is tried again under the same key, so an entry is never dropped
   * and never appears twice: a second put of a key that the first did write is a modification,
   * which subscribers ignore (they take creations only). Each try has appendTryMs; tries stop
   * after appendRetryMs, or stopAppendRetryMs after the cluster began to stop (`stopping`).
   */
  async append(entry: Uint8Array): Promise<number> {
    const key = `${this.prefix}${this.appender}-${String(this.seq++).padStart(12, '0')}`;
    const value = Buffer.from(entry.buffer, entry.byteOffset, entry.byteLength);
    const started = wallClockMs();
    for (let attempt = 0; ; attempt++) {
      try {
        // A member without a leader holds a put for etcd's request timeout (7 s by default):
        // give up sooner and try again, elsewhere if need be.
        const res = await this.client.put(key).value(value).options({ deadline: wallClockMs() + appendTryMs }).exec();
        return Number(res.header.revision);
      } catch (err) {
        const now = wallClockMs();
        if (this.closing || now - started > appendRetryMs || now > this.retryUntil) throw err;
        await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 1000)));
      }
    }
  }

  /**
   * Reads the entries from the log's start (or from the resumeAt hint, when it is at or before
   * `from`), then watches for new ones. The start and the entries are read at one revision, so a
   * compaction meanwhile cannot shift the indices. Entries before the log's start are refused
   * (onCompacted; the node checks this before it starts, see node-snapshots.ts).
   */
  subscribe(from: number, onEntry: (index: number, entry: Uint8Array, position?: number) => void): () => void {
    let index = 0;
    let stopped = false;
    let after = 0;
    const deliver = (kv: IKeyValue) => {
      const created = Number(kv.create_revision);
      if (stopped || created <= after) return;
      after = created;
      const i = index++;
      if (i >= from) onEntry(i, new Uint8Array(kv.value), created);
    };
    const read = async () => {
      const start = await this.firstPoint();
      if (from < start.index) return this.onCompacted(from, start.index);
      const hint = this.hint;
      const point = hint && hint.index <= from && hint.index >= start.index ? hint : start;
      index = point.index;
      after = point.revision;
      const existing = await this.client.getAll().prefix(this.prefix).revision(start.read).minCreateRevision(point.revision + 1).sort('Create', 'Ascend').exec();
      for (const kv of existing.kvs) deliver(kv);
      const watcher = await this.client.watch().prefix(this.prefix).startRevision(String(start.read + 1)).create();
      this.watchers.push(watcher);
      watcher.on('put', (kv) => { if (kv.create_revision === kv.mod_revision) deliver(kv); });
      if (stopped) await watcher.cancel();
    };
    // A compaction of etcd's history between the reads (rare: it compacts revisions a snapshot
    // interval old) fails them: read again, from where the entries delivered so far end.
    void (async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await read();
        } catch (err) {
          if (stopped || this.closing || attempt >= maxSubscribeTries || !/compacted/.test((err as Error).message)) throw err;
          if (index > 0) this.hint = { index, revision: after };
          from = Math.max(from, index);
        }
      }
    })().catch(() => { /* the log is gone: the replica waits, the cluster reports the append failures */ });
    return () => { stopped = true; };
  }

  /** A subscriber asked for entries compacted away (the caller should have checked firstPoint). */
  onCompacted: (from: number, first: number) => void = (from, first) => {
    throw new EtcdUnavailableError(`log entries before ${first} were compacted away: cannot read from ${from}`);
  };

  /**
   * Drops the entries before `below` (a snapshot every node can restart from covers them): the
   * log's start moves first (a compare-and-swap, so concurrent compactions cannot move it back),
   * then the entries' keys go, one delete range per appender (its keys run in order of its
   * sequence numbers), then (compactLog's `history`) etcd's history before them (etcd compact).
   */
  async compact(below: number): Promise<void> {
    await this.compactLog(below);
  }

  async compactLog(below: number, history = false): Promise<{ first: number; deletedKeys: number }> {
    const start = await this.firstPoint();
    if (below <= start.index) return { first: start.index, deletedKeys: 0 };
    // Every key of the log (those left by a compaction cut short included), in creation order.
    const { kvs } = await this.client.getAll().prefix(this.prefix).revision(start.read).sort('Create', 'Ascend').exec();
    const live = kvs.filter((kv) => Number(kv.create_revision) > start.revision);
    const count = below - start.index;
    if (live.length < count) return { first: start.index, deletedKeys: 0 }; // not yet on the log: nothing below it can go
    const revision = Number(live[count - 1]!.create_revision);
    const value = JSON.stringify({ index: below, revision } satisfies LogPoint);
    const unchanged = start.index === 0 && start.revision === 0 ? this.client.if(this.firstKey, 'Create', '==', 0) : this.client.if(this.firstKey, 'Value', '==', JSON.stringify({ index: start.index, revision: start.revision }));
    if (!(await unchanged.then(this.client.put(this.firstKey).value(value)).commit()).succeeded) return { first: (await this.firstPoint()).index, deletedKeys: 0 };
    this.knownFirst = below;
    let deletedKeys = 0;
    for (const { from, end, keys } of deleteRanges(kvs.map((kv) => ({ key: kv.key.toString(), gone: Number(kv.create_revision) <= revision })))) {
      await this.client.delete().range(new Range(from, end)).exec();
      deletedKeys += keys;
    }
    // etcd's history of the deleted keys (its revisions up to the last of them), if asked: etcd3
    // (the client) resumes a watch after a member is lost from the last revision it saw, and a
    // watch on keys that seldom change (live-blocks) resumed from a compacted revision kills the
    // process ("Failed to find watcher for IWatchResponse", seen under the checker). So nodes
    // leave etcd's history to etcd (--auto-compaction-retention) and compact keys only.
    if (history) await this.compactRevisions(revision);
    return { first: below, deletedKeys };
  }

  private async compactRevisions(revision: number): Promise<void> {
    await this.client.kv.compact({ revision: String(revision), physical: false }).catch((err: Error) => {
      // Already compacted further (another node did it): nothing to do.
      if (!/compacted/.test(err.message)) throw err;
    });
  }

  /** Publishes this node's snapshots (batch, state hash, log position, agreed, file), replacing what it published before. */
  async publishSnapshots(node: number, list: PublishedSnapshot[]): Promise<void> {
    await this.client.put(`${this.snapshotsKey}${node}`).value(JSON.stringify(list)).exec();
  }

  /** Every node's published snapshots, by node. */
  async publishedSnapshots(): Promise<Map<number, PublishedSnapshot[]>> {
    const all = await this.client.getAll().prefix(this.snapshotsKey).strings();
    const out = new Map<number, PublishedSnapshot[]>();
    for (const [key, value] of Object.entries(all)) {
      const node = Number(key.slice(this.snapshotsKey.length));
      try {
        const list = JSON.parse(value) as PublishedSnapshot[];
        if (Number.isSafeInteger(node) && Array.isArray(list)) out.set(node, list.filter((s) => Number.isSafeInteger(s.batch) && typeof s.hash === 'string'));
      } catch { /* not ours: a node that cannot read it counts it as no snapshot */ }
    }
    return out;
  }

  /**
   * Cancels the watches, gives the leases back (so other nodes see this one go at once) and closes
   * the client. etcd may not answer (a member just restarted and the client's channel backs off
   * before trying it again): after closeGraceMs the client is closed anyway, and a lease not given
   * back runs out by itself after nodeLeaseSeconds. Unbounded, this held a node's Ctrl-C forever
   * (seen in about one etcd checker run in 15).
   */
  async close(): Promise<void> {
    this.closing = true;
    await settledWithin([...this.watchers.map((w) => w.cancel()), ...this.leases.splice(0).map((l) => l.revoke())], closeGraceMs);
    this.client.close();
  }
}

/** Batches of hashes the board keeps (as many as a cluster compares: comparedBatches). */
export const hashesKeptBatches = 10_000;

/**
 * State hashes on etcd, every `every`-th batch (bounded writes), for nodes to compare. Hashes
 * more than `keep` batches old are compared by no one: every `keep / 10` batches each node
 * deletes them (one range delete), so the board holds at most about 1.1 * keep / every batches.
 */
export class EtcdHashBoard {
  private readonly prefix: string;
  private watcher: { cancel(): Promise<void> } | undefined;
  private readonly sweepEvery: number;

  constructor(private readonly client: Etcd3, cluster: string, private readonly every = 10, private readonly keep = hashesKeptBatches) {
    this.prefix = `/replicode/${cluster}/hash/`;
    this.sweepEvery = Math.max(every, Math.ceil(keep / 10 / every) * every);
  }

  static fromLog(log: EtcdLog, cluster: string): EtcdHashBoard {
    return new EtcdHashBoard(log.etcd, cluster);
  }

  private key(batch: number): string {
    return `${this.prefix}${String(batch).padStart(12, '0')}`;
  }

  publish(replica: number, batch: number, hash: string): void {
    if (batch % this.every !== 0) return;
    void this.client.put(`${this.key(batch)}/${replica}`).value(hash).exec().catch(() => {});
    if (batch > this.keep && batch % this.sweepEvery === 0) {
      void this.client.delete().range(new Range(this.prefix, this.key(batch - this.keep))).exec().catch(() => {});
    }
  }

  watch(onHash: (replica: number, batch: number, hash: string) => void): void {
    void this.client.watch().prefix(this.prefix).create().then((w) => {
      this.watcher = w;
      w.on('put', (kv) => {
        const m = /(\d+)\/(\d+)$/.exec(kv.key.toString());
        if (m) onHash(Number(m[2]), Number(m[1]), kv.value.toString());
      });
    }).catch(() => {});
  }

  async close(): Promise<void> {
    if (this.watcher) await settledWithin([this.watcher.cancel()], closeGraceMs);
  }
}

/**
 * One delete range per appender over the log's keys (KEYPREFIX APPENDER-SEQUENCE, a sequence's
 * keys sorting in its order): from the appender's first key up to its last key that goes, but
 * never as far as a key that stays (an append retried may land after a later one); a key that
 * goes past that is left for the next compaction.
 */
export function deleteRanges(keys: { key: string; gone: boolean }[]): { from: string; end: string; keys: number }[] {
  const byAppender = new Map<string, { gone: string[]; firstKept: string | undefined }>();
  for (const { key, gone } of keys) {
    const appender = key.slice(0, key.lastIndexOf('-') + 1);
    const a = byAppender.get(appender) ?? { gone: [], firstKept: undefined };
    byAppender.set(appender, a);
    if (gone) a.gone.push(key);
    else if (a.firstKept === undefined || key < a.firstKept) a.firstKept = key;
  }
  const ranges: { from: string; end: string; keys: number }[] = [];
  for (const [appender, { gone, firstKept }] of byAppender) {
    const inRange = gone.filter((k) => firstKept === undefined || k < firstKept);
    if (inRange.length === 0) continue;
    const last = inRange.reduce((a, b) => (b > a ? b : a));
    ranges.push({ from: appender, end: `${last}\0`, keys: inRange.length });
  }
  return ranges;
}
