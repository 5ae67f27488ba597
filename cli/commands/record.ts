import { closeSync, openSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Argv } from 'yargs';
import { record, defaultCheckpointEvery, defaultMaxTraceBytes } from '../../recorder/index.js';
import { formatTrap, StreamStdin } from '../../runtime/index.js';
import { outputWriter } from '../guest-output.js';
import { loadModuleFile } from '../load.js';
import { parseCount, toProcessConfig, UsageError } from '../options.js';
import { runOptionsFrom, type ParsedRunArgs } from './run.js';

export function withRecordOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('output', { alias: 'o', type: 'string', describe: 'trace file to write (default: MODULE base name + .rct)' })
    .option('clock', { choices: ['virtual', 'real'] as const, default: 'virtual' as const, describe: "guest clocks: computed, or the host's (recorded)" })
    .option('random', { choices: ['seeded', 'os'] as const, default: 'seeded' as const, describe: 'random_get: the seeded PRNG, or OS entropy (recorded)' })
    .option('checkpoint-every', { type: 'number', default: defaultCheckpointEvery, describe: 'events between state checkpoints' })
    .option('record-output', { type: 'boolean', default: false, describe: 'store guest output in full (always hashed)' })
    .option('max-trace-bytes', { type: 'number', default: defaultMaxTraceBytes, describe: 'stop recording (keeping the trace readable) past this size' })
    .option('embed-module', { type: 'boolean', default: true, describe: 'store the module in the trace (--no-embed-module: its hash only)' });
}

export interface ParsedRecordArgs extends ParsedRunArgs {
  output?: string;
  clock: 'virtual' | 'real';
  random: 'seeded' | 'os';
  checkpointEvery: number;
  recordOutput: boolean;
  embedModule: boolean;
  maxTraceBytes: number;
}

export async function recordCommand(argv: ParsedRecordArgs): Promise<number> {
  const options = runOptionsFrom(argv);
  const config = toProcessConfig({ ...options, clock: argv.clock, random: argv.random });
  const checkpointEvery = parseCount('checkpoint-every', argv.checkpointEvery);
  const tracePath = argv.output ?? `${basename(options.module).replace(/\.(wasm|wat)$/, '')}.rct`;
  const module = await loadModuleFile(options.module);
  try {
    closeSync(openSync(tracePath, 'w'));
  } catch (err) {
    throw new UsageError(`-o ${tracePath}: cannot write (${(err as NodeJS.ErrnoException).code})`);
  }
  const { outcome, stats } = await record({
    moduleName: basename(options.module), moduleBytes: readFileSync(options.module), module, config, tracePath,
    checkpointEvery, recordOutput: argv.recordOutput, embedModule: argv.embedModule,
    maxTraceBytes: parseCount('max-trace-bytes', argv.maxTraceBytes, 1024),
    stdin: new StreamStdin(process.stdin), onOutput: outputWriter(),
  });
  if (outcome.kind === 'trap') process.stderr.write(formatTrap(outcome.trap));
  if (outcome.kind === 'stopped') process.stderr.write(`replicode: recording stopped: ${outcome.reason}\n`);
  if (stats) {
    process.stderr.write(`replicode: recorded ${stats.events} events, ${stats.checkpoints} checkpoints, ${stats.traceBytes} bytes to ${tracePath}\n`);
  }
  return outcome.kind === 'stopped' ? 1 : outcome.exitCode;
}
