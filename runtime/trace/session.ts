// What record and replay plug into a guest run: effects around the real ones, a syscall
// tracer, and the last word on how the run ended.
import type { HostEffects } from '../effects/types.js';
import type { PageRun } from './digest.js';
import type { Kernel, SyscallTracer } from '../kernel.js';
import type { WasmFrame } from '../trap.js';

/** Where and how a replay stopped agreeing with its trace. */
export interface Divergence {
  /** Index of the syscall event where it was noticed. */
  event: number;
  /** One line: what differed. */
  reason: string;
  expected: string | null;
  actual: string | null;
  /** Last checkpoint verified before it (null: none yet), and the next one the trace has. */
  checkpointBefore: number | null;
  checkpointAfter: number | null;
  /** State components that differ, when a checkpoint caught it. */
  differing: string[];
  /** When memory differs at a checkpoint with page hashes: the 64 KiB pages that differ (else empty). */
  pages: PageRun[];
  /** The guest's wasm stack at the call (innermost first). */
  stack: WasmFrame[];
}

/** How a traced run ended, as far as record/replay are concerned. */
export type SessionEnd =
  | { kind: 'diverged'; divergence: Divergence }
  | { kind: 'stopped'; event: number; reason: string; at?: StopSnapshot };

/** The guest's state where a replay was asked to stop (`--to`), for the divergence tools. */
export interface StopSnapshot {
  /** SHA-256 (hex) of linear memory, and of the other state components. */
  memoryHash: string;
  stateHash: string;
  /** The guest's wasm stack at the call it was about to make. */
  stack: WasmFrame[];
  /** A copy of linear memory, when asked for. */
  memory?: Uint8Array;
  /** With a hook count (see ReplayOptions.hooks): function entries and loop iterations passed since counting began. */
  hooks?: number;
  /** With ReplayOptions.stateHashes: the state hash before each call from its `from` on. */
  hashes?: string[];
  /** With ReplayOptions.hooks.continue: the stack and state at hook `stopAt`, if reached. */
  hookPoint?: { hooks: number; stack: WasmFrame[]; stateHash: string };
  /** With ReplayOptions.hooks.every: the stack and state at each hook, in order. */
  hookPoints?: { hooks: number; stack: WasmFrame[]; stateHash: string }[];
}

/** Thrown from a tracer or effect to stop the guest; the runner turns it into an outcome. */
export class GuestStop extends Error {
  constructor(readonly end: SessionEnd) {
    super(end.kind === 'diverged' ? `replay diverged at event ${end.divergence.event}: ${end.divergence.reason}` : `stopped at event ${end.event}`);
  }
}

/** How the guest ended, as a session records or checks it; `fuelUsed` when it counts fuel (--max-fuel). */
export interface GuestEnd { kind: 'exit' | 'trap'; exitCode: number; trapMessage: string | null; fuelUsed?: number }

export interface GuestSession {
  readonly tracer: SyscallTracer;
  /** Wraps the effects the kernel will use. Called once, before the kernel exists. */
  wrapEffects(inner: HostEffects): HostEffects;
  /**
   * false: the session does not look at output (writeOutput, outputClosed), so the kernel's stdout
   * and stderr use the inner effects directly. A wrapper there cost a recording ~5 ns per write:
   * the output ring's write was no longer inlined into the guest's fd_write.
   */
  readonly watchesOutput?: boolean;
  attach(kernel: Kernel): void;
  /** wasi-threads: tells the session which guest thread makes each call (record writes it, replay checks it). */
  attachThreads?(current: () => number): void;
  /** Called once the guest has exited or trapped; may report a divergence instead. */
  finish(outcome: GuestEnd): SessionEnd | undefined;
}
