// Fuel (`--max-fuel N`): the module counts its own work, so a guest that computes for ever stops
// at the same instruction in every run, replay and replica (a deadline would stop it wherever the
// host happened to be).
//
// A new mutable i64 global, added after all others and exported as `fuelExport`, holds the fuel
// left, N at the start. Hooks at every function's entry and just inside every loop (the target of
// every backward branch) subtract a cost and, once the fuel left is below zero, call a new (last)
// function that executes `unreachable`: the trap's innermost frame, reported as "fuel exhausted".
// Every unbounded execution passes hooks without end (only loops branch backwards, only calls
// recurse), so it is stopped. A hook's cost is the number of instructions it stands for: a
// loop's, those inside the loop but not inside a loop nested in it; the entry's, those outside
// every loop (at least 1 each). Straight-line code is counted exactly; code a branch skips is
// counted all the same. It is a static weight, the same on every machine, not an exact count of
// executed instructions (docs/design.md has the measurements).
import { leb } from '../wasm-binary.js';
import { scanBody } from './decoder.js';
import { rewriteBodies, wasmName, type Body, type BodyEmitter, type PassContext } from './bodies.js';
import { assert, sleb } from './module.js';

/** The function whose `unreachable` stops a guest out of fuel (the innermost frame of its trap). */
export const fuelExhaustedFunctionName = 'replicode:fuel-exhausted';
/** The export that holds the fuel left: read at exit for the fuel used; like every `__replicode_` export, never hashed. */
export const fuelExport = '__replicode_fuel';
/** The largest --max-fuel (the global is an i64; this keeps it an exact JavaScript number). */
export const maxFuelLimit = Number.MAX_SAFE_INTEGER;

const Op = {
  globalGet: 0x23, globalSet: 0x24, i64Const: 0x42, i64Sub: 0x7d, i64LtS: 0x53, if: 0x04, emptyType: 0x40,
  call: 0x10, end: 0x0b, unreachable: 0x00, i64: 0x7e, exportGlobal: 0x03,
} as const;

/** A hook: fuel -= cost; if fuel < 0, call the exhausted function. */
function hook(global: number[], cost: number, exhausted: number[]): number[] {
  return [
    Op.globalGet, ...global, Op.i64Const, ...sleb(cost), Op.i64Sub, Op.globalSet, ...global,
    Op.globalGet, ...global, Op.i64Const, 0, Op.i64LtS, Op.if, Op.emptyType, Op.call, ...exhausted, Op.end,
  ];
}

function rewriteBody(body: Body, emit: BodyEmitter, binary: Uint8Array, ctx: PassContext, global: number[], exhausted: number[]): void {
  const scan = scanBody(binary, body.codeStart, body.end, body.type.results, ctx.parsed.shape, { loops: true });
  emit.out.leb(body.groups).bytes(binary.subarray(body.localsStart, body.codeStart));
  // The entry hook pays for the instructions outside every loop, a loop's for its own.
  emit.insert(hook(global, Math.max(1, scan.outsideLoops), exhausted), body.codeStart);
  let copied = body.codeStart;
  const loops = scan.loops;
  for (let i = 0; i < loops.length; i += 2) {
    const at = loops[i]!;
    emit.copy(copied, at);
    emit.insert(hook(global, Math.max(1, loops[i + 1]!), exhausted), at);
    copied = at;
  }
  emit.copy(copied, body.end);
}

/** The module with fuel counting (see the comment at the top), starting with `maxFuel`. */
export function addFuel(binary: Uint8Array, maxFuel: number, originShift = 0): Uint8Array {
  assert(Number.isSafeInteger(maxFuel) && maxFuel > 0, `fuel limit ${maxFuel} out of range`);
  return rewriteBodies(binary, (ctx) => {
    const global = leb(ctx.globalIndex);
    const exhausted = leb(ctx.funcIndex);
    return {
      rewrite: (body, emit) => rewriteBody(body, emit, binary, ctx, global, exhausted),
      additions: {
        func: { name: fuelExhaustedFunctionName, body: [0, Op.unreachable, Op.end] },
        global: [Op.i64, 1, Op.i64Const, ...sleb(maxFuel), Op.end],
        export: [...wasmName(fuelExport), Op.exportGlobal, ...global],
      },
    };
  }, originShift);
}
