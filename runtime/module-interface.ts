// What a binary module declares at its edges, read from its sections: the type of each import
// and export, its start function and its memories. The WebAssembly JS API lists imports and
// exports by name only, so the link check reads their types here. Called on modules V8 has
// already validated, so the only surprise left is a type form newer than this reader.
import { ModuleFormatError } from './module.js';
import { readLeb, sections } from './wasm-binary.js';

export interface ModuleImport { module: string; name: string; kind: 'function' | 'table' | 'memory' | 'global' | 'tag'; type?: string }
export interface ModuleExport { name: string; kind: 'function' | 'table' | 'memory' | 'global' | 'tag'; index: number }
export interface MemoryLimits { minPages: number; maxPages: number | undefined; memory64: boolean }

export interface ModuleInterface {
  imports: ModuleImport[];
  exports: ModuleExport[];
  /** The type of function `index` (imported functions first), as `(i32) -> ()`; null if not a function type. */
  functionType(index: number): string | null;
  /** The start section's function index, if any. */
  start: number | undefined;
  /** Declared memories, imported first. */
  memories: MemoryLimits[];
}

const sectionIds = { type: 1, import: 2, function: 3, memory: 5, export: 7, start: 8 } as const;
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
  }
  let f = 0;
  for (const imp of imports) if (imp.kind === 'function') imp.type = types[importedFunctionTypes[f++]!] ?? '?';
  const functionTypes = [...importedFunctionTypes, ...definedFunctionTypes];
  return {
    imports, exports, start, memories,
    functionType: (index) => types[functionTypes[index] ?? -1] ?? null,
  };
}
