import { mkdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Argv } from 'yargs';
import { Cluster } from '../../consensus/index.js';
import { formatTrap } from '../../runtime/index.js';
import { outputWriter } from '../guest-output.js';
import { loadModuleFile } from '../load.js';
import { parseCount, parseListenSpec, toProcessConfig, UsageError } from '../options.js';
import { runOptionsFrom, type ParsedRunArgs } from './run.js';

export const maxReplicas = 15;

export function withClusterOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('replicas', { type: 'number', default: 3, describe: `replicas of the machine (1-${maxReplicas})` })
    .option('log', { choices: ['embedded'] as const, default: 'embedded' as const, describe: 'consensus log: embedded (in this process)' })
    .option('record-dir', { type: 'string', describe: "write each replica's traces here (replica-N.rct)" });
}

export interface ParsedClusterArgs extends ParsedRunArgs { replicas: number; log: 'embedded'; recordDir?: string }

/** `replicode cluster`: runs the machine on N replicas in lockstep; reports a disagreeing replica at once. */
export async function clusterCommand(argv: ParsedClusterArgs): Promise<number> {
  const options = runOptionsFrom(argv);
  const config = toProcessConfig(options);
  const replicas = parseCount('replicas', argv.replicas);
  if (replicas > maxReplicas) throw new UsageError(`--replicas ${replicas}: at most ${maxReplicas}`);
  const listen = argv.listen.map(parseListenSpec);
  if (listen.length === 0) throw new UsageError('a cluster serves clients: give at least one --listen HOST:PORT=VPORT');
  if (argv.recordDir) mkdirSync(argv.recordDir, { recursive: true });
  const extra = argv.process.map((spec) => spec.trim().split(/\s+/));
  const paths = [options.module, ...extra.map((w) => w[0]!)];
  const modules = await Promise.all(paths.map(loadModuleFile));
  const write = outputWriter();
  let disagreed = false;
  const cluster = await Cluster.start({
    replicas, listen, ...(argv.recordDir ? { recordDir: argv.recordDir } : {}),
    processes: modules.map((module, i) => ({
      module, moduleName: basename(paths[i]!), moduleBytes: readFileSync(paths[i]!),
      config: i === 0 ? config : { ...config, args: [basename(paths[i]!), ...extra[i - 1]!.slice(1)] },
    })),
    // One replica speaks for all on this terminal; the others' output is compared through the hashes.
    onOutput: (replica, stream, bytes) => { if (replica === 1) void write(stream, bytes); },
    onDisagreement: (d) => {
      disagreed = true;
      const hashes = Object.entries(d.hashes).map(([r, h]) => `replica ${r}: ${h}`).join(', ');
      process.stderr.write(`replicode: replica ${d.replicas.join(', ')} disagrees with the others after batch ${d.batch} (${hashes})\n`);
    },
  });
  for (const l of cluster.listening) process.stderr.write(`replicode: cluster of ${replicas} replicas listening on ${l.host}:${l.port} for guest port ${l.vport}\n`);
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const ended = cluster.outcomes;
  const first = await Promise.race([stopped.then(() => undefined), ended]);
  await cluster.stop();
  process.stderr.write(`replicode: ${cluster.agreedBatches} batches applied by every replica; ${cluster.disagreements.length} disagreement(s)${argv.recordDir ? `; traces in ${argv.recordDir}` : ''}\n`);
  if (first) for (const outcome of first[0] ?? []) if (outcome.kind === 'trap') process.stderr.write(formatTrap(outcome.trap));
  if (disagreed) return 3;
  return first ? (first[0]?.[0]?.exitCode ?? 0) : 130;
}
