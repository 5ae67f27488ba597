// Source locations from a module's DWARF (the custom sections .debug_info, .debug_line, ...):
// a byte offset in the module becomes file, line, column and the chain of inlined functions.
// DWARF in wasm counts code addresses from the start of the Code section's contents (its
// function count), while V8's frames count bytes from the start of the module: one subtraction.
// Loaded with import() by the commands that want source lines, and only for a module that has
// DWARF (hasDebugInfo in runtime/wasm-binary.ts is the cheap test), so a plain `run` never pays.
import { readLeb, sections } from '../wasm-binary.js';
import type { WasmFrame } from '../trap.js';
import { DwarfError } from './bytes.js';
import { readUnits, type Scope, type Unit } from './info.js';
import { readLineTables, type LineRow, type LineTable } from './line.js';

export { DwarfError } from './bytes.js';
export type { LineRow, LineTable } from './line.js';

/** One source position; for an inlined call, one per function (innermost first). */
export interface SourceLocation {
  /** The path as the compiler recorded it (null: the line table names no file). */
  file: string | null;
  /** 0: the compiler gave no line (code it made up). */
  line: number;
  column: number;
  /** The function this position is in (null: no debug entry covers it). */
  function: string | null;
  /** True for a function inlined into the next location's. */
  inlined: boolean;
}

/** Where a frame is in the source. `exact`: its offset's line; else only its function's declaration. */
export interface FrameSource {
  frame: WasmFrame;
  exact: boolean;
  /** Innermost first; empty when the debug info does not cover this frame. */
  locations: SourceLocation[];
}

/** A function of the module: its index, name (name section) and body, in module byte offsets. */
export interface ModuleFunction { index: number; name: string | undefined; start: number; end: number }

interface Sequence { start: number; end: number; rows: LineRow[]; table: LineTable }
interface FunctionEntry { start: number; end: number; scope: Scope; unit: Unit }

export class DebugInfo {
  private readonly sequences: Sequence[] = [];
  private readonly entries: FunctionEntry[] = [];
  private readonly tablesByOffset = new Map<number, LineTable>();
  private readonly functionsByIndex = new Map<number, ModuleFunction>();
  private readonly functionsByName = new Map<string, ModuleFunction>();

  constructor(
    /** Module offset of the Code section's contents: code address 0. */
    readonly codeStart: number,
    readonly codeSize: number,
    readonly lineTables: LineTable[],
    readonly units: Unit[],
    functions: ModuleFunction[],
  ) {
    for (const table of lineTables) {
      this.tablesByOffset.set(table.offset, table);
      let first = 0;
      table.rows.forEach((row, i) => {
        if (!row.endSequence) return;
        const rows = table.rows.slice(first, i);
        first = i + 1;
        const start = rows[0]?.address ?? row.address;
        // Empty, reversed, or a discarded function's (the linker points those past the code).
        if (rows.length > 0 && start < row.address && start < codeSize) this.sequences.push({ start, end: row.address, rows, table });
      });
    }
    this.sequences.sort((a, b) => a.start - b.start);
    for (const unit of units) {
      for (const scope of unit.functions) for (const [start, end] of scope.ranges) if (start < end && start < codeSize) this.entries.push({ start, end, scope, unit });
    }
    this.entries.sort((a, b) => a.start - b.start);
    for (const f of functions) {
      this.functionsByIndex.set(f.index, f);
      if (f.name !== undefined && !this.functionsByName.has(f.name)) this.functionsByName.set(f.name, f);
    }
  }

  /** Source locations at a module byte offset, innermost (inlined) first; [] outside the debug info. */
  locate(moduleOffset: number): SourceLocation[] {
    const address = moduleOffset - this.codeStart;
    const row = this.rowAt(address);
    const entry = containing(this.entries, address);
    if (!row && !entry) return [];
    const files = (entry && this.tableOf(entry.unit)) ?? row?.table;
    const file = (table: LineTable | undefined, index: number) => table?.files[index] ?? null;
    if (!entry) return [{ file: file(row!.table, row!.row.file), line: row!.row.line, column: row!.row.column, function: null, inlined: false }];
    // The chain of inlined calls holding the address, outermost first.
    const chain: Scope[] = [entry.scope];
    for (let depth = 0; depth < 256; depth++) {
      const inner = chain[chain.length - 1]!.inlined.find((s) => s.ranges.some(([a, b]) => address >= a && address < b));
      if (!inner) break;
      chain.push(inner);
    }
    const out: SourceLocation[] = [];
    let at = row ? { file: file(row.table, row.row.file), line: row.row.line, column: row.row.column } : { file: file(files, entry.scope.declFile), line: entry.scope.declLine, column: 0 };
    for (let i = chain.length - 1; i >= 0; i--) {
      const scope = chain[i]!;
      out.push({ ...at, function: scope.name || null, inlined: i > 0 });
      at = { file: file(files, scope.callFile), line: scope.callLine, column: scope.callColumn };
    }
    return out;
  }

  /**
   * Where the code from `from` to `to` (module offsets) starts in the source: at its first row
   * that begins a statement with a line (a loop's head: the `loop` opcode itself often has the
   * row of the code before it), else at `from`.
   */
  locateStatement(from: number, to: number): SourceLocation[] {
    const row = this.firstStatement(from - this.codeStart, to - this.codeStart);
    return this.locate(row === undefined ? from : row + this.codeStart);
  }

  /** Where a frame is: its line when its offset belongs to the function it names in this module, else that function's declaration. */
  frameSource(frame: WasmFrame): FrameSource {
    const own = this.functionsByIndex.get(frame.functionIndex);
    const sameFunction = own !== undefined && (own.name === undefined || own.name === frame.name || frame.name === `wasm-function[${frame.functionIndex}]`);
    if (own && sameFunction && !frame.approximate && frame.offset >= own.start && frame.offset < own.end) {
      const loop = frame.hook?.kind === 'loop' ? frame.hook : undefined;
      return { frame, exact: true, locations: loop ? this.locateStatement(frame.offset, loop.end) : this.locate(frame.offset) };
    }
    // A frame of another build of the module (the snapshot copy, where its site map has no entry): the function by name only.
    const named = this.functionsByName.get(frame.name);
    const entry = named && (containing(this.entries, named.start - this.codeStart) ?? containing(this.entries, named.end - 1 - this.codeStart));
    if (!entry) return { frame, exact: false, locations: [] };
    const table = this.tableOf(entry.unit);
    return { frame, exact: false, locations: [{ file: table?.files[entry.scope.declFile] ?? null, line: entry.scope.declLine, column: 0, function: entry.scope.name || frame.name, inlined: false }] };
  }

  private tableOf(unit: Unit): LineTable | undefined {
    return unit.stmtList === undefined ? undefined : this.tablesByOffset.get(unit.stmtList);
  }

  /** The address of the first statement row with a line in [from, to) of the sequence holding `from`. */
  private firstStatement(from: number, to: number): number | undefined {
    const seq = this.rowAt(from)?.seq;
    if (!seq) return undefined;
    for (let i = firstRowAt(seq.rows, from); i < seq.rows.length && seq.rows[i]!.address < to; i++) {
      const row = seq.rows[i]!;
      if (row.isStmt && row.line > 0) return row.address;
    }
    return undefined;
  }

  /** The row in force at a code address: the last row at or before it in the innermost sequence holding it. */
  private rowAt(address: number): { row: LineRow; table: LineTable; seq: Sequence } | undefined {
    // Sequences can overlap (a discarded function's left at address 0): the one starting last wins.
    let lo = 0;
    let hi = this.sequences.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.sequences[mid]!.start <= address) lo = mid + 1; else hi = mid;
    }
    for (let i = lo - 1; i >= 0 && lo - i <= 64; i--) {
      const seq = this.sequences[i]!;
      if (address >= seq.end) continue;
      let a = 0;
      let b = seq.rows.length; // first row after `address`
      while (a < b) {
        const mid = (a + b) >> 1;
        if (seq.rows[mid]!.address <= address) a = mid + 1; else b = mid;
      }
      return { row: seq.rows[a - 1]!, table: seq.table, seq };
    }
    return undefined;
  }
}

function firstRowAt(rows: LineRow[], address: number): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid]!.address < address) lo = mid + 1; else hi = mid;
  }
  return lo;
}

function containing(entries: FunctionEntry[], address: number): FunctionEntry | undefined {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (entries[mid]!.start <= address) lo = mid + 1; else hi = mid;
  }
  for (let i = lo - 1; i >= 0 && lo - i <= 64; i--) if (address < entries[i]!.end) return entries[i];
  return undefined;
}

/** The module's custom sections by name (the last of a name wins), and its code section's contents. */
function moduleParts(module: Uint8Array): { custom: Map<string, Uint8Array>; code: { start: number; end: number } | undefined; importedFunctions: number } {
  const custom = new Map<string, Uint8Array>();
  let code: { start: number; end: number } | undefined;
  let importedFunctions = 0;
  for (const { id, payload, end } of sections(module)) {
    if (id === 0) {
      const [length, at] = readLeb(module, payload);
      custom.set(new TextDecoder().decode(module.subarray(at, at + length)), module.subarray(at + length, end));
    } else if (id === 10) code = { start: payload, end };
    else if (id === 2) importedFunctions = countFunctionImports(module, payload);
  }
  return { custom, code, importedFunctions };
}

function countFunctionImports(m: Uint8Array, at: number): number {
  let [count, p] = readLeb(m, at);
  let functions = 0;
  const name = () => { const [n, q] = readLeb(m, p); p = q + n; };
  const limits = () => { const flags = m[p++]!; [, p] = readLeb(m, p); if (flags & 1) [, p] = readLeb(m, p); };
  while (count-- > 0) {
    name();
    name();
    const kind = m[p++];
    if (kind === 0) { functions++; [, p] = readLeb(m, p); }
    else if (kind === 1) { p++; limits(); }
    else if (kind === 2) limits();
    else if (kind === 3) p += 2;
    else if (kind === 4) { p++; [, p] = readLeb(m, p); }
    else throw new DwarfError(`import of unknown kind ${kind}`, 'import section', p - 1);
  }
  return functions;
}

/** Each defined function's body (module offsets) and its name from the name section. */
function moduleFunctions(m: Uint8Array, code: { start: number; end: number }, imported: number, nameSection: Uint8Array | undefined): ModuleFunction[] {
  const names = new Map<number, string>();
  if (nameSection) {
    for (let p = 0; p < nameSection.length;) {
      const id = nameSection[p]!;
      const [size, start] = readLeb(nameSection, p + 1);
      if (id === 1) {
        let [count, q] = readLeb(nameSection, start);
        while (count-- > 0) {
          const [index, r] = readLeb(nameSection, q);
          const [length, s] = readLeb(nameSection, r);
          names.set(index, new TextDecoder().decode(nameSection.subarray(s, s + length)));
          q = s + length;
        }
      }
      p = start + size;
    }
  }
  const out: ModuleFunction[] = [];
  let [count, p] = readLeb(m, code.start);
  for (let i = 0; i < count && p < code.end; i++) {
    const [size, body] = readLeb(m, p);
    out.push({ index: imported + i, name: names.get(imported + i), start: body, end: body + size });
    p = body + size;
  }
  return out;
}

/** Section names that make a module "with debug info" here (a line table is the minimum). */
export const dwarfSections = ['.debug_line', '.debug_info'] as const;

/**
 * Reads a module's DWARF; null when it has no line table. Throws DwarfError (one line, with the
 * section and byte offset) when the DWARF is damaged or uses what this reader does not know.
 */
export function readDebugInfo(module: Uint8Array): DebugInfo | null {
  let parts: ReturnType<typeof moduleParts>;
  try {
    parts = moduleParts(module);
  } catch (err) {
    throw new DwarfError((err as Error).message, 'module', 0);
  }
  const { custom, code } = parts;
  const line = custom.get('.debug_line');
  if (!line || !code) return null;
  const str = custom.get('.debug_str');
  const lineStr = custom.get('.debug_line_str');
  const info = custom.get('.debug_info');
  const abbrev = custom.get('.debug_abbrev');
  const units = info && abbrev ? readUnits({
    info, abbrev, ...opt('str', str), ...opt('lineStr', lineStr), ...opt('strOffsets', custom.get('.debug_str_offsets')),
    ...opt('addr', custom.get('.debug_addr')), ...opt('ranges', custom.get('.debug_ranges')), ...opt('rnglists', custom.get('.debug_rnglists')),
  }) : [];
  const compDirs = new Map<number, string>();
  for (const u of units) if (u.stmtList !== undefined && u.compDir !== undefined) compDirs.set(u.stmtList, u.compDir);
  const tables = readLineTables({ line, ...opt('str', str), ...opt('lineStr', lineStr) }, compDirs);
  let functions: ModuleFunction[];
  try {
    functions = moduleFunctions(module, code, parts.importedFunctions, custom.get('name'));
  } catch (err) {
    throw new DwarfError((err as Error).message, 'code section', code.start);
  }
  return new DebugInfo(code.start, code.end - code.start, tables, units, functions);
}

const opt = <K extends string>(key: K, v: Uint8Array | undefined) => (v ? { [key]: v } as { [P in K]: Uint8Array } : {});
