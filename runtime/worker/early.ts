// A guest worker started before the CLI's modules load (bin/replicode.js, for run, record and
// replay), so the ~50 ms of a worker's boot overlaps theirs. It waits for its setup as its first
// message (guest-worker.ts); startGuest takes it when its stack size is the one it needs, and an
// untaken one is unref'd, so it never keeps the process alive. Imports nothing of RepliCode's:
// bin/replicode.js loads this file alone. The hand-over goes through a global symbol because the
// CLI's bundle has its own copy of this module.
import { Worker } from 'node:worker_threads';

const key = Symbol.for('replicode.earlyGuestWorker');

interface EarlyWorker { worker: Worker; stackMb: number; exited: boolean }

/**
 * guestThreadStackMb(defaultMaxStackBytes) (runtime/rewrite/index.ts): the stack a guest gets
 * unless --max-stack says otherwise; spawn.ts asserts that the two agree.
 */
export const defaultGuestStackMb = 24;

/**
 * Starts the worker at `url` (the guest worker's loader) and keeps it for takeEarlyGuestWorker;
 * `kind` (run, record, replay) picks the loader's code cache.
 */
export function startEarlyGuestWorker(url: URL, kind: string): void {
  const slot = globalThis as { [key]?: EarlyWorker };
  if (slot[key]) return;
  const worker = new Worker(url, { argv: [kind], resourceLimits: { stackSizeMb: defaultGuestStackMb } });
  const early: EarlyWorker = { worker, stackMb: defaultGuestStackMb, exited: false };
  worker.unref();
  worker.on('error', () => {}); // a worker that failed to boot is not taken; startGuest starts its own
  worker.once('exit', () => { early.exited = true; });
  slot[key] = early;
}

/** The early worker, if one is waiting with this stack size (once); others are stopped. */
export function takeEarlyGuestWorker(stackMb: number | undefined): Worker | undefined {
  const slot = globalThis as { [key]?: EarlyWorker };
  const early = slot[key];
  if (!early) return undefined;
  delete slot[key];
  if (early.exited) return undefined;
  if (stackMb !== early.stackMb) {
    void early.worker.terminate();
    return undefined;
  }
  early.worker.removeAllListeners('error');
  early.worker.ref();
  return early.worker;
}
