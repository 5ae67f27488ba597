// Exit codes a script can trust, JSON summaries, and help a newcomer can read (issue 13):
// replay answers "did it match" (0/3/1) whatever the guest's own exit code, a stop by Ctrl-C is
// 130 for run, record and cluster, --json sums every command up, examples print on one line.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliPath, lastJson, programsDir, runCli, startCli, tempDir, type RunningCli } from './helpers.js';

const httpWasm = join(programsDir, 'build', 'http_server.wasm');
const dir = tempDir();

/** A guest that calls proc_exit(code). */
function exitWat(code: number): string {
  const file = join(dir, `exit${code}.wat`);
  writeFileSync(file, `(module (import "wasi_snapshot_preview1" "proc_exit" (func $e (param i32)))
    (memory (export "memory") 1) (func (export "_start") (call $e (i32.const ${code}))))`);
  return file;
}

/** Starts a server command, makes one HTTP request, then sends SIGINT; resolves with its exit code. */
async function serveOneRequestThenCtrlC(args: string[]): Promise<{ cli: RunningCli; code: number | null }> {
  const cli = startCli(args);
  const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
  expect((await fetch(`http://127.0.0.1:${port}/counter`)).status).toBe(200);
  cli.child.kill('SIGINT');
  return { cli, code: await cli.exited };
}

describe('replay: 0 when it matches, 3 when it diverges, 1 for bad input', () => {
  it('a script that pipes `replicode replay` of a server trace stopped by Ctrl-C gets exit 0', async () => {
    const trace = join(dir, 'server.rct');
    const { cli, code } = await serveOneRequestThenCtrlC(['record', '-o', trace, '--listen', '127.0.0.1:0=80', httpWasm]);
    expect(code, cli.stderr()).toBe(130);
    const piped = spawnSync('bash', ['-o', 'pipefail', '-c', `node "${cliPath}" replay --quiet "${trace}" | cat`], { encoding: 'utf8', timeout: 60_000 });
    expect(piped.stderr).toMatch(/replicode: replay matches the recording/);
    expect(piped.status, piped.stderr).toBe(0);
    // The guest's own code is still there for whoever wants it.
    const guest = runCli(['replay', '--quiet', '--exit-code', 'guest', trace]);
    const guestCode = Number(/guest exit code (\d+)/.exec(guest.stderr)?.[1]);
    expect(guestCode).not.toBe(0); // the server's accept failed with ENETDOWN
    expect(guest.exitCode).toBe(guestCode);
  });

  it("a matching replay of a guest that exited 5 exits 0 and prints the guest's code; --exit-code guest gives 5", () => {
    const trace = join(dir, 'exit5.rct');
    expect(runCli(['record', '-o', trace, exitWat(5)]).exitCode).toBe(5);
    const r = runCli(['replay', trace]);
    expect(r.stderr).toBe('replicode: replay matches the recording: 1 events, 1 checkpoints verified, guest exit code 5\n');
    expect(r.exitCode).toBe(0);
    expect(runCli(['replay', '--exit-code', 'guest', trace]).exitCode).toBe(5);
    expectOneLine(runCli(['replay', '--exit-code', 'own', trace]), /Invalid values:/);
  });

  it('a divergence exits 3 under either policy; a missing trace exits 1', () => {
    const trace = join(dir, 'exit5.rct');
    runCli(['record', '-o', trace, exitWat(5)]);
    for (const policy of ['match', 'guest']) expect(runCli(['replay', '--exit-code', policy, '--module', exitWat(6), trace]).exitCode).toBe(3);
    expect(runCli(['replay', join(dir, 'none.rct')]).exitCode).toBe(1);
  });
});

describe('a stop by Ctrl-C exits 130 from run, record and cluster', () => {
  it('run --listen: the server exits on ENETDOWN, the command exits 130 and says why', async () => {
    const { cli, code } = await serveOneRequestThenCtrlC(['run', '--listen', '127.0.0.1:0=80', httpWasm]);
    expect(code, cli.stderr()).toBe(130);
    expect(cli.stderr()).toMatch(/replicode: stopped by SIGINT, exit code 130 \(the guest exited with code \d+\)\n/);
  });

  it('cluster: 130, and --json sums it up at the stop (batches, disagreements, traces)', async () => {
    const traces = join(dir, 'traces');
    const { cli, code } = await serveOneRequestThenCtrlC(['cluster', '--json', '--replicas', '2', '--record-dir', traces, '--listen', '127.0.0.1:0=80', httpWasm]);
    expect(code, cli.stderr()).toBe(130);
    const summary = lastJson(cli.stderr());
    expect(summary).toMatchObject({ command: 'cluster', outcome: 'interrupted', exitCode: 130, signal: 'SIGINT', replicas: 2, disagreements: [] });
    expect(summary.batches).toBeGreaterThan(0);
    expect(summary.traces).toEqual([join(traces, 'replica-1.rct'), join(traces, 'replica-2.rct')]);
  });
});

describe('--json summaries', () => {
  it('run: on stderr (its last line) with --json, into a file with --json=FILE', () => {
    const r = runCli(['run', '--json', exitWat(5)]);
    expect(r.exitCode).toBe(5);
    expect(lastJson(r.stderr)).toEqual({ command: 'run', outcome: 'exit', exitCode: 5, processes: [{ pid: 1, module: exitWat(5), end: 'exit', guestExitCode: 5 }] });
    const file = join(dir, 'run.json');
    expect(runCli(['run', `--json=${file}`, exitWat(5)]).stderr).toBe('');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ command: 'run', exitCode: 5 });
  });

  it('record: events, checkpoints and the trace path', () => {
    const trace = join(dir, 'json.rct');
    const r = runCli(['record', '--json', '-o', trace, exitWat(3)]);
    expect(lastJson(r.stderr)).toMatchObject({
      command: 'record', outcome: 'exit', exitCode: 3, processes: [{ pid: 1, trace, end: 'exit', guestExitCode: 3, events: 1, checkpoints: 1 }],
    });
  });

  it('replay: outcome, events and checkpoints verified, exit codes, the divergence', () => {
    const trace = join(dir, 'replay-json.rct');
    runCli(['record', '-o', trace, exitWat(5)]);
    expect(lastJson(runCli(['replay', '--json', trace]).stderr)).toEqual({
      command: 'replay', trace, outcome: 'match', exitCode: 0, events: 1, checkpoints: 1, guestEnd: 'exit', guestExitCode: 5, divergence: null,
    });
    const diverged = lastJson(runCli(['replay', '--json', '--module', exitWat(7), trace]).stderr);
    expect(diverged).toMatchObject({ outcome: 'diverged', exitCode: 3, guestEnd: null, divergence: { event: 0, reason: 'the guest called with different arguments' } });
    const missing = runCli(['replay', '--json', join(dir, 'none.rct')]);
    expect(missing.exitCode).toBe(1);
    expect(lastJson(missing.stderr)).toMatchObject({ command: 'replay', outcome: 'error', exitCode: 1, error: expect.stringContaining('no such file') });
  });
});

describe('help', () => {
  it('examples print one command per line, each with its purpose as a comment above', () => {
    for (const command of ['run', 'record', 'replay', 'inspect', 'cluster', 'diff', 'tui', 'node']) {
      const help = runCli([command, '--help']);
      expect(help.exitCode).toBe(0);
      // The examples run up to the first blank line (tui's key list follows them as an epilogue).
      const section = help.stdout.slice(help.stdout.indexOf('Examples:\n') + 'Examples:\n'.length).split('\n\n')[0]!.trimEnd().split('\n');
      expect(section.length, command).toBeGreaterThan(1);
      for (const line of section) expect(line, `${command} --help`).toMatch(/^ {2}(# |replicode )/);
    }
  });

  it('replicode --help lists the commands, examples and the exit codes', () => {
    const help = runCli(['--help']).stdout;
    expect(help).toContain('replicode completion');
    expect(help).toMatch(/Examples:\n {2}# run a WASI module\n {2}replicode run /);
    expect(help).toMatch(/Exit codes:\n {2}0 +success; replay: the run matched its trace/);
    for (const code of ['1', '3', '70', '130', '134']) expect(help).toMatch(new RegExp(`\\n {2}${code} +\\S`));
  });

  it('node: --log defaults to etcd, --endpoints is required, cluster-only --replies is refused', () => {
    const help = runCli(['node', '--help']).stdout;
    expect(help).toMatch(/--log .*\n?.*\[choices: "etcd"\] \[default: "etcd"\]/);
    expect(help).not.toContain('--replies');
    const hello = join(programsDir, 'build', 'hello.wasm');
    expectOneLine(runCli(['node', '--id', '1', '--replicas', '2', '--listen', '7000=80', hello]), /^replicode: Missing required argument: endpoints/);
    expectOneLine(runCli(['node', '--id', '1', '--replicas', '2', '--endpoints', 'http://127.0.0.1:1', '--replies', 'majority', '--listen', '7000=80', hello]), /Unknown argument: replies/);
    expectOneLine(runCli(['node', '--log', 'embedded', '--id', '1', '--replicas', '2', '--endpoints', 'http://127.0.0.1:1', '--listen', '7000=80', hello]), /Invalid values:/);
    expectOneLine(runCli(['node', '--id', '1', '--replicas', '2', '--endpoints', 'http://127.0.0.1:1', '--inject', '2:drop@3', '--listen', '7000=80', hello]), /--inject 2:drop@3: this node runs replica 1 only/);
    expectOneLine(runCli(['cluster', '--endpoints', 'http://127.0.0.1:1', '--listen', '7000=80', hello]), /--endpoints http:\/\/127\.0\.0\.1:1: etcd's endpoints are for --log etcd/);
  });

  it('replicode completion prints a completion script, and completes command names', () => {
    const script = runCli(['completion']);
    expect(script.exitCode).toBe(0);
    expect(script.stdout).toContain('--get-yargs-completions');
    const words = runCli(['--get-yargs-completions', 'rep']).stdout.split('\n');
    expect(words).toEqual(expect.arrayContaining(['replay', 'record', 'cluster', 'node']));
  });
});

function expectOneLine(r: { exitCode: number; stderr: string }, pattern: RegExp): void {
  expect(r.exitCode).toBe(1);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^replicode: /);
  expect(lines[0]).not.toMatch(/^replicode: replicode/);
  expect(lines[0]).toMatch(pattern);
}
