// TUI figures for `npm run bench`: three traces of a million events each (one with a fault),
// the time to load them, and the time from loaded to showing the first divergence.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { record } from '../recorder/index.js';
import { compileModule, processConfig } from '../runtime/index.js';
import { firstDivergence, loadModel, searchTimeline } from '../tui/index.js';

export interface TuiBenchResult { events: number; loadMs: number; jumpMs: number; target: number; searchMs: number; heapMiB: number }

export async function benchTui(root: string): Promise<TuiBenchResult> {
  const wasmPath = join(root, 'wasm_programs', 'build', 'syscall_heavy.wasm');
  const bytes = readFileSync(wasmPath);
  const dir = mkdtempSync(join(tmpdir(), 'replicode-tui-'));
  const paths: string[] = [];
  let events = 0;
  for (let i = 0; i < 3; i++) {
    const module = await compileModule(bytes, wasmPath);
    const config = processConfig({ args: ['syscall_heavy.wasm', '500000'], ...(i === 1 ? { faults: ['bitflip@700000:1024'] } : {}) });
    const tracePath = join(dir, `r${i + 1}.rct`);
    const { stats } = await record({ moduleName: 'syscall_heavy.wasm', moduleBytes: bytes, module, config, tracePath, onOutput: () => {} });
    events = stats?.events ?? 0;
    paths.push(tracePath);
  }
  const t0 = performance.now();
  const model = loadModel(paths);
  const t1 = performance.now();
  const divergence = firstDivergence(model.replicas);
  const at = model.replicas[0]!.checkpointEvents[divergence ?? 0] ?? 0;
  for (let i = 0; i < 3; i++) model.events(i, Math.max(0, at - 3), 7, null);
  const t2 = performance.now();
  // The slowest search: no match, so every trace is read to its end and again from its start (n from mid-trace).
  const miss = await searchTimeline(model, { id: 1, text: 'no such call', from: Math.floor(events / 2), direction: 1, kind: null });
  const t3 = performance.now();
  if (miss.event !== null) throw new Error('bench: a search for a call that does not exist found one');
  rmSync(dir, { recursive: true, force: true });
  const result = { events, loadMs: t1 - t0, jumpMs: t2 - t1, target: 1000, searchMs: t3 - t2, heapMiB: process.memoryUsage().heapUsed / 2 ** 20 };
  console.log(`tui: 3 traces of ${events} events: load ${result.loadMs.toFixed(0)} ms, jump to the first divergence (checkpoint #${divergence}) ${result.jumpMs.toFixed(0)} ms (target < 1000 ms), a search with no match ${result.searchMs.toFixed(0)} ms, heap ${result.heapMiB.toFixed(0)} MiB`);
  return result;
}
