// The replay-side copy of a module for snapshots and the instruction clock (runtime/snapshot/abi.ts
// is the contract). Three binaryen passes over the module as a plain run rewrites it:
// - log-execution puts a call at every function entry and loop header (and before a body's last
//   statement: with the stack limit, that is every function's exit); the call goes to a function
//   defined here that adds one to an i64 clock and calls the stop import when the clock reaches the
//   stop value, and is inlined. "The n-th hook since event E" names a point in the guest's execution
//   between two syscalls; between two consecutive hooks runs straight-line code only.
// - every mutable global the module defines is exported, so a snapshot holds them all.
// - asyncify, with only the WASI imports as unwinding points: binaryen instruments just the
//   functions that can reach one (the call graph decides), so the copy costs little (docs/design.md).
// The copy computes exactly what the original does (same memory layout, globals and syscalls), so it
// replays the original's trace. binaryen loads only here (it takes a second to import).
import {
  applyRewrites, rewriteVersion, capMemory, clockExport, copySites, copySitesSectionName, deferStartFunction, describePass, encodeCopySites, globalExportPrefix,
  ModuleFormatError, moduleBinary, offsetsSectionName, originalOffsetOf, leb, readCachedCopy, readLeb, section, sections, stopExport, stopImport, unwindingImports, writeCachedCopy, type CopySites, type RewritePass,
} from '../runtime/index.js';

import { createRequire } from 'node:module';

const compiled = new Map<string, Promise<WebAssembly.Module>>();
/** Snapshot copies kept compiled (diff and the TUI use two or three modules). */
const maxCompiled = 8;

/** What makes a snapshot copy: the module's hash, its memory limit, its passes and their version, and this file's version of the copy. */
export function snapshotModuleKey(sha256: string, maxMemoryBytes: number | undefined, passes: readonly RewritePass[]): string {
  return `${sha256} memory=${maxMemoryBytes ?? '-'} ${passes.map(describePass).join(' ')} rewrite=${rewriteVersion} copy=${snapshotCopyVersion} binaryen=${binaryenVersion()}`;
}

/** binaryen's version, read from its package.json (not by loading it): another version may build another copy. */
function binaryenVersion(): string {
  try {
    return (createRequire(import.meta.url)('binaryen/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
/** Raised when the copy changes, so indexes built with an older copy are not used. 3: the stop import takes the hook's number; the site map. */
const snapshotCopyVersion = 3;
/** Big enough for the clock's function to be always inlined (binaryen counts expressions). */
const clockFunctionMaxSize = 32;

/**
 * The snapshot copy of the module, after the memory limit and the recorded rewriting passes (in
 * the order a plain run applies them); cached by snapshotModuleKey.
 */
export function snapshotModule(bytes: Uint8Array, sha256: string, maxMemoryBytes?: number, passes: readonly RewritePass[] = []): Promise<WebAssembly.Module> {
  const key = snapshotModuleKey(sha256, maxMemoryBytes, passes);
  let module = compiled.get(key);
  if (!module) {
    module = build(bytes, maxMemoryBytes, passes, key);
    if (compiled.size >= maxCompiled) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, module);
  }
  return module;
}

/**
 * The copy from the disk cache if it holds one for `key` that checks out, else built (binaryen
 * takes ~1.2 s to load and run: most of a warm diff) and stored there for the next command.
 */
async function build(bytes: Uint8Array, maxMemoryBytes: number | undefined, passes: readonly RewritePass[], key: string): Promise<WebAssembly.Module> {
  const cached = readCachedCopy(key);
  if (cached) return WebAssembly.compile(cached);
  const copy = await buildCopy(bytes, maxMemoryBytes, passes);
  writeCachedCopy(key, copy);
  return WebAssembly.compile(copy);
}

/** The snapshot copy's bytes, built afresh (no cache): with its site map (runtime/snapshot/sites.ts). */
export async function buildCopy(bytes: Uint8Array, maxMemoryBytes?: number, passes: readonly RewritePass[] = []): Promise<Uint8Array> {
  const [{ default: binaryen }, source] = await Promise.all([import('binaryen'), moduleBinary(bytes)]);
  const deferred = deferStartFunction(maxMemoryBytes === undefined ? source : capMemory(source, maxMemoryBytes));
  // The memory limit and the deferred start lengthen sections before the code: the offset map takes that out again.
  const binary = applyRewrites(deferred, passes, undefined, deferred.length - source.length);
  // Keep the name section (stacks name their functions) but not its label names (jco writes
  // them; binaryen does not know them and would print a warning per function).
  binaryen.setDebugInfo(true);
  const input = withoutLabelNames(binary);
  const m = binaryen.readBinary(input);
  try {
    m.setFeatures(binaryen.Features.All);
    // The module's own mutable globals, before the pass adds its own.
    for (let i = 0; i < m.getNumGlobals(); i++) {
      const global = binaryen.getGlobalInfo(m.getGlobalByIndex(i));
      if (global.mutable && !global.module) m.addGlobalExport(global.name, `${globalExportPrefix}${i}`);
    }
    // Every function of the guest's is kept whole (stacks name them); only the clock's is inlined.
    binaryen.setPassArgument('no-inline', '*');
    m.runPasses(['no-inline', 'log-execution']);
    let hook: { name: string; module: string; base: string } | undefined;
    for (let i = 0; i < m.getNumFunctions(); i++) {
      const info = binaryen.getFunctionInfo(m.getFunctionByIndex(i));
      if (info.module && info.base === 'log_execution') hook = { name: info.name, module: info.module, base: info.base };
    }
    // What each hook's number marks is read off the module as the pass left it (sites.ts).
    const logged = m.emitBinary();
    const i64 = binaryen.i64;
    m.addGlobal(clockExport, i64, true, m.i64.const(0n as never));
    m.addGlobal(stopExport, i64, true, m.i64.const(-1n as never));
    m.addGlobalExport(clockExport, clockExport);
    m.addGlobalExport(stopExport, stopExport);
    m.addFunctionImport(stopImport.name, stopImport.module, stopImport.name, binaryen.i32, binaryen.none);
    if (hook) {
      m.removeFunction(hook.name);
      // The stop import gets the hook's number: the session marks the stack with it.
      m.addFunction(hook.name, binaryen.createType([binaryen.i32]), binaryen.none, [], m.block(null, [
        m.global.set(clockExport, m.i64.add(m.global.get(clockExport, i64), m.i64.const(1n as never))),
        m.if(m.i64.eq(m.global.get(clockExport, i64), m.global.get(stopExport, i64)), m.call(stopImport.name, [m.local.get(0, binaryen.i32)], binaryen.none)),
      ]));
    }
    // A call per loop iteration made a compute-bound guest 1.7x slower; inlined, 1.15x (design.md).
    const inlineLimit = binaryen.getAlwaysInlineMaxSize();
    binaryen.setAlwaysInlineMaxSize(clockFunctionMaxSize);
    try {
      m.runPasses(['inlining']);
    } finally {
      binaryen.setAlwaysInlineMaxSize(inlineLimit);
    }
    binaryen.setPassArgument('asyncify-imports', unwindingImports);
    m.runPasses(['asyncify']);
    const copy = m.emitBinary();
    if (!hook) return copy;
    const toOriginal = originalOffsetOf(binary, input, deferred.length - source.length);
    let sites: CopySites = { calls: new Map(), hooks: new Map() };
    try {
      sites = copySites(source, input, logged, copy, toOriginal, { module: hook.module, name: hook.base });
    } catch (err) {
      // An instruction our decoder does not know (binaryen reads more than the passes do): the copy
      // still replays, with an empty map: its frames are named by function only (marked approximate).
      if (!(err instanceof ModuleFormatError)) throw err;
    }
    return Buffer.concat([copy, section(0, Buffer.concat([Uint8Array.from(wasmName(copySitesSectionName)), encodeCopySites(sites)]))]);
  } finally {
    m.dispose();
  }
}

const wasmName = (text: string) => { const b = new TextEncoder().encode(text); return [...leb(b.length), ...b]; };

/** The module with subsection 3 (label names) removed from its `name` custom section, and no offset map. */
export function withoutLabelNames(binary: Uint8Array): Uint8Array {
  const pieces: Uint8Array[] = [binary.subarray(0, 8)];
  for (const { id, start, payload, end } of sections(binary)) {
    const [nameLength, nameStart] = id === 0 ? readLeb(binary, payload) : [0, payload];
    const name = id === 0 ? new TextDecoder().decode(binary.subarray(nameStart, nameStart + nameLength)) : '';
    if (name === offsetsSectionName) continue; // binaryen moves the code: the stack limit's offset map would lie
    if (name !== 'name') {
      pieces.push(binary.subarray(start, end));
      continue;
    }
    const kept: number[] = Array.from(binary.subarray(payload, nameStart + nameLength));
    for (let sub = nameStart + nameLength; sub < end;) {
      const [subSize, subStart] = readLeb(binary, sub + 1);
      if (binary[sub] !== 3) kept.push(...binary.subarray(sub, subStart + subSize));
      sub = subStart + subSize;
    }
    pieces.push(section(0, kept));
  }
  return Buffer.concat(pieces);
}
