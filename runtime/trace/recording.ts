// `replicode record`, inside the guest's thread: every syscall becomes an event, every value
// the host supplies (stdin, real clock, OS entropy) is written next to its event, and a checkpoint
// of the whole state is taken every N events and at the end: its draft here, its hashes (memory
// pages, output, chain) on the main thread (checkpoint-parts.ts).
import {
  encodeClock, encodeEntropy, encodeExit, encodeNet, encodeOutput, encodeStdin, StdinStatus,
  TraceLimitError, type TraceEnd,
} from '../../formats/index.js';
import type { HostEffects, StdinRead } from '../effects/types.js';
import type { CallColumns, Kernel, SyscallTracer } from '../kernel.js';
import { draftPageBudget, type CheckpointDraft } from './checkpoint-parts.js';
import { pageCacheMaxBytes, PageChanges } from './digest.js';
import { GuestStop, type GuestEnd, type GuestSession, type SessionEnd } from './session.js';
import { FaultInjector } from './faults.js';

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`RepliCode bug: ${message}`);
}

export interface RecordingOptions {
  checkpointEvery: number;
  recordOutput: boolean;
}

export interface RecordingStats { events: number; checkpoints: number; complete: boolean; faultNotes?: string[] }

/** What the log calls back into the session from its own per-call path. */
export interface CallLogHooks {
  /** The event that brings the count to a multiple of checkpointEvery has completed: take a checkpoint. */
  checkpoint(events: number): void;
  /** A calls batch did not fit: the trace is full. Stops the guest (throws). */
  full(err: TraceLimitError): never;
}

/**
 * The event log a recording writes to (runtime/worker/trace-channel.ts's SharedTraceLog): the
 * syscall boundary writes each call into its columns itself (CallColumns), and it tells the
 * session when a checkpoint is due.
 */
export interface CallLog extends CallColumns {
  readonly eventCount: number;
  schedule(checkpointEvery: number, hooks: CallLogHooks): void;
  /** HashingSession's rolling hash over the calls so far (a call in progress without its errno); undefined when not kept. */
  rollingHash(): number | undefined;
  /** wasi-threads: the guest thread making the current call, from now on (0 until told). */
  attachThreads?(current: () => number): void;
  append(record: Uint8Array): void;
  /** Checkpoint `number` after `event` events; the log's reader hashes the draft and writes the record (runtime/trace/checkpoint-parts.ts). */
  checkpoint(number: number, event: number, draft: CheckpointDraft): void;
  finish(end: TraceEnd): void;
}

export class RecordingSession implements GuestSession {
  private kernel: Kernel | undefined;
  private checkpoints = 0;
  private closed = false;
  private completed = false;
  /** The main thread mirrors the pages it was handed (CheckpointFinisher): changed ones come as their changed blocks. */
  private readonly memory = new PageChanges(pageCacheMaxBytes, true);
  /** The slot of the call in progress (for a tracer that calls enter and exit). */
  private slot = 0;

  /**
   * Without faults to inject, the boundary writes into the log's columns itself; with some, each
   * call passes the injector on its way in and out.
   */
  readonly tracer: SyscallTracer;
  /** Output is the main thread's to hash (checkpoint-parts.ts): only `--record-output` needs to see it here. */
  readonly watchesOutput: boolean;

  constructor(private readonly writer: CallLog, private readonly options: RecordingOptions, private readonly faults = new FaultInjector([])) {
    assert(Number.isSafeInteger(options.checkpointEvery) && options.checkpointEvery > 0, 'checkpointEvery is a positive whole number');
    this.watchesOutput = options.recordOutput;
    writer.schedule(options.checkpointEvery, {
      checkpoint: (events) => this.guard(() => this.checkpoint(events)),
      full: (err) => this.guard(() => { throw err; }),
    });
    this.tracer = faults.active ? {
      wantsArguments: faults.wantsArguments,
      enter: (id, fingerprint, args) => {
        if (this.faults.active) this.faults.noteCall(id, args);
        this.slot = this.writer.enter(id, fingerprint);
      },
      exit: (errno) => {
        if (this.faults.active) this.faults.afterCall(this.event, this.kernel!);
        this.writer.exit(this.slot, errno);
      },
    } : {
      wantsArguments: false,
      enter: (id, fingerprint) => { this.slot = this.writer.enter(id, fingerprint); },
      exit: (errno) => this.writer.exit(this.slot, errno),
      columns: writer,
    };
  }

  /** The event in progress, or the last one (-1: none yet). */
  private get event(): number {
    return this.writer.eventCount - 1;
  }

  wrapEffects(inner: HostEffects): HostEffects {
    return {
      readStdin: (maxBytes, mode): StdinRead => {
        const got = inner.readStdin(maxBytes, mode);
        const status = got === 'eof' ? StdinStatus.eof : got === 'again' ? StdinStatus.again : StdinStatus.data;
        this.append(encodeStdin(this.event, maxBytes, mode === 'poll', status, typeof got === 'string' ? new Uint8Array(0) : got));
        return typeof got === 'string' ? got : this.faults.filterInput(this.event, got);
      },
      // Used only with recordOutput (watchesOutput): without, the kernel writes to `inner` itself.
      writeOutput: (stream, source, at, length) => {
        this.append(encodeOutput(this.event, stream, source.subarray(at, at + length)));
        inner.writeOutput(stream, source, at, length);
      },
      // The answer is host input, and is in the trace already: as this call's result (PIPE or not).
      outputClosed: (stream) => inner.outputClosed(stream),
      clockNow: (clockId) => {
        const value = inner.clockNow(clockId);
        this.append(encodeClock(this.event, clockId, value));
        return value;
      },
      entropy: (target) => {
        inner.entropy(target);
        this.append(encodeEntropy(this.event, target.slice()));
      },
      sleepUntil: (ns) => inner.sleepUntil(ns),
      netPost: (request) => inner.netPost(request),
      netAwait: (deadlineNs) => {
        const hash = this.writer.rollingHash();
        const delivery = inner.netAwait(deadlineNs, hash === undefined ? undefined : hash >>> 0);
        this.append(encodeNet(this.event, delivery));
        return filterDelivery(delivery, this.faults, this.event);
      },
      loadTree: (hostPath, limits) => inner.loadTree(hostPath, limits),
      writeBack: (hostPath, ops) => inner.writeBack(hostPath, ops),
      flush: () => inner.flush(),
    };
  }

  attach(kernel: Kernel): void {
    this.kernel = kernel;
  }

  /** The guest thread making each call goes into the log's thread column (and its rolling hash). */
  attachThreads(current: () => number): void {
    this.writer.attachThreads?.(current);
  }

  finish(outcome: GuestEnd): SessionEnd | undefined {
    if (this.closed) return undefined;
    const events = this.writer.eventCount;
    try {
      this.guard(() => {
        this.checkpoint(events);
        this.writer.append(encodeExit({
          event: events, outcome: outcome.kind, exitCode: outcome.exitCode, trapMessage: outcome.trapMessage,
          stdoutBytes: this.kernel!.outputBytes(1), stderrBytes: this.kernel!.outputBytes(2), ...(outcome.fuelUsed !== undefined ? { fuel: outcome.fuelUsed } : {}),
        }));
      });
    } catch (err) {
      // The trace filled as its end was written (the main thread, behind the guest, found the
      // limit just then): the recording stopped there. Thrown on, it was our bug's exit 70.
      if (err instanceof GuestStop) return err.end;
      throw err;
    }
    this.close({ complete: true });
    return undefined;
  }

  /** Closes the trace if the run ended some other way (a host error): what was recorded stays readable. */
  abandon(): void {
    if (!this.closed) this.close({ complete: false });
  }

  get stats(): RecordingStats {
    const faultNotes = this.faults.report(this.writer.eventCount - 1);
    return { events: this.writer.eventCount, checkpoints: this.checkpoints, complete: this.completed, ...(faultNotes.length ? { faultNotes } : {}) };
  }

  private checkpoint(event: number): void {
    const kernel = this.kernel!;
    const memory = kernel.hashedMemory;
    const { globals, fds, fs } = kernel.smallDigests();
    const draft: CheckpointDraft = { globals, fds, fs, memory: memory ? this.memory.diff(memory, draftPageBudget) : { byteLength: -1, changed: [] } };
    this.writer.checkpoint(this.checkpoints++, event, draft);
  }

  private append(record: Uint8Array): void {
    this.guard(() => this.writer.append(record));
  }

  private close(end: TraceEnd): void {
    this.closed = true;
    this.completed = end.complete;
    this.writer.finish(end);
  }

  /** A full trace stops the guest; the trace is closed so everything recorded stays readable. */
  private guard<T>(write: () => T): T {
    try {
      return write();
    } catch (err) {
      if (!(err instanceof TraceLimitError)) throw err;
      this.close({ complete: false, stop: 'size-limit' });
      throw new GuestStop({ kind: 'stopped', event: this.event, reason: err.message });
    }
  }
}

/** Input bytes on their way to the guest (stream data, datagrams, stdin) pass the input faults (drop, reorder). */
export function filterDelivery<D extends { events: { kind: string }[] }>(delivery: D, faults: FaultInjector, event: number): D {
  if (!faults.active) return delivery;
  const carriesInput = (kind: string) => kind === 'data' || kind === 'datagram' || kind === 'stdin';
  return {
    ...delivery,
    events: delivery.events.map((e) => (carriesInput(e.kind) ? { ...e, bytes: faults.filterInput(event, (e as unknown as { bytes: Uint8Array }).bytes) } : e)),
  };
}
