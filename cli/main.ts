// The replicode command line: each command is registered here explicitly and is a thin adapter
// over a library function. Errors the user can fix print one line and exit 1.
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { withClusterOptions, withNodeOptions, type ParsedClusterArgs } from './commands/cluster-options.js';
import { diffCommand, withDiffOptions, type ParsedDiffArgs } from './commands/diff.js';
import { indexCommand, withIndexOptions, type ParsedIndexArgs } from './commands/snapshot-index.js';
import { inspectCommand, withInspectOptions, type ParsedInspectArgs } from './commands/inspect.js';
import { recordCommand, withRecordOptions, type ParsedRecordArgs } from './commands/record.js';
import { replayCommand, withReplayOptions, type ParsedReplayArgs } from './commands/replay.js';
import { runCommand, withRunOptions, type ParsedRunArgs } from './commands/run.js';
import { serveCommand, withServeOptions, type ParsedServeArgs } from './commands/serve.js';
import { exitCodeHelp } from './exit-codes.js';
import { bareJsonFlags } from './json-summary.js';
import { catchStrays, exitCodeFor, fail, handle } from './failure.js';
import { yargsParserConfiguration } from './quick-run.js';
// The key table alone (no Ink, no React): `tui --help` lists the same keys as the TUI's `?` screen.
import { keyHelp } from '../tui/keys/index.js';

/**
 * Examples print one per line, their purpose as a shell comment above, so a long command is
 * never wrapped into what looks like two commands (and a block can be pasted into a shell).
 */
const examples = {
  top: [
    ['replicode run wasm_programs/build/hello.wasm', 'run a WASI module'],
    ['replicode record -o hello.rct wasm_programs/build/hello.wasm', 'record it into a trace'],
    ['replicode replay --quiet hello.rct && echo matches', 'replay it: exit 0 when it matches, 3 when it diverges'],
    ['replicode cluster --replicas 3 --listen 7000=80 wasm_programs/build/http_server.wasm', 'a 3-replica server'],
    ['replicode completion >> ~/.bashrc', 'shell completion (bash; zsh: ~/.zshrc)'],
  ],
  run: [
    ['replicode run wasm_programs/build/hello.wasm', 'print a greeting'],
    ['replicode run --dir ./data::/data --env USER=ada --seed 7 prog.wasm -- -v input.txt', 'preopen, environment, seed and guest arguments'],
    ['replicode run --json=summary.json prog.wasm', 'its exit code and how it ended, as JSON in summary.json'],
  ],
  record: [
    ['replicode record -o hello.rct wasm_programs/build/hello.wasm', 'record a run'],
    ['replicode record --clock real --random os -o clocks.rct wasm_programs/build/clocks.wasm', "record the host's time and entropy"],
  ],
  serve: [
    ['replicode serve --listen 127.0.0.1:8080 wasm_programs/build/js_http_counter.component.wasm', 'serve a wasi:http handler; curl http://127.0.0.1:8080/counter'],
    ['replicode serve --listen 127.0.0.1:8080 -o serve.rct handler.wasm', 'record the session (replicode replay serve.rct)'],
  ],
  replay: [
    ['replicode replay hello.rct', 'replay and verify'],
    ['replicode replay --quiet --to 1000 big.rct', 'verify the first 1000 events without printing guest output'],
    ['replicode replay --quiet --json run.rct 2>&1 | tail -1', 'the outcome as JSON: events verified, exit codes, the divergence'],
    ['replicode replay --exit-code guest hello.rct', "exit with the guest's own code when the replay matches"],
    ['replicode replay --from 500000 --to 500100 big.rct', 'resume from the nearest snapshot (the index, built on first use) and verify 100 events'],
  ],
  inspect: [
    ['replicode inspect hello.rct', 'header, event counts, sizes, checkpoints'],
    ['replicode inspect --events --kind fd_read --limit 10 run.rct', 'the first 10 fd_read events'],
  ],
  cluster: [
    ['replicode cluster --replicas 3 --listen 127.0.0.1:7000=80 wasm_programs/build/http_server.wasm', 'a replicated HTTP server'],
    ['replicode cluster --record-dir traces --listen 6380=6379 wasm_programs/build/resp_server.wasm', "record every replica's trace"],
    ['replicode cluster --chaos 7 --chaos-faults 20 --listen 6380=6379 wasm_programs/build/resp_server.wasm', 'kill and restart replicas at the batches seed 7 picks'],
  ],
  diff: [
    ['replicode diff traces/replica-1.rct traces/replica-2.rct traces/replica-3.rct', 'which replica diverged, where, and why'],
    ['replicode diff --no-replay a.rct b.rct', 'at once, from the traces alone: the checkpoint and the 64 KiB memory pages that differ'],
  ],
  index: [
    ['replicode index big.rct', 'snapshots every ~1000 events into big.rct.idx: replay --from, diff and tui start there'],
  ],
  tui: [
    ['replicode tui traces/replica-1.rct traces/replica-2.rct traces/replica-3.rct', 'press d to jump to the first divergence'],
  ],
  node: [
    ['replicode node --endpoints http://10.0.0.5:2379 --id 2 --replicas 3 --listen 7000=80 server.wasm', 'replica 2 of 3'],
    ['replicode node --endpoints http://10.0.0.5:2379 --id 2 --replicas 3 --listen 7000=80 --snapshot-every 1000 --snapshot-dir /var/lib/replicode --compact server.wasm',
      'restarted, it resumes from its snapshot on disk; the etcd log is compacted below the snapshots'],
  ],
} satisfies Record<string, [string, string][]>;

function withExamples<T>(y: Argv<T>, list: readonly [string, string][]): Argv<T> {
  for (const [command, purpose] of list) y = y.example(`# ${purpose}`, '').example(command, '');
  return y;
}

/** Help text fits the terminal (at most 100 columns), but never so narrow that an example wraps. */
function helpWidth(): number {
  const longest = Math.max(...Object.values(examples).flat().flat().map((line) => line.length));
  return Math.max(Math.min(100, process.stdout.columns ?? 100), longest + 4); // 2 columns of indent each side
}

/**
 * yargs renders the whole help text as each command starts (command.js calls cacheHelpMessage),
 * to show it should the command fail later; a failure here is one line (.fail below), never the
 * help, so the rendering (~35 ms of string widths, on every record, replay, inspect...) is skipped.
 */
function withoutHelpCache<T extends Argv>(cli: T): T {
  const usage = (cli as unknown as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } })
    .getInternalMethods?.().getUsageInstance?.();
  if (usage?.cacheHelpMessage) usage.cacheHelpMessage = () => {};
  return cli;
}

async function main(): Promise<void> {
  await withoutHelpCache(withExamples(yargs(bareJsonFlags(hideBin(process.argv))), examples.top))
    .scriptName('replicode')
    .usage('replicode <command> [options]\n\nRecord, replay and replicate WebAssembly (WASI) programs deterministically.')
    .parserConfiguration(yargsParserConfiguration)
    .command(
      'run [module] [args..]',
      'Run a WASI module deterministically',
      (y) => withExamples(withRunOptions(y), examples.run),
      handle('run', (argv) => runCommand(argv as unknown as ParsedRunArgs)),
    )
    .command(
      'record [module] [args..]',
      'Run a WASI module and record every input into a trace',
      (y) => withExamples(withRecordOptions(withRunOptions(y)), examples.record),
      handle('record', (argv) => recordCommand(argv as unknown as ParsedRecordArgs)),
    )
    .command(
      'serve [module] [args..]',
      'Serve a wasi:http/incoming-handler component over HTTP/1.1 (as wasmtime serve)',
      (y) => withExamples(withServeOptions(y), examples.serve),
      handle('serve', (argv) => serveCommand(argv as unknown as ParsedServeArgs)),
    )
    .command(
      'replay [trace]',
      'Re-execute a trace, verifying every event, output and checkpoint',
      (y) => withExamples(withReplayOptions(y), examples.replay),
      handle('replay', (argv) => replayCommand(argv as unknown as ParsedReplayArgs)),
    )
    .command(
      'inspect [trace]',
      'Summarize a trace, or list its events',
      (y) => withExamples(withInspectOptions(y), examples.inspect),
      handle('inspect', (argv) => inspectCommand(argv as unknown as ParsedInspectArgs)),
    )
    .command(
      'cluster [module] [args..]',
      'Run a machine on several replicas in lockstep behind a consensus log',
      (y) => withExamples(withClusterOptions(withRunOptions(y)), examples.cluster),
      handle('cluster', async (argv) => {
        // Loaded on demand: the consensus code (and etcd's client) is only needed here.
        const { clusterCommand } = await import('./commands/cluster.js');
        return clusterCommand(argv as unknown as ParsedClusterArgs);
      }),
    )
    .command(
      'diff [traces..]',
      'Find where two or more traces part ways: checkpoint, event, inputs, stacks, memory, output',
      (y) => withExamples(withDiffOptions(y), examples.diff),
      handle('diff', (argv) => diffCommand(argv as unknown as ParsedDiffArgs)),
    )
    .command(
      'index [trace]',
      'Build the snapshot index of a trace (TRACE.rct.idx), so replay --from, diff and tui start from snapshots',
      (y) => withExamples(withIndexOptions(y), examples.index),
      handle('index', (argv) => indexCommand(argv as unknown as ParsedIndexArgs)),
    )
    .command(
      'tui [traces..]',
      'Explore where traces diverge: timeline, events side by side, bisection, stacks',
      (y) => withExamples(y.positional('traces', { type: 'string', array: true, describe: '.rct traces (replicas of one run)' }), examples.tui)
        .epilogue(keyHelp().join('\n')),
      handle('tui', async (argv) => {
        const { tuiCommand } = await import('./commands/tui.js');
        return tuiCommand(argv as unknown as { traces?: string[] });
      }),
    )
    .command(
      'node [module] [args..]',
      'Run one replica of a cluster whose replicas run on different machines and agree through etcd',
      (y) => withExamples(withNodeOptions(withRunOptions(y)), examples.node),
      handle('node', async (argv) => {
        const { clusterCommand } = await import('./commands/cluster.js');
        return clusterCommand(argv as unknown as ParsedClusterArgs);
      }),
    )
    .completion('completion', 'Print a bash/zsh completion script (replicode completion >> ~/.bashrc)')
    .demandCommand(1, 'name a command: run, record, serve, replay, inspect, index, diff, tui, cluster, node, completion')
    .strict()
    .wrap(helpWidth())
    .epilogue(exitCodeHelp)
    .help()
    .version()
    .fail((message, err) => {
      if (err) exitCodeFor(err);
      fail(`${message.replace(/\s*\n\s*/g, ' ')} (see replicode --help)`); // yargs' own messages span lines
    })
    .parseAsync();
}

catchStrays();
await main();
