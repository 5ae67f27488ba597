// The WASI 0.2 component path against the module path (issue 16's target: within 1.2x): the same
// C programs, as preview1 modules and as components wrapped with jco's preview1 adapter, run in
// a worker side by side, alternating, timed in CPU time; and what transpiling costs, cold and cached.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileProgram, processConfig, spawnGuest, type GuestProgram } from '../runtime/index.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Other users of the machine only ever add CPU time (cache and frequency contention): the least run is the steadiest figure beside the median. */
const least = (xs: number[]): number => Math.min(...xs);
/** At least this many runs of each: the two programs differ by tens of ms on a machine whose load moves runs by as much. */
const minRepeats = 9;

/** CPU time (user + system, every thread of the process: the guest's worker and this one), in ms: the machine is shared. */
async function timeRun(program: GuestProgram, args: string[]): Promise<number> {
  const start = process.cpuUsage();
  const outcome = await spawnGuest({ module: program, config: processConfig({ args }), onOutput: () => {} });
  if (outcome.exitCode !== 0) throw new Error(`${args[0]} exited ${outcome.exitCode}`);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** Transpile times: the first (jco loaded, nothing cached) and a cached one, in a cache directory of its own. */
async function transpileTimes(root: string) {
  const dir = mkdtempSync(join(tmpdir(), 'replicode-bench-cache-'));
  const saved = process.env.REPLICODE_CACHE_DIR;
  process.env.REPLICODE_CACHE_DIR = dir;
  try {
    const bytes = readFileSync(join(root, 'wasm_programs', 'build', 'files.component.wasm'));
    let start = performance.now();
    await compileProgram(bytes, 'files.component.wasm');
    const coldMs = performance.now() - start;
    start = performance.now();
    await compileProgram(bytes, 'files.component.wasm');
    return { component: 'files.component.wasm', bytes: bytes.length, coldMs, cachedMs: performance.now() - start };
  } finally {
    if (saved === undefined) delete process.env.REPLICODE_CACHE_DIR;
    else process.env.REPLICODE_CACHE_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  }
}

async function compare(root: string, program: string, guestArgs: string[], repeats: number, target: number) {
  const build = (file: string) => join(root, 'wasm_programs', 'build', file);
  const module = await compileProgram(readFileSync(build(`${program}.wasm`)), program);
  const component = await compileProgram(readFileSync(build(`${program}.component.wasm`)), program);
  const args = [program, ...guestArgs];
  await timeRun(module, args); // warm-up
  await timeRun(component, args);
  const moduleMs: number[] = [];
  const componentMs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    moduleMs.push(await timeRun(module, args));
    componentMs.push(await timeRun(component, args));
  }
  const ratio = median(componentMs) / median(moduleMs);
  const leastRatio = least(componentMs) / least(moduleMs);
  console.log(`${`${program} as a component`.padEnd(28)} component ${median(componentMs).toFixed(1).padStart(8)} ms CPU   module ${median(moduleMs).toFixed(1).padStart(8)} ms CPU   ratio ${ratio.toFixed(3)} (target <= ${target}; least runs ${least(componentMs).toFixed(1)} / ${least(moduleMs).toFixed(1)} = ${leastRatio.toFixed(3)})`);
  return {
    program, args: guestArgs, repeats, moduleMs, componentMs, moduleMedianMs: median(moduleMs), componentMedianMs: median(componentMs), ratio, target, meetsTarget: ratio <= target,
    moduleLeastMs: least(moduleMs), componentLeastMs: least(componentMs), leastRatio,
  };
}

export async function benchComponents(root: string, requested: number) {
  const repeats = Math.max(requested, minRepeats);
  const transpile = await transpileTimes(root);
  console.log(`${'component transpile'.padEnd(28)} cold ${transpile.coldMs.toFixed(0)} ms (jco loaded), cached ${transpile.cachedMs.toFixed(1)} ms`);
  return {
    transpile,
    results: [
      await compare(root, 'sha256', [process.env.BENCH_SHA_MIB ?? '64'], repeats, 1.2),
      await compare(root, 'syscall_heavy', [process.env.BENCH_SYSCALLS ?? '200000'], repeats, 1.2),
    ],
  };
}
