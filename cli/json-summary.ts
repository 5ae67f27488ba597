// `--json[=FILE]` on run, record, replay, cluster and node: one JSON object summing up the
// command when it ends, on stderr (the last line there) or in FILE. stdout stays the guest's.
// Shapes (docs/run.md, "JSON summaries"): every object has `command`, `outcome` and `exitCode`; a
// command that fails with one line (bad input, a damaged trace) gives `outcome: "error"`.
import { writeFileSync } from 'node:fs';
import type { Argv } from 'yargs';

/** The commands whose --json takes an optional FILE (inspect's and diff's print to stdout). */
export const summaryCommands: ReadonlySet<string> = new Set(['run', 'record', 'replay', 'cluster', 'node']);

export function withJsonOption<T>(yargs: Argv<T>) {
  return yargs.option('json', {
    type: 'string',
    describe: 'at the end, a JSON summary: --json on stderr (its last line), --json=FILE into FILE',
  });
}

/**
 * An option's value may only follow `=`: `--json FILE` would otherwise take the module or trace
 * that follows as FILE (`replay --json t.rct`). So a bare `--json` of these commands becomes
 * `--json=` before yargs sees it; arguments after `--` belong to the guest and are left alone.
 */
export function bareJsonFlags(args: readonly string[]): string[] {
  const command = args.find((a) => !a.startsWith('-'));
  if (command === undefined || !summaryCommands.has(command)) return [...args];
  const end = args.indexOf('--');
  return args.map((a, i) => (a === '--json' && (end < 0 || i < end) ? '--json=' : a));
}

export type SummaryTarget = { to: 'stderr' } | { to: 'file'; path: string } | undefined;

/** `--json` parsed: undefined (not asked), stderr (`--json`), or a file (`--json=FILE`). */
export function summaryTarget(json: unknown): SummaryTarget {
  if (typeof json !== 'string') return undefined; // not asked (or inspect's and diff's boolean --json)
  return json === '' ? { to: 'stderr' } : { to: 'file', path: json };
}

export interface CommandSummary {
  command: string;
  outcome: string;
  exitCode: number;
  [field: string]: unknown;
}

/** Writes the summary where --json asked; a file that cannot be written is reported on stderr, not thrown (the command has run). */
export function writeSummary(target: SummaryTarget, summary: CommandSummary): void {
  if (!target) return;
  const text = `${JSON.stringify(summary)}\n`;
  if (target.to === 'stderr') {
    process.stderr.write(text);
    return;
  }
  try {
    writeFileSync(target.path, text);
  } catch (err) {
    process.stderr.write(`replicode: --json=${target.path}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})\n`);
  }
}
