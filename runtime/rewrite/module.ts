// What the byte-level rewriting passes share: the module's index spaces (parse), types to add
// (TypeTable), sections with an entry appended, the name section with a function's name added,
// and reassembly with sections swapped in. Moved out of stack-limit.ts when fuel and NaN
// canonicalisation became passes too.
// Shared by the passes, whose output is cached on disk by rewriteVersion (rewrite/index.ts): a
// change to the bytes this writes must raise rewriteVersion (tests/rewrite-cache.test.ts fails until it is).
import { ModuleFormatError } from '../module-error.js';
import { leb, readLeb, section, sections, type Section } from '../wasm-binary.js';
import { isV128, skipValType, type FuncType, type ModuleShape } from './decoder.js';
import { offsetsSectionName } from './offsets.js';

export const SectionId = { custom: 0, type: 1, import: 2, function: 3, table: 4, global: 6, export: 7, code: 10, tag: 13 } as const;
/** Where each known section goes in a module (the tag section sits between memory and global). */
export const sectionRank: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 };

export const Op = {
  if: 0x04, end: 0x0b, block: 0x02, call: 0x10, localGet: 0x20, localTee: 0x22, globalGet: 0x23, globalSet: 0x24,
  i32Const: 0x41, i32GtS: 0x4a, i32Add: 0x6a, unreachable: 0x00, emptyType: 0x40, i32: 0x7f, funcType: 0x60,
} as const;

/** `value` as signed LEB128 (for i32.const and block type indices). */
export function sleb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = value & 0x7f;
    value = Math.floor(value / 128);
    const done = (value === 0 && (b & 0x40) === 0) || (value === -1 && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

export interface ParsedType extends FuncType { bytes: Uint8Array }

export interface Parsed {
  sections: Section[];
  types: ParsedType[];
  shape: ModuleShape;
  importedFuncs: number;
  globals: number;
  /** Tables, imported and defined (a table added goes at this index). */
  tables: number;
}

export function parseTypes(binary: Uint8Array, s: Section): ParsedType[] {
  const types: ParsedType[] = [];
  let [count, p] = readLeb(binary, s.payload);
  while (count-- > 0) {
    const start = p;
    if (binary[p] !== Op.funcType) throw new ModuleFormatError('the module uses GC types (recursive, struct or array), which RepliCode does not run');
    const counts: number[] = [];
    let v128 = false;
    let resultStart = p;
    p++;
    for (let vec = 0; vec < 2; vec++) {
      if (vec === 1) resultStart = p;
      let n: number;
      [n, p] = readLeb(binary, p);
      counts.push(n);
      while (n-- > 0) { v128 ||= isV128(binary, p); p = skipValType(binary, p); }
    }
    const resultBytes = binary.subarray(readLeb(binary, resultStart)[1], p);
    types.push({ params: counts[0]!, results: counts[1]!, resultBytes, v128, bytes: binary.subarray(start, p) });
  }
  return types;
}

export function skipLimits(binary: Uint8Array, p: number): number {
  const flags = binary[p++]!;
  p = readLeb(binary, p)[1];
  return flags & 0x01 ? readLeb(binary, p)[1] : p;
}

/** The imports' effect on index spaces: function types, global and tag counts. */
export function parseImports(binary: Uint8Array, s: Section, shape: ModuleShape): { funcs: number; globals: number; tables: number } {
  let funcs = 0;
  let globals = 0;
  let tables = 0;
  let [count, p] = readLeb(binary, s.payload);
  while (count-- > 0) {
    for (let name = 0; name < 2; name++) { const [n, q] = readLeb(binary, p); p = q + n; }
    const kind = binary[p++];
    if (kind === 0) { const [t, q] = readLeb(binary, p); shape.funcTypes.push(t); funcs++; p = q; }
    else if (kind === 1) { p = skipLimits(binary, skipValType(binary, p)); tables++; }
    else if (kind === 2) p = skipLimits(binary, p);
    else if (kind === 3) { p = skipValType(binary, p) + 1; globals++; }
    else if (kind === 4) { const [t, q] = readLeb(binary, p + 1); shape.tagTypes.push(t); p = q; }
    else throw new ModuleFormatError(`unknown import kind ${kind}`);
  }
  return { funcs, globals, tables };
}

/** A vector section's entries as indices (function and tag sections: a type index each). */
export function readIndexVector(binary: Uint8Array, s: Section, skipBefore = 0): number[] {
  const out: number[] = [];
  let [count, p] = readLeb(binary, s.payload);
  while (count-- > 0) { const [v, q] = readLeb(binary, p + skipBefore); out.push(v); p = q; }
  return out;
}

export function parse(binary: Uint8Array): Parsed {
  const list = [...sections(binary)];
  const find = (id: number) => list.find((s) => s.id === id);
  const typeSection = find(SectionId.type);
  const types = typeSection ? parseTypes(binary, typeSection) : [];
  const shape: ModuleShape = { types, funcTypes: [], tagTypes: [], importedFuncs: 0 };
  const importSection = find(SectionId.import);
  const imported = importSection ? parseImports(binary, importSection, shape) : { funcs: 0, globals: 0, tables: 0 };
  shape.importedFuncs = imported.funcs;
  const functionSection = find(SectionId.function);
  if (functionSection) shape.funcTypes.push(...readIndexVector(binary, functionSection));
  const tagSection = find(SectionId.tag);
  if (tagSection) shape.tagTypes.push(...readIndexVector(binary, tagSection, 1));
  const globalSection = find(SectionId.global);
  const globals = imported.globals + (globalSection ? readLeb(binary, globalSection.payload)[0] : 0);
  const tableSection = find(SectionId.table);
  const tables = imported.tables + (tableSection ? readLeb(binary, tableSection.payload)[0] : 0);
  return { sections: list, types, shape, importedFuncs: imported.funcs, globals, tables };
}

/** Type indices for block types and the new function, appending the types the module lacks. */
export class TypeTable {
  readonly added: Uint8Array[] = [];
  constructor(private readonly types: ParsedType[]) {}

  /** The index of a type with no parameters and these results. */
  noParams(resultCount: number, resultBytes: Uint8Array): number {
    return this.of(Uint8Array.of(Op.funcType, 0, ...leb(resultCount), ...resultBytes));
  }

  /** The index of the function type with these parameter and result value types. */
  func(params: readonly number[], results: readonly number[]): number {
    return this.of(Uint8Array.of(Op.funcType, ...leb(params.length), ...params, ...leb(results.length), ...results));
  }

  private of(wanted: Uint8Array): number {
    const same = (b: Uint8Array) => b.length === wanted.length && b.every((x, i) => x === wanted[i]);
    const existing = this.types.findIndex((t) => same(t.bytes));
    if (existing >= 0) return existing;
    const addedAt = this.added.findIndex(same);
    if (addedAt >= 0) return this.types.length + addedAt;
    this.added.push(wanted);
    return this.types.length + this.added.length - 1;
  }

  /** The type section with the added types at its end (indices of existing types unchanged). */
  section(binary: Uint8Array, s: Section | undefined): Uint8Array {
    const [count, p] = s ? readLeb(binary, s.payload) : [0, 0];
    const old = s ? binary.subarray(p, s.end) : new Uint8Array();
    return section(SectionId.type, Buffer.concat([Uint8Array.from(leb(count + this.added.length)), old, ...this.added]));
  }
}

/** A vector section with one more entry at its end. */
export function appendEntry(binary: Uint8Array, id: number, s: Section | undefined, ...entries: number[][]): Uint8Array {
  const [count, p] = s ? readLeb(binary, s.payload) : [0, 0];
  return section(id, Buffer.concat([Uint8Array.from(leb(count + entries.length)), s ? binary.subarray(p, s.end) : new Uint8Array(), ...entries.map((e) => Uint8Array.from(e))]));
}

export const utf8 = (text: string) => new TextEncoder().encode(text);
export const nameOf = (binary: Uint8Array, s: Section): string => {
  const [n, p] = readLeb(binary, s.payload);
  return new TextDecoder().decode(binary.subarray(p, p + n));
};

/** The `name` section with the new function's name added to its function names (subsection 1). */
export function withFunctionName(binary: Uint8Array, s: Section | undefined, index: number, name: string): Uint8Array {
  const entry = [...leb(index), ...leb(utf8(name).length), ...utf8(name)];
  const subsections: Uint8Array[] = [];
  let added = false;
  const addNew = () => { subsections.push(section(1, [...leb(1), ...entry])); added = true; };
  if (s) {
    const [n, first] = readLeb(binary, s.payload);
    for (let p = first + n; p < s.end;) {
      const id = binary[p]!;
      const [size, start] = readLeb(binary, p + 1);
      const end = start + size;
      if (id === 1) {
        const [count, names] = readLeb(binary, start);
        subsections.push(section(1, Buffer.concat([Uint8Array.from(leb(count + 1)), binary.subarray(names, end), Uint8Array.from(entry)])));
        added = true;
      } else {
        if (id > 1 && !added) addNew();
        subsections.push(binary.subarray(p, end));
      }
      p = end;
    }
  }
  if (!added) addNew();
  const title = utf8('name');
  return section(SectionId.custom, Buffer.concat([Uint8Array.of(...leb(title.length)), title, ...subsections]));
}

export function customSection(name: string, payload: Uint8Array): Uint8Array {
  const title = utf8(name);
  return section(SectionId.custom, Buffer.concat([Uint8Array.from(leb(title.length)), title, payload]));
}

/**
 * The module's sections with `replaced` ones swapped in (or inserted in order), without its name
 * section (the caller appends the new one); and where the code section starts.
 */
export function assemble(binary: Uint8Array, list: Section[], replaced: Map<number, Uint8Array>): { pieces: Uint8Array[]; codeAt: number } {
  const pieces: Uint8Array[] = [binary.subarray(0, 8)];
  let at = 8;
  let codeAt = -1;
  const put = (id: number, bytes: Uint8Array) => {
    if (id === SectionId.code) codeAt = at;
    pieces.push(bytes);
    at += bytes.length;
  };
  const pending = new Map(replaced);
  const flushBefore = (rank: number) => {
    for (const [id, bytes] of [...pending].sort((a, b) => sectionRank[a[0]]! - sectionRank[b[0]]!)) {
      if (sectionRank[id]! < rank) { put(id, bytes); pending.delete(id); }
    }
  };
  for (const s of list) {
    if (s.id === SectionId.custom && (nameOf(binary, s) === 'name' || nameOf(binary, s) === offsetsSectionName)) continue;
    if (s.id !== SectionId.custom) flushBefore(sectionRank[s.id] ?? 0);
    const swap = pending.get(s.id);
    if (s.id !== SectionId.custom && swap) { put(s.id, swap); pending.delete(s.id); } else put(s.id, binary.subarray(s.start, s.end));
  }
  flushBefore(Infinity);
  assert(codeAt > 0, 'the code section was written');
  return { pieces, codeAt };
}

/** The module's `name` section, if it has one. */
export const nameSectionOf = (binary: Uint8Array, list: Section[]): Section | undefined => list.find((s) => s.id === SectionId.custom && nameOf(binary, s) === 'name');

export function assert(cond: boolean, message: string): asserts cond {
  if (!cond) throw new Error(`internal error: ${message}`);
}
