// Record/replay figures for `npm run bench`: record overhead against a plain run, replay speed
// against record, replay events per second, and trace bytes per event. Plain run, record and
// replay are timed side by side, alternating, so they share the machine's state.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { record } from '../recorder/index.js';
import { replayTrace } from '../replayer/index.js';
import { compileModule, processConfig, spawnGuest } from '../runtime/index.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Other users of the machine only ever add time: the least run is the steadiest figure beside the median. */
const least = (xs: number[]): number => Math.min(...xs);

export interface TraceBenchResult {
  name: string; program: string; args: string[]; repeats: number;
  runMs: number; recordMs: number; replayMs: number;
  recordOverhead: number; recordTarget: number; replayVsRecord: number;
  /** The same ratios from each variant's least run. */
  leastRunMs: number; leastRecordMs: number; leastReplayMs: number; leastRecordOverhead: number; leastReplayVsRecord: number;
  /** Whole run, record and replay (start-up included) per event, and what recording adds to a run per event; ns. */
  runNsPerEvent: number; recordNsPerEvent: number; replayNsPerEvent: number; recordExtraNsPerEvent: number;
  /**
   * CPU time of the whole process (every thread: the guest's, the main one writing the trace, V8's
   * helpers), medians; on a shared machine a steadier measure of what recording adds than wall time.
   */
  runCpuMs: number; recordCpuMs: number; recordCpuOverhead: number;
  events: number; replayEventsPerSecond: number; traceBytes: number; bytesPerEvent: number;
}

export async function benchTrace(root: string, name: string, program: string, args: string[], recordTarget: number, repeats: number): Promise<TraceBenchResult> {
  const wasmPath = join(root, 'wasm_programs', 'build', `${program}.wasm`);
  const bytes = readFileSync(wasmPath);
  // Each run, record and replay compiles the module afresh, as the CLI does: replay must compile
  // the module it finds in the trace, so a warm, already tiered-up module would flatter the others.
  const config = processConfig({ args: [`${program}.wasm`, ...args] });
  const dir = mkdtempSync(join(tmpdir(), 'replicode-bench-'));
  const tracePath = join(dir, 'bench.rct');
  const discard = () => {};
  const cpuMs = (since: NodeJS.CpuUsage): number => {
    const used = process.cpuUsage(since);
    return (used.user + used.system) / 1000;
  };
  const cpu = { run: [] as number[], record: [] as number[] };
  const run = async () => {
    const t = performance.now();
    const c = process.cpuUsage();
    const module = await compileModule(bytes, wasmPath);
    await spawnGuest({ module, config, onOutput: discard });
    cpu.run.push(cpuMs(c));
    return performance.now() - t;
  };
  let events = 0;
  const rec = async () => {
    const t = performance.now();
    const c = process.cpuUsage();
    const module = await compileModule(bytes, wasmPath);
    const { stats } = await record({ moduleName: `${program}.wasm`, moduleBytes: bytes, module, config, tracePath, onOutput: discard });
    cpu.record.push(cpuMs(c));
    events = stats?.events ?? 0;
    return performance.now() - t;
  };
  const replay = async () => {
    const t = performance.now();
    const { outcome } = await replayTrace({ tracePath, quiet: true, onOutput: discard });
    if (outcome.kind !== 'exit') throw new Error(`bench replay of ${program} ended with ${outcome.kind}`);
    return performance.now() - t;
  };
  await run(); await rec(); await replay(); // warm-up
  cpu.run.length = cpu.record.length = 0;
  const times = { run: [] as number[], record: [] as number[], replay: [] as number[] };
  // The order rotates each round, so no variant always runs right after another.
  const variants = [['run', run], ['record', rec], ['replay', replay]] as const;
  for (let i = 0; i < repeats; i++) {
    for (let j = 0; j < 3; j++) {
      const [key, fn] = variants[(i + j) % 3]!;
      times[key].push(await fn());
    }
  }
  const traceBytes = statSync(tracePath).size;
  rmSync(dir, { recursive: true, force: true });
  const [runMs, recordMs, replayMs] = [median(times.run), median(times.record), median(times.replay)];
  const [runCpuMs, recordCpuMs] = [median(cpu.run), median(cpu.record)];
  const result = {
    name, program, args, repeats, runMs, recordMs, replayMs, runCpuMs, recordCpuMs, recordCpuOverhead: recordCpuMs / runCpuMs,
    recordOverhead: recordMs / runMs, recordTarget, replayVsRecord: recordMs / replayMs,
    leastRunMs: least(times.run), leastRecordMs: least(times.record), leastReplayMs: least(times.replay),
    leastRecordOverhead: least(times.record) / least(times.run), leastReplayVsRecord: least(times.record) / least(times.replay),
    events, replayEventsPerSecond: events / (replayMs / 1000), traceBytes, bytesPerEvent: traceBytes / Math.max(1, events),
    ...perEventNs(runMs, recordMs, replayMs, events),
  };
  console.log(`${name.padEnd(28)} run ${runMs.toFixed(0).padStart(5)} ms  record ${recordMs.toFixed(0).padStart(5)} ms (x${result.recordOverhead.toFixed(3)}, target <= ${recordTarget})  replay ${replayMs.toFixed(0).padStart(5)} ms (record/replay ${result.replayVsRecord.toFixed(2)}, target >= 1)`);
  console.log(`${''.padEnd(28)} least runs: run ${result.leastRunMs.toFixed(0)} ms, record ${result.leastRecordMs.toFixed(0)} ms (x${result.leastRecordOverhead.toFixed(3)}), replay ${result.leastReplayMs.toFixed(0)} ms (record/replay ${result.leastReplayVsRecord.toFixed(2)})`);
  console.log(`${''.padEnd(28)} ${events} events, ${(result.replayEventsPerSecond / 1e6).toFixed(2)} M events/s replayed (target >= 1), ${traceBytes} bytes = ${result.bytesPerEvent.toFixed(2)} bytes/event (target <= 8)`);
  console.log(`${''.padEnd(28)} CPU time (all threads): run ${runCpuMs.toFixed(0)} ms, record ${recordCpuMs.toFixed(0)} ms (x${result.recordCpuOverhead.toFixed(3)}); load ${loadavg()[0]!.toFixed(2)}`);
  if (events >= 1000) console.log(`${''.padEnd(28)} per event: run ${result.runNsPerEvent.toFixed(0)} ns, record ${result.recordNsPerEvent.toFixed(0)} ns (+${result.recordExtraNsPerEvent.toFixed(0)} ns over run, target <= 40), replay ${result.replayNsPerEvent.toFixed(0)} ns`);
  return result;
}

function perEventNs(runMs: number, recordMs: number, replayMs: number, events: number) {
  const ns = (ms: number) => (ms * 1e6) / Math.max(1, events);
  return { runNsPerEvent: ns(runMs), recordNsPerEvent: ns(recordMs), replayNsPerEvent: ns(replayMs), recordExtraNsPerEvent: ns(recordMs - runMs) };
}
