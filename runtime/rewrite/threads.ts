// The threads pass (wasi-threads modules only; runtime/sched/): turns every memory.atomic.wait32,
// wait64 and notify into a call to the host, so a waiting thread gives up its turn and the
// scheduler knows who waits on which address; with a quantum, adds the fuel pass's hooks over a
// per-thread counter whose exhaustion calls the host's `yield` instead of trapping.
//
// The host functions are reached through a table the pass adds (last in the table index space,
// exported as `schedTableExport`) with `call_indirect`, not through new imports: an import would
// come before every function of the module and move every function index (calls, exports,
// elements, names). The host fills the table after instantiation (runtime/sched/host-table.ts).
// A wait or notify becomes `i32.const offset; i32.const slot; call_indirect`: its operands stay
// on the stack as they were, the memarg's offset goes as one more argument.
//
// The quantum: a mutable i32 global (exported as `quantumExport`) holds what is left of the
// thread's turn; the hooks at function entry and loop heads subtract the same static costs as the
// fuel pass and, below zero, call the `yield` slot, whose host function passes the turn and
// refills the global. The host refills it at every switch, so each turn starts with a full quantum.
// A loop's yield sits after the loop, with the loop's locals copied to globals around the call
// (see loopSites and savePlan): no value of the hot loop lives across a call.
// Its output is cached on disk by the input's hash, the pass list and rewriteVersion
// (rewrite/index.ts): a change to the bytes this writes must raise rewriteVersion
// (tests/rewrite-cache.test.ts holds a golden hash of its output and fails until it is raised).
import { leb, readLeb } from '../wasm-binary.js';
import { readBlockType, scanBody, skipValType, type BodyScan } from './decoder.js';
import { rewriteBodies, wasmName, type Body, type BodyEmitter, type PassContext } from './bodies.js';
import { assert, customSection, sleb } from './module.js';
import { ModuleFormatError } from '../module-error.js';
import { readModuleInterface } from '../module-interface.js';

/** The table of host functions the pass adds; like every `__replicode_` export, never hashed. */
export const schedTableExport = '__replicode_sched';
/** The global that holds what is left of the running thread's quantum. */
export const quantumExport = '__replicode_quantum';
/** The largest --quantum (an i32 counter, with room below zero for one hook's cost). */
export const maxQuantum = 2 ** 30;
/**
 * The custom section the pass adds: the imported memory's limits in pages (LEB128 minimum, then
 * maximum), which the host needs to create the shared memory and a compiled module does not tell.
 */
export const threadsSectionName = 'replicode.threads';
/** Where each host function sits in the added table. */
export const SchedSlot = { wait32: 0, wait64: 1, notify: 2, yield: 3 } as const;
const slots = 4;

const i32 = 0x7f;
const i64 = 0x7e;
const Op = {
  globalGet: 0x23, globalSet: 0x24, i32Const: 0x41, i32Sub: 0x6b, i32LtS: 0x48, if: 0x04, emptyType: 0x40,
  end: 0x0b, localGet: 0x20, localSet: 0x21, localTee: 0x22, callIndirect: 0x11, funcref: 0x70, exportTable: 0x01, exportGlobal: 0x03,
  block: 0x02, loop: 0x03, i32Add: 0x6a, br: 0x0c, brIf: 0x0d, brTable: 0x0e, unreachable: 0x00,
} as const;

interface Types { wait32: number; wait64: number; notify: number; yield: number }

function call(slot: number, type: number, table: number[]): number[] {
  return [Op.i32Const, ...sleb(slot), Op.callIndirect, ...leb(type), ...table];
}

/** left -= cost; if left < 0, yield. */
function hook(global: number[], left: number[], cost: number, yieldCall: number[]): number[] {
  return [
    Op.globalGet, ...global, Op.i32Const, ...sleb(cost), Op.i32Sub, Op.localTee, ...left, Op.globalSet, ...global,
    Op.localGet, ...left, Op.i32Const, 0, Op.i32LtS, Op.if, Op.emptyType, ...yieldCall, Op.end,
  ];
}

/** A wait/notify's memarg offset (the alignment before it); a memory index (multi-memory) is refused. */
function memargOffset(binary: Uint8Array, at: number): number {
  const [align, next] = readLeb(binary, at);
  if ((align & 0x40) !== 0) throw new ModuleFormatError(`an atomic wait or notify at byte ${at} names a memory other than the first; RepliCode runs threads over one memory`);
  const offset = readLeb(binary, next)[0];
  return offset > 0x7fffffff ? offset - 2 ** 32 : offset; // an i32.const of the same bits; the host reads it unsigned
}

/** The instructions that open a block (block, loop, if, try, try_table) and close one (end). */
const opensBlock = new Set([0x02, 0x03, 0x04, 0x06, 0x1f]);
/** Instructions with labels the loop rewrite does not renumber (exceptions, GC branches): their functions keep hooks in place. */
const otherLabels = new Set([0x06, 0x07, 0x08, 0x09, 0x0a, 0x18, 0x19, 0x1f, 0xd5, 0xd6, 0xfb]);

/**
 * Each loop, with its hook's yield out of the loop: the loop `L` becomes
 *   block bt (loop (block (L: [left -= cost; br_if 1 if left < 0] body) br 2) yield; left += cost; br 0) unreachable end
 * so the hot loop holds a decrement and a branch, and the call sits on the cold path outside it
 * (a call inside a loop, even one never taken, made TurboFan keep the loop's values in memory:
 * sha256 1.28x with the call in place). After the yield the loop is entered again from its head,
 * its cost refunded first, so the quantum left is what the hook in place left (the same schedule),
 * and a loop costing more than the quantum still moves on (without the refund it yields for ever).
 * Every branch inside the loop to a label outside it goes 3 labels further. Loops with
 * parameters, and functions with exception or GC branches, keep the hook in place.
 * Even out of the loop, the call was inside the wrapper that re-enters it, so every value of the
 * loop was live across it and TurboFan spilled them where they are defined, in the hot loop
 * (sha256 1.13x): the yield's block copies the locals the loop uses to globals before the call and
 * back after, so none lives across it (1.00-1.02x).
 */
interface LoopSite {
  at: number; afterType: number; end: number; cost: number; out: boolean;
  /** The locals it reads or writes, its nested loops' too (saved around its yield), and how many moved loops hold it. */
  locals: Set<number>; depth: number;
}

/** The loops of the body, in order, with their `end`, and every branch with the blocks open around it (a moved loop's index, else -1); null: keep hooks in place. */
function loopSites(binary: Uint8Array, body: Body, scan: BodyScan, ctx: PassContext): { loops: LoopSite[]; branches: [at: number, frames: number[]][] } | null {
  const loops: LoopSite[] = [];
  const branches: [number, number[]][] = [];
  // Open blocks, innermost last: -1 a block that is not a moved loop, else its index in `loops`.
  const open: number[] = [];
  let bail = false;
  let next = 0;
  scanBody(binary, body.codeStart, body.end, body.type.results, ctx.parsed.shape, {
    visit: (op, at) => {
      if (bail) return;
      if (otherLabels.has(op)) { bail = true; return; }
      if (op === Op.loop) {
        const [params, , afterType] = readBlockType(binary, at + 1, ctx.parsed.shape);
        assert(scan.loops[next * 2] === afterType, 'loop sites in the order the scan found them');
        loops.push({ at, afterType, end: -1, cost: Math.max(1, scan.loops[next * 2 + 1]!), out: params === 0, locals: new Set(), depth: open.filter((f) => f >= 0).length });
        open.push(params === 0 ? next : -1);
        next++;
      } else if (opensBlock.has(op)) open.push(-1);
      else if (op === Op.end) {
        const closed = open.pop();
        if (closed !== undefined && closed >= 0) loops[closed]!.end = at;
      } else if (op === Op.br || op === Op.brIf || op === Op.brTable) branches.push([at, [...open]]);
      else if (op === Op.localGet || op === Op.localSet || op === Op.localTee) {
        const index = readLeb(binary, at + 1)[0];
        for (const f of open) if (f >= 0) loops[f]!.locals.add(index);
      }
    },
  });
  return bail ? null : { loops, branches };
}

/** A label `depth` seen from inside `frames` (innermost last) moves 3 further per moved loop it leaves. */
function shifted(depth: number, frames: number[]): number {
  let extra = 0;
  for (let d = 0; d < depth && d < frames.length; d++) if (frames[frames.length - 1 - d]! >= 0) extra += 3;
  return depth + extra;
}

/** A branch instruction with its labels renumbered. */
function renumbered(binary: Uint8Array, at: number, frames: number[]): [bytes: number[], end: number] {
  const op = binary[at]!;
  if (op !== Op.brTable) {
    const [depth, end] = readLeb(binary, at + 1);
    return [[op, ...leb(shifted(depth, frames))], end];
  }
  let [n, q] = readLeb(binary, at + 1);
  const out = [op, ...leb(n)];
  for (n++; n > 0; n--) {
    const [depth, after] = readLeb(binary, q);
    out.push(...leb(shifted(depth, frames)));
    q = after;
  }
  return [out, q];
}

/** The value types a save global can hold, with the zero it starts at (others are not saved). */
const zeroOf: Record<number, number[]> = {
  0x7f: [0x41, 0], 0x7e: [0x42, 0], 0x7d: [0x43, 0, 0, 0, 0], 0x7c: [0x44, 0, 0, 0, 0, 0, 0, 0, 0],
  0x7b: [0xfd, 12, ...new Array<number>(16).fill(0)], 0x70: [0xd0, 0x70], 0x6f: [0xd0, 0x6f],
};

/** Each local's value type (parameters first), undefined where no save global can hold it. */
function localTypes(binary: Uint8Array, body: Body): (number | undefined)[] {
  const out: (number | undefined)[] = [];
  const typeAt = body.type.bytes.byteOffset - binary.byteOffset;
  assert(binary[typeAt] === 0x60 && binary.buffer === body.type.bytes.buffer, 'the type of the body is read from the module being rewritten');
  let [n, p] = readLeb(binary, typeAt + 1);
  for (; n > 0; n--) { out.push(zeroOf[binary[p]!] ? binary[p] : undefined); p = skipValType(binary, p); }
  p = body.localsStart;
  for (let g = 0; g < body.groups; g++) {
    const [count, at] = readLeb(binary, p);
    for (let i = 0; i < count; i++) out.push(zeroOf[binary[at]!] ? binary[at] : undefined);
    p = skipValType(binary, at);
  }
  return out;
}

/**
 * The globals that hold a loop's locals across its yield, added after the quantum's: the k-th
 * saved local of a type in a function uses the same global in every function, so there are as
 * many per type as the most one function saves. Instance globals, so each thread has its own.
 */
class SaveGlobals {
  readonly entries: number[][] = [];
  private readonly index = new Map<string, number>();
  constructor(private readonly first: number) {}

  /** A function's save globals, local by local. */
  forFunction(types: (number | undefined)[]): (local: number) => number {
    const ofLocal = new Map<number, number>();
    const perType = new Map<number, number>();
    return (local) => {
      const known = ofLocal.get(local);
      if (known !== undefined) return known;
      const type = types[local];
      assert(type !== undefined, `local ${local} can be saved`);
      const k = perType.get(type) ?? 0;
      perType.set(type, k + 1);
      const g = this.global(type, k);
      ofLocal.set(local, g);
      return g;
    };
  }

  private global(type: number, k: number): number {
    const key = `${type}:${k}`;
    let g = this.index.get(key);
    if (g === undefined) {
      g = this.first + this.entries.length;
      this.entries.push([type, 1, ...zeroOf[type]!, Op.end]);
      this.index.set(key, g);
    }
    return g;
  }
}

/**
 * A function saves at most one local per this many bytes of its body (the save and restore of a
 * local take at most 16 bytes: four instructions with a 3-byte index each), so the save code at
 * most doubles it, however deep its loops nest.
 */
export const bodyBytesPerSave = 8;

/**
 * The locals each loop saves around its yield: every one it uses that a global can hold, loop by
 * loop, the innermost (the hottest) first, while the function's budget lasts; a loop past it
 * saves none (its values then stay live across the call: slower, not wrong).
 */
function savePlan(loops: LoopSite[], types: (number | undefined)[], bodyBytes: number): number[][] {
  let budget = Math.floor(bodyBytes / bodyBytesPerSave);
  const plan = loops.map(() => [] as number[]);
  const order = loops.map((_, i) => i).filter((i) => loops[i]!.out).sort((a, b) => loops[b]!.depth - loops[a]!.depth || a - b);
  for (const i of order) {
    const locals = [...loops[i]!.locals].filter((x) => types[x] !== undefined).sort((a, b) => a - b);
    if (locals.length > budget) continue;
    plan[i] = locals;
    budget -= locals.length;
  }
  return plan;
}

function rewriteBody(body: Body, emit: BodyEmitter, binary: Uint8Array, ctx: PassContext, types: Types, quantum: boolean, saves: SaveGlobals): void {
  const scan = scanBody(binary, body.codeStart, body.end, body.type.results, ctx.parsed.shape, { loops: quantum, atomics: true });
  const table = leb(ctx.tableIndex);
  const global = leb(ctx.globalIndex);
  const left = leb(body.type.params + body.locals);
  const yieldCall = call(SchedSlot.yield, types.yield, table);
  if (quantum) emit.out.leb(body.groups + 1).bytes(binary.subarray(body.localsStart, body.codeStart)).byte(1).byte(i32);
  else emit.out.leb(body.groups).bytes(binary.subarray(body.localsStart, body.codeStart));
  const sites = quantum && scan.loops.length > 0 ? loopSites(binary, body, scan, ctx) : null;
  // Edits in order of offset: [at, kind, value, end]. A hook inserted at a loop head; a moved
  // loop's head and tail; a renumbered branch; a wait/notify replaced.
  type Edit = [at: number, kind: 'hook' | 'head' | 'tail' | 'branch' | 'atomic', value: number, end: number];
  const edits: Edit[] = [];
  if (sites) {
    sites.loops.forEach((l, i) => {
      if (!l.out) { edits.push([l.afterType, 'hook', l.cost, l.afterType]); return; }
      edits.push([l.at, 'head', i, l.afterType], [l.end + 1, 'tail', i, l.end + 1]);
    });
    sites.branches.forEach(([at, frames], i) => { if (frames.some((f) => f >= 0)) edits.push([at, 'branch', i, -1]); });
  } else {
    for (let i = 0; i < scan.loops.length; i += 2) edits.push([scan.loops[i]!, 'hook', Math.max(1, scan.loops[i + 1]!), scan.loops[i]!]);
  }
  for (let i = 0; i < scan.atomics.length; i += 3) edits.push([scan.atomics[i]!, 'atomic', scan.atomics[i + 1]!, scan.atomics[i + 2]!]);
  edits.sort((a, b) => a[0] - b[0] || (a[1] === 'tail' ? -1 : b[1] === 'tail' ? 1 : 0));
  if (quantum) emit.insert(hook(global, left, Math.max(1, scan.outsideLoops), yieldCall), body.codeStart);
  const localType = sites ? localTypes(binary, body) : [];
  const saved = sites ? savePlan(sites.loops, localType, body.end - body.localsStart) : [];
  const saveGlobal = saves.forFunction(localType);
  let copied = body.codeStart;
  for (const [at, kind, value, end] of edits) {
    emit.copy(copied, at);
    copied = at;
    switch (kind) {
      case 'hook': emit.insert(hook(global, left, value, yieldCall), at); break;
      case 'head': {
        const l = sites!.loops[value]!;
        emit.insert([Op.block, ...binary.subarray(l.at + 1, l.afterType), Op.loop, Op.emptyType, Op.block, Op.emptyType], at);
        copied = emit.copy(at, l.afterType);
        emit.insert([Op.globalGet, ...global, Op.i32Const, ...sleb(l.cost), Op.i32Sub, Op.localTee, ...left, Op.globalSet, ...global,
          Op.localGet, ...left, Op.i32Const, 0, Op.i32LtS, Op.brIf, 1], l.afterType);
        break;
      }
      case 'tail': { // the refund: the head's hook charges this iteration again when the loop is entered again
        const l = sites!.loops[value]!;
        const save = saved[value]!.flatMap((x) => [Op.localGet, ...leb(x), Op.globalSet, ...leb(saveGlobal(x))]);
        const restore = saved[value]!.flatMap((x) => [Op.globalGet, ...leb(saveGlobal(x)), Op.localSet, ...leb(x)]);
        emit.insert([Op.br, 2, Op.end, ...save, ...yieldCall, ...restore,
          Op.globalGet, ...global, Op.i32Const, ...sleb(l.cost), Op.i32Add, Op.globalSet, ...global, Op.br, 0, Op.end, Op.unreachable, Op.end], at);
        break;
      }
      case 'branch': {
        const [bytes, after] = renumbered(binary, at, sites!.branches[value]![1]);
        emit.insert(bytes, at);
        copied = after;
        break;
      }
      case 'atomic': {
        // 0xFE, the sub-opcode (one byte: 0, 1 or 2), then the memarg.
        const offset = memargOffset(binary, at + 2);
        const [slot, type] = value === 0 ? [SchedSlot.notify, types.notify] : value === 1 ? [SchedSlot.wait32, types.wait32] : [SchedSlot.wait64, types.wait64];
        emit.insert([Op.i32Const, ...sleb(offset), ...call(slot, type, table)], at);
        copied = end;
        break;
      }
    }
  }
  emit.copy(copied, body.end);
}

/**
 * The module with wait/notify calling the host and, with `quantum`, a yield every `quantum` units
 * of fuel (see the comment at the top).
 */
export function addThreadHooks(binary: Uint8Array, quantum: number | undefined, originShift = 0): Uint8Array {
  assert(quantum === undefined || (Number.isSafeInteger(quantum) && quantum > 0 && quantum <= maxQuantum), `quantum ${quantum} out of range`);
  const memory = readModuleInterface(binary).memories[0];
  if (!memory || memory.maxPages === undefined || memory.memory64) throw new ModuleFormatError('a wasi-threads module imports a 32-bit shared memory with a maximum (env.memory)');
  const limits = customSection(threadsSectionName, Uint8Array.from([...leb(memory.minPages), ...leb(memory.maxPages)]));
  const rewritten = rewriteBodies(binary, (ctx) => {
    const types: Types = {
      wait32: ctx.typeTable.func([i32, i32, i64, i32], [i32]),
      wait64: ctx.typeTable.func([i32, i64, i64, i32], [i32]),
      notify: ctx.typeTable.func([i32, i32, i32], [i32]),
      yield: ctx.typeTable.func([], []),
    };
    const exports = [[...wasmName(schedTableExport), Op.exportTable, ...leb(ctx.tableIndex)]];
    if (quantum !== undefined) exports.push([...wasmName(quantumExport), Op.exportGlobal, ...leb(ctx.globalIndex)]);
    const saves = new SaveGlobals(ctx.globalIndex + 1);
    return {
      rewrite: (body, emit) => rewriteBody(body, emit, binary, ctx, types, quantum !== undefined, saves),
      additions: {
        table: [Op.funcref, 0x00, ...leb(slots)],
        exports,
        ...(quantum !== undefined ? { global: [i32, 1, Op.i32Const, ...sleb(quantum), Op.end] } : {}),
        globals: saves.entries,
      },
    };
  }, originShift);
  return Buffer.concat([rewritten, limits]);
}
