// Faults the tests inject through the environment, read here because runtime/effects/ is the
// one place of the deterministic layers that may look at the outside world
// (tests/determinism-rule.test.ts). Nothing a user sets.

/**
 * REPLICODE_TEST_THREAD_WORKER (tests/threads-lost.test.ts), for the thread supervisor
 * (runtime/sched/supervisor.ts): `heap` starts thread workers with a heap too small to start
 * (they fail before they are online), `throw` with a script that throws as it loads (after).
 */
export function threadWorkerFault(): 'heap' | 'throw' | undefined {
  const fault = process.env.REPLICODE_TEST_THREAD_WORKER;
  return fault === 'heap' || fault === 'throw' ? fault : undefined;
}
