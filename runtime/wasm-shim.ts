// What the per-call shims share (runtime/worker/recording-shim.ts for a recording,
// runtime/trace/replay-shim.ts for a replay): small generated wasm modules, one function per WASI
// import the guest makes, each folding the call's fingerprint as formats/syscalls.ts does and
// calling the kernel's plain import. Written by hand (a few opcodes), not with binaryen: a shim is
// built at start-up. Both carry the module name `shimModuleName`, so that stacks (runtime/trap.ts
// wasmFrames) can leave their frames out: a divergence or trap names the guest's frames only.
import { fingerprintSeed, syscallId, syscallSignatures, syscallTable, wasmSignature } from '../formats/index.js';
import { wasiModuleName } from './link-check.js';
import { sleb } from './rewrite/module.js';
import { leb, section } from './wasm-binary.js';

/** The name section's module name of every shim: V8 shows it in the frame's URL (`wasm://wasm/replicode-wasi-shim-1a2b3c4d`). */
export const shimModuleName = 'replicode-wasi-shim';

/**
 * One function of a shim: the syscall `name`, imported from the kernel under the same name.
 * `passed`: the indices of the parameters it passes on to the kernel's plain import (all but those
 * in unreadParameters).
 */
export interface ShimCall { name: string; id: number; params: string; returns: boolean; passed: readonly number[] }

/**
 * Parameters the kernel never reads (wasi/process.ts: clock_time_get's precision, a hint the
 * virtual clock has no use for). A shim folds them into the fingerprint, then calls the kernel's
 * plain import without them (Kernel.shimImports takes the call so): an i64 crossing into
 * JavaScript is a BigInt made per call, ~5 ns and garbage for half the events of a chatty guest.
 */
export const unreadParameters: Readonly<Record<string, readonly number[]>> = { clock_time_get: [1] };

const fnvPrime = 0x01000193;
export const Op = {
  unreachable: 0x00, block: 0x02, if: 0x04, else: 0x05, end: 0x0b, brIf: 0x0d, return: 0x0f, call: 0x10,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Load: 0x28, i32Load8U: 0x2d, i32Store: 0x36, i32Store8: 0x3a,
  i32Const: 0x41, i64Const: 0x42, f64Const: 0x44,
  i32Ne: 0x47, i32GeS: 0x4e, i32GeU: 0x4f, i64LtU: 0x54, f64Ge: 0x66,
  i32Add: 0x6a, i32Mul: 0x6c, i32Or: 0x72, i32Shl: 0x74, i32Xor: 0x73, i64And: 0x83, i64ShrS: 0x87, i64Add: 0x7c,
  i32WrapI64: 0xa7, i64TruncF64S: 0xb0, f64ConvertI64S: 0xb9,
} as const;
export const Type = { i32: 0x7f, i64: 0x7e, f64: 0x7c, func: 0x60, void: 0x40 } as const;

export const i32 = (v: number) => [Op.i32Const, ...sleb(v | 0)];
const name = (text: string) => { const b = Buffer.from(text, 'utf8'); return [...leb(b.length), ...b]; };
const vec = (items: number[][]) => [...leb(items.length), ...items.flat()];
/** A load or store at a constant address in the shim's memory: `align` as log2 bytes. */
export const memarg = (align: number, offset: number) => [...leb(align), ...leb(offset)];

/** The f64 2^63, little-endian. */
const twoTo63 = [...new Uint8Array(new Float64Array([2 ** 63]).buffer)];

/**
 * Folds the i64 in local `v` into `h` as mixArgument does with Number(v): n = the f64 nearest v,
 * then ToInt32(n) and ToInt32(n / 2^32). n is a whole number in [-2^63, 2^63], so both are the
 * low 32 bits of a whole number: n itself, and n / 2^32 rounded toward zero, taken mod 2^64
 * (n = 2^63, which an i64 cannot hold, wraps to -2^63: the same low bits). The division is a
 * shift, a negative n biased by 2^32 - 1 first so that it rounds toward zero: an i64.div_s by
 * the constant cost ~10 ns per call (V8 emits the division). An i64 in [-2^53, 2^53) is its own
 * f64 (the usual case: a precision, an offset), so n is v there without the round trip.
 */
function foldI64(v: number, h: number, n: number, whole: number): number[] {
  const nAsI64 = [
    Op.localGet, n, Op.f64Const, ...twoTo63, Op.f64Ge,
    Op.if, Type.i64, Op.i64Const, ...sleb(-(2 ** 63)), Op.else, Op.localGet, n, Op.i64TruncF64S, Op.end,
  ];
  return [
    // v + 2^53 below 2^54, unsigned: -2^53 <= v < 2^53.
    Op.localGet, v, Op.i64Const, ...sleb(2 ** 53), Op.i64Add, Op.i64Const, ...sleb(2 ** 54), Op.i64LtU,
    Op.if, Type.i64, Op.localGet, v,
    Op.else, Op.localGet, v, Op.f64ConvertI64S, Op.localSet, n, ...nAsI64, Op.end,
    Op.localSet, whole,
    Op.localGet, h, Op.localGet, whole, Op.i32WrapI64, Op.i32Xor, ...i32(fnvPrime), Op.i32Mul, Op.localSet, h,
    Op.localGet, h,
    Op.localGet, whole, Op.localGet, whole, Op.i64Const, 63, Op.i64ShrS, Op.i64Const, ...sleb(2 ** 32 - 1), Op.i64And, Op.i64Add,
    Op.i64Const, 32, Op.i64ShrS, Op.i32WrapI64, Op.i32Xor, ...i32(fnvPrime), Op.i32Mul, Op.localSet, h,
  ];
}

/**
 * The locals every shim function has after its parameters: h (the fingerprint), at (the slot), r
 * (the errno), and two for foldI64. `declared` is their declaration (3 i32, an f64, an i64).
 */
export function shimLocals(call: ShimCall) {
  const k = call.params.length;
  return { h: k, at: k + 1, r: k + 2, n: k + 3, whole: k + 4, declared: vec([[3, Type.i32], [1, Type.f64], [1, Type.i64]]) };
}

/** Code that leaves the call's fingerprint (formats/ `fingerprint`, as an i32) in local h. */
export function foldFingerprint(call: ShimCall): number[] {
  const { h, n, whole } = shimLocals(call);
  const code: number[] = [...i32(fingerprintSeed(call.id)), Op.localSet, h];
  for (let i = 0; i < call.params.length; i++) {
    const kind = call.params[i];
    if (kind === 'i') code.push(Op.localGet, h, Op.localGet, i, Op.i32Xor, ...i32(fnvPrime), Op.i32Mul, Op.localSet, h);
    else if (kind === 'I') code.push(...foldI64(i, h, n, whole));
  }
  return code;
}

/** Code that pushes the call's arguments, in order (to call an import of the same signature). */
export const passArguments = (call: ShimCall) => [...call.params].flatMap((_, i) => [Op.localGet, i]);

/** Code that pushes the arguments the kernel's plain import takes (`passed`), in order. */
export const passKernelArguments = (call: ShimCall) => call.passed.flatMap((i) => [Op.localGet, i]);

/** A function type taking parameters of these kinds (formats/ syscall table letters: I an i64, any other an i32). */
const functionType = (kinds: readonly string[], returns: boolean) => [Type.func, ...vec(kinds.map((p) => [p === 'I' ? Type.i64 : Type.i32])), ...vec(returns ? [[Type.i32]] : [])];

/** A function type of the call's signature. */
export const signatureType = (c: ShimCall) => functionType([...c.params], c.returns);

/** The function type of the kernel's plain import for the call: its `passed` parameters. */
export const kernelSignatureType = (c: ShimCall) => functionType(c.passed.map((i) => c.params[i]!), c.returns);

/** A function import of type index `type`. */
export const functionImport = (module: string, field: string, type: number) => [...name(module), ...name(field), 0x00, ...leb(type)];

/** A memory import of `pages` pages, neither growing nor shrinking; shared or not. */
export const memoryImport = (module: string, field: string, pages: number, shared: boolean) =>
  [...name(module), ...name(field), 0x02, shared ? 0x03 : 0x01, ...leb(pages), ...leb(pages)];

/**
 * A shim's module: `types`, `imports` (of which `importedFunctions` are functions), one own function
 * per call (of type `firstCallType + i`), exported under the call's name, with `bodies` (each a
 * function's locals and code, without its size), and a name section naming the module and its
 * functions (shimModuleName, the calls' names).
 */
export function shimModule(calls: readonly ShimCall[], parts: { types: number[][]; imports: number[][]; importedFunctions: number; firstCallType: number; bodies: number[][] }): Uint8Array {
  const firstOwn = parts.importedFunctions;
  const names = [
    ...section(0, name(shimModuleName)),
    ...section(1, vec(calls.map((c, i) => [...leb(firstOwn + i), ...name(c.name)]))),
  ];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(parts.types)),
    ...section(2, vec(parts.imports)),
    ...section(3, vec(calls.map((_, i) => leb(parts.firstCallType + i)))),
    ...section(7, vec(calls.map((c, i) => [...name(c.name), 0x00, ...leb(firstOwn + i)]))),
    ...section(10, vec(parts.bodies.map((b) => [...leb(b.length), ...b]))),
    ...section(0, [...name('name'), ...names]),
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
    const unread = unreadParameters[n] ?? [];
    const passed = [...params].map((_, i) => i).filter((i) => !unread.includes(i));
    calls.push({ name: n, id, params, returns: signatures[0] === wasmSignature(params, true), passed });
  }
  return calls;
}

/** Compiled shim modules by kind and list of calls (a worker runs one module; tests several). */
const compiled = new Map<string, WebAssembly.Module>();
const maxCompiled = 16;

/** Keeps `module` under `key` in the bounded cache. */
function remember(key: string, module: WebAssembly.Module): WebAssembly.Module {
  if (compiled.size >= maxCompiled) compiled.clear();
  compiled.set(key, module);
  return module;
}

/** The module `build` makes, compiled once per `key` (a bounded cache). */
export function compiledShim(key: string, build: () => Uint8Array): WebAssembly.Module {
  return compiled.get(key) ?? remember(key, new WebAssembly.Module(build()));
}

/**
 * A shim compiled under `key`, to be handed to the guest's worker: a fresh worker runs a shim's
 * generator cold, in V8's interpreter (~3-5 ms of every recording's and replay's start), so the
 * main thread compiles it, once per process and list of calls, and the worker adopts it.
 */
export interface CompiledShim { key: string; module: WebAssembly.Module }

/** The shim `build` makes under `key`, compiled (or found compiled) here, to hand to another thread. */
export function shareableShim(key: string, build: () => Uint8Array): CompiledShim {
  return { key, module: compiledShim(key, build) };
}

/** A shim compiled on another thread (structured-cloned to this one): compiledShim gives it out instead of compiling. */
export function adoptShim(shim: CompiledShim): void {
  remember(shim.key, shim.module);
}

/** The names of a module's function imports from wasi_snapshot_preview1, in order, each once (a function imported twice is one export of a shim). */
export function wasiImportNames(guest: WebAssembly.Module): string[] {
  return [...new Set(WebAssembly.Module.imports(guest).filter((i) => i.module === wasiModuleName && i.kind === 'function').map((i) => i.name))];
}
