// The recording shim: a small generated wasm module between a recorded core module and the
// kernel, which does the recording's per-call bookkeeping in wasm instead of JavaScript. Each of
// its functions (one per syscall the guest imports, the same signature) folds the call's
// fingerprint (formats/syscalls.ts `fingerprint`, the same steps: an i64 as the f64 Number(v)
// would be, without a BigInt), writes id, fingerprint and result 0 into the trace ring's shared
// columns, calls the kernel's plain import (errnoBoundary's: it returns the errno), stores the
// errno, publishes the completed count, and calls back into JavaScript (`afterDue`) only when
// the exit reaches the slot SharedTraceLog asked for (a batch full, a checkpoint due, records to
// publish). The columns and the shim's counters live in the trace ring's memory (a shared
// WebAssembly.Memory: trace-channel.ts), which the main thread reads as before. What it shares
// with the replay's shim (the fingerprint, the module's frame) is in ../wasm-shim.ts.
import { leb } from '../wasm-binary.js';
import {
  foldFingerprint, functionImport, i32, kernelSignatureType, memarg, memoryImport, Op, passKernelArguments, shimCalls, shimLocals, shimModule, signatureType,
  shareableShim, Type, wasiImportNames, type CompiledShim, type ShimCall,
} from '../wasm-shim.js';
import { shimLayout } from './trace-channel.js';

export { shimCalls };

/** What the shim calls back into. */
export interface ShimHost {
  /** The trace ring's memory (shared). */
  memory: WebAssembly.Memory;
  /** The exit of a call reached the slot SharedTraceLog asked for (Ctl.shimDue). */
  afterDue(): void;
  /** A call past the columns' end: our bug (exit writes a full batch out). Throws. */
  overflow(): never;
}

/** The body of one shim function (function index `kernel` is the kernel's import it calls). */
function body(call: ShimCall, kernel: number, imports: { afterDue: number; overflow: number }): number[] {
  const { ctl, fingerprints, ids, results } = shimLayout;
  const { h, at, r, declared } = shimLocals(call);
  const code: number[] = foldFingerprint(call);
  code.push(
    // enter: the slot (past the current region's end: our bug), its id, fingerprint and result 0, the slot count.
    ...i32(0), Op.i32Load, ...memarg(2, ctl.pending * 4), Op.localTee, at,
    ...i32(0), Op.i32Load, ...memarg(2, ctl.end * 4), Op.i32GeU, Op.if, Type.void, Op.call, ...leb(imports.overflow), Op.unreachable, Op.end,
    Op.localGet, at, ...i32(2), Op.i32Shl, Op.localGet, h, Op.i32Store, ...memarg(2, fingerprints),
    Op.localGet, at, ...i32(call.id), Op.i32Store8, ...memarg(0, ids),
    Op.localGet, at, ...i32(0), Op.i32Store8, ...memarg(0, results),
    ...i32(0), Op.localGet, at, ...i32(1), Op.i32Add, Op.i32Store, ...memarg(2, ctl.pending * 4),
  );
  code.push(...passKernelArguments(call), Op.call, ...leb(kernel));
  code.push(...(call.returns ? [Op.localSet, r] : []));
  code.push(
    // exit: the errno, the completed count (the batch's first event + slots done), afterDue when due.
    Op.localGet, at, Op.localGet, r, Op.i32Store8, ...memarg(0, results),
    ...i32(0), ...i32(0), Op.i32Load, ...memarg(2, ctl.base * 4), Op.localGet, at, Op.i32Add, ...i32(1), Op.i32Add, Op.i32Store, ...memarg(2, ctl.completed * 4),
    Op.localGet, at, ...i32(1), Op.i32Add, ...i32(0), Op.i32Load, ...memarg(2, ctl.due * 4), Op.i32GeS,
    Op.if, Type.void, Op.call, ...leb(imports.afterDue), Op.end,
  );
  if (call.returns) code.push(Op.localGet, r);
  code.push(Op.end);
  return [...declared, ...code];
}

/** The shim's module for these calls: imports k.<name> (the kernel's, shimImports), k.afterDue, k.overflow, k.memory; exports <name>. */
export function shimModuleBytes(calls: readonly ShimCall[], memoryPages: number): Uint8Array {
  const afterDue = calls.length;
  const overflow = calls.length + 1;
  return shimModule(calls, {
    // Type 0: () -> (); then each call's own signature, then its kernel import's (kernelSignatureType).
    types: [[Type.func, 0, 0], ...calls.map(signatureType), ...calls.map(kernelSignatureType)],
    imports: [
      ...calls.map((c, i) => functionImport('k', c.name, 1 + calls.length + i)),
      functionImport('k', 'afterDue', 0),
      functionImport('k', 'overflow', 0),
      memoryImport('k', 'memory', memoryPages, true),
    ],
    importedFunctions: calls.length + 2,
    firstCallType: 1,
    bodies: calls.map((c, i) => body(c, i, { afterDue, overflow })),
  });
}

/** The shim's module for `calls` and a trace ring of `pages`, compiled once per process and calls. */
function recordingShimModule(calls: readonly ShimCall[], pages: number): CompiledShim {
  return shareableShim(`record:${pages}:${calls.map((c) => c.name).join(',')}`, () => shimModuleBytes(calls, pages));
}

/** The shim for `guest`'s wasi imports and a trace ring of `memory`, for its worker (CompiledShim); undefined when the imports do not fit it. */
export function precompiledShim(guest: WebAssembly.Module, memory: WebAssembly.Memory): CompiledShim | undefined {
  const calls = shimCalls(wasiImportNames(guest));
  return calls && recordingShimModule(calls, memory.buffer.byteLength / 65536);
}

/**
 * The shim's functions for `calls`, each calling `kernel[name]` (the kernel's plain imports), as
 * an import object's wasi_snapshot_preview1 table.
 */
export function recordingShim(calls: readonly ShimCall[], kernel: Record<string, (...args: never[]) => number | void>, host: ShimHost): Record<string, WebAssembly.ExportValue> {
  const { module } = recordingShimModule(calls, host.memory.buffer.byteLength / 65536);
  const k: Record<string, unknown> = { afterDue: () => host.afterDue(), overflow: () => host.overflow(), memory: host.memory };
  for (const c of calls) k[c.name] = kernel[c.name];
  return new WebAssembly.Instance(module, { k: k as WebAssembly.ModuleImports }).exports;
}
