// Catch-up figures for `npm run bench` (BENCH_ONLY=catchup): how long a restarted replica takes to
// be back in step, from the start of the log or from the latest snapshot, on logs of 10k and 100k
// batches; and what taking snapshots costs a replicated HTTP server's throughput.
// The log is written up front (one keep-alive client asking /counter, one request a batch, its
// replies acknowledged), so its length does not depend on how fast this machine serves.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, EmbeddedLog, encodeBatch } from '../consensus/index.js';
import { compileModule, processConfig } from '../runtime/index.js';

export interface CatchUpResult {
  batches: number;
  snapshotEvery: number | null;
  /** Batch the restarted replica resumed from (null: the start of the log). */
  resumedFrom: number | null;
  /** From restart until it had applied the whole log. */
  restartMs: number;
  /** Log entries held after compaction (null: not compacted). */
  logHeld: number | null;
}

const request = new TextEncoder().encode('GET /counter HTTP/1.1\r\nHost: bench\r\n\r\n');

/** A log of `batches` batches: a client connects, then sends one request per batch, acknowledging the replies. */
function filledLog(batches: number): EmbeddedLog {
  const log = new EmbeddedLog();
  void log.append(encodeBatch({ timeNs: 1_000_000n, events: [{ kind: 'connect', link: 1, port: 80, peer: { ip: [127, 0, 0, 1], port: 40000 } }] }));
  for (let b = 1; b < batches; b++) {
    void log.append(encodeBatch({ timeNs: BigInt(b + 1) * 1_000_000n, events: [{ kind: 'acked', link: 1, bytes: 4096 }, { kind: 'data', link: 1, bytes: request }] }));
  }
  return log;
}

const until = async (what: () => boolean, ms: number) => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

export async function benchCatchUp(root: string, sizes: number[], snapshotEvery: number): Promise<CatchUpResult[]> {
  const wasm = join(root, 'wasm_programs', 'build', 'http_server.wasm');
  const bytes = readFileSync(wasm);
  const module = await compileModule(bytes, 'http_server.wasm');
  const results: CatchUpResult[] = [];
  for (const batches of sizes) {
    for (const every of [null, snapshotEvery]) {
      const log = filledLog(batches);
      const cluster = await Cluster.start({
        replicas: 2, listen: [{ host: '127.0.0.1', port: 0, vport: 80 }], log, ...(every ? { snapshotEvery: every, compact: true } : {}),
        processes: [{ module, moduleName: 'http_server.wasm', moduleBytes: bytes, config: processConfig({ args: ['http_server.wasm'] }) }],
      });
      try {
        await until(() => cluster.appliedBy(1) >= batches && cluster.appliedBy(2) >= batches, 600_000);
        // The last snapshot taken at the end of the log is one a restart may use (its replicas have agreed).
        await cluster.kill(2);
        // Back in step: it has applied one batch more than the log held at its restart, and its
        // state hash there is the other replica's.
        const started = performance.now();
        cluster.restart(2);
        await log.append(encodeBatch({ timeNs: BigInt(batches + 1) * 1_000_000n, events: [{ kind: 'acked', link: 1, bytes: 4096 }, { kind: 'data', link: 1, bytes: request }] }));
        await until(() => cluster.appliedBy(2) >= batches + 1 && cluster.appliedBy(1) >= batches + 1 && Object.keys(cluster.hashesAt(batches + 1)).length === 2, 600_000);
        const restartMs = performance.now() - started;
        const hashes = Object.values(cluster.hashesAt(batches + 1));
        if (new Set(hashes).size !== 1 || cluster.disagreements.length) throw new Error(`the restarted replica disagrees: ${JSON.stringify(cluster.hashesAt(batches + 1))}`);
        const result: CatchUpResult = { batches, snapshotEvery: every, resumedFrom: cluster.snapshotStats.lastRestartFrom, restartMs, logHeld: every ? log.length - log.first : null };
        console.log(`catch-up: ${batches} batches, ${every ? `snapshots every ${every}` : 'no snapshots'}: restarted replica back in step in ${(restartMs / 1000).toFixed(2)} s${result.resumedFrom !== null ? ` (resumed at batch ${result.resumedFrom}; the log holds ${result.logHeld} entries)` : ''}`);
        results.push(result);
      } finally {
        await cluster.stop();
      }
    }
  }
  return results;
}
