// A small reader of WebAssembly function bodies for the rewriting passes: it steps over every
// instruction (immediates included, for the MVP, 0xFC, 0xFD SIMD, 0xFE atomics and exception
// handling), and keeps an upper bound of the operand stack's height. Only counts are tracked, not
// types: where an instruction's effect is not known exactly, the bound errs upwards, never down.
// Shared by the passes, whose output is cached on disk by rewriteVersion (rewrite/index.ts): a
// change to the bytes this writes must raise rewriteVersion (tests/rewrite-cache.test.ts fails until it is).
import { ModuleFormatError } from '../module-error.js';
import { readLeb } from '../wasm-binary.js';

/** A function type, as counts (enough for stack heights) plus its results' bytes (for a block type). */
export interface FuncType { params: number; results: number; resultBytes: Uint8Array; v128: boolean }

/** What a body's instructions refer to: types by index, each function's and each tag's type index. */
export interface ModuleShape { types: FuncType[]; funcTypes: number[]; tagTypes: number[]; importedFuncs: number }

/** Kinds of places in a body where the stack limit inserts code (see BodyScan.sites). */
export const SiteKind = { return: 0, afterHandlerOrEnd: 1 } as const;

export interface BodyScan {
  /** Most values ever on the operand stack at once (an upper bound). */
  maxHeight: number;
  /** The body uses SIMD (its stack slots may be 16 bytes). */
  v128: boolean;
  /** The body catches exceptions (try, try_table). */
  catches: boolean;
  /** The body may call a function of the module (a direct call to one, or any indirect call): it is not a leaf. */
  callsModule: boolean;
  /**
   * Flat pairs (kind, offset), in order: SiteKind.return at the start of each return and
   * return_call*; SiteKind.afterHandlerOrEnd just after each catch, catch_all and every end but
   * the function's own. Numbers, not objects: this runs on every instruction of the module.
   */
  sites: number[];
  /** Instructions in the body (its final `end` included). */
  instructions: number;
  /**
   * With `collect.loops`: flat pairs (offset just after a loop's block type, the loop's own
   * instructions: those inside it but not inside a loop nested in it, its `end` included).
   */
  loops: number[];
  /** With `collect.loops`: the instructions of the body outside every loop. */
  outsideLoops: number;
  /** With `collect.nans`: flat pairs (offset just after an instruction whose result may be a NaN, NanKind). */
  nans: number[];
  /**
   * With `collect.atomics`: flat triples (start, 0xFE sub-opcode, end) of every
   * memory.atomic.notify (0), wait32 (1) and wait64 (2), which the threads pass turns into host calls.
   */
  atomics: number[];
}

/** What scanBody collects beyond the stack limit's needs (fuel's hooks, NaN canonicalisation's sites, wait/notify). */
export interface Collect {
  loops?: boolean;
  nans?: boolean;
  atomics?: boolean;
  /** Called with each instruction's opcode and offset, in order (the snapshot copy's site map reads calls and loops with it). */
  visit?: (op: number, at: number) => void;
}

/** The type of a result NaN canonicalisation rewrites. */
export const NanKind = { f32: 0, f64: 1, f32x4: 2, f64x2: 3 } as const;

/**
 * Instructions whose result may be a NaN with bits the hardware chooses (the arithmetic ones, as
 * Cranelift's NaN canonicalisation lists them): one-byte opcodes, then 0xFD SIMD sub-opcodes.
 * Not abs, neg, copysign (defined on the bits), loads, constants, reinterpretations, selects or
 * pmin/pmax (they move bits unchanged), nor conversions from integers (never a NaN).
 */
const scalarNanKinds: (number | undefined)[] = (() => {
  const table: (number | undefined)[] = [];
  for (let op = 0x8d; op <= 0x97; op++) table[op] = NanKind.f32; // ceil floor trunc nearest sqrt add sub mul div min max
  for (let op = 0x9b; op <= 0xa5; op++) table[op] = NanKind.f64;
  table[0xb6] = NanKind.f32; // f32.demote_f64
  table[0xbb] = NanKind.f64; // f64.promote_f32
  return table;
})();
/**
 * Instructions that take a float whose NaN bits they ignore: comparisons, truncations to integers
 * (they trap on any NaN), drop, and the scalar arithmetic above (a NaN operand gives a NaN result,
 * canonicalised there). A NaN-producing instruction whose result goes straight into one of these
 * (the value is consumed from the stack by it, with nothing but pushes in between) needs no
 * canonicalisation of its own: its bits can never be seen.
 */
const nanBlind: (true | undefined)[] = (() => {
  const table: (true | undefined)[] = [];
  for (let op = 0x5b; op <= 0x66; op++) table[op] = true; // f32/f64 eq ne lt gt le ge
  for (let op = 0xa8; op <= 0xb1; op++) table[op] = true; // i32/i64.trunc_f32/f64_s/u
  table[0x1a] = true; // drop
  scalarNanKinds.forEach((kind, op) => { if (kind !== undefined) table[op] = true; });
  return table;
})();
const simdNanKinds = new Map<number, number>([
  ...[103, 104, 105, 106, 227, 228, 229, 230, 231, 232, 233, 94, 261, 262].map((sub) => [sub, NanKind.f32x4] as [number, number]), // ceil floor trunc nearest sqrt add sub mul div min max demote relaxed_(n)madd
  ...[116, 117, 122, 148, 239, 240, 241, 242, 243, 244, 245, 95, 263, 264].map((sub) => [sub, NanKind.f64x2] as [number, number]),
]);

/** An instruction's operand-stack effect: values popped, values pushed. */
type Effect = readonly [pops: number, pushes: number];

const v128Type = 0x7b;
const refNullType = 0x63;
const refType = 0x64;

/** A signed LEB128 number up to 33 bits (block types, heap types). */
export function readSleb(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  let b: number;
  do {
    const got = bytes[at++];
    if (got === undefined) throw new ModuleFormatError('the module ends inside a number');
    b = got;
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  if (b & 0x40) value -= 2 ** shift;
  return [value, at];
}

/** Where the value type at `at` ends (reference types may carry a heap type). */
export function skipValType(bytes: Uint8Array, at: number): number {
  const b = bytes[at];
  if (b === refNullType || b === refType) return readSleb(bytes, at + 1)[1];
  if (b === undefined) throw new ModuleFormatError('the module ends inside a type');
  return at + 1;
}

/** Where the LEB128 number at `at` ends (signed or not); no tuple, as it runs once per immediate. */
function skipLeb(bytes: Uint8Array, at: number): number {
  for (;;) {
    const b = bytes[at++];
    if (b === undefined) throw new ModuleFormatError('the module ends inside a number');
    if ((b & 0x80) === 0) return at;
  }
}

function skipMemarg(bytes: Uint8Array, at: number): number {
  const hasMemory = (bytes[at]! & 0x40) !== 0; // alignment's bit 6: a memory index follows (alignments fit one byte)
  const next = skipLeb(bytes, at);
  return skipLeb(bytes, hasMemory ? skipLeb(bytes, next) : next);
}

/** Effects of the plain one-byte instructions (no block, branch or call), indexed by opcode. */
const plainEffects: (Effect | undefined)[] = (() => {
  const table: (Effect | undefined)[] = [];
  const set = (from: number, to: number, e: Effect) => { for (let op = from; op <= to; op++) table[op] = e; };
  set(0x01, 0x01, [0, 0]); // nop
  set(0x1a, 0x1a, [1, 0]); set(0x1b, 0x1c, [3, 1]); // drop, select
  set(0x20, 0x20, [0, 1]); set(0x21, 0x21, [1, 0]); set(0x22, 0x22, [1, 1]); // locals
  set(0x23, 0x23, [0, 1]); set(0x24, 0x24, [1, 0]); // globals
  set(0x25, 0x25, [1, 1]); set(0x26, 0x26, [2, 0]); // table.get, table.set
  set(0x28, 0x35, [1, 1]); set(0x36, 0x3e, [2, 0]); // loads, stores
  set(0x3f, 0x3f, [0, 1]); set(0x40, 0x40, [1, 1]); // memory.size, memory.grow
  set(0x41, 0x44, [0, 1]); // constants
  set(0x45, 0x45, [1, 1]); set(0x46, 0x4f, [2, 1]); set(0x50, 0x50, [1, 1]); set(0x51, 0x66, [2, 1]); // tests, comparisons
  set(0x67, 0x69, [1, 1]); set(0x6a, 0x78, [2, 1]); set(0x79, 0x7b, [1, 1]); set(0x7c, 0x8a, [2, 1]); // integer arithmetic
  set(0x8b, 0x91, [1, 1]); set(0x92, 0x98, [2, 1]); set(0x99, 0x9f, [1, 1]); set(0xa0, 0xa6, [2, 1]); // float arithmetic
  set(0xa7, 0xc4, [1, 1]); // conversions, sign extension
  set(0xd0, 0xd0, [0, 1]); set(0xd1, 0xd1, [1, 1]); set(0xd2, 0xd2, [0, 1]); set(0xd3, 0xd3, [2, 1]); set(0xd4, 0xd4, [1, 1]); // references
  set(0xd5, 0xd5, [1, 1]); set(0xd6, 0xd6, [1, 0]); // br_on_null, br_on_non_null
  return table;
})();

/** Where the immediates of a plain one-byte instruction end. */
function skipPlainImmediates(bytes: Uint8Array, op: number, at: number): number {
  if (op === 0x1c) { // select t*
    let [n, p] = readLeb(bytes, at);
    while (n-- > 0) p = skipValType(bytes, p);
    return p;
  }
  if ((op >= 0x20 && op <= 0x26) || op === 0x3f || op === 0x40 || op === 0xd2 || op === 0xd5 || op === 0xd6) return skipLeb(bytes, at);
  if (op >= 0x28 && op <= 0x3e) return skipMemarg(bytes, at);
  if (op === 0x41 || op === 0x42 || op === 0xd0) return skipLeb(bytes, at);
  if (op === 0x43) return at + 4;
  if (op === 0x44) return at + 8;
  return at;
}

/** 0xFC: saturating truncation, bulk memory and table instructions. */
function miscInstruction(bytes: Uint8Array, sub: number, at: number): [Effect, number] | null {
  if (sub <= 7) return [[1, 1], at];
  switch (sub) {
    case 8: return [[3, 0], skipLeb(bytes, skipLeb(bytes, at))]; // memory.init data mem
    case 9: case 13: return [[0, 0], skipLeb(bytes, at)]; // data.drop, elem.drop
    case 10: case 12: case 14: return [[3, 0], skipLeb(bytes, skipLeb(bytes, at))]; // memory.copy, table.init, table.copy
    case 11: case 17: return [[3, 0], skipLeb(bytes, at)]; // memory.fill, table.fill
    case 15: return [[2, 1], skipLeb(bytes, at)]; // table.grow
    case 16: return [[0, 1], skipLeb(bytes, at)]; // table.size
    default: return null;
  }
}

/** SIMD instructions without immediates that take one operand (all others take two, or say so). */
const simdUnary = new Set([
  77, 83, 94, 95, 96, 97, 98, 99, 100, 103, 104, 105, 106, 116, 117, 122, 124, 125, 126, 127, 128, 129, 131, 132,
  135, 136, 137, 138, 148, 160, 161, 163, 164, 167, 168, 169, 170, 192, 193, 195, 196, 199, 200, 201, 202,
  224, 225, 227, 236, 237, 239, 248, 249, 250, 251, 252, 253, 254, 255, 257, 258, 259, 260,
]);
const simdTernary = new Set([82, 261, 262, 263, 264, 265, 266, 267, 268, 275]);

/** 0xFD: SIMD. */
function simdInstruction(bytes: Uint8Array, sub: number, at: number): [Effect, number] | null {
  if (sub <= 10 || sub === 92 || sub === 93) return [[1, 1], skipMemarg(bytes, at)]; // loads
  if (sub === 11) return [[2, 0], skipMemarg(bytes, at)]; // v128.store
  if (sub === 12) return [[0, 1], at + 16]; // v128.const
  if (sub === 13) return [[2, 1], at + 16]; // i8x16.shuffle
  if (sub >= 15 && sub <= 20) return [[1, 1], at]; // splats
  if (sub >= 21 && sub <= 34) return [(sub < 27 ? (sub - 21) % 3 === 2 : (sub - 27) % 2 === 1) ? [2, 1] : [1, 1], at + 1]; // extract/replace lane
  if (sub >= 84 && sub <= 87) return [[2, 1], skipMemarg(bytes, at) + 1]; // load lane
  if (sub >= 88 && sub <= 91) return [[2, 0], skipMemarg(bytes, at) + 1]; // store lane
  if (sub > 275) return null;
  if (simdUnary.has(sub)) return [[1, 1], at];
  if (simdTernary.has(sub)) return [[3, 1], at];
  return [[2, 1], at];
}

/** 0xFE: threads (atomics). */
function atomicInstruction(bytes: Uint8Array, sub: number, at: number): [Effect, number] | null {
  if (sub === 3) return [[0, 0], at + 1]; // atomic.fence 0x00
  if (sub === 0) return [[2, 1], skipMemarg(bytes, at)]; // notify
  if (sub === 1 || sub === 2) return [[3, 1], skipMemarg(bytes, at)]; // wait32, wait64
  if (sub >= 16 && sub <= 22) return [[1, 1], skipMemarg(bytes, at)];
  if (sub >= 23 && sub <= 29) return [[2, 0], skipMemarg(bytes, at)];
  if (sub >= 30 && sub <= 71) return [[2, 1], skipMemarg(bytes, at)];
  if (sub >= 72 && sub <= 78) return [[3, 1], skipMemarg(bytes, at)];
  return null;
}

interface Frame { base: number; params: number; results: number; loop?: number }

/** Reads a block type: its parameter and result counts, and where it ends. */
export function readBlockType(bytes: Uint8Array, at: number, shape: ModuleShape): [params: number, results: number, next: number] {
  const b = bytes[at];
  if (b === 0x40) return [0, 0, at + 1];
  // One byte from 0x41 to 0x7f is a negative s33: a value type, not a type index.
  if (b === refNullType || b === refType || (b !== undefined && b > 0x40 && b <= 0x7f)) return [0, 1, skipValType(bytes, at)];
  const [index, next] = readSleb(bytes, at);
  const type = shape.types[index];
  if (!type) throw new ModuleFormatError(`a block refers to type ${index}, which does not exist`);
  return [type.params, type.results, next];
}

function signature(shape: ModuleShape, typeIndex: number): FuncType {
  const type = shape.types[typeIndex];
  if (!type) throw new ModuleFormatError(`an instruction refers to type ${typeIndex}, which does not exist`);
  return type;
}

/**
 * Steps through one function body's instructions, from `start` (after its locals) to `end`
 * (just after its final `end`), with `results` the function's result count.
 */
export function scanBody(bytes: Uint8Array, start: number, end: number, results: number, shape: ModuleShape, collect: Collect = {}): BodyScan {
  if (end > bytes.length || start >= end) throw new ModuleFormatError('a function body is cut short');
  const frames: Frame[] = [{ base: 0, params: 0, results }];
  const scan: BodyScan = { maxHeight: 0, v128: false, catches: false, callsModule: false, sites: [], instructions: 0, loops: [], outsideLoops: 0, nans: [], atomics: [] };
  const { loops, nans, visit } = collect;
  let count = 0;
  // With `loops`: the innermost loop being read (its index in scan.loops), -1 outside every loop.
  let region = -1;
  // NaN sites whose value is still on the stack, untouched: flat pairs (stack slot, index in scan.nans).
  const pending: number[] = [];
  let blindSites = 0;
  let height = 0;
  const frame = (): Frame => frames[frames.length - 1]!;
  const apply = (pops: number, pushes: number) => {
    height = Math.max(frame().base, height - pops) + pushes; // below the frame's base only in unreachable code
    scan.maxHeight = Math.max(scan.maxHeight, height);
  };
  const enter = (params: number, blockResults: number, loop?: number) => {
    apply(params, 0);
    frames.push(loop === undefined ? { base: height, params, results: blockResults } : { base: height, params, results: blockResults, loop });
    apply(0, params);
  };
  const unreachable = () => { height = frame().base; };
  let at = start;
  while (at < end) {
    const opStart = at;
    const op = bytes[at++]!;
    count++;
    if (visit) visit(op, opStart);
    if (loops) { if (region < 0) scan.outsideLoops++; else scan.loops[region + 1]!++; }
    // Control flow, calls, prefixed instructions, branches on references: every pending site stays.
    if (pending.length > 0 && (plainEffects[op] === undefined || op === 0xd5 || op === 0xd6)) pending.length = 0;
    switch (op) {
      case 0x00: unreachable(); break;
      case 0x02: case 0x03: case 0x06: { // block, loop, try
        const [p, r, next] = readBlockType(bytes, at, shape);
        at = next;
        if (op === 0x06) scan.catches = true;
        if (op === 0x03 && loops) {
          enter(p, r, region); // the frame keeps the enclosing region, put back at its end
          region = scan.loops.length;
          scan.loops.push(at, 0);
        } else enter(p, r);
        break;
      }
      case 0x04: { // if
        const [p, r, next] = readBlockType(bytes, at, shape);
        at = next;
        apply(1, 0);
        enter(p, r);
        break;
      }
      case 0x1f: { // try_table bt vec(catch)
        const [p, r, next] = readBlockType(bytes, at, shape);
        let [n, q] = readLeb(bytes, next);
        while (n-- > 0) {
          const kind = bytes[q++]!;
          if (kind <= 1) q = skipLeb(bytes, q); // catch / catch_ref name a tag
          q = skipLeb(bytes, q);
        }
        at = q;
        scan.catches = true;
        enter(p, r);
        break;
      }
      case 0x05: height = frame().base + frame().params; break; // else
      case 0x07: { // catch tag
        const [tag, next] = readLeb(bytes, at);
        at = next;
        const typeIndex = shape.tagTypes[tag];
        if (typeIndex === undefined) throw new ModuleFormatError(`a catch refers to tag ${tag}, which does not exist`);
        height = frame().base;
        apply(0, signature(shape, typeIndex).params);
        scan.sites.push(SiteKind.afterHandlerOrEnd, at);
        break;
      }
      case 0x19: height = frame().base; scan.sites.push(SiteKind.afterHandlerOrEnd, at); break; // catch_all
      case 0x0b: case 0x18: { // end, delegate
        if (op === 0x18) at = skipLeb(bytes, at);
        const closed = frames.pop();
        if (!closed) throw new ModuleFormatError(`an end without a block at byte ${opStart}`);
        if (closed.loop !== undefined) region = closed.loop;
        height = closed.base + closed.results;
        scan.maxHeight = Math.max(scan.maxHeight, height);
        if (frames.length > 0) scan.sites.push(SiteKind.afterHandlerOrEnd, at);
        else if (at !== end) throw new ModuleFormatError(`a function body ends before its last byte (at byte ${at})`);
        break;
      }
      case 0x08: at = skipLeb(bytes, at); unreachable(); break; // throw
      case 0x09: at = skipLeb(bytes, at); unreachable(); break; // rethrow
      case 0x0a: unreachable(); break; // throw_ref
      case 0x0c: at = skipLeb(bytes, at); unreachable(); break; // br
      case 0x0d: at = skipLeb(bytes, at); apply(1, 0); break; // br_if
      case 0x0e: { // br_table
        let [n, q] = readLeb(bytes, at);
        for (n++; n > 0; n--) q = skipLeb(bytes, q);
        at = q;
        unreachable();
        break;
      }
      case 0x0f: unreachable(); scan.sites.push(SiteKind.return, opStart); break;
      case 0x10: case 0x12: { // call, return_call
        const [func, next] = readLeb(bytes, at);
        at = next;
        const typeIndex = shape.funcTypes[func];
        if (typeIndex === undefined) throw new ModuleFormatError(`a call refers to function ${func}, which does not exist`);
        if (func >= shape.importedFuncs) scan.callsModule = true;
        const type = signature(shape, typeIndex);
        if (op === 0x12) { scan.sites.push(SiteKind.return, opStart); unreachable(); } else apply(type.params, type.results);
        break;
      }
      case 0x11: case 0x13: case 0x14: case 0x15: { // call_indirect, return_call_indirect, call_ref, return_call_ref
        const [typeIndex, next] = readLeb(bytes, at);
        at = op <= 0x13 ? skipLeb(bytes, next) : next;
        scan.callsModule = true;
        const type = signature(shape, typeIndex);
        if (op === 0x13 || op === 0x15) { scan.sites.push(SiteKind.return, opStart); unreachable(); } else apply(type.params + 1, type.results);
        break;
      }
      case 0xfc: case 0xfd: case 0xfe: {
        const [sub, next] = readLeb(bytes, at);
        const decoded = op === 0xfc ? miscInstruction(bytes, sub, next) : op === 0xfd ? simdInstruction(bytes, sub, next) : atomicInstruction(bytes, sub, next);
        if (!decoded) throw new ModuleFormatError(`unknown instruction 0x${op.toString(16)} ${sub} at byte ${opStart}`);
        if (op === 0xfe && sub <= 2 && collect.atomics) scan.atomics.push(opStart, sub, decoded[1]);
        if (op === 0xfd) {
          scan.v128 = true;
          const kind = nans ? simdNanKinds.get(sub) : undefined;
          if (kind !== undefined) scan.nans.push(decoded[1], kind);
        }
        apply(decoded[0][0], decoded[0][1]);
        at = decoded[1];
        break;
      }
      default: {
        const effect = plainEffects[op];
        if (!effect) throw new ModuleFormatError(`unknown instruction 0x${op.toString(16)} at byte ${opStart}`);
        at = skipPlainImmediates(bytes, op, at);
        if (nans && pending.length > 0) {
          // The slots this instruction consumes: a pending NaN site's value among them is either
          // unseen (a NaN-blind consumer: the site needs nothing) or seen (the site stays).
          const from = height - effect[0];
          const blind = nanBlind[op] === true;
          while (pending.length > 0 && pending[pending.length - 2]! >= from) {
            const site = pending.pop()!;
            pending.pop();
            if (blind) { scan.nans[site + 1] = -1; blindSites++; }
          }
        }
        apply(effect[0], effect[1]);
        if (nans) {
          const kind = scalarNanKinds[op];
          if (kind !== undefined) { scan.nans.push(at, kind); pending.push(height - 1, scan.nans.length - 2); }
        }
      }
    }
  }
  if (frames.length !== 0 || at !== end) throw new ModuleFormatError('a function body ends inside a block');
  scan.instructions = count;
  if (blindSites > 0) scan.nans = scan.nans.filter((_, i, all) => all[i - (i & 1) + 1] !== -1);
  return scan;
}

/** Is the value type at `at` a v128 (its stack slot is 16 bytes)? */
export const isV128 = (bytes: Uint8Array, at: number): boolean => bytes[at] === v128Type;
