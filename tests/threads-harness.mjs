// A test-only runner for the wasi-threads guests in wasm_programs/wat/threads/ on real threads
// (one worker per guest thread, a shared memory), to check that the guests do what they say
// before RepliCode can run them itself (docs/design.md, "Threads"). Not deterministic, and not
// part of RepliCode. Run as: node --no-liftoff tests/threads-harness.mjs GUEST.wat [TIMEOUT_MS]
// (--no-liftoff: Node 20's Liftoff loses a local across memory.atomic.wait32 in a loop; see
// docs/design.md). Prints the guest's stdout, then `exit N`, or `timeout` if it is still running.
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { moduleBinary } from '../dist/runtime/index.js';

const threadSource = `
const { parentPort, workerData, Worker } = require('node:worker_threads');
const { module, memory, tids, tid, arg, source } = workerData;
const imports = {
  env: { memory },
  wasi: {
    'thread-spawn': (a) => {
      const t = Atomics.add(new Int32Array(tids), 0, 1) + 1;
      new Worker(source, { eval: true, workerData: { module, memory, tids, tid: t, arg: a, source } });
      return t;
    },
  },
  wasi_snapshot_preview1: {
    fd_write: (fd, iovs, count, written) => {
      const view = new DataView(memory.buffer);
      for (let i = 0; i < count; i++) {
        const at = view.getUint32(iovs + 8 * i, true);
        const length = view.getUint32(iovs + 8 * i + 4, true);
        process.stdout.write(Buffer.from(new Uint8Array(memory.buffer, at, length)));
      }
      return 0;
    },
    proc_exit: (code) => { parentPort.postMessage({ exit: code }); },
  },
};
const instance = new WebAssembly.Instance(module, imports);
if (tid === 0) { instance.exports._start(); parentPort.postMessage({ exit: 0 }); }
else instance.exports.wasi_thread_start(tid, arg);
`;

const [file, timeout = '5000'] = process.argv.slice(2);
const module = new WebAssembly.Module(await moduleBinary(readFileSync(file)));
const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
const main = new Worker(threadSource, { eval: true, workerData: { module, memory, tids: new SharedArrayBuffer(4), tid: 0, arg: 0, source: threadSource } });
const timer = setTimeout(() => { process.stdout.write('timeout\n'); process.exit(0); }, Number(timeout));
main.on('message', (m) => {
  clearTimeout(timer);
  // Let the guest's last writes through the worker's stdout reach ours first.
  setTimeout(() => { process.stdout.write(`exit ${m.exit}\n`); process.exit(0); }, 100);
});
