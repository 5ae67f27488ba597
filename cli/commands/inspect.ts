import type { Argv } from 'yargs';
import { TraceFormatError } from '../../formats/index.js';
import { describePass } from '../../runtime/index.js';
import { eventKinds, eventRows, isEventKind, openTrace, summarizeTrace, type EventQuery, type EventRow, type TraceSummary } from '../../replayer/index.js';
import { parseCount, UsageError } from '../options.js';
import { percent, Progress } from '../progress.js';
import { TextOut } from '../text-out.js';

export function withInspectOptions<T>(yargs: Argv<T>) {
  return yargs
    .positional('trace', { type: 'string', describe: 'a .rct trace' })
    .option('events', { type: 'boolean', default: false, describe: 'list events instead of the summary' })
    .option('from', { type: 'string', default: '0', describe: 'first event to list' })
    .option('limit', { type: 'string', default: '50', describe: 'how many events to list' })
    .option('kind', { type: 'string', describe: 'only events of this kind: a syscall name, stdin, clock, entropy, net, output, checkpoint' })
    .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' });
}

export interface ParsedInspectArgs { trace?: string; events: boolean; from: string; limit: string; kind?: string; json: boolean }

/** Traces smaller than this are read in well under a second: no progress line. */
const progressFromBytes = 32 * 1024 * 1024;

export async function inspectCommand(argv: ParsedInspectArgs): Promise<number> {
  if (!argv.trace) throw new UsageError('name the trace to inspect: replicode inspect TRACE.rct');
  if (argv.kind !== undefined && !isEventKind(argv.kind)) {
    throw new UsageError(`--kind ${argv.kind}: not a syscall name nor one of ${eventKinds.join(', ')}`);
  }
  const query: EventQuery = { from: parseCount('from', argv.from, 0), limit: parseCount('limit', argv.limit), ...(argv.kind ? { kind: argv.kind } : {}) };
  const { reader, close } = openTrace(argv.trace);
  const out = new TextOut();
  try {
    if (argv.events) return await listEventsTo(out, eventRows(reader, query), argv.json);
    const progress = new Progress();
    let summary: TraceSummary;
    try {
      summary = summarizeTrace(reader, reader.source.size < progressFromBytes ? undefined : (f) => progress.update(`reading trace: ${percent(f)}`));
    } finally {
      progress.clear();
    }
    await out.write(argv.json ? JSON.stringify(summary, null, 2) + '\n' : formatSummary(argv.trace, summary));
    await out.flush();
    if (summary.error && !argv.json) process.stderr.write(`replicode: ${summary.error}\n`);
    return summary.error ? 1 : 0;
  } finally {
    close();
  }
}

/**
 * Writes rows as they are read (a 20M-event trace lists in constant memory); `--json` is one
 * document, written piece by piece. Where reading stops, the error ends the listing (exit 1).
 */
async function listEventsTo(out: TextOut, rows: Iterable<EventRow>, json: boolean): Promise<number> {
  let error: string | null = null;
  let first = true;
  if (json) await out.write('{\n  "events": [');
  try {
    for (const r of rows) {
      if (out.closed) return 0;
      if (json) await out.write(`${first ? '\n' : ',\n'}    ${JSON.stringify(r, null, 2).replace(/\n/g, '\n    ')}`);
      else await out.write(formatRow(r));
      first = false;
    }
  } catch (err) {
    if (!(err instanceof TraceFormatError)) throw err;
    error = err.message;
  }
  if (json) await out.write(`${first ? '' : '\n  '}],\n  "error": ${JSON.stringify(error)}\n}\n`);
  await out.flush();
  if (error && !json) process.stderr.write(`replicode: ${error}\n`);
  return error ? 1 : 0;
}

function formatRow(r: EventRow): string {
  if (r.kind === 'checkpoint') return `#${r.event}  checkpoint ${r.checkpoint!.number}  chain ${r.checkpoint!.chain.slice(0, 16)}\n`;
  return `#${r.event}  ${r.thread === undefined ? '' : `thread ${r.thread}  `}${r.syscall} -> ${r.result}${r.inputs!.length ? `  [${r.inputs!.join('; ')}]` : ''}\n`;
}

function formatSummary(path: string, s: TraceSummary): string {
  const h = s.header;
  const top = (counts: Record<string, number>) => Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  const lines = [
    `${path}: RepliCode trace, format ${s.formatVersion}, written by RepliCode ${h.replicodeVersion}, ${stateLabel(s)}`,
    `module:      ${h.module.name} (${h.module.size} bytes, sha256 ${h.module.sha256.slice(0, 16)}..., ${h.module.embedded ? 'embedded' : 'hash only'})`,
    `arguments:   ${JSON.stringify(h.args)}`,
    `environment: ${JSON.stringify(h.env)}`,
    `inputs:      clock ${h.clock}, random ${h.random}, seed ${h.seed}, epoch ${h.epoch}`,
    `process:     pid ${h.pid}, stdin from ${h.stdin === 'batches' ? "the machine's batches" : 'stdin records'}, memory limit ${h.maxMemoryBytes === null ? "the module's own" : `${h.maxMemoryBytes / 2 ** 20} MiB`}`
      + `, stack limit ${h.maxStackBytes === null ? "V8's own" : `${h.maxStackBytes / 2 ** 20} MiB`}`
      + `${h.maxThreads === undefined ? '' : `, max threads ${h.maxThreads}`}`
      + `${h.httpIdleTimeoutMs === undefined ? '' : `, HTTP idle timeout ${h.httpIdleTimeoutMs / 1000} s`}`
      + `${h.hosts.length ? `, hosts ${h.hosts.map(([n, ip]) => `${n}=${ip}`).join(' ')}` : ''}${h.faults.length ? `, faults ${h.faults.join(' ')}` : ''}`,
    `rewriting:   ${h.rewrite.length ? h.rewrite.map(describePass).join(', ') : 'none'}`,
    ...h.preopens.map((p) => `preopen:     ${p.guestPath} <- ${p.hostPath} (${p.embedded ? 'embedded' : 'hash only'}, sha256 ${p.sha256.slice(0, 16)}...)`),
    `events:      ${s.events}${s.events ? ` (${top(s.calls)})` : ''}`,
    `records:     ${Object.entries(s.records).map(([k, v]) => `${k} ${v.count} (${v.bytes} B)`).join(', ')}`,
    `size:        ${s.size.fileBytes} bytes in ${s.size.chunks} chunks; ${s.size.rawBytes} bytes of records before compression; ${s.size.bytesPerEvent.toFixed(2)} bytes per event after the header`,
    `checkpoints: ${s.checkpoints.length} (every ${h.checkpointEvery} events, and at exit)`,
    ...s.checkpoints.slice(0, 20).map((c) => `  #${c.number} after event ${c.event}: chain ${c.chain.slice(0, 16)}...${c.pages === null ? '' : `, memory ${c.pages} pages`}`),
    ...(s.checkpoints.length > 20 ? [`  ... ${s.checkpoints.length - 20} more`] : []),
    `exit:        ${s.exit ? `${s.exit.outcome} with code ${s.exit.exitCode}${s.exit.trapMessage ? ` (${s.exit.trapMessage})` : ''}; ${s.exit.stdoutBytes} bytes of stdout, ${s.exit.stderrBytes} of stderr${s.exit.fuelUsed === null ? '' : `; fuel used ${s.exit.fuelUsed}${h.maxFuel === null ? '' : ` of ${h.maxFuel}`}`}` : s.stopped ? `(none: ${s.stopped})` : '(not recorded)'}`,
  ];
  return lines.join('\n') + '\n';
}

function stateLabel(s: TraceSummary): string {
  switch (s.state) {
    case 'intact': return 'complete';
    case 'stopped': return `stopped (${s.stopped})`;
    case 'incomplete': return 'INCOMPLETE (cut short)';
    case 'damaged': return 'DAMAGED';
  }
}
