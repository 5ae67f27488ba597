// The Jepsen-style checker (bench/checker/) against three `replicode node`s that take snapshots on
// disk, restart from them and compact the etcd log (--snapshot-every 10 --compact), on a 3-member
// etcd whose members and nodes are killed and restarted. About 20 s. (This run found that
// compacting etcd's history kills a node whose etcd3 watch is resumed from a compacted revision
// after a member is lost: nodes compact the log's keys only; see EtcdLog.compactLog.)
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { checkHistory, describeAnomaly } from '../bench/checker/history.js';
import { runEtcdWorkload } from '../bench/checker/etcd-workload.js';
import { repoRoot } from './helpers.js';

const hasEtcd = spawnSync('etcd', ['--version']).status === 0;

describe.skipIf(!hasEtcd)('node snapshots under faults', () => {
  it('the checker against three nodes that restart from snapshots on disk and compact the etcd log, while etcd members and nodes are killed: 0 anomalies', async () => {
    const run = await runEtcdWorkload({ root: repoRoot, seed: 5, faults: 6, faultEveryMs: 1000, timeoutMs: 6_000, maxMs: 40_000, snapshotEvery: 10, basePort: 29000 + ((process.pid + 150) % 300) * 10 });
    const check = checkHistory(run.history);
    expect(check.anomalies.map(describeAnomaly)).toEqual([]);
    expect(check.undecided).toEqual([]);
    expect(run.disagreements).toBe(0);
    expect(run.stuck).toEqual([]);
    expect(run.nodeFaults.filter((f) => f.action === 'restart').length).toBeGreaterThan(0);
    expect(run.resumedFromSnapshots).toBeGreaterThan(0);
    expect(check.ok).toBeGreaterThan(300);
  }, 180_000);
});
