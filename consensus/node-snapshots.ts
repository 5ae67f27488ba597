// Snapshots of a node of a multi-machine cluster (`replicode node --snapshot-every N`): each
// snapshot its replica takes is written to its snapshot directory (snapshot-file.ts), and the
// node publishes on etcd the (batch, state hash, log position) of the files it keeps, under a key
// of its own. A restarted node loads its newest file whose state hash a majority of the nodes
// published for that batch and reads the etcd log only after it. With --compact, the log drops
// its entries below the oldest snapshot any node would restart from, less one interval (margin).
import type { ReplicaSnapshot } from './cluster.js';
import type { EtcdLog, PublishedSnapshot } from './etcd-log.js';
import { SnapshotDir, type SnapshotIdentity } from './snapshot-file.js';

/** A node that cannot resume: the log it needs was compacted away and no snapshot it holds is usable. */
export class CannotCatchUpError extends Error {}

export interface NodeSnapshotOptions {
  log: EtcdLog;
  dir: SnapshotDir;
  node: number;
  replicas: number;
  machine: string;
  cluster: string;
  /** Batches between snapshots: the compaction margin. */
  every: number;
  compact: boolean;
  say: (line: string) => void;
}

/** Whether a majority of the nodes published this (batch, hash), or one of them saw it agreed (it said so, and only says so once it had a majority). */
export function isAgreed(published: ReadonlyMap<number, PublishedSnapshot[]>, replicas: number, batch: number, hash: string): boolean {
  let same = 0;
  for (const list of published.values()) {
    const s = list.find((p) => p.batch === batch && p.hash === hash);
    if (s?.agreed) return true;
    if (s) same++;
  }
  return same >= Math.floor(replicas / 2) + 1;
}

/**
 * The batch the log may drop entries below: the oldest among the nodes' newest agreed snapshot
 * files, less `margin` (so the snapshot before it is usable too). Only files their node marked
 * agreed count: the mark stays in its key while it keeps the file, so the node restarted finds it
 * agreed even once the others no longer list that batch (a majority seen only now would not
 * last). Undefined while a node that published snapshots has no such file, or fewer than a
 * majority of the nodes published any.
 */
export function compactionPoint(published: ReadonlyMap<number, PublishedSnapshot[]>, replicas: number, margin: number): number | undefined {
  const newest: number[] = [];
  for (const list of published.values()) {
    if (list.length === 0) continue;
    const agreed = list.filter((s) => s.agreed === true && s.file === true).map((s) => s.batch);
    if (agreed.length === 0) return undefined;
    newest.push(Math.max(...agreed));
  }
  if (newest.length < Math.floor(replicas / 2) + 1) return undefined;
  const below = Math.min(...newest) - margin;
  return below > 0 ? below : undefined;
}

/**
 * Snapshots a node lists on etcd, its newest: more than the files it keeps, so that nodes a few
 * snapshots apart (one slower, or writing less often: a write still going skips the next) still
 * see each other's hashes at common batches, and mark them agreed.
 */
export const maxPublishedSnapshots = 16;

export class NodeSnapshots {
  /** What this node published: its latest snapshots, newest first (those it holds a file of say `file`). */
  private published: PublishedSnapshot[] = [];
  /** Publications one after another (each reads what the others published, then writes ours). */
  private publishing: Promise<void> = Promise.resolve();
  /** Figures for --json and tests. */
  readonly stats = { resumedAt: 0, compactedBelow: 0, deletedKeys: 0 };

  constructor(private readonly options: NodeSnapshotOptions) {}

  /** For --json: files written and skipped, the batch resumed at (0: the whole log), the log's start after compaction. */
  summary(): { written: number; skipped: number; resumedAt: number; compactedBelow: number; deletedKeys: number; dir: string } {
    return { ...this.options.dir.stats, ...this.stats, dir: this.options.dir.dir };
  }

  /**
   * The snapshot to resume from: this node's newest file that reads back whole and whose state
   * hash a majority published (or that this node marked agreed), at or after the log's start.
   * None: the node replays the whole log, unless the log was compacted (CannotCatchUpError).
   * Tells the log where to read from.
   */
  async chooseResume(): Promise<{ snapshot: ReplicaSnapshot; pages: Map<string, Uint8Array> } | undefined> {
    const { log, dir, replicas, say } = this.options;
    const first = (await log.firstPoint()).index;
    const published = await log.publishedSnapshots();
    this.published = (published.get(this.options.node) ?? []).slice(0, maxPublishedSnapshots);
    dir.protect = this.published.find((s) => s.agreed === true && s.file === true)?.batch;
    for (const file of await dir.list()) {
      const loaded = await dir.load(file.path);
      if (!loaded) continue;
      const { identity, snapshot } = loaded;
      if (identity.batch < first) {
        say(`snapshot ${file.path} not used: the etcd log is compacted to batch ${first}, after it`);
        continue;
      }
      if (!isAgreed(published, replicas, identity.batch, identity.hash)) {
        say(`snapshot ${file.path} not used: no majority of the nodes published its state hash ${identity.hash} at batch ${identity.batch}`);
        continue;
      }
      if (identity.position !== undefined) log.resumeAt(identity.batch, identity.position);
      this.stats.resumedAt = identity.batch;
      return { snapshot, pages: loaded.pages };
    }
    if (first > 0) throw new CannotCatchUpError(`node ${this.options.node} cannot catch up: the etcd log is compacted below batch ${first} and ${dir.dir} holds no agreed snapshot at or after it`);
    return undefined;
  }

  /** Cluster's onSnapshot: the file is written (or skipped), then the list published, then (with compact) the log compacted. */
  onSnapshot = (replica: number, snapshot: ReplicaSnapshot, page: (hash: string) => Uint8Array): void => {
    const { machine, cluster } = this.options;
    const at = snapshot.position !== undefined ? { position: snapshot.position } : {};
    const identity: SnapshotIdentity = { machine, cluster, replica, batch: snapshot.batch, hash: snapshot.hash, ...at };
    const entry: PublishedSnapshot = { batch: snapshot.batch, hash: snapshot.hash, ...at, agreed: false, file: false };
    const older = this.published.filter((s) => s.batch < snapshot.batch);
    // The newest agreed file stays listed (the log's compaction counts on it) however far back it is.
    const held = older.find((s) => s.agreed === true && s.file === true);
    const listed = [entry, ...older].slice(0, maxPublishedSnapshots);
    this.published = held && !listed.includes(held) ? [...listed.slice(0, -1), held] : listed;
    void this.options.dir.save(identity, snapshot, page).then(async () => {
      if (this.closing) return;
      const next = this.publishing.then(() => this.publish());
      this.publishing = next.catch(() => {});
      await next;
    }).catch((err: Error) => { if (!this.closing) this.options.say(`snapshot at batch ${snapshot.batch} not published: ${err.message}`); });
  };

  private closing = false;

  /** Publishes no more (the node stops; its log is about to close); waits for a publication under way. */
  async close(): Promise<void> {
    this.closing = true;
    await this.publishing;
  }

  /** Publishes the latest snapshots, which of them have files, each marked agreed once a majority published it; then compacts. */
  private async publish(): Promise<void> {
    const { log, node, replicas, dir } = this.options;
    const files = new Set((await dir.list()).map((f) => f.batch));
    const others = await log.publishedSnapshots();
    others.set(node, this.published);
    this.published = this.published.map((s) => ({ ...s, file: files.has(s.batch), agreed: s.agreed === true || isAgreed(others, replicas, s.batch, s.hash) }));
    await log.publishSnapshots(node, this.published);
    // Its newest agreed file, as etcd now says, is kept until a newer one is published agreed:
    // compactionPoint counts on it (a publication that failed leaves the one etcd has protected).
    dir.protect = this.published.find((s) => s.agreed === true && s.file === true)?.batch;
    if (!this.options.compact) return;
    others.set(node, this.published);
    const below = compactionPoint(others, replicas, this.options.every);
    if (below === undefined || below <= this.stats.compactedBelow) return;
    const done = await log.compactLog(below);
    this.stats.compactedBelow = done.first;
    this.stats.deletedKeys += done.deletedKeys;
  }
}
