// `replicode diff` figures for `npm run bench`: how long it takes to locate a state-only
// divergence (a bit flip no call shows) down to the event and then to the instruction range,
// on traces of growing length. Each step of the two searches replays both traces from the
// start (the instruction clock's replays run an instrumented module), so the cost grows with
// the trace's length times the number of steps.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { record } from '../recorder/index.js';
import { diffTraces } from '../replayer/index.js';
import { compileModule, processConfig } from '../runtime/index.js';

export interface DiffBenchResult { events: number; flippedAt: number; foundEvent: number | null; hooks: number | null; diffMs: number }

export async function benchDiff(root: string, sizes: number[]): Promise<DiffBenchResult[]> {
  const wasmPath = join(root, 'wasm_programs', 'build', 'syscall_heavy.wasm');
  const bytes = readFileSync(wasmPath);
  const results: DiffBenchResult[] = [];
  for (const size of sizes) {
    const dir = mkdtempSync(join(tmpdir(), 'replicode-diff-'));
    const flippedAt = size; // halfway: the program makes two calls per iteration
    const paths: string[] = [];
    let events = 0;
    for (const faults of [[], [`bitflip@${flippedAt}:1024`]]) {
      const module = await compileModule(bytes, wasmPath);
      const tracePath = join(dir, `t${paths.length}.rct`);
      const { stats } = await record({ moduleName: 'syscall_heavy.wasm', moduleBytes: bytes, module, config: processConfig({ args: ['syscall_heavy.wasm', String(size)], faults }), tracePath, checkpointEvery: 16384, onOutput: () => {} });
      events = stats?.events ?? 0;
      paths.push(tracePath);
    }
    const t0 = performance.now();
    const report = await diffTraces(paths);
    const diffMs = performance.now() - t0;
    rmSync(dir, { recursive: true, force: true });
    const result = { events, flippedAt, foundEvent: report.event, hooks: report.range?.hooks ?? null, diffMs };
    console.log(`diff: ${events} events, bit flipped after event ${flippedAt}: found event ${report.event} and its instruction range in ${(diffMs / 1000).toFixed(1)} s`);
    results.push(result);
  }
  return results;
}
