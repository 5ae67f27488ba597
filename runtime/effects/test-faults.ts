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

/**
 * REPLICODE_TEST_REPLAY_PATH (tests/replay-shim.test.ts), for ReplaySession: `js` keeps a replay
 * off the replay shim (runtime/trace/replay-shim.ts) where it would engage, `shim` makes a replay
 * that does not engage it fail (exit 70), so the tests compare the two paths knowing which ran.
 */
export function replayPathForced(): 'js' | 'shim' | undefined {
  const path = process.env.REPLICODE_TEST_REPLAY_PATH;
  return path === 'js' || path === 'shim' ? path : undefined;
}
