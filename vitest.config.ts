import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Render tests must see Ink's terminal behaviour even when the suite runs in CI.
    setupFiles: ['tests/setup-terminal.ts'],
    // Guest programs run in worker threads and child processes; leave them room.
    testTimeout: 60_000,
    // Most tests wait on child processes and worker threads, so files overlap well: on this
    // 2-core machine two at a time took the suite from 278 s to 181 s (vitest's default there is
    // one). Never fewer than two.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    hookTimeout: 60_000,
    // On a terminal the default reporter shows the files and tests running now; in a log (CI, a
    // pipe) it would print nothing until a whole file ends, which can take minutes: there, a line
    // per finished test (and its time), so a log always shows where the suite is.
    reporters: process.stdout.isTTY ? ['default'] : ['verbose'],
  },
});
