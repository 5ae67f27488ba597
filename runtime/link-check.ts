// Before a run: does the module fit what RepliCode provides? Every import must be a
// wasi_snapshot_preview1 function RepliCode implements, under one of the wasm types the syscall
// table gives it; `_start` must be `() -> ()`; the memory must be exported. The JS API would
// link a mistyped import anyway (and call it with missing or BigInt arguments), so the types are
// read from the binary. A mismatch is the module's fault: one line, exit 1, nothing recorded.
import { syscallSignatures } from '../formats/index.js';
import { wasmPageBytes } from './memory-limit.js';
import { readModuleInterface, type ModuleInterface } from './module-interface.js';

/** A module RepliCode cannot run as a WASI command (bad imports, no _start, no memory). */
export class GuestLinkError extends Error {}

export const wasiModuleName = 'wasi_snapshot_preview1';
const commandEntry = '_start';
const commandEntryType = '() -> ()';

/** Throws GuestLinkError naming the first thing that would not link as a WASI command. */
export function checkLink(binary: Uint8Array, label: string): void {
  const iface = readModuleInterface(binary);
  if (iface.imports.some((imp) => imp.module === 'wasi' && imp.name === 'thread-spawn')) {
    throw new GuestLinkError(`${label} uses threads (it imports wasi.thread-spawn): RepliCode does not run wasi-threads modules yet`);
  }
  const missing = iface.imports
    .filter((imp) => imp.module !== wasiModuleName || imp.kind !== 'function' || !syscallSignatures(imp.name))
    .map((imp) => `${imp.module}.${imp.name}${imp.kind === 'function' ? '' : ` (a ${imp.kind})`}`);
  if (missing.length > 0) throw new GuestLinkError(`${label} imports what RepliCode does not provide: ${missing.join(', ')}`);
  for (const imp of iface.imports) {
    const accepted = syscallSignatures(imp.name)!;
    if (!accepted.includes(imp.type!)) {
      throw new GuestLinkError(`${label} imports ${imp.module}.${imp.name} as ${imp.type}, but RepliCode provides ${accepted.join(' or ')}`);
    }
  }
  const start = iface.exports.find((e) => e.name === commandEntry);
  if (start?.kind !== 'function') throw new GuestLinkError(`${label} has no ${commandEntry} export (is it a WASI command?)`);
  const startType = iface.functionType(start.index);
  if (startType !== commandEntryType) throw new GuestLinkError(`${label}: its ${commandEntry} has type ${startType}; a WASI command's ${commandEntry} is ${commandEntryType}`);
  if (!iface.exports.some((e) => e.name === 'memory' && e.kind === 'memory')) {
    throw new GuestLinkError(`${label} does not export its memory as "memory"`);
  }
  checkDataSegments(iface, label);
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
