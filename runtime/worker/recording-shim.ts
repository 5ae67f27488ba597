// The recording shim: a small generated wasm module between a recorded core module and the
// kernel, which does the recording's per-call bookkeeping in wasm instead of JavaScript. Each of
// its functions (one per syscall the guest imports, the same signature) folds the call's
// fingerprint (formats/syscalls.ts `fingerprint`, the same steps: an i64 as the f64 Number(v)
// would be, without a BigInt), writes id, fingerprint and result 0 into the trace ring's shared
// columns, calls the kernel's plain import (errnoBoundary's: it returns the errno), stores the
// errno, publishes the completed count, and calls back into JavaScript (`afterDue`) only when
// the exit reaches the slot SharedTraceLog asked for (a batch full, a checkpoint due, records to
// publish). The columns and the shim's counters live in the trace ring's memory (a shared
// WebAssembly.Memory: trace-channel.ts), which the main thread reads as before.
import { fingerprintSeed, syscallId, syscallSignatures, syscallTable, wasmSignature } from '../../formats/index.js';
import { wasiModuleName } from '../link-check.js';
import { sleb } from '../rewrite/module.js';
import { leb, section } from '../wasm-binary.js';
import { shimLayout } from './trace-channel.js';

/** One function of the shim: the syscall `name`, imported from the kernel under the same name. */
interface ShimCall { name: string; id: number; params: string; returns: boolean }

/** What the shim calls back into. */
export interface ShimHost {
  /** The trace ring's memory (shared). */
  memory: WebAssembly.Memory;
  /** The exit of a call reached the slot SharedTraceLog asked for (Ctl.shimDue). */
  afterDue(): void;
  /** A call past the columns' end: our bug (exit writes a full batch out). Throws. */
  overflow(): never;
}

const fnvPrime = 0x01000193;
const Op = {
  unreachable: 0x00, if: 0x04, else: 0x05, end: 0x0b, return: 0x0f, call: 0x10,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Load: 0x28, i32Store: 0x36, i32Store8: 0x3a,
  i32Const: 0x41, i64Const: 0x42, f64Const: 0x44,
  i32GeS: 0x4e, i32GeU: 0x4f, f64Ge: 0x66,
  i32Add: 0x6a, i32Mul: 0x6c, i32Shl: 0x74, i32Xor: 0x73, i64And: 0x83, i64ShrS: 0x87, i64Add: 0x7c,
  i32WrapI64: 0xa7, i64TruncF64S: 0xb0, f64ConvertI64S: 0xb9,
} as const;
const Type = { i32: 0x7f, i64: 0x7e, f64: 0x7c, func: 0x60 } as const;

const i32 = (v: number) => [Op.i32Const, ...sleb(v | 0)];
const name = (text: string) => { const b = Buffer.from(text, 'utf8'); return [...leb(b.length), ...b]; };
const vec = (items: number[][]) => [...leb(items.length), ...items.flat()];
/** A load or store at a constant address in the ring's memory: `align` as log2 bytes. */
const memarg = (align: number, offset: number) => [...leb(align), ...leb(offset)];

/** The f64 2^63, little-endian. */
const twoTo63 = [...new Uint8Array(new Float64Array([2 ** 63]).buffer)];

/**
 * Folds the i64 in local `v` into `h` as mixArgument does with Number(v): n = the f64 nearest v,
 * then ToInt32(n) and ToInt32(n / 2^32). n is a whole number in [-2^63, 2^63], so both are the
 * low 32 bits of a whole number: n itself, and n / 2^32 rounded toward zero, taken mod 2^64
 * (n = 2^63, which an i64 cannot hold, wraps to -2^63: the same low bits). The division is a
 * shift, a negative n biased by 2^32 - 1 first so that it rounds toward zero: an i64.div_s by
 * the constant cost ~10 ns per call (V8 emits the division).
 */
function foldI64(v: number, h: number, n: number, whole: number): number[] {
  const nAsI64 = [
    Op.localGet, n, Op.f64Const, ...twoTo63, Op.f64Ge,
    Op.if, Type.i64, Op.i64Const, ...sleb(-(2 ** 63)), Op.else, Op.localGet, n, Op.i64TruncF64S, Op.end,
  ];
  return [
    Op.localGet, v, Op.f64ConvertI64S, Op.localSet, n,
    ...nAsI64, Op.localSet, whole,
    Op.localGet, h, Op.localGet, whole, Op.i32WrapI64, Op.i32Xor, ...i32(fnvPrime), Op.i32Mul, Op.localSet, h,
    Op.localGet, h,
    Op.localGet, whole, Op.localGet, whole, Op.i64Const, 63, Op.i64ShrS, Op.i64Const, ...sleb(2 ** 32 - 1), Op.i64And, Op.i64Add,
    Op.i64Const, 32, Op.i64ShrS, Op.i32WrapI64, Op.i32Xor, ...i32(fnvPrime), Op.i32Mul, Op.localSet, h,
  ];
}

/** The body of one shim function (function index `kernel` is the kernel's import it calls). */
function body(call: ShimCall, kernel: number, imports: { afterDue: number; overflow: number }): number[] {
  const { ctl, fingerprints, ids, results, callsPerBatch } = shimLayout;
  const k = call.params.length;
  const [h, at, r, n, whole] = [k, k + 1, k + 2, k + 3, k + 4];
  const code: number[] = [...i32(fingerprintSeed(call.id)), Op.localSet, h];
  for (let i = 0; i < k; i++) {
    const kind = call.params[i];
    if (kind === 'i') code.push(Op.localGet, h, Op.localGet, i, Op.i32Xor, ...i32(fnvPrime), Op.i32Mul, Op.localSet, h);
    else if (kind === 'I') code.push(...foldI64(i, h, n, whole));
  }
  code.push(
    // enter: the slot, its id, fingerprint and result 0, the slot count.
    ...i32(0), Op.i32Load, ...memarg(2, ctl.pending * 4), Op.localTee, at,
    ...i32(callsPerBatch), Op.i32GeU, Op.if, 0x40, Op.call, ...leb(imports.overflow), Op.unreachable, Op.end,
    Op.localGet, at, ...i32(2), Op.i32Shl, Op.localGet, h, Op.i32Store, ...memarg(2, fingerprints),
    Op.localGet, at, ...i32(call.id), Op.i32Store8, ...memarg(0, ids),
    Op.localGet, at, ...i32(0), Op.i32Store8, ...memarg(0, results),
    ...i32(0), Op.localGet, at, ...i32(1), Op.i32Add, Op.i32Store, ...memarg(2, ctl.pending * 4),
  );
  for (let i = 0; i < k; i++) code.push(Op.localGet, i);
  code.push(Op.call, ...leb(kernel));
  code.push(...(call.returns ? [Op.localSet, r] : []));
  code.push(
    // exit: the errno, the completed count (the batch's first event + slots done), afterDue when due.
    Op.localGet, at, Op.localGet, r, Op.i32Store8, ...memarg(0, results),
    ...i32(0), ...i32(0), Op.i32Load, ...memarg(2, ctl.base * 4), Op.localGet, at, Op.i32Add, ...i32(1), Op.i32Add, Op.i32Store, ...memarg(2, ctl.completed * 4),
    Op.localGet, at, ...i32(1), Op.i32Add, ...i32(0), Op.i32Load, ...memarg(2, ctl.due * 4), Op.i32GeS,
    Op.if, 0x40, Op.call, ...leb(imports.afterDue), Op.end,
  );
  if (call.returns) code.push(Op.localGet, r);
  code.push(Op.end);
  const locals = vec([[3, Type.i32], [1, Type.f64], [1, Type.i64]]);
  const fn = [...locals, ...code];
  return [...leb(fn.length), ...fn];
}

/** The shim's module for these calls: imports k.<name> (the kernel's), k.afterDue, k.overflow, k.memory; exports <name>. */
export function shimModuleBytes(calls: readonly ShimCall[], memoryPages: number): Uint8Array {
  const signature = (c: ShimCall) => [Type.func, ...vec([...c.params].map((p) => [p === 'I' ? Type.i64 : Type.i32])), ...vec(c.returns ? [[Type.i32]] : [])];
  const types = [[Type.func, 0, 0], ...calls.map(signature)]; // type 0: () -> ()
  const imports = [
    ...calls.map((c, i) => [...name('k'), ...name(c.name), 0x00, ...leb(i + 1)]),
    [...name('k'), ...name('afterDue'), 0x00, 0],
    [...name('k'), ...name('overflow'), 0x00, 0],
    [...name('k'), ...name('memory'), 0x02, 0x03, ...leb(memoryPages), ...leb(memoryPages)],
  ];
  const afterDue = calls.length;
  const overflow = calls.length + 1;
  const firstOwn = calls.length + 2;
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(3, vec(calls.map((_, i) => leb(i + 1)))),
    ...section(7, vec(calls.map((c, i) => [...name(c.name), 0x00, ...leb(firstOwn + i)]))),
    ...section(10, vec(calls.map((c, i) => body(c, i, { afterDue, overflow })))),
  ];
  return new Uint8Array(bytes);
}

/**
 * The shim's calls for the syscalls in `names`, or undefined when one of them is not for it: not
 * in the table, or one a guest may import under a shorter signature too (WasmEdge's V1 and V2
 * socket calls, syscallSignatures): such a guest keeps the JS path.
 */
export function shimCalls(names: readonly string[]): ShimCall[] | undefined {
  const calls: ShimCall[] = [];
  for (const n of names) {
    const signatures = syscallSignatures(n);
    if (signatures?.length !== 1) return undefined;
    const id = syscallId(n);
    const params = syscallTable[id]![1];
    calls.push({ name: n, id, params, returns: signatures[0] === wasmSignature(params, true) });
  }
  return calls;
}

/** Compiled shim modules by their list of calls (a worker records one module; tests several). */
const compiled = new Map<string, WebAssembly.Module>();
const maxCompiled = 16;

/** A compiled shim and what it was built for: see precompiledShim. */
export interface CompiledShim { key: string; module: WebAssembly.Module }

function compiledShim(calls: readonly ShimCall[], pages: number): CompiledShim {
  const key = `${pages}:${calls.map((c) => c.name).join(',')}`;
  let module = compiled.get(key);
  if (!module) {
    module = new WebAssembly.Module(shimModuleBytes(calls, pages));
    if (compiled.size >= maxCompiled) compiled.clear();
    compiled.set(key, module);
  }
  return { key, module };
}

/**
 * The shim for `guest`'s wasi imports and a trace ring of `memory`, compiled where this runs (the
 * main thread, once per process and list of calls) to be handed to the guest's worker
 * (adoptShim): a fresh worker runs the shim's generator cold, in V8's interpreter, ~3-5 ms of
 * every recording's start. Undefined when the guest's imports do not fit the shim.
 */
export function precompiledShim(guest: WebAssembly.Module, memory: WebAssembly.Memory): CompiledShim | undefined {
  const calls = shimCalls(wasiImportNames(guest));
  return calls && compiledShim(calls, memory.buffer.byteLength / 65536);
}

/** A shim compiled by precompiledShim on another thread: recordingShim takes it instead of compiling its own. */
export function adoptShim(shim: CompiledShim): void {
  if (compiled.size >= maxCompiled) compiled.clear();
  compiled.set(shim.key, shim.module);
}

/** The names of a module's function imports from wasi_snapshot_preview1, in order. */
export function wasiImportNames(guest: WebAssembly.Module): string[] {
  return WebAssembly.Module.imports(guest).filter((i) => i.module === wasiModuleName && i.kind === 'function').map((i) => i.name);
}

/**
 * The shim's functions for `calls`, each calling `kernel[name]` (the kernel's plain imports), as
 * an import object's wasi_snapshot_preview1 table.
 */
export function recordingShim(calls: readonly ShimCall[], kernel: Record<string, (...args: never[]) => number | void>, host: ShimHost): Record<string, WebAssembly.ExportValue> {
  const { module } = compiledShim(calls, host.memory.buffer.byteLength / 65536);
  const k: Record<string, unknown> = { afterDue: () => host.afterDue(), overflow: () => host.overflow(), memory: host.memory };
  for (const c of calls) k[c.name] = kernel[c.name];
  return new WebAssembly.Instance(module, { k: k as WebAssembly.ModuleImports }).exports;
}
