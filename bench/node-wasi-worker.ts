// Baseline for `npm run bench` only: runs a module under Node's own WASI in a worker thread, so
// RepliCode (also a worker per guest) is compared like for like. Never used by the product:
// node:wasi is not deterministic.
import { openSync, readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';
import { parentPort, workerData } from 'node:worker_threads';

const { wasmPath, args } = workerData as { wasmPath: string; args: string[] };
const devNull = openSync('/dev/null', 'w');
const wasi = new WASI({ version: 'preview1', args, env: {}, stdout: devNull, stderr: devNull, returnOnExit: true });
const module = await WebAssembly.compile(readFileSync(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject() as WebAssembly.Imports);
const exitCode = wasi.start(instance);
parentPort!.postMessage({ exitCode });
