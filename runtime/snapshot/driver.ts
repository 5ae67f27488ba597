// Taking and restoring snapshots inside a replay's worker, with the snapshot copy of the module
// (abi.ts; built by replayer/instrument.ts: binaryen's asyncify restricted to the functions that
// can reach a WASI import, every mutable global exported, an instruction clock).
//
// A snapshot is taken when the guest makes call E, before the call runs: the globals and memory
// are copied, the kernel and the replay session saved, then the import starts an asyncify unwind
// (the guest's call stack is written into linear memory as data) and `_start` returns; the stack
// data is copied out, the memory it used put back, and a rewind re-enters `_start`, which
// rebuilds the stack and calls the same import again: now the call runs. Restoring is the second
// half in a fresh instance: memory, stack data, kernel and session are put in place, then the
// rewind. V8 cannot capture a running wasm stack; asyncify makes the module do it itself.
import { createHash } from 'node:crypto';
import { memoryPageBytes } from '../../formats/index.js';
import type { Kernel } from '../kernel.js';
import type { NetStack } from '../net/stack.js';
import type { FaultInjector } from '../trace/faults.js';
import { clockExport, globalExportPrefix, SnapshotRequest, stopExport, stopImport } from './abi.js';
import { captureKernel, restoreKernel } from './kernel-state.js';

/** Where a snapshot's replay session stood (formats' EventCursor position and the checks so far). */
export type SessionState = Record<string, unknown>;

/** One snapshot as the index keeps it (structured-cloneable). */
export interface SnapshotState {
  /** The guest resumes by making call `event` (events before it are done). */
  event: number;
  /** The instruction clock there. */
  clock: bigint;
  memoryBytes: number;
  /** SHA-256 (hex) of each 64 KiB page of memory, in order. */
  pages: string[];
  /** The module's mutable globals, by index among them. */
  globals: (number | bigint)[];
  /** asyncify's data: the guest's call stack. */
  stack: Uint8Array;
  kernel: Uint8Array;
  session: SessionState;
  stdoutBytes: number;
  stderrBytes: number;
  /** Taken inside a blocked call (a replica's machine asked): the call runs again, resumed. */
  midCall?: boolean;
}

/** A snapshot just taken, with the pages the receiver has not been sent before. */
export interface TakenSnapshot extends SnapshotState { newPages: { hash: string; bytes: Uint8Array }[] }

/** What a replay resumes from: the snapshot, its memory, and the output before it (to rebuild output hashes). */
export interface ResumePoint { state: SnapshotState; memory: Uint8Array; stdout: Uint8Array; stderr: Uint8Array }

/** A snapshot's linear memory, its pages put together (`page`: a page's bytes by hash). */
export function snapshotMemory(state: Pick<SnapshotState, 'memoryBytes' | 'pages'>, page: (hash: string) => Uint8Array): Uint8Array {
  const memory = new Uint8Array(state.memoryBytes);
  state.pages.forEach((hash, i) => memory.set(page(hash), i * memoryPageBytes));
  return memory;
}

/** The replay session's side of snapshots. */
export interface SnapshotSession {
  /** Index of the next call the guest will make. */
  readonly nextEvent: number;
  readonly faults: FaultInjector;
  saveState(): SessionState;
  outputBytes(stream: 1 | 2): number;
  /** Called when the instruction clock reaches its stop value, with the number of the hook that reached it (sites.ts). */
  clockStopped(hook: number): void;
  /** The next call runs again after a snapshot taken inside it: it was entered (and traced) already. */
  resumeCall?(): void;
}

export interface SnapshotPlan {
  /** Take a snapshot at every call whose index is a positive multiple of this. */
  every?: number;
  /**
   * Send, with each snapshot, only the pages that differ from this process's previous snapshot
   * (the receiver keeps the pages its latest snapshots name); default: every page not sent before.
   */
  sinceLast?: boolean;
  /** Resume from here instead of the start. */
  resume?: ResumePoint;
}

/** asyncify's state values (binaryen's src/passes/Asyncify.cpp). */
const enum AsyncifyState { normal = 0, unwinding = 1, rewinding = 2 }

/** The asyncify data structure at address 0 while it is in use: {i32 current, i32 end}, then data. */
const dataHeaderBytes = 8;
/** A memory smaller than this (a module with no memory to speak of) is never snapshotted. */
const minSnapshotMemoryBytes = 4096;
/** Where the stack data may end: the end of memory, as an i32 (asyncify's pointers are i32). */
const dataEnd = (memoryBytes: number): number => Math.min(memoryBytes, 2 ** 31 - 1);

interface AsyncifyExports {
  asyncify_start_unwind(addr: number): void;
  asyncify_stop_unwind(): void;
  asyncify_start_rewind(addr: number): void;
  asyncify_stop_rewind(): void;
  asyncify_get_state(): number;
}

/** The instruction clock of a snapshot copy of a module. */
export interface InstructionClock {
  now(): bigint;
  /** Call the session's clockStopped when the clock reaches `at` (-1n: never). */
  stopAt(at: bigint): void;
}

export class SnapshotDriver {
  private exports: AsyncifyExports | undefined;
  private memory: WebAssembly.Memory | undefined;
  private kernel: Kernel | undefined;
  /** The kernel's network stack: its `resuming` flag marks a call run again after a snapshot inside it. */
  private net: NetStack | undefined;
  private session: SnapshotSession | undefined;
  private globals: WebAssembly.Global[] = [];
  private clockGlobal: WebAssembly.Global | undefined;
  private stopGlobal: WebAssembly.Global | undefined;
  /** The call at which the last snapshot was taken or restored (not taken again on its rewind). */
  private lastAt = -1;
  /** While rewinding: the bytes the stack data overwrote, and the globals to set once it is done. */
  private rewind: { saved: Uint8Array; globals: (number | bigint)[]; clock: bigint; midCall?: boolean } | undefined;
  private readonly sentPages = new Set<string>();

  constructor(private readonly plan: SnapshotPlan, private readonly post: (snapshot: TakenSnapshot) => void) {}

  /** The imports with every WASI function wrapped (a snapshot point) and the clock's stop import added. */
  wrapImports(imports: WebAssembly.Imports, wasiModule: string): WebAssembly.Imports {
    const wasi = imports[wasiModule] as Record<string, (...args: never[]) => unknown>;
    const wrapped: WebAssembly.ModuleImports = {};
    for (const [name, fn] of Object.entries(wasi)) {
      const call = fn as (...args: unknown[]) => unknown;
      wrapped[name] = ((...args: unknown[]): unknown => {
        if (this.beforeCall()) return 0;
        try {
          const result = call(...args);
          this.callDone();
          return result;
        } catch (err) {
          // The machine asked for a snapshot while this call was blocked: take it here.
          if (err instanceof SnapshotRequest) return (this.take(this.session!.nextEvent - 1, true), 0);
          this.callDone();
          throw err;
        }
      }) as never;
    }
    return { ...imports, [wasiModule]: wrapped, [stopImport.module]: { [stopImport.name]: (hook: number) => this.session!.clockStopped(hook) } };
  }

  attach(instance: WebAssembly.Instance, memory: WebAssembly.Memory, kernel: Kernel, session: SnapshotSession): void {
    const exports = instance.exports;
    if (typeof exports.asyncify_start_unwind !== 'function') throw new Error('the module is not a snapshot copy (no asyncify exports)');
    this.exports = exports as unknown as AsyncifyExports;
    this.memory = memory;
    this.kernel = kernel;
    this.net = kernel.snapshotParts().net;
    this.session = session;
    this.globals = Object.entries(exports).filter(([name]) => name.startsWith(globalExportPrefix))
      .sort(([a], [b]) => Number(a.slice(globalExportPrefix.length)) - Number(b.slice(globalExportPrefix.length)))
      .map(([, g]) => g as WebAssembly.Global);
    this.clockGlobal = exports[clockExport] as WebAssembly.Global;
    this.stopGlobal = exports[stopExport] as WebAssembly.Global;
  }

  /** Whether the run resumes from a snapshot rather than starting. */
  get resuming(): boolean { return this.plan.resume !== undefined; }

  get clock(): InstructionClock {
    return { now: () => this.clockGlobal!.value as bigint, stopAt: (at) => { this.stopGlobal!.value = at; } };
  }

  /**
   * Runs `_start` to the end, taking snapshots as planned (each unwinds `_start`, which is then
   * re-entered to rewind), after restoring the resume point if there is one.
   */
  run(start: () => void): void {
    if (this.plan.resume) this.restore(this.plan.resume);
    for (;;) {
      start();
      if (this.exports!.asyncify_get_state() !== AsyncifyState.unwinding) return;
      this.exports!.asyncify_stop_unwind();
      this.finishUnwind();
      this.exports!.asyncify_start_rewind(0);
      this.rewinding = true;
    }
  }

  private rewinding = false;

  /** At every WASI call: finishes a rewind, or takes a snapshot (true: unwind now, do not run the call). */
  private beforeCall(): boolean {
    if (this.rewinding) {
      this.rewinding = false;
      this.exports!.asyncify_stop_rewind();
      const { saved, globals, clock } = this.rewind!;
      new Uint8Array(this.memory!.buffer).set(saved, 0);
      this.globals.forEach((g, i) => { g.value = globals[i]; });
      this.clockGlobal!.value = clock;
      if (this.rewind!.midCall) {
        // The call runs again from its start: it was traced already, and the kernel's blocking
        // calls resume where they were (NetStack.resuming) instead of doing again what they did.
        this.session!.resumeCall?.();
        this.net!.resuming = true;
      }
      this.rewind = undefined;
      return false;
    }
    const event = this.session!.nextEvent;
    const every = this.plan.every;
    if (!every || event === 0 || event % every !== 0 || event === this.lastAt) return false;
    // The stack data needs room at address 0 (put back afterwards); a memory too small for any is not snapshotted.
    if (this.memory!.buffer.byteLength < minSnapshotMemoryBytes) return false;
    this.lastAt = event;
    this.take(event);
    return true;
  }

  /** Saves everything but the stack, then starts the unwind that writes the stack at address 0. */
  private take(event: number, midCall = false): void {
    const memory = new Uint8Array(this.memory!.buffer);
    const copy = memory.slice();
    const globals = this.globals.map((g) => g.value as number | bigint);
    const clock = this.clockGlobal!.value as bigint;
    const pages: string[] = [];
    const newPages: { hash: string; bytes: Uint8Array }[] = [];
    for (let at = 0; at < copy.length; at += memoryPageBytes) {
      const bytes = copy.subarray(at, at + memoryPageBytes);
      const hash = createHash('sha256').update(bytes).digest('hex');
      pages.push(hash);
      if (!this.sentPages.has(hash)) {
        this.sentPages.add(hash);
        newPages.push({ hash, bytes: bytes.slice() });
      }
    }
    if (this.plan.sinceLast) {
      this.sentPages.clear();
      for (const hash of pages) this.sentPages.add(hash);
    }
    const session = this.session!;
    const snapshot: Omit<TakenSnapshot, 'stack'> = {
      event, clock, memoryBytes: copy.length, pages, globals, kernel: captureKernel(this.kernel!, session.faults), session: session.saveState(),
      stdoutBytes: session.outputBytes(1), stderrBytes: session.outputBytes(2), newPages, ...(midCall ? { midCall } : {}),
    };
    this.pending = { snapshot, copy, globals, clock, midCall };
    const view = new DataView(memory.buffer);
    view.setInt32(0, dataHeaderBytes, true);
    view.setInt32(4, dataEnd(memory.length), true);
    this.exports!.asyncify_start_unwind(0);
  }

  private pending: { snapshot: Omit<TakenSnapshot, 'stack'>; copy: Uint8Array; globals: (number | bigint)[]; clock: bigint; midCall: boolean } | undefined;

  /** After the unwind: the stack data out, memory as it was, the snapshot posted; the rewind reads the data in place. */
  private finishUnwind(): void {
    const { snapshot, copy, globals, clock, midCall } = this.pending!;
    this.pending = undefined;
    const memory = new Uint8Array(this.memory!.buffer);
    const end = new DataView(memory.buffer).getInt32(0, true);
    const stack = memory.slice(dataHeaderBytes, end);
    this.post({ ...snapshot, stack });
    this.rewind = { saved: copy.subarray(0, end), globals, clock, midCall };
  }

  /** A call ran to its end (or failed): a resumed one is over. */
  private callDone(): void {
    if (this.net?.resuming) this.net.resuming = false;
  }

  /** Puts a snapshot in place in this fresh instance and arms the rewind into its stack. */
  private restore({ state, memory: bytes }: ResumePoint): void {
    const memory = this.memory!;
    const grow = (state.memoryBytes - memory.buffer.byteLength) / memoryPageBytes;
    if (grow > 0) memory.grow(grow);
    const live = new Uint8Array(memory.buffer);
    if (live.length !== state.memoryBytes || bytes.length !== state.memoryBytes) throw new Error(`snapshot memory is ${state.memoryBytes} bytes, this instance's ${live.length}`);
    live.set(bytes);
    restoreKernel(state.kernel, this.kernel!, this.session!.faults);
    const end = dataHeaderBytes + state.stack.length;
    const view = new DataView(live.buffer);
    view.setInt32(0, end, true);
    view.setInt32(4, dataEnd(live.length), true);
    live.set(state.stack, dataHeaderBytes);
    this.rewind = { saved: bytes.subarray(0, end), globals: state.globals, clock: state.clock, ...(state.midCall ? { midCall: true } : {}) };
    this.lastAt = state.event;
    this.exports!.asyncify_start_rewind(0);
    this.rewinding = true;
  }
}
