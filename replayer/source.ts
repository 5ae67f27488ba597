// Divergences in source terms: the stacks diff reports, mapped to file, line and function through
// the module's DWARF (runtime/source.ts), with the text of those lines when the file is on this
// machine. A stack replayed from the module itself maps to exact lines; one from the snapshot copy
// (the instruction search, and replays that start from a snapshot) was rebuilt by binaryen, which
// moves code and leaves the DWARF as it was, so its frames map to their functions only ("in fill
// (src/x.c:40)", the line where the function is declared).
import { frameSource, loadDebugInfo, readTextLines, type ModuleDebugInfo, type WasmFrame } from '../runtime/index.js';

/** One frame (or one inlined call in it) in source terms. */
export interface SourcePoint {
  function: string;
  /** As the compiler recorded it (null: the debug info names no file). */
  file: string | null;
  /** null: no line known (a frame outside the debug info). */
  line: number | null;
  column: number | null;
  /** False: only the function is known, and `line` is its declaration's. */
  exact: boolean;
  /** A call inlined into the next point's function. */
  inlined: boolean;
  /** The source line's text, when the file exists here (relative paths from the current directory). */
  text: string | null;
}

/** What diff says in source terms (DiffReport.source). */
export interface DiffSource {
  /** False: the module has no DWARF (or the traces do not embed it): the report names functions only. */
  debugInfo: boolean;
  /** Why there are no source lines although the module has DWARF (damaged), or why the module is unknown. */
  note: string | null;
  /**
   * Each trace's stack at the divergent event, innermost first (the frames diff shows); `focus`:
   * the frame the report leads with, the innermost whose source is on this machine (else the
   * innermost with a line; null: none has one).
   */
  sides: { trace: string; frames: SourcePoint[]; focus: number | null }[];
  /**
   * The instruction range's two ends, when diff narrowed one: the first trace's stacks, and the
   * second trace's (through its own module) at the same two hooks.
   */
  range: { agreeing: SourcePoint[]; differing: SourcePoint[]; second: { trace: string; agreeing: SourcePoint[]; differing: SourcePoint[] } | null } | null;
}

/** Frames shown per stack (diff prints six names; source lines take more room). */
export const sourceFramesShown = 6;

/** The frames in source terms: one point per frame, or per inlined call in it, innermost first. */
export function sourcePoints(debug: ModuleDebugInfo, frames: WasmFrame[], texts = new SourceFiles()): SourcePoint[] {
  return frames.slice(0, sourceFramesShown).flatMap((frame) => {
    const { exact, locations } = frameSource(debug, frame);
    if (locations.length === 0) return [{ function: frame.name, file: null, line: null, column: null, exact: false, inlined: false, text: null }];
    return locations.map((l) => ({
      function: l.function ?? frame.name, file: l.file, line: l.line || null, column: exact ? l.column || null : null, exact, inlined: l.inlined,
      text: l.file && l.line ? texts.line(l.file, l.line) : null,
    }));
  });
}

/** Source files read for their lines: each once while cached (the latest `maxFiles`), and only up to a size. */
export class SourceFiles {
  static readonly maxFileBytes = 4 * 2 ** 20;
  /** Files kept (a TUI session visits many stacks; a stack names at most a few files). */
  static readonly maxFiles = 64;
  private readonly files = new Map<string, string[] | null>();

  /** How many files are cached now. */
  get cached(): number {
    return this.files.size;
  }

  lines(file: string): string[] | null {
    let lines = this.files.get(file);
    if (lines === undefined) {
      lines = readTextLines(file, SourceFiles.maxFileBytes); // null: not on this machine, or too large
      if (this.files.size >= SourceFiles.maxFiles) this.files.delete(this.files.keys().next().value!);
      this.files.set(file, lines);
    }
    return lines;
  }

  line(file: string, line: number): string | null {
    return this.lines(file)?.[line - 1]?.replace(/\r$/, '') ?? null;
  }

  /** Lines `line - context` to `line + context` that exist: [number, text]. */
  around(file: string, line: number, context: number): [number, string][] {
    const lines = this.lines(file);
    if (!lines) return [];
    const out: [number, string][] = [];
    for (let n = Math.max(1, line - context); n <= Math.min(lines.length, line + context); n++) out.push([n, lines[n - 1]!.replace(/\r$/, '')]);
    return out;
  }
}

/** What diffSource needs of diff's instruction range: the stacks at its two ends, on each side. */
export interface RangeStacks {
  agreeingStack: WasmFrame[];
  differingStack: WasmFrame[];
  second?: { trace: string; agreeingStack: WasmFrame[]; differingStack: WasmFrame[] };
}

/**
 * The report's stacks in source terms, each side's through the module its trace embeds (the
 * range's second stacks through the module of the side whose trace they are, else the first's).
 */
export async function diffSource(sides: { trace: string; stack: WasmFrame[]; module: Uint8Array | null | undefined }[], range: RangeStacks | null): Promise<DiffSource> {
  const debug = await Promise.all(sides.map((s) => loadDebugInfo(s.module ?? undefined)));
  const first = debug[0];
  if (!first?.info) {
    const note = first?.warning ?? (sides[0]?.module ? null : 'the trace does not embed its module');
    return { debugInfo: false, note, sides: [], range: null };
  }
  const texts = new SourceFiles();
  return {
    debugInfo: true, note: null,
    sides: sides.map((s, i) => {
      const frames = sourcePoints(debug[i]!, s.stack, texts);
      return { trace: s.trace, frames, focus: focusOf(frames) };
    }),
    range: range && {
      agreeing: sourcePoints(first, range.agreeingStack, texts), differing: sourcePoints(first, range.differingStack, texts),
      second: range.second ? secondSide(range.second, debug[Math.max(0, sides.findIndex((s) => s.trace === range.second!.trace))]!, texts) : null,
    },
  };
}

function secondSide(second: NonNullable<RangeStacks['second']>, debug: ModuleDebugInfo, texts: SourceFiles) {
  return { trace: second.trace, agreeing: sourcePoints(debug, second.agreeingStack, texts), differing: sourcePoints(debug, second.differingStack, texts) };
}

/** The frame to lead with: the innermost whose text is here, else the innermost with an exact line. */
export function focusOf(frames: SourcePoint[]): number | null {
  const withText = frames.findIndex((p) => p.text !== null);
  if (withText >= 0) return withText;
  const withLine = frames.findIndex((p) => p.exact && p.line !== null);
  return withLine >= 0 ? withLine : null;
}

/** "wasm_programs/src/x.c:12:5 in fill" / "in fill (wasm_programs/src/x.c:40, its declaration)". */
export function describePoint(p: SourcePoint): string {
  if (p.file === null) return `in ${p.function} (no debug info)`;
  if (!p.exact) return `in ${p.function} (${p.file}${p.line ? `:${p.line}` : ''}, its declaration)`;
  return `${p.file}:${p.line ?? 0}${p.column ? `:${p.column}` : ''} in ${p.function}${p.inlined ? ' (inlined)' : ''}`;
}

/** The text lines formatDiff prints for the source view (indented by the caller). */
export function formatDiffSource(s: DiffSource, mark: (text: string) => string = (t) => t): string[] {
  if (!s.debugInfo) return [`source: no debug info${s.note ? ` (${s.note})` : ' (build the module with -g for file and line: docs/guest.md)'}`];
  const lines: string[] = [];
  const stack = (points: SourcePoint[], indent: string) => lines.push(...stackLines(points, indent, mark));
  const focused = s.sides.filter((side) => side.focus !== null);
  if (focused.length > 0) {
    lines.push('source line at the divergent event (each trace):');
    for (const side of focused) {
      const p = side.frames[side.focus!]!;
      lines.push(`  ${side.trace}: ${mark(describePoint(p))}${p.text !== null ? `: ${p.text.trim()}` : ''}`);
    }
  }
  const same = s.sides.length > 1 && s.sides.every((side) => JSON.stringify(side.frames) === JSON.stringify(s.sides[0]!.frames));
  for (const side of same ? s.sides.slice(0, 1) : s.sides) {
    if (side.frames.length === 0) continue;
    lines.push(`source at the divergent event, ${same ? 'every trace' : side.trace} (innermost first):`);
    stack(side.frames, '  ');
  }
  if (s.range) lines.push(...formatRangeSource(s.range, s.sides[0]?.trace ?? 'first trace', mark));
  return lines;
}

/** A stack in source lines, innermost first, each with its text when the file is here. */
function stackLines(points: SourcePoint[], indent: string, mark: (text: string) => string): string[] {
  return points.flatMap((p, i) => [
    `${indent}${i === 0 ? mark(describePoint(p)) : describePoint(p)}`,
    ...(p.text !== null && p.line !== null ? [`${indent}    ${String(p.line).padStart(5)} | ${p.text.trim()}`] : []),
  ]);
}

/** The instruction range's ends: each trace's innermost line (when one is exact), then the first trace's stacks. */
function formatRangeSource(range: NonNullable<DiffSource['range']>, firstTrace: string, mark: (text: string) => string): string[] {
  const lines: string[] = [];
  const at = (p: SourcePoint | undefined) => (p ? `${mark(describePoint(p))}${p.text !== null ? `: ${p.text.trim()}` : ''}` : '(no frame)');
  const ends = [{ trace: firstTrace, agreeing: range.agreeing, differing: range.differing }, ...(range.second ? [range.second] : [])];
  const key = (e: (typeof ends)[number]) => JSON.stringify([e.agreeing[0], e.differing[0]]);
  const same = ends.every((e) => key(e) === key(ends[0]!));
  if (ends.some((e) => e.agreeing[0]?.exact || e.differing[0]?.exact)) {
    lines.push(`the instruction range's ends in source (${same ? 'every trace' : 'each trace'}):`);
    for (const e of same ? ends.slice(0, 1) : ends) {
      const indent = same ? '  ' : '    ';
      if (!same) lines.push(`  ${e.trace}:`);
      lines.push(`${indent}state agrees at ${at(e.agreeing[0])}`, `${indent}and differs at ${at(e.differing[0])}`);
    }
  }
  const inexact = [...range.agreeing, ...range.differing].some((p) => p.file !== null && !p.exact);
  lines.push(`the instruction range in source (first trace${inexact ? "; by function where the instrumented copy's code has no place in the module" : ''}):`);
  lines.push('  state agrees at:', ...stackLines(range.agreeing, '    ', mark), '  and differs at:', ...stackLines(range.differing, '    ', mark));
  return lines;
}
