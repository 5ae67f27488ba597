// Where the rewritten module's code came from: V8 reports frames by byte offset in the module it
// compiled, and a trap or divergence report should name offsets in the module the user has. The
// stack limit records, for each stretch of code it copied or inserted, its offset in the
// original; the map travels inside the module as a custom section, so the guest's worker can
// translate frames without being told anything else.
// Shared by the passes, whose output is cached on disk by rewriteVersion (rewrite/index.ts): a
// change to the bytes this writes must raise rewriteVersion (tests/rewrite-cache.test.ts fails until it is).
import { readLeb, sections } from '../wasm-binary.js';
import { ByteWriter } from './bytes.js';
import type { WasmFrame } from '../trap.js';

export const offsetsSectionName = 'replicode.offsets';

/** A stretch of the rewritten module: copied (same length in the original) or inserted (maps to one offset). */
export interface Segment { start: number; length: number; original: number; copied: boolean }

/** The custom section's payload: count, then start delta, length, original, copied flag, each LEB128. */
export function encodeSegments(segments: Segment[]): Uint8Array {
  const out = new ByteWriter().leb(segments.length);
  let last = 0;
  for (const s of segments) {
    out.leb(s.start - last).leb(s.length).leb(s.original).byte(s.copied ? 1 : 0);
    last = s.start;
  }
  return out.view();
}

export function decodeSegments(bytes: Uint8Array): Segment[] {
  const segments: Segment[] = [];
  let [count, p] = readLeb(bytes, 0);
  let start = 0;
  while (count-- > 0) {
    let delta: number, length: number, original: number;
    [delta, p] = readLeb(bytes, p);
    [length, p] = readLeb(bytes, p);
    [original, p] = readLeb(bytes, p);
    start += delta;
    segments.push({ start, length, original, copied: bytes[p++] === 1 });
  }
  return segments;
}

/** The offset in the original module of `offset` in the rewritten one (unchanged outside the map). */
export function originalOffset(segments: Segment[], offset: number): number {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = segments[mid]!;
    if (offset < s.start) hi = mid - 1;
    else if (offset >= s.start + s.length) lo = mid + 1;
    else return s.copied ? s.original + (offset - s.start) : s.original;
  }
  return offset;
}

/**
 * The map of a module rewritten twice: `outer` maps the newest module's offsets to the module it
 * was made from, `inner` that module's to the original (fuel after the stack limit, say). Copied
 * stretches are cut where `inner`'s segments change; offsets outside `inner` map to themselves.
 */
export function composeSegments(outer: Segment[], inner: Segment[]): Segment[] {
  if (inner.length === 0) return outer;
  const out: Segment[] = [];
  const push = (s: Segment) => { if (s.length > 0) out.push(s); };
  for (const s of outer) {
    if (!s.copied) { out.push({ ...s, original: originalOffset(inner, s.original) }); continue; }
    const to = s.original + s.length;
    let from = s.original;
    let i = firstEndingAfter(inner, from);
    while (from < to) {
      const seg = inner[i];
      const at = s.start + (from - s.original);
      if (!seg || from < seg.start) { // outside inner's map: the offset is its own
        const gapEnd = seg ? Math.min(to, seg.start) : to;
        push({ start: at, length: gapEnd - from, original: from, copied: true });
        from = gapEnd;
        continue;
      }
      const pieceEnd = Math.min(to, seg.start + seg.length);
      push({ start: at, length: pieceEnd - from, original: seg.copied ? seg.original + (from - seg.start) : seg.original, copied: seg.copied });
      from = pieceEnd;
      i++;
    }
  }
  return out;
}

/** The index of the first segment that ends after `offset` (segments are sorted and do not overlap). */
function firstEndingAfter(segments: Segment[], offset: number): number {
  let lo = 0;
  let hi = segments.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const s = segments[mid]!;
    if (s.start + s.length <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Translates frames of `module` to the original module's offsets (identity if it was not rewritten). */
export function frameTranslator(module: WebAssembly.Module): (frames: WasmFrame[]) => WasmFrame[] {
  const [section] = WebAssembly.Module.customSections(module, offsetsSectionName);
  if (!section) return (frames) => frames;
  const segments = decodeSegments(new Uint8Array(section));
  return (frames) => frames.map((f) => ({ ...f, offset: originalOffset(segments, f.offset) }));
}

/**
 * How an offset in `input` (`binary` with some custom sections left out) maps to the module as
 * given: through `binary`'s offset map, or `originShift` bytes back when it has none (no pass ran,
 * only the memory limit and the deferred start, which lengthen sections before the code).
 */
export function originalOffsetOf(binary: Uint8Array, input: Uint8Array, originShift: number): (offset: number) => number {
  const codeAt = (b: Uint8Array) => [...sections(b)].find((s) => s.id === 10)?.start ?? 0;
  const shift = codeAt(binary) - codeAt(input);
  let segments: Segment[] | undefined;
  for (const s of sections(binary)) {
    if (s.id !== 0) continue;
    const [n, p] = readLeb(binary, s.payload);
    if (new TextDecoder().decode(binary.subarray(p, p + n)) === offsetsSectionName) segments = decodeSegments(binary.subarray(p + n, s.end));
  }
  return segments ? (offset) => originalOffset(segments, offset + shift) : (offset) => offset + shift - originShift;
}
