// The guest worker's code caches (runtime/effects/guest-loader.ts, made by scripts/build.mjs): each
// kind of worker compiles its bundle from its own, and a cache made for another bundle is not used.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { programsDir, repoRoot, runCli, tempDir } from './helpers.js';

const workerDir = join(repoRoot, 'dist', 'runtime', 'worker');
const loader = join(repoRoot, 'dist', 'runtime', 'effects', 'guest-loader.js');
const report = { REPLICODE_REPORT_WORKER_CACHE: '1' };

/** What a loader in `root`/effects says of the cache in `root`/worker: a worker of `kind` started there, stopped once it has said it (it then waits for its setup). */
async function cacheVerdict(root: string, kind: string): Promise<string> {
  const worker = new Worker(join(root, 'effects', 'guest-loader.js'), { argv: [kind], stderr: true, env: { ...process.env, ...report } });
  try {
    let said = '';
    for await (const chunk of worker.stderr) {
      said += String(chunk);
      const line = /worker code cache \((\w+)\): (\w+)/.exec(said);
      if (line) return `${line[1]} ${line[2]}`;
    }
    return said;
  } finally {
    await worker.terminate();
  }
}

describe('the guest worker starts from a code cache', () => {
  it('run, record and replay each compile the bundle from the cache the build made for them', () => {
    const dir = tempDir();
    const hello = join(programsDir, 'build', 'hello.wasm');
    const trace = join(dir, 'hello.rct');
    const said = (args: string[]) => {
      const r = runCli(args, '', repoRoot, report);
      expect(r.exitCode, r.stderr).toBe(0);
      return /worker code cache \((\w+)\): (\w+)/.exec(r.stderr)?.slice(1).join(' ');
    };
    expect(said(['run', hello])).toBe('run used');
    expect(said(['record', '-o', trace, hello])).toBe('record used');
    expect(said(['replay', trace])).toBe('replay used');
  });

  it('takes a cache only for the bundle it was made from: another bundle, or a damaged cache, compiles as usual', async () => {
    const root = tempDir();
    const dir = join(root, 'worker');
    mkdirSync(dir);
    mkdirSync(join(root, 'effects'));
    copyFileSync(loader, join(root, 'effects', 'guest-loader.js'));
    for (const file of ['guest-worker.bundle.cjs', 'guest-worker.bundle.run.cache']) copyFileSync(join(workerDir, file), join(dir, file));
    expect(await cacheVerdict(root, 'run')).toBe('run used');
    // The same bundle with one comment more: the cache's stamp no longer matches.
    writeFileSync(join(dir, 'guest-worker.bundle.cjs'), `${readFileSync(join(workerDir, 'guest-worker.bundle.cjs'), 'utf8')}// edited\n`);
    expect(await cacheVerdict(root, 'run')).toBe('run none');
    // The bundle as built, its cache cut short: V8 refuses what is left, or the stamp is short.
    copyFileSync(join(workerDir, 'guest-worker.bundle.cjs'), join(dir, 'guest-worker.bundle.cjs'));
    const cache = readFileSync(join(workerDir, 'guest-worker.bundle.run.cache'));
    writeFileSync(join(dir, 'guest-worker.bundle.run.cache'), cache.subarray(0, cache.length >> 1));
    expect(await cacheVerdict(root, 'run')).toMatch(/^run (refused|none)$/);
    // No cache for a kind: none.
    expect(await cacheVerdict(root, 'record')).toBe('record none');
  });
});
