import type { Argv } from 'yargs';
import { defaultMaxMemoryBytes, defaultMaxStackBytes, defaultMaxThreads, defaultQuantum, startMachine, StreamStdin, type GuestOutcome } from '../../runtime/index.js';
import { ExitCode } from '../exit-codes.js';
import { summaryTarget, withJsonOption, writeSummary } from '../json-summary.js';
import { announceListening, loadProcesses, superviseMachine } from '../machine-processes.js';
import { outputWriter, watchedStreams } from '../guest-output.js';
import { writeTrap } from '../trap-report.js';
import { parseListenSpec, toProcessConfig, UsageError, type RunOptions } from '../options.js';

/** The options `run` shares with `record` (and later `cluster`): exactly these, as tools rely on them. */
export function withRunOptions<T>(yargs: Argv<T>) {
  return withJsonOption(yargs
    .positional('module', { type: 'string', describe: 'WASI preview1 module (.wasm binary or .wat text)' })
    .positional('args', { type: 'string', array: true, default: [] as string[], describe: 'arguments for the guest (after --)' })
    .option('dir', { type: 'string', array: true, default: [] as string[], describe: 'preopen HOST[::GUEST] (snapshotted at start)' })
    .option('env', { type: 'string', array: true, default: [] as string[], describe: 'guest environment variable KEY=VALUE (nothing is inherited)' })
    .option('argv0', { type: 'string', describe: "guest's argv[0] (default: the module file's base name)" })
    .option('seed', { type: 'string', describe: 'PRNG seed for random_get, unsigned 64-bit (default 0)' })
    .option('epoch', { type: 'string', describe: 'virtual realtime clock start, ISO date (default 2020-01-01T00:00:00Z)' })
    .option('write-back', { type: 'boolean', default: false, describe: "write the guest's changes to --dir directories back to disk at exit" })
    .option('listen', { type: 'string', array: true, default: [] as string[], describe: 'accept TCP clients on HOST:PORT and deliver them to guest port VPORT (HOST:PORT=VPORT; udp:HOST:PORT=VPORT for UDP)' })
    .option('max-memory', { type: 'string', describe: `most guest memory, in MiB: memory.grow past it fails (default ${defaultMaxMemoryBytes / 2 ** 20})` })
    .option('max-stack', { type: 'string', describe: `most call stack, in MiB of counted frames: a deeper call traps with "call stack exhausted" (default ${defaultMaxStackBytes / 2 ** 20})` })
    .option('max-fuel', { type: 'string', describe: 'stop the guest once it has used N fuel (about N instructions), at the same instruction on every machine; exit code 152' })
    .option('quantum', { type: 'string', describe: `wasi-threads: fuel a thread runs before the next one gets the turn (default ${defaultQuantum})` })
    .option('max-threads', { type: 'string', describe: `wasi-threads: most threads alive at once, the main one included; thread-spawn fails with -EAGAIN past it (default ${defaultMaxThreads})` })
    .option('canonical-nans', { type: 'boolean', default: true, describe: 'canonicalise the NaNs float arithmetic produces, so their bits are the same on every machine (--no-canonical-nans: off)' })
    .option('host', { type: 'string', array: true, default: [] as string[], describe: 'a name sock_getaddrinfo resolves, NAME=a.b.c.d (besides numbers and localhost)' })
    .option('process', { type: 'string', array: true, default: [] as string[], describe: "another process on the same machine (pid 2, 3, ...): 'PROG.wasm ARGS...'" }));
}

export interface ParsedRunArgs {
  module?: string;
  args: string[];
  '--'?: (string | number)[];
  dir: string[];
  env: string[];
  argv0?: string;
  seed?: string;
  epoch?: string;
  writeBack: boolean;
  listen: string[];
  host: string[];
  maxMemory?: string;
  maxStack?: string;
  maxFuel?: string;
  quantum?: string;
  maxThreads?: string;
  canonicalNans?: boolean;
  process: string[];
  /** serve's --idle-timeout, already in milliseconds (serve.ts parses it). */
  httpIdleTimeoutMs?: number;
  /** serve's loop revision (runtime/p2/serve.ts httpServeRevision). */
  httpServeRevision?: number;
  /** --json[=FILE]: '' for stderr. */
  json?: string;
}

export function runOptionsFrom(argv: ParsedRunArgs): RunOptions {
  // Checked here rather than by yargs, so an unknown option is reported as such first.
  if (!argv.module) throw new UsageError('name the module to run: replicode run [options] MODULE.wasm [-- ARGS...]');
  return {
    module: argv.module,
    args: [...argv.args, ...(argv['--'] ?? [])].map(String),
    dir: argv.dir,
    env: argv.env,
    argv0: argv.argv0,
    seed: argv.seed,
    epoch: argv.epoch,
    writeBack: argv.writeBack,
    hosts: argv.host ?? [],
    maxMemoryMiB: argv.maxMemory,
    maxStackMiB: argv.maxStack,
    maxFuel: argv.maxFuel,
    quantum: argv.quantum,
    maxThreads: argv.maxThreads,
    canonicalNans: argv.canonicalNans ?? true,
    ...(argv.httpIdleTimeoutMs !== undefined ? { httpIdleTimeoutMs: argv.httpIdleTimeoutMs } : {}),
    ...(argv.httpServeRevision !== undefined ? { httpServeRevision: argv.httpServeRevision } : {}),
  };
}

/**
 * `replicode run`: runs the guest (and any --process) on one machine with this process's
 * stdio; returns the exit code to use (the first process's, or 130 when Ctrl-C stopped it).
 */
export async function runCommand(argv: ParsedRunArgs): Promise<number> {
  const options = runOptionsFrom(argv);
  const config = toProcessConfig(options);
  const listen = argv.listen.map(parseListenSpec);
  const processes = await loadProcesses(options.module, argv.process, config);
  const write = outputWriter();
  const watchedOutput = watchedStreams();
  const running = await startMachine({
    listen,
    processes: processes.map(({ module, config: c }) => ({ module, config: c, onOutput: write, watchedOutput })),
    stdin: new StreamStdin(process.stdin),
    onListening: announceListening,
  });
  const { results: outcomes, signal } = await superviseMachine(running, running.outcomes);
  for (const [i, outcome] of (outcomes ?? []).entries()) if (outcome.kind === 'trap') await writeTrap(outcome.trap, processes[i]?.path);
  const interrupted = signal !== undefined || !outcomes;
  const exitCode = interrupted ? stoppedExitCode(signal, outcomes?.[0]?.exitCode) : outcomes[0]!.exitCode;
  writeSummary(summaryTarget(argv.json), {
    command: 'run', outcome: interrupted ? 'interrupted' : outcomes[0]!.kind, exitCode,
    ...(signal ? { signal } : {}),
    processes: processes.map((p, i) => ({ pid: i + 1, module: p.path, ...guestEnd(outcomes?.[i]) })),
  });
  return exitCode;
}

/**
 * A machine stopped by Ctrl-C or SIGTERM exits 130 whatever its guests did on the way out (a
 * server whose blocked accept failed with ENETDOWN may exit 0 or 1): one code a script can test.
 */
export function stoppedExitCode(signal: string | undefined, guestExitCode: number | undefined): number {
  const guest = guestExitCode === undefined ? 'the guest was stopped before it exited' : `the guest exited with code ${guestExitCode}`;
  process.stderr.write(`replicode: stopped by ${signal ?? 'a signal'}, exit code ${ExitCode.interrupted} (${guest})\n`);
  return ExitCode.interrupted;
}

/** A process's end for a --json summary: how it ended and its exit code (null: stopped before it exited). */
export function guestEnd(outcome: GuestOutcome | undefined): { end: string; guestExitCode: number | null; fuelUsed?: number } {
  if (!outcome) return { end: 'interrupted', guestExitCode: null };
  const fuel = outcome.kind === 'exit' || outcome.kind === 'trap' ? outcome.fuelUsed : undefined;
  return { end: outcome.kind, guestExitCode: outcome.exitCode, ...(fuel !== undefined ? { fuelUsed: fuel } : {}) };
}
