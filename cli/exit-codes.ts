// The exit codes of the replicode CLI: the one place they are defined, described (top-level
// --help prints `exitCodeHelp`; docs/run.md's table says the same) and decided for `replay`.
import { deadlockExitCode, threadLostExitCode, divergedExitCode, fuelExhaustedExitCode, trapExitCode, type GuestOutcome } from '../runtime/index.js';

export const ExitCode = {
  /** Success; for `replay`, the run matched its trace (whatever the guest's own exit code). */
  ok: 0,
  /** Bad usage or input: unknown option, missing or invalid module, bad --dir, a damaged or incomplete trace. */
  usage: 1,
  /** `replay` diverged from its trace; `diff`: the traces diverge; `cluster`/`node`: a replica disagreed. */
  diverged: divergedExitCode,
  /** A bug inside RepliCode; please report it. */
  internal: 70,
  /**
   * `run`, `record`, `cluster`, `node` stopped by Ctrl-C (SIGINT) or SIGTERM, whatever the guest
   * did on its way out: 128 + SIGINT's number, what a shell reports for a command Ctrl-C ended.
   */
  interrupted: 130,
  /** The guest trapped (like SIGABRT: 128 + 6). */
  trap: trapExitCode,
  /** The guest used its --max-fuel (like SIGXCPU, a CPU time limit: 128 + 24). */
  fuelExhausted: fuelExhaustedExitCode,
  /** Every thread of a wasi-threads guest waits, none with a timeout (128 + SIGQUIT, on which a JVM prints its threads). */
  deadlock: deadlockExitCode,
  /** A wasi-threads guest's thread lost its worker (its start failed after thread-spawn succeeded): EX_OSERR. */
  threadLost: threadLostExitCode,
} as const;

/** Rows of the exit-code table shown by `replicode --help`. */
const exitCodeRows: [string, string][] = [
  [String(ExitCode.ok), 'success; replay: the run matched its trace, whatever the guest\'s exit code'],
  ['guest\'s', 'run, record: the guest\'s own exit code; cluster, node: the first replica\'s'],
  [String(ExitCode.usage), 'bad input: unknown option, missing or invalid module, damaged or incomplete trace'],
  [String(ExitCode.diverged), 'replay: diverged; diff: the traces diverge; cluster, node: a replica disagreed'],
  [String(ExitCode.internal), 'a bug in RepliCode (REPLICODE_DEBUG=1 shows its stack)'],
  [String(ExitCode.interrupted), 'run, record, cluster, node: stopped by Ctrl-C (SIGINT) or SIGTERM'],
  [String(ExitCode.trap), 'the guest trapped (run, record)'],
  [String(ExitCode.fuelExhausted), 'the guest used its --max-fuel and was stopped (run, record, cluster)'],
  [String(ExitCode.deadlock), 'deadlock: every thread of a wasi-threads guest waits (run, record)'],
  [String(ExitCode.threadLost), 'a thread\'s worker of a wasi-threads guest stopped before its thread ended (run, record)'],
];

export const exitCodeHelp = [
  'Exit codes:', ...exitCodeRows.map(([code, meaning]) => `  ${code.padEnd(9)}${meaning}`),
  "  (replay --exit-code guest: the guest's own code, 134 for a trap, 152 for fuel, 131 for a deadlock, when the replay matches)",
].join('\n');

/**
 * `replay --exit-code`: `match` (default) answers whether the run matched its trace (0, or 3),
 * so a script can tell a good replay of a guest that exited 1 from bad input; `guest` gives the
 * guest's own code when it matched, as `run` would.
 */
export type ReplayExitPolicy = 'match' | 'guest';

export function replayExitCode(outcome: GuestOutcome, policy: ReplayExitPolicy): number {
  switch (outcome.kind) {
    case 'diverged': return ExitCode.diverged;
    case 'stopped': return ExitCode.ok; // --to, or a recording stopped on purpose: matched as far as it goes
    case 'trap': return policy === 'guest' ? outcome.exitCode : ExitCode.ok; // 134, or 152 for fuel
    case 'exit': return policy === 'guest' ? outcome.exitCode : ExitCode.ok;
  }
}
