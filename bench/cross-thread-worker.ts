// The blocking-call mechanism of runtime/worker/channel.ts in isolation: post a request, sleep
// in Atomics.wait, wake when the main thread answers. Measures one round trip.
import { parentPort, workerData } from 'node:worker_threads';

const { shared, rounds } = workerData as { shared: SharedArrayBuffer; rounds: number };
const control = new Int32Array(shared);
for (let i = 0; i < rounds; i++) {
  Atomics.store(control, 0, 1);
  parentPort!.postMessage(i);
  while (Atomics.load(control, 0) === 1) Atomics.wait(control, 0, 1);
}
parentPort!.postMessage('done');
