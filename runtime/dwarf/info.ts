// .debug_info with .debug_abbrev (DWARF 2 to 5): the compile units' functions and the functions
// inlined into them, each with its code ranges, which is all a "where in the source" answer needs.
// Every other entry is read only to be skipped (its attributes' sizes come from their forms).
import { SectionReader, stringAt } from './bytes.js';

export interface InfoSections {
  info: Uint8Array;
  abbrev: Uint8Array;
  str?: Uint8Array;
  lineStr?: Uint8Array;
  strOffsets?: Uint8Array;
  addr?: Uint8Array;
  ranges?: Uint8Array;
  rnglists?: Uint8Array;
}

/** [start, end) in code offsets. */
export type Range = [number, number];

/** A function's code (a subprogram) or a function inlined into it (children, innermost deeper). */
export interface Scope {
  name: string;
  ranges: Range[];
  /** Where an inlined function was called from (its caller's file and line); 0 for a subprogram. */
  callFile: number;
  callLine: number;
  callColumn: number;
  /** The declaration's file and line (a subprogram). */
  declFile: number;
  declLine: number;
  inlined: Scope[];
}

export interface Unit {
  name: string;
  compDir: string | undefined;
  /** Offset of its line program in .debug_line (undefined: none). */
  stmtList: number | undefined;
  functions: Scope[];
}

const TAG = { compileUnit: 0x11, partialUnit: 0x3c, subprogram: 0x2e, inlined: 0x1d } as const;
const AT = {
  name: 0x03, stmtList: 0x10, lowPc: 0x11, highPc: 0x12, compDir: 0x1b, declFile: 0x3a, declLine: 0x3b, abstractOrigin: 0x31,
  specification: 0x47, ranges: 0x55, callColumn: 0x57, callFile: 0x58, callLine: 0x59, linkageName: 0x6e, mipsLinkageName: 0x2007,
  strOffsetsBase: 0x72, addrBase: 0x73, rnglistsBase: 0x74,
} as const;

interface AttrSpec { at: number; form: number; implicit: number }
interface Abbrev { tag: number; children: boolean; attrs: AttrSpec[] }

/** A raw attribute value: a number (constants, offsets, indexes, addresses) or a string (inline). */
type Raw = number | string | undefined;

interface UnitCtx {
  r: SectionReader;
  s: InfoSections;
  version: number;
  offsetSize: 4 | 8;
  addressSize: number;
  unitStart: number;
  strOffsetsBase: number;
  addrBase: number;
  rnglistsBase: number;
  lowPc: number;
}

function readAbbrevs(s: InfoSections, offset: number, cache: Map<number, Map<number, Abbrev>>): Map<number, Abbrev> {
  const known = cache.get(offset);
  if (known) return known;
  const r = new SectionReader('.debug_abbrev', s.abbrev, offset);
  const table = new Map<number, Abbrev>();
  for (let code = r.uleb(); code !== 0; code = r.uleb()) {
    const tag = r.uleb();
    const children = r.u8() !== 0;
    const attrs: AttrSpec[] = [];
    for (;;) {
      const at = r.uleb();
      const form = r.uleb();
      if (at === 0 && form === 0) break;
      attrs.push({ at, form, implicit: form === 0x21 ? r.sleb() : 0 });
    }
    table.set(code, { tag, children, attrs });
  }
  cache.set(offset, table);
  return table;
}

/** Reads one attribute value of `form` (strings resolved later, once the unit's bases are known). */
function readForm(c: UnitCtx, form: number, implicit: number): { v: Raw; kind: 'const' | 'addr' | 'addrx' | 'str' | 'strp' | 'linestrp' | 'strx' | 'ref' | 'refaddr' | 'other' } {
  const r = c.r;
  switch (form) {
    case 0x01: return { v: r.uint(c.addressSize), kind: 'addr' };
    case 0x0b: return { v: r.u8(), kind: 'const' };
    case 0x05: return { v: r.uint(2), kind: 'const' };
    case 0x06: return { v: r.uint(4), kind: 'const' };
    case 0x07: return { v: r.uint(8), kind: 'const' };
    case 0x0d: return { v: r.sleb(), kind: 'const' };
    case 0x0f: return { v: r.uleb(), kind: 'const' };
    case 0x21: return { v: implicit, kind: 'const' };
    case 0x17: return { v: r.uint(c.offsetSize), kind: 'const' }; // sec_offset
    case 0x0c: return { v: r.u8(), kind: 'other' }; // flag
    case 0x19: return { v: 1, kind: 'other' }; // flag_present
    case 0x08: return { v: r.cstring(), kind: 'str' };
    case 0x0e: return { v: r.uint(c.offsetSize), kind: 'strp' };
    case 0x1f: return { v: r.uint(c.offsetSize), kind: 'linestrp' };
    case 0x1a: case 0x1f02: return { v: r.uleb(), kind: 'strx' };
    case 0x25: return { v: r.u8(), kind: 'strx' };
    case 0x26: return { v: r.uint(2), kind: 'strx' };
    case 0x27: return { v: r.uint(3), kind: 'strx' };
    case 0x28: return { v: r.uint(4), kind: 'strx' };
    case 0x1b: case 0x1f01: return { v: r.uleb(), kind: 'addrx' };
    case 0x29: return { v: r.u8(), kind: 'addrx' };
    case 0x2a: return { v: r.uint(2), kind: 'addrx' };
    case 0x2b: return { v: r.uint(3), kind: 'addrx' };
    case 0x2c: return { v: r.uint(4), kind: 'addrx' };
    case 0x11: return { v: r.u8(), kind: 'ref' };
    case 0x12: return { v: r.uint(2), kind: 'ref' };
    case 0x13: return { v: r.uint(4), kind: 'ref' };
    case 0x14: return { v: r.uint(8), kind: 'ref' };
    case 0x15: return { v: r.uleb(), kind: 'ref' };
    case 0x10: return { v: r.uint(c.version <= 2 ? c.addressSize : c.offsetSize), kind: 'refaddr' };
    case 0x20: r.skip(8); return { v: undefined, kind: 'other' }; // ref_sig8
    case 0x1c: r.skip(4); return { v: undefined, kind: 'other' }; // ref_sup4
    case 0x24: r.skip(8); return { v: undefined, kind: 'other' }; // ref_sup8
    case 0x1d: case 0x1f20: case 0x1f21: r.skip(c.offsetSize); return { v: undefined, kind: 'other' }; // strp_sup, GNU alt
    case 0x1e: r.skip(16); return { v: undefined, kind: 'other' }; // data16
    case 0x22: case 0x23: return { v: r.uleb(), kind: 'const' }; // loclistx, rnglistx
    case 0x0a: r.skip(r.u8()); return { v: undefined, kind: 'other' }; // block1
    case 0x03: r.skip(r.uint(2)); return { v: undefined, kind: 'other' }; // block2
    case 0x04: r.skip(r.uint(4)); return { v: undefined, kind: 'other' }; // block4
    case 0x09: case 0x18: r.skip(r.uleb()); return { v: undefined, kind: 'other' }; // block, exprloc
    case 0x16: return readForm(c, r.uleb(), implicit); // indirect
    default: return r.fail(`unknown attribute form 0x${form.toString(16)}`);
  }
}

type Value = ReturnType<typeof readForm> & { form: number };

function str(c: UnitCtx, val: Value | undefined): string | undefined {
  if (!val || val.v === undefined) return undefined;
  switch (val.kind) {
    case 'str': return val.v as string;
    case 'strp': return stringAt('.debug_str', c.s.str, val.v as number);
    case 'linestrp': return stringAt('.debug_line_str', c.s.lineStr, val.v as number);
    case 'strx': {
      const r = new SectionReader('.debug_str_offsets', c.s.strOffsets ?? new Uint8Array(), c.strOffsetsBase + (val.v as number) * c.offsetSize);
      return stringAt('.debug_str', c.s.str, r.uint(c.offsetSize));
    }
    default: return undefined;
  }
}

function address(c: UnitCtx, val: Value): number {
  if (val.kind !== 'addrx') return val.v as number;
  return new SectionReader('.debug_addr', c.s.addr ?? new Uint8Array(), c.addrBase + (val.v as number) * c.addressSize).uint(c.addressSize);
}

/** A DIE's code ranges from low_pc/high_pc or DW_AT_ranges. */
function rangesOf(c: UnitCtx, attrs: Map<number, Value>): Range[] {
  const low = attrs.get(AT.lowPc);
  const high = attrs.get(AT.highPc);
  if (low && high) {
    const lo = address(c, low);
    const hi = high.kind === 'addr' || high.kind === 'addrx' ? address(c, high) : lo + (high.v as number);
    return [[lo, hi]];
  }
  const ranges = attrs.get(AT.ranges);
  if (!ranges) return [];
  if (c.version >= 5) {
    const offset = ranges.form === 0x23
      ? c.rnglistsBase + new SectionReader('.debug_rnglists', c.s.rnglists ?? new Uint8Array(), c.rnglistsBase + (ranges.v as number) * c.offsetSize).uint(c.offsetSize)
      : ranges.v as number;
    return rnglist(c, offset);
  }
  return rangeList4(c, ranges.v as number);
}

const maxRangeEntries = 1 << 16;

function rangeList4(c: UnitCtx, offset: number): Range[] {
  const r = new SectionReader('.debug_ranges', c.s.ranges ?? new Uint8Array(), offset);
  const out: Range[] = [];
  const all = 2 ** (8 * c.addressSize) - 1;
  let base = c.lowPc;
  for (let n = 0; n < maxRangeEntries; n++) {
    const a = r.uint(c.addressSize);
    const b = r.uint(c.addressSize);
    if (a === 0 && b === 0) return out;
    if (a === all) base = b;
    else out.push([base + a, base + b]);
  }
  return r.fail(`range list longer than ${maxRangeEntries} entries`, offset);
}

function rnglist(c: UnitCtx, offset: number): Range[] {
  const r = new SectionReader('.debug_rnglists', c.s.rnglists ?? new Uint8Array(), offset);
  const out: Range[] = [];
  const addrx = (i: number) => address(c, { v: i, kind: 'addrx', form: 0x1b });
  let base = c.lowPc;
  for (let n = 0; n < maxRangeEntries; n++) {
    const kind = r.u8();
    switch (kind) {
      case 0: return out;
      case 1: base = addrx(r.uleb()); break;
      case 2: { const a = addrx(r.uleb()); out.push([a, addrx(r.uleb())]); break; }
      case 3: { const a = addrx(r.uleb()); out.push([a, a + r.uleb()]); break; }
      case 4: { const a = r.uleb(); out.push([base + a, base + r.uleb()]); break; }
      case 5: base = r.uint(c.addressSize); break;
      case 6: { const a = r.uint(c.addressSize); out.push([a, r.uint(c.addressSize)]); break; }
      case 7: { const a = r.uint(c.addressSize); out.push([a, a + r.uleb()]); break; }
      default: r.fail(`unknown range list entry ${kind}`, r.pos - 1);
    }
  }
  return r.fail(`range list longer than ${maxRangeEntries} entries`, offset);
}

/** Entries are nested at most this deep (a bound on the walk's stack, far above any compiler's). */
const maxDepth = 256;

/** Every compile unit's functions and inlined functions. */
export function readUnits(s: InfoSections): Unit[] {
  const units: Unit[] = [];
  const abbrevCache = new Map<number, Map<number, Abbrev>>();
  // Names of entries other entries refer to (abstract_origin, specification), by section offset.
  const names: Names = Object.assign(new Map<number, string>(), { aliases: new Map<number, number>() });
  const pending: { scope: Scope; ref: number }[] = [];
  const r = new SectionReader('.debug_info', s.info);
  while (!r.done) {
    const unitStart = r.pos;
    const [length, offsetSize] = r.initialLength();
    const end = r.pos + length;
    if (end > s.info.length) r.fail(`unit of ${length} bytes runs past the section's end`, unitStart);
    const version = r.uint(2);
    if (version < 2 || version > 5) r.fail(`unit version ${version} (2 to 5 are known)`, r.pos - 2);
    let unitType = 1;
    let abbrevOffset: number;
    let addressSize: number;
    if (version >= 5) {
      unitType = r.u8();
      addressSize = r.u8();
      abbrevOffset = r.uint(offsetSize);
      if (unitType === 4 || unitType === 5) r.skip(8); // skeleton, split_compile: dwo_id
      if (unitType === 2 || unitType === 6) { r.pos = end; continue; } // type units: nothing to run
    } else {
      abbrevOffset = r.uint(offsetSize);
      addressSize = r.u8();
    }
    if (addressSize !== 4 && addressSize !== 8) r.fail(`address size ${addressSize}`, r.pos - 1);
    const unitReader = new SectionReader('.debug_info', s.info.subarray(0, end), r.pos);
    const c: UnitCtx = { r: unitReader, s, version, offsetSize, addressSize, unitStart, strOffsetsBase: 8, addrBase: 8, rnglistsBase: 12, lowPc: 0 };
    const unit = readUnitEntries(c, readAbbrevs(s, abbrevOffset, abbrevCache), names, pending);
    if (unit) units.push(unit);
    r.pos = end;
  }
  for (const { scope, ref } of pending) scope.name = nameOf(names, ref) ?? scope.name;
  return units;
}

/** Named entries by section offset, and unnamed ones that take their name from another (origin, specification). */
type Names = Map<number, string> & { aliases: Map<number, number> };

function nameOf(names: Names, ref: number): string | undefined {
  for (let hops = 0; hops < 8; hops++) {
    const name = names.get(ref);
    if (name !== undefined) return name;
    const next = names.aliases.get(ref);
    if (next === undefined) return undefined;
    ref = next;
  }
  return undefined;
}

function readUnitEntries(c: UnitCtx, abbrevs: Map<number, Abbrev>, names: Names, pending: { scope: Scope; ref: number }[]): Unit | undefined {
  const r = c.r;
  let unit: Unit | undefined;
  // The open scopes: each entry with children pushes one (null for those that are not functions).
  const stack: (Scope | null)[] = [];
  const enclosing = () => { for (let i = stack.length - 1; i >= 0; i--) if (stack[i]) return stack[i]!; return undefined; };
  let depth = 0;
  while (!r.done) {
    const at = r.pos;
    const code = r.uleb();
    if (code === 0) {
      if (depth === 0) break; // padding after the unit's entries
      depth--;
      stack.pop();
      continue;
    }
    const abbrev = abbrevs.get(code) ?? r.fail(`abbreviation code ${code} not in the table`, at);
    const attrs = new Map<number, Value>();
    for (const spec of abbrev.attrs) attrs.set(spec.at, { ...readForm(c, spec.form, spec.implicit), form: spec.form });
    let scope: Scope | null = null;
    if (abbrev.tag === TAG.compileUnit || abbrev.tag === TAG.partialUnit) {
      // The unit's bases first: its own strings and addresses may be indexes relative to them.
      c.strOffsetsBase = (attrs.get(AT.strOffsetsBase)?.v as number | undefined) ?? c.strOffsetsBase;
      c.addrBase = (attrs.get(AT.addrBase)?.v as number | undefined) ?? c.addrBase;
      c.rnglistsBase = (attrs.get(AT.rnglistsBase)?.v as number | undefined) ?? c.rnglistsBase;
      const low = attrs.get(AT.lowPc);
      c.lowPc = low ? address(c, low) : 0;
      unit = { name: str(c, attrs.get(AT.name)) ?? '', compDir: str(c, attrs.get(AT.compDir)), stmtList: attrs.get(AT.stmtList)?.v as number | undefined, functions: [] };
    } else {
      const name = str(c, attrs.get(AT.name));
      const origin = attrs.get(AT.abstractOrigin) ?? attrs.get(AT.specification);
      const ref = origin && (origin.kind === 'refaddr' ? origin.v as number : c.unitStart + (origin.v as number));
      if (name !== undefined) names.set(at, name);
      else if (ref !== undefined) names.aliases.set(at, ref); // a definition named by its declaration
      if (abbrev.tag === TAG.subprogram || abbrev.tag === TAG.inlined) {
        const ranges = rangesOf(c, attrs);
        const parent = enclosing();
        if (ranges.length > 0 && unit && (abbrev.tag === TAG.subprogram || parent)) {
          const num = (a: number) => (attrs.get(a)?.v as number | undefined) ?? 0;
          scope = { name: name ?? '', ranges, callFile: num(AT.callFile), callLine: num(AT.callLine), callColumn: num(AT.callColumn), declFile: num(AT.declFile), declLine: num(AT.declLine), inlined: [] };
          if (abbrev.tag === TAG.subprogram) unit.functions.push(scope); else parent!.inlined.push(scope);
          if (name === undefined && ref !== undefined) pending.push({ scope, ref });
        }
      }
    }
    if (abbrev.children) {
      if (++depth > maxDepth) r.fail(`entries nested deeper than ${maxDepth}`, at);
      stack.push(scope);
    }
  }
  return unit;
}
