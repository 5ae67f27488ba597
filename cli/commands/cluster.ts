import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  ChaosDriver, chaosSchedule, Cluster, defaultChaosFaults as chaosFaultsDefault, maxChaosFaults as chaosFaultsMax, type ChaosOptions, connectEtcdLog,
  defaultMaxLogEntries, EmbeddedLog, LogFullError, etcdHashBoard, isEtcdUnavailable, linkBlockRange, linkBlocksRange, LinkBlocksExhaustedError,
  type ConsensusLog, type EtcdLog, type HashBoard, type LinkRange, CannotCatchUpError, machineFingerprint, NodeSnapshots, SnapshotDir, maxSnapshotFiles, type ReplicaSnapshot,
} from '../../consensus/index.js';
import { writeTrap } from '../trap-report.js';
import { InternalError, isComponentProgram, StreamStdin, type GuestOutcome } from '../../runtime/index.js';
import { outputWriter } from '../guest-output.js';
import { listeningLine, loadProcesses, watchStopSignals } from '../machine-processes.js';
import { parseCount, parseListenSpec, refuseFaultsBeyondMemory, toProcessConfig, UsageError, withFaults } from '../options.js';
import { runOptionsFrom, stoppedExitCode } from './run.js';
import { paintFor } from '../colour.js';
import { ExitCode } from '../exit-codes.js';
import { summaryTarget, writeSummary } from '../json-summary.js';

import { defaultChaosFaults, defaultSnapshotDir, maxChaosFaults, maxChaosGap, maxReplicas, maxSnapshotFilesShown, type ParsedClusterArgs } from './cluster-options.js';

/** `replicode cluster`: runs the machine on N replicas in lockstep; reports a disagreeing replica at once. */
export async function clusterCommand(argv: ParsedClusterArgs): Promise<number> {
  const options = runOptionsFrom(argv);
  const config = toProcessConfig(options);
  const replicas = parseCount('replicas', argv.replicas, 1, maxReplicas);
  const listen = argv.listen.map(parseListenSpec);
  if (listen.length === 0) throw new UsageError('a cluster serves clients: give at least one --listen HOST:PORT=VPORT');
  if (argv.recordDir) mkdirSync(argv.recordDir, { recursive: true });
  const loaded = await loadProcesses(options.module, argv.process, config);
  // The guests' output comes after the cluster's own listening line, however the start is timed.
  const writeNow = outputWriter();
  let held: [1 | 2, Uint8Array][] | undefined = [];
  const write = (stream: 1 | 2, bytes: Uint8Array): ReturnType<typeof writeNow> => {
    if (!held) return writeNow(stream, bytes);
    held.push([stream, bytes.slice()]);
  };
  let disagreed = false;
  // A stop asked before the cluster runs (the log refused this node at once) takes effect when it does.
  let stopAsked = false;
  let stop = () => { stopAsked = true; };
  const node = argv.id === undefined ? undefined : parseCount('id', argv.id, 1, replicas);
  if (argv.log === 'etcd' && !argv.endpoints) throw new UsageError('--log etcd needs --endpoints URL[,URL...]');
  if (argv.log !== 'etcd' && argv.endpoints) throw new UsageError(`--endpoints ${argv.endpoints}: etcd's endpoints are for --log etcd (the log is ${argv.log})`);
  assert(node === undefined || argv.log === 'etcd', 'node: yargs allows only --log etcd');
  const injected = injectedFaults(argv.inject, replicas, node);
  for (const specs of injected.values()) { // validates now, before anything starts
    withFaults(config, specs);
    for (const p of loaded) refuseFaultsBeyondMemory(specs, p.memoryLimitBytes, p.path);
  }
  const snapshotEvery = argv.snapshotEvery === undefined ? 0 : parseCount('snapshot-every', argv.snapshotEvery, 0);
  if (snapshotEvery > 0 && argv.recordDir) throw new UsageError('--snapshot-every: replicas that record traces (--record-dir) take no snapshots');
  const component = loaded.find((p) => isComponentProgram(p.module));
  if (snapshotEvery > 0 && component) throw new UsageError(`--snapshot-every: ${component.path} is a WASI 0.2 component, and snapshots do not support components yet`);
  if (snapshotEvery > 0 && argv.log === 'etcd' && node === undefined) throw new UsageError('--snapshot-every: snapshots are kept in this process, for replicas restarted in it: not with --log etcd (a node of an etcd cluster keeps them on disk: replicode node)');
  if (argv.compact && snapshotEvery === 0) throw new UsageError('--compact drops the log below the replicas\' snapshots: give --snapshot-every N');
  if (argv.snapshotDir !== undefined && snapshotEvery === 0) throw new UsageError('--snapshot-dir goes with --snapshot-every N');
  const followerNiceness = argv.followerNiceness === undefined ? undefined : parseCount('follower-niceness', argv.followerNiceness, 0, 19);
  const maxLogEntries = argv.maxLogEntries === undefined ? undefined : parseCount('max-log-entries', argv.maxLogEntries, 1, defaultMaxLogEntries);
  if (maxLogEntries !== undefined && argv.log === 'etcd') throw new UsageError('--max-log-entries bounds the embedded log; etcd keeps its own');
  const chaos = chaosOptions(argv, replicas);
  const guestOutput = onceFromAny(write);
  const endpoints = (argv.endpoints ?? '').split(',').map((e) => e.trim()).filter(Boolean);
  let log: ConsensusLog | undefined = maxLogEntries === undefined ? undefined : new EmbeddedLog(maxLogEntries);
  let logFailed: Error | undefined;
  /** The etcd log is compacted past what this node needs (no snapshot to start from, or compacted since it chose one). */
  let cannotCatchUp = false;
  let hashBoard: HashBoard | undefined;
  let links: LinkRange | undefined;
  let etcdLog: EtcdLog | undefined;
  let block = 0;
  const resetLinks: LinkRange[] = [];
  let nodeSnapshots: NodeSnapshots | undefined;
  let resumeFrom: { replica: number; snapshot: ReplicaSnapshot; pages: Map<string, Uint8Array> } | undefined;
  if (argv.log === 'etcd') {
    try {
      const etcd = await connectEtcdLog(endpoints, argv.clusterName, `node${node ?? 0}-${process.pid}`);
      log = etcdLog = etcd;
      // The log outlives this process: our clients' ids must differ from every id already on it.
      block = await etcd.claimLinkBlock();
      links = linkBlockRange(block);
      // Processes gone from the log (killed, and no live node saw their lease run out) left their
      // clients' connections open on it; so may this node's previous run, if its lease is still on.
      const gone = await etcd.goneLinkBlocks(block);
      for (const run of gone) resetLinks.push(linkBlocksRange(run.first, run.end));
      if (node !== undefined) {
        hashBoard = await etcdHashBoard(etcd, argv.clusterName);
        const previous = await etcd.swapNodeLinkBlock(node, block);
        if (previous !== undefined && !gone.some((run) => previous >= run.first && previous < run.end)) resetLinks.push(linkBlockRange(previous));
        etcd.onCompacted = (from, first) => {
          cannotCatchUp = true;
          process.stderr.write(`replicode: node ${node} cannot catch up: the etcd log is compacted below batch ${first} and it needs batch ${from} on (${from === 0 ? 'it has no snapshot: --snapshot-every' : 'compacted since it chose its snapshot'}); stopping\n`);
          stop();
        };
        if (snapshotEvery > 0) {
          nodeSnapshots = startNodeSnapshots(argv, etcd, node, replicas, snapshotEvery, loaded);
          const chosen = await nodeSnapshots.chooseResume();
          if (chosen) {
            resumeFrom = { replica: node, ...chosen };
            process.stderr.write(`replicode: node ${node} resumes from its snapshot at batch ${chosen.snapshot.batch} (state ${chosen.snapshot.hash}); reading the etcd log after it\n`);
          }
        }
      }
    } catch (err) {
      if (await isEtcdUnavailable(err) || err instanceof LinkBlocksExhaustedError || err instanceof CannotCatchUpError) throw new UsageError((err as Error).message);
      throw err;
    }
  }
  const cluster = await Cluster.start({
    ...(injected.size ? { configFor: (replica: number, c: typeof config) => withFaults(c, injected.get(replica) ?? []) } : {}),
    replicas, listen, replies: argv.replies ?? 'designated', ...(argv.recordDir ? { recordDir: argv.recordDir } : {}),
    // A node compacts the etcd log itself, from every node's published snapshots (node-snapshots.ts).
    ...(snapshotEvery > 0 ? { snapshotEvery, compact: argv.compact === true && node === undefined } : {}),
    ...(nodeSnapshots ? { onSnapshot: nodeSnapshots.onSnapshot } : {}), ...(resumeFrom ? { resumeFrom } : {}),
    ...(followerNiceness !== undefined ? { followerNiceness } : {}),
    ...(log ? { log } : {}), ...(hashBoard ? { hashBoard } : {}),
    // The cluster's stdin goes on the log for every replica; nodes of a multi-machine cluster read none.
    ...(node !== undefined ? { replicaIds: [node] } : { stdin: new StreamStdin(process.stdin) }),
    ...(links ? { links } : {}), ...(resetLinks.length ? { resetLinks } : {}),
    processes: loaded.map(({ path, module, bytes, config: c }) => ({ module, moduleName: basename(path), moduleBytes: bytes, config: c })),
    // One replica speaks for all on this terminal; the others' output is compared through the hashes.
    onOutput: chaos ? guestOutput.offer : (replica, stream, bytes) => { if (replica === (node ?? 1)) void write(stream, bytes); },
    onLogFailure: (err) => {
      // A full log is a bound reached: stop, saying so. Another failure (etcd unreachable) is said once.
      if (!(err instanceof LogFullError)) return void process.stderr.write(`replicode: appending to the consensus log failed: ${err.message}\n`);
      logFailed = err;
      process.stderr.write(`replicode: the consensus log is full (${err.message}); stopping the cluster\n`);
      stop();
    },
    onDisagreement: (d) => {
      disagreed = true;
      const hashes = Object.entries(d.hashes).map(([r, h]) => `replica ${r}: ${h}`).join(', ');
      const who = paintFor(process.stderr).bad(`replica ${d.replicas.join(', ')} disagrees with the others`);
      process.stderr.write(`replicode: ${who} after batch ${d.batch} (${hashes})\n`);
    },
  });
  // A node gone while we run (its lease ran out) takes its clients' connections with it, on every replica.
  etcdLog?.watchGoneBlocks((gone) => { if (gone !== block) cluster.linksGone(linkBlockRange(gone)); });
  const what = node !== undefined ? `node ${node} of a ${replicas}-replica cluster (etcd)` : `cluster of ${replicas} replicas${argv.log === 'etcd' ? ' (etcd log)' : ''}`;
  for (const l of cluster.listening) process.stderr.write(`replicode: ${what} ${listeningLine(l)}\n`);
  for (const [stream, bytes] of held ?? []) await writeNow(stream, bytes);
  held = undefined;
  const driver = chaos && new ChaosDriver(cluster.log, chaosSchedule(chaos), cluster, (f) => {
    if (f.action === 'restart') guestOutput.restarted(f.replica, cluster.outputAtStart(f.replica));
    process.stderr.write(`replicode: chaos ${chaos.seed}: batch ${f.batch}: ${f.action} replica ${f.replica} (${f.alive} of ${replicas} alive)\n`);
  });
  if (chaos) process.stderr.write(`replicode: chaos ${chaos.seed}: ${chaos.faults} replica(s) to kill and restart\n`);
  const stopped = new Promise<void>((resolve) => { stop = resolve; if (stopAsked) resolve(); });
  const stopSignals = watchStopSignals(() => stop());
  const ended = driver ? liveReplicasEnded(cluster, driver) : cluster.outcomes;
  const first = await Promise.race([stopped.then(() => undefined), ended]);
  await driver?.stop();
  await nodeSnapshots?.close();
  await cluster.stop();
  stopSignals.dispose();
  const signal = stopSignals.signal();
  process.stderr.write(`replicode: ${cluster.agreedBatches} batches applied by every replica; ${cluster.disagreements.length} disagreement(s)${argv.recordDir ? `; traces in ${argv.recordDir}` : ''}\n`);
  if (first) for (const [i, outcome] of (first[0] ?? []).entries()) if (outcome.kind === 'trap') await writeTrap(outcome.trap, loaded[i]?.path);
  const guestExitCode = first?.[0]?.[0]?.exitCode;
  // A disagreement says more than how the cluster was stopped: it wins over Ctrl-C.
  const exitCode = disagreed ? ExitCode.diverged : logFailed || cannotCatchUp ? ExitCode.usage : first ? (guestExitCode ?? ExitCode.ok) : stoppedExitCode(signal, undefined);
  writeSummary(summaryTarget(argv.json), {
    command: node !== undefined ? 'node' : 'cluster',
    outcome: disagreed ? 'disagreement' : logFailed ? 'log-full' : cannotCatchUp ? 'cannot-catch-up' : first ? 'exit' : 'interrupted', exitCode,
    ...(signal ? { signal } : {}),
    replicas, ...(node !== undefined ? { node } : {}), log: argv.log,
    batches: cluster.agreedBatches, disagreements: cluster.disagreements,
    guestExitCode: guestExitCode ?? null,
    ...(chaos && driver ? { chaos: { seed: chaos.seed, faults: chaos.faults, fired: driver.fired } } : {}),
    ...(nodeSnapshots ? { snapshots: { taken: cluster.snapshotStats.taken, ...nodeSnapshots.summary() } } : {}),
    traces: argv.recordDir ? (node !== undefined ? [node] : Array.from({ length: replicas }, (_, i) => i + 1)).map((r) => join(argv.recordDir!, `replica-${r}.rct`)) : [],
  });
  // Everything is said and the log closed; a connection to an etcd that stopped answering can
  // still hold the process (its socket waits for the peer: ~50 s after Ctrl-C with etcd frozen).
  // Exits a moment from now unless the process has ended by itself (the timer holds nothing).
  if (etcdLog) setTimeout(() => process.exit(exitCode), lingerAfterEtcdMs).unref();
  return exitCode;
}

/** How long a `node` or `cluster --log etcd` may take to end by itself once done (see above). */
const lingerAfterEtcdMs = 500;

/** A node's snapshot directory and its publications on etcd (--snapshot-every, --snapshot-dir, --compact). */
function startNodeSnapshots(argv: ParsedClusterArgs, etcd: EtcdLog, node: number, replicas: number, every: number, loaded: Awaited<ReturnType<typeof loadProcesses>>): NodeSnapshots {
  assert(maxSnapshotFiles === maxSnapshotFilesShown, 'snapshot files kept differ between the CLI and consensus');
  const dir = argv.snapshotDir ?? defaultSnapshotDir(argv.clusterName, node);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new UsageError(`--snapshot-dir ${dir}: cannot create it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const machine = machineFingerprint(loaded.map((p) => ({ moduleBytes: p.bytes, config: p.config })), replicas);
  const say = (line: string) => void process.stderr.write(`replicode: ${line}\n`);
  return new NodeSnapshots({
    log: etcd, dir: new SnapshotDir(dir, { machine, cluster: argv.clusterName, replica: node }, say), node, replicas, machine, cluster: argv.clusterName,
    every, compact: argv.compact === true, say,
  });
}

/**
 * The guests' output under chaos, once: every replica prints the same bytes, and any may be
 * killed, so each byte goes out from whichever replica produced it first; a restarted replica,
 * replaying the log, prints again only past what went out.
 */
function onceFromAny(write: (stream: 1 | 2, bytes: Uint8Array) => unknown) {
  const printed = { 1: 0, 2: 0 };
  const produced = new Map<number, { 1: number; 2: number }>();
  return {
    offer: (replica: number, stream: 1 | 2, bytes: Uint8Array): void => {
      const p = produced.get(replica) ?? { 1: 0, 2: 0 };
      produced.set(replica, p);
      const start = p[stream];
      p[stream] += bytes.length;
      if (p[stream] <= printed[stream]) return;
      void write(stream, bytes.subarray(Math.max(0, printed[stream] - start)));
      printed[stream] = p[stream];
    },
    /** A restarted replica's guests write again from the start, or from where its snapshot was. */
    restarted: (replica: number, at: { 1: number; 2: number }): void => { produced.set(replica, { ...at }); },
  };
}

/** --chaos SEED [--chaos-faults N]: `cluster` only (a node runs one replica: kill its process instead). */
function chaosOptions(argv: ParsedClusterArgs, replicas: number): ChaosOptions | undefined {
  assert(defaultChaosFaults === chaosFaultsDefault && maxChaosFaults === chaosFaultsMax, 'chaos limits differ between the CLI and consensus');
  if (argv.chaos === undefined) {
    if (argv.chaosFaults !== undefined || argv.chaosGap !== undefined) throw new UsageError(`--chaos-${argv.chaosFaults !== undefined ? 'faults' : 'gap'} goes with --chaos SEED`);
    return undefined;
  }
  assert(argv.id === undefined, 'node: yargs refuses --chaos (a node runs one replica: kill and restart its process)');
  const seed = parseCount('chaos', argv.chaos, 0, 2 ** 32 - 1);
  const faults = argv.chaosFaults === undefined ? defaultChaosFaults : parseCount('chaos-faults', argv.chaosFaults, 0, maxChaosFaults);
  const maxGap = argv.chaosGap === undefined ? undefined : parseCount('chaos-gap', argv.chaosGap, 2, maxChaosGap);
  return { seed, replicas, faults, ...(maxGap !== undefined ? { maxGap } : {}) };
}

/**
 * Under chaos the replicas first started may be killed: the guests have ended once every replica
 * alive has ended and no fault fired meanwhile (while none is alive, the next restart is awaited).
 */
async function liveReplicasEnded(cluster: Cluster, driver: ChaosDriver): Promise<GuestOutcome[][]> {
  for (;;) {
    const before = driver.fired.length;
    const changed = driver.changed();
    const outcomes = await Promise.race([cluster.liveOutcomes, changed.then(() => undefined)]);
    if (outcomes && driver.fired.length === before && outcomes.length > 0) return outcomes;
    if (outcomes && driver.fired.length === before) await changed; // none alive: wait for one back
  }
}

/** --inject REPLICA:SPEC, by replica: the fault goes into that replica's configuration only (a node's own replica only). */
function injectedFaults(items: string[], replicas: number, node: number | undefined): Map<number, string[]> {
  const injected = new Map<number, string[]>();
  for (const item of items) {
    const m = /^(\d+):(.+)$/.exec(item);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > replicas) throw new UsageError(`--inject ${item}: expected REPLICA:SPEC with REPLICA in 1..${replicas}`);
    if (node !== undefined && Number(m[1]) !== node) throw new UsageError(`--inject ${item}: this node runs replica ${node} only; inject into replica ${m[1]} on its own node`);
    injected.set(Number(m[1]), [...(injected.get(Number(m[1])) ?? []), m[2]!]);
  }
  return injected;
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InternalError(message);
}
