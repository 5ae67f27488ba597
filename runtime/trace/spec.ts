// How the main thread asks a guest's worker to record or replay (structured-cloneable data).
import type { TraceHeader } from '../../formats/index.js';

export type SessionSpec =
  | {
    kind: 'record'; tracePath: string; header: TraceHeader;
    checkpointEvery: number; recordOutput: boolean; maxTraceBytes: number;
    /**
     * Keep the rolling hash of the calls that a network wait reports to the machine, for a
     * replicated machine to compare (a cluster replica's recording); nothing else reads it.
     */
    stateHash?: boolean;
  }
  | {
    kind: 'replay'; tracePath: string; checkpointEvery: number; toEvent?: number; quiet: boolean; captureMemory?: boolean;
    /**
     * Why the trace is not whole, when the caller has checked already (the worker then need not
     * read it all again); `stopped`: it is whole, but the recording was stopped on purpose.
     */
    cutShort?: { reason: string; offset: number; stopped?: boolean } | null;
    /** The instruction clock (the module must be a snapshot copy): see ReplayOptions.hooks. */
    hooks?: { after: number; stopAt?: number; continue?: boolean; every?: number };
    /** State hashes before each call in a range: see ReplayOptions.stateHashes. */
    stateHashes?: { from: number; to: number };
    /** Take snapshots, or resume from one (the module must be a snapshot copy: runtime/snapshot/). */
    snapshots?: import('../snapshot/driver.js').SnapshotPlan;
  }
  /**
   * A cluster replica: no trace, a rolling syscall hash reported at each network wait; with
   * `snapshots` (the module must be a snapshot copy), its machine can ask it for snapshots and it
   * may resume from one (the session's state is in the resume point).
   */
  | { kind: 'hash'; snapshots?: import('../snapshot/driver.js').SnapshotPlan };

/** What the worker reports of a record or replay session besides the guest's outcome. */
export interface SessionStats {
  events: number;
  checkpoints: number;
  traceBytes?: number;
  complete?: boolean;
  /** `--inject` faults that changed nothing, one line each (recording only). */
  faultNotes?: string[];
}
