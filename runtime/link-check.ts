// Before a run: does the module fit what RepliCode provides? Every import must be a
// wasi_snapshot_preview1 function RepliCode implements, under one of the wasm types the syscall
// table gives it; `_start` must be `() -> ()`; the memory must be exported. The JS API would
// link a mistyped import anyway (and call it with missing or BigInt arguments), so the types are
// read from the binary. A mismatch is the module's fault: one line, exit 1, nothing recorded.
// A module found in the rewritten-module cache (rewrite/index.ts) skips this check: it passed it
// when it was written. A change that accepts or refuses other modules must raise rewriteVersion.
import { syscallSignatures } from '../formats/index.js';
import { wasmPageBytes } from './memory-limit.js';
import { readModuleInterface, type ModuleImport, type ModuleInterface } from './module-interface.js';

/** A module RepliCode cannot run as a WASI command (bad imports, no _start, no memory). */
export class GuestLinkError extends Error {}

export const wasiModuleName = 'wasi_snapshot_preview1';
const commandEntry = '_start';
const commandEntryType = '() -> ()';

/**
 * Throws GuestLinkError naming the first thing that would not link as a WASI command; returns
 * whether it is a wasi-threads module (importsThreadSpawn, without reading the module again).
 */
export function checkLink(binary: Uint8Array, label: string): boolean {
  const iface = readModuleInterface(binary);
  const threaded = iface.imports.some(isThreadSpawn);
  if (threaded) checkThreads(iface, label);
  const missing = iface.imports
    .filter((imp) => !(threaded && (isThreadSpawn(imp) || isSharedMemory(imp))))
    .filter((imp) => imp.module !== wasiModuleName || imp.kind !== 'function' || !syscallSignatures(imp.name))
    .map((imp) => `${imp.module}.${imp.name}${imp.kind === 'function' ? '' : ` (a ${imp.kind})`}`);
  if (missing.length > 0) throw new GuestLinkError(`${label} imports what RepliCode does not provide: ${missing.join(', ')}`);
  for (const imp of iface.imports) {
    if (imp.module !== wasiModuleName) continue; // wasi-threads' own, checked above
    const accepted = syscallSignatures(imp.name)!;
    if (!accepted.includes(imp.type!)) {
      throw new GuestLinkError(`${label} imports ${imp.module}.${imp.name} as ${imp.type}, but RepliCode provides ${accepted.join(' or ')}`);
    }
  }
  const start = iface.exports.find((e) => e.name === commandEntry);
  if (start?.kind !== 'function') throw new GuestLinkError(`${label} has no ${commandEntry} export (is it a WASI command?)`);
  const startType = iface.functionType(start.index);
  if (startType !== commandEntryType) throw new GuestLinkError(`${label}: its ${commandEntry} has type ${startType}; a WASI command's ${commandEntry} is ${commandEntryType}`);
  if (!threaded && !iface.exports.some((e) => e.name === 'memory' && e.kind === 'memory')) {
    throw new GuestLinkError(`${label} does not export its memory as "memory"`);
  }
  checkDataSegments(iface, label);
  return threaded;
}

const isThreadSpawn = (imp: ModuleImport): boolean => imp.module === 'wasi' && imp.name === 'thread-spawn';
const isSharedMemory = (imp: ModuleImport): boolean => imp.module === 'env' && imp.name === 'memory' && imp.kind === 'memory';

/** Whether the module (binary) is a wasi-threads module: it imports wasi.thread-spawn. */
export function importsThreadSpawn(binary: Uint8Array): boolean {
  return readModuleInterface(binary).imports.some(isThreadSpawn);
}

/** The wasi-threads ABI: thread-spawn (i32) -> i32, a shared env.memory with a maximum, wasi_thread_start (i32, i32) -> (). */
function checkThreads(iface: ModuleInterface, label: string): void {
  const spawn = iface.imports.find(isThreadSpawn)!;
  if (spawn.kind !== 'function' || spawn.type !== '(i32) -> (i32)') throw new GuestLinkError(`${label} imports wasi.thread-spawn as ${spawn.type ?? `a ${spawn.kind}`}; wasi-threads gives (i32) -> (i32)`);
  if (!iface.imports.some(isSharedMemory)) throw new GuestLinkError(`${label} uses threads (it imports wasi.thread-spawn) but does not import its memory as env.memory (link with --import-memory --shared-memory)`);
  const start = iface.exports.find((e) => e.name === 'wasi_thread_start');
  if (start?.kind !== 'function' || iface.functionType(start.index) !== '(i32, i32) -> ()') {
    throw new GuestLinkError(`${label} uses threads but has no wasi_thread_start export of type (i32, i32) -> ()`);
  }
}

/** Data segments are copied at instantiation into the memory's initial pages: one that does not fit would fail there. */
function checkDataSegments(iface: ModuleInterface, label: string): void {
  const memory = iface.memories[0];
  if (!memory || memory.memory64) return;
  const initialBytes = memory.minPages * wasmPageBytes;
  iface.dataSegments.forEach(({ offset, bytes }, i) => {
    if (offset !== null && offset + bytes > initialBytes) {
      throw new GuestLinkError(`${label}: data segment ${i} (${bytes} bytes at ${offset}) lies past the memory's initial ${initialBytes} bytes`);
    }
  });
}
