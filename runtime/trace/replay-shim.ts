// The replay shim: a small generated wasm module between a replayed core module and the kernel,
// which does the replay's per-call check in wasm instead of JavaScript (the recording's is
// runtime/worker/recording-shim.ts; what both share is in ../wasm-shim.ts). Each of its functions
// (one per syscall the guest imports, the same signature) folds the call's fingerprint, compares
// id and fingerprint with the next slot of the window (the recorded batch's columns, copied into
// the shim's own memory by ReplaySession), takes the slot, calls the kernel's plain import
// (errnoBoundary's: it returns the errno), and compares the errno with the recorded result. It
// calls back into JavaScript only when that is not all:
// - the slot is not there or does not match (the window's end: a batch to load, a call past
//   enterSlowFrom; a different call or arguments): the call goes whole to the traced import
//   (the kernel's tracedBoundary, whose tracer checks and describes it exactly as the JS path
//   does), then `resync` hands the window back;
// - the errno differs from the recorded one, or the exit is due (a checkpoint, progress, ...):
//   `exitDue(errno)`, the tracer's exit.
import { leb } from '../wasm-binary.js';
import {
  foldFingerprint, functionImport, i32, kernelSignatureType, memarg, memoryImport, Op, passArguments, passKernelArguments, shareableShim, shimCalls, shimLocals,
  shimModule, signatureType, Type,
  wasiImportNames, type CompiledShim, type ShimCall,
} from '../wasm-shim.js';
import type { CallsRecord } from '../../formats/index.js';

/** Slots a window holds at most (a batch holds callsPerBatch, 4096, in every trace written so far; a longer one goes in windows). */
export const replayWindowSlots = 8192;

/**
 * The shim's memory (one page, its own): four control words, then the window's columns. `pos`:
 * the window's next slot; `limit`: the slots the shim may take (pos < limit); `due`: the slot
 * count whose exit calls exitDue (slot + 1 >= due, signed); `current`: the recorded result of
 * the call in progress (the shim stores it as it takes a slot; ReplaySession as its tracer takes
 * a call), which the effects read during the call (outputClosed).
 */
export const replayShimLayout = {
  pos: 0, limit: 4, due: 8, current: 12,
  ids: 64, results: 64 + replayWindowSlots, fingerprints: 64 + 2 * replayWindowSlots,
  slots: replayWindowSlots, pages: 1,
} as const;

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`RepliCode bug: replay shim: ${message}`);
}
assert(replayShimLayout.fingerprints % 4 === 0, 'the fingerprint column is aligned');
assert(replayShimLayout.fingerprints + 4 * replayWindowSlots <= replayShimLayout.pages * 65536, 'the window fits in the memory');

/**
 * The window on the batch at hand, in the shim's memory: slots [start, start + count) of `batch`.
 * `synced`: the value of pos when the session last caught up with what the shim took.
 */
export class ReplayWindow {
  readonly memory = new WebAssembly.Memory({ initial: replayShimLayout.pages, maximum: replayShimLayout.pages });
  readonly control = new Int32Array(this.memory.buffer, 0, 16);
  /** The control word `current`, alone. */
  readonly current = new Int32Array(this.memory.buffer, replayShimLayout.current, 1);
  readonly ids = new Uint8Array(this.memory.buffer, replayShimLayout.ids, replayWindowSlots);
  readonly results = new Uint8Array(this.memory.buffer, replayShimLayout.results, replayWindowSlots);
  readonly fingerprints = new Uint32Array(this.memory.buffer, replayShimLayout.fingerprints, replayWindowSlots);
  batch: CallsRecord | undefined;
  start = 0;
  count = 0;
  synced = 0;

  get pos(): number { return this.control[replayShimLayout.pos / 4]!; }

  /**
   * Shows the shim `batch` from slot `at` (nothing: no batch at hand): copies its columns when
   * the window does not hold that slot yet, up to the first call of another thread (takeCall's
   * rule: those go the tracer's way). Returns the window's pos for slot `at`.
   */
  show(batch: CallsRecord | undefined, at: number): number {
    if (batch === undefined) return this.copy(undefined, 0, 0);
    const length = batch.ids.length;
    const within = batch === this.batch && at >= this.start && at <= this.start + this.count;
    // The window's end, short of the batch's end (a long batch, another thread's call): the next part.
    if (within && !(at === this.start + this.count && at < length)) return at - this.start;
    let end = Math.min(length, at + replayWindowSlots);
    const threads = batch.threads;
    if (threads) for (let i = at; i < end; i++) if (threads[i] !== 0) { end = i; break; }
    return this.copy(batch, at, end);
  }

  private copy(batch: CallsRecord | undefined, from: number, to: number): number {
    this.batch = batch;
    this.start = from;
    this.count = to - from;
    if (batch && to > from) {
      this.ids.set(batch.ids.subarray(from, to));
      this.results.set(batch.results.subarray(from, to));
      this.fingerprints.set(batch.fingerprints.subarray(from, to));
    }
    return 0;
  }

  /** The control words: the shim goes on from `pos`, takes slots below `limit`, calls exitDue at slot count `due`. */
  set(pos: number, limit: number, due: number): void {
    const c = this.control;
    c[replayShimLayout.pos / 4] = pos;
    c[replayShimLayout.limit / 4] = limit;
    c[replayShimLayout.due / 4] = due;
    this.synced = pos;
  }
}

/** What the shim calls back into (ReplaySession). */
export interface ReplayShimHost {
  window: ReplayWindow;
  /** The errno differs from the recorded result, or the exit is due: the tracer's exit. */
  exitDue(errno: number): void;
  /** After a call went the traced way: the window, pos, limit and due again. */
  resync(): void;
}

/** The body of one shim function (function indices: `plain` the kernel's import, `traced` its traced boundary). */
function body(call: ShimCall, plain: number, traced: number, imports: { exitDue: number; resync: number }): number[] {
  const L = replayShimLayout;
  const { h, at, r, declared } = shimLocals(call);
  const code: number[] = foldFingerprint(call);
  code.push(
    Op.block, Type.void,
    // The slot pos, if below limit and of this id and fingerprint: taken.
    ...i32(0), Op.i32Load, ...memarg(2, L.pos), Op.localTee, at, ...i32(0), Op.i32Load, ...memarg(2, L.limit), Op.i32GeU, Op.brIf, 0,
    Op.localGet, at, Op.i32Load8U, ...memarg(0, L.ids), ...i32(call.id), Op.i32Ne, Op.brIf, 0,
    Op.localGet, at, ...i32(2), Op.i32Shl, Op.i32Load, ...memarg(2, L.fingerprints), Op.localGet, h, Op.i32Ne, Op.brIf, 0,
    ...i32(0), Op.localGet, at, ...i32(1), Op.i32Add, Op.i32Store, ...memarg(2, L.pos),
    ...i32(0), Op.localGet, at, Op.i32Load8U, ...memarg(0, L.results), Op.i32Store, ...memarg(2, L.current),
    ...passKernelArguments(call), Op.call, ...leb(plain), ...(call.returns ? [Op.localSet, r] : []),
    // The exit: exitDue when the errno is not the recorded one or slot + 1 reaches due.
    Op.localGet, r, Op.localGet, at, Op.i32Load8U, ...memarg(0, L.results), Op.i32Ne,
    Op.localGet, at, ...i32(1), Op.i32Add, ...i32(0), Op.i32Load, ...memarg(2, L.due), Op.i32GeS,
    Op.i32Or, Op.if, Type.void, Op.localGet, r, Op.call, ...leb(imports.exitDue), Op.end,
    ...(call.returns ? [Op.localGet, r] : []), Op.return,
    Op.end,
    // Not taken: the traced boundary checks (and describes) it, then the window is handed back.
    ...passArguments(call), Op.call, ...leb(traced), ...(call.returns ? [Op.localSet, r] : []),
    Op.call, ...leb(imports.resync),
    ...(call.returns ? [Op.localGet, r] : []),
    Op.end,
  );
  return [...declared, ...code];
}

/** The shim's module: imports k.<name> (plain: the kernel's shimImports), t.<name> (traced), k.exitDue, k.resync, k.memory; exports <name>. */
export function replayShimBytes(calls: readonly ShimCall[]): Uint8Array {
  const n = calls.length;
  const imports = { exitDue: 2 * n, resync: 2 * n + 1 };
  return shimModule(calls, {
    // () -> (), (i32) -> (), each call's own signature, then its plain import's (kernelSignatureType).
    types: [[Type.func, 0, 0], [Type.func, 1, Type.i32, 0], ...calls.map(signatureType), ...calls.map(kernelSignatureType)],
    imports: [
      ...calls.map((c, i) => functionImport('k', c.name, 2 + n + i)),
      ...calls.map((c, i) => functionImport('t', c.name, 2 + i)),
      functionImport('k', 'exitDue', 1),
      functionImport('k', 'resync', 0),
      memoryImport('k', 'memory', replayShimLayout.pages, false),
    ],
    importedFunctions: 2 * n + 2,
    firstCallType: 2,
    bodies: calls.map((c, i) => body(c, i, n + i, imports)),
  });
}

type KernelTable = Record<string, (...args: never[]) => number | void>;

/** The replay shim's module for `calls`, compiled once per process and calls. */
function replayShimModule(calls: readonly ShimCall[]): CompiledShim {
  return shareableShim(`replay:${calls.map((c) => c.name).join(',')}`, () => replayShimBytes(calls));
}

/** The replay shim for `guest`'s wasi imports, for its worker (CompiledShim); undefined when the imports do not fit it. */
export function precompiledReplayShim(guest: WebAssembly.Module): CompiledShim | undefined {
  const calls = shimCalls(wasiImportNames(guest));
  return calls && replayShimModule(calls);
}

/**
 * The shim's functions for `calls`, each calling `plain[name]` (the kernel's plain imports) and,
 * for a call it does not take, `traced[name]` (the kernel's traced boundary), as an import
 * object's wasi_snapshot_preview1 table.
 */
export function replayShim(calls: readonly ShimCall[], plain: KernelTable, traced: KernelTable, host: ReplayShimHost): Record<string, WebAssembly.ExportValue> {
  const { module } = replayShimModule(calls);
  // exitDue and resync are the host's own functions, not wrapped: a divergence's stack has as many
  // frames between the tracer and the guest as on the JS path (see ReplaySession.guestStack).
  const k: Record<string, unknown> = { exitDue: host.exitDue, resync: host.resync, memory: host.window.memory };
  const t: Record<string, unknown> = {};
  for (const c of calls) {
    k[c.name] = plain[c.name];
    t[c.name] = traced[c.name];
  }
  return new WebAssembly.Instance(module, { k: k as WebAssembly.ModuleImports, t: t as WebAssembly.ModuleImports }).exports;
}
