// The replicode command line: each command is registered here explicitly and is a thin adapter
// over a library function. Errors the user can fix print one line and exit 1.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { GuestLinkError, InternalError, ModuleFormatError, PreopenError } from '../runtime/index.js';
import { runCommand, withRunOptions, type ParsedRunArgs } from './commands/run.js';
import { ExitCode } from './exit-codes.js';
import { UsageError } from './options.js';

function fail(message: string, code: number = ExitCode.usage): never {
  process.stderr.write(`replicode: ${message}\n`);
  process.exit(code);
}

function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError || err instanceof ModuleFormatError || err instanceof GuestLinkError || err instanceof PreopenError) {
    fail(err.message);
  }
  const detail = err instanceof InternalError || err instanceof Error ? err.stack ?? err.message : String(err);
  if (process.env.REPLICODE_DEBUG) process.stderr.write(`${detail}\n`);
  fail(`internal error: ${(err as Error)?.message ?? err} (a bug in RepliCode; set REPLICODE_DEBUG=1 for details)`, ExitCode.internal);
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
      async (argv) => {
        try {
          process.exitCode = await runCommand(argv as unknown as ParsedRunArgs);
        } catch (err) {
          exitCodeFor(err);
        }
      },
    )
    .demandCommand(1, 'name a command: run')
    .strict()
    .help()
    .version()
    .fail((message, err) => {
      if (err) exitCodeFor(err);
      fail(`${message} (see replicode --help)`);
    })
    .parseAsync();
}

await main();
