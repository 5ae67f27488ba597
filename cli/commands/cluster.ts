import { mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  Cluster, connectEtcdLog, defaultMaxLogEntries, EmbeddedLog, LogFullError, etcdHashBoard, isEtcdUnavailable, linkBlockRange, linkBlocksRange, LinkBlocksExhaustedError, type ConsensusLog, type EtcdLog, type HashBoard, type LinkRange,
} from '../../consensus/index.js';
import { writeTrap } from '../trap-report.js';
import { InternalError, StreamStdin } from '../../runtime/index.js';
import { outputWriter } from '../guest-output.js';
import { listeningLine, loadProcesses, watchStopSignals } from '../machine-processes.js';
import { parseCount, parseListenSpec, refuseFaultsBeyondMemory, toProcessConfig, UsageError, withFaults } from '../options.js';
import { runOptionsFrom, stoppedExitCode } from './run.js';
import { paintFor } from '../colour.js';
import { ExitCode } from '../exit-codes.js';
import { summaryTarget, writeSummary } from '../json-summary.js';

import { maxReplicas, type ParsedClusterArgs } from './cluster-options.js';

/** `replicode cluster`: runs the machine on N replicas in lockstep; reports a disagreeing replica at once. */
export async function clusterCommand(argv: ParsedClusterArgs): Promise<number> {
  const options = runOptionsFrom(argv);
  const config = toProcessConfig(options);
  const replicas = parseCount('replicas', argv.replicas, 1, maxReplicas);
  const listen = argv.listen.map(parseListenSpec);
  if (listen.length === 0) throw new UsageError('a cluster serves clients: give at least one --listen HOST:PORT=VPORT');
  if (argv.recordDir) mkdirSync(argv.recordDir, { recursive: true });
  const loaded = await loadProcesses(options.module, argv.process, config);
  const write = outputWriter();
  let disagreed = false;
  let stop = () => {};
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
  if (snapshotEvery > 0 && argv.log === 'etcd') throw new UsageError('--snapshot-every: snapshots are kept in this process, for replicas restarted in it: not with --log etcd');
  if (argv.compact && snapshotEvery === 0) throw new UsageError('--compact drops the log below the replicas\' snapshots: give --snapshot-every N');
  const maxLogEntries = argv.maxLogEntries === undefined ? undefined : parseCount('max-log-entries', argv.maxLogEntries, 1, defaultMaxLogEntries);
  if (maxLogEntries !== undefined && argv.log === 'etcd') throw new UsageError('--max-log-entries bounds the embedded log; etcd keeps its own');
  const endpoints = (argv.endpoints ?? '').split(',').map((e) => e.trim()).filter(Boolean);
  let log: ConsensusLog | undefined = maxLogEntries === undefined ? undefined : new EmbeddedLog(maxLogEntries);
  let logFailed: Error | undefined;
  let hashBoard: HashBoard | undefined;
  let links: LinkRange | undefined;
  let etcdLog: EtcdLog | undefined;
  let block = 0;
  const resetLinks: LinkRange[] = [];
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
      }
    } catch (err) {
      if (await isEtcdUnavailable(err) || err instanceof LinkBlocksExhaustedError) throw new UsageError((err as Error).message);
      throw err;
    }
  }
  const cluster = await Cluster.start({
    ...(injected.size ? { configFor: (replica: number, c: typeof config) => withFaults(c, injected.get(replica) ?? []) } : {}),
    replicas, listen, replies: argv.replies ?? 'designated', ...(argv.recordDir ? { recordDir: argv.recordDir } : {}),
    ...(snapshotEvery > 0 ? { snapshotEvery, compact: argv.compact === true } : {}),
    ...(log ? { log } : {}), ...(hashBoard ? { hashBoard } : {}),
    // The cluster's stdin goes on the log for every replica; nodes of a multi-machine cluster read none.
    ...(node !== undefined ? { replicaIds: [node] } : { stdin: new StreamStdin(process.stdin) }),
    ...(links ? { links } : {}), ...(resetLinks.length ? { resetLinks } : {}),
    processes: loaded.map(({ path, module, config: c }) => ({ module, moduleName: basename(path), moduleBytes: readFileSync(path), config: c })),
    // One replica speaks for all on this terminal; the others' output is compared through the hashes.
    onOutput: (replica, stream, bytes) => { if (replica === (node ?? 1)) void write(stream, bytes); },
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
  const stopped = new Promise<void>((resolve) => { stop = resolve; });
  const stopSignals = watchStopSignals(() => stop());
  const ended = cluster.outcomes;
  const first = await Promise.race([stopped.then(() => undefined), ended]);
  await cluster.stop();
  stopSignals.dispose();
  const signal = stopSignals.signal();
  process.stderr.write(`replicode: ${cluster.agreedBatches} batches applied by every replica; ${cluster.disagreements.length} disagreement(s)${argv.recordDir ? `; traces in ${argv.recordDir}` : ''}\n`);
  if (first) for (const [i, outcome] of (first[0] ?? []).entries()) if (outcome.kind === 'trap') await writeTrap(outcome.trap, loaded[i]?.path);
  const guestExitCode = first?.[0]?.[0]?.exitCode;
  // A disagreement says more than how the cluster was stopped: it wins over Ctrl-C.
  const exitCode = disagreed ? ExitCode.diverged : logFailed ? ExitCode.usage : first ? (guestExitCode ?? ExitCode.ok) : stoppedExitCode(signal, undefined);
  writeSummary(summaryTarget(argv.json), {
    command: node !== undefined ? 'node' : 'cluster',
    outcome: disagreed ? 'disagreement' : logFailed ? 'log-full' : first ? 'exit' : 'interrupted', exitCode,
    ...(signal ? { signal } : {}),
    replicas, ...(node !== undefined ? { node } : {}), log: argv.log,
    batches: cluster.agreedBatches, disagreements: cluster.disagreements,
    guestExitCode: guestExitCode ?? null,
    traces: argv.recordDir ? (node !== undefined ? [node] : Array.from({ length: replicas }, (_, i) => i + 1)).map((r) => join(argv.recordDir!, `replica-${r}.rct`)) : [],
  });
  return exitCode;
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
