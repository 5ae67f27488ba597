#!/usr/bin/env node
// The build (tsc, then esbuild's bundles of the guest worker and of the CLI into dist/), run at most once per
// set-up command: `npm install` builds (prepare), and `npm run demo`, `npm test` and `npm run bench`
// then find dist/ newer than every source file and skip it. `--force` (what `npm run build` and
// prepare pass) always builds.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
  [bin('esbuild'), ['dist/runtime/worker/guest-worker.js', '--bundle', '--platform=node', '--format=esm', '--log-level=warning',
    '--outfile=dist/runtime/worker/guest-worker.bundle.js']],
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

/** The newest modification time among the sources (a folder walk: a few hundred files). */
function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
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
for (const [command, args] of steps) {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
writeFileSync(stamp, `${new Date().toISOString()}\n`);
process.stderr.write(`build: done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
