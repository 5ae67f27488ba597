import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import type { Argv } from 'yargs';
import { startRecording, defaultCheckpointEvery, defaultMaxTraceBytes } from '../../recorder/index.js';
import { TraceLimitError } from '../../formats/index.js';
import { writeTrap } from '../trap-report.js';
import { GuestLinkError, PreopenError, StreamStdin } from '../../runtime/index.js';
import { announceListening, loadProcesses, superviseMachine } from '../machine-processes.js';
import { outputWriter, watchedStreams } from '../guest-output.js';
import { parseCount, parseListenSpec, refuseFaultsBeyondMemory, toProcessConfig, UsageError, withFaults } from '../options.js';
import { guestEnd, runOptionsFrom, stoppedExitCode, type ParsedRunArgs } from './run.js';
import { ExitCode } from '../exit-codes.js';
import { summaryTarget, writeSummary } from '../json-summary.js';

export function withRecordOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('output', { alias: 'o', type: 'string', describe: 'trace file to write (default: MODULE base name + .rct)' })
    .option('clock', { choices: ['virtual', 'real'] as const, default: 'virtual' as const, describe: "guest clocks: computed, or the host's (recorded)" })
    .option('random', { choices: ['seeded', 'os'] as const, default: 'seeded' as const, describe: 'random_get: the seeded PRNG, or OS entropy (recorded)' })
    .option('checkpoint-every', { type: 'string', default: String(defaultCheckpointEvery), describe: 'events between state checkpoints' })
    .option('record-output', { type: 'boolean', default: false, describe: 'store guest output in full (always hashed)' })
    .option('max-trace-bytes', { type: 'string', default: String(defaultMaxTraceBytes), describe: 'stop recording (keeping the trace readable) past this size' })
    .option('inject', { type: 'string', array: true, default: [] as string[], describe: 'inject a fault: bitflip@E[:ADDR[:BIT]], skew@E:NS, drop@E, reorder@E, leak@E, seed:N' })
    .option('embed-module', { type: 'boolean', default: true, describe: 'store the module in the trace (--no-embed-module: its hash only)' });
}

export interface ParsedRecordArgs extends ParsedRunArgs {
  output?: string;
  clock: 'virtual' | 'real';
  random: 'seeded' | 'os';
  checkpointEvery: string;
  recordOutput: boolean;
  embedModule: boolean;
  maxTraceBytes: string;
  inject: string[];
}

/**
 * Makes sure each trace path can be written without touching what is there: a trace recorded
 * before stays whole until this recording starts writing its own (a refused start, such as a bad
 * --dir or a --listen address in use, must not cost the user the trace they had). Returns the paths
 * this call created, which a refused start removes again.
 */
function claimTracePaths(paths: string[]): string[] {
  const created: string[] = [];
  for (const path of paths) {
    const existed = existsSync(path);
    try {
      closeSync(openSync(path, 'a'));
    } catch (err) {
      for (const p of created) rmSync(p, { force: true });
      throw new UsageError(`-o ${path}: cannot write (${(err as NodeJS.ErrnoException).code})`);
    }
    if (!existed) created.push(path);
  }
  return created;
}

/**
 * Runs `run`; if it fails and `removes` says the error calls for it, the files at `paths` go:
 * the empty ones a start that failed had claimed (any error: the guests never ran), or traces
 * that hold a header only because a guest was refused inside its worker (a module that does not
 * link there). Once the guests run, every trace is kept, however they end.
 */
async function removingOnFailure<T>(paths: string[], removes: (err: unknown) => boolean, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (removes(err)) for (const p of paths) rmSync(p, { force: true });
    throw err;
  }
}

/** A refusal of the guest (bad input, not a failure of ours or the user's stop). */
const isRefusal = (err: unknown): boolean =>
  err instanceof UsageError || err instanceof PreopenError || err instanceof GuestLinkError || err instanceof TraceLimitError;

/** Where process `pid`'s trace goes: the -o path for pid 1, NAME.pN.rct for the others. */
export function tracePathFor(first: string, pid: number): string {
  return pid === 1 ? first : first.replace(/(\.rct)?$/, `.p${pid}.rct`);
}

export async function recordCommand(argv: ParsedRecordArgs): Promise<number> {
  const options = runOptionsFrom(argv);
  const config = withFaults(toProcessConfig({ ...options, clock: argv.clock, random: argv.random }), argv.inject);
  const checkpointEvery = parseCount('checkpoint-every', argv.checkpointEvery);
  const maxTraceBytes = parseCount('max-trace-bytes', argv.maxTraceBytes, 1024);
  const listen = argv.listen.map(parseListenSpec);
  const firstTrace = argv.output ?? `${basename(options.module).replace(/\.(wasm|wat)$/, '')}.rct`;
  const loaded = await loadProcesses(options.module, argv.process, config);
  for (const p of loaded) refuseFaultsBeyondMemory(config.faults ?? [], p.memoryLimitBytes, p.path);
  const processes = loaded.map(({ path, module, bytes, config: c }, i) => {
    const tracePath = tracePathFor(firstTrace, i + 1);
    return {
      moduleName: basename(path), moduleBytes: bytes, module, tracePath, config: c,
      checkpointEvery, recordOutput: argv.recordOutput, embedModule: argv.embedModule, maxTraceBytes,
    };
  });
  const created = claimTracePaths(processes.map((p) => p.tracePath));
  const { running, results } = await removingOnFailure(created, () => true, () =>
    startRecording({ processes, listen, stdin: new StreamStdin(process.stdin), onOutput: outputWriter(), watchedOutput: watchedStreams(), onListening: announceListening }));
  const { results: recorded, signal } = await removingOnFailure(processes.map((p) => p.tracePath), isRefusal, () => superviseMachine(running, results));
  if (!recorded) process.stderr.write('replicode: stopped; the traces are closed and readable up to the stop\n');
  let exitCode = recorded?.[0]?.outcome.exitCode ?? ExitCode.interrupted;
  for (const [i, { outcome, stats }] of (recorded ?? []).entries()) {
    if (outcome.kind === 'trap') await writeTrap(outcome.trap, processes[i]!.moduleBytes);
    if (outcome.kind === 'stopped') {
      process.stderr.write(`replicode: recording stopped: ${outcome.reason}\n`);
      if (i === 0) exitCode = 1;
    }
    for (const note of stats?.faultNotes ?? []) process.stderr.write(`replicode: ${note}\n`);
    if (stats) {
      process.stderr.write(`replicode: recorded ${stats.events} events, ${stats.checkpoints} checkpoints, ${stats.traceBytes} bytes to ${processes[i]!.tracePath}\n`);
    }
  }
  const interrupted = signal !== undefined || !recorded;
  if (interrupted) exitCode = stoppedExitCode(signal, recorded?.[0]?.outcome.exitCode);
  writeSummary(summaryTarget(argv.json), {
    command: 'record', outcome: interrupted ? 'interrupted' : recorded[0]!.outcome.kind, exitCode,
    ...(signal ? { signal } : {}),
    processes: processes.map((p, i) => {
      const stats = recorded?.[i]?.stats;
      return {
        pid: i + 1, module: loaded[i]!.path, trace: p.tracePath, ...guestEnd(recorded?.[i]?.outcome),
        ...(stats ? { events: stats.events, checkpoints: stats.checkpoints, traceBytes: stats.traceBytes } : {}),
      };
    }),
  });
  return exitCode;
}
