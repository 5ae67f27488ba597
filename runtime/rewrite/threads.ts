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
// Its output is cached on disk by the input's hash, the pass list and rewriteVersion
// (rewrite/index.ts): a change to the bytes this writes must raise rewriteVersion
// (tests/rewrite-cache.test.ts holds a golden hash of its output and fails until it is raised).
import { leb, readLeb } from '../wasm-binary.js';
import { scanBody } from './decoder.js';
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
  end: 0x0b, localGet: 0x20, localTee: 0x22, callIndirect: 0x11, funcref: 0x70, exportTable: 0x01, exportGlobal: 0x03,
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

function rewriteBody(body: Body, emit: BodyEmitter, binary: Uint8Array, ctx: PassContext, types: Types, quantum: boolean): void {
  const scan = scanBody(binary, body.codeStart, body.end, body.type.results, ctx.parsed.shape, { loops: quantum, atomics: true });
  const table = leb(ctx.tableIndex);
  const global = leb(ctx.globalIndex);
  const left = leb(body.type.params + body.locals);
  const yieldCall = call(SchedSlot.yield, types.yield, table);
  if (quantum) emit.out.leb(body.groups + 1).bytes(binary.subarray(body.localsStart, body.codeStart)).byte(1).byte(i32);
  else emit.out.leb(body.groups).bytes(binary.subarray(body.localsStart, body.codeStart));
  // Insertions in order of offset: loop heads (insert) and wait/notify (replace), each a triple.
  const edits: [at: number, kind: 'loop' | 'atomic', value: number, end: number][] = [];
  for (let i = 0; i < scan.loops.length; i += 2) edits.push([scan.loops[i]!, 'loop', Math.max(1, scan.loops[i + 1]!), scan.loops[i]!]);
  for (let i = 0; i < scan.atomics.length; i += 3) edits.push([scan.atomics[i]!, 'atomic', scan.atomics[i + 1]!, scan.atomics[i + 2]!]);
  edits.sort((a, b) => a[0] - b[0]);
  if (quantum) emit.insert(hook(global, left, Math.max(1, scan.outsideLoops), yieldCall), body.codeStart);
  let copied = body.codeStart;
  for (const [at, kind, value, end] of edits) {
    emit.copy(copied, at);
    if (kind === 'loop') {
      emit.insert(hook(global, left, value, yieldCall), at);
      copied = at;
      continue;
    }
    // 0xFE, the sub-opcode (one byte: 0, 1 or 2), then the memarg.
    const offset = memargOffset(binary, at + 2);
    const [slot, type] = value === 0 ? [SchedSlot.notify, types.notify] : value === 1 ? [SchedSlot.wait32, types.wait32] : [SchedSlot.wait64, types.wait64];
    emit.insert([Op.i32Const, ...sleb(offset), ...call(slot, type, table)], at);
    copied = end;
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
    return {
      rewrite: (body, emit) => rewriteBody(body, emit, binary, ctx, types, quantum !== undefined),
      additions: {
        table: [Op.funcref, 0x00, ...leb(slots)],
        exports,
        ...(quantum !== undefined ? { global: [i32, 1, Op.i32Const, ...sleb(quantum), Op.end] } : {}),
      },
    };
  }, originShift);
  return Buffer.concat([rewritten, limits]);
}
