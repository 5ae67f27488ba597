// What the wasi-threads scheduler costs (runtime/sched/), for `npm run bench` (BENCH_ONLY=threads):
// - a thread switch: two threads each calling sched_yield N times (every call passes the turn to
//   the other thread's worker and back), against one thread making the same 2N calls (the
//   scheduler runs, the turn stays): the difference per call is the cost of a switch;
// - fuel's speed on a loop like the racy counter's (one thread, --max-fuel counting): ns per unit;
// - so the switch cost per quantum: a switch's cost over the time a quantum of fuel takes, at each
//   --quantum measured and at the default;
// - sha256 linked as a threaded module with one thread, against the same program unthreaded: the
//   quantum's hooks and yields on compute-dense code (issue #17's target: under x1.10);
// - a thread alone (thread 0 waits) in the counter loop at --quantum 100000, against a quantum it
//   never uses up: its yields stay in its own worker;
// - and the racy counter (4 threads) at several quanta, against a quantum it never uses up.
// Medians of the process's CPU time (every worker included), variants alternated round by round.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { compileModule, defaultQuantum, processConfig, rewritePipeline, spawnGuest, type ProcessConfig, type RewritePass } from '../runtime/index.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const yieldsPerThread = Number(process.env.BENCH_THREAD_YIELDS ?? 20000);
const loopIterations = 40_000_000;

function pingPong(threads: 1 | 2): string {
  const loop = `(func $loop (local $i i32)
    (loop $l (drop (call $yield)) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const ${yieldsPerThread})))))`;
  const start = threads === 2
    ? `(drop (call $spawn (i32.const 0))) (call $loop)
       (loop $w (if (i32.eqz (i32.atomic.load (i32.const 0))) (then (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1))) (br $w))))`
    : '(call $loop) (call $loop)';
  return `(module
  (import "env" "memory" (memory 1 1 shared))
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (export "memory" (memory 0))
  ${loop}
  (func (export "wasi_thread_start") (param i32 i32)
    (call $loop) (i32.atomic.store (i32.const 0) (i32.const 1)) (drop (memory.atomic.notify (i32.const 0) (i32.const 1))))
  (func (export "_start") ${start}))`;
}

/** The racy counter's loop, on one thread, without threads (for fuel's speed). */
const counterLoop = `(module
  (memory (export "memory") 1 1)
  (func (export "_start") (local $i i32)
    (loop $again
      (i32.atomic.store (i32.const 0) (i32.add (i32.atomic.load (i32.const 0)) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const ${loopIterations}))))))`;

/** The counter loop in thread 1 while thread 0 waits: thread 1 holds the turn alone, so its yields stay in its worker. */
const aloneLoop = `(module
  (import "env" "memory" (memory 1 1 shared))
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (export "memory" (memory 0))
  (func (export "wasi_thread_start") (param i32 i32) (local $i i32)
    (loop $again
      (i32.store (i32.const 8) (i32.add (i32.load (i32.const 8)) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const ${loopIterations}))))
    (i32.atomic.store (i32.const 0) (i32.const 1)) (drop (memory.atomic.notify (i32.const 0) (i32.const 1))))
  (func (export "_start")
    (drop (call $spawn (i32.const 0)))
    (loop $w (if (i32.eqz (i32.atomic.load (i32.const 0))) (then (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1))) (br $w))))))`;

async function compiled(source: string | Uint8Array, options: Partial<ProcessConfig>, passes?: RewritePass[]): Promise<WebAssembly.Module> {
  const bytes = typeof source === 'string' ? new TextEncoder().encode(source) : source;
  const threaded = new TextDecoder().decode(bytes).includes('thread-spawn');
  // With explicit passes the memory is capped (1 GiB), so the threads pass finds a maximum on a module without threads.
  return compileModule(bytes, 'bench', passes ? 2 ** 30 : undefined, passes ?? rewritePipeline(options, threaded));
}

async function cpuMs(source: string | Uint8Array | WebAssembly.Module, options: Partial<ProcessConfig>, passes?: RewritePass[]): Promise<{ ms: number; fuelUsed: number | undefined }> {
  const module = source instanceof WebAssembly.Module ? source : await compiled(source, options, passes);
  const config = processConfig({ args: ['bench'], ...options } as Partial<ProcessConfig> & { args: string[] });
  const start = process.cpuUsage();
  const outcome = await spawnGuest({ module, config, onOutput: () => {} });
  const used = process.cpuUsage(start);
  if (outcome.kind !== 'exit' || outcome.exitCode !== 0) throw new Error(`bench guest ended with ${outcome.kind} ${outcome.exitCode}`);
  return { ms: (used.user + used.system) / 1000, fuelUsed: outcome.fuelUsed };
}

/** Each variant's CPU times, the variants run in turn, round after round, after one warm-up round. */
async function alternateTimes<K extends string>(variants: Record<K, () => Promise<number>>, repeats: number): Promise<Record<K, number[]>> {
  const names = Object.keys(variants) as K[];
  const times = Object.fromEntries(names.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (const k of names) await variants[k]();
  for (let i = 0; i < repeats; i++) for (const k of names) times[k].push(await variants[k]());
  return times;
}

/** Medians of each variant's CPU time (alternateTimes). */
async function alternate<K extends string>(variants: Record<K, () => Promise<number>>, repeats: number): Promise<Record<K, number>> {
  const times = await alternateTimes(variants, repeats);
  return Object.fromEntries(Object.entries<number[]>(times).map(([k, t]) => [k, median(t)])) as Record<K, number>;
}

export async function benchThreads(root: string, repeats: number) {
  const calls = 2 * yieldsPerThread;
  const yields = await alternate({
    oneThread: async () => (await cpuMs(pingPong(1), {})).ms,
    twoThreads: async () => (await cpuMs(pingPong(2), {})).ms,
  }, repeats);
  const switchUs = ((yields.twoThreads - yields.oneThread) * 1000) / calls;
  const callUs = (yields.oneThread * 1000) / calls;
  console.log(`${'thread switch'.padEnd(28)} ${switchUs.toFixed(2)} us per switch (${calls} sched_yield: 2 threads ${yields.twoThreads.toFixed(1)} ms, 1 thread ${yields.oneThread.toFixed(1)} ms CPU; ${callUs.toFixed(2)} us per call without a switch)`);

  let fuelUsed = 0;
  const loopRuns: number[] = [];
  for (let i = 0; i <= repeats; i++) { // the first is a warm-up
    const r = await cpuMs(counterLoop, { maxFuel: 1e15 });
    if (i > 0) loopRuns.push(r.ms);
    fuelUsed = r.fuelUsed ?? 0;
  }
  const loopMs = median(loopRuns);
  const nsPerFuel = (loopMs * 1e6) / fuelUsed;
  console.log(`${'fuel speed'.padEnd(28)} ${nsPerFuel.toFixed(3)} ns per unit (${fuelUsed} units in ${loopMs.toFixed(1)} ms CPU, a guest start included)`);

  // The quantum's hooks alone (a quantum never used up, no threads) on the same tight loop: their worst case.
  const hooks = await alternate({
    plain: async () => (await cpuMs(counterLoop, {}, [])).ms,
    hooked: async () => (await cpuMs(counterLoop, {}, [{ name: 'threads', quantum: 2 ** 30 }])).ms,
  }, repeats);
  const hookRatio = hooks.hooked / hooks.plain;
  console.log(`${'quantum hooks'.padEnd(28)} x${hookRatio.toFixed(3)} on the counter loop (${hooks.plain.toFixed(1)} -> ${hooks.hooked.toFixed(1)} ms CPU, a guest start included)`);

  // On compute-heavy code: sha256 (32 MiB) linked as a threaded module with one thread
  // (wasm_programs/build/sha256_threaded.wasm: the quantum's hooks and a yield per quantum, each
  // keeping the turn), against the same program unthreaded, at the default quantum and at 2^30
  // (a handful of yields: the hooks alone). CPU time includes a guest start. Each variant's module
  // is compiled once and run again and again: after the first run V8's optimised code is in it,
  // so this is TurboFan's code, the steady state (a module compiled afresh for every run starts
  // in Liftoff, and the ratio then measured 1.04 in one run: the tier-up hides the hooks).
  const build = join(root, 'wasm_programs', 'build');
  const shaMib = process.env.BENCH_THREADS_SHA_MIB ?? '32';
  const shaArgs = { args: ['sha256.wasm', shaMib] };
  const unthreaded = await compiled(new Uint8Array(readFileSync(join(build, 'sha256.wasm'))), shaArgs);
  const threadedBytes = new Uint8Array(readFileSync(join(build, 'sha256_threaded.wasm')));
  const threaded = await compiled(threadedBytes, shaArgs);
  const threadedQuantum2e30 = await compiled(threadedBytes, { ...shaArgs, quantum: 2 ** 30 });
  const shaTimes = await alternateTimes({
    unthreaded: async () => (await cpuMs(unthreaded, shaArgs)).ms,
    threaded: async () => (await cpuMs(threaded, shaArgs)).ms,
    threadedQuantum2e30: async () => (await cpuMs(threadedQuantum2e30, { ...shaArgs, quantum: 2 ** 30 })).ms,
  }, Math.max(repeats, 11));
  const shaHooks = { unthreaded: median(shaTimes.unthreaded), threaded: median(shaTimes.threaded), threadedQuantum2e30: median(shaTimes.threadedQuantum2e30) };
  // Minima too: on a shared machine the least disturbed round of each variant.
  const shaMinima = { unthreaded: Math.min(...shaTimes.unthreaded), threaded: Math.min(...shaTimes.threaded), threadedQuantum2e30: Math.min(...shaTimes.threadedQuantum2e30) };
  const shaHookRatio = shaHooks.threaded / shaHooks.unthreaded;
  const shaHooksOnlyRatio = shaHooks.threadedQuantum2e30 / shaHooks.unthreaded;
  const shaHookRatioOfMinima = shaMinima.threaded / shaMinima.unthreaded;
  console.log(`${`sha256 ${shaMib} MiB threaded`.padEnd(28)} x${shaHookRatio.toFixed(3)} at the default quantum, x${shaHooksOnlyRatio.toFixed(3)} at 2^30 (${shaHooks.unthreaded.toFixed(1)} -> ${shaHooks.threaded.toFixed(1)} / ${shaHooks.threadedQuantum2e30.toFixed(1)} ms CPU, medians, a guest start included; minima x${shaHookRatioOfMinima.toFixed(3)} at the default)`);

  // A thread alone (thread 0 waits) at --quantum 100000 (6,000 yields) against 2^30 (none): what its yields cost.
  const alone = await alternate({
    quantum1e5: async () => (await cpuMs(aloneLoop, { quantum: 100_000 })).ms,
    quantum2e30: async () => (await cpuMs(aloneLoop, { quantum: 2 ** 30 })).ms,
  }, repeats);
  const aloneRatio = alone.quantum1e5 / alone.quantum2e30;
  console.log(`${'a thread alone'.padEnd(28)} x${aloneRatio.toFixed(3)}: the counter loop in thread 1 while thread 0 waits, at --quantum 100000 against 2^30 (${alone.quantum2e30.toFixed(1)} -> ${alone.quantum1e5.toFixed(1)} ms CPU, a thread start included)`);

  const quanta = [10_000, 100_000, defaultQuantum, 2 ** 30];
  const racy = readFileSync(join(root, 'wasm_programs', 'wat', 'threads', 'racy_counter.wat'));
  const racyMs = await alternate(Object.fromEntries(quanta.map((q) => [String(q), async () => (await cpuMs(racy, { quantum: q })).ms])), repeats);
  const perQuantum = quanta.slice(0, -1).map((q) => {
    const quantumUs = (q * nsPerFuel) / 1000;
    const row = { quantum: q, quantumUs, switchCostPerQuantum: switchUs / quantumUs, racyCounterMs: racyMs[String(q)]!, racyCounterRatio: racyMs[String(q)]! / racyMs[String(2 ** 30)]! };
    console.log(`${`quantum ${q}`.padEnd(28)} a quantum takes ${quantumUs.toFixed(0)} us: a switch adds ${(100 * row.switchCostPerQuantum).toFixed(2)}%; racy counter ${row.racyCounterMs.toFixed(1)} ms CPU, x${row.racyCounterRatio.toFixed(3)} of a quantum never used up`);
    return row;
  });
  return { yieldsPerThread, switchUs, callUs, yields, nsPerFuel, fuelUsed, loopMs, hooks, hookRatio, shaMib, shaHooks, shaMinima, shaHookRatio, shaHooksOnlyRatio, shaHookRatioOfMinima, alone, aloneRatio, racyCounterNoSwitchMs: racyMs[String(2 ** 30)]!, perQuantum };
}
