// A guest's memory limit (`--max-memory`), enforced by the module itself: its memory section's
// maximum is lowered to the limit before it is compiled, so `memory.grow` past it returns -1
// (malloc then returns NULL) the same way on every machine and in every replay, with nothing
// to check at run time. Pure byte rewriting of the one section; everything else is copied.
// Its output is cached on disk by the input's hash, the pass list and rewriteVersion
// (rewrite/index.ts): a change to the bytes this writes must raise rewriteVersion
// (tests/rewrite-cache.test.ts holds a golden hash of its output and fails until it is raised).
import { ModuleFormatError } from './module-error.js';
import { readModuleInterface } from './module-interface.js';
import { leb, readLeb, section, sections } from './wasm-binary.js';

export const wasmPageBytes = 65536;
/** Default --max-memory: 1 GiB, like the filesystem's data limit. */
export const defaultMaxMemoryBytes = 1024 * 1024 * 1024;

const memorySectionId = 5;
/** Limits flags: bit 0 a maximum follows, bit 1 shared, bit 2 64-bit indices. */
const hasMaximum = 0x01;
const memory64 = 0x04;

/**
 * The binary module with each memory's maximum lowered to `maxBytes` (rounded down to pages).
 * A memory that needs more than that at start is refused with one clear line.
 */
export function capMemory(binary: Uint8Array, maxBytes: number, label = 'the module'): Uint8Array {
  const maxPages = Math.floor(maxBytes / wasmPageBytes);
  const pieces: Uint8Array[] = [binary.subarray(0, 8)];
  for (const { id, start, payload, end } of sections(binary)) {
    if (id !== memorySectionId) {
      pieces.push(binary.subarray(start, end));
      continue;
    }
    const out: number[] = [];
    let [count, p] = readLeb(binary, payload);
    out.push(...leb(count));
    for (let i = 0; i < count; i++) {
      const flags = binary[p++]!;
      let min: number;
      let max: number | undefined;
      [min, p] = readLeb(binary, p);
      if (flags & hasMaximum) [max, p] = readLeb(binary, p);
      if (flags & memory64) { // 64-bit memories keep their limits (RepliCode runs wasm32 guests)
        out.push(flags, ...leb(min), ...(max === undefined ? [] : leb(max)));
        continue;
      }
      if (min > maxPages) {
        throw new ModuleFormatError(`${label} needs ${mib(min)} of memory at start, more than the limit of ${mib(maxPages)} (--max-memory)`);
      }
      out.push(flags | hasMaximum, ...leb(min), ...leb(Math.min(max ?? maxPages, maxPages)));
    }
    out.push(...binary.subarray(p, end)); // anything after the entries, unchanged
    pieces.push(section(memorySectionId, out));
  }
  return Buffer.concat(pieces);
}

/** The most memory the module's (first) memory can ever have under a `maxBytes` limit. */
export function memoryLimitBytes(binary: Uint8Array, maxBytes: number): number {
  const memory = readModuleInterface(binary).memories[0];
  if (!memory) return 0;
  return Math.min(memory.maxPages ?? Infinity, Math.floor(maxBytes / wasmPageBytes)) * wasmPageBytes;
}

const mib = (pages: number) => `${(pages * wasmPageBytes) / (1024 * 1024)} MiB`;
