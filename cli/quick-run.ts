// `replicode run` without yargs: loading yargs and the other commands, and yargs' rendering of
// the whole help text before every command, were more than half of a short run's time. Only a
// plain command line takes this path: MODULE, its arguments, and the run options below, each
// given once (array options any number of times) with a value that cannot be mistaken for an
// option. Anything else (--help, --json, --listen, --no-..., a short flag, an unknown or repeated
// option, a missing value, a number after --) goes to the full CLI, which parses it as it always
// has: for the lines it accepts, this parser's result is the argv yargs would hand runCommand
// (tests/quick-run.test.ts compares the two).
import type { ParsedRunArgs } from './commands/run.js';

/** How main.ts configures yargs' parser (here so the quick path's test parses as main.ts does). */
export const yargsParserConfiguration = { 'populate--': true, 'camel-case-expansion': true, 'greedy-arrays': false } as const;

/** Run options taking one value: `--NAME VALUE` or `--NAME=VALUE`; true: the option is an array. */
const valueOptions: Record<string, { key: 'dir' | 'env' | 'host' | 'argv0' | 'seed' | 'epoch' | 'maxMemory' | 'maxStack'; array: boolean }> = {
  dir: { key: 'dir', array: true },
  env: { key: 'env', array: true },
  host: { key: 'host', array: true },
  argv0: { key: 'argv0', array: false },
  seed: { key: 'seed', array: false },
  epoch: { key: 'epoch', array: false },
  'max-memory': { key: 'maxMemory', array: false },
  'max-stack': { key: 'maxStack', array: false },
};

/** The most arguments the quick path looks at; a longer line goes to yargs. */
const maxQuickArgs = 256;

/**
 * `args`: what follows `run`. The parsed arguments when the line is plain enough for the quick
 * path, else undefined (the caller then hands the whole line to yargs).
 */
export function quickRunArgs(args: readonly string[]): ParsedRunArgs | undefined {
  if (args.length > maxQuickArgs) return undefined;
  const parsed: ParsedRunArgs = { args: [], dir: [], env: [], host: [], listen: [], process: [], writeBack: false };
  const seen = new Set<string>();
  const positionals: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') break;
    if (!arg.startsWith('-')) {
      if (!plainValue(arg)) return undefined;
      positionals.push(arg);
      continue;
    }
    if (arg === '--write-back') {
      if (seen.has('write-back')) return undefined;
      seen.add('write-back');
      parsed.writeBack = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const option = arg.startsWith('--') ? valueOptions[name] : undefined;
    if (!option || !Object.hasOwn(valueOptions, name)) return undefined;
    const value = eq < 0 ? args[++i] : arg.slice(eq + 1);
    if (value === undefined || !plainValue(value)) return undefined;
    if (option.array) (parsed[option.key] as string[]).push(value);
    else {
      if (seen.has(name)) return undefined;
      seen.add(name);
      (parsed as unknown as Record<string, string>)[option.key] = value;
    }
  }
  const [module, ...rest] = positionals;
  if (module === undefined) return undefined;
  parsed.module = module;
  parsed.args = rest;
  if (i < args.length) {
    const afterDashes = args.slice(i + 1);
    if (afterDashes.some((a) => numberLike.test(a))) return undefined;
    if (afterDashes.length > 0) parsed['--'] = afterDashes;
  }
  return parsed;
}

/** A value yargs takes as the string it is: not empty and not an option. */
function plainValue(value: string): boolean {
  return value !== '' && !value.startsWith('-');
}

/** After `--` yargs turns what looks like a number into one (`1e3` becomes 1000): those lines go to yargs. */
const numberLike = /^[-+]?\.?\d/;
