import type { Argv } from 'yargs';
import { diffTraces, formatDiff } from '../../replayer/index.js';
import { ExitCode } from '../exit-codes.js';
import { paintFor } from '../colour.js';
import { UsageError } from '../options.js';
import { Progress } from '../progress.js';
import { TextOut } from '../text-out.js';

export function withDiffOptions<T>(yargs: Argv<T>) {
  return yargs
    .positional('traces', { type: 'string', array: true, describe: 'two or more .rct traces of the same program' })
    .option('json', { type: 'boolean', default: false, describe: 'machine-readable report' })
    .option('instructions', { type: 'boolean', default: true, describe: 'narrow a state-only divergence to an instruction range (--no-instructions: stop at the event; faster on long traces)' })
    .option('replay', { type: 'boolean', default: true, describe: 'replay to the event where state starts to differ (--no-replay: only what the traces say: checkpoints, the 64 KiB memory pages that differ there, events; at once on any length)' });
}

export interface ParsedDiffArgs { traces?: string[]; json: boolean; instructions?: boolean; replay?: boolean }

/**
 * `replicode diff`: exit 0 when the traces agree (as far as they go, when some were stopped on
 * purpose), 3 when they diverge, 1 when one is damaged or incomplete (and none diverges).
 */
export async function diffCommand(argv: ParsedDiffArgs): Promise<number> {
  const traces = (argv.traces ?? []).map(String);
  if (traces.length < 2) throw new UsageError('give two or more traces: replicode diff A.rct B.rct [C.rct ...]');
  // 30-40 s on traces of a million events: say which phase it is in, on a terminal only.
  const progress = new Progress();
  let report;
  try {
    report = await diffTraces(traces, { instructions: argv.instructions !== false, replay: argv.replay !== false, onProgress: (phase) => progress.update(phase) });
  } finally {
    progress.clear();
  }
  // `replicode diff ... | head`: a reader that goes away ends the output quietly, not with an EPIPE stack.
  const out = new TextOut();
  if (argv.json) await out.write(JSON.stringify(report, null, 2) + '\n');
  else {
    await out.write(formatDiff(report, paintFor(process.stdout)));
    if (report.status === 'diverge') await out.write(`  explore it: replicode tui ${traces.join(' ')}\n`);
  }
  await out.flush();
  return report.status === 'agree' || report.status === 'stopped' ? ExitCode.ok : report.status === 'diverge' ? ExitCode.diverged : ExitCode.usage;
}
