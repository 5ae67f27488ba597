// `inspect --events` on a long trace: the CLI's peak memory (max RSS) while it lists every event
// of a ~20M-event trace, as text and as JSON, must not depend on how many it lists (target:
// under 200 MB). The trace is recorded here from a module that calls sched_yield in a loop.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface InspectBenchResult {
  name: string; events: number; traceBytes: number; format: 'text' | 'json';
  maxRssMB: number; targetMB: number; meetsTarget: boolean; seconds: number;
}

/** Prints the process's peak RSS (KiB) on stderr as it exits: loaded before the CLI with --import. */
const reportPeak = 'data:text/javascript,process.on("exit",()=>process.stderr.write("\\nmaxRSS "+process.resourceUsage().maxRSS+"\\n"))';

export function benchInspect(root: string, events: number, targetMB = 200): InspectBenchResult[] {
  const cli = join(root, 'bin', 'replicode.js');
  const dir = mkdtempSync(join(tmpdir(), 'replicode-bench-inspect-'));
  const module = join(dir, 'yield.wat');
  writeFileSync(module, `(module
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $a (drop (call $yield)) (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $a (i32.lt_u (local.get $i) (i32.const ${events}))))))`);
  const trace = join(dir, 'yield.rct');
  const rec = spawnSync(process.execPath, [cli, 'record', '-o', trace, module], { encoding: 'utf8' });
  if (rec.status !== 0) throw new Error(`bench: recording ${events} events failed: ${rec.stderr}`);
  const results = (['text', 'json'] as const).map((format) => {
    const t = performance.now();
    const r = spawnSync(process.execPath, ['--import', reportPeak, cli, 'inspect', '--events', '--limit', String(events + 10_000), ...(format === 'json' ? ['--json'] : []), trace],
      { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
    const seconds = (performance.now() - t) / 1000;
    const peak = /maxRSS (\d+)/.exec(r.stderr);
    if (r.status !== 0 || !peak) throw new Error(`bench: inspect --events (${format}) failed: ${r.stderr.slice(0, 500)}`);
    const maxRssMB = Number(peak[1]) / 1024;
    const result = { name: `inspect --events (${format})`, events, traceBytes: statSync(trace).size, format, maxRssMB, targetMB, meetsTarget: maxRssMB < targetMB, seconds };
    console.log(`${result.name.padEnd(28)} ${events} events listed in ${seconds.toFixed(1)} s, peak RSS ${maxRssMB.toFixed(0)} MB (target < ${targetMB})`);
    return result;
  });
  rmSync(dir, { recursive: true, force: true });
  return results;
}
