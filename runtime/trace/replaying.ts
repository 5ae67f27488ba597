// `replicode replay`, inside the guest's thread: each syscall the guest makes must be the next
// event of the trace (same call, same value arguments, same result); host values come from the
// trace instead of the host; every checkpoint and the exit are verified. The first mismatch
// stops the guest with a Divergence that says where, what and with which stack.
import {
  describeValueArgs, StdinStatus, type CursorState, TraceFormatError, syscallName, syscallTable, type CallEvent, type CheckpointRecord, type EventCursor,
} from '../../formats/index.js';
import { createHash } from 'node:crypto';
import { Errno, errnoName } from '../errno.js';
import type { HostEffects, StdinRead } from '../effects/types.js';
import type { Kernel, SyscallTracer } from '../kernel.js';
import { wasmFrames, type WasmFrame } from '../trap.js';
import { replayPathForced } from '../effects/test-faults.js';
import { ReplayWindow, type ReplayShimHost } from './replay-shim.js';
import { chainHash, differingComponents, differingPages, OutputHasher, type PageRun, type StateDigest } from './digest.js';
import { GuestStop, type GuestEnd, type GuestSession, type SessionEnd } from './session.js';
import { FaultInjector } from './faults.js';
import { filterDelivery } from './recording.js';
import { clockFunctionName } from '../snapshot/abi.js';
import type { InstructionClock, SessionState, SnapshotSession } from '../snapshot/driver.js';

export interface ReplayOptions {
  checkpointEvery: number;
  /** Stop (successfully) when this many events have been replayed. */
  toEvent?: number;
  /** Do not pass guest output on. */
  quiet?: boolean;
  /** With `toEvent`: include a copy of linear memory in the stop snapshot. */
  captureMemory?: boolean;
  /**
   * The instruction clock (a snapshot copy of the module: see runtime/snapshot/): count function
   * entries and loop iterations once event `after` has returned (-1: from the start), and stop
   * at the `stopAt`-th with a snapshot (`continue`: note the stack and state there as `hookPoint`
   * and go on, so one replay gives both the hook's point and the count to `toEvent`; `every`: note
   * the stack and state at each of the first `every` hooks as `hookPoints`, and go on).
   */
  hooks?: { after: number; stopAt?: number; continue?: boolean; every?: number };
  /**
   * The state hash before every call from `from` to `to` (inclusive, as far as the replay gets),
   * in the stop snapshot's `hashes`: one replay instead of a probe per event.
   */
  stateHashes?: { from: number; to: number };
  /** Resume where a snapshot stood (the cursor given is already there): its session state and the output before it. */
  resume?: { state: SessionState; stdout: Uint8Array; stderr: Uint8Array };
  /**
   * Why the trace is not whole (cut short, or closed after the recording stopped early), if so:
   * running out of it is then not a divergence, and replay stops as soon as it holds no more.
   */
  cutShort?: TraceFormatError;
  /**
   * The trace is whole but its recording was stopped on purpose (the user, the size limit):
   * running out of it is where it was stopped, and if everything matched so far the replay ends
   * there as a match (a `stopped` outcome), neither a divergence nor an incomplete trace.
   */
  stopped?: boolean;
  /** Events completed so far, every replayProgressEveryEvents (a progress line; not part of what is verified). */
  onProgress?: (events: number) => void;
}

/** A replay reports how far it is (onProgress) every this many events. */
export const replayProgressEveryEvents = 1024;

export interface ReplayStats { events: number; checkpointsVerified: number }

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const describeCall = (id: number, args: ArrayLike<number | bigint>) =>
  `${syscallName(id)}(${describeValueArgs(syscallTable[id]?.[1] ?? '', args).join(', ')})`;
const describeRecorded = (e: CallEvent) => `${syscallName(e.id)} (argument fingerprint ${e.fingerprint.toString(16).padStart(8, '0')}) -> ${errnoName(e.result)}`;

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`RepliCode bug: replay: ${message}`);
}

/** What a snapshot keeps of a replay session (SessionState to the snapshot driver). */
interface SavedSession { event: number; chain: Uint8Array; verified: number; cursor: CursorState }

export class ReplaySession implements GuestSession, SnapshotSession {
  private event = -1;
  /** The recorded call in progress (or the last): its id and result (-1: none yet). */
  private callId = -1;
  private result = -1;
  /** From this event on, every call goes the tracer's way (faults to inject, threads, --to, state hashes): see columns. */
  private enterSlowFrom: number;
  /** The next event whose exit has more to do than compare the result (a checkpoint, progress, the clock's start): see columns. */
  private exitDueAt = 0;
  private kernel: Kernel | undefined;
  private chain: Uint8Array = new Uint8Array(32);
  private verified = -1;
  private readonly output = { 1: new OutputHasher(), 2: new OutputHasher() };

  constructor(private readonly cursor: EventCursor, private readonly options: ReplayOptions, readonly faults = new FaultInjector([])) {
    this.enterSlowFrom = faults.active ? 0 : Math.min(options.toEvent ?? Infinity, options.stateHashes?.from ?? Infinity);
    const resume = options.resume;
    if (resume) {
      const state = resume.state as unknown as SavedSession;
      this.event = state.event;
      this.chain = state.chain;
      this.verified = state.verified;
      this.output[1].add(resume.stdout);
      this.output[2].add(resume.stderr);
    }
  }

  get stats(): ReplayStats {
    this.sync();
    return { events: this.event + 1, checkpointsVerified: this.verified + 1 };
  }

  /** The instruction clock, when the module is a snapshot copy. */
  private clock: InstructionClock | undefined;
  /** The clock's value when counting began (hooks.after returned). */
  private clockBase: bigint | undefined;

  get nextEvent(): number {
    this.sync();
    return this.event + 1;
  }

  outputBytes(stream: 1 | 2): number { return this.output[stream].bytes; }

  /** Where this session stands, for a snapshot taken before call nextEvent. */
  saveState(): SessionState {
    this.sync();
    const state: SavedSession = { event: this.event, chain: this.chain.slice(), verified: this.verified, cursor: this.cursor.state() };
    return state as unknown as SessionState;
  }

  attachClock(clock: InstructionClock): void {
    this.clock = clock;
    if (this.options.hooks?.after === -1) this.startCounting();
  }

  private startCounting(): void {
    const hooks = this.options.hooks!;
    this.clockBase = this.clock!.now();
    if (hooks.every) this.clock!.stopAt(this.clockBase + 1n);
    else if (hooks.stopAt !== undefined) this.clock!.stopAt(this.clockBase + BigInt(hooks.stopAt));
  }

  /** With hooks.every: the stack and state at each hook, the first `every` of them. */
  private hookPoints: { hooks: number; stack: ReturnType<typeof wasmFrames>; stateHash: string }[] | undefined;

  /** Hooks passed since counting began. */
  private get hooks(): number { return this.clockBase === undefined ? 0 : Number(this.clock!.now() - this.clockBase); }

  clockStopped(hook: number): void {
    const every = this.options.hooks?.every;
    if (every) {
      // Every hook, up to `every` of them: the clock stops at the next one again.
      const points = (this.hookPoints ??= []);
      points.push({ hooks: this.hooks, stack: this.stack(hook), stateHash: this.stateHash().stateHash });
      if (points.length < every) this.clock!.stopAt(this.clock!.now() + 1n);
      return;
    }
    if (this.options.hooks?.continue) {
      this.hookPoint = { hooks: this.hooks, stack: this.stack(hook), stateHash: this.stateHash().stateHash };
      return;
    }
    this.stop(`stopped at function entry or loop iteration ${this.hooks} after event ${this.options.hooks?.after}`, hook);
  }

  /** Stops the guest here with a snapshot of its state (for --to and the instruction clock). */
  private stop(reason: string, hook?: number): never {
    this.sync();
    const { digest, stateHash } = this.stateHash();
    throw new GuestStop({
      kind: 'stopped', event: this.event + 1, reason,
      at: {
        memoryHash: hex(digest.memory), stateHash, stack: this.stack(hook),
        ...(this.options.captureMemory ? { memory: this.kernel!.memory.bytes(0, this.kernel!.memory.byteLength).slice() } : {}),
        ...(this.options.hooks ? { hooks: this.hooks } : {}),
        ...(this.hashes ? { hashes: this.hashes } : {}),
        ...(this.hookPoint ? { hookPoint: this.hookPoint } : {}),
        ...(this.hookPoints ? { hookPoints: this.hookPoints } : {}),
      },
    });
  }

  /** The guest's wasm stack here, without the snapshot copy's clock function; at a hook, its innermost frame carries the hook's number. */
  private stack(hook?: number) {
    const frames = this.guestStack().filter((f) => f.name !== clockFunctionName);
    if (hook !== undefined && frames[0]) frames[0] = { ...frames[0], hookId: hook };
    return frames;
  }

  /** The state as the divergence tools compare it: memory (whole, not by page), globals, fds, files, output. */
  private stateHash() {
    const digest = this.kernel!.stateDigest(false);
    const all = createHash('sha256');
    for (const part of [digest.memory, digest.globals, digest.fds, digest.fs, this.output[1].digest(), this.output[2].digest()]) all.update(part);
    return { digest, stateHash: all.digest('hex') };
  }

  /** With options.stateHashes: the state hash before each call from `from` on. */
  private hashes: string[] | undefined;
  /** With options.hooks.continue: the stack and state at hook stopAt, the replay going on to toEvent. */
  private hookPoint: { hooks: number; stack: ReturnType<typeof wasmFrames>; stateHash: string } | undefined;

  readonly tracer = {
    wantsArguments: true,
    enter: (id: number, fingerprint: number, args: ArrayLike<number | bigint>): void => {
      this.sync();
      if (this.shim) this.inShimCallback = true;
      const wanted = this.options.stateHashes;
      if (wanted && this.event + 1 >= wanted.from && this.event + 1 <= wanted.to) (this.hashes ??= []).push(this.stateHash().stateHash);
      if (this.options.toEvent !== undefined && this.event + 1 >= this.options.toEvent) this.stop(`stopped at event ${this.event + 1} as asked (--to)`);
      this.event++;
      const recorded = this.cursor.nextCall();
      if (!recorded) {
        this.checkTruncated(this.event);
        this.diverge('the guest made a call after the recording ended', null, describeCall(id, args));
      }
      const thread = this.thread();
      if (recorded.thread !== thread) this.diverge('a different thread made the call', `thread ${recorded.thread}: ${describeRecorded(recorded)}`, `thread ${thread}: ${describeCall(id, args)}`);
      if (recorded.id !== id) this.diverge('the guest made a different call', describeRecorded(recorded), describeCall(id, args));
      if (recorded.fingerprint !== fingerprint) this.diverge('the guest called with different arguments', describeRecorded(recorded), describeCall(id, args));
      this.callId = recorded.id;
      this.result = recorded.result;
      this.current[0] = recorded.result;
      if (this.faults.active) this.faults.noteCall(id, args);
    },
    exit: (errno: number): void => {
      this.sync();
      if (this.shim) this.inShimCallback = true;
      if (this.result !== errno) {
        this.diverge('the call returned a different result', `${syscallName(this.callId)} -> ${errnoName(this.result)}`, `${syscallName(this.callId)} -> ${errnoName(errno)}`);
      }
      if (this.faults.active) this.faults.afterCall(this.event, this.kernel!);
      if (this.clock && this.options.hooks?.after === this.event) this.startCounting();
      if ((this.event + 1) % this.options.checkpointEvery === 0) this.verifyCheckpoint(this.event + 1);
      if ((this.event + 1) % replayProgressEveryEvents === 0) this.options.onProgress?.(this.event + 1);
      this.stopAtCut();
      this.exitDueAt = this.nextDue(this.event + 1);
    },
    /**
     * The fast path (the kernel's columnBoundary): a call that is the next one of the batch at
     * hand, same id and fingerprint, is taken without building its event, and its exit only
     * compares the result until an exit is due for more. Anything else goes the tracer's way
     * above, which checks and describes it as before.
     */
    columns: {
      enter: (id: number, fingerprint: number): number => {
        if (this.event + 1 >= this.enterSlowFrom) return -1;
        const result = this.cursor.takeCall(id, fingerprint);
        if (result < 0) return -1;
        this.event++;
        this.callId = id;
        this.result = result;
        this.current[0] = result;
        return 0;
      },
      exit: (_slot: number, errno: number): void => {
        if (errno !== this.result || this.event + 1 >= this.exitDueAt) this.tracer.exit(errno);
      },
      replayShim: (): (ReplayShimHost & { tracer: SyscallTracer; engage(): void; disengage(): void }) | undefined => {
        // Faults to inject and threads take every call the tracer's way (enterSlowFrom 0).
        if (this.faults.active || this.enterSlowFrom === 0 || replayPathForced() === 'js') return undefined;
        const window = new ReplayWindow();
        return {
          window,
          tracer: { wantsArguments: true, enter: this.tracer.enter, exit: this.tracer.exit },
          // Called by the shim itself: tracer.exit is the one frame between it and the checks (see guestStack).
          exitDue: (errno: number): void => {
            this.tracer.exit(errno);
            this.handBack();
          },
          resync: (): void => this.handBack(),
          engage: (): void => {
            assert(this.event === -1 && this.shim === undefined, 'the replay shim takes over before the first call');
            this.shim = window;
            this.current = window.current;
            this.handBack();
          },
          disengage: (): void => {
            assert(this.event === -1 && window.pos === 0, 'the replay shim hands back before the first call');
            this.shim = undefined;
            this.current = new Int32Array(1);
          },
        };
      },
    },
  };

  /**
   * The replay shim (replay-shim.ts), while it owns the fast path. It takes calls from a copy of
   * the batch at hand (its window) and tells nobody: this session's event count, cursor position,
   * callId and result stand still meanwhile, and the shim's pos runs ahead of `window.synced`.
   * Two rules keep them right:
   * - sync() catches this session up (event, the cursor's batchAt, callId, result of the last slot
   *   taken) from pos, and every entry point that reads them calls it first: the tracer's enter
   *   and exit (the shim's call backs), the effects a kernel call reaches (input), diverge,
   *   stop, finish, stats, saveState. It is idempotent: the shim moves only pos, and what the
   *   session does itself (the tracer taking calls, loading a batch) it counts itself. The one
   *   value read on every call, the recorded result for outputClosed, needs no sync: the shim
   *   writes it (`current`).
   * - handBack() runs before control returns to the shim from a call back (exitDue, resync):
   *   the window shows the cursor's batch from its position again (copied only when that is a
   *   new batch), and limit and due are set from enterSlowFrom and exitDueAt, so that the shim
   *   takes a call exactly when columns.enter would and calls exitDue exactly when columns.exit
   *   would call the tracer's exit. An effect inside a kernel call moves neither the batch nor
   *   exitDueAt, so it needs no handBack.
   * A stop (a divergence, the exit, a trap) unwinds through the shim without handBack: sync()
   * still counts only what the shim took since, and the session is done.
   */
  private shim: ReplayWindow | undefined;
  /** JS reached from the shim through the tracer (not from inside a kernel call it made), until handBack: see guestStack. */
  private inShimCallback = false;

  private sync(): void {
    const w = this.shim;
    if (w === undefined) return;
    const pos = w.pos;
    const taken = pos - w.synced;
    if (taken === 0) return;
    w.synced = pos;
    this.cursor.skipCalls(taken);
    this.event += taken;
    this.callId = w.ids[pos - 1]!;
    this.result = w.results[pos - 1]!;
  }

  private handBack(): void {
    this.sync();
    const w = this.shim!;
    const hand = this.cursor.batchAtHand();
    const pos = w.show(hand?.batch, hand?.at ?? 0);
    const next = this.event + 1; // the event of the call in slot pos
    w.set(pos, Math.max(pos, Math.min(w.count, pos + this.enterSlowFrom - next)), Math.max(-1, Math.min(w.count + 1, pos + this.exitDueAt - next)));
    this.inShimCallback = false;
  }

  /**
   * The recorded result of the call in progress, where the effects read it during the call
   * (outputClosed): a cell of this session's, or, while the shim is engaged, its control word
   * `current`, which the shim writes as it takes a call (and the tracer as it does).
   */
  private current = new Int32Array(1);

  /**
   * The guest's wasm frames from the caller on (wasmFrames leaves the shim's frame out).
   * Error.stackTraceLimit counts JS frames too, and a deep guest shows as many of its frames as
   * on the JS path only if as many frames stand above them: from the tracer the shim's frame
   * takes the place of columnBoundary's closure (the tracer's enter and exit, and exitDue, are
   * called by the shim directly), but inside a kernel call the shim made there is errnoBoundary's
   * closure as well: one frame more.
   */
  private guestStack(): WasmFrame[] {
    const extra = this.shim !== undefined && !this.inShimCallback ? 1 : 0;
    const limit = Error.stackTraceLimit;
    const holder: { stack?: string } = {};
    Error.stackTraceLimit = limit + extra;
    try {
      Error.captureStackTrace(holder, this.guestStack); // from the caller on, as new Error() there
    } finally {
      Error.stackTraceLimit = limit;
    }
    return wasmFrames(holder.stack);
  }

  /** The first count of events after `done` at which the tracer's exit has work besides the result: see exitDueAt. */
  private nextDue(done: number): number {
    const o = this.options;
    if (o.cutShort || o.stopped) return done + 1;
    const next = (every: number) => done - (done % every) + every;
    let due = next(o.checkpointEvery);
    if (o.onProgress) due = Math.min(due, next(replayProgressEveryEvents));
    const after = o.hooks?.after;
    if (after !== undefined && after + 1 > done) due = Math.min(due, after + 1);
    return due;
  }

  /**
   * In a trace cut short, once the last recorded event has returned and neither another event
   * nor the exit follows, whatever the guest does next cannot be checked: stop here, rather than
   * let a guest that computes without calls run on with nothing left to compare.
   */
  private stopAtCut(): void {
    if (!this.options.cutShort && !this.options.stopped) return;
    const stopsAtTo = this.options.toEvent !== undefined && this.event + 1 >= this.options.toEvent;
    if (!stopsAtTo && !this.cursor.hasMore()) this.checkTruncated(this.event + 1);
  }

  wrapEffects(inner: HostEffects): HostEffects {
    // Every write of the guest's comes here: the hashers held in the closure, and --quiet decided once.
    const { 1: stdout, 2: stderr } = this.output;
    return {
      readStdin: (maxBytes, mode): StdinRead => {
        const r = this.input('stdin');
        if (r.kind !== 'stdin' || r.requested !== maxBytes || r.poll !== (mode === 'poll')) {
          this.diverge('the guest read stdin differently', r.kind === 'stdin' ? `read of ${r.requested} bytes (${r.poll ? 'poll' : 'block'})` : r.kind, `read of ${maxBytes} bytes (${mode})`);
        }
        return r.status === StdinStatus.eof ? 'eof' : r.status === StdinStatus.again ? 'again' : this.faults.filterInput(this.event, r.data);
      },
      writeOutput: this.options.quiet ? (stream, source, at, length) => (stream === 1 ? stdout : stderr).add(source, at, length) : (stream, source, at, length) => {
        (stream === 1 ? stdout : stderr).add(source, at, length);
        inner.writeOutput(stream, source, at, length);
      },
      // Whether the recorded run's reader had gone is this call's recorded result; where this
      // replay's own output goes plays no part.
      outputClosed: () => this.current[0] === Errno.PIPE,
      clockNow: (clockId) => {
        const r = this.input('clock');
        if (r.kind !== 'clock' || r.clockId !== clockId) this.diverge('the guest read a different clock', r.kind === 'clock' ? `clock ${r.clockId}` : r.kind, `clock ${clockId}`);
        return r.value;
      },
      entropy: (target) => {
        const r = this.input('entropy');
        if (r.kind !== 'entropy' || r.data.length !== target.length) this.diverge('the guest asked for different entropy', r.kind === 'entropy' ? `${r.data.length} bytes` : r.kind, `${target.length} bytes`);
        target.set(r.data);
      },
      sleepUntil: () => { /* replay never waits: the clock values after the sleep are in the trace */ },
      netPost: () => { /* replay has no network: what the guest sends is checked through its state */ },
      netAwait: () => {
        const r = this.input('network input');
        if (r.kind !== 'net') this.diverge('the guest waited for the network where the recording did not', r.kind, 'network wait');
        return filterDelivery(r.delivery, this.faults, this.event);
      },
      loadTree: (hostPath, limits) => inner.loadTree(hostPath, limits),
      writeBack: () => { /* replay never touches the host's files */ },
      flush: () => inner.flush(),
    };
  }

  attach(kernel: Kernel): void {
    this.kernel = kernel;
    if (replayPathForced() === 'shim' && this.shim === undefined) throw new Error('RepliCode bug: REPLICODE_TEST_REPLAY_PATH=shim, but the replay shim is not engaged');
    this.sync();
    this.stopAtCut();
  }

  /** The guest thread making the current call (wasi-threads; 0 otherwise): checked against the trace's thread column. */
  private thread: () => number = () => 0;

  attachThreads(current: () => number): void {
    assert(this.shim === undefined, 'the replay shim serves one thread only');
    this.thread = current;
    this.enterSlowFrom = 0;
  }

  finish(outcome: GuestEnd): SessionEnd | undefined {
    this.sync();
    try {
      if (this.cursor.nextCall()) this.diverge('the guest exited before the recording did', 'more calls', `${outcome.kind} with code ${outcome.exitCode}`);
      this.verifyCheckpoint(this.event + 1);
      const recorded = this.cursor.exit();
      if (!recorded) {
        this.checkTruncated(this.event + 1);
        this.diverge('the trace has no exit record', null, `${outcome.kind} with code ${outcome.exitCode}`);
      }
      // The fuel used is compared when the recording has it (a recording with --max-fuel).
      const fuel = (used: number | undefined) => (recorded.fuel === undefined ? '' : `, fuel used ${used ?? 'unknown'}`);
      const want = `${recorded.outcome} with code ${recorded.exitCode}, ${recorded.stdoutBytes} bytes of stdout, ${recorded.stderrBytes} of stderr${fuel(recorded.fuel)}`;
      const got = `${outcome.kind} with code ${outcome.exitCode}, ${this.output[1].bytes} bytes of stdout, ${this.output[2].bytes} of stderr${fuel(outcome.fuelUsed)}`;
      if (want !== got) this.diverge('the run ended differently', want, got);
      // Everything matched, the exit too, but a trace that is not whole cannot be called a match.
      this.checkTruncated(this.event + 1, ', its exit included');
      return undefined;
    } catch (err) {
      if (err instanceof GuestStop) return err.end;
      throw err;
    }
  }

  /** Out of a trace that is not whole: it was cut short, which is not a divergence. `matched`: events replayed. */
  private checkTruncated(matched: number, what = ''): void {
    if (this.options.stopped) {
      throw new GuestStop({ kind: 'stopped', event: matched, reason: `replay matches the recording up to where it was stopped (${matched} event${matched === 1 ? '' : 's'})` });
    }
    const cut = this.options.cutShort;
    if (!cut) return;
    const held = matched === 0 ? 'it holds no event to check' : `the replay matched all ${matched} events it holds${what}`;
    throw new TraceFormatError(`${cut.reason}; ${held}`, cut.offset, 'incomplete');
  }

  private input(kind: string) {
    this.sync();
    const r = this.cursor.input(this.event);
    // A trace cut (or stopped) right after this call's event holds no input for it: not a divergence.
    if (!r && !this.cursor.hasMore()) this.checkTruncated(this.event);
    if (!r) this.diverge(`the guest asked the host for ${kind} where the recording did not`, 'no host input at this call', kind);
    return r;
  }

  private verifyCheckpoint(event: number): void {
    const recorded: CheckpointRecord | undefined = this.cursor.checkpoint();
    if (!recorded) this.checkTruncated(event);
    if (!recorded) this.diverge('the trace has no checkpoint here', `checkpoint ${this.verified + 1}`, null);
    // Memory is hashed as the recording did: page by page when the checkpoint holds page hashes.
    const { pages, ...state } = this.kernel!.stateDigest(recorded.pages !== undefined);
    const digest: StateDigest = { ...state, stdout: this.output[1].digest(), stderr: this.output[2].digest() };
    if (recorded.event !== event) this.diverge('checkpoints are at different events', `checkpoint ${recorded.number} after event ${recorded.event}`, `after event ${event}`);
    const differing = differingComponents(recorded.digest, digest);
    // Whole hashes: two that differ only past a shortened prefix would print the same.
    if (differing.length > 0) {
      this.diverge(`state differs at checkpoint ${recorded.number}: ${differing.join(', ')}`,
        differing.map((k) => `${k} ${hex(recorded.digest[k])}`).join(', '),
        differing.map((k) => `${k} ${hex(digest[k])}`).join(', '), differing,
        recorded.pages && pages && differing.includes('memory') ? differingPages(recorded.pages, pages) : []);
    }
    this.chain = chainHash(this.chain, recorded.number, event, digest);
    if (hex(this.chain) !== hex(recorded.chain)) this.diverge(`checkpoint ${recorded.number}'s chain hash differs`, hex(recorded.chain), hex(this.chain));
    this.verified = recorded.number;
  }

  private diverge(reason: string, expected: string | null, actual: string | null, differing: readonly string[] = [], pages: PageRun[] = []): never {
    this.sync();
    throw new GuestStop({
      kind: 'diverged',
      divergence: {
        event: this.event, reason, expected, actual, differing: [...differing], pages,
        checkpointBefore: this.verified >= 0 ? this.verified : null,
        checkpointAfter: this.verified + 1,
        stack: this.guestStack(),
      },
    });
  }
}
