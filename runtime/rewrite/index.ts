// The module rewriting pipeline: named passes over the module's bytes, run in one order before it
// is compiled. The list with its options is recorded in the trace header, so replay, diff's
// instrumented replays and every replica rebuild exactly the module that ran. The passes, in
// pipeline order: the call-stack limit, fuel, NaN canonicalisation, threads (wasi-threads modules). Each later pass composes its
// offset map with the earlier one's, so stacks name offsets in the module as given.
import { createHash } from 'node:crypto';
import { maxStackLimitBytes, type RewritePassRecord } from '../../formats/index.js';
import { readCachedCopy, writeCachedCopy } from '../effects/copy-cache.js';
import { addFuel } from './fuel.js';
import { canonicaliseNans } from './nans.js';
import { limitStack } from './stack-limit.js';
import { addThreadHooks } from './threads.js';

export { exhaustedFunctionName, frameBaseBytes, slotBytes, limitStack } from './stack-limit.js';
export { frameTranslator, offsetsSectionName, originalOffsetOf } from './offsets.js';
export { addFuel, fuelExport, maxFuelLimit } from './fuel.js';
export { canonicaliseNans, canonicalNanF32, canonicalNanF64 } from './nans.js';
export { addThreadHooks, maxQuantum, quantumExport, schedTableExport, SchedSlot } from './threads.js';

/** Default --max-stack: 8 MiB of counted frames (a native thread's usual stack). */
export const defaultMaxStackBytes = 8 * 1024 * 1024;
/** The largest --max-stack (shared with the trace reader). */
export const maxMaxStackBytes = maxStackLimitBytes;

/**
 * The V8 stack of a guest's thread (Worker resourceLimits.stackSizeMb) for a stack limit: twice
 * the counted bytes (V8's real frames measured 0.94-1.0 of their counted cost in the worst shapes,
 * in Liftoff and TurboFan) plus room for the host's JavaScript frames during a syscall, so that
 * V8's own limit, which is not deterministic, is never reached first (docs/design.md).
 */
export function guestThreadStackMb(maxStackBytes: number): number {
  return Math.ceil((stackSafetyFactor * maxStackBytes) / 2 ** 20) + hostStackMarginMb;
}
const stackSafetyFactor = 2;
/** Room for the host's JavaScript frames on top of the guest's during a syscall. */
const hostStackMarginMb = 8;

/** One pass of the pipeline with its options, exactly as the trace header records it. */
export type RewritePass = RewritePassRecord;

/** The passes a configuration asks for, in pipeline order. */
export function rewritePipeline(options: { maxStackBytes?: number | undefined; maxFuel?: number | undefined; canonicalNans?: boolean | undefined; quantum?: number | undefined }, threaded = false): RewritePass[] {
  const passes: RewritePass[] = [];
  if (options.maxStackBytes !== undefined) passes.push({ name: 'stack-limit', maxStackBytes: options.maxStackBytes });
  if (options.maxFuel !== undefined) passes.push({ name: 'fuel', maxFuel: options.maxFuel });
  if (options.canonicalNans === true) passes.push({ name: 'canonical-nans' });
  // Only for a module that imports wasi.thread-spawn (compileModule decides): others never switch.
  if (threaded) passes.push({ name: 'threads', quantum: options.quantum ?? defaultQuantum });
  return passes;
}

/** Default --quantum: fuel units a thread runs before the next one gets the turn (docs/design.md, "Threads"). */
export const defaultQuantum = 1_000_000;

/** The threads pass among the passes, if any. */
export function threadsPassOf(passes: readonly RewritePass[]): Extract<RewritePass, { name: 'threads' }> | undefined {
  for (const p of passes) if (p.name === 'threads') return p;
  return undefined;
}

/** The stack limit among the passes, if any. */
export function stackLimitOf(passes: readonly RewritePass[]): number | undefined {
  for (const p of passes) if (p.name === 'stack-limit') return p.maxStackBytes;
  return undefined;
}

/** The fuel limit among the passes, if any. */
export function fuelLimitOf(passes: readonly RewritePass[]): number | undefined {
  for (const p of passes) if (p.name === 'fuel') return p.maxFuel;
  return undefined;
}

/** Whether the passes canonicalise NaNs. */
export const canonicalNansOf = (passes: readonly RewritePass[]): boolean => passes.some((p) => p.name === 'canonical-nans');

/**
 * The version of what the passes write, part of the key of every cached rewritten module (in
 * memory and on disk: rewritten modules and diff's snapshot copies): raised whenever a pass, or
 * what compileModule does around them (the memory limit, the deferred start function, the link
 * check a cache hit skips), writes other bytes or accepts other modules for the same input.
 * tests/rewrite-cache.test.ts holds a golden hash of each pass's output and fails until it is
 * raised. 2: fuel and NaN canonicalisation added; 3: threads (a pass whose meaning changes for a
 * recorded trace needs a new name or option instead: the trace says which program ran); 5: the
 * threads pass keeps a loop's locals in globals across its yield (the same schedule).
 */
export const rewriteVersion = 5;

/** A pass's options as one line: `stack-limit(maxStackBytes=8388608)`. */
export function describePass(pass: RewritePass): string {
  const { name, ...options } = pass;
  return `${name}(${Object.entries(options).map(([k, v]) => `${k}=${v}`).join(', ')})`;
}

const cache = new Map<string, Uint8Array>();
/** Rewritten modules kept for reuse in memory (a cluster or a test loads one module many times). */
const maxCachedModules = 16;

/** The SHA-256 of bytes, as hex: what names a module in the cache keys. */
export const bytesHash = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The cache key of a rewritten module: the input named by `id` (its SHA-256 and whatever else shaped it), the passes, the version. */
export const rewriteCacheKey = (id: string, passes: readonly RewritePass[]): string => `${id} ${passes.map(describePass).join(' ')} rewrite=${rewriteVersion}`;

/** The rewritten module cached under `key`: from memory, else from the disk cache (effects/copy-cache.ts). */
export function findRewritten(key: string): Uint8Array | undefined {
  const known = cache.get(key) ?? readCachedCopy(key, 'rewritten');
  if (known) remember(key, known);
  return known;
}

/** Keeps a rewritten module under `key`, in memory and on disk. */
export function keepRewritten(key: string, rewritten: Uint8Array): void {
  writeCachedCopy(key, rewritten, 'rewritten');
  remember(key, rewritten);
}

function remember(key: string, rewritten: Uint8Array): void {
  cache.delete(key);
  cache.set(key, rewritten);
  const oldest = cache.keys().next();
  if (cache.size > maxCachedModules && !oldest.done) cache.delete(oldest.value);
}

/**
 * The binary with every pass applied in order; `key` (the module's hash and anything else that
 * shaped `binary`) caches the result, in memory and on disk; `originShift` as for limitStack.
 */
export function applyRewrites(binary: Uint8Array, passes: readonly RewritePass[], key?: string, originShift = 0): Uint8Array {
  if (passes.length === 0) return binary;
  const cacheKey = key === undefined ? undefined : rewriteCacheKey(`${key} shift=${originShift}`, passes);
  const hit = cacheKey === undefined ? undefined : findRewritten(cacheKey);
  if (hit) return hit;
  let out = binary;
  for (const pass of passes) {
    switch (pass.name) {
      case 'stack-limit': out = limitStack(out, pass.maxStackBytes, out === binary ? originShift : 0); break;
      case 'fuel': out = addFuel(out, pass.maxFuel, out === binary ? originShift : 0); break;
      case 'canonical-nans': out = canonicaliseNans(out, out === binary ? originShift : 0); break;
      case 'threads': out = addThreadHooks(out, pass.quantum, out === binary ? originShift : 0); break;
    }
  }
  if (cacheKey !== undefined) keepRewritten(cacheKey, out);
  return out;
}
