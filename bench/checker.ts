// `BENCH_ONLY=checker npm run bench`: the Jepsen-style checker over a long chaos run (at least
// 200 replicas killed and restarted): resp_server on a 3-replica `cluster --chaos SEED`, clients
// recording every request, the history checked for linearizability and the other anomalies
// (bench/checker/history.ts). Writes bench/results/checker.json.
import { checkHistory, describeAnomaly } from './checker/history.js';
import { runWorkload } from './checker/workload.js';
import { hasEtcd, runEtcdWorkload } from './checker/etcd-workload.js';

/** `snapshotEvery`: the replicas restart from catch-up snapshots taken every so many batches (cluster --snapshot-every, --compact). */
export async function benchChecker(root: string, snapshotEvery?: number) {
  const seed = Number(process.env.BENCH_CHECKER_SEED ?? 14);
  const faults = Number(process.env.BENCH_CHECKER_FAULTS ?? 200);
  const run = await runWorkload({ root, seed, faults, gap: Number(process.env.BENCH_CHECKER_GAP ?? 30), maxOps: 200_000, maxMs: 15 * 60_000, timeoutMs: 10_000, ...(snapshotEvery ? { snapshotEvery } : {}) });
  const started = performance.now();
  const check = checkHistory(run.history);
  const checkMs = performance.now() - started;
  const kills = run.history.faults.filter((f) => f.action === 'kill').length;
  const restarts = run.history.faults.length - kills;
  const outages = run.history.faults.filter((f, i, all) => f.action === 'kill' && f.alive < 2 && (i === 0 || all[i - 1]!.alive >= 2)).length;
  const anomalies = check.anomalies.length + run.summary.disagreements.length + check.undecided.length;
  console.log(`${'checker (chaos seed ' + seed + (snapshotEvery ? `, snapshots every ${snapshotEvery} batches` : '') + ')'.padEnd(10)} ${check.operations} operations (${check.ok} ok, ${check.unknown} unknown) on ${check.keys} keys; ${kills} kills, ${restarts} restarts (${outages} majority outages); ${anomalies} anomalies; run ${(run.elapsedMs / 1000).toFixed(1)} s, check ${(checkMs / 1000).toFixed(2)} s`);
  for (const a of check.anomalies.slice(0, 20)) console.log(`  ${describeAnomaly(a)}`);
  return {
    seed, snapshotEvery: snapshotEvery ?? null, faultsPlanned: faults, allFaultsFired: run.allFaultsFired, operations: check.operations, ok: check.ok, unknown: check.unknown,
    failed: check.operations - check.ok - check.unknown, keys: check.keys,
    faults: { kills, restarts, events: kills + restarts, majorityOutages: outages },
    batches: run.summary.batches, disagreements: run.summary.disagreements.length,
    anomalies, byKind: Object.fromEntries([...new Set(check.anomalies.map((a) => a.kind))].map((k) => [k, check.anomalies.filter((a) => a.kind === k).length])),
    undecidedKeys: check.undecided, searchSteps: check.verdicts.reduce((n, v) => n + v.steps, 0),
    firstAnomalies: check.anomalies.slice(0, 20).map(describeAnomaly),
    runMs: Math.round(run.elapsedMs), checkMs: Math.round(checkMs),
    faultsMatchSchedule: JSON.stringify(run.summary.chaos?.fired ?? []) === JSON.stringify(run.history.faults.map(({ time: _t, ...f }) => f)),
  };
}

/** The etcd-backed variant: 3 `replicode node`s on a 3-member etcd; etcd members and nodes killed and restarted. */
export async function benchEtcdChecker(root: string) {
  if (!hasEtcd()) return { skipped: 'etcd is not installed' };
  const seed = Number(process.env.BENCH_CHECKER_SEED ?? 14);
  const faults = Number(process.env.BENCH_CHECKER_ETCD_FAULTS ?? 40);
  const run = await runEtcdWorkload({ root, seed, faults, faultEveryMs: 1500, maxOps: 200_000, maxMs: 10 * 60_000, timeoutMs: 10_000 });
  const check = checkHistory(run.history);
  const memberKills = run.history.faults.filter((f) => f.action === 'kill');
  const nodeKills = run.nodeFaults.filter((f) => f.action === 'kill').length;
  const anomalies = check.anomalies.length + run.disagreements + check.undecided.length + run.stuck.length;
  console.log(`checker on etcd (seed ${seed})  ${check.operations} operations (${check.ok} ok, ${check.unknown} unknown); ${memberKills.length} etcd member faults (${memberKills.filter((f) => f.alive < 2).length} without quorum), ${nodeKills} node kills, each restarted; ${anomalies} anomalies; run ${(run.elapsedMs / 1000).toFixed(1)} s`);
  for (const a of check.anomalies.slice(0, 20)) console.log(`  ${describeAnomaly(a)}`);
  for (const line of run.stuck) console.log(`  ${line}`);
  return {
    seed, operations: check.operations, ok: check.ok, unknown: check.unknown, timeouts: run.history.ops.filter((o) => o.why === 'timeout').length,
    faults: { etcdMemberFaults: memberKills.length, etcdQuorumLost: memberKills.filter((f) => f.alive < 2).length, nodeKills, events: run.history.faults.length + run.nodeFaults.length },
    disagreements: run.disagreements, stuck: run.stuck, anomalies, firstAnomalies: check.anomalies.slice(0, 20).map(describeAnomaly), runMs: Math.round(run.elapsedMs),
  };
}
