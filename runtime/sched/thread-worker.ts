// Entry point of the worker of one guest thread other than the main one (runtime/sched/host.ts
// starts it at thread-spawn): waits for its first turn, instantiates the module against the
// process's shared memory, runs wasi_thread_start(tid, arg), and sends every syscall, spawn,
// wait, notify and yield to thread 0 over the channel, sleeping until the turn comes back.
import { workerData, type MessagePort } from 'node:worker_threads';
import { syscallId } from '../../formats/syscalls.js';
import { isTrap, trapInfo } from '../trap.js';
import { fuelExport } from '../rewrite/index.js';
import { deferredStartExport } from '../start-function.js';
import { Req, SchedChannel } from './channel.js';
import { fillSchedTable, quantumRefill } from './host-table.js';
import { threadStartExport, type ThreadFailure } from './failure.js';

export interface ThreadWorkerData {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  channel: SharedArrayBuffer;
  tid: number;
  slot: number;
  arg: number;
  /** Where a trap or a failure is described before Req.failed is posted. */
  port: MessagePort;
}

// Deep guest stacks are the point of trap reports.
Error.stackTraceLimit = 64;

const { module, memory, channel, tid, slot, arg, port } = workerData as ThreadWorkerData;
const ch = new SchedChannel(channel);
let refill = (): void => {};
const call = (kind: number, id: number, args: ArrayLike<number | bigint>): number => {
  ch.post(slot, kind, id, args);
  const result = ch.awaitTurn(slot);
  refill();
  return result;
};

const imports: Record<string, Record<string, unknown>> = {
  env: { memory },
  wasi: { 'thread-spawn': (a: number) => call(Req.spawn, 0, [a]) },
  wasi_snapshot_preview1: {},
};
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.module !== 'wasi_snapshot_preview1') continue;
  const id = syscallId(imp.name);
  imports[imp.module]![imp.name] = (...args: (number | bigint)[]) => call(Req.syscall, id, args);
}

ch.awaitTurn(slot); // instantiation writes the module's active data segments: only with the turn
let instance: WebAssembly.Instance | undefined;
try {
  instance = new WebAssembly.Instance(module, imports as WebAssembly.Imports);
  refill = quantumRefill(instance);
  fillSchedTable(instance, memory, {
    wait32: (a, expected, timeout) => call(Req.wait32, 0, [a, expected, timeout]),
    wait64: (a, expected, timeout) => call(Req.wait64, 0, [a, expected, timeout]),
    notify: (a, count) => call(Req.notify, 0, [a, count]),
    // Alone (every other thread waits), the scheduler would give the turn straight back: keep it.
    yield: () => { if (ch.alone()) refill(); else call(Req.yield, 0, []); },
  });
  // Every instance runs the module's start function, as the Wasm spec says (LLVM's
  // __wasm_init_memory guards its own once-only work with an atomic flag); RepliCode defers it
  // (runtime/start-function.ts), so it is called here, in this thread, before its start routine.
  const startFunction = instance.exports[deferredStartExport];
  if (typeof startFunction === 'function') (startFunction as () => void)();
  (instance.exports[threadStartExport] as (tid: number, arg: number) => void)(tid, arg);
  ch.post(slot, Req.exit, 0, []);
} catch (err) {
  const e = err instanceof Error ? err : new Error(String(err));
  const fuel = instance?.exports[fuelExport];
  const exhausted = fuel instanceof WebAssembly.Global && (fuel.value as bigint) < 0n;
  const failure: ThreadFailure = isTrap(e) ? { kind: 'trap', trap: trapInfo(e), fuel: exhausted } : { kind: 'internal', message: (e as Error).message, stack: (e as Error).stack ?? '' };
  port.postMessage(failure);
  ch.post(slot, Req.failed, 0, []);
}
port.close();
