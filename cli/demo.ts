// `npm run demo`: a guided tour on built-in defaults. Each step prints the exact command a user
// would type and what it printed, so the demo doubles as a tutorial.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const repoRoot = join(import.meta.dirname, '..', '..');
const launcher = join(repoRoot, 'bin', 'replicode.js');
const program = (name: string) => relative(process.cwd(), join(repoRoot, 'wasm_programs', 'build', `${name}.wasm`)) || name;
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

let failures = 0;

function step(title: string, args: string[], options: { stdin?: string; expectExit?: number; maxLines?: number } = {}): string {
  console.log(`\n${bold(`== ${title}`)}`);
  const shown = args.map((a) => (/[\s'"]/.test(a) ? `'${a}'` : a)).join(' ');
  console.log(dim(`$ ${options.stdin !== undefined ? `printf ${JSON.stringify(options.stdin)} | ` : ''}replicode ${shown}`));
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [launcher, ...args], { input: options.stdin ?? '', encoding: 'utf8' });
  const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
  const lines = `${r.stdout}${r.stderr}`.trimEnd().split('\n');
  const limit = options.maxLines ?? 20;
  for (const line of lines.slice(0, limit)) console.log(`  ${line}`);
  if (lines.length > limit) console.log(dim(`  ... ${lines.length - limit} more lines`));
  const expected = options.expectExit ?? 0;
  const ok = r.status === expected;
  if (!ok) failures++;
  console.log(dim(`  (exit ${r.status}${ok ? '' : `, expected ${expected}`}; ${ms} ms wall time)`));
  return r.stdout;
}

const work = mkdtempSync(join(tmpdir(), 'replicode-demo-'));
try {
  console.log(bold('RepliCode: deterministic WASI. Same module + same inputs = same bytes out, on every machine.'));

  step('A first guest', ['run', program('hello')]);
  step('Arguments and environment (nothing is inherited from the host)', ['run', '--env', 'GREETING=hi', program('args_env'), '--', 'one', 'two words']);
  step('Virtual time: the guest sleeps 1.75 s, but no real time passes', ['run', program('clocks')]);
  const first = step('Randomness comes from a seeded PRNG', ['run', '--seed', '7', program('random')]);
  const again = step('... the same seed gives the same bytes', ['run', '--seed', '7', program('random')]);
  if (first !== again) { failures++; console.log('  !! outputs differ'); }
  step('... another seed, other bytes', ['run', '--seed', '8', program('random')]);

  const data = join(work, 'data');
  spawnSync('mkdir', ['-p', data]);
  writeFileSync(join(data, 'kv.db'), 'lang\tC\n');
  step('A key-value store on a snapshotted directory (changes stay in memory)', ['run', '--dir', `${data}::/data`, program('kvstore')], { stdin: 'get lang\nset lang wasm\nlist\n' });
  console.log(dim(`  host file still holds: ${JSON.stringify(readFileSync(join(data, 'kv.db'), 'utf8'))}`));
  step('... and with --write-back the changes reach the disk at exit', ['run', '--write-back', '--dir', `${data}::/data`, program('kvstore')], { stdin: 'set lang wasm\n' });
  console.log(dim(`  host file now holds: ${JSON.stringify(readFileSync(join(data, 'kv.db'), 'utf8'))}`));

  step('Compute-heavy: SHA-256 of 16 MiB at near-native wasm speed', ['run', program('sha256'), '--', '16']);
  step('A trap exits 134 and names the guest functions on the stack', ['run', program('trap')], { expectExit: 134, maxLines: 8 });
  step('... and, for a module built with -g, the file, line and column of each frame (from its DWARF)', ['run', program('trap_debug')], { expectExit: 134, maxLines: 8 });
  step('Exit codes pass through', ['run', program('exit_code'), '--', '7'], { expectExit: 7 });

  const trace = join(work, 'clocks.rct');
  const recorded = step("Record a run that reads the host's real clock and OS entropy", ['record', '--clock', 'real', '--random', 'os', '-o', trace, program('clocks')]);
  step('What the trace holds', ['inspect', trace], { maxLines: 14 });
  const replayed = step('Replay it: the same output, although the host clock has moved on', ['replay', trace]);
  if (replayed !== recorded) { failures++; console.log('  !! replay output differs from the recording'); }

  await divergenceHunt(work);
} finally {
  rmSync(work, { recursive: true, force: true });
}

/**
 * The finale: a replicated HTTP server with a fault injected into replica 2 (it loses the first
 * byte a client sends), three requests, then `replicode diff` on the three replicas' traces.
 */
async function divergenceHunt(dir: string): Promise<void> {
  const traces = join(dir, 'traces');
  // The server's debug build (-g): diff names the source line where the replicas part ways.
  const args = ['cluster', '--replicas', '3', '--record-dir', traces, '--inject', '2:drop@0', '--listen', '127.0.0.1:0=80', program('http_server_debug')];
  console.log(`\n${bold('== A replicated server, with a fault injected into replica 2')}`);
  console.log(dim(`$ replicode ${args.join(' ')}   (then three requests, then Ctrl-C)`));
  const child = spawn(process.execPath, [launcher, ...args]);
  let stderr = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', () => reject(new Error(stderr)));
  });
  for (let i = 0; i < 3; i++) {
    const body = await (await fetch(`http://127.0.0.1:${port}/counter`)).text();
    console.log(`  GET /counter -> ${body.trim()}   (answered by replica 1, the designated one; the others are checked by their hashes)`);
  }
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  const code = await exited;
  for (const line of stderr.trim().split('\n').filter((l) => l.startsWith('replicode:'))) console.log(`  ${line}`);
  if (code !== 3) { failures++; console.log(`  !! expected exit 3 (a replica disagreed), got ${code}`); }
  const files = [1, 2, 3].map((r) => join(traces, `replica-${r}.rct`));
  const report = step('Which replica diverged, where, and why (in source lines too: the module has debug info)', ['diff', ...files], { expectExit: 3, maxLines: 20 });
  if (!/source line at the divergent event[\s\S]*http_server\.c:\d+/.test(report)) { failures++; console.log('  !! diff did not name a line of http_server.c'); }
}

console.log(`\n${failures === 0 ? bold('Demo finished: every step behaved as expected.') : bold(`Demo finished with ${failures} unexpected result(s).`)}`);
console.log('Next: `npm test` runs the test suite; `replicode --help` lists the commands.');
process.exitCode = failures === 0 ? 0 : 1;
