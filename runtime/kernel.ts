import { fingerprint, fingerprintSeed, mixArgument, syscallId, syscallTable } from '../formats/index.js';
import { RealClock, VirtualClock, type GuestClock } from './clock.js';
import type { ProcessConfig } from './config.js';
import { StagedWrite, type KernelContext, type SyscallTable } from './context.js';
import type { HostEffects } from './effects/types.js';
import { errnoOf } from './errno.js';
import { FdTable } from './fdtable.js';
import { Filesystem, fsSyscalls, mountSnapshot, writeBackOps, type DirectoryHandle } from './fs/index.js';
import type { TreeNode } from './fs/tree.js';
import { wasiModuleName } from './link-check.js';
import { GuestMemory } from './memory.js';
import { HostRandom, SeededRandom, type RandomSource } from './prng.js';
import { OutputHandle, StdinHandle } from './stdio.js';
import { fdSyscalls, untracedWrite } from './wasi/fd.js';
import { pollSyscalls } from './wasi/poll.js';
import { processSyscalls } from './wasi/process.js';
import { socketSyscalls } from './wasi/sock.js';
import { NetStack } from './net/stack.js';
import { netSyscalls } from './net/syscalls.js';
import { isSnapshotExport } from './snapshot/abi.js';
import { digestMemory, globalsText, LastDigest, PageHasher, sha256 } from './trace/digest.js';
import type { ShimHost } from './worker/recording-shim.js';
import { unreadParameters } from './wasm-shim.js';
import type { ReplayShimHost } from './trace/replay-shim.js';

export { wasiModuleName };

/**
 * One guest process's deterministic kernel: its clock, PRNG, fd table and filesystem, and the
 * wasi_snapshot_preview1 imports over them. Owns all of its state; instances share nothing.
 */
export class Kernel implements KernelContext {
  readonly fds: FdTable;
  readonly clock: GuestClock;
  readonly random: RandomSource;
  /** Always virtual: file timestamps come from it, even under `--clock real`. */
  readonly virtualClock: VirtualClock;
  readonly fs: Filesystem;
  readonly net: NetStack;
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly hosts: readonly (readonly [string, string])[];
  readonly staged = new StagedWrite();
  /** fd_write of bytes where they are, for a run without a tracer (see untracedWrite in wasi/fd.ts): the count, or the errno negated. */
  readonly untracedWrite: (fd: number, source: Uint8Array, at: number, length: number) => number;
  private guestMemory: GuestMemory | undefined;
  private wasmMemory: WebAssembly.Memory | undefined;
  private globals: [string, WebAssembly.Global][] = [];
  private readonly mounts: { hostPath: string; root: DirectoryHandle; snapshot: TreeNode }[] = [];
  private readonly syscalls: SyscallTable;
  /** Checkpoints hash only the pages that changed since the last (record and replay alike). */
  private readonly pageHasher = new PageHasher();
  /** smallDigests' last hashes, kept with what they hashed. */
  private readonly lastDigests = { globals: new LastDigest(), fds: new LastDigest(), fs: new LastDigest() };

  private readonly stdout: OutputHandle;
  private readonly stderr: OutputHandle;

  /** `outputEffects`: what stdout and stderr write through (GuestSession.watchesOutput), `effects` by default. */
  constructor(readonly config: ProcessConfig, readonly effects: HostEffects, outputEffects: HostEffects = effects) {
    this.args = config.args;
    this.env = config.env;
    this.hosts = config.hosts ?? [];
    this.virtualClock = new VirtualClock(config.epochNs);
    this.clock = config.clock === 'real' ? new RealClock(effects, this.virtualClock) : this.virtualClock;
    this.random = config.random === 'os' ? new HostRandom(effects) : new SeededRandom(config.seed);
    this.fds = new FdTable(config.maxOpenFds);
    this.fs = new Filesystem(this.virtualClock, config.snapshotLimits);
    this.net = new NetStack(config.pid, effects, this.clock, config.sendBufferBytes);
    this.fds.allocate(config.stdin === 'machine' ? this.net.stdin : new StdinHandle(effects));
    this.stdout = new OutputHandle(outputEffects, 1);
    this.stderr = new OutputHandle(outputEffects, 2);
    this.fds.allocate(this.stdout);
    this.fds.allocate(this.stderr);
    for (const { hostPath, guestPath } of config.preopens) {
      const snapshot = effects.loadTree(hostPath, config.snapshotLimits);
      const root = mountSnapshot(this.fs, guestPath, snapshot);
      this.fds.allocate(root);
      this.mounts.push({ hostPath, root, snapshot });
    }
    this.untracedWrite = untracedWrite(this);
    this.syscalls = {
      ...processSyscalls(this), ...fdSyscalls(this), ...fsSyscalls(this, this.fs),
      ...pollSyscalls(this), ...socketSyscalls(this), ...netSyscalls(this, this.net),
    };
  }

  get memory(): GuestMemory {
    if (!this.guestMemory) throw new Error('guest memory is not attached yet');
    return this.guestMemory;
  }

  /** Names of the imports this kernel provides. */
  get provides(): ReadonlySet<string> {
    return new Set(Object.keys(this.syscalls));
  }

  /** The wasi_snapshot_preview1 import object; with a tracer, every call is reported to it. */
  imports(tracer?: SyscallTracer): WebAssembly.Imports {
    const table: Record<string, (...args: never[]) => number> = {};
    for (const [name, fn] of Object.entries(this.syscalls)) {
      table[name] = tracer?.columns ? columnBoundary(name, fn, tracer.columns, tracer) : tracer ? tracedBoundary(name, fn, tracer) : errnoBoundary(name, fn);
    }
    return { [wasiModuleName]: table };
  }

  /**
   * The plain imports a per-call shim calls (runtime/wasm-shim.ts): `imports()`'s, but a call with
   * parameters the kernel never reads (unreadParameters) takes the call without them.
   */
  shimImports(): Record<string, (...args: never[]) => number> {
    const table = this.imports()[wasiModuleName] as Record<string, (...args: never[]) => number>;
    for (const [name, unread] of Object.entries(unreadParameters)) {
      const fn = this.syscalls[name];
      if (fn) table[name] = withoutUnread(name, fn, unread);
    }
    return table;
  }

  attachMemory(memory: WebAssembly.Memory): void {
    this.guestMemory = new GuestMemory(memory);
    this.wasmMemory = memory;
  }

  /** The memory state hashes read, when it is not the one syscalls use (a component's: see runtime/p2). */
  hashMemory(memory: WebAssembly.Memory): void {
    this.wasmMemory = memory;
  }

  /** Exported globals become part of state hashes (not those a snapshot copy of the module adds). */
  attachInstance(instance: WebAssembly.Instance): void {
    this.globals = Object.entries(instance.exports)
      .filter((e): e is [string, WebAssembly.Global] => e[1] instanceof WebAssembly.Global && !isSnapshotExport(e[0]))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The parts a snapshot saves and restores (runtime/snapshot/kernel-state.ts). */
  snapshotParts() {
    return {
      fds: this.fds, clock: this.clock, virtualClock: this.virtualClock, random: this.random, fs: this.fs, net: this.net,
      mounts: this.mounts, memory: this.guestMemory,
    };
  }

  /**
   * Hashes of the state, component by component. `pages` true: memory hashed page by page (with
   * the page hashes, as checkpoints record them today); false: as traces without page hashes did.
   */
  stateDigest(pages = true): { memory: Uint8Array; globals: Uint8Array; fds: Uint8Array; fs: Uint8Array; pages: Uint8Array | null } {
    return { ...this.memoryDigest(pages), ...this.smallDigests() };
  }

  /** The hashes of the state but memory: globals, fds, filesystem. */
  smallDigests(): { globals: Uint8Array; fds: Uint8Array; fs: Uint8Array } {
    const fdText = this.fds.digestText();
    // SHA-256 over the mounts' digests one after another (none: of nothing).
    const mounts = Buffer.concat(this.mounts.map(({ root }) => this.fs.digest(root.inode)));
    const globalText = globalsText(this.globals);
    const { globals, fds, fs } = this.lastDigests;
    return {
      globals: globals.of(globalText, () => sha256(globalText)),
      fds: fds.of(fdText, () => sha256(fdText)),
      fs: fs.of(mounts.toString('latin1'), () => sha256(mounts)),
    };
  }

  /** Bytes the guest has written to stdout (1) or stderr (2). */
  outputBytes(stream: 1 | 2): number {
    return (stream === 1 ? this.stdout : this.stderr).bytesWritten;
  }

  /** The memory state hashes cover (none yet: they hash it as 32 zero bytes). */
  get hashedMemory(): WebAssembly.Memory | undefined {
    return this.wasmMemory;
  }

  private memoryDigest(pages: boolean): { memory: Uint8Array; pages: Uint8Array | null } {
    if (!this.wasmMemory) return { memory: new Uint8Array(32), pages: pages ? new Uint8Array(0) : null };
    return pages ? this.pageHasher.digest(this.wasmMemory) : { memory: digestMemory(this.wasmMemory), pages: null };
  }

  /** At exit: write the in-memory filesystem back to the host if asked, flush output. */
  finish(): void {
    if (this.config.writeBack) {
      for (const { hostPath, root, snapshot } of this.mounts) this.effects.writeBack(hostPath, writeBackOps(this.fs, root, snapshot));
    }
    this.effects.flush();
  }
}

/**
 * The syscall boundary: a WasiError becomes its errno. Anything else (ProcessExit, or a bug in
 * RepliCode) keeps unwinding; the runner tells them apart. One function literal per arity, each
 * calling the syscall with exactly its parameters: closures of one literal share V8's feedback,
 * so a single 9-parameter literal saw every syscall at its call (a megamorphic call V8 does not
 * inline, ~54 ms of a 10M-event replay's guest thread behind the replay shim) and adapted the
 * guest's argument count on every call.
 */
function errnoBoundary(name: string, fn: (...args: never[]) => number | void) {
  type V = number | bigint;
  const call = fn as (...a: V[]) => number | void;
  // A guest's shorter form of a call (WasmEdge's sockets) passes fewer: the rest are undefined, as before.
  switch (syscallTable[syscallId(name)]![1].length) {
    case 0: return (): number => { try { return call() ?? 0; } catch (e) { return errnoOf(e); } };
    case 1: return (a: V): number => { try { return call(a) ?? 0; } catch (e) { return errnoOf(e); } };
    case 2: return (a: V, b: V): number => { try { return call(a, b) ?? 0; } catch (e) { return errnoOf(e); } };
    case 3: return (a: V, b: V, c: V): number => { try { return call(a, b, c) ?? 0; } catch (e) { return errnoOf(e); } };
    case 4: return (a: V, b: V, c: V, d: V): number => { try { return call(a, b, c, d) ?? 0; } catch (e) { return errnoOf(e); } };
    case 5: return (a: V, b: V, c: V, d: V, e: V): number => { try { return call(a, b, c, d, e) ?? 0; } catch (x) { return errnoOf(x); } };
    default: return (...args: V[]): number => { try { return call(...args) ?? 0; } catch (e) { return errnoOf(e); } };
  }
}

/**
 * errnoBoundary for a shim that leaves out parameters the kernel never reads (unreadParameters):
 * they reach the syscall as 0 (0n for an i64). One literal per shape, as errnoBoundary's; the one
 * there is: the second of three (clock_time_get's precision).
 */
function withoutUnread(name: string, fn: (...args: never[]) => number | void, unread: readonly number[]): (...args: never[]) => number {
  type V = number | bigint;
  const call = fn as (...a: V[]) => number | void;
  const params = syscallTable[syscallId(name)]![1];
  if (params.length !== 3 || unread.length !== 1 || unread[0] !== 1) throw new Error(`RepliCode bug: no shim boundary without parameters ${unread.join(', ')} of ${name}`);
  const zero = params[1] === 'I' ? 0n : 0;
  return (a: V, c: V): number => { try { return call(a, zero, c) ?? 0; } catch (e) { return errnoOf(e); } };
}

/**
 * Told of every syscall, in order (record and replay). `enter` gets the call's id in the trace
 * format's table, the fingerprint of its value arguments and the raw arguments; `exit` its errno.
 * Either may throw to stop the guest (a replay divergence, a trace limit).
 */
export interface SyscallTracer {
  /** Whether `enter` reads `args` (replay does, to describe a mismatch); if not, they are not copied. */
  readonly wantsArguments: boolean;
  enter(id: number, fingerprint: number, args: ArrayLike<number | bigint>): void;
  exit(errno: number): void;
  /**
   * The event columns the boundary writes each call into (a recording without faults to inject)
   * or checks it against (a replay), when it is to do that itself: see CallColumns.
   */
  readonly columns?: CallColumns;
}

/**
 * Where the boundary writes every call (a recording) or checks it (a replay), with as little
 * between the guest and the kernel as can be (the per-event cost of both is mostly this path:
 * see docs/design.md). `enter` takes a call's id and fingerprint and returns its slot, or -1
 * when this call is to go the tracer's way instead (a replay's check that needs more than the
 * columns: a mismatch to describe, a new batch, a stop or hash asked for): then the tracer's
 * `enter` and `exit` are called, with the arguments. `exit` gets the errno of the call in a
 * slot, which completes its event. Either may throw to stop the guest (a trace limit, a
 * divergence).
 */
export interface CallColumns {
  enter(id: number, fingerprint: number): number;
  exit(slot: number, errno: number): void;
  /**
   * A recording's columns in memory a generated wasm module can write (runtime/worker/recording-shim.ts):
   * what it needs to take enter and exit over from the boundary (undefined: it cannot).
   */
  wasmShim?(): (ShimHost & { engage(): void; disengage(): void }) | undefined;
  /**
   * A replay's columns checked by a generated wasm module (runtime/trace/replay-shim.ts): what it
   * needs to take the fast path over (undefined: it cannot). `tracer`: the tracer without columns,
   * for the calls it does not take.
   */
  replayShim?(): (ReplayShimHost & { tracer: SyscallTracer; engage(): void; disengage(): void }) | undefined;
}

/**
 * mixArgument (formats/syscalls.ts), the same value, faster on the recording path. One shared
 * function seeing both numbers and BigInts made the traced boundary cost ~30 ns per event of
 * syscall_heavy over a plain one (guest thread, CPU time; ~13 ns with this); here an i32 (a number) is
 * folded in place and an i64 (a BigInt) goes to a method of its own, which also remembers the
 * last one it converted (a call's precision, say, is the same every time).
 */
class ArgumentFolder {
  private lastBig = 0n;
  private lastNumber = 0;

  fold(h: number, kind: number, v: number | bigint): number {
    if (typeof v === 'number') return kind === 0x70 /* p */ ? h : Math.imul(h ^ (v | 0), 0x01000193);
    return kind === 0x70 ? h : this.foldBig(h, v);
  }

  private foldBig(h: number, v: bigint): number {
    if (v !== this.lastBig) {
      this.lastBig = v;
      this.lastNumber = Number(v);
    }
    const n = this.lastNumber; // as mixArgument: values past 2^53 lose low bits
    h = Math.imul(h ^ (n | 0), 0x01000193);
    return Math.imul(h ^ ((n / 4294967296) | 0), 0x01000193);
  }
}

/** FNV-1a's prime (fingerprints, formats/syscalls.ts). */
const fnvPrime = 0x01000193;

/**
 * mixArgument's step for an i64 argument, remembering the last value it converted (BigInt
 * conversions are slow; a call's precision, say, is the same every time).
 */
class BigFolder {
  private last = 0n;
  private low = 0;
  private high = 0;

  fold(h: number, v: bigint): number {
    if (v !== this.last) this.convert(v);
    return Math.imul(Math.imul(h ^ this.low, fnvPrime) ^ this.high, fnvPrime);
  }

  private convert(v: bigint): void {
    this.last = v;
    const n = Number(v); // as mixArgument: values past 2^53 lose low bits
    this.low = n | 0;
    this.high = (n / 4294967296) | 0;
  }
}

/**
 * The boundary of a recording or a replay: each call goes straight into (or is checked against)
 * the columns, its fingerprint folded here (mixArgument's steps, written out) rather than in
 * helpers. V8 inlines a call's whole path into this closure only within a budget of bytecode,
 * which the kernel's own path mostly uses: every helper here that pushed it past cost several ns
 * per event (see docs/design.md), while the closure's own code is free. A call the columns turn
 * away (slot -1: only a replay's do) goes the tracer's way, as tracedBoundary takes it.
 */
function columnBoundary(name: string, fn: (...args: never[]) => number | void, columns: CallColumns, tracer: SyscallTracer) {
  const id = syscallId(name);
  const params = syscallTable[id]![1];
  type V = number | bigint;
  const call = fn as (...a: V[]) => number | void;
  const seed = fingerprintSeed(id);
  // Whether each of the first four parameters is a value (pointers are not fingerprinted).
  const [p0, p1, p2, p3] = [0, 1, 2, 3].map((i) => i < params.length && params[i] !== 'p');
  const big = new BigFolder();
  const args: V[] = new Array<V>(params.length).fill(0); // for the rare call of more than four parameters
  // A call the columns turn away, as a tracer without columns would take it (its fingerprint folded again).
  const traced = tracedBoundary(name, fn, tracer) as (...a: V[]) => number;
  switch (params.length) {
    case 0: return () => {
      const slot = columns.enter(id, seed >>> 0);
      if (slot < 0) return traced();
      let errno: number;
      try { errno = call() ?? 0; } catch (e) { errno = errnoOf(e); }
      columns.exit(slot, errno);
      return errno;
    };
    case 1: return (a: V) => {
      let h = seed;
      if (p0) h = typeof a === 'number' ? Math.imul(h ^ a, fnvPrime) : big.fold(h, a);
      const slot = columns.enter(id, h >>> 0);
      if (slot < 0) return traced(a);
      let errno: number;
      try { errno = call(a) ?? 0; } catch (e) { errno = errnoOf(e); }
      columns.exit(slot, errno);
      return errno;
    };
    case 2: return (a: V, b: V) => {
      let h = seed;
      if (p0) h = typeof a === 'number' ? Math.imul(h ^ a, fnvPrime) : big.fold(h, a);
      if (p1) h = typeof b === 'number' ? Math.imul(h ^ b, fnvPrime) : big.fold(h, b);
      const slot = columns.enter(id, h >>> 0);
      if (slot < 0) return traced(a, b);
      let errno: number;
      try { errno = call(a, b) ?? 0; } catch (e) { errno = errnoOf(e); }
      columns.exit(slot, errno);
      return errno;
    };
    case 3: return (a: V, b: V, c: V) => {
      let h = seed;
      if (p0) h = typeof a === 'number' ? Math.imul(h ^ a, fnvPrime) : big.fold(h, a);
      if (p1) h = typeof b === 'number' ? Math.imul(h ^ b, fnvPrime) : big.fold(h, b);
      if (p2) h = typeof c === 'number' ? Math.imul(h ^ c, fnvPrime) : big.fold(h, c);
      const slot = columns.enter(id, h >>> 0);
      if (slot < 0) return traced(a, b, c);
      let errno: number;
      try { errno = call(a, b, c) ?? 0; } catch (e) { errno = errnoOf(e); }
      columns.exit(slot, errno);
      return errno;
    };
    case 4: return (a: V, b: V, c: V, d: V) => {
      let h = seed;
      if (p0) h = typeof a === 'number' ? Math.imul(h ^ a, fnvPrime) : big.fold(h, a);
      if (p1) h = typeof b === 'number' ? Math.imul(h ^ b, fnvPrime) : big.fold(h, b);
      if (p2) h = typeof c === 'number' ? Math.imul(h ^ c, fnvPrime) : big.fold(h, c);
      if (p3) h = typeof d === 'number' ? Math.imul(h ^ d, fnvPrime) : big.fold(h, d);
      const slot = columns.enter(id, h >>> 0);
      if (slot < 0) return traced(a, b, c, d);
      let errno: number;
      try { errno = call(a, b, c, d) ?? 0; } catch (e) { errno = errnoOf(e); }
      columns.exit(slot, errno);
      return errno;
    };
    default: return (...rest: V[]) => {
      for (let i = 0; i < args.length; i++) args[i] = rest[i]!;
      const slot = columns.enter(id, fingerprint(id, params, args));
      if (slot < 0) return traced(...rest);
      let errno: number;
      try { errno = call(...args) ?? 0; } catch (e) { errno = errnoOf(e); }
      columns.exit(slot, errno);
      return errno;
    };
  }
}

function tracedBoundary(name: string, fn: (...args: never[]) => number | void, tracer: SyscallTracer) {
  const id = syscallId(name);
  const params = syscallTable[id]![1];
  type V = number | bigint;
  const call = fn as (...a: V[]) => number | void;
  // The raw arguments are kept (in one reused buffer) only for a tracer that reports them.
  const args: V[] = new Array<V>(params.length).fill(0);
  const keep = tracer.wantsArguments;
  const seed = fingerprintSeed(id);
  const [k0, k1, k2, k3] = [0, 1, 2, 3].map((i) => params.charCodeAt(i));
  const folder = new ArgumentFolder();
  const fold = (h: number, kind: number, v: number | bigint): number => folder.fold(h, kind, v);
  const after = (errno: number): number => { tracer.exit(errno); return errno; };
  const failed = (err: unknown): number => after(errnoOf(err));
  // Fixed-arity entry points calling the syscall directly: no rest parameters, no apply, and
  // the fingerprint folded in place.
  switch (params.length) {
    case 0: return () => {
      tracer.enter(id, seed >>> 0, args);
      try { return after(call() ?? 0); } catch (e) { return failed(e); }
    };
    case 1: return (a: V) => {
      if (keep) args[0] = a;
      tracer.enter(id, fold(seed, k0!, a) >>> 0, args);
      try { return after(call(a) ?? 0); } catch (e) { return failed(e); }
    };
    case 2: return (a: V, b: V) => {
      if (keep) { args[0] = a; args[1] = b; }
      tracer.enter(id, fold(fold(seed, k0!, a), k1!, b) >>> 0, args);
      try { return after(call(a, b) ?? 0); } catch (e) { return failed(e); }
    };
    case 3: return (a: V, b: V, c: V) => {
      if (keep) { args[0] = a; args[1] = b; args[2] = c; }
      tracer.enter(id, fold(fold(fold(seed, k0!, a), k1!, b), k2!, c) >>> 0, args);
      try { return after(call(a, b, c) ?? 0); } catch (e) { return failed(e); }
    };
    case 4: return (a: V, b: V, c: V, d: V) => {
      if (keep) { args[0] = a; args[1] = b; args[2] = c; args[3] = d; }
      tracer.enter(id, fold(fold(fold(fold(seed, k0!, a), k1!, b), k2!, c), k3!, d) >>> 0, args);
      try { return after(call(a, b, c, d) ?? 0); } catch (e) { return failed(e); }
    };
    default: return (...rest: V[]) => {
      for (let i = 0; i < args.length; i++) args[i] = rest[i]!;
      tracer.enter(id, fingerprint(id, params, args), args);
      try { return after(call(...args) ?? 0); } catch (e) { return failed(e); }
    };
  }
}
