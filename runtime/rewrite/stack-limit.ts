// The call-stack limit (`--max-stack`): the module counts its own stack, so the depth at which a
// guest runs out is a function of the module and the limit alone, the same in every run, replay
// and replica (V8's own limit depends on which JIT tier compiled each frame and on host frames).
//
// Each function's frame is given a cost: frameBaseBytes plus slotBytes for every parameter, local
// (the one added here included) and operand-stack slot it may use (16 bytes each if it touches
// v128). A new mutable i32 global, added after all others so no index moves, holds the bytes in
// use. On entry a function keeps the total in a new local, calls a new (last) function that
// executes `unreachable` if its cost would take the total past the limit, and adds its cost; its
// body is wrapped in a block of its result type, so every way out (fall-through, a branch to the
// function's label, return, return_call*) passes an epilogue that puts the entry total back.
// Functions that catch exceptions also restore their total after each handler and block end,
// since an exception skips the epilogues of the frames it unwinds. Leaves (functions that call
// nothing in the module) are left as they are: one at most is on the stack, the innermost, and
// every check keeps room for the costliest.
import { maxStackLimitBytes } from '../../formats/index.js';
import { ModuleFormatError } from '../module-error.js';
import { leb, readLeb, section, sections, type Section } from '../wasm-binary.js';
import { ByteWriter } from './bytes.js';
import { isV128, scanBody, SiteKind, skipValType, type FuncType, type ModuleShape } from './decoder.js';
import { encodeSegments, offsetsSectionName, type Segment } from './offsets.js';

/** A frame's fixed cost: V8 measured 32 (TurboFan) to 48 (Liftoff) bytes for an empty function. */
export const frameBaseBytes = 64;
/** Per parameter, local or operand-stack value: Liftoff measured 4-8 bytes, 16 for v128. */
export const slotBytes = 8;
/**
 * No frame costs more than this, so the check's constant, limit - cost - costliest leaf, fits an
 * i32 (the total itself never passes the limit).
 */
const maxFrameCostBytes = 2 ** 30;
assert(maxStackLimitBytes < 2 ** 31 && maxStackLimitBytes - 2 * maxFrameCostBytes >= -(2 ** 31), 'the stack check must fit an i32');
/** The function a frame calls when the limit is passed: the innermost frame of the trap. */
export const exhaustedFunctionName = 'replicode:call-stack-exhausted';

const SectionId = { custom: 0, type: 1, import: 2, function: 3, global: 6, code: 10, tag: 13 } as const;
/** Where each known section goes in a module (the tag section sits between memory and global). */
const sectionRank: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 };

const Op = {
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

interface ParsedType extends FuncType { bytes: Uint8Array }

interface Parsed {
  sections: Section[];
  types: ParsedType[];
  shape: ModuleShape;
  importedFuncs: number;
  globals: number;
}

function parseTypes(binary: Uint8Array, s: Section): ParsedType[] {
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

function skipLimits(binary: Uint8Array, p: number): number {
  const flags = binary[p++]!;
  p = readLeb(binary, p)[1];
  return flags & 0x01 ? readLeb(binary, p)[1] : p;
}

/** The imports' effect on index spaces: function types, global and tag counts. */
function parseImports(binary: Uint8Array, s: Section, shape: ModuleShape): { funcs: number; globals: number } {
  let funcs = 0;
  let globals = 0;
  let [count, p] = readLeb(binary, s.payload);
  while (count-- > 0) {
    for (let name = 0; name < 2; name++) { const [n, q] = readLeb(binary, p); p = q + n; }
    const kind = binary[p++];
    if (kind === 0) { const [t, q] = readLeb(binary, p); shape.funcTypes.push(t); funcs++; p = q; }
    else if (kind === 1) p = skipLimits(binary, skipValType(binary, p));
    else if (kind === 2) p = skipLimits(binary, p);
    else if (kind === 3) { p = skipValType(binary, p) + 1; globals++; }
    else if (kind === 4) { const [t, q] = readLeb(binary, p + 1); shape.tagTypes.push(t); p = q; }
    else throw new ModuleFormatError(`unknown import kind ${kind}`);
  }
  return { funcs, globals };
}

/** A vector section's entries as indices (function and tag sections: a type index each). */
function readIndexVector(binary: Uint8Array, s: Section, skipBefore = 0): number[] {
  const out: number[] = [];
  let [count, p] = readLeb(binary, s.payload);
  while (count-- > 0) { const [v, q] = readLeb(binary, p + skipBefore); out.push(v); p = q; }
  return out;
}

function parse(binary: Uint8Array): Parsed {
  const list = [...sections(binary)];
  const find = (id: number) => list.find((s) => s.id === id);
  const typeSection = find(SectionId.type);
  const types = typeSection ? parseTypes(binary, typeSection) : [];
  const shape: ModuleShape = { types, funcTypes: [], tagTypes: [], importedFuncs: 0 };
  const importSection = find(SectionId.import);
  const imported = importSection ? parseImports(binary, importSection, shape) : { funcs: 0, globals: 0 };
  shape.importedFuncs = imported.funcs;
  const functionSection = find(SectionId.function);
  if (functionSection) shape.funcTypes.push(...readIndexVector(binary, functionSection));
  const tagSection = find(SectionId.tag);
  if (tagSection) shape.tagTypes.push(...readIndexVector(binary, tagSection, 1));
  const globalSection = find(SectionId.global);
  const globals = imported.globals + (globalSection ? readLeb(binary, globalSection.payload)[0] : 0);
  return { sections: list, types, shape, importedFuncs: imported.funcs, globals };
}

/** Type indices for block types and the new function, appending the types the module lacks. */
class TypeTable {
  readonly added: Uint8Array[] = [];
  constructor(private readonly types: ParsedType[]) {}

  /** The index of a type with no parameters and these results. */
  noParams(resultCount: number, resultBytes: Uint8Array): number {
    const wanted = Uint8Array.of(Op.funcType, 0, ...leb(resultCount), ...resultBytes);
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

interface Context {
  parsed: Parsed; typeTable: TypeTable; global: number; trapFunction: number; limit: number;
  /** The costliest leaf frame: room every check keeps free, as leaves are not counted. */
  maxLeafCost: number;
}

/** A body's frame: what it costs and what it declares. */
interface FrameShape { groups: number; localsStart: number; codeStart: number; cost: number; entry: number; catches: boolean }

type Frame = FrameShape & { scan: ReturnType<typeof scanBody> };

function frameShape(binary: Uint8Array, bodyStart: number, bodyEnd: number, funcType: ParsedType, shape: ModuleShape): Frame {
  const [groups, localsStart] = readLeb(binary, bodyStart);
  let p = localsStart;
  let locals = 0;
  let v128 = funcType.v128;
  for (let g = 0; g < groups; g++) {
    const [n, q] = readLeb(binary, p);
    locals += n;
    v128 ||= isV128(binary, q);
    p = skipValType(binary, q);
  }
  const scan = scanBody(binary, p, bodyEnd, funcType.results, shape);
  const slot = v128 || scan.v128 ? 2 * slotBytes : slotBytes;
  const cost = Math.min(frameBaseBytes + slot * (funcType.params + locals + 1 + scan.maxHeight), maxFrameCostBytes);
  // `entry`: the new local holding the total as the function found it.
  return { groups, localsStart, codeStart: p, cost, entry: funcType.params + locals, catches: scan.catches, scan };
}

/**
 * One function body (its entry in the code section, size excluded) with the stack accounting,
 * written to `out`; `segments` gets where each stretch of it came from (offsets in `out`).
 */
function rewriteBody(binary: Uint8Array, bodyEnd: number, funcType: ParsedType, f: Frame, ctx: Context, out: ByteWriter, segments: Segment[]): void {
  const g = leb(ctx.global);
  const e = leb(f.entry);
  const epilogue = [Op.localGet, ...e, Op.globalSet, ...g];
  const restore = [Op.localGet, ...e, Op.i32Const, ...sleb(f.cost), Op.i32Add, Op.globalSet, ...g];
  const blockType = funcType.results === 0 ? [Op.emptyType] : funcType.results === 1 ? funcType.resultBytes : sleb(ctx.typeTable.noParams(funcType.results, funcType.resultBytes));
  const copy = (from: number, to: number): number => {
    segments.push({ start: out.length, length: to - from, original: from, copied: true });
    out.bytes(binary.subarray(from, to));
    return to;
  };
  const insert = (bytes: ArrayLike<number>, original: number) => {
    segments.push({ start: out.length, length: bytes.length, original, copied: false });
    out.bytes(bytes);
  };
  out.leb(f.groups + 1).bytes(binary.subarray(f.localsStart, f.codeStart)).byte(1).byte(Op.i32);
  // total + cost + the costliest leaf > limit, as total > limit - cost - leaf: signed, since the
  // right side may be negative (then every call traps) and the total stays below 2^31.
  insert([
    Op.globalGet, ...g, Op.localTee, ...e, Op.i32Const, ...sleb(ctx.limit - f.cost - ctx.maxLeafCost), Op.i32GtS, Op.if, Op.emptyType, Op.call, ...leb(ctx.trapFunction), Op.end,
    ...restore,
    Op.block, ...blockType,
  ], f.codeStart);
  let copied = f.codeStart;
  const sites = f.scan.sites;
  for (let i = 0; i < sites.length; i += 2) {
    const at = sites[i + 1]!;
    if (sites[i] === SiteKind.return) insert(epilogue, copy(copied, at));
    else if (f.catches) insert(restore, copy(copied, at));
    else continue;
    copied = at;
  }
  copy(copied, bodyEnd);
  insert([...epilogue, Op.end], bodyEnd - 1); // after the original's last `end`, which now closes the block
}

/** The code section's payload, every body rewritten and the trap function's appended; segments relative to it. */
function rewriteCode(binary: Uint8Array, s: Section, ctx: Omit<Context, 'maxLeafCost'>): { payload: Uint8Array; segments: Segment[] } {
  const bodies: { start: number; end: number; type: ParsedType; frame: Frame }[] = [];
  let [count, p] = readLeb(binary, s.payload);
  for (let i = 0; i < count; i++) {
    const [size, start] = readLeb(binary, p);
    if (start + size > s.end) throw new ModuleFormatError(`function ${ctx.parsed.importedFuncs + i}'s body runs past the code section`);
    const typeIndex = ctx.parsed.shape.funcTypes[ctx.parsed.importedFuncs + i];
    const type = typeIndex === undefined ? undefined : ctx.parsed.types[typeIndex];
    if (!type) throw new ModuleFormatError(`function ${ctx.parsed.importedFuncs + i} has no type`);
    bodies.push({ start, end: start + size, type, frame: frameShape(binary, start, start + size, type, ctx.parsed.shape) });
    p = start + size;
  }
  // A leaf (it calls no function of the module, imports aside) is only ever the innermost frame,
  // so at most one is on the stack: leaves are not counted (no cost on the many small hot
  // functions) and every check keeps room for the costliest leaf instead.
  const maxLeafCost = bodies.reduce((most, b) => (b.frame.scan.callsModule ? most : Math.max(most, b.frame.cost)), 0);
  const full: Context = { ...ctx, maxLeafCost };
  const code = new ByteWriter();
  const body = new ByteWriter();
  const segments: Segment[] = [];
  code.leb(count + 1);
  for (const { start, end, type, frame } of bodies) {
    body.reset();
    const bodySegments: Segment[] = [];
    if (frame.scan.callsModule) rewriteBody(binary, end, type, frame, full, body, bodySegments);
    else {
      bodySegments.push({ start: 0, length: end - start, original: start, copied: true });
      body.bytes(binary.subarray(start, end));
    }
    code.leb(body.length);
    for (const seg of bodySegments) {
      seg.start += code.length;
      segments.push(seg);
    }
    code.bytes(body.view());
  }
  const trapBody = [0, Op.unreachable, Op.end]; // no locals
  code.leb(trapBody.length).bytes(trapBody);
  return { payload: code.view(), segments };
}

/** A vector section with one more entry at its end. */
function appendEntry(binary: Uint8Array, id: number, s: Section | undefined, entry: number[]): Uint8Array {
  const [count, p] = s ? readLeb(binary, s.payload) : [0, 0];
  return section(id, Buffer.concat([Uint8Array.from(leb(count + 1)), s ? binary.subarray(p, s.end) : new Uint8Array(), Uint8Array.from(entry)]));
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const nameOf = (binary: Uint8Array, s: Section): string => {
  const [n, p] = readLeb(binary, s.payload);
  return new TextDecoder().decode(binary.subarray(p, p + n));
};

/** The `name` section with the new function's name added to its function names (subsection 1). */
function withFunctionName(binary: Uint8Array, s: Section | undefined, index: number): Uint8Array {
  const entry = [...leb(index), ...leb(utf8(exhaustedFunctionName).length), ...utf8(exhaustedFunctionName)];
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

/**
 * The module with the call-stack limit (see the comment at the top); `maxStackBytes` at most
 * maxStackLimitBytes. `originShift`: how many bytes earlier passes added before the code section
 * (the memory limit's), so that the offset map names offsets in the module as the user gave it.
 */
export function limitStack(binary: Uint8Array, maxStackBytes: number, originShift = 0): Uint8Array {
  assert(Number.isInteger(maxStackBytes) && maxStackBytes > 0 && maxStackBytes <= maxStackLimitBytes, `stack limit ${maxStackBytes} out of range`);
  const parsed = parse(binary);
  const find = (id: number) => parsed.sections.find((s) => s.id === id);
  const codeSection = find(SectionId.code);
  if (!codeSection) return binary; // no functions, nothing to count
  const typeTable = new TypeTable(parsed.types);
  const trapType = typeTable.noParams(0, new Uint8Array());
  const trapFunction = parsed.shape.funcTypes.length;
  const ctx = { parsed, typeTable, global: parsed.globals, trapFunction, limit: maxStackBytes };
  const code = rewriteCode(binary, codeSection, ctx);
  const replaced = new Map<number, Uint8Array>([
    [SectionId.type, typeTable.section(binary, find(SectionId.type))],
    [SectionId.function, appendEntry(binary, SectionId.function, find(SectionId.function), leb(trapType))],
    [SectionId.global, appendEntry(binary, SectionId.global, find(SectionId.global), [Op.i32, 1, Op.i32Const, 0, Op.end])],
    [SectionId.code, section(SectionId.code, code.payload)],
  ]);
  const names = withFunctionName(binary, parsed.sections.find((s) => s.id === 0 && nameOf(binary, s) === 'name'), trapFunction);
  const { pieces, codeAt } = assemble(binary, parsed.sections, replaced);
  const codePayloadAt = codeAt + 1 + leb(code.payload.length).length;
  for (const seg of code.segments) {
    seg.start += codePayloadAt;
    seg.original -= originShift;
  }
  const offsets = encodeSegments(code.segments);
  return Buffer.concat([...pieces, names, customSection(offsetsSectionName, offsets)]);
}

function customSection(name: string, payload: Uint8Array): Uint8Array {
  const title = utf8(name);
  return section(SectionId.custom, Buffer.concat([Uint8Array.from(leb(title.length)), title, payload]));
}

/**
 * The module's sections with `replaced` ones swapped in (or inserted in order), without its name
 * section (the caller appends the new one); and where the code section starts.
 */
function assemble(binary: Uint8Array, list: Section[], replaced: Map<number, Uint8Array>): { pieces: Uint8Array[]; codeAt: number } {
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

function assert(cond: boolean, message: string): asserts cond {
  if (!cond) throw new Error(`internal error: ${message}`);
}
