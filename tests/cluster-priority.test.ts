// The replica that answers clients runs first: the others' worker threads run at a higher nice
// value (followerNiceness), and the proposer keeps every caught-up replica within maxLag
// batches of the log, so the slower ones hold a bounded backlog.
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, EmbeddedLog } from '../dist/consensus/index.js';
import { compileModule, processConfig } from '../dist/runtime/index.js';
import { programsDir } from './helpers.js';

const bytes = readFileSync(join(programsDir, 'build', 'http_server.wasm'));
const running: Cluster[] = [];
afterEach(async () => { await Promise.all(running.splice(0).map((c) => c.stop())); });

async function start(extra: Partial<Parameters<typeof Cluster.start>[0]>) {
  const module = await compileModule(bytes, 'http_server.wasm');
  const cluster = await Cluster.start({
    replicas: 3, listen: [{ host: '127.0.0.1', port: 0, vport: 80 }],
    processes: [{ module, moduleName: 'http_server.wasm', moduleBytes: bytes, config: processConfig({ args: ['http_server.wasm'] }) }],
    ...extra,
  });
  running.push(cluster);
  return { cluster, port: cluster.listening[0]!.port };
}

const get = (port: number, agent = false): Promise<string> => new Promise((resolve, reject) => {
  request({ host: '127.0.0.1', port, path: '/counter', agent }, (res) => {
    let body = '';
    res.on('data', (d) => { body += d; });
    res.on('end', () => resolve(body));
  }).on('error', reject).end();
});

/** Nice values of this process's threads (field 19 of /proc/self/task/TID/stat). */
const threadNiceness = (): number[] => readdirSync('/proc/self/task').map((tid) => {
  try { return Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]); } catch { return NaN; }
});
/** This thread's (the test's: the cluster's main thread). */
const base = () => Number(readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1]!.split(' ')[16]);

describe.runIf(process.platform === 'linux')('replica priority', () => {
  it('with followerNiceness 0 every replica runs as the process does', async () => {
    const { port } = await start({ followerNiceness: 0 });
    await get(port);
    await get(port);
    // First in this file: no thread of an earlier cluster is still winding down.
    expect(threadNiceness().filter((v) => v !== base()).length).toBe(0);
  });

  it('runs the two replicas that do not answer clients at the nice value given, the designated one as the process', async () => {
    const { cluster, port } = await start({ followerNiceness: 7 });
    await get(port);
    await get(port); // each replica's worker takes its niceness with its next delivery
    const at = (n: number) => threadNiceness().filter((v) => v === base() + n).length;
    // The followers apply the batches after the designated one has answered: wait for them.
    const settles = async (n: number, count: number) => {
      for (const end = Date.now() + 5000; at(n) !== count && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
      return at(n);
    };
    expect(await settles(7, 2)).toBe(2);
    // Failover: the designated replica dies, the furthest-along live one answers and runs first
    // (raising a thread back needs CAP_SYS_NICE: as root here).
    await cluster.kill(cluster.designated!);
    await get(port);
    await get(port);
    if (process.getuid?.() === 0) expect(await settles(7, 1)).toBe(1);
  });

  it('keeps every caught-up replica within maxLag batches of the log under load, and answers every request', async () => {
    const log = new EmbeddedLog();
    const maxLag = 2;
    const { cluster, port } = await start({ followerNiceness: 19, maxLag, log });
    await get(port);
    let worst = 0;
    const sampler = setInterval(() => {
      for (const i of [1, 2, 3]) {
        const applied = cluster.appliedBy(i);
        if (applied > 0) worst = Math.max(worst, log.length - applied);
      }
    }, 1);
    const until = Date.now() + 1500;
    let answered = 0;
    await Promise.all(Array.from({ length: 20 }, async () => {
      while (Date.now() < until) {
        expect(await get(port)).toMatch(/"counter":\d+/);
        answered++;
      }
    }));
    clearInterval(sampler);
    expect(answered).toBeGreaterThan(50);
    // A cut may append a few batches at once (a batch holds at most so many events).
    expect(worst).toBeLessThanOrEqual(maxLag + 4);
    const end = Date.now() + 10_000;
    while (cluster.agreedBatches < log.length && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(cluster.agreedBatches).toBe(log.length);
    expect(cluster.disagreements).toEqual([]);
  });
});
