// Turning user-supplied bytes into a compiled core module, with one clear error for anything
// that is not one (missing file is the caller's business).
import { checkLink } from './link-check.js';
import { capMemory } from './memory-limit.js';
import { deferStartFunction } from './start-function.js';
// In a file of its own so that the byte-level rewriters can throw it without importing this one.
import { ModuleFormatError } from './module-error.js';
import { applyRewrites, bytesHash, defaultQuantum, findRewritten, keepRewritten, rewriteCacheKey, type RewritePass } from './rewrite/index.js';
import { compileComponent, type GuestProgram } from './p2/index.js';

export { ModuleFormatError };

const wasmMagic = [0x00, 0x61, 0x73, 0x6d];

export type ModuleKind = 'core' | 'component' | 'wat' | 'unknown';

/** What the bytes are: a core module, a component, WebAssembly text, or something else. */
export function moduleKind(bytes: Uint8Array): ModuleKind {
  if (bytes.length >= 8 && wasmMagic.every((b, i) => bytes[i] === b)) {
    // Core modules are version 1 layer 0; components use the layer field (bytes 6-7) = 1.
    if (bytes[6] === 0x01 && bytes[7] === 0x00) return 'component';
    return 'core';
  }
  const head = new TextDecoder().decode(bytes.subarray(0, 4096)).replace(/^\s*(;;[^\n]*\n\s*|\(;[\s\S]*?;\)\s*)*/, '');
  if (head.startsWith('(module') || head.startsWith('(component')) return 'wat';
  return 'unknown';
}

/** WebAssembly text to binary; jco is large, so it is loaded only when text is given. */
async function watToWasm(text: string): Promise<Uint8Array> {
  const { parse } = await import('@bytecodealliance/jco');
  try {
    return await parse(text);
  } catch (err) {
    const raw = String((err as Error)?.message ?? err);
    const detail = /kind: Custom\("([^"]*)"\)/.exec(raw)?.[1] ?? raw.split('\n')[0];
    const offset = /offset: (\d+)/.exec(raw)?.[1];
    throw new ModuleFormatError(`invalid WebAssembly text: ${detail}${offset ? ` at byte ${offset}` : ''}`);
  }
}

/** The module as a binary (WAT text is assembled): what instrumentation reads. */
export async function moduleBinary(bytes: Uint8Array): Promise<Uint8Array> {
  return moduleKind(bytes) === 'wat' ? watToWasm(new TextDecoder().decode(bytes)) : bytes;
}

/**
 * Compiles a core module from binary or text; components and other files are refused by name.
 * With `maxMemoryBytes`, the module's memory may not grow past it (see memory-limit.ts); then
 * the rewriting `passes` run in order (see rewrite/index.ts). The result is cached by the module's
 * SHA-256 (in memory and on disk, effects/copy-cache.ts); `key` is no longer read (the hash is).
 */
export async function compileModule(bytes: Uint8Array, label = 'input', maxMemoryBytes?: number, passes: readonly RewritePass[] = [], _key?: string): Promise<WebAssembly.Module> {
  const kind = moduleKind(bytes);
  if (kind === 'component') {
    throw new ModuleFormatError(`${label} is a WebAssembly component; compileProgram runs components`);
  }
  if (kind === 'unknown') throw new ModuleFormatError(`${label} is not a WebAssembly module (no \\0asm header, not WAT text)`);
  const binary = kind === 'wat' ? await watToWasm(new TextDecoder().decode(bytes)) : bytes;
  if (moduleKind(binary) === 'component') {
    throw new ModuleFormatError(`${label} is a WebAssembly component; compileProgram runs components`);
  }
  // The cache is consulted before anything reads the module: a hit is these bytes, already
  // validated, link-checked and rewritten by this rewriteVersion (the key), so it is only compiled.
  const cacheKey = passes.length === 0 ? undefined : rewriteCacheKey(`module ${bytesHash(binary)} memory=${maxMemoryBytes ?? '-'}`, passes);
  const hit = cacheKey === undefined ? undefined : findRewritten(cacheKey);
  // An entry that does not compile (written by something else under our name) is rebuilt over.
  if (hit) try { return await WebAssembly.compile(hit); } catch { /* rebuilt below */ }
  // Validated before it is rewritten (the memory limit, the start function): those passes and
  // the link check read sections and assume them well formed.
  if (!WebAssembly.validate(binary)) await compile(binary, label);
  const limited = maxMemoryBytes === undefined ? binary : capMemory(binary, maxMemoryBytes, label);
  const threadSpawn = checkLink(limited, label);
  // A wasi-threads module always has its wait/notify rewritten (the caller's passes name the quantum).
  const threaded = threadSpawn && !passes.some((p) => p.name === 'threads');
  // The memory limit may lengthen the memory section and the deferred start function the export
  // section, both before the code: the stack limit's offset map takes that back out, so trap
  // reports name offsets in the module as given.
  const deferred = deferStartFunction(limited);
  const rewritten = rewrite(deferred, threaded ? [...passes, { name: 'threads', quantum: defaultQuantum }] : passes, label, deferred.length - binary.length);
  const module = await compile(rewritten, label);
  if (cacheKey !== undefined) keepRewritten(cacheKey, rewritten); // only what compiled
  return module;
}

/**
 * Compiles a guest program: a core module as compileModule does, or a WASI 0.2 command component
 * (transpiled by jco, loaded only then; see runtime/p2), whose main core module gets the same
 * memory limit and passes.
 */
export async function compileProgram(bytes: Uint8Array, label = 'input', maxMemoryBytes?: number, passes: readonly RewritePass[] = [], key?: string): Promise<GuestProgram> {
  const binary = moduleKind(bytes) === 'wat' ? await moduleBinary(bytes) : bytes; // a (component ...) in text too
  if (moduleKind(binary) === 'component') return compileComponent(binary, label, maxMemoryBytes, passes);
  return compileModule(binary, label, maxMemoryBytes, passes, key);
}

async function compile(binary: Uint8Array, label: string): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(binary);
  } catch (err) {
    throw new ModuleFormatError(`${label} is not a valid WebAssembly module: ${(err as Error).message}`);
  }
}

/** The passes applied; a module they cannot read is refused with one line naming it. */
function rewrite(binary: Uint8Array, passes: readonly RewritePass[], label: string, originShift: number): Uint8Array {
  try {
    return applyRewrites(binary, passes, undefined, originShift);
  } catch (err) {
    if (err instanceof ModuleFormatError) throw new ModuleFormatError(`${label} is not a valid WebAssembly module: ${err.message}`);
    throw err;
  }
}
