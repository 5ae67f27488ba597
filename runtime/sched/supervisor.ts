// Entry point of a threaded process's thread supervisor: a small worker that thread 0 starts at
// its first thread-spawn and that starts every other thread's worker (thread-worker.ts) for it.
// Thread 0 cannot watch its own workers: it sleeps in Atomics.wait while another thread holds
// the turn, so it would never take a worker's 'error' or 'exit' event, and a worker that failed
// to start (its script threw, a resource limit, no memory for an isolate) would leave it asleep
// for ever. The supervisor's event loop is free: it answers each spawn once the new worker is
// online (or failed before that: thread-spawn then returns -EAGAIN), and when a worker stops it
// says why on its port and marks the slot lost, which wakes thread 0 (channel.ts).
import { parentPort, Worker, workerData, type MessagePort } from 'node:worker_threads';
import { SchedChannel, SpawnAck } from './channel.js';
import type { ThreadWorkerData } from './thread-worker.js';
import { threadWorkerFault } from '../effects/test-faults.js';

export interface SupervisorData {
  /** Where spawns come from and where a lost worker's reason goes (thread 0 reads it synchronously). */
  port: MessagePort;
  channel: SharedArrayBuffer;
  /** The thread worker's script (a URL's href: a URL does not go through postMessage). */
  threadWorkerUrl: string;
  stackMb: number | undefined;
}

/** A spawn request: everything the thread's worker gets. */
export type SpawnRequest = ThreadWorkerData;

/** What the supervisor tells thread 0 about a worker that stopped or never started. */
export interface LostWorker { tid: number; reason: string }

/** Test-only (tests/threads-lost.test.ts): see threadWorkerFault. */
const testFault = threadWorkerFault();

const { port, channel, threadWorkerUrl, stackMb } = workerData as SupervisorData;
const ch = new SchedChannel(channel);

function start(req: SpawnRequest): Worker {
  const resourceLimits = {
    ...(stackMb !== undefined ? { stackSizeMb: stackMb } : {}),
    ...(testFault === 'heap' ? { maxOldGenerationSizeMb: 0.1, maxYoungGenerationSizeMb: 0.1 } : {}),
  };
  const options = { workerData: req, transferList: [req.port], resourceLimits };
  if (testFault === 'throw') return new Worker('throw new Error("test fault: the thread worker\'s script throws")', { ...options, eval: true });
  return new Worker(new URL(threadWorkerUrl), options);
}

function spawn(req: SpawnRequest): void {
  let online = false;
  let reason: string | undefined;
  let worker: Worker;
  try {
    worker = start(req);
  } catch {
    ch.answerSpawn(SpawnAck.failed);
    return;
  }
  worker.on('online', () => { online = true; ch.answerSpawn(SpawnAck.online); });
  worker.on('error', (err: Error & { code?: string }) => { reason = err.code ? `${err.code}: ${err.message}` : err.message; });
  worker.on('exit', (code) => {
    if (!online) { ch.answerSpawn(SpawnAck.failed); return; }
    // A thread worker that posted its exit or its failure ends with code 0 and no error: nothing
    // to say (so the port holds at most one message per lost thread; the first ends the process).
    if (code === 0 && reason === undefined) return;
    const lost: LostWorker = { tid: req.tid, reason: reason ?? `it exited with code ${code}` };
    port.postMessage(lost);
    ch.markLost(req.slot, req.tid);
  });
}

port.on('message', (req: SpawnRequest) => spawn(req));
parentPort?.unref();
