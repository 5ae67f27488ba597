#!/usr/bin/env node
// The build (tsc, then esbuild's bundles of the guest worker and of the CLI into dist/), run at most once per
// set-up command: `npm install` builds (prepare), and `npm run demo`, `npm test` and `npm run bench`
// then find dist/ newer than every source file and skip it. `--force` (what `npm run build` and
// prepare pass) always builds.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
/** Written after a whole build succeeds: its time is the build's. */
const stamp = join(root, 'dist', '.build-stamp');
/** What the build reads: tsconfig's include folders, and the files that configure it. */
const sourceDirs = ['types', 'formats', 'runtime', 'cli', 'bench', 'recorder', 'replayer', 'consensus', 'tui'];
const sourceFiles = ['tsconfig.json', 'package-lock.json', 'scripts/build.mjs'];
const bin = (name) => join(root, 'node_modules', '.bin', name);
const steps = [
  [bin('tsc'), ['-p', 'tsconfig.json']],
  // One CommonJS script, which runtime/effects/guest-loader.ts compiles with V8's code cache (an ES module cannot
  // be): `import.meta.url` is the bundle's own URL, which the loader passes in.
  [bin('esbuild'), ['dist/runtime/worker/guest-worker.js', '--bundle', '--platform=node', '--format=cjs', '--log-level=warning',
    '--define:import.meta.url=__bundleUrl', '--outfile=dist/runtime/worker/guest-worker.bundle.cjs']],
  // The worker of each guest thread but the main one (wasi-threads, runtime/sched/).
  [bin('esbuild'), ['dist/runtime/sched/thread-worker.js', '--bundle', '--platform=node', '--format=esm', '--log-level=warning',
    '--outfile=dist/runtime/sched/thread-worker.bundle.js']],
  // Their supervisor, which starts them and watches them (thread 0 cannot while it serves).
  [bin('esbuild'), ['dist/runtime/sched/supervisor.js', '--bundle', '--platform=node', '--format=esm', '--log-level=warning',
    '--outfile=dist/runtime/sched/supervisor.bundle.js']],
  // The CLI (bin/replicode.js loads it): a handful of files instead of ~200 to read and compile.
  // Code loaded on demand (cluster, tui, index, ...) goes in chunks of its own (--splitting);
  // packages that read files next to their own code or are large and rarely used stay outside.
  // `require` is defined for the CommonJS packages inside (an ES module has none).
  [bin('esbuild'), ['dist/cli/main.js', 'dist/cli/run-main.js', '--bundle', '--platform=node', '--format=esm', '--splitting', '--log-level=warning',
    '--outdir=dist/bundle', '--chunk-names=[name]-[hash]',
    ...['etcd3', 'binaryen', '@bytecodealliance/jco', 'ink', 'react', 'msgpackr'].map((p) => `--external:${p}`),
    "--banner:js=import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);"]],
];

/**
 * The guest worker's code caches (runtime/effects/guest-loader.ts): a worker of each kind runs
 * syscall_heavy through the CLI and writes what it compiled to set up, as its guest starts. A
 * cache that could not be made only costs each guest start ~8 ms; the build goes on.
 */
function warmWorkerCaches() {
  const workerDir = join(root, 'dist', 'runtime', 'worker');
  if (!existsSync(join(workerDir, 'guest-worker.bundle.cjs'))) return;
  const cacheOf = (kind) => join(workerDir, `guest-worker.bundle.${kind}.cache`);
  for (const entry of readdirSync(workerDir)) if (entry.endsWith('.cache')) rmSync(join(workerDir, entry), { force: true });
  const dir = mkdtempSync(join(tmpdir(), 'replicode-build-'));
  const program = join(root, 'wasm_programs', 'build', 'syscall_heavy.wasm');
  const trace = join(dir, 'warm-up.rct');
  try {
    for (const [kind, args] of [['run', ['run', program, '--', '20000']], ['record', ['record', '-o', trace, program, '--', '20000']], ['replay', ['replay', trace]]]) {
      const r = spawnSync(process.execPath, [join(root, 'bin', 'replicode.js'), ...args], { env: { ...process.env, REPLICODE_WRITE_WORKER_CACHE: cacheOf(kind) }, stdio: 'ignore' });
      if (r.status !== 0 || !existsSync(cacheOf(kind))) process.stderr.write(`build: no code cache for the ${kind} worker (its warm-up ended with ${r.status ?? r.signal}); guests start ~8 ms slower\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The newest modification time among the sources (a folder walk: a few hundred files). */
function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      // bench/results/ is what `npm run bench` writes, not what the build reads.
      if (entry.isDirectory()) { if (full !== join(root, 'bench', 'results')) walk(full); }
      else if (/\.(ts|tsx|json)$/.test(entry.name)) newest = Math.max(newest, statSync(full).mtimeMs);
    }
  };
  for (const dir of sourceDirs) if (existsSync(join(root, dir))) walk(join(root, dir));
  for (const file of sourceFiles) if (existsSync(join(root, file))) newest = Math.max(newest, statSync(join(root, file)).mtimeMs);
  return newest;
}

function upToDate() {
  return existsSync(stamp) && statSync(stamp).mtimeMs > newestSource();
}

if (!process.argv.includes('--force') && upToDate()) {
  process.stderr.write('build: dist/ is newer than every source file: skipped (npm run build forces it)\n');
  process.exit(0);
}
const started = Date.now();
// The CLI bundle's chunks are named by their hashes: an old build's would stay beside the new.
rmSync(join(root, 'dist', 'bundle'), { recursive: true, force: true });
// What an older build left that nothing loads now (the worker's bundle was an ES module).
rmSync(join(root, 'dist', 'runtime', 'worker', 'guest-worker.bundle.js'), { force: true });
for (const [command, args] of steps) {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
warmWorkerCaches();
writeFileSync(stamp, `${new Date().toISOString()}\n`);
process.stderr.write(`build: done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
