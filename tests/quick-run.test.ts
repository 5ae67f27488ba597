// `replicode run`'s quick path (cli/quick-run.ts) parses a plain command line without yargs; for
// every line it accepts, its result must be what yargs (configured as cli/main.ts configures it)
// hands runCommand, and every other line must go to yargs.
import yargs from 'yargs';
import { describe, expect, it } from 'vitest';
import { withRunOptions, type ParsedRunArgs } from '../dist/cli/commands/run.js';
import { quickRunArgs, yargsParserConfiguration } from '../dist/cli/quick-run.js';

const runKeys = ['module', 'args', '--', 'dir', 'env', 'argv0', 'seed', 'epoch', 'writeBack', 'listen', 'host', 'maxMemory', 'maxStack', 'process', 'json'] as const;

/** What runCommand reads of yargs' argv for `run ARGS...`, or the failure message. */
async function yargsRunArgs(args: string[]): Promise<Partial<ParsedRunArgs> | string> {
  let got: Record<string, unknown> | string = 'no handler ran';
  await yargs(['run', ...args]).parserConfiguration(yargsParserConfiguration)
    .command('run [module] [args..]', '', (y) => withRunOptions(y), (argv) => { got = argv as Record<string, unknown>; })
    .strict().fail((message) => { got = `fail: ${message}`; }).parseAsync();
  if (typeof got === 'string') return got;
  const argv = got;
  const picked = Object.fromEntries(runKeys.filter((k) => argv[k] !== undefined).map((k) => [k, argv[k]]));
  // runOptionsFrom turns what follows `--` into strings.
  if (Array.isArray(picked['--'])) picked['--'] = picked['--'].map(String);
  return picked;
}

const plainLines = [
  ['hello.wasm'],
  ['hello.wasm', '7', '007', '1e3', '0x10', 'a b'],
  ['--seed', '7', '--epoch', '2021-01-01', 'a.wasm'],
  ['--dir', 'x::/y', '--env', 'A=1', '--env=B=2', 'p.wasm', '--', '-v', 'input.txt', '--x'],
  ['p.wasm', 'a', '--write-back', 'b'],
  ['--max-memory=64', '--max-stack', '16', 'p.wasm'],
  ['--argv0', 'foo', 'p.wasm', '--'],
  ['--host', 'a=1.2.3.4', '--host=b=1.2.3.5', 'p.wasm', 'x', '--dir', 'd'],
];

const otherLines = [
  [], ['--help'], ['-h'], ['p.wasm', '--help'], ['--json', 'p.wasm'], ['--json=s.json', 'p.wasm'], ['--listen', '7000=80', 'p.wasm'],
  ['--process', 'b.wasm', 'p.wasm'], ['--no-write-back', 'p.wasm'], ['--seed', '1', '--seed', '2', 'p.wasm'], ['--bogus', 'p.wasm'],
  ['--dir'], ['--dir', '--env', 'p.wasm'], ['p.wasm', '-v'], ['p.wasm', '--', '3'], ['p.wasm', '--', '-1'], ['--seed=', 'p.wasm'],
  ['--write-back', '--write-back', 'p.wasm'], ['--toString', 'p.wasm'], ['--__proto__', 'x', 'p.wasm'], ['--dir.x', 'y', 'p.wasm'],
];

describe("run's quick path", () => {
  it('parses a plain line exactly as yargs does', async () => {
    for (const line of plainLines) {
      const quick = quickRunArgs(line);
      expect(quick, JSON.stringify(line)).toBeDefined();
      expect(quick, JSON.stringify(line)).toEqual(await yargsRunArgs(line));
    }
  });

  it('leaves every other line to yargs (help, --json, other options, repeats, numbers after --)', () => {
    for (const line of otherLines) expect(quickRunArgs(line), JSON.stringify(line)).toBeUndefined();
  });

  it('leaves a line longer than it looks at to yargs', () => {
    expect(quickRunArgs(['p.wasm', ...Array.from({ length: 300 }, (_, i) => `a${i}`)])).toBeUndefined();
  });
});
