// What a failed command prints and exits with, shared by the yargs CLI (main.ts) and run's quick
// path (quick-run.ts).
import { TraceFormatError, TraceLimitError } from '../formats/index.js';
// From the file that defines it, not replayer/index.ts: that would load diff (and the `diff`
// package) into every `run`, which never replays.
import { ReplaySetupError } from '../replayer/replay.js';
import { GatewayError, GuestLinkError, InternalError, ModuleFormatError, PreopenError, TraceFileError, TraceReadError } from '../runtime/index.js';
import { paintFor } from './colour.js';
import { ExitCode } from './exit-codes.js';
import { summaryCommands, summaryTarget, writeSummary } from './json-summary.js';
import { UsageError } from './options.js';

/** One line on stderr for a failure, in red on a terminal. */
const errorLine = (message: string) => paintFor(process.stderr).bad(`replicode: ${message}`) + '\n';

export function fail(message: string, code: number = ExitCode.usage): never {
  process.stderr.write(errorLine(message));
  process.exit(code);
}

/** What a thrown error means for the user: one line, and the exit code. */
export function failureOf(err: unknown): { message: string; code: number } {
  if (err instanceof UsageError || err instanceof ModuleFormatError || err instanceof GuestLinkError || err instanceof PreopenError
    || err instanceof TraceFormatError || err instanceof TraceLimitError || err instanceof TraceReadError || err instanceof ReplaySetupError || err instanceof GatewayError || err instanceof TraceFileError) {
    return { message: err.message, code: ExitCode.usage };
  }
  const detail = err instanceof InternalError || err instanceof Error ? err.stack ?? err.message : String(err);
  if (process.env.REPLICODE_DEBUG) process.stderr.write(`${detail}\n`);
  return { message: `internal error: ${(err as Error)?.message ?? err} (a bug in RepliCode; set REPLICODE_DEBUG=1 for details)`, code: ExitCode.internal };
}

/**
 * What escapes every command's handler (a promise nothing awaited that rejects, an exception in
 * a timer or an event listener) ends the process as any other failure does: one line and its exit
 * code (70 for ours), never Node's stack dump and exit 1.
 */
export function catchStrays(): void {
  if (process.listenerCount('unhandledRejection') > 0) return;
  process.on('uncaughtException', (err) => exitCodeFor(err));
  process.on('unhandledRejection', (err) => exitCodeFor(err));
}

export function exitCodeFor(err: unknown): never {
  const { message, code } = failureOf(err);
  fail(message, code);
}

/**
 * A command's handler: its result is the exit code; anything it throws becomes one line (and,
 * with --json, an `outcome: "error"` summary, so a script reading the summary always gets one).
 */
export function handle<A>(name: string, command: (argv: A) => number | Promise<number>) {
  return async (argv: A): Promise<void> => {
    try {
      process.exitCode = await command(argv);
    } catch (err) {
      const { message, code } = failureOf(err);
      process.stderr.write(errorLine(message));
      if (summaryCommands.has(name)) writeSummary(summaryTarget((argv as { json?: unknown }).json), { command: name, outcome: 'error', exitCode: code, error: message });
      process.exit(code);
    }
  };
}
