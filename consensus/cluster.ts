// A replicated machine: N replicas of the same processes, each on its own deterministic machine
// fed by the same consensus log. One gateway accepts clients; their events become batches on
// the log (Proposer); each replica applies them (ReplicaSequencer) and, after every batch,
// publishes a state hash (its processes' rolling syscall hashes and exits, and everything it
// sent to clients). The cluster compares hashes batch by batch and names a disagreeing replica
// at once. Replies reach clients exactly once, from one designated replica or once a majority
// produced the same bytes (client-output.ts); any replica can die without clients noticing, and
// a restarted one replays the log to catch up.
import { join } from 'node:path';
import {
  BufferStdin, Gateway, InternalError, loadHostTree, realMachineClock, machineProcessConfig, rewritePipeline, sha256, snapshotMemory, startReplicaMachine, StdinFeed, type GuestOutcome, type ListenSpec,
  type Batch, type ExternalEvent, type ProcessConfig, type ResumePoint, type RunningMachine, type SnapshotState, type StdinSource, type TreeNode,
} from '../runtime/index.js';
import { snapshotModule } from '../replayer/index.js';
import { defaultCheckpointEvery, defaultMaxTraceBytes, traceHeader } from '../recorder/index.js';
import { EmbeddedLog, type ConsensusLog } from './log.js';
import { processLinkRange, type LinkRange } from './link-blocks.js';
import { ClientOutput, type ReplicaOutput, type ReplyPolicy } from './client-output.js';
import { Proposer } from './proposer.js';
import { ReplicaSequencer } from './replica-sequencer.js';
import { decodeBatch } from './batch-codec.js';

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
  /**
   * The gateway's client ids: a block claimed from a log that outlives this process (see
   * link-blocks.ts), so they never repeat on the log, across nodes and restarts. Default:
   * processLinkRange, right for a log that lives only here.
   */
  links?: LinkRange;
  /**
   * Blocks of ids a gateway gone from the log numbered (this node's previous incarnation, killed):
   * their connections still open are reset on the log at start, so no replica keeps them forever.
   */
  resetLinks?: LinkRange[];
  /** The cluster's stdin, proposed on the log piece by piece as the replicas ask (default: empty). */
  stdin?: StdinSource;
  /** Who answers clients: one designated replica (default), or a majority (see client-output.ts). */
  replies?: ReplyPolicy;
  /** State hashes kept for comparison, in batches (default comparedBatches). */
  comparedBatches?: number;
  /** Changes one replica's configuration (fault injection, tests): must be used with care. */
  configFor?: (replica: number, config: ProcessConfig) => ProcessConfig;
  /**
   * Every this many batches each replica takes a snapshot of its machine (its processes run the
   * snapshot copy of their modules: runtime/snapshot/); a restarted replica resumes from the
   * latest usable one and replays only the log after it. Not with recordDir.
   */
  snapshotEvery?: number;
  /** Drop log entries below the oldest snapshot a restart could need (the embedded log; see ConsensusLog.compact). */
  compact?: boolean;
  /**
   * Each snapshot a replica takes, as it is taken (its pages by hash): a node writes it to disk
   * (snapshot-file.ts). Called at the batch boundary: it must copy what it keeps and return at once.
   */
  onSnapshot?: (replica: number, snapshot: ReplicaSnapshot, page: (hash: string) => Uint8Array) => void;
  /** A replica started from a snapshot read from disk (with snapshotEvery): it replays only the log after it. */
  resumeFrom?: { replica: number; snapshot: ReplicaSnapshot; pages: ReadonlyMap<string, Uint8Array> };
  /** The log refused an entry (full, or gone): nothing more reaches the replicas; the caller stops the cluster. */
  onLogFailure?: (err: Error) => void;
  /**
   * Under designated replies, the OS nice value of the other replicas' worker threads (default
   * defaultFollowerNiceness; 0: all run alike). The replica that answers clients then gets a core
   * first when replicas share cores; the others use what is left, at most maxLag batches behind.
   */
  followerNiceness?: number;
  /** A replica that has caught up with the log stays within this many batches of it: the proposer waits for it (default defaultMaxLag). */
  maxLag?: number;
}

/** See ClusterOptions.followerNiceness; design.md has the measurements behind it. */
export const defaultFollowerNiceness = 10;
/** See ClusterOptions.maxLag. */
export const defaultMaxLag = 256;
/** A replica that has taken no batch for this long while behind is stuck, not slow: the others go on without it. */
const stalledAfterNs = 5_000_000_000n;

/**
 * A replica's machine at a batch boundary: every process's snapshot (taken inside the call it was
 * blocked in), the machine's routing state, and what the replica had sent its clients.
 */
export interface ReplicaSnapshot {
  batch: number;
  /** The replica's published state hash at that boundary. */
  hash: string;
  processes: Map<number, SnapshotState>;
  machine: Uint8Array;
  linksHash: number;
  output: ReplicaOutput;
  /** Bytes its guests had written to stdout and stderr (ClusterOptions.onOutput). */
  guestOutput: { 1: number; 2: number };
  /** Known to be agreed: a majority of the replicas published its hash at its batch. */
  agreed?: boolean;
  /** The log position (ConsensusLog.subscribe) of its last batch, where the log gives one: a restart reads the log from after it. */
  position?: number;
}

/** Snapshots kept per replica beyond its newest agreed one, while their agreement is not yet known. */
const maxPendingSnapshots = 4;

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
 * Batches whose state hashes are kept, the newest this many: a replica further behind (one
 * restarted, replaying the log) is compared again once it is within them. About 300 bytes a
 * batch with three replicas, so 3 MB at most.
 */
export const comparedBatches = 10_000;

const fnv = (h: number, v: number) => Math.imul(h ^ v, 0x01000193);
/** fnv over every byte, in a local (every byte of every reply goes through here, once per replica). */
function fnvBytes(h: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h;
}

/** One replica's client links: counts offsets, hashes what it sends, offers it to the clients. */
class ReplicaLinks {
  hash = 0x811c9dc5;
  /** A killed replica says nothing more: its processes dying must not close clients' connections. */
  muted = false;

  constructor(private readonly replica: number, private readonly output: ClientOutput) {}

  send(link: number, bytes: Uint8Array): void {
    if (this.muted) return;
    this.hash = fnvBytes(fnv(fnv(this.hash, link), bytes.length), bytes);
    this.output.offer(this.replica, link, bytes);
  }

  sendDatagram(link: number, bytes: Uint8Array): void {
    if (this.muted) return;
    this.hash = fnvBytes(fnv(fnv(this.hash, link), -3 - bytes.length), bytes);
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

  /** Flow control only (not output, so not hashed): how far this replica's guests read a client's bytes. */
  consumed(link: number, bytes: number): void {
    if (this.muted) return;
    this.output.consumed(this.replica, link, bytes);
  }

  reset(link: number): void {
    if (this.muted) return;
    this.hash = fnv(fnv(this.hash, link), -4);
    this.output.reset(this.replica, link);
  }
}

interface Replica {
  index: number;
  links: ReplicaLinks;
  machine: RunningMachine | undefined;
  sequencer: ReplicaSequencer | undefined;
  alive: boolean;
  outcomes: Promise<GuestOutcome[] | undefined>;
  /** It has applied every batch appended here at least once (a restarted replica catching up has not). */
  caughtUp: boolean;
  /** When it last took a batch (realMachineClock). */
  lastTaken: bigint;
}

export class Cluster {
  readonly disagreements: Disagreement[] = [];
  private readonly reported = new Set<number>();
  /** hashes.get(batch).get(replica), for batches from `oldestHashed` on (see comparedBatches). */
  private readonly hashes = new Map<number, Map<number, string>>();
  private oldestHashed = 0;
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
    let cluster: Cluster | undefined;
    // Cut the next batch once some local replica has taken every batch so far (pipelining one),
    // and no replica that has caught up is more than maxLag batches behind: a slower replica
    // (one running below the designated one: followerNiceness) holds a bounded backlog.
    // A replica that has taken nothing for stalledAfterNs no longer holds the others (it is stuck,
    // not slow: it catches up later, or is restarted).
    const maxLag = options.maxLag ?? defaultMaxLag;
    const proposer = new Proposer(log, 50, () => {
      const live = cluster?.present.filter((r) => r.alive && r.sequencer) ?? [];
      if (live.length === 0) return true;
      const { appended } = proposer;
      if (!live.some((r) => r.sequencer!.applied >= appended)) return false;
      const now = realMachineClock.now();
      return live.every((r) => !r.caughtUp || appended - r.sequencer!.applied < maxLag || now - r.lastTaken > stalledAfterNs);
    });
    proposer.onFailure = (err) => options.onLogFailure?.(err);
    const stdin = new StdinFeed(options.stdin ?? new BufferStdin(), (event) => proposer.push(event));
    const links = options.links ?? processLinkRange;
    // Clients past the block are refused: their events never reach the log.
    const admit = (event: ExternalEvent): void => {
      if (!('link' in event) || event.link < links.end) {
        if (event.kind === 'connect') output.opened(event.link);
        return proposer.push(event);
      }
      if (event.kind === 'connect') gateway.destroy(event.link);
    };
    const gateway = new Gateway(options.listen, { push: admit }, links.first);
    const output = new ClientOutput(
      gateway, () => cluster?.present.filter((r) => r.alive).map((r) => r.index) ?? [], options.replies ?? 'designated', () => cluster?.designated,
      (link) => link >= links.first && link < links.end,
    );
    const listening = await gateway.start();
    cluster = new Cluster(options, log, gateway, proposer, output, listening, stdin);
    for (const gone of options.resetLinks ?? []) proposer.push({ kind: 'reset-links', first: gone.first, end: gone.end });
    for (const p of options.processes) {
      for (const { hostPath } of p.config.preopens) cluster.trees[hostPath] ??= loadHostTree(hostPath, p.config.snapshotLimits);
    }
    if (options.snapshotEvery) {
      if (options.recordDir) throw new Error('replicas that record traces take no snapshots (snapshotEvery with recordDir)');
      cluster.copies = await Promise.all(options.processes.map((p) => snapshotModule(
        p.moduleBytes, Buffer.from(sha256(p.moduleBytes)).toString('hex'), p.config.maxMemoryBytes, rewritePipeline(p.config))));
    }
    const resume = options.resumeFrom;
    if (resume) {
      if (!cluster.copies) throw new InternalError('a replica resumes from a snapshot only where replicas take them (resumeFrom without snapshotEvery)');
      for (const [hash, bytes] of resume.pages) cluster.pages.set(hash, bytes);
      cluster.snapshots.set(resume.replica, [{ ...resume.snapshot, agreed: true }]);
      cluster.snapshotStats.lastRestartFrom = resume.snapshot.batch;
    }
    for (const id of options.replicaIds ?? Array.from({ length: options.replicas }, (_, i) => i + 1)) cluster.launch(id, resume?.replica === id ? resume.snapshot : undefined);
    options.hashBoard?.watch((replica, batch, hash) => cluster.record(replica, batch, hash));
    return cluster;
  }

  get replicaCount(): number { return this.options.replicas; }

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

  /** The outcomes of the replicas alive now, once all of them have ended (a replica killed meanwhile does not count). */
  get liveOutcomes(): Promise<GuestOutcome[][]> {
    return Promise.all(this.present.filter((r) => r.alive).map((r) => r.outcomes)).then((all) => all.map((o) => o ?? []));
  }

  /** The replica that answers clients under the 'designated' policy. */
  designated: number | undefined;

  /** Bytes of guest output each replica's processes have written (ClusterOptions.onOutput), per stream. */
  private readonly guestOutput = new Map<number, { 1: number; 2: number }>();

  /**
   * What replica `index`'s guests had written when it (re)started: zero, or where its snapshot was
   * (the output that follows continues from there, not from the start).
   */
  outputAtStart(index: number): { 1: number; 2: number } {
    return { ...(this.startedOutput.get(index) ?? { 1: 0, 2: 0 }) };
  }

  private readonly startedOutput = new Map<number, { 1: number; 2: number }>();

  /** The snapshot copies of the processes' modules, when replicas take snapshots. */
  private copies: WebAssembly.Module[] | undefined;
  /**
   * Each replica's snapshots: its newest agreed one (a majority published its state hash) and the
   * newer ones not yet known to be agreed (at most maxPendingSnapshots); and the pages they name.
   */
  private readonly snapshots = new Map<number, ReplicaSnapshot[]>();
  private readonly pages = new Map<string, Uint8Array>();
  /** Figures for tests and the bench: snapshots taken, and what the last restart resumed from. */
  readonly snapshotStats = { taken: 0, lastRestartFrom: null as number | null, compactedBelow: 0 };

  /**
   * The last entry decoded and its batch: a log hands each new entry to every local replica in
   * turn, so it is decoded once for all of them (machines only read batches). One entry, not a
   * cache: a replica catching up decodes the older entries itself.
   */
  private lastDecoded: { entry: Uint8Array; batch: Batch } | undefined;
  private readonly decodeOnce = (entry: Uint8Array): Batch => {
    if (this.lastDecoded?.entry !== entry) this.lastDecoded = { entry, batch: decodeBatch(entry) };
    return this.lastDecoded.batch;
  };

  private launch(index: number, from?: ReplicaSnapshot): void {
    // A restarted replica replays the log from the start (or from its snapshot): what it produced
    // before no longer counts, or counts as it stood at the snapshot.
    this.output.forget(index);
    if (from) this.output.restoreReplica(index, from.output);
    const sequencer = new ReplicaSequencer(this.log, from?.batch ?? 0, this.decodeOnce);
    const links = new ReplicaLinks(index, this.output);
    if (from) links.hash = from.linksHash;
    const { recordDir } = this.options;
    const copies = this.copies;
    // The guests' output so far (from the snapshot on, for a replica restored from one).
    const counted = { ...(from?.guestOutput ?? { 1: 0, 2: 0 }) };
    this.guestOutput.set(index, counted);
    this.startedOutput.set(index, { ...counted });
    const machine = startReplicaMachine(this.options.processes.map((p, i) => {
      const base = machineProcessConfig(p.config, i + 1);
      const config = this.options.configFor ? this.options.configFor(index, base) : base;
      const tracePath = recordDir ? join(recordDir, `replica-${index}${i === 0 ? '' : `.p${i + 1}`}.rct`) : undefined;
      const resumeFrom = from?.processes.get(i + 1);
      return {
        module: copies ? copies[i]! : p.module, config, trees: this.trees,
        // A killed replica's guests may still print as they are stopped (their sockets gone): not for anyone.
        onOutput: (stream: 1 | 2, bytes: Uint8Array) => {
          if (links.muted) return;
          counted[stream] += bytes.length;
          this.options.onOutput?.(index, stream, bytes);
        },
        session: tracePath
          ? {
            kind: 'record' as const, tracePath, checkpointEvery: this.options.checkpointEvery ?? defaultCheckpointEvery, recordOutput: false, maxTraceBytes: defaultMaxTraceBytes, stateHash: true,
            header: traceHeader({ moduleName: p.moduleName, moduleBytes: p.moduleBytes, module: p.module, config, tracePath, checkpointEvery: this.options.checkpointEvery ?? defaultCheckpointEvery, onOutput: () => {} }, this.trees),
          }
          : { kind: 'hash' as const, ...(copies ? { snapshots: { sinceLast: true, ...(resumeFrom ? { resume: this.resumePoint(resumeFrom) } : {}) } } : {}) },
      };
    }), sequencer, links);
    // Before any process blocks: the machine as it stood at the snapshot's boundary.
    if (from) machine.machine.restoreState(from.machine);
    sequencer.onWantStdin = (ordinal) => this.stdin.want(ordinal);
    sequencer.onTaken = () => {
      replica.lastTaken = realMachineClock.now();
      if (sequencer.applied >= this.proposer.appended) replica.caughtUp = true;
      this.proposer.replicaProgressed();
    };
    sequencer.onBoundary = (applied) => this.publish(index, applied, (fnv(machine.machine.stateHash(), links.hash) >>> 0).toString(16).padStart(8, '0'));
    const replica: Replica = {
      index, machine, sequencer, alive: true, links, caughtUp: (from?.batch ?? 0) >= this.proposer.appended, lastTaken: realMachineClock.now(),
      outcomes: machine.outcomes.then((o) => o, () => undefined),
    };
    const every = this.options.snapshotEvery;
    if (copies && every) {
      sequencer.beforeNext = async (applied) => {
        if (applied > 0 && applied % every === 0 && applied !== from?.batch && replica.alive) await this.takeSnapshot(replica, applied);
      };
    }
    this.replicas[index - 1] = replica;
    this.designated ??= index;
    this.prioritise();
  }

  /**
   * Under designated replies, the designated replica's threads at nice 0 and the others' at
   * followerNiceness (each takes it with its next delivery); all at 0 when `stopping`. Raising a
   * thread back to 0 after a failover needs CAP_SYS_NICE: without it the new designated replica
   * stays where it was.
   */
  private prioritise(stopping = false): void {
    const niceness = this.options.followerNiceness ?? defaultFollowerNiceness;
    if ((this.options.replies ?? 'designated') !== 'designated' || niceness === 0) return;
    for (const r of this.present) if (r.alive) r.machine?.machine.setNiceness(stopping || r.index === this.designated ? 0 : niceness);
  }

  private resumePoint(state: SnapshotState): ResumePoint {
    return { state, memory: snapshotMemory(state, (hash) => this.pages.get(hash)!), stdout: new Uint8Array(0), stderr: new Uint8Array(0) };
  }

  /** At a batch boundary of a replica (its machine quiet): snapshots of its processes, its machine, its output. */
  private async takeSnapshot(replica: Replica, batch: number): Promise<void> {
    const machine = replica.machine!.machine;
    const taken = await machine.snapshotProcesses();
    if (!taken || !replica.alive) return; // a process has exited, or the replica was killed meanwhile
    const processes = new Map<number, SnapshotState>();
    for (const [pid, { newPages, ...state }] of taken) {
      for (const { hash, bytes } of newPages) this.pages.set(hash, bytes);
      processes.set(pid, state);
    }
    const list = [...(this.snapshots.get(replica.index) ?? []), {
      batch, hash: this.hashes.get(batch)?.get(replica.index) ?? '', processes, machine: machine.captureState(),
      linksHash: replica.links.hash, output: this.output.replicaState(replica.index),
      // Each process's output before its snapshot was taken from it before its snapshot arrived (spawn.ts).
      guestOutput: { ...this.guestOutput.get(replica.index)! },
      ...(replica.sequencer?.position !== undefined ? { position: replica.sequencer.position } : {}),
    }];
    // Older than the newest agreed one: never needed again. Too many pending: the oldest go (never
    // the newest two: the last one's pages are what the next snapshot's are sent against).
    let agreedAt = -1;
    list.forEach((snap, i) => { if (this.agreed(snap)) agreedAt = i; });
    const kept = list.slice(Math.max(0, agreedAt));
    const pending = kept.length - (agreedAt >= 0 ? 1 : 0);
    if (pending > maxPendingSnapshots) kept.splice(agreedAt >= 0 ? 1 : 0, pending - maxPendingSnapshots);
    this.snapshots.set(replica.index, kept);
    this.snapshotStats.taken++;
    if (this.options.onSnapshot) this.options.onSnapshot(replica.index, list.at(-1)!, (hash) => this.pages.get(hash)!);
    this.prunePages();
    if (this.options.compact) await this.compactLog();
  }

  /**
   * Keeps only the pages the kept snapshots name: a process sends the pages that changed since its
   * previous snapshot, whose pages were kept until this one replaced it.
   */
  private prunePages(): void {
    const named = new Set<string>();
    for (const list of this.snapshots.values()) for (const snap of list) for (const p of snap.processes.values()) for (const h of p.pages) named.add(h);
    for (const h of this.pages.keys()) if (!named.has(h)) this.pages.delete(h);
  }

  /** The snapshot replica `index` restarts from: the newest agreed one of its own or (no per-replica config) of any replica's. */
  private usableSnapshot(index: number): ReplicaSnapshot | undefined {
    const candidates = this.options.configFor ? this.snapshots.get(index) ?? [] : [...this.snapshots.values()].flat();
    return candidates.filter((snap) => this.agreed(snap) && snap.batch >= (this.log.first ?? 0)).sort((a, b) => b.batch - a.batch)[0];
  }

  /** Whether a majority of the replicas published the snapshot's state hash at its batch (remembered once known). */
  private agreed(snap: ReplicaSnapshot): boolean {
    if (snap.agreed) return true;
    const same = [...(this.hashes.get(snap.batch)?.values() ?? [])].filter((h) => h === snap.hash).length;
    snap.agreed = same >= Math.floor(this.options.replicas / 2) + 1;
    return snap.agreed;
  }

  /** Drops the log below the oldest snapshot a restart could need: every replica's usable one. */
  private async compactLog(): Promise<void> {
    if (!this.log.compact) return;
    const needed = this.present.map((r) => this.usableSnapshot(r.index)?.batch);
    if (needed.some((b) => b === undefined)) return;
    const below = Math.min(...(needed as number[]));
    if (below <= this.snapshotStats.compactedBelow) return;
    await this.log.compact(below);
    this.snapshotStats.compactedBelow = below;
  }

  private publish(replica: number, batch: number, hash: string): void {
    this.options.hashBoard?.publish(replica, batch, hash);
    this.record(replica, batch, hash);
  }

  /** What the cluster holds that grows with use: connections and flows being answered, batches whose hashes are kept. */
  get stats(): { connections: number; flows: number; hashedBatches: number } {
    return { ...this.output.stats, hashedBatches: this.hashes.size };
  }

  private record(replica: number, batch: number, hash: string): void {
    if (batch < this.oldestHashed) return;
    this.forgetHashesBefore(batch - (this.options.comparedBatches ?? comparedBatches) + 1);
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

  /**
   * The gateway that numbered `links` is gone (another node's lease ran out): every replica
   * resets the connections still open among them, at the same point of the log.
   */
  linksGone(links: LinkRange): void {
    if (this.stopping) return;
    this.proposer.push({ kind: 'reset-links', first: links.first, end: links.end });
  }

  private stopping = false;

  /** Drops the hashes of batches before `oldest` (one step a batch, or one pass after a jump). */
  private forgetHashesBefore(oldest: number): void {
    if (oldest <= this.oldestHashed) return;
    if (oldest - this.oldestHashed <= this.hashes.size) {
      for (let b = this.oldestHashed; b < oldest; b++) this.hashes.delete(b);
    } else {
      for (const b of this.hashes.keys()) if (b < oldest) this.hashes.delete(b);
    }
    this.oldestHashed = oldest;
  }

  /** Simulates a crash: the replica's workers are stopped at once. */
  async kill(index: number): Promise<void> {
    const r = this.replicas[index - 1]!;
    r.alive = false;
    r.links.muted = true;
    r.sequencer?.end();
    // The designated replica is gone: the live one furthest along the log answers from now on,
    // continuing from the last byte the clients got.
    if (this.designated === index) {
      const next = this.present.filter((p) => p.alive).sort((a, b) => (b.sequencer?.applied ?? 0) - (a.sequencer?.applied ?? 0) || a.index - b.index)[0];
      this.designated = next?.index;
      this.prioritise();
    }
    this.output.reconsider();
    await r.machine?.stop(0, 'crashed');
  }

  /**
   * Starts the replica afresh: from the latest usable snapshot if replicas take them (it replays
   * only the log after it), else from the start of the log; then it keeps up with the others.
   */
  restart(index: number): void {
    const from = this.copies ? this.usableSnapshot(index) : undefined;
    // Compaction keeps the log from the oldest snapshot any replica would restart from: never
    // without one (an invariant; the check names it rather than failing in the log).
    if (!from && (this.log.first ?? 0) > 0) throw new Error(`replica ${index} cannot restart: the log is compacted below batch ${this.log.first} and no agreed snapshot at or after it is kept`);
    this.snapshotStats.lastRestartFrom = from?.batch ?? null;
    this.launch(index, from);
  }

  /**
   * Stops taking clients, lets every live replica apply the whole log (so all stop at the same
   * point, with the same final state), then stops them.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.log.stopping?.();
    this.stdin.close();
    await this.gateway.close();
    // Our clients are gone: on a log that outlives us, replicas elsewhere must see them go too.
    if (this.options.links) this.proposer.push({ kind: 'reset-links', first: this.options.links.first, end: this.options.links.end });
    await this.proposer.close();
    // Every replica finishes the log at the process's priority: the slower ones must not hold the stop.
    this.prioritise(true);
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
