import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { formatDivergence, replayTrace } from '../../replayer/index.js';
import { formatTrap } from '../../runtime/index.js';
import { outputWriter, watchedStreams } from '../guest-output.js';
import { parseCount, UsageError } from '../options.js';

export function withReplayOptions<T>(yargs: Argv<T>) {
  return yargs
    .positional('trace', { type: 'string', describe: 'a .rct trace written by replicode record' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: "verify without reprinting the guest's output" })
    .option('to', { type: 'string', describe: 'stop after this many events' })
    .option('module', { type: 'string', describe: 'replay this module instead of the embedded one (a changed build: where does it diverge?)' });
}

export interface ParsedReplayArgs { trace?: string; quiet: boolean; to?: string; module?: string }

export async function replayCommand(argv: ParsedReplayArgs): Promise<number> {
  if (!argv.trace) throw new UsageError('name the trace to replay: replicode replay TRACE.rct');
  const toEvent = argv.to === undefined ? undefined : parseCount('to', argv.to, 0);
  let moduleBytes: Uint8Array | undefined;
  if (argv.module) {
    try { moduleBytes = readFileSync(argv.module); } catch { throw new UsageError(`--module ${argv.module}: no such file`); }
  }
  const { outcome, stats, moduleMismatch } = await replayTrace({
    tracePath: argv.trace, quiet: argv.quiet, onOutput: outputWriter(), watchedOutput: watchedStreams(),
    ...(toEvent !== undefined ? { toEvent } : {}), ...(moduleBytes ? { moduleBytes } : {}),
  });
  if (moduleMismatch) process.stderr.write(`replicode: note: ${moduleMismatch}; replaying it anyway\n`);
  const verified = `${stats?.events ?? 0} events, ${stats?.checkpoints ?? 0} checkpoints verified`;
  switch (outcome.kind) {
    case 'diverged':
      process.stderr.write(formatDivergence(outcome.divergence));
      return outcome.exitCode;
    case 'stopped':
      process.stderr.write(`replicode: ${outcome.reason}; ${verified}\n`);
      return 0;
    case 'trap':
      process.stderr.write(formatTrap(outcome.trap));
      process.stderr.write(`replicode: replay matches the recording (a trap, as recorded): ${verified}\n`);
      return outcome.exitCode;
    case 'exit':
      process.stderr.write(`replicode: replay matches the recording: ${verified}, exit code ${outcome.exitCode}\n`);
      return outcome.exitCode;
  }
}
