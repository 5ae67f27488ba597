// Thread 0's side of a wasi-threads process (it runs inside the guest's worker, next to the one
// kernel and the trace session). It creates the shared memory, starts a worker per spawned
// thread, and runs the scheduler: after each of thread 0's own syscalls, waits, notifies, spawns
// and yields it passes the turn, and while another thread holds it, thread 0 sleeps in a server
// loop that executes that thread's calls against the kernel (whose memory view is over the same
// shared buffer) and passes the turn on. One guest thread runs at a time.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { syscallTable } from '../../formats/syscalls.js';
import { readLeb } from '../wasm-binary.js';
import { wasmPageBytes } from '../memory-limit.js';
import { assert } from '../rewrite/module.js';
import { threadsSectionName } from '../rewrite/threads.js';
import { lostSlot, Req, SchedChannel, schedChannelBytes, SpawnAck, type Request } from './channel.js';
import { fillSchedTable, quantumRefill } from './host-table.js';
import { DeadlockError, eagain, Scheduler, WaitResult, type GuestThread } from './scheduler.js';
import { ThreadLost, ThreadTrap, type ThreadFailure } from './failure.js';
import type { ThreadWorkerData } from './thread-worker.js';
import type { LostWorker, SpawnRequest, SupervisorData } from './supervisor.js';

// Spelled from this file's folder as from the guest worker's bundle (both are two levels under dist/).
const threadWorkerUrl = new URL('../sched/thread-worker.bundle.js', import.meta.url);
const supervisorUrl = new URL('../sched/supervisor.bundle.js', import.meta.url);
/**
 * Longest thread 0 waits for the supervisor to say whether a new thread's worker is online (a
 * worker starts in tens of ms, seconds on a loaded machine); past it the supervisor itself is
 * lost, our bug.
 */
const spawnAnswerMs = 120_000;

export interface ThreadHostOptions {
  module: WebAssembly.Module;
  maxThreads: number;
  /** --max-memory: caps the shared memory's maximum below the module's own. */
  maxMemoryBytes?: number | undefined;
  /** The V8 stack of each thread's worker (as the main thread's). */
  stackMb?: number | undefined;
}

type Syscall = (...args: (number | bigint)[]) => number;

/** Whether the module is a wasi-threads module (it imports wasi.thread-spawn). */
export function isThreadedModule(module: WebAssembly.Module): boolean {
  return WebAssembly.Module.imports(module).some((i) => i.module === 'wasi' && i.name === 'thread-spawn');
}

export class ThreadHost {
  readonly scheduler: Scheduler;
  readonly memory: WebAssembly.Memory;
  private readonly channel: SchedChannel;
  /** Each other thread's failure port (its worker describes a trap there before Req.failed). */
  private readonly ports = new Map<number, MessagePort>();
  private supervisor: { worker: Worker; port: MessagePort } | undefined;
  private syscalls: Record<string, Syscall> = {};
  private refill = (): void => {};

  constructor(private readonly options: ThreadHostOptions) {
    this.scheduler = new Scheduler(options.maxThreads);
    this.channel = new SchedChannel(new SharedArrayBuffer(schedChannelBytes(options.maxThreads)));
    this.memory = sharedMemory(options.module, options.maxMemoryBytes);
  }

  /** The tid of the thread whose call is being made (record writes it per event). */
  get currentThread(): number { return this.scheduler.current; }

  /** Thread 0's imports: the kernel's syscalls (each followed by a switch), thread-spawn, the shared memory. */
  imports(kernelImports: WebAssembly.Imports, wasiModule: string): WebAssembly.Imports {
    this.syscalls = kernelImports[wasiModule] as Record<string, Syscall>;
    const wrapped: Record<string, Syscall> = {};
    for (const [name, fn] of Object.entries(this.syscalls)) {
      wrapped[name] = (...args) => { const r = fn(...args); this.turnOver(); return r; };
    }
    return {
      ...kernelImports, [wasiModule]: wrapped, env: { memory: this.memory },
      wasi: { 'thread-spawn': (arg: number) => { const r = this.spawn(arg); this.turnOver(); return r; } },
    };
  }

  /** Fills thread 0's instance's scheduler table; its quantum starts full. */
  attach(instance: WebAssembly.Instance): void {
    this.refill = quantumRefill(instance);
    const own = (set: () => void): number => {
      set();
      this.turnOver();
      return this.scheduler.thread(0).result;
    };
    fillSchedTable(instance, this.memory, {
      wait32: (a, expected, timeout) => own(() => this.wait(a, false, expected, timeout)),
      wait64: (a, expected, timeout) => own(() => this.wait(a, true, expected, timeout)),
      notify: (a, count) => own(() => { this.scheduler.thread(0).result = this.scheduler.notify(a, count); }),
      yield: () => { own(() => { this.scheduler.thread(0).result = 0; }); },
    });
  }

  /** Ends every other thread (the process is over). */
  close(): void {
    for (const port of this.ports.values()) port.close();
    this.ports.clear();
    if (this.supervisor) { // its thread workers end with it
      this.supervisor.port.close();
      void this.supervisor.worker.terminate();
      this.supervisor = undefined;
    }
  }

  /** After a call of thread 0's: the next thread runs; thread 0 serves until the turn is back. */
  private turnOver(): void {
    this.passTurn();
    while (this.scheduler.current !== 0) {
      const t = this.scheduler.thread(this.scheduler.current);
      const slot = this.channel.takeRequest(t.slot, t.tid);
      if (slot === lostSlot) throw this.lost(t.tid);
      this.serve(slot);
    }
    this.refill();
  }

  private passTurn(): void {
    const next = this.scheduler.switchTurn(); // DeadlockError unwinds thread 0: the process ends
    if (next.tid !== 0) this.channel.grant(next.slot, next.result, this.scheduler.runsAlone());
  }

  /** Executes the call of the thread holding the turn (in `slot`), then passes the turn. */
  private serve(slot: number): void {
    const t = this.scheduler.thread(this.scheduler.current);
    assert(t.slot === slot, `a request from slot ${slot} while thread ${t.tid} (slot ${t.slot}) holds the turn`);
    const req = this.channel.request();
    switch (req.kind) {
      case Req.syscall: t.result = this.syscall(req); break;
      case Req.spawn: t.result = this.spawn(Number(req.args[0])); break;
      case Req.wait32: this.wait(Number(req.args[0]), false, Number(req.args[1]), req.args[2]!); break;
      case Req.wait64: this.wait(Number(req.args[0]), true, req.args[1]!, req.args[2]!); break;
      case Req.notify: t.result = this.scheduler.notify(Number(req.args[0]), Number(req.args[1])); break;
      case Req.yield: t.result = 0; break;
      case Req.exit: this.ended(t); break;
      case Req.failed: throw this.failure(t.tid);
      default: assert(false, `unknown request kind ${req.kind}`);
    }
    this.passTurn();
  }

  private syscall(req: Request): number {
    const entry = syscallTable[req.call];
    assert(entry !== undefined, `syscall id ${req.call}`);
    const [name, params] = entry;
    const fn = this.syscalls[name];
    assert(fn !== undefined, `the kernel provides ${name}`);
    const args: (number | bigint)[] = [];
    // A shorter form (a WasmEdge V1 socket call) has fewer arguments than the table lists.
    for (let i = 0; i < req.argc; i++) args.push(params[i] === 'I' ? req.args[i]! : Number(req.args[i]!));
    return fn(...args);
  }

  /** The current thread waits on `address` if it holds `expected`; else its result is not-equal. */
  private wait(address: number, wide: boolean, expected: number | bigint, timeoutNs: bigint): void {
    const t = this.scheduler.thread(this.scheduler.current);
    const actual = wide ? Atomics.load(new BigInt64Array(this.memory.buffer), address / 8) : Atomics.load(new Int32Array(this.memory.buffer), address / 4);
    if (actual !== expected) { t.result = WaitResult.notEqual; return; }
    this.scheduler.wait(address, wide, timeoutNs);
  }

  /**
   * A new thread, its worker started by the supervisor; -EAGAIN past --max-threads or when the
   * worker could not be started (it failed before it was online). Thread 0 waits for the answer,
   * so the new thread exists, or not, before the guest's next instruction.
   */
  private spawn(arg: number): number {
    const got = this.scheduler.spawn();
    if ('errno' in got) return -got.errno;
    this.channel.resetSlot(got.slot);
    const { port1, port2 } = new MessageChannel();
    const req: SpawnRequest = { module: this.options.module, memory: this.memory, channel: this.channel.buffer, tid: got.tid, slot: got.slot, arg, port: port2 };
    this.channel.clearSpawnAck();
    this.supervised().port.postMessage(req, [port2]);
    const ack = this.channel.awaitSpawnAck(spawnAnswerMs);
    assert(ack !== SpawnAck.pending, `the thread supervisor did not answer thread ${got.tid}'s spawn in ${spawnAnswerMs / 1000} s`);
    if (ack === SpawnAck.failed) {
      port1.close();
      this.scheduler.exit(got.tid); // never ran; its tid is not reused
      return -eagain;
    }
    this.ports.set(got.tid, port1);
    return got.tid;
  }

  /** The supervisor, started at the first spawn (a process without threads never pays for it). */
  private supervised(): { worker: Worker; port: MessagePort } {
    if (this.supervisor) return this.supervisor;
    const { port1, port2 } = new MessageChannel();
    const workerData: SupervisorData = { port: port2, channel: this.channel.buffer, threadWorkerUrl: threadWorkerUrl.href, stackMb: this.options.stackMb };
    const worker = new Worker(supervisorUrl, { workerData, transferList: [port2] });
    // Thread 0 cannot take the supervisor's events while it serves; a failure of its own shows as a spawn it never answers.
    worker.on('error', () => {});
    worker.unref();
    port1.unref();
    this.supervisor = { worker, port: port1 };
    return this.supervisor;
  }

  /** The thread holding the turn lost its worker (the supervisor said why on its port): the process ends. */
  private lost(tid: number): ThreadLost {
    const port = this.supervisor?.port;
    assert(port !== undefined, `thread ${tid} lost its worker, yet no supervisor started it`);
    // At most one message per lost thread, and the first lost thread ends the process: a bounded drain.
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
      const w = m.message as LostWorker;
      if (w.tid === tid) return new ThreadLost(tid, w.reason);
    }
    return new ThreadLost(tid, 'without a reason');
  }

  private ended(t: GuestThread): void {
    this.scheduler.exit(t.tid);
    this.ports.get(t.tid)?.close();
    this.ports.delete(t.tid);
  }

  /** What the thread's worker said before it posted Req.failed: a trap ends the process as the guest's; anything else is our bug. */
  private failure(tid: number): Error {
    const port = this.ports.get(tid);
    assert(port !== undefined, `thread ${tid} has a failure port`);
    const failure = receiveMessageOnPort(port)?.message as ThreadFailure | undefined;
    if (failure?.kind === 'trap') return new ThreadTrap(tid, failure.trap, failure.fuel);
    return new Error(`guest thread ${tid} failed: ${failure?.kind === 'internal' ? failure.stack || failure.message : 'without saying why'}`);
  }
}

/** The shared memory the module imports, its limits from the threads pass's custom section, capped by --max-memory. */
function sharedMemory(module: WebAssembly.Module, maxMemoryBytes: number | undefined): WebAssembly.Memory {
  const section = WebAssembly.Module.customSections(module, threadsSectionName)[0];
  assert(section !== undefined, `a threaded module carries its ${threadsSectionName} section`);
  const bytes = new Uint8Array(section);
  const [initial, next] = readLeb(bytes, 0);
  const [declared] = readLeb(bytes, next);
  const maximum = maxMemoryBytes === undefined ? declared : Math.max(initial, Math.min(declared, Math.floor(maxMemoryBytes / wasmPageBytes)));
  return new WebAssembly.Memory({ initial, maximum, shared: true });
}

export { DeadlockError };
