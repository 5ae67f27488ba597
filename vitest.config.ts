import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Guest programs run in worker threads and child processes; leave them room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
