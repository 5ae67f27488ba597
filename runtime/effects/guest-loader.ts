// The guest worker's entry: compiles the worker's bundle (runtime/worker/guest-worker.bundle.cjs,
// one CommonJS script built by scripts/build.mjs) with a V8 code cache the build wrote beside
// it, and runs it. As an ES module the bundle was compiled afresh in every worker (~10 ms of its
// ~45 ms start); from a cache the script, and every function the build's warm-up ran to set up
// its guest, come compiled. Not the functions of the guest's calls: taken from a cache, those ran
// slower for the rest of the run (a 10M-event recording ~30 ms; design.md "#18, eighth pass").
// There is a cache per kind of worker (its first argument: run, record or replay), each written
// by a worker of that kind, since each sets up code the others do not. A cache is used only with
// the very bundle it was made from (its SHA-256 leads the file): V8 itself checks little more
// than the source's length. Without one, or with one V8 refuses (another Node), the bundle is
// compiled as usual. Imports nothing of RepliCode's.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
import { threadId } from 'node:worker_threads';

const bundlePath = fileURLToPath(new URL('../worker/guest-worker.bundle.cjs', import.meta.url));
const kind = ['record', 'replay'].includes(process.argv[2] ?? '') ? process.argv[2] : 'run';
const workerCachePath = bundlePath.replace(/\.cjs$/, `.${kind}.cache`);
/** Set by the build's warm-up: the worker writes the code cache at `workerCachePath` as its guest starts. */
const writeCacheVariable = 'REPLICODE_WRITE_WORKER_CACHE';
/** Called by the bundle (guest-worker.ts) once it has set up, as its guest starts. */
const guestStartingHook = Symbol.for('replicode.guestWorkerStarting');

// One line, so that the bundle's line numbers in stacks stay its own. The bundle begins with
// esbuild's "use strict", which so opens the function: strict, as the modules it was built from.
const wrapped = `(function (exports, require, module, __filename, __dirname, __bundleUrl) {${readFileSync(bundlePath, 'utf8')}\n})`;
const stamp = createHash('sha256').update(wrapped).digest();

function cachedData(): Buffer | undefined {
  try {
    const file = readFileSync(workerCachePath);
    return file.length > stamp.length && file.subarray(0, stamp.length).equals(stamp) ? file.subarray(stamp.length) : undefined;
  } catch {
    return undefined; // none (a build that could not make one): compiled as usual
  }
}

const cache = cachedData();
const script = new Script(wrapped, { filename: bundlePath, ...(cache ? { cachedData: cache } : {}) });
// For tests (tests/worker-cache.test.ts): whether this worker compiled from its cache.
if (process.env.REPLICODE_REPORT_WORKER_CACHE === '1') {
  process.stderr.write(`replicode: worker code cache (${kind}): ${!cache ? 'none' : script.cachedDataRejected ? 'refused' : 'used'}\n`);
}
if (process.env[writeCacheVariable] === workerCachePath) {
  (globalThis as { [guestStartingHook]?: () => void })[guestStartingHook] = () => {
    const temporary = `${workerCachePath}.${process.pid}-${threadId}.tmp`;
    writeFileSync(temporary, Buffer.concat([stamp, script.createCachedData()]));
    renameSync(temporary, workerCachePath);
  };
}
const module = { exports: {} };
(script.runInThisContext() as (...args: unknown[]) => void)(
  module.exports, createRequire(bundlePath), module, bundlePath, dirname(bundlePath), pathToFileURL(bundlePath).href,
);
