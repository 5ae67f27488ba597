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
// Its output is cached on disk by the input's hash, the pass list and rewriteVersion
// (rewrite/index.ts): a change to the bytes this writes must raise rewriteVersion
// (tests/rewrite-cache.test.ts holds a golden hash of its output and fails until it is raised).
import { maxStackLimitBytes } from '../../formats/index.js';
import { ModuleFormatError } from '../module-error.js';
import { leb, readLeb, section, type Section } from '../wasm-binary.js';
import { ByteWriter } from './bytes.js';
import { isV128, scanBody, SiteKind, skipValType, type ModuleShape } from './decoder.js';
import { assemble, appendEntry, assert, customSection, nameSectionOf, Op, parse, SectionId, sleb, TypeTable, withFunctionName, type Parsed, type ParsedType } from './module.js';
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
  const names = withFunctionName(binary, nameSectionOf(binary, parsed.sections), trapFunction, exhaustedFunctionName);
  const { pieces, codeAt } = assemble(binary, parsed.sections, replaced);
  const codePayloadAt = codeAt + 1 + leb(code.payload.length).length;
  for (const seg of code.segments) {
    seg.start += codePayloadAt;
    seg.original -= originShift;
  }
  const offsets = encodeSegments(code.segments);
  return Buffer.concat([...pieces, names, customSection(offsetsSectionName, offsets)]);
}

