import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { formatDivergence, replayTrace } from '../../replayer/index.js';
import { sourcesOf, writeTrap } from '../trap-report.js';
import { type GuestOutcome, type SessionStats, type TrapSources } from '../../runtime/index.js';
import { replayExitCode, type ReplayExitPolicy } from '../exit-codes.js';
import { summaryTarget, withJsonOption, writeSummary, type CommandSummary } from '../json-summary.js';
import { outputWriter, watchedStreams } from '../guest-output.js';
import { parseCount, UsageError } from '../options.js';
import { Progress } from '../progress.js';
import { paintFor } from '../colour.js';

export function withReplayOptions<T>(yargs: Argv<T>) {
  return withJsonOption(yargs
    .positional('trace', { type: 'string', describe: 'a .rct trace written by replicode record' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: "verify without reprinting the guest's output" })
    .option('to', { type: 'string', describe: 'stop after this many events' })
    .option('from', { type: 'string', describe: "resume from the snapshot nearest before this event (the trace's index, built on first use) and verify from there" })
    .option('module', { type: 'string', describe: 'replay this module instead of the embedded one (a changed build: where does it diverge?)' })
    .option('exit-code', {
      choices: ['match', 'guest'] as const, default: 'match' as const,
      describe: "match: 0 when the run matches its trace, 3 when it diverges; guest: the guest's own exit code (134 for a trap) when it matches",
    }));
}

export interface ParsedReplayArgs { trace?: string; quiet: boolean; to?: string; from?: string; module?: string; exitCode: ReplayExitPolicy; json?: string }

export async function replayCommand(argv: ParsedReplayArgs): Promise<number> {
  if (!argv.trace) throw new UsageError('name the trace to replay: replicode replay TRACE.rct');
  const toEvent = argv.to === undefined ? undefined : parseCount('to', argv.to, 0);
  const fromEvent = argv.from === undefined ? undefined : parseCount('from', argv.from, 0);
  if (fromEvent !== undefined && toEvent !== undefined && toEvent < fromEvent) throw new UsageError(`--to ${toEvent} is before --from ${fromEvent}`);
  if (fromEvent !== undefined && argv.module) throw new UsageError('--from resumes the recorded module from its snapshots; it cannot be combined with --module');
  let moduleBytes: Uint8Array | undefined;
  if (argv.module) {
    try { moduleBytes = readFileSync(argv.module); } catch { throw new UsageError(`--module ${argv.module}: no such file`); }
  }
  // A long replay shows how far it is on stderr (a terminal only), erased before any output.
  const progress = new Progress();
  const write = outputWriter();
  let result;
  let resumedAt: number | null = null;
  try {
    const request = {
      tracePath: argv.trace, quiet: argv.quiet, watchedOutput: watchedStreams(),
      onOutput: (stream: 1 | 2, bytes: Uint8Array) => { progress.clear(); return write(stream, bytes); },
      onProgress: (events: number) => progress.update(`replay: ${events} events verified`, true),
      ...(toEvent !== undefined ? { toEvent } : {}), ...(moduleBytes ? { moduleBytes } : {}),
    };
    if (fromEvent === undefined) {
      result = await replayTrace(request);
    } else {
      const { openSnapshotIndex, replayFromSnapshot } = await import('../../replayer/index.js');
      const index = await openSnapshotIndex(argv.trace, {
        onProgress: (events, total) => progress.update(`replay --from: building the index (${events}/${total} events)`),
        onNote: (line) => { progress.clear(); process.stderr.write(`replicode: note: ${line}\n`); },
      });
      const resumed = (event: number) => {
        progress.clear();
        process.stderr.write(`replicode: resumed from the snapshot at event ${event} (the nearest at or before --from ${fromEvent})\n`);
      };
      try {
        result = await replayFromSnapshot(index?.store, { ...request, fromEvent, onResume: (event) => { resumedAt = event; resumed(event); } });
      } finally {
        index?.store.close();
      }
      if (resumedAt === null) resumed(0); // no snapshot at or before it: from the start
    }
  } finally {
    progress.clear();
  }
  const { outcome, stats, moduleMismatch } = result;
  if (moduleMismatch) process.stderr.write(`replicode: note: ${moduleMismatch}; replaying it anyway\n`);
  const verified = `${stats?.events ?? 0} events, ${stats?.checkpoints ?? 0} checkpoints verified`;
  // The divergent stack in source lines, through the module that ran (the DWARF reader loads only here, and only for a module with DWARF).
  const sources = outcome.kind === 'diverged' ? await sourcesOf(outcome.divergence.stack, moduleBytes ?? result.header.module.bytes ?? undefined) : undefined;
  switch (outcome.kind) {
    case 'diverged': {
      const text = formatDivergence(outcome.divergence, sources);
      const firstLine = text.indexOf('\n'); // "replay diverged at event N: why", in red on a terminal
      process.stderr.write(paintFor(process.stderr).bad(text.slice(0, firstLine)) + text.slice(firstLine));
      break;
    }
    case 'stopped':
      process.stderr.write(`replicode: ${outcome.reason}; ${verified}\n`);
      break;
    case 'trap':
      await writeTrap(outcome.trap, moduleBytes ?? result.header.module.bytes ?? undefined);
      process.stderr.write(`replicode: replay matches the recording (a trap, as recorded): ${verified}\n`);
      break;
    case 'exit':
      process.stderr.write(`replicode: replay matches the recording: ${verified}, guest exit code ${outcome.exitCode}\n`);
      break;
  }
  const exitCode = replayExitCode(outcome, argv.exitCode);
  writeSummary(summaryTarget(argv.json), { ...replaySummary(argv.trace, outcome, stats, exitCode, sources), ...(fromEvent !== undefined ? { resumedAt: resumedAt ?? 0 } : {}) });
  return exitCode;
}

/** `divergence.source`: per frame of its stack, the source positions (innermost inlined call first; [] where the debug info says nothing); null without DWARF. */
function replaySummary(trace: string, outcome: GuestOutcome, stats: SessionStats | undefined, exitCode: number, sources: TrapSources | undefined): CommandSummary {
  return {
    command: 'replay', trace, outcome: outcome.kind === 'diverged' ? 'diverged' : outcome.kind === 'stopped' ? 'stopped' : 'match', exitCode,
    events: stats?.events ?? 0, checkpoints: stats?.checkpoints ?? 0,
    guestEnd: outcome.kind === 'exit' || outcome.kind === 'trap' ? outcome.kind : null,
    guestExitCode: outcome.kind === 'exit' || outcome.kind === 'trap' ? outcome.exitCode : null,
    ...(outcome.kind === 'stopped' ? { stopped: outcome.reason } : {}),
    divergence: outcome.kind === 'diverged' ? { ...outcome.divergence, source: sources ?? null } : null,
  };
}
