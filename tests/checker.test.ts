// `cluster --chaos SEED` and the Jepsen-style checker: the fault schedule is a pure function of
// the seed, kills a majority now and then and ends with every replica back; the checker passes a
// linearizable history that needs reordering and names each kind of anomaly in hand-made bad
// ones; and a chaos run of resp_server on 3 replicas (50 replicas killed and restarted) has none.
import { describe, expect, it } from 'vitest';
import { chaosSchedule, maxChaosFaults } from '../dist/consensus/index.js';
import { checkHistory, describeAnomaly, type History } from '../bench/checker/history.js';
import { checkKey, type Op } from '../bench/checker/linearizable.js';
import { runWorkload } from '../bench/checker/workload.js';
import { hasEtcd, runEtcdWorkload } from '../bench/checker/etcd-workload.js';
import { repoRoot, runCli } from './helpers.js';

const op = (o: Partial<Op> & Pick<Op, 'f' | 'call' | 'ret'>): Op => ({ client: 0, key: 'x', status: 'ok', ...o });
const history = (ops: Op[], extra: Partial<History> = {}): History => ({ ops, extraReplies: [], faults: [], replicas: 3, timeoutMs: 1000, ...extra });
const kinds = (h: History) => checkHistory(h).anomalies.map((a) => a.kind).sort();

describe('chaos schedule', () => {
  it('is a pure function of the seed: the same seed, the same faults; another seed, others', () => {
    const a = chaosSchedule({ seed: 42, replicas: 3, faults: 100 });
    expect(chaosSchedule({ seed: 42, replicas: 3, faults: 100 })).toEqual(a);
    expect(chaosSchedule({ seed: 43, replicas: 3, faults: 100 })).not.toEqual(a);
  });

  it('kills exactly --chaos-faults replicas, restarts each, keeps a majority most of the time and sometimes not', () => {
    for (const replicas of [1, 2, 3, 5]) {
      const s = chaosSchedule({ seed: 7, replicas, faults: 200 });
      expect(s.filter((f) => f.action === 'kill')).toHaveLength(200);
      expect(s.filter((f) => f.action === 'restart')).toHaveLength(200);
      expect(s.at(-1)!.alive).toBe(replicas); // ends with every replica back
      for (let i = 1; i < s.length; i++) expect(s[i]!.batch).toBeGreaterThan(s[i - 1]!.batch);
      let alive = replicas;
      for (const f of s) { alive += f.action === 'kill' ? -1 : 1; expect(f.alive).toBe(alive); expect(alive).toBeGreaterThanOrEqual(0); }
    }
    const three = chaosSchedule({ seed: 7, replicas: 3, faults: 200 });
    const withoutQuorum = three.filter((f) => f.alive < 2).length;
    expect(withoutQuorum).toBeGreaterThan(5); // majority outages happen...
    expect(withoutQuorum).toBeLessThan(three.length / 4); // ...but a majority is alive most of the time
    expect(three.some((f) => f.alive === 0)).toBe(true); // now and then every replica is down
  });

  it('is bounded: a fault count past the limit is refused', () => {
    expect(() => chaosSchedule({ seed: 1, replicas: 3, faults: maxChaosFaults + 1 })).toThrow(/out of/);
    expect(chaosSchedule({ seed: 1, replicas: 3, faults: 0 })).toEqual([]);
  });

  it('the CLI refuses --chaos-faults without --chaos, --chaos with a bad seed, and --chaos on a node, in one line (exit 1)', () => {
    const noSeed = runCli(['cluster', '--chaos-faults', '3', '--listen', '127.0.0.1:0=6379', 'wasm_programs/build/resp_server.wasm']);
    expect(noSeed.exitCode).toBe(1);
    expect(noSeed.stderr).toMatch(/--chaos-faults goes with --chaos SEED/);
    const badSeed = runCli(['cluster', '--chaos', 'abc', '--listen', '127.0.0.1:0=6379', 'wasm_programs/build/resp_server.wasm']);
    expect(badSeed.exitCode).toBe(1);
    expect(badSeed.stderr).toMatch(/--chaos abc: expected a whole number/);
    const node = runCli(['node', '--id', '1', '--replicas', '3', '--endpoints', 'http://127.0.0.1:1', '--chaos', '1', '--listen', '127.0.0.1:0=6379', 'wasm_programs/build/resp_server.wasm']);
    expect(node.exitCode).toBe(1);
    expect(node.stderr).toMatch(/Unknown argument: chaos/);
  });
});

describe('linearizability checker', () => {
  it('accepts a concurrent history only some order explains (a read overlapping two writes sees the second)', () => {
    const ops = [
      op({ f: 'set', value: 1, call: 0, ret: 10 }),
      op({ f: 'set', value: 2, call: 1, ret: 9, client: 1 }),
      op({ f: 'get', result: 1, call: 11, ret: 12, client: 2 }), // 2 went first, then 1
      op({ f: 'incr', result: 2, call: 13, ret: 14 }),
      op({ f: 'get', result: 2, call: 15, ret: 16 }),
    ];
    expect(checkKey('x', ops).result).toBe('linearizable');
    expect(checkHistory(history(ops)).anomalies).toEqual([]);
  });

  it('an operation whose outcome is unknown may have happened, or not', () => {
    const happened = [op({ f: 'set', value: 5, call: 0, ret: Infinity, status: 'info', why: 'timeout' }), op({ f: 'get', result: 5, call: 2, ret: 3, client: 1 })];
    const not = [op({ f: 'set', value: 5, call: 0, ret: Infinity, status: 'info', why: 'timeout' }), op({ f: 'get', result: null, call: 2, ret: 3, client: 1 })];
    expect(checkKey('x', happened).result).toBe('linearizable');
    expect(checkKey('x', not).result).toBe('linearizable');
  });

  it('reports a stale read', () => {
    const ops = [op({ f: 'set', value: 1, call: 0, ret: 1 }), op({ f: 'set', value: 2, call: 2, ret: 3 }), op({ f: 'get', result: 1, call: 4, ret: 5, client: 1 }), op({ f: 'set', value: 3, call: 6, ret: 7 })];
    const result = checkHistory(history(ops));
    expect(result.anomalies.map((a) => a.kind).sort()).toEqual(['not-linearizable', 'stale-read']);
    expect(describeAnomaly(result.anomalies.find((a) => a.kind === 'stale-read')!)).toMatch(/stale read client 1 GET x -> 1 .* after client 0 SET x 2/);
  });

  it('reports a lost write: the final read misses an acknowledged SET', () => {
    const ops = [op({ f: 'set', value: 1, call: 0, ret: 1 }), op({ f: 'set', value: 2, call: 2, ret: 3, client: 1 }), op({ f: 'get', result: 1, call: 10, ret: 11, client: -1 })];
    expect(kinds(history(ops))).toEqual(['lost-write', 'not-linearizable']);
  });

  it('reports lost, counted-twice and duplicate increments', () => {
    const incr = (result: number, at: number) => op({ key: 'c', f: 'incr', result, call: at, ret: at + 1 });
    const final = (result: number) => op({ key: 'c', f: 'get', result, call: 100, ret: 101, client: -1 });
    expect(kinds(history([incr(1, 0), incr(2, 2), final(1)]))).toEqual(['lost-increment', 'not-linearizable']);
    expect(kinds(history([incr(1, 0), incr(2, 2), final(3)]))).toEqual(['double-increment', 'not-linearizable']);
    expect(kinds(history([incr(1, 0), incr(1, 2), final(2)]))).toEqual(['duplicate-increment', 'not-linearizable']);
  });

  it('reports a reply nobody asked for, and a timeout while a majority was alive (not one during an outage)', () => {
    const timedOut = op({ f: 'set', value: 1, call: 100, ret: Infinity, status: 'info', why: 'timeout' });
    expect(kinds(history([timedOut], { extraReplies: [{ client: 0, time: 5, bytes: '+OK\r\n' }] }))).toEqual(['extra-reply', 'timeout-with-quorum']);
    const outage = [{ time: 500, action: 'kill' as const, replica: 1, alive: 2, batch: 30 }, { time: 600, action: 'kill' as const, replica: 2, alive: 1, batch: 31 }, { time: 2000, action: 'restart' as const, replica: 2, alive: 2, batch: 40 }];
    expect(kinds(history([timedOut], { faults: outage }))).toEqual([]);
  });

  it('a search past its step bound is undecided, not passed', () => {
    const ops = Array.from({ length: 14 }, (_, i) => op({ f: 'set', value: i, call: 0, ret: 100, client: i }));
    ops.push(op({ f: 'get', result: -1, call: 101, ret: 102 })); // no order explains it: the whole space is searched
    expect(checkKey('x', ops, 1000).result).toBe('unknown');
    expect(checkHistory(history(ops), 1000).undecided).toEqual(['x']);
  });
});

/** A chaos run of resp_server on 3 replicas, 50 kills and restarts, checked: 0 anomalies, every fault fired, no disagreement. */
async function cleanChaosRun(seed: number, snapshotEvery?: number) {
  const run = await runWorkload({ root: repoRoot, seed, faults: 50, timeoutMs: 10_000, maxMs: 40_000, ...(snapshotEvery ? { snapshotEvery } : {}) });
  const check = checkHistory(run.history);
  expect(check.anomalies.map(describeAnomaly)).toEqual([]);
  expect(check.undecided).toEqual([]);
  expect(run.allFaultsFired).toBe(true);
  expect(run.summary.disagreements).toEqual([]);
  expect(check.ok).toBeGreaterThan(500);
  return run;
}

describe('the checker against cluster --chaos', () => {
  it('resp_server on 3 replicas, 50 replicas killed and restarted (some majorities): 0 anomalies, the faults as the seed says', async () => {
    const seed = 2;
    const run = await cleanChaosRun(seed);
    // The faults fired are the schedule's, at its batches: a failure reproduces from its seed.
    const schedule = chaosSchedule({ seed, replicas: 3, faults: 50 });
    expect(run.summary.chaos!.fired).toEqual(schedule);
    expect(run.history.faults.map(({ time: _t, ...f }) => f)).toEqual(schedule);
    expect(schedule.some((f) => f.alive < 2)).toBe(true);
  }, 60_000);

  it('with catch-up snapshots: replicas snapshot every 5 batches and restart from the newest agreed one (the log compacted): 0 anomalies', async () => {
    await cleanChaosRun(5, 5);
  }, 60_000);
});

describe.skipIf(!hasEtcd())('the checker against three `replicode node`s on a 3-member etcd', () => {
  it('etcd members killed and restarted (once two at a time: no quorum), nodes killed with kill -9 and restarted: 0 anomalies', async () => {
    const run = await runEtcdWorkload({ root: repoRoot, seed: 3, faults: 6, faultEveryMs: 1000, timeoutMs: 6_000, maxMs: 40_000 });
    const check = checkHistory(run.history);
    expect(check.anomalies.map(describeAnomaly)).toEqual([]);
    expect(check.undecided).toEqual([]);
    expect(run.disagreements, `the nodes' last lines:\n${run.nodeTails.join('\n---\n')}`).toBe(0);
    // Every node ended on Ctrl-C (one that did not would have held the run till the test's timeout).
    expect(run.stuck).toEqual([]);
    // The faults happened: an etcd outage (one member alive) among them.
    expect(run.history.faults.some((f) => f.action === 'kill' && f.alive === 1)).toBe(true);
    expect(run.history.faults.length + run.nodeFaults.length).toBeGreaterThanOrEqual(12);
    expect(check.ok).toBeGreaterThan(300);
    // No request waited out its timeout: an etcd that lost its quorum for a moment is caught up with at once.
    expect(run.history.ops.filter((o) => o.why === 'timeout')).toEqual([]);
  }, 60_000);
});
