// The replicode command line: each command is registered here explicitly and is a thin adapter
// over a library function. Errors the user can fix print one line and exit 1.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { TraceFormatError, TraceLimitError } from '../formats/index.js';
import { ReplaySetupError } from '../replayer/index.js';
import { GatewayError, GuestLinkError, InternalError, ModuleFormatError, PreopenError, TraceFileError, TraceReadError } from '../runtime/index.js';
import { withClusterOptions, withNodeOptions, type ParsedClusterArgs } from './commands/cluster-options.js';
import { diffCommand, withDiffOptions, type ParsedDiffArgs } from './commands/diff.js';
import { inspectCommand, withInspectOptions, type ParsedInspectArgs } from './commands/inspect.js';
import { recordCommand, withRecordOptions, type ParsedRecordArgs } from './commands/record.js';
import { replayCommand, withReplayOptions, type ParsedReplayArgs } from './commands/replay.js';
import { runCommand, withRunOptions, type ParsedRunArgs } from './commands/run.js';
import { ExitCode } from './exit-codes.js';
// The key table alone (no Ink, no React): `tui --help` lists the same keys as the TUI's `?` screen.
import { keyHelp } from '../tui/keys/index.js';
import { UsageError } from './options.js';

function fail(message: string, code: number = ExitCode.usage): never {
  process.stderr.write(`replicode: ${message}\n`);
  process.exit(code);
}

function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError || err instanceof ModuleFormatError || err instanceof GuestLinkError || err instanceof PreopenError
    || err instanceof TraceFormatError || err instanceof TraceLimitError || err instanceof TraceReadError || err instanceof ReplaySetupError || err instanceof GatewayError || err instanceof TraceFileError) {
    fail(err.message);
  }
  const detail = err instanceof InternalError || err instanceof Error ? err.stack ?? err.message : String(err);
  if (process.env.REPLICODE_DEBUG) process.stderr.write(`${detail}\n`);
  fail(`internal error: ${(err as Error)?.message ?? err} (a bug in RepliCode; set REPLICODE_DEBUG=1 for details)`, ExitCode.internal);
}

/** A command's handler: its result is the exit code; anything it throws becomes one line. */
function handle<A>(command: (argv: A) => number | Promise<number>) {
  return async (argv: A): Promise<void> => {
    try {
      process.exitCode = await command(argv);
    } catch (err) {
      exitCodeFor(err);
    }
  };
}

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('replicode')
    .parserConfiguration({ 'populate--': true, 'camel-case-expansion': true, 'greedy-arrays': false })
    .command(
      'run [module] [args..]',
      'Run a WASI module deterministically',
      (y) => withRunOptions(y)
        .example('replicode run wasm_programs/build/hello.wasm', 'print a greeting')
        .example('replicode run --dir ./data::/data --env USER=ada --seed 7 prog.wasm -- -v input.txt', 'preopen, environment, seed and guest arguments'),
      handle((argv) => runCommand(argv as unknown as ParsedRunArgs)),
    )
    .command(
      'record [module] [args..]',
      'Run a WASI module and record every input into a trace',
      (y) => withRecordOptions(withRunOptions(y))
        .example('replicode record -o hello.rct wasm_programs/build/hello.wasm', 'record a run')
        .example('replicode record --clock real --random os -o clocks.rct wasm_programs/build/clocks.wasm', "record the host's time and entropy"),
      handle((argv) => recordCommand(argv as unknown as ParsedRecordArgs)),
    )
    .command(
      'replay [trace]',
      'Re-execute a trace, verifying every event, output and checkpoint',
      (y) => withReplayOptions(y)
        .example('replicode replay hello.rct', 'replay and verify')
        .example('replicode replay --quiet --to 1000 big.rct', 'verify the first 1000 events without printing guest output'),
      handle((argv) => replayCommand(argv as unknown as ParsedReplayArgs)),
    )
    .command(
      'inspect [trace]',
      'Summarize a trace, or list its events',
      (y) => withInspectOptions(y)
        .example('replicode inspect hello.rct', 'header, event counts, sizes, checkpoints')
        .example('replicode inspect --events --kind fd_read --limit 10 run.rct', 'the first 10 fd_read events'),
      handle((argv) => inspectCommand(argv as unknown as ParsedInspectArgs)),
    )
    .command(
      'cluster [module] [args..]',
      'Run a machine on several replicas in lockstep behind a consensus log',
      (y) => withClusterOptions(withRunOptions(y))
        .example('replicode cluster --replicas 3 --listen 127.0.0.1:7000=80 wasm_programs/build/http_server.wasm', 'a replicated HTTP server')
        .example('replicode cluster --record-dir traces --listen 6380=6379 wasm_programs/build/resp_server.wasm', "record every replica's trace"),
      handle(async (argv) => {
        // Loaded on demand: the consensus code (and etcd's client) is only needed here.
        const { clusterCommand } = await import('./commands/cluster.js');
        return clusterCommand(argv as unknown as ParsedClusterArgs);
      }),
    )
    .command(
      'diff [traces..]',
      'Find where two or more traces part ways: checkpoint, event, inputs, stacks, memory, output',
      (y) => withDiffOptions(y)
        .example('replicode diff traces/replica-1.rct traces/replica-2.rct traces/replica-3.rct', 'which replica diverged, where, and why'),
      handle((argv) => diffCommand(argv as unknown as ParsedDiffArgs)),
    )
    .command(
      'tui [traces..]',
      'Explore where traces diverge: timeline, events side by side, bisection, stacks',
      (y) => y.positional('traces', { type: 'string', array: true, describe: '.rct traces (replicas of one run)' })
        .example('replicode tui traces/replica-1.rct traces/replica-2.rct traces/replica-3.rct', 'press d to jump to the first divergence')
        .epilogue(keyHelp().join('\n')),
      handle(async (argv) => {
        const { tuiCommand } = await import('./commands/tui.js');
        return tuiCommand(argv as unknown as { traces?: string[] });
      }),
    )
    .command(
      'node [module] [args..]',
      'Run one replica of a cluster whose replicas run on different machines and agree through etcd',
      (y) => withNodeOptions(withRunOptions(y))
        .example('replicode node --log etcd --endpoints http://10.0.0.5:2379 --id 2 --replicas 3 --listen 0.0.0.0:7000=80 server.wasm', 'replica 2 of 3'),
      handle(async (argv) => {
        const { clusterCommand } = await import('./commands/cluster.js');
        return clusterCommand(argv as unknown as ParsedClusterArgs);
      }),
    )
    .demandCommand(1, 'name a command: run, record, replay, inspect, diff, tui, cluster, node')
    .strict()
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .help()
    .version()
    .fail((message, err) => {
      if (err) exitCodeFor(err);
      fail(`${message} (see replicode --help)`);
    })
    .parseAsync();
}

await main();
