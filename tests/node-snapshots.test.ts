// Snapshots on disk for `replicode node` (consensus/snapshot-file.ts, node-snapshots.ts): nodes on
// a real etcd (on loopback, a temp data dir) write their snapshots and publish their state hashes;
// a node killed with -9 and restarted resumes from its snapshot and reads only the log after it;
// --compact shrinks the etcd log; damaged, truncated and foreign files fall back with one line.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import {
  compactionPoint, connectEtcdLog, decodeSnapshotFile, encodeSnapshotFile, isAgreed, SnapshotDir, SnapshotFileError, type ReplicaSnapshot,
} from '../dist/consensus/index.js';
import { lastJson, programsDir, runCli, startCli, tempDir } from './helpers.js';

const hasEtcd = spawnSync('etcd', ['--version']).status === 0;
const httpWasm = join(programsDir, 'build', 'http_server.wasm');
const children: ChildProcess[] = [];
afterAll(() => { for (const c of children) c.kill('SIGKILL'); });

// Apart from tests/etcd.test.ts's ports (24000-28999) and the etcd checker's (29000-31999).
let nextPort = 20000 + (process.pid % 400) * 10;
/** A one-member etcd on 127.0.0.1 (as tests/etcd.test.ts starts them); its client URL. */
async function startEtcd(): Promise<string> {
  const client = `http://127.0.0.1:${nextPort}`;
  const peer = `http://127.0.0.1:${nextPort + 1}`;
  nextPort += 10;
  children.push(spawn('etcd', ['--name', 'm0', '--data-dir', tempDir('etcd-'), '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `m0=${peer}`, '--initial-cluster-state', 'new'], { stdio: 'ignore' }));
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const log = await connectEtcdLog([client], 'probe', 'probe');
      await log.append(new Uint8Array([1]));
      await log.close();
      return client;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('etcd did not start');
}

const counter = async (port: number) =>
  ((await (await fetch(`http://127.0.0.1:${port}/counter`, { signal: AbortSignal.timeout(5000) })).json()) as { counter: number }).counter;

const until = async (what: () => boolean | Promise<boolean>, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** Nodes of one cluster on `url`, each with its snapshot directory. */
function nodes(url: string, cluster: string, replicas: number, extra: string[]) {
  const dirs = Array.from({ length: replicas }, () => tempDir('snap-'));
  const start = (id: number) => {
    const cli = startCli(['node', '--json', '--endpoints', url, '--cluster-name', cluster, '--id', String(id), '--replicas', String(replicas),
      '--listen', '127.0.0.1:0=80', '--snapshot-every', '4', '--snapshot-dir', dirs[id - 1]!, ...extra, httpWasm]);
    children.push(cli.child);
    const port = cli.waitFor(/listening on 127\.0\.0\.1:(\d+)/).then((m) => Number(m[1]));
    port.catch(() => {});
    return { ...cli, port };
  };
  return { dirs, start };
}

const snapFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.snap')).sort();
const summaryOf = (stderr: string) => lastJson(stderr) as Record<string, unknown> & { snapshots: Record<string, number> };

async function logKeys(url: string, cluster: string): Promise<{ keys: number; first: number }> {
  const etcd = new Etcd3({ hosts: url });
  try {
    const keys = await etcd.getAll().prefix(`/replicode/${cluster}/log/`).count();
    const first = await etcd.get(`/replicode/${cluster}/log-first`).json() as { index: number } | null;
    return { keys, first: first?.index ?? 0 };
  } finally {
    etcd.close();
  }
}

describe.skipIf(!hasEtcd)('node snapshots on disk', () => {
  it('a node killed with -9 resumes from its snapshot, reads only the log after it and counts on; --compact shrinks the etcd log; a node with only damaged files and a compacted log exits 1 saying so', async () => {
    const url = await startEtcd();
    const { dirs, start } = nodes(url, 'snaps', 3, ['--compact']);
    const running = [start(1), start(2), start(3)];
    const ports = await Promise.all(running.map((n) => n.port));
    const seen: number[] = [];
    for (let i = 0; i < 30; i++) seen.push(await counter(ports[i % 3]!));
    await until(() => dirs.every((d) => snapFiles(d).length >= 3));
    // Compaction: the log holds far fewer keys than the batches appended, and its start moved.
    await until(async () => (await logKeys(url, 'snaps')).first > 0);
    running[1]!.child.kill('SIGKILL');
    await running[1]!.exited;
    for (let i = 0; i < 6; i++) seen.push(await counter(ports[0]!));
    const restarted = start(2);
    const resumed = Number((await restarted.waitFor(/node 2 resumes from its snapshot at batch (\d+)/))[1]);
    expect(resumed).toBeGreaterThan(0);
    const port = await restarted.port;
    for (let i = 0; i < 4; i++) seen.push(await counter(port));
    seen.push(await counter(ports[2]!));
    expect(seen).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    // At most three snapshot files a node.
    for (const d of dirs) expect(snapFiles(d).length).toBeLessThanOrEqual(3);

    // Node 3 killed, every file of it damaged (a flipped byte, a cut file, a foreign one): one line
    // each, then it cannot catch up (the log before its files is gone): one line, exit 1.
    // Compaction stops at a killed node's last snapshot, while the live nodes go on appending (~150
    // batches while the two nodes below start and end): it is first let run past batch 300, so that
    // the log's share left at the end says what --compact does, not how long that took.
    await until(async () => (await logKeys(url, 'snaps')).first >= 300, 60_000);
    // A node removes its oldest file before the new one takes its place: it is frozen, and killed
    // only with its three files in place.
    await until(() => {
      running[2]!.child.kill('SIGSTOP');
      if (snapFiles(dirs[2]!).length === 3) return true;
      running[2]!.child.kill('SIGCONT');
      return false;
    });
    running[2]!.child.kill('SIGKILL');
    await running[2]!.exited;
    const files = snapFiles(dirs[2]!).map((n) => join(dirs[2]!, n));
    expect(files.length).toBe(3);
    const flipped = readFileSync(files[0]!);
    flipped[flipped.length - 100] ^= 0xff;
    writeFileSync(files[0]!, flipped);
    truncateSync(files[1]!, 1000);
    // Node 1's newest file under node 3's name: foreign (its identity names replica 1).
    writeFileSync(files[2]!, readFileSync(join(dirs[0]!, snapFiles(dirs[0]!).at(-1)!)));
    const lost = start(3);
    expect(await lost.exited).toBe(1);
    const lines = lost.stderr().split('\n').filter((l) => l.includes('.snap'));
    expect(lines).toHaveLength(3);
    expect(lines.join('\n')).toMatch(/body is damaged \(CRC mismatch\) \(at byte \d+\)/);
    expect(lines.join('\n')).toMatch(/truncated: 1000 of \d+ bytes \(at byte 1000\)/);
    expect(lines.join('\n')).toMatch(/ignored: snapshot of another replica \(1, this is 3\) \(at byte 28\)/);
    expect(lost.stderr()).toMatch(/node 3 cannot catch up: the etcd log is compacted below batch \d+ and .* holds no agreed snapshot at or after it/);
    expect(lost.stderr()).not.toMatch(/ at .*\.js:\d+/); // no stack
    // Without --snapshot-every it reads the log from its start, which is gone: one line, exit 1.
    const bare = startCli(['node', '--json', '--endpoints', url, '--cluster-name', 'snaps', '--id', '3', '--replicas', '3', '--listen', '127.0.0.1:0=80', httpWasm]);
    children.push(bare.child);
    expect(await bare.exited).toBe(1);
    expect(bare.stderr()).toMatch(/replicode: node 3 cannot catch up: the etcd log is compacted below batch \d+ and it needs batch 0 on \(it has no snapshot: --snapshot-every\); stopping\n/);
    expect(summaryOf(bare.stderr())).toMatchObject({ outcome: 'cannot-catch-up', exitCode: 1 });

    for (const n of [running[0]!, restarted]) n.child.kill('SIGINT');
    await Promise.all([running[0]!.exited, restarted.exited]);
    // Read once every node has stopped (none compacting): the keys left are the log from its start on.
    const { keys, first } = await logKeys(url, 'snaps');
    const summary = summaryOf(restarted.stderr());
    expect(summary).toMatchObject({ command: 'node', node: 2, disagreements: [] });
    expect(summary.snapshots.resumedAt).toBe(resumed);
    const batches = summaryOf(running[0]!.stderr()).batches as number;
    expect(first).toBeGreaterThan(0);
    expect(keys).toBeLessThan(batches / 2);
    expect(keys).toBeLessThanOrEqual(batches - first + 8); // + the reset-links the stopping nodes appended
  }, 90_000);

  it('without compaction, a node whose newest snapshot is damaged falls back to an older one with one line; with none usable, to the whole log', async () => {
    const url = await startEtcd();
    const { dirs, start } = nodes(url, 'fallback', 2, []);
    const running = [start(1), start(2)];
    const ports = await Promise.all(running.map((n) => n.port));
    const seen: number[] = [];
    for (let i = 0; i < 20; i++) seen.push(await counter(ports[i % 2]!));
    await until(() => dirs.every((d) => snapFiles(d).length >= 3));
    running[1]!.child.kill('SIGKILL');
    await running[1]!.exited;
    // Its newest file damaged: it resumes from an older one.
    const files = snapFiles(dirs[1]!).map((n) => join(dirs[1]!, n));
    const newest = readFileSync(files.at(-1)!);
    newest[40] ^= 0x55; // inside the identity
    writeFileSync(files.at(-1)!, newest);
    const again = start(2);
    const resumed = Number((await again.waitFor(/node 2 resumes from its snapshot at batch (\d+)/))[1]);
    expect(again.stderr()).toMatch(/snapshot .*\.snap ignored: snapshot identity is damaged \(CRC mismatch\) \(at byte 28\)/);
    expect(resumed).toBeGreaterThan(0);
    expect(resumed).toBeLessThan(Number(/(\d+)\.snap$/.exec(files.at(-1)!)![1]));
    for (let i = 0; i < 3; i++) seen.push(await counter(await again.port));
    again.child.kill('SIGKILL');
    await again.exited;
    // Every file cut short: the whole log, from batch 0.
    for (const n of snapFiles(dirs[1]!)) truncateSync(join(dirs[1]!, n), 20);
    const whole = start(2);
    const port = await whole.port;
    for (let i = 0; i < 3; i++) seen.push(await counter(port));
    seen.push(await counter(ports[0]!));
    expect(seen).toEqual(Array.from({ length: 27 }, (_, i) => i + 1));
    expect(whole.stderr()).not.toMatch(/resumes from its snapshot/);
    expect(whole.stderr()).toMatch(/not a snapshot: only 20 bytes \(at byte 20\)/);
    for (const n of [running[0]!, whole]) n.child.kill('SIGINT');
    await Promise.all([running[0]!.exited, whole.exited]);
    expect(summaryOf(whole.stderr()).snapshots.resumedAt).toBe(0);
    expect(summaryOf(whole.stderr()).disagreements).toEqual([]);
  }, 90_000);
});

describe.skipIf(!hasEtcd)('the etcd log from a point, and compacted', () => {
  it('a subscriber told where a snapshot ends reads from there; compaction deletes the keys below, keeps the indices, and refuses older reads', async () => {
    const url = await startEtcd();
    const log = await connectEtcdLog([url], 'points', 'a');
    for (let i = 0; i < 10; i++) await log.append(new Uint8Array([i]));
    const read = (l: typeof log, from: number, count: number) => new Promise<[number, number, number | undefined][]>((resolve) => {
      const got: [number, number, number | undefined][] = [];
      const stop = l.subscribe(from, (index, entry, position) => {
        got.push([index, entry[0]!, position]);
        if (got.length === count) { stop(); resolve(got); }
      });
    });
    const all = await read(log, 0, 10);
    expect(all.map(([i, e]) => [i, e])).toEqual(Array.from({ length: 10 }, (_, i) => [i, i]));
    // Told that entry 4 ends at entry 6's revision, it starts reading after that revision: the
    // next it sees is entry 7, numbered 5. (A snapshot's position is right; this shows the range
    // read starts there, not at the log's start.)
    const hinted = await connectEtcdLog([url], 'points', 'b');
    hinted.resumeAt(5, all[6]![2]!);
    expect((await read(hinted, 5, 3)).map(([i, e]) => [i, e])).toEqual([[5, 7], [6, 8], [7, 9]]);
    await hinted.close();
    const before = await logKeys(url, 'points');
    expect(await log.compactLog(6, true)).toEqual({ first: 6, deletedKeys: 6 });
    const after = await logKeys(url, 'points');
    expect([before.keys, after.keys, after.first]).toEqual([10, 4, 6]);
    // etcd's own history up to the last entry deleted is compacted too.
    const etcd = new Etcd3({ hosts: url });
    await expect(etcd.getAll().prefix('/replicode/points/log/').revision(all[2]![2]!).count()).rejects.toThrow(/compacted/);
    expect(await etcd.getAll().prefix('/replicode/points/log/').revision(all[5]![2]!).count()).toBe(6);
    etcd.close();
    const fresh = await connectEtcdLog([url], 'points', 'c');
    expect((await read(fresh, 6, 4)).map(([i, e]) => [i, e])).toEqual([[6, 6], [7, 7], [8, 8], [9, 9]]);
    const refused = new Promise<[number, number]>((resolve) => { fresh.onCompacted = (from, first) => resolve([from, first]); });
    fresh.subscribe(2, () => {});
    expect(await refused).toEqual([2, 6]);
    expect(await log.compactLog(4)).toEqual({ first: 6, deletedKeys: 0 }); // never back
    await fresh.close();
    await log.close();
  }, 30_000);
});

describe('node snapshot options', () => {
  it('refuses --compact and --snapshot-dir without --snapshot-every, and snapshots with --record-dir, in one line, exit 1', () => {
    const base = ['node', '--endpoints', 'http://127.0.0.1:9', '--id', '1', '--replicas', '1', '--listen', '127.0.0.1:0=80'];
    for (const [extra, message] of [
      [['--compact'], /--compact drops the log below the replicas' snapshots: give --snapshot-every N/],
      [['--snapshot-dir', 'x'], /--snapshot-dir goes with --snapshot-every N/],
      [['--snapshot-every', '5', '--record-dir', 'x'], /replicas that record traces \(--record-dir\) take no snapshots/],
    ] as const) {
      const r = runCli([...base, ...extra, httpWasm]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(message)]);
    }
  });
});

describe('the etcd log\'s delete ranges', () => {
  it('one range per appender up to its last key that goes, never over a key that stays (an append retried lands late)', async () => {
    const { deleteRanges } = await import('../dist/consensus/etcd-log.js');
    const k = (appender: string, seq: number) => `/replicode/c/log/${appender}-${String(seq).padStart(12, '0')}`;
    const ranges = deleteRanges([
      { key: k('node1-7', 0), gone: true }, { key: k('node1-7', 1), gone: true }, { key: k('node2-9', 0), gone: true },
      // node2-9's entry 2 went on the log before its entry 1 (retried): 1 stays, so 2 waits.
      { key: k('node2-9', 2), gone: true }, { key: k('node2-9', 1), gone: false }, { key: k('node1-7', 2), gone: false },
      { key: k('node1-77', 0), gone: false },
    ]);
    expect(ranges).toEqual([
      { from: '/replicode/c/log/node1-7-', end: `${k('node1-7', 1)}\0`, keys: 2 },
      { from: '/replicode/c/log/node2-9-', end: `${k('node2-9', 0)}\0`, keys: 1 },
    ]);
    // node1-77's keys sort after node1-7's range: '-' is below every digit.
    expect(k('node1-77', 0) > ranges[0]!.end).toBe(true);
  });
});

describe('snapshot files', () => {
  const expectId = { machine: 'm', cluster: 'c', replica: 1 };
  const page = new Uint8Array(64 * 1024).fill(7);
  const snapshot = (batch: number): ReplicaSnapshot => ({
    batch, hash: 'abcd', processes: new Map([[1, {
      event: 3, clock: 12n, memoryBytes: 65536, pages: ['p'], globals: [1, 2n, -0], stack: new Uint8Array([1, 2]), kernel: new Uint8Array([3]),
      session: { hash: 5n }, stdoutBytes: 1, stderrBytes: 0, midCall: true,
    }]]), machine: new Uint8Array([9, 9]), linksHash: 77, output: { conns: [], flows: [] }, guestOutput: { 1: 1, 2: 0 }, position: 40,
  });
  const file = (batch: number) => Buffer.concat(encodeSnapshotFile({ ...expectId, batch, hash: 'abcd', position: 40 }, snapshot(batch), () => page));

  it('round-trips a snapshot exactly (bigints, -0, typed arrays, pages)', () => {
    const { identity, snapshot: back, pages } = decodeSnapshotFile(file(8), expectId);
    expect(identity).toEqual({ ...expectId, batch: 8, hash: 'abcd', position: 40 });
    expect(back).toEqual(snapshot(8));
    expect(Object.is(back.processes.get(1)!.globals[2], -0)).toBe(true);
    expect(pages.get('p')).toEqual(page);
  });

  it('refuses a foreign, damaged or cut file with the byte offset', () => {
    const bytes = file(8);
    const refuse = (b: Uint8Array, expect_ = expectId) => { try { decodeSnapshotFile(b, expect_); } catch (e) { return e as SnapshotFileError; } throw new Error('accepted'); };
    expect(refuse(bytes, { ...expectId, machine: 'other' }).message).toBe('snapshot of another machine (m, this is other) (at byte 28)');
    expect(refuse(bytes, { ...expectId, replica: 2 }).offset).toBe(28);
    expect(refuse(bytes.subarray(0, 500)).message).toMatch(/^snapshot is truncated: 500 of \d+ bytes \(at byte 500\)$/);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 1] ^= 1;
    const idLength = bytes.readUInt32LE(12);
    expect(refuse(flipped).message).toBe(`snapshot body is damaged (CRC mismatch) (at byte ${28 + idLength})`);
    expect(refuse(Buffer.from('hello world, not a snapshot at all')).offset).toBe(0);
    const version = Buffer.from(bytes);
    version[8] = 9;
    expect(refuse(version).message).toBe('snapshot format version 9, this RepliCode reads 2 (at byte 8)');
  });

  it('a directory, a FIFO or a dangling link under a snapshot\'s name is passed over with one line (it crashed the node: EISDIR, exit 70)', async () => {
    const dir = tempDir('snapdir-');
    const name = (batch: number) => join(dir, `replica-1-${String(batch).padStart(12, '0')}.snap`);
    writeFileSync(name(8), file(8));
    mkdirSync(name(12));
    symlinkSync(join(dir, 'nowhere'), name(16));
    expect(spawnSync('mkfifo', [name(20)]).status).toBe(0);
    const lines: string[] = [];
    const store = new SnapshotDir(dir, expectId, (l) => lines.push(l));
    const loaded = [];
    for (const f of await store.list()) loaded.push((await store.load(f.path))?.identity.batch);
    expect(loaded).toEqual([undefined, undefined, undefined, 8]);
    expect(lines).toEqual([
      `snapshot ${name(20)} ignored: not a regular file (at byte 0)`,
      `snapshot ${name(16)} ignored: cannot be read (ENOENT) (at byte 0)`,
      `snapshot ${name(12)} ignored: not a regular file (at byte 0)`,
    ]);
  }, 10_000);

  it('keeps the newest three files and writes none larger than its byte bound, saying so', async () => {
    const dir = tempDir('snapdir-');
    const lines: string[] = [];
    const store = new SnapshotDir(dir, expectId, (l) => lines.push(l));
    for (let b = 4; b <= 24; b += 4) await store.save({ ...expectId, batch: b, hash: 'abcd' }, snapshot(b), () => page);
    expect(snapFiles(dir)).toEqual([12, 16, 20, 24].slice(1).map((b) => `replica-1-${String(b).padStart(12, '0')}.snap`));
    expect((await store.list()).map((f) => f.batch)).toEqual([24, 20, 16]);
    // A protected file (its node's newest agreed one) stays; the others make room around it.
    store.protect = 16;
    for (let b = 28; b <= 36; b += 4) await store.save({ ...expectId, batch: b, hash: 'abcd' }, snapshot(b), () => page);
    expect((await store.list()).map((f) => f.batch)).toEqual([36, 32, 16]);
    store.protect = 32;
    await store.save({ ...expectId, batch: 40, hash: 'abcd' }, snapshot(40), () => page);
    expect((await store.list()).map((f) => f.batch)).toEqual([40, 36, 32]);
    const small = new SnapshotDir(tempDir('snapdir-'), expectId, (l) => lines.push(l), { files: 3, bytes: 4096 });
    expect(await small.save({ ...expectId, batch: 4, hash: 'abcd' }, snapshot(4), () => page)).toBeUndefined();
    expect(lines).toEqual([expect.stringMatching(/^snapshot at batch 4 not written: \d+ bytes, more than the 4096 allowed$/)]);
    expect(small.stats).toEqual({ written: 0, skipped: 1 });
  });

  it('a snapshot is agreed once a majority of nodes published its hash, or one saw it agreed; compaction counts only the marked ones, of every publishing node', () => {
    const pub = new Map([[1, [{ batch: 8, hash: 'a', file: true }, { batch: 4, hash: 'x', agreed: true, file: true }]], [2, [{ batch: 8, hash: 'a', file: true }, { batch: 4, hash: 'x', agreed: true, file: true }]], [3, [{ batch: 4, hash: 'y', agreed: false, file: true }]]]);
    expect(isAgreed(pub, 3, 8, 'a')).toBe(true);
    expect(isAgreed(pub, 3, 4, 'y')).toBe(false);
    expect(compactionPoint(pub, 3, 4)).toBeUndefined(); // node 3 has no agreed snapshot yet
    pub.set(3, [{ batch: 4, hash: 'x', agreed: true, file: true }]);
    expect(compactionPoint(pub, 3, 2)).toBe(2); // batch 8 is agreed by majority now, but no node marked it yet
    pub.set(3, [{ batch: 8, hash: 'a', agreed: true, file: false }, { batch: 4, hash: 'x', agreed: true, file: true }]);
    expect(compactionPoint(pub, 3, 2)).toBe(2); // node 3 marked batch 8 but holds no file of it
    expect(compactionPoint(new Map([[1, [{ batch: 8, hash: 'a', agreed: true }]]]), 3, 2)).toBeUndefined(); // one node of three published
  });
});
