// What a binary module declares at its edges, read from its sections: the type of each import
// and export, its start function and its memories. The WebAssembly JS API lists imports and
// exports by name only, so the link check reads their types here. Called on modules V8 has
// already validated, so the only surprise left is a type form newer than this reader.
import { ModuleFormatError } from './module-error.js';
import { readLeb, sections } from './wasm-binary.js';

export interface ModuleImport { module: string; name: string; kind: 'function' | 'table' | 'memory' | 'global' | 'tag'; type?: string }
export interface ModuleExport { name: string; kind: 'function' | 'table' | 'memory' | 'global' | 'tag'; index: number }
export interface MemoryLimits { minPages: number; maxPages: number | undefined; memory64: boolean }
/** An active data segment: where it goes in which memory (null: an offset computed from a global). */
export interface DataSegment { memory: number; offset: number | null; bytes: number }

export interface ModuleInterface {
  imports: ModuleImport[];
  exports: ModuleExport[];
  /** The type of function `index` (imported functions first), as `(i32) -> ()`; null if not a function type. */
  functionType(index: number): string | null;
  /** The start section's function index, if any. */
  start: number | undefined;
  /** Declared memories, imported first. */
  memories: MemoryLimits[];
  /** Active data segments (copied into memory at instantiation), in order. */
  dataSegments: DataSegment[];
}

const sectionIds = { type: 1, import: 2, function: 3, memory: 5, export: 7, start: 8, data: 11 } as const;
const externKinds = ['function', 'table', 'memory', 'global', 'tag'] as const;
const valueTypeNames: Record<number, string> = {
  0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x78: 'i8', 0x77: 'i16',
  0x70: 'funcref', 0x6f: 'externref', 0x6e: 'anyref', 0x6d: 'eqref', 0x6c: 'i31ref', 0x6b: 'structref',
  0x6a: 'arrayref', 0x69: 'exnref', 0x71: 'nullref', 0x72: 'nullexternref', 0x73: 'nullfuncref', 0x74: 'nullexnref',
};

/** A cursor over one section's payload. */
class Cursor {
  constructor(private readonly bytes: Uint8Array, public at: number) {}
  byte(): number {
    const b = this.bytes[this.at++];
    if (b === undefined) throw new ModuleFormatError('the module ends inside a section');
    return b;
  }
  u32(): number {
    const [value, next] = readLeb(this.bytes, this.at);
    this.at = next;
    return value;
  }
  name(): string {
    const length = this.u32();
    const text = new TextDecoder().decode(this.bytes.subarray(this.at, this.at + length));
    this.at += length;
    return text;
  }
  /** A signed LEB128 (up to 64 bits, as a double). */
  signed(): number {
    let value = 0;
    let shift = 0;
    let b: number;
    do {
      b = this.byte();
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return b & 0x40 ? value - 2 ** shift : value;
  }
  /** A constant expression up to its `end`: its i32 value, or null if it reads a global. */
  constant(): number | null {
    const stack: (number | null)[] = [];
    for (;;) {
      const op = this.byte();
      if (op === 0x0b) return stack.pop() ?? null;
      if (op === 0x41) stack.push(this.signed() | 0);
      else if (op === 0x23) { this.u32(); stack.push(null); }
      else if (op >= 0x6a && op <= 0x6c) { // i32.add, i32.sub, i32.mul (extended constant expressions)
        const b = stack.pop() ?? null;
        const a = stack.pop() ?? null;
        stack.push(a === null || b === null ? null : op === 0x6a ? (a + b) | 0 : op === 0x6b ? (a - b) | 0 : Math.imul(a, b));
      } else throw new ModuleFormatError(`the module uses a constant expression RepliCode cannot read (0x${op.toString(16)})`);
    }
  }
  valueType(): string {
    const b = this.byte();
    if (b === 0x64 || b === 0x63) { // (ref heaptype), (ref null heaptype): heaptype is an s33
      this.u32();
      return b === 0x64 ? 'ref' : 'ref null';
    }
    const name = valueTypeNames[b];
    if (name === undefined) throw new ModuleFormatError(`the module uses a value type RepliCode cannot read (0x${b.toString(16)})`);
    return name;
  }
  limits(): MemoryLimits {
    const flags = this.byte();
    const minPages = this.u32();
    const maxPages = flags & 0x01 ? this.u32() : undefined;
    return { minPages, maxPages, memory64: (flags & 0x04) !== 0 };
  }
}

/** The type section: one entry per type index, a function type's text or null for other types. */
function readTypes(c: Cursor): (string | null)[] {
  const types: (string | null)[] = [];
  const composite = (): string | null => {
    const form = c.byte();
    if (form === 0x60) {
      const params = Array.from({ length: c.u32() }, () => c.valueType());
      const results = Array.from({ length: c.u32() }, () => c.valueType());
      return `(${params.join(', ')}) -> (${results.join(', ')})`;
    }
    if (form === 0x5f) { for (let n = c.u32(); n > 0; n--) { c.valueType(); c.byte(); } return null; } // struct
    if (form === 0x5e) { c.valueType(); c.byte(); return null; } // array
    throw new ModuleFormatError(`the module uses a type form RepliCode cannot read (0x${form.toString(16)})`);
  };
  const subtype = (): string | null => {
    const form = c.byte();
    if (form !== 0x50 && form !== 0x4f) { c.at--; return composite(); }
    for (let n = c.u32(); n > 0; n--) c.u32(); // supertypes
    return composite();
  };
  for (let n = c.u32(); n > 0; n--) {
    if (c.byte() === 0x4e) { for (let m = c.u32(); m > 0; m--) types.push(subtype()); } // rec group
    else { c.at--; types.push(subtype()); }
  }
  return types;
}

export function readModuleInterface(binary: Uint8Array): ModuleInterface {
  let types: (string | null)[] = [];
  const imports: ModuleImport[] = [];
  const importedFunctionTypes: number[] = [];
  const definedFunctionTypes: number[] = [];
  const exports: ModuleExport[] = [];
  const memories: MemoryLimits[] = [];
  const dataSegments: DataSegment[] = [];
  let start: number | undefined;
  for (const { id, payload } of sections(binary)) {
    const c = new Cursor(binary, payload);
    if (id === sectionIds.type) types = readTypes(c);
    if (id === sectionIds.import) {
      for (let n = c.u32(); n > 0; n--) {
        const module = c.name();
        const name = c.name();
        const kind = externKinds[c.byte()];
        if (kind === undefined) throw new ModuleFormatError(`import ${module}.${name} is of a kind RepliCode cannot read`);
        if (kind === 'function') { importedFunctionTypes.push(c.u32()); imports.push({ module, name, kind }); continue; }
        if (kind === 'table') { c.valueType(); c.limits(); }
        if (kind === 'memory') memories.push(c.limits());
        if (kind === 'global') { c.valueType(); c.byte(); }
        if (kind === 'tag') { c.byte(); c.u32(); }
        imports.push({ module, name, kind });
      }
    }
    if (id === sectionIds.function) for (let n = c.u32(); n > 0; n--) definedFunctionTypes.push(c.u32());
    if (id === sectionIds.memory) for (let n = c.u32(); n > 0; n--) memories.push(c.limits());
    if (id === sectionIds.export) {
      for (let n = c.u32(); n > 0; n--) {
        const name = c.name();
        const kind = externKinds[c.byte()];
        if (kind === undefined) throw new ModuleFormatError(`export ${name} is of a kind RepliCode cannot read`);
        exports.push({ name, kind, index: c.u32() });
      }
    }
    if (id === sectionIds.start) start = c.u32();
    if (id === sectionIds.data) {
      for (let n = c.u32(); n > 0; n--) {
        const flags = c.u32();
        const memory = flags === 2 ? c.u32() : 0;
        const offset = flags === 1 ? undefined : c.constant(); // 1: passive
        const bytes = c.u32();
        c.at += bytes;
        if (offset !== undefined && memory === 0) dataSegments.push({ memory, offset: offset === null ? null : offset >>> 0, bytes });
      }
    }
  }
  let f = 0;
  for (const imp of imports) if (imp.kind === 'function') imp.type = types[importedFunctionTypes[f++]!] ?? '?';
  const functionTypes = [...importedFunctionTypes, ...definedFunctionTypes];
  return {
    imports, exports, start, memories, dataSegments,
    functionType: (index) => types[functionTypes[index] ?? -1] ?? null,
  };
}
