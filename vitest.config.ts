import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Render tests must see Ink's terminal behaviour even when the suite runs in CI.
    setupFiles: ['tests/setup-terminal.ts'],
    // Guest programs run in worker threads and child processes; leave them room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // On a terminal the default reporter shows the files and tests running now; in a log (CI, a
    // pipe) it would print nothing until a whole file ends, which can take minutes: there, a line
    // per finished test (and its time), so a log always shows where the suite is.
    reporters: process.stdout.isTTY ? ['default'] : ['verbose'],
  },
});
