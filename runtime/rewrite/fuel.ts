// Fuel (`--max-fuel N`): the module counts its own work, so a guest that computes for ever stops
// at the same instruction in every run, replay and replica (a deadline would stop it wherever the
// host happened to be).
//
// A new mutable i64 global, added after all others and exported as `fuelExport`, holds the fuel
// left, N at the start. Hooks at every function's entry and just inside every loop (the target of
// every backward branch) subtract a cost and, once the fuel left is below zero, execute
// `unreachable` in place: a trap with the global below zero, which runGuest reports as "fuel
// exhausted" (no other trap can leave it there: the hook that takes it below zero traps at once).
// Every unbounded execution passes hooks without end (only loops branch backwards, only calls
// recurse), so it is stopped. A hook's cost is the number of instructions it stands for: a
// loop's, those inside the loop but not inside a loop nested in it; the entry's, those outside
// every loop (at least 1 each). Straight-line code is counted exactly; code a branch skips is
// counted all the same. It is a static weight, the same on every machine, not an exact count of
// executed instructions (docs/design.md has the measurements).
// Its output is cached on disk by the input's hash, the pass list and rewriteVersion
// (rewrite/index.ts): a change to the bytes this writes must raise rewriteVersion
// (tests/rewrite-cache.test.ts holds a golden hash of its output and fails until it is raised).
import { leb } from '../wasm-binary.js';
import { scanBody } from './decoder.js';
import { rewriteBodies, wasmName, type Body, type BodyEmitter, type PassContext } from './bodies.js';
import { assert, sleb } from './module.js';

/** The export that holds the fuel left: read at exit for the fuel used; like every `__replicode_` export, never hashed. */
export const fuelExport = '__replicode_fuel';
/** The largest --max-fuel (the global is an i64; this keeps it an exact JavaScript number). */
export const maxFuelLimit = Number.MAX_SAFE_INTEGER;

const Op = {
  globalGet: 0x23, globalSet: 0x24, i64Const: 0x42, i64Sub: 0x7d, i64LtS: 0x53, if: 0x04, emptyType: 0x40,
  end: 0x0b, unreachable: 0x00, i64: 0x7e, exportGlobal: 0x03, localGet: 0x20, localTee: 0x22,
} as const;

/**
 * A hook: fuel -= cost; if fuel < 0, `unreachable`. `left` is a local of the function's own that
 * holds the new value, so the global is read once. The way out is a trap in place, not a call:
 * a call inside a hot loop, even one never taken, made TurboFan spill the loop's values around it
 * (sha256 1.26x with a call, 1.02x without).
 */
function hook(global: number[], left: number[], cost: number): number[] {
  return [
    Op.globalGet, ...global, Op.i64Const, ...sleb(cost), Op.i64Sub, Op.localTee, ...left, Op.globalSet, ...global,
    Op.localGet, ...left, Op.i64Const, 0, Op.i64LtS, Op.if, Op.emptyType, Op.unreachable, Op.end,
  ];
}

function rewriteBody(body: Body, emit: BodyEmitter, binary: Uint8Array, ctx: PassContext, global: number[]): void {
  const scan = scanBody(binary, body.codeStart, body.end, body.type.results, ctx.parsed.shape, { loops: true });
  // One more local, after the function's own: the fuel left, as the hook just computed it.
  emit.out.leb(body.groups + 1).bytes(binary.subarray(body.localsStart, body.codeStart)).byte(1).byte(Op.i64);
  const left = leb(body.type.params + body.locals);
  // The entry hook pays for the instructions outside every loop, a loop's for its own.
  emit.insert(hook(global, left, Math.max(1, scan.outsideLoops)), body.codeStart);
  let copied = body.codeStart;
  const loops = scan.loops;
  for (let i = 0; i < loops.length; i += 2) {
    const at = loops[i]!;
    emit.copy(copied, at);
    emit.insert(hook(global, left, Math.max(1, loops[i + 1]!)), at);
    copied = at;
  }
  emit.copy(copied, body.end);
}

/** The module with fuel counting (see the comment at the top), starting with `maxFuel`. */
export function addFuel(binary: Uint8Array, maxFuel: number, originShift = 0): Uint8Array {
  assert(Number.isSafeInteger(maxFuel) && maxFuel > 0, `fuel limit ${maxFuel} out of range`);
  return rewriteBodies(binary, (ctx) => {
    const global = leb(ctx.globalIndex);
    return {
      rewrite: (body, emit) => rewriteBody(body, emit, binary, ctx, global),
      additions: {
        global: [Op.i64, 1, Op.i64Const, ...sleb(maxFuel), Op.end],
        export: [...wasmName(fuelExport), Op.exportGlobal, ...global],
      },
    };
  }, originShift);
}
