// `replicode index TRACE`: builds the trace's snapshot index (TRACE.rct.idx) now, so that later
// `replay --from`, `diff` and the TUI start from snapshots at once; or says it is up to date.
import { statSync } from 'node:fs';
import type { Argv } from 'yargs';
import { formatDivergence, openSnapshotIndex } from '../../replayer/index.js';
import { ExitCode } from '../exit-codes.js';
import { sourcesOf } from '../trap-report.js';
import { UsageError } from '../options.js';
import { percent, Progress } from '../progress.js';

export function withIndexOptions<T>(yargs: Argv<T>) {
  return yargs
    .positional('trace', { type: 'string', describe: 'a .rct trace' })
    .option('force', { type: 'boolean', default: false, describe: 'rebuild it even if a usable index exists' })
    .option('json', { type: 'boolean', default: false, describe: 'one JSON object on stdout' });
}

export interface ParsedIndexArgs { trace?: string; force: boolean; json: boolean }

export async function indexCommand(argv: ParsedIndexArgs): Promise<number> {
  if (!argv.trace) throw new UsageError('name the trace to index: replicode index TRACE.rct');
  const progress = new Progress();
  const notes: string[] = [];
  const started = Date.now();
  let opened;
  try {
    opened = await openSnapshotIndex(argv.trace, {
      force: argv.force,
      onProgress: (events, total) => progress.update(`index: replaying ${events}/${total} events${total > 0 ? ` (${percent(events / total)})` : ''}`),
      onNote: (line) => notes.push(line),
    });
  } catch (err) {
    // A trace cut short is indexed as far as it goes, then refused as replay refuses it: say both.
    progress.clear();
    if (!argv.json) for (const note of notes) process.stderr.write(`replicode: note: ${note}\n`);
    throw err;
  } finally {
    progress.clear();
  }
  const { store, built, path, onDisk } = opened!;
  const snapshots = store.events.length;
  store.close();
  const bytes = onDisk ? statSync(path).size : 0;
  const outcome = built?.outcome;
  const diverged = outcome?.kind === 'diverged';
  const summary = {
    command: 'index', trace: argv.trace, index: path, built: built !== null, onDisk, snapshots, bytes,
    spacing: snapshots > 1 ? store.events[1]! - store.events[0]! : null, seconds: (Date.now() - started) / 1000,
    replay: outcome ? (diverged ? 'diverged' : 'match') : null, notes,
  };
  if (argv.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    for (const note of notes) process.stderr.write(`replicode: note: ${note}\n`);
    const size = `${(bytes / 2 ** 20).toFixed(1)} MiB`;
    process.stdout.write(built
      ? `replicode: indexed ${argv.trace}: ${snapshots} snapshots${summary.spacing ? ` every ${summary.spacing} events` : ''}, ${onDisk ? `${size} in ${path}` : 'kept in memory (not written)'} (${summary.seconds.toFixed(1)} s)\n`
      : `replicode: ${path} is up to date: ${snapshots} snapshots, ${size}\n`);
  }
  if (diverged) {
    process.stderr.write(formatDivergence(outcome.divergence, await sourcesOf(outcome.divergence.stack, built?.header.module.bytes ?? undefined)));
    return ExitCode.diverged;
  }
  return ExitCode.ok;
}
