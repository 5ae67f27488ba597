import type { ProcessConfig } from './config.js';
import type { HostEffects } from './effects/types.js';
import { ProcessExit } from './exit.js';
import { GuestLinkError } from './link-check.js';
import { deferredStartExport } from './start-function.js';
import { Kernel, wasiModuleName, type CallColumns } from './kernel.js';
import { recordingShim } from './worker/recording-shim.js';
import { replayShim } from './trace/replay-shim.js';
import { shimCalls, wasiImportNames, type ShimCall } from './wasm-shim.js';
import { fuelExport } from './rewrite/index.js';
import { fuelExhaustedMessage, isTrap, trapInfo, type TrapInfo } from './trap.js';
import { GuestStop, type Divergence, type GuestSession } from './trace/session.js';
import { stopImport } from './snapshot/abi.js';
import type { InstructionClock, SnapshotDriver, SnapshotSession } from './snapshot/driver.js';
import { isComponentProgram, startComponent, type ComponentProgram, type GuestProgram } from './p2/index.js';
import { DeadlockError, deadlockExitCode, isThreadedModule, ThreadHost, ThreadLost, threadLostExitCode, ThreadTrap } from './sched/index.js';
import { defaultMaxThreads } from './sched/scheduler.js';
import { guestThreadStackMb } from './rewrite/index.js';

/** How a guest process ended. */
export type GuestOutcome =
  | { kind: 'exit'; exitCode: number; fuelUsed?: number }
  | { kind: 'trap'; exitCode: number; trap: TrapInfo; fuelUsed?: number }
  | { kind: 'diverged'; exitCode: number; divergence: Divergence }
  | { kind: 'stopped'; exitCode: number; event: number; reason: string; at?: import('./trace/session.js').StopSnapshot };

/** Exit code of `replay` when the run does not match its trace. */
export const divergedExitCode = 3;

/** Exit code of a trapped guest, like a process killed by SIGABRT. */
export const trapExitCode = 134;

/** Exit code of a guest stopped by --max-fuel, like a process killed by SIGXCPU (CPU time limit): 128 + 24. */
export const fuelExhaustedExitCode = 152;

export { GuestLinkError };

/** Imports the module needs that the kernel does not provide, as `module.name` strings. */
export function missingImports(module: WebAssembly.Module, provided: ReadonlySet<string>, snapshotCopy = false, threaded = false): string[] {
  return WebAssembly.Module.imports(module)
    .filter((imp) => !(snapshotCopy && imp.module === stopImport.module && imp.name === stopImport.name))
    .filter((imp) => !(threaded && ((imp.module === 'env' && imp.name === 'memory') || (imp.module === 'wasi' && imp.name === 'thread-spawn'))))
    .filter((imp) => imp.module !== wasiModuleName || imp.kind !== 'function' || !provided.has(imp.name))
    .map((imp) => `${imp.module}.${imp.name}`);
}

/**
 * Runs a WASI command (a preview1 core module or a WASI 0.2 command component) to completion in
 * the calling thread. Blocking host calls block this thread (inside `effects`), so call it from
 * a worker unless the effects never wait.
 */
export function runGuest(program: GuestProgram, config: ProcessConfig, effects: HostEffects, session?: GuestSession, snapshots?: SnapshotDriver): GuestOutcome {
  const wrapped = session ? session.wrapEffects(effects) : effects;
  const kernel = new Kernel(config, wrapped, session?.watchesOutput === false ? effects : wrapped);
  if (isComponentProgram(program)) {
    if (snapshots) throw new GuestLinkError('a WASI 0.2 component cannot be instrumented for snapshots or hook steps (its core modules are not rewritten)');
    return runComponent(program, kernel, session);
  }
  const module = program;
  const threads = isThreadedModule(module) ? threadHost(module, config) : undefined;
  if (threads && snapshots) throw new GuestLinkError('snapshots (replay --from, diff, tui) do not support wasi-threads modules yet (run, record and replay do)');
  const missing = missingImports(module, kernel.provides, snapshots !== undefined, threads !== undefined);
  if (missing.length > 0) throw new GuestLinkError(`module imports what RepliCode does not provide: ${missing.join(', ')}`);
  const imports = kernel.imports(session?.tracer);
  // A recording or replay of one thread: its per-call path in a wasm shim, when the guest's imports allow.
  const columns = threads || snapshots ? undefined : session?.tracer?.columns;
  const shim = columns && shimOf(columns, kernel);
  const instance = (shim && instantiateShimmed(module, imports, kernel, shim))
    ?? instantiate(module, snapshots ? snapshots.wrapImports(imports, wasiModuleName) : threads ? threads.imports(imports, wasiModuleName) : imports);
  const exported = instance.exports;
  const { _start: start, [deferredStartExport]: startFunction } = exported;
  const memory = threads ? threads.memory : exported.memory;
  if (!(memory instanceof WebAssembly.Memory)) throw new GuestLinkError('module does not export its memory as "memory"');
  if (typeof start !== 'function') throw new GuestLinkError('module has no _start export (is it a WASI command?)');
  kernel.attachMemory(memory);
  kernel.attachInstance(instance);
  if (threads) {
    threads.attach(instance);
    session?.attachThreads?.(() => threads.currentThread);
  }
  if (snapshots) {
    const replay = session as (GuestSession & SnapshotSession & { attachClock(clock: InstructionClock): void }) | undefined;
    if (!replay?.saveState) throw new Error('snapshots need a replay or hashing session');
    snapshots.attach(instance, memory, kernel, replay);
    replay.attachClock(snapshots.clock);
  }
  let outcome: GuestOutcome;
  try {
    // Inside the try: a replay of a trace that holds no event may stop as soon as it is attached.
    session?.attach(kernel);
    if (snapshots) {
      // The module's (start $f) ran before the first snapshot; a resumed run does not run it again.
      if (typeof startFunction === 'function' && !snapshots.resuming) (startFunction as () => void)();
      snapshots.run(start as () => void);
    } else {
      if (typeof startFunction === 'function') (startFunction as () => void)(); // the module's (start $f): see start-function.ts
      (start as () => void)();
    }
    outcome = { kind: 'exit', exitCode: 0 };
  } catch (err) {
    outcome = caught(err);
  } finally {
    threads?.close(); // thread 0 ended the process (its _start returned, an exit, a trap, a deadlock)
  }
  return finish(outcome, kernel, session, [instance]);
}

function runComponent(program: ComponentProgram, kernel: Kernel, session?: GuestSession): GuestOutcome {
  const { start, fueled } = startComponent(program, kernel, session?.tracer);
  let outcome: GuestOutcome;
  try {
    session?.attach(kernel);
    start();
    outcome = { kind: 'exit', exitCode: 0 };
  } catch (err) {
    outcome = caught(err);
  }
  return finish(outcome, kernel, session, fueled);
}

/** How a run that threw ended; anything but the guest's exit, trap or a session's stop is our bug. */
function caught(err: unknown): GuestOutcome {
  if (err instanceof ProcessExit) return { kind: 'exit', exitCode: err.code };
  if (isTrap(err)) return { kind: 'trap', exitCode: trapExitCode, trap: trapInfo(err) };
  if (err instanceof GuestStop) return fromStop(err);
  if (err instanceof ThreadTrap) {
    // --max-fuel counts each thread's fuel on its own (every instance has its own fuel global).
    return err.fuel ? { kind: 'trap', exitCode: fuelExhaustedExitCode, trap: { message: `thread ${err.tid}: ${fuelExhaustedMessage}`, frames: err.trap.frames } }
      : { kind: 'trap', exitCode: trapExitCode, trap: { message: err.message, frames: err.trap.frames } };
  }
  if (err instanceof ThreadLost) return { kind: 'trap', exitCode: threadLostExitCode, trap: { message: err.message, frames: [] } };
  if (err instanceof DeadlockError) return { kind: 'trap', exitCode: deadlockExitCode, trap: { message: err.message, frames: [] } };
  throw err;
}

function threadHost(module: WebAssembly.Module, config: ProcessConfig): ThreadHost {
  return new ThreadHost({
    module, maxThreads: config.maxThreads ?? defaultMaxThreads, maxMemoryBytes: config.maxMemoryBytes,
    stackMb: config.maxStackBytes === undefined ? undefined : guestThreadStackMb(config.maxStackBytes),
  });
}

/**
 * The session's last word on an exit or trap (with the fuel used, when counted), then the kernel's.
 * The run's end with the fuel the `fueled` instances used, together (a module's one instance; a
 * component's core modules of guest code, each counting from the whole --max-fuel). The fuel pass
 * traps in place once the fuel left is below zero, and nothing else leaves it so: a trap when one
 * of them has used all of its own is the fuel exhausted.
 */
function finish(ended: GuestOutcome, kernel: Kernel, session: GuestSession | undefined, fueled: readonly WebAssembly.Instance[]): GuestOutcome {
  const { maxFuel } = kernel.config;
  const used = fueled.map((instance) => fuelUsedBy(instance, maxFuel));
  const fuelUsed = used.length === 0 || used.includes(undefined) ? undefined : used.reduce((a, b) => a! + b!, 0);
  let outcome = ended;
  if (outcome.kind === 'trap' && used.some((u) => u !== undefined && u > maxFuel!)) {
    outcome = { kind: 'trap', exitCode: fuelExhaustedExitCode, trap: { message: fuelExhaustedMessage, frames: outcome.trap.frames } };
  }
  if (fuelUsed !== undefined && (outcome.kind === 'exit' || outcome.kind === 'trap')) outcome = { ...outcome, fuelUsed };
  if (session && (outcome.kind === 'exit' || outcome.kind === 'trap')) {
    const end = session.finish({ kind: outcome.kind, exitCode: outcome.exitCode, trapMessage: outcome.kind === 'trap' ? outcome.trap.message : null, ...(fuelUsed !== undefined ? { fuelUsed } : {}) });
    if (end) outcome = fromStop(new GuestStop(end));
  }
  kernel.finish();
  return outcome;
}

/** The fuel the guest used (the limit less what its fuel global holds), when it counts fuel. */
function fuelUsedBy(instance: WebAssembly.Instance, maxFuel: number | undefined): number | undefined {
  const left = instance.exports[fuelExport];
  if (maxFuel === undefined || !(left instanceof WebAssembly.Global)) return undefined;
  return maxFuel - Number(left.value as bigint);
}

type KernelTable = Record<string, (...args: never[]) => number>;
/** A per-call shim on offer: its functions for the guest's calls (over the kernel's plain imports), engaged or handed back. */
interface ShimOffer { functions(calls: ShimCall[], plain: KernelTable): Record<string, WebAssembly.ExportValue>; engage(): void; disengage(): void }

/** The shim the session's columns offer: a recording's (recording-shim.ts) or a replay's (trace/replay-shim.ts). */
function shimOf(columns: CallColumns, kernel: Kernel): ShimOffer | undefined {
  const recording = columns.wasmShim?.();
  if (recording) return { functions: (calls, plain) => recordingShim(calls, plain, recording), engage: recording.engage, disengage: recording.disengage };
  const replay = columns.replayShim?.();
  if (!replay) return undefined;
  // The calls the shim does not take go the traced way, as when the columns turn a call away.
  const traced = () => kernel.imports(replay.tracer)[wasiModuleName] as KernelTable;
  return { functions: (calls, plain) => replayShim(calls, plain, traced(), replay), engage: replay.engage, disengage: replay.disengage };
}

/**
 * The guest instantiated with a per-call shim between it and the kernel, which then takes the
 * per-call path over; undefined (nothing changed) when the guest's wasi imports do not all fit
 * the shim (a shorter form, a signature the shim's functions do not have).
 */
function instantiateShimmed(module: WebAssembly.Module, imports: WebAssembly.Imports, kernel: Kernel, shim: ShimOffer): WebAssembly.Instance | undefined {
  const calls = shimCalls(wasiImportNames(module));
  if (!calls) return undefined;
  const plain = kernel.shimImports();
  // Engaged before instantiation: a module's start function may already make calls.
  shim.engage();
  try {
    return new WebAssembly.Instance(module, { ...imports, [wasiModuleName]: shim.functions(calls, plain) });
  } catch (err) {
    if (!(err instanceof WebAssembly.LinkError)) throw instantiationError(err);
    shim.disengage();
    return undefined;
  }
}

function instantiate(module: WebAssembly.Module, imports: WebAssembly.Imports): WebAssembly.Instance {
  try {
    return new WebAssembly.Instance(module, imports);
  } catch (err) {
    throw instantiationError(err);
  }
}

/** Instantiation failures left after the link check (a data segment outside memory, a start function's trap) are the module's. */
function instantiationError(err: unknown): unknown {
  return err instanceof WebAssembly.LinkError || err instanceof WebAssembly.RuntimeError ? new GuestLinkError(`the module cannot be instantiated: ${err.message}`) : err;
}

function fromStop(stop: GuestStop): GuestOutcome {
  return stop.end.kind === 'diverged'
    ? { kind: 'diverged', exitCode: divergedExitCode, divergence: stop.end.divergence }
    : { kind: 'stopped', exitCode: 0, event: stop.end.event, reason: stop.end.reason, ...(stop.end.at ? { at: stop.end.at } : {}) };
}
