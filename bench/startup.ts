// Start-up for `npm run bench` (issue #18): `replicode run hello.wasm` and a few other commands
// against `node -e 0`, each a fresh process as a user starts it. The machine is shared, so the
// variants run interleaved (the order rotating each round) and the medians are compared; the
// spread (10th to 90th percentile) says how much to trust them. CPU time (user + system, all
// threads, from /usr/bin/time when there is one) is reported beside the wall clock: it moves less
// when other work shares the cores, but counts the guest worker's boot, which the wall clock
// overlaps with loading the CLI.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StartupCase { name: string; argv: string[] }
export interface StartupResult {
  name: string; command: string; runs: number;
  wallMedianMs: number; wallP10Ms: number; wallP90Ms: number; cpuMedianMs: number | null;
  /** Wall median over `node -e 0`'s. */
  vsNode: number;
}

const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * q)]!;

/** One run of `argv` (node and its arguments): wall ms, and CPU ms when /usr/bin/time can say. */
function timeOnce(argv: string[], cwd: string, timeFile: string | undefined, env: NodeJS.ProcessEnv = process.env): { wallMs: number; cpuMs: number | null } {
  const [command, args] = timeFile ? ['/usr/bin/time', ['-f', '%U %S', '-o', timeFile, ...argv]] : [argv[0]!, argv.slice(1)];
  const start = performance.now();
  const r = spawnSync(command, args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const wallMs = performance.now() - start;
  if (r.status !== 0) throw new Error(`bench start-up: ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  if (!timeFile) return { wallMs, cpuMs: null };
  const [user, system] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { wallMs, cpuMs: ((user ?? NaN) + (system ?? NaN)) * 1000 };
}

export function benchStartup(root: string, rounds: number): { results: StartupResult[]; target: number; meetsTarget: boolean } {
  const dir = mkdtempSync(join(tmpdir(), 'replicode-startup-'));
  const timeFile = existsSync('/usr/bin/time') ? join(dir, 'time.txt') : undefined;
  const cli = join(root, 'bin', 'replicode.js');
  const hello = join(root, 'wasm_programs', 'build', 'hello.wasm');
  const node = process.execPath;
  const cases: StartupCase[] = [
    { name: 'node -e 0', argv: [node, '-e', '0'] },
    { name: 'run hello.wasm', argv: [node, cli, 'run', hello] },
    { name: 'record hello.wasm', argv: [node, cli, 'record', '-o', join(dir, 'hello.rct'), hello] },
    { name: 'replay hello.rct', argv: [node, cli, 'replay', '--quiet', join(dir, 'hello.rct')] },
    { name: 'inspect hello.rct', argv: [node, cli, 'inspect', join(dir, 'hello.rct')] },
    { name: '--help', argv: [node, cli, '--help'] },
  ];
  // The 13.8 MB componentize-js command, its transpiled form and rewritten core read from the
  // cache the warm-up run fills (its rewrites alone took ~1.4 s of CPU on every start before the
  // disk cache of rewritten modules). BENCH_STARTUP_COMPONENT=0 leaves it out.
  const component = join(root, 'wasm_programs', 'build', 'js_command.component.wasm');
  if (existsSync(component) && process.env.BENCH_STARTUP_COMPONENT !== '0') {
    mkdirSync(join(dir, 'data'));
    cases.push({ name: 'run js_command (warm cache)', argv: [node, cli, 'run', '--seed', '7', '--dir', `${join(dir, 'data')}::/data`, component] });
  }
  // A cache of the bench's own: what users see from the second start on, whatever ~/.cache holds.
  const env = { ...process.env, REPLICODE_CACHE_DIR: join(dir, 'cache') };
  try {
    for (const c of cases) timeOnce(c.argv, root, timeFile, env); // warm-up: the page cache, the module cache, and the trace replay reads
    const wall = cases.map(() => [] as number[]);
    const cpu = cases.map(() => [] as number[]);
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < cases.length; k++) {
        const i = (k + round) % cases.length;
        const t = timeOnce(cases[i]!.argv, root, timeFile, env);
        wall[i]!.push(t.wallMs);
        if (t.cpuMs !== null) cpu[i]!.push(t.cpuMs);
      }
    }
    const nodeMs = quantile(wall[0]!, 0.5);
    const results = cases.map((c, i) => ({
      name: c.name, command: c.argv.slice(1).map((a) => a.replace(root + '/', '').replace(dir + '/', '')).join(' '), runs: rounds,
      wallMedianMs: quantile(wall[i]!, 0.5), wallP10Ms: quantile(wall[i]!, 0.1), wallP90Ms: quantile(wall[i]!, 0.9),
      cpuMedianMs: cpu[i]!.length ? quantile(cpu[i]!, 0.5) : null, vsNode: quantile(wall[i]!, 0.5) / nodeMs,
    }));
    for (const r of results) {
      console.log(`${`start-up: ${r.name}`.padEnd(40)} ${r.wallMedianMs.toFixed(0).padStart(5)} ms (${r.wallP10Ms.toFixed(0)}-${r.wallP90Ms.toFixed(0)})  x${r.vsNode.toFixed(2)} node -e 0${r.cpuMedianMs === null ? '' : `   CPU ${r.cpuMedianMs.toFixed(0)} ms`}`);
    }
    const target = 2;
    return { results, target, meetsTarget: results[1]!.vsNode <= target };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
