// wasi-threads, deterministically: one guest thread runs at a time and the turn passes at fixed
// points (docs/design.md, "Threads"). The scheduler's state (scheduler.ts), thread 0's host
// (host.ts), the other threads' workers (thread-worker.ts), and the channel between them.
export { isThreadedModule, ThreadHost, type ThreadHostOptions } from './host.js';
export { DeadlockError, Scheduler, WaitResult, defaultMaxThreads, maxMaxThreads, eagain, type GuestThread } from './scheduler.js';
export { ThreadLost, ThreadTrap, threadStartExport, type ThreadFailure } from './failure.js';

/** Exit code of a deadlocked process (every thread waits, none with a timeout): 128 + SIGQUIT, on which a JVM prints its threads. */
export const deadlockExitCode = 131;

/**
 * Exit code of a process one of whose threads lost its worker after thread-spawn succeeded (its
 * script failed, a resource limit): EX_OSERR of sysexits.h, "an operating system error", as a
 * failed fork is. One line names the thread and why.
 */
export const threadLostExitCode = 71;
