// WASI 0.2 command components (the C programs wrapped with jco's preview1 command adapter) run,
// record and replay through the CLI with the output of their preview1 originals, byte for byte;
// what RepliCode cannot serve is refused before the run, by name.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileProgram, rewritePipeline } from '../dist/runtime/index.js';
import { dataDirFor, expectedStdout, programCases, programsDir, runCli, tempDir, type ProgramCase } from './helpers.js';

const cacheDir = tempDir('replicode-components-cache-');
const env = { REPLICODE_CACHE_DIR: cacheDir };
const component = (wasm: string) => wasm.replace(/\.wasm$/, '.component.wasm');

/** CLI arguments for a case, run as `wasm`, with the argv[0] of the module (the file names differ). */
function argsFor(command: string, c: ProgramCase, wasm: string, dataDir: string | null, extra: string[] = []): string[] {
  const args = [command, ...extra, '--argv0', c.wasm.split('/').pop()!];
  for (const [k, v] of Object.entries(c.env)) args.push('--env', `${k}=${v}`);
  if (c.seed !== null) args.push('--seed', String(c.seed));
  if (dataDir) args.push('--dir', `${dataDir}::/data`);
  args.push(join(programsDir, wasm), '--', ...c.args);
  return args;
}

const names = ['hello', 'args_env', 'clocks', 'random', 'random_seed_7', 'files', 'line_count', 'stdin_echo', 'exit_code', 'exit_code_zero', 'trap', 'sha256', 'kvstore'];
const cases = programCases().filter((c) => names.includes(c.name));

describe('a component runs with its preview1 original\'s output', () => {
  it('covers every program it names', () => expect(cases.map((c) => c.name).sort()).toEqual([...names].sort()));

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const asModule = runCli(argsFor('run', c, c.wasm, dataDirFor(c)), c.stdin, undefined, env);
    const asComponent = runCli(argsFor('run', c, component(c.wasm), dataDirFor(c)), c.stdin, undefined, env);
    if (c.name === 'files') {
      // WASI 0.2 has no "capabilities insufficient": escaping the preopen is not-permitted (EPERM).
      expect(asComponent.stdout).toBe(asModule.stdout.replace('preopen: Capabilities insufficient', 'preopen: Operation not permitted'));
    } else {
      expect(asComponent.stdout).toBe(asModule.stdout);
      expect(asComponent.stdout).toBe(expectedStdout(c));
    }
    // wasi:cli/exit@0.2 carries ok or err only: a non-zero exit code becomes 1 (the adapter's mapping).
    expect(asComponent.exitCode, asComponent.stderr).toBe(c.exitCode === 0 || c.exitCode === 134 ? c.exitCode : 1);
    for (const fragment of c.stderrIncludes) expect(asComponent.stderr).toContain(fragment);
  });
});

describe('a component\'s trace', () => {
  const byName = (name: string) => cases.find((c) => c.name === name)!;

  it.each(['files', 'clocks', 'stdin_echo', 'random_seed_7', 'trap'])('%s: records, and replays with the same output', (name) => {
    const c = byName(name);
    const trace = join(tempDir(), `${name}.rct`);
    const recorded = runCli(argsFor('record', c, component(c.wasm), dataDirFor(c), ['-o', trace]), c.stdin, undefined, env);
    expect(recorded.stderr).toMatch(/recorded \d+ events/);
    const replayed = runCli(['replay', trace], '', undefined, env);
    expect(replayed.exitCode, replayed.stderr).toBe(0);
    expect(replayed.stderr).toContain('replay matches the recording');
    expect(replayed.stdout).toBe(recorded.stdout);
  });

  it('with the host\'s clock and entropy (--clock real --random os): replays from the recorded inputs', () => {
    const c = byName('clocks');
    const trace = join(tempDir(), 'clocks-real.rct');
    const recorded = runCli(argsFor('record', c, component(c.wasm), null, ['--clock', 'real', '--random', 'os', '-o', trace]), '', undefined, env);
    expect(recorded.stdout).not.toContain('realtime: 2020-01-01'); // the host's time, not the epoch
    const replayed = runCli(['replay', trace], '', undefined, env);
    expect(replayed.stderr).toContain('replay matches the recording');
    expect(replayed.stdout).toBe(recorded.stdout);
  });

  it('names the preview1 calls the component made', () => {
    const c = byName('files');
    const trace = join(tempDir(), 'files.rct');
    runCli(argsFor('record', c, component(c.wasm), dataDirFor(c), ['-o', trace]), '', undefined, env);
    const inspected = runCli(['inspect', trace], '', undefined, env);
    expect(inspected.stdout).toMatch(/events: +\d+ \(.*path_open \d+.*\)/);
    expect(inspected.stdout).toContain('files.component.wasm');
  });

  it('diverges (exit 3) when replayed with another component', () => {
    const c = byName('hello');
    const trace = join(tempDir(), 'hello.rct');
    runCli(argsFor('record', c, component(c.wasm), null, ['-o', trace]), '', undefined, env);
    const other = runCli(['replay', '--module', join(programsDir, 'build', 'args_env.component.wasm'), trace], '', undefined, env);
    expect(other.exitCode, other.stderr).toBe(3);
  });

  it('is refused by the snapshot commands, in one line', () => {
    const c = byName('hello');
    const trace = join(tempDir(), 'hello.rct');
    runCli(argsFor('record', c, component(c.wasm), null, ['-o', trace]), '', undefined, env);
    const from = runCli(['replay', '--from', '1', trace], '', undefined, env);
    expect(from.exitCode).toBe(1);
    expect(from.stderr.trim()).toMatch(/this trace runs a WASI 0\.2 component: hook steps, snapshots and replay --from need a core module/);
  });
});

describe('a component of two core modules of guest code', () => {
  const wat = join(programsDir, 'wat', 'p2_two_cores.wat');
  // The second module's 0/0: canonical (positive) by default on every machine, so exit 0; x86's own
  // NaN (negative) without canonicalisation, so exit 1 there (ARM's is positive: not asserted).
  it('has NaN canonicalisation in its second module too; record and replay agree', () => {
    const trace = join(tempDir(), 'two-cores.rct');
    const recorded = runCli(['record', '-o', trace, wat], '', undefined, env);
    expect(recorded.exitCode, recorded.stderr).toBe(0);
    expect(runCli(['replay', '-q', trace], '', undefined, env).exitCode).toBe(0);
    if (process.arch === 'x64') expect(runCli(['run', '--no-canonical-nans', wat], '', undefined, env).exitCode).toBe(1);
  });

  // Its second module recursing without end: stopped by the stack limit (each module counts its
  // own frames), not by V8's own limit ("Maximum call stack size exceeded"), which is not
  // deterministic; the recording replays to the same trap.
  it('has the stack limit in its second module too', () => {
    const deep = join(programsDir, 'wat', 'p2_deep_second_core.wat');
    const trace = join(tempDir(), 'deep.rct');
    const recorded = runCli(['record', '-o', trace, deep], '', undefined, env);
    expect(recorded.exitCode).toBe(134);
    expect(recorded.stderr).toContain('replicode: guest trapped: call stack exhausted (--max-stack)');
    expect(recorded.stderr).toMatch(/#0 deep\.down/);
    const replay = runCli(['replay', '-q', trace], '', undefined, env);
    expect(replay.stderr).toContain('replicode: replay matches the recording');
    expect(replay.exitCode).toBe(0);
  });

  it('counts fuel in modules of guest code only: not in the preview1 adapter nor jco\'s shims (old traces count the main module only)', async () => {
    const passes = rewritePipeline({ maxFuel: 1000 });
    const compile = async (file: string) => await compileProgram(readFileSync(file), file, undefined, passes) as unknown as { fueled: string[]; cores: Record<string, unknown> };
    for (const name of ['syscall_heavy', 'p2_client', 'js_command']) {
      const adapted = await compile(join(programsDir, 'build', `${name}.component.wasm`));
      expect(Object.keys(adapted.cores).length).toBeGreaterThan(2);
      expect(adapted.fueled).toEqual(['guest.core.wasm']);
    }
    expect((await compile(join(programsDir, 'wat', 'p2_spin_second_core.wat'))).fueled).toHaveLength(2);
  });

  // Its second module looping for ever without a call: --max-fuel stops it there (that module
  // counts its own fuel); before, nothing did. The fuel used is in the trace, and replays.
  it('counts fuel in its second module too', () => {
    const spin = join(programsDir, 'wat', 'p2_spin_second_core.wat');
    const trace = join(tempDir(), 'spin.rct');
    const recorded = runCli(['record', '--max-fuel', '1000000', '-o', trace, spin], '', undefined, env);
    expect(recorded.exitCode).toBe(152);
    expect(recorded.stderr).toContain('replicode: guest trapped: fuel exhausted (--max-fuel)');
    const summary = JSON.parse(runCli(['inspect', '--json', trace], '', undefined, env).stdout);
    expect(summary.exit).toMatchObject({ exitCode: 152 });
    expect(summary.exit.fuelUsed).toBeGreaterThan(1_000_000);
    const replay = runCli(['replay', '-q', trace], '', undefined, env);
    expect(replay.stderr).toContain('replicode: replay matches the recording');
    expect(replay.exitCode).toBe(0);
  });
});

describe('what RepliCode cannot serve is refused before the run', () => {
  const run = (wat: string) => runCli(['run', join(programsDir, 'wat', wat)], '', undefined, env);

  it('an interface it does not know, with its version', () => {
    const r = run('p2_unknown_import.wat');
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim()).toBe(`replicode: ${join(programsDir, 'wat', 'p2_unknown_import.wat')} imports what RepliCode does not provide: example:greeter/api@1.0.0`);
  });

  it('a version of a WASI interface it does not serve, with the function', () => {
    const r = run('p2_future_version.wat');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('imports what RepliCode does not provide: wasi:random/random@0.3.0 get-random-u64');
  });

  it('a component that is not a command', () => {
    const r = run('p2_not_a_command.wat');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('is a component but not a WASI command: it does not export wasi:cli/run@0.2 (nor wasi:http/incoming-handler@0.2, for serve) (it exports add)');
  });
});

describe('bounds', () => {
  it('get-random-bytes past 64 MiB in one call is a trap, as in every run', () => {
    const r = runCli(['run', join(programsDir, 'wat', 'p2_random_limit.wat')], '', undefined, env);
    expect(r.exitCode).toBe(134);
    expect(r.stderr).toContain('guest trapped: get-random-bytes of 268435456 bytes (at most 67108864)');
  });
});

describe('the transpile cache', () => {
  it('keeps one file per component, and a damaged one is transpiled again', () => {
    const dir = tempDir('replicode-cache-');
    const hello = join(programsDir, 'build', 'hello.component.wasm');
    expect(runCli(['run', hello], '', undefined, { REPLICODE_CACHE_DIR: dir }).stdout).toBe(readFileSync(join(programsDir, 'expected', 'hello.txt'), 'utf8'));
    const files = readdirSync(dir).filter((f) => f.startsWith('component-'));
    expect(files).toHaveLength(1);
    writeFileSync(join(dir, files[0]!), 'damaged');
    const again = runCli(['run', hello], '', undefined, { REPLICODE_CACHE_DIR: dir });
    expect(again.exitCode).toBe(0);
    expect(readFileSync(join(dir, files[0]!)).length).toBeGreaterThan(1000);
    expect(existsSync(join(dir, files[0]!))).toBe(true);
  });
});

describe('a damaged component is the input\'s fault', () => {
  it('truncated or with a byte changed: it compiles, or it is refused in one line (never a bug)', async () => {
    process.env.REPLICODE_CACHE_DIR = tempDir('replicode-fuzz-cache-');
    const { compileProgram, GuestLinkError, ModuleFormatError } = await import('../dist/runtime/index.js');
    const original = readFileSync(join(programsDir, 'build', 'hello.component.wasm'));
    let refused = 0;
    let state = 12345;
    const next = (n: number) => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return state % n; };
    const damaged = [
      ...Array.from({ length: 12 }, () => original.subarray(0, 8 + next(original.length - 8))),
      ...Array.from({ length: 12 }, () => { const b = Uint8Array.from(original); b[8 + next(200)] ^= 1 + next(255); return b; }),
    ];
    for (const bytes of damaged) {
      try {
        await compileProgram(bytes, 'fuzz.wasm');
      } catch (err) {
        if (!(err instanceof ModuleFormatError || err instanceof GuestLinkError)) throw err;
        expect((err as Error).message).not.toContain('\n');
        refused++;
      }
    }
    expect(refused).toBeGreaterThanOrEqual(12); // every truncation at least
  }, 120_000);
});
