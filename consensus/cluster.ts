// A replicated machine: N replicas of the same processes, each on its own deterministic machine
// fed by the same consensus log. One gateway accepts clients; their events become batches on
// the log (Proposer); each replica applies them (ReplicaSequencer) and, after every batch,
// publishes a state hash (its processes' rolling syscall hashes and exits, and everything it
// sent to clients). The cluster compares hashes batch by batch and names a disagreeing replica
// at once. Replies reach clients exactly once, when a majority of the live replicas produced the
// same bytes, so a faulty replica cannot answer alone and any replica can die without clients
// noticing; a restarted one replays the log to catch up.
import { join } from 'node:path';
import {
  BufferStdin, Gateway, loadHostTree, machineProcessConfig, startReplicaMachine, StdinFeed, type GuestOutcome, type ListenSpec,
  type ProcessConfig, type RunningMachine, type StdinSource, type TreeNode,
} from '../runtime/index.js';
import { defaultCheckpointEvery, defaultMaxTraceBytes, traceHeader } from '../recorder/index.js';
import { EmbeddedLog, type ConsensusLog } from './log.js';
import { Proposer } from './proposer.js';
import { ReplicaSequencer } from './replica-sequencer.js';

export interface ClusterProcess {
  module: WebAssembly.Module;
  moduleName: string;
  moduleBytes: Uint8Array;
  config: ProcessConfig;
}

export interface ClusterOptions {
  replicas: number;
  processes: ClusterProcess[];
  listen: ListenSpec[];
  log?: ConsensusLog;
  /** Write each replica's traces here (replica-N.rct, replica-N.pK.rct). */
  recordDir?: string;
  /** Guest stdout/stderr; replicas other than the first are silent unless this says otherwise. */
  onOutput?: (replica: number, stream: 1 | 2, bytes: Uint8Array) => void;
  onDisagreement?: (d: Disagreement) => void;
  /** Events between checkpoints in recorded traces. */
  checkpointEvery?: number;
  /** Ids of the replicas run here (default 1..replicas); a node of a multi-machine cluster runs one. */
  replicaIds?: number[];
  /** Where replicas elsewhere publish their hashes, and ours go (multi-machine clusters). */
  hashBoard?: HashBoard;
  /** First gateway link id (distinct per node, so clients of different nodes never collide). */
  firstLink?: number;
  /** The cluster's stdin, proposed on the log piece by piece as the replicas ask (default: empty). */
  stdin?: StdinSource;
  /** Changes one replica's configuration (fault injection, tests): must be used with care. */
  configFor?: (replica: number, config: ProcessConfig) => ProcessConfig;
}

/** Shares state hashes between the nodes of a cluster. */
export interface HashBoard {
  publish(replica: number, batch: number, hash: string): void;
  /** Calls back for hashes published by other nodes. */
  watch(onHash: (replica: number, batch: number, hash: string) => void): void;
  close(): Promise<void>;
}

export interface Disagreement {
  /** Batches applied when the hashes were compared. */
  batch: number;
  /** The replica(s) whose hash differs from the majority. */
  replicas: number[];
  hashes: Record<number, string>;
}

/**
 * Bytes to clients, released once a majority of the live replicas have produced them: each
 * replica's output for a connection is buffered past what was sent, and the longest prefix on
 * which a quorum agrees goes out. A replica that disagrees (a fault) cannot answer a client on its
 * own; one that is slow or dead does not hold the others back.
 */
/** Datagrams kept per replica and flow while waiting for a quorum. */
const maxPendingDatagrams = 1024;

class ClientOutput {
  private readonly sent = new Map<number, number>();
  /** Per connection, per replica: bytes produced in all, and those not yet sent. */
  private readonly streams = new Map<number, Map<number, { produced: number; tail: Uint8Array }>>();
  private readonly ended = new Map<number, Set<number>>();
  private readonly closed = new Set<number>();

  constructor(private readonly gateway: Gateway, private readonly liveReplicas: () => number[]) {}

  private quorum(): number { return Math.floor(this.liveReplicas().length / 2) + 1; }

  offer(replica: number, link: number, bytes: Uint8Array): void {
    if (this.closed.has(link)) return;
    const byReplica = this.streams.get(link) ?? new Map<number, { produced: number; tail: Uint8Array }>();
    this.streams.set(link, byReplica);
    const s = byReplica.get(replica) ?? { produced: 0, tail: new Uint8Array(0) };
    s.produced += bytes.length;
    s.tail = s.tail.length ? Buffer.concat([s.tail, bytes]) : bytes.slice();
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

  /** Re-examines every connection (a replica died: the quorum changed). */
  reconsider(): void {
    for (const link of new Set([...this.streams.keys(), ...this.ended.keys()])) this.release(link);
    for (const link of this.datagrams.keys()) this.releaseDatagrams(link);
  }

  /** UDP flows: per link, datagrams released so far and, per replica, how many it produced and those not yet released. */
  private readonly datagrams = new Map<number, { released: number; produced: Map<number, number>; pending: Map<number, Map<number, Uint8Array>> }>();

  /** A replica's next datagram for a flow; the n-th goes out once a quorum produced the same n-th datagram. */
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

  private releaseDatagrams(link: number): void {
    const flow = this.datagrams.get(link);
    if (!flow) return;
    const quorum = this.quorum();
    for (;;) {
      const index = flow.released;
      const votes = new Map<string, { bytes: Uint8Array; count: number }>();
      for (const r of this.liveReplicas()) {
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

  /** Keeps, for every replica, only the bytes past what was sent. */
  private trim(link: number): void {
    const sent = this.sent.get(link) ?? 0;
    for (const s of this.streams.get(link)?.values() ?? []) {
      const unsent = Math.max(0, s.produced - sent);
      if (s.tail.length > unsent) s.tail = s.tail.subarray(s.tail.length - unsent);
    }
  }

  private release(link: number): void {
    if (this.closed.has(link)) return;
    const live = this.liveReplicas();
    const quorum = this.quorum();
    const byReplica = this.streams.get(link);
    const views = live.map((r) => byReplica?.get(r)?.tail ?? new Uint8Array(0));
    let best = 0;
    let bestView: Uint8Array | undefined;
    for (const mine of views) {
      const prefixes = views.map((other) => commonPrefix(mine, other)).sort((x, y) => y - x);
      const agreed = prefixes[quorum - 1] ?? 0;
      if (agreed > best) { best = agreed; bestView = mine; }
    }
    if (best > 0 && bestView) {
      this.gateway.send(link, bestView.subarray(0, best));
      this.sent.set(link, (this.sent.get(link) ?? 0) + best);
      this.trim(link);
    }
    const sent = this.sent.get(link) ?? 0;
    const finished = [...(this.ended.get(link) ?? [])].filter((r) => live.includes(r) && (byReplica?.get(r)?.produced ?? 0) <= sent);
    if (finished.length >= quorum) {
      this.closed.add(link);
      this.streams.delete(link);
      this.ended.delete(link);
      this.gateway.end(link);
    }
  }
}

function commonPrefix(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

const fnv = (h: number, v: number) => Math.imul(h ^ v, 0x01000193);

/** One replica's client links: counts offsets, hashes what it sends, offers it to the clients. */
class ReplicaLinks {
  hash = 0x811c9dc5;
  /** A killed replica says nothing more: its processes dying must not close clients' connections. */
  muted = false;

  constructor(private readonly replica: number, private readonly output: ClientOutput) {}

  send(link: number, bytes: Uint8Array): void {
    if (this.muted) return;
    this.hash = fnv(fnv(this.hash, link), bytes.length);
    for (let i = 0; i < bytes.length; i++) this.hash = fnv(this.hash, bytes[i]!);
    this.output.offer(this.replica, link, bytes);
  }

  sendDatagram(link: number, bytes: Uint8Array): void {
    if (this.muted) return;
    this.hash = fnv(fnv(this.hash, link), -3 - bytes.length);
    for (let i = 0; i < bytes.length; i++) this.hash = fnv(this.hash, bytes[i]!);
    this.output.offerDatagram(this.replica, link, bytes);
  }

  end(link: number): void {
    if (this.muted) return;
    this.hash = fnv(fnv(this.hash, link), -1);
    this.output.end(this.replica, link);
  }

  destroy(link: number): void {
    if (this.muted) return;
    this.hash = fnv(fnv(this.hash, link), -2);
    this.output.destroy(this.replica, link);
  }
}

interface Replica {
  index: number;
  links: ReplicaLinks;
  machine: RunningMachine | undefined;
  sequencer: ReplicaSequencer | undefined;
  alive: boolean;
  outcomes: Promise<GuestOutcome[] | undefined>;
}

export class Cluster {
  readonly disagreements: Disagreement[] = [];
  private readonly reported = new Set<number>();
  /** hashes.get(batch).get(replica) */
  private readonly hashes = new Map<number, Map<number, string>>();
  private readonly replicas: Replica[] = [];
  private constructor(
    private readonly options: ClusterOptions, readonly log: ConsensusLog, private readonly gateway: Gateway,
    private readonly proposer: Proposer, private readonly output: ClientOutput, readonly listening: ListenSpec[],
    private readonly stdin: StdinFeed,
  ) {}

  /** Directory snapshots, taken once: every replica starts from the same files. */
  private trees: Record<string, TreeNode> = {};

  static async start(options: ClusterOptions): Promise<Cluster> {
    const log = options.log ?? new EmbeddedLog();
    const proposer = new Proposer(log);
    const stdin = new StdinFeed(options.stdin ?? new BufferStdin(), (event) => proposer.push(event));
    const gateway = new Gateway(options.listen, proposer, options.firstLink ?? 1);
    const listening = await gateway.start();
    let live: () => number[] = () => [];
    const cluster = new Cluster(options, log, gateway, proposer, new ClientOutput(gateway, () => live()), listening, stdin);
    live = () => cluster.present.filter((r) => r.alive).map((r) => r.index);
    for (const p of options.processes) {
      for (const { hostPath } of p.config.preopens) cluster.trees[hostPath] ??= loadHostTree(hostPath, p.config.snapshotLimits);
    }
    for (const id of options.replicaIds ?? Array.from({ length: options.replicas }, (_, i) => i + 1)) cluster.launch(id);
    options.hashBoard?.watch((replica, batch, hash) => cluster.record(replica, batch, hash));
    return cluster;
  }

  get replicaCount(): number { return this.options.replicas; }

  /** The replicas run here (ids need not start at 1). */
  /** The replicas run here (ids need not start at 1). */
  get present(): Replica[] { return this.replicas.filter((r): r is Replica => r !== undefined); }

  /** Batches every live replica has applied. */
  get agreedBatches(): number {
    const live = this.present.filter((r) => r.alive && r.sequencer);
    return live.length ? Math.min(...live.map((r) => r.sequencer!.applied)) : 0;
  }

  /** Batches replica `index` has applied (0 if it is down). */
  appliedBy(index: number): number {
    const r = this.replicas[index - 1];
    return r?.alive && r.sequencer ? r.sequencer.applied : 0;
  }

  /** The hash each replica published after `batch` batches. */
  hashesAt(batch: number): Record<number, string> {
    return Object.fromEntries(this.hashes.get(batch) ?? new Map());
  }

  /** Every replica's outcomes once all have ended (undefined for a killed one). */
  get outcomes(): Promise<(GuestOutcome[] | undefined)[]> {
    return Promise.all(this.present.map((r) => r.outcomes));
  }

  private launch(index: number): void {
    const sequencer = new ReplicaSequencer(this.log);
    const links = new ReplicaLinks(index, this.output);
    const { recordDir } = this.options;
    const machine = startReplicaMachine(this.options.processes.map((p, i) => {
      const base = machineProcessConfig(p.config, i + 1);
      const config = this.options.configFor ? this.options.configFor(index, base) : base;
      const tracePath = recordDir ? join(recordDir, `replica-${index}${i === 0 ? '' : `.p${i + 1}`}.rct`) : undefined;
      return {
        module: p.module, config, trees: this.trees,
        onOutput: (stream: 1 | 2, bytes: Uint8Array) => this.options.onOutput?.(index, stream, bytes),
        session: tracePath
          ? {
            kind: 'record' as const, tracePath, checkpointEvery: this.options.checkpointEvery ?? defaultCheckpointEvery, recordOutput: false, maxTraceBytes: defaultMaxTraceBytes,
            header: traceHeader({ moduleName: p.moduleName, moduleBytes: p.moduleBytes, module: p.module, config, tracePath, checkpointEvery: this.options.checkpointEvery ?? defaultCheckpointEvery, onOutput: () => {} }, this.trees),
          }
          : { kind: 'hash' as const },
      };
    }), sequencer, links);
    sequencer.onWantStdin = (ordinal) => this.stdin.want(ordinal);
    sequencer.onBoundary = (applied) => this.publish(index, applied, (fnv(machine.machine.stateHash(), links.hash) >>> 0).toString(16).padStart(8, '0'));
    const replica: Replica = {
      index, machine, sequencer, alive: true, links,
      outcomes: machine.outcomes.then((o) => o, () => undefined),
    };
    this.replicas[index - 1] = replica;
  }

  private publish(replica: number, batch: number, hash: string): void {
    this.options.hashBoard?.publish(replica, batch, hash);
    this.record(replica, batch, hash);
  }

  private record(replica: number, batch: number, hash: string): void {
    let at = this.hashes.get(batch);
    if (!at) { at = new Map(); this.hashes.set(batch, at); }
    at.set(replica, hash);
    const live = this.options.hashBoard ? this.options.replicas : this.present.filter((r) => r.alive).length;
    if (at.size < Math.min(live, this.options.replicas) || at.size < 2) return;
    const counts = new Map<string, number>();
    for (const h of at.values()) counts.set(h, (counts.get(h) ?? 0) + 1);
    if (counts.size === 1) return;
    const majority = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    const odd = [...at.entries()].filter(([, h]) => h !== majority).map(([r]) => r);
    // A replica that has diverged stays diverged: each is reported once, at its first batch.
    const fresh = odd.filter((r) => !this.reported.has(r));
    if (fresh.length === 0) return;
    for (const r of fresh) this.reported.add(r);
    const d: Disagreement = { batch, replicas: fresh, hashes: Object.fromEntries(at) };
    this.disagreements.push(d);
    this.options.onDisagreement?.(d);
  }

  /** Simulates a crash: the replica's workers are stopped at once. */
  async kill(index: number): Promise<void> {
    const r = this.replicas[index - 1]!;
    r.alive = false;
    r.links.muted = true;
    r.sequencer?.end();
    this.output.reconsider();
    await r.machine?.stop(0);
  }

  /** Starts the replica afresh: it replays the whole log, then keeps up with the others. */
  restart(index: number): void {
    this.launch(index);
  }

  /**
   * Stops taking clients, lets every live replica apply the whole log (so all stop at the same
   * point, with the same final state), then stops them.
   */
  async stop(): Promise<void> {
    this.stdin.close();
    await this.gateway.close();
    await this.proposer.close();
    // At most 300 looks, 10 ms apart: a replica that cannot catch up does not hold the stop.
    for (let look = 0; look < 300 && this.present.some((r) => r.alive && r.sequencer && r.sequencer.applied < this.proposer.appended); look++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await Promise.all(this.present.map((r) => r.machine?.stop(1000)));
    await this.gateway.close();
    await this.options.hashBoard?.close();
    await this.log.close();
  }
}
