// What the call-stack limit (--max-stack, runtime/rewrite/stack-limit.ts) costs, for `npm run
// bench`: the rewrite itself on the largest guest, and run time with and without it on a
// call-heavy guest (naive recursive Fibonacci: the worst case, one frame's accounting per few
// instructions) and a compute-heavy C guest (sha256). Both variants run alternately, medians.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  applyRewrites, compileModule, defaultMaxStackBytes, moduleBinary, processConfig, rewritePipeline, spawnGuest,
} from '../runtime/index.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const passes = rewritePipeline({ maxStackBytes: defaultMaxStackBytes });

export interface StackLimitRewrite { module: string; bytes: number; rewrittenBytes: number; firstRewriteMs: number; rewriteMs: number }
export interface StackLimitRun { name: string; program: string; args: string[]; plainMs: number; limitedMs: number; ratio: number }

async function timeRewrite(root: string, program: string, repeats: number): Promise<StackLimitRewrite> {
  const binary = await moduleBinary(readFileSync(join(root, 'wasm_programs', 'build', `${program}.wasm`)));
  const rewriteMs: number[] = [];
  let rewritten = binary;
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    rewritten = applyRewrites(binary, passes); // no cache key: every round rewrites
    rewriteMs.push(performance.now() - t);
  }
  // The first is what a CLI run pays (its code not yet optimized); run first with BENCH_ONLY=stack.
  const result = { module: `${program}.wasm`, bytes: binary.length, rewrittenBytes: rewritten.length, firstRewriteMs: rewriteMs[0]!, rewriteMs: median(rewriteMs) };
  console.log(`${'stack limit: rewrite'.padEnd(28)} ${program}.wasm ${binary.length} -> ${rewritten.length} bytes: first ${result.firstRewriteMs.toFixed(1)} ms, median ${result.rewriteMs.toFixed(1)} ms`);
  return result;
}

async function timeRun(path: string, args: string[], limited: boolean): Promise<number> {
  const module = await compileModule(readFileSync(path), path, undefined, limited ? passes : []);
  const config = processConfig({ args, ...(limited ? { maxStackBytes: defaultMaxStackBytes } : {}) });
  const start = performance.now();
  const outcome = await spawnGuest({ module, config, onOutput: () => {} });
  if (outcome.kind !== 'exit') throw new Error(`${path} ended with ${outcome.kind}`);
  return performance.now() - start;
}

async function compareRun(name: string, path: string, args: string[], repeats: number): Promise<StackLimitRun> {
  await timeRun(path, args, false); // warm-up
  await timeRun(path, args, true);
  const plain: number[] = [];
  const limited: number[] = [];
  for (let i = 0; i < repeats; i++) {
    plain.push(await timeRun(path, args, false));
    limited.push(await timeRun(path, args, true));
  }
  const ratio = median(limited) / median(plain);
  console.log(`${`stack limit: ${name}`.padEnd(28)} without ${median(plain).toFixed(1).padStart(8)} ms   with ${median(limited).toFixed(1).padStart(8)} ms   ratio ${ratio.toFixed(3)}`);
  return { name, program: path.split('/').pop()!, args: args.slice(1), plainMs: median(plain), limitedMs: median(limited), ratio };
}

export async function benchStackLimit(root: string, repeats: number): Promise<{ rewrite: StackLimitRewrite; runs: StackLimitRun[] }> {
  const rewrite = await timeRewrite(root, 'rust_echo_server', Math.max(repeats, 5));
  const runs = [
    await compareRun('fib(35), call-heavy', join(root, 'wasm_programs', 'wat', 'fib.wat'), ['fib.wat'], repeats),
    await compareRun('sha256 64 MiB', join(root, 'wasm_programs', 'build', 'sha256.wasm'), ['sha256.wasm', process.env.BENCH_SHA_MIB ?? '64'], repeats),
  ];
  return { rewrite, runs };
}
