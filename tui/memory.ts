// The memory view's arithmetic: where replicas' linear memories differ (row-aligned regions), and
// the rows of a hex dump with the differing bytes marked. Pure, so tests need no replay.
import { memoryRowBytes, type MemoryRegion } from './state.js';

/** At most this many differing regions are listed (n/N walk them; a line says there are more). */
export const memoryRegionsMax = 1000;

/** Memories are compared this many bytes at a time before row by row (most of memory agrees). */
const blockBytes = 4096;

/** Whether the replicas' bytes in [from, to) differ (a byte one memory lacks differs from one it has). */
function differ(memories: Uint8Array[], from: number, to: number): boolean {
  const first = memories[0]!;
  return memories.some((m) => m !== first && !sameBytes(first, m, from, to));
}

function sameBytes(a: Uint8Array, b: Uint8Array, from: number, to: number): boolean {
  if (a.length >= to && b.length >= to) return Buffer.from(a.buffer, a.byteOffset + from, to - from).equals(Buffer.from(b.buffer, b.byteOffset + from, to - from));
  for (let i = from; i < to; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The row-aligned regions where the memories differ, in order, at most memoryRegionsMax (`more`:
 * there are others past them); `size`: the largest memory.
 */
export function differingRegions(memories: Uint8Array[]): { size: number; regions: MemoryRegion[]; more: boolean } {
  const size = Math.max(0, ...memories.map((m) => m.length));
  const regions: MemoryRegion[] = [];
  for (let block = 0; block < size; block += blockBytes) {
    if (!differ(memories, block, Math.min(size, block + blockBytes))) continue;
    for (let row = block; row < Math.min(size, block + blockBytes); row += memoryRowBytes) {
      const end = Math.min(size, row + memoryRowBytes);
      if (!differ(memories, row, end)) continue;
      const last = regions.at(-1);
      if (last && last.end === row) last.end = end;
      else if (regions.length === memoryRegionsMax) return { size, regions, more: true };
      else regions.push({ start: row, end });
    }
  }
  return { size, regions, more: false };
}

/** A row of the dump: its address, each replica's bytes (null past the end of its memory), the columns that differ. */
export interface DumpRow { address: number; bytes: (number | null)[][]; differs: boolean[] }

/** `rows` rows of the dump from byte `top` on. */
export function dumpRows(memories: Uint8Array[], top: number, rows: number): DumpRow[] {
  const size = Math.max(0, ...memories.map((m) => m.length));
  const out: DumpRow[] = [];
  for (let address = top; address < size && out.length < rows; address += memoryRowBytes) {
    const bytes = memories.map((m) => Array.from({ length: memoryRowBytes }, (_, i) => (address + i < m.length ? m[address + i]! : null)));
    const differs = Array.from({ length: memoryRowBytes }, (_, i) => address + i < size && new Set(bytes.map((b) => b[i])).size > 1);
    out.push({ address, bytes, differs });
  }
  return out;
}
