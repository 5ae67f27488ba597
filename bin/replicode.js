#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run by `npm install` via `prepare`)
// and bundled into dist/bundle/ (a few files to read and compile instead of ~200). A command that
// runs a guest starts the guest's worker first, so its boot overlaps the CLI's loading; `run`
// starts from run-main.js, which skips yargs for a plain command line (cli/quick-run.ts).
import { startEarlyGuestWorker } from '../dist/runtime/worker/early.js';

const command = process.argv[2];
if (command === 'run' || command === 'record' || command === 'replay') {
  startEarlyGuestWorker(new URL('../dist/runtime/effects/guest-loader.js', import.meta.url), command);
}
await import(command === 'run' ? '../dist/bundle/run-main.js' : '../dist/bundle/main.js');
