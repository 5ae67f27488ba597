// Entry point of a guest's worker thread: runs one WASI process to completion and reports.
import { parentPort, workerData } from 'node:worker_threads';
import type { ProcessConfig } from '../config.js';
import { PreopenError } from '../effects/host-fs.js';
import { WorkerEffects } from '../effects/worker-effects.js';
import { GuestLinkError, runGuest } from '../run.js';
import { openChannel, type WorkerMessage } from './channel.js';

interface GuestWorkerData {
  module: WebAssembly.Module;
  config: ProcessConfig;
  channel: SharedArrayBuffer;
}

// Deep guest stacks are the point of a trap report.
Error.stackTraceLimit = 64;

const port = parentPort!;
const { module, config, channel } = workerData as GuestWorkerData;
const effects = new WorkerEffects(port, openChannel(channel));
let message: WorkerMessage;
try {
  message = { kind: 'done', outcome: runGuest(module, config, effects) };
} catch (err) {
  effects.flush();
  const failure = err instanceof GuestLinkError ? 'link' : err instanceof PreopenError ? 'preopen' : 'internal';
  const e = err instanceof Error ? err : new Error(String(err));
  message = { kind: 'failed', failure, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
}
port.postMessage(message);
