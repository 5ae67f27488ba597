// How a guest thread other than the main one ended badly, as its worker tells thread 0.
import { threadLostMessagePrefix, type TrapInfo } from '../trap.js';

/** The export a wasi-threads module starts its threads with: (tid, arg) -> (). */
export const threadStartExport = 'wasi_thread_start';

export type ThreadFailure =
  /** `fuel`: the thread used its --max-fuel (the fuel pass traps in place; its global is then below zero). */
  | { kind: 'trap'; trap: TrapInfo; fuel: boolean }
  | { kind: 'internal'; message: string; stack: string };

/** A thread trapped: the whole process ends with the trap (as in Wasmtime), named by thread. */
export class ThreadTrap extends Error {
  constructor(readonly tid: number, readonly trap: TrapInfo, readonly fuel: boolean) {
    super(`thread ${tid}: ${trap.message}`);
  }
}

/**
 * A thread's worker stopped before the thread ended (its script failed, a resource limit): the
 * process ends with `threadLostExitCode`, one line naming the thread and why.
 */
export class ThreadLost extends Error {
  constructor(readonly tid: number, readonly reason: string) {
    super(`${threadLostMessagePrefix}thread ${tid} stopped before it ended (${reason.split('\n')[0]})`);
  }
}
