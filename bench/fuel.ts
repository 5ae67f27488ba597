// What fuel counting (--max-fuel) and NaN canonicalisation (on by default) cost, for `npm run
// bench` (BENCH_ONLY=fuel): each pass's own rewrite time on the largest guest, and run time on
// sha256 (integer compute), syscall_heavy (syscalls) and mandelbrot.wat (f64 arithmetic) with the
// stack limit alone (the baseline), plus fuel, plus NaN canonicalisation, plus both. The variants
// run in turn, round after round; medians of the process's CPU time (guest worker included: steadier
// than wall time on a machine shared with other work). Also the CLI's start-up for `run hello.wasm` with and
// without the NaN pass (the default must stay fast to start).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  addFuel, canonicaliseNans, compileModule, limitStack, defaultMaxStackBytes, moduleBinary, processConfig, rewritePipeline, spawnGuest,
} from '../runtime/index.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Far more fuel than any benchmark uses: the hooks run, the limit is never reached. */
const fuelLimitForBench = 1e15;

const variants = {
  base: { maxStackBytes: defaultMaxStackBytes },
  fuel: { maxStackBytes: defaultMaxStackBytes, maxFuel: fuelLimitForBench },
  nans: { maxStackBytes: defaultMaxStackBytes, canonicalNans: true },
  both: { maxStackBytes: defaultMaxStackBytes, maxFuel: fuelLimitForBench, canonicalNans: true },
} as const;
type Variant = keyof typeof variants;

export interface PassRewrite { pass: string; module: string; bytes: number; rewrittenBytes: number; firstMs: number; medianMs: number }
export interface FuelRun { name: string; ms: Record<Variant, number>; ratio: { fuel: number; nans: number; both: number }; fuelUsed: number | null }

function timeRewrite(pass: string, program: string, binary: Uint8Array, rewrite: (b: Uint8Array) => Uint8Array, repeats: number): PassRewrite {
  const ms: number[] = [];
  let out = binary;
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    out = rewrite(binary);
    ms.push(performance.now() - t);
  }
  const r = { pass, module: program, bytes: binary.length, rewrittenBytes: out.length, firstMs: ms[0]!, medianMs: median(ms) };
  console.log(`${`rewrite: ${pass}`.padEnd(28)} ${program} ${r.bytes} -> ${r.rewrittenBytes} bytes: first ${r.firstMs.toFixed(1)} ms, median ${r.medianMs.toFixed(1)} ms`);
  return r;
}

async function timeRun(bytes: Uint8Array, args: string[], variant: Variant): Promise<{ ms: number; fuelUsed: number | undefined }> {
  const options = variants[variant];
  const module = await compileModule(bytes, args[0], undefined, rewritePipeline(options));
  const config = processConfig({ args, ...options });
  const start = process.cpuUsage();
  const outcome = await spawnGuest({ module, config, onOutput: () => {} });
  const used = process.cpuUsage(start);
  const ms = (used.user + used.system) / 1000;
  if (outcome.kind !== 'exit') throw new Error(`${args[0]} ended with ${outcome.kind}`);
  return { ms, fuelUsed: outcome.fuelUsed };
}

async function compareRun(name: string, path: string, args: string[], repeats: number): Promise<FuelRun> {
  const bytes = new Uint8Array(readFileSync(path));
  const names = Object.keys(variants) as Variant[];
  const times: Record<Variant, number[]> = { base: [], fuel: [], nans: [], both: [] };
  let fuelUsed: number | null = null;
  for (const v of names) await timeRun(bytes, args, v); // warm-up
  for (let i = 0; i < repeats; i++) {
    for (const v of names) {
      const r = await timeRun(bytes, args, v);
      times[v].push(r.ms);
      if (r.fuelUsed !== undefined) fuelUsed = r.fuelUsed;
    }
  }
  const ms = Object.fromEntries(names.map((v) => [v, median(times[v])])) as Record<Variant, number>;
  const ratio = { fuel: ms.fuel / ms.base, nans: ms.nans / ms.base, both: ms.both / ms.base };
  console.log(`${name.padEnd(28)} base ${ms.base.toFixed(1)} ms CPU, fuel x${ratio.fuel.toFixed(3)}, NaNs x${ratio.nans.toFixed(3)}, both x${ratio.both.toFixed(3)}; fuel used ${fuelUsed}`);
  return { name, ms, ratio, fuelUsed };
}

/** `replicode run hello.wasm` end to end (a new node process each time), with and without the NaN pass. */
function timeStartup(root: string, repeats: number): { defaultMs: number; noNansMs: number } {
  const cli = join(root, 'bin', 'replicode.js');
  const hello = join(root, 'wasm_programs', 'build', 'hello.wasm');
  const once = (extra: string[]) => {
    const t = performance.now();
    const r = spawnSync(process.execPath, [cli, 'run', ...extra, hello]);
    if (r.status !== 0) throw new Error(`run hello.wasm exited ${r.status}`);
    return performance.now() - t;
  };
  const on: number[] = [];
  const off: number[] = [];
  once([]);
  for (let i = 0; i < repeats; i++) { on.push(once([])); off.push(once(['--no-canonical-nans'])); }
  const r = { defaultMs: median(on), noNansMs: median(off) };
  console.log(`${'run hello.wasm start-up'.padEnd(28)} default ${r.defaultMs.toFixed(1)} ms, --no-canonical-nans ${r.noNansMs.toFixed(1)} ms`);
  return r;
}

export async function benchFuel(root: string, repeats: number) {
  const largest = 'rust_echo_server.wasm';
  const binary = await moduleBinary(readFileSync(join(root, 'wasm_programs', 'build', largest)));
  const stacked = limitStack(binary, defaultMaxStackBytes);
  // The NaN pass first: its first round is what a CLI run pays (its code not yet optimized).
  const rewrites = [
    timeRewrite('canonical-nans', largest, stacked, (b) => canonicaliseNans(b), Math.max(repeats, 5)),
    timeRewrite('fuel', largest, stacked, (b) => addFuel(b, fuelLimitForBench), Math.max(repeats, 5)),
    timeRewrite('stack-limit', largest, binary, (b) => limitStack(b, defaultMaxStackBytes), Math.max(repeats, 5)),
  ];
  const build = (p: string) => join(root, 'wasm_programs', 'build', p);
  const runs = [
    await compareRun('sha256 64 MiB', build('sha256.wasm'), ['sha256.wasm', process.env.BENCH_SHA_MIB ?? '64'], repeats),
    await compareRun('syscall_heavy 200000', build('syscall_heavy.wasm'), ['syscall_heavy.wasm', process.env.BENCH_SYSCALLS ?? '200000'], repeats),
    await compareRun('mandelbrot (f64)', join(root, 'wasm_programs', 'wat', 'mandelbrot.wat'), ['mandelbrot.wat'], repeats),
  ];
  const startup = timeStartup(root, Math.max(repeats, 7));
  return { rewrites, runs, startup };
}
