// What run, record and cluster share about a machine's processes on the command line: the
// module plus `--process 'PROG.wasm ARGS...'`, each process's configuration, and running a
// machine until its processes end or the user presses Ctrl-C.
import { basename } from 'node:path';
import {
  defaultHttpIdleTimeoutMs, httpServeRevision, InternalError, isComponentProgram, type GuestProgram, type ListenSpec, type ProcessConfig, type RunningMachine,
} from '../runtime/index.js';
import { loadModuleFile } from './load.js';
import { ExitCode } from './exit-codes.js';

export interface CliProcess {
  path: string;
  module: WebAssembly.Module;
  /** The module file's bytes, as read once. */
  bytes: Uint8Array;
  /** The most memory the module can ever have. */
  memoryLimitBytes: number;
  /** The first process's configuration is the command line's; others get their own argv. */
  config: ProcessConfig;
}

/** The main module (pid 1) and every --process (pid 2, 3, ...), loaded and configured. */
export async function loadProcesses(mainModule: string, processSpecs: string[], config: ProcessConfig): Promise<CliProcess[]> {
  const extra = processSpecs.map((spec) => spec.trim().split(/\s+/));
  const paths = [mainModule, ...extra.map((words) => words[0]!)];
  const modules = await Promise.all(paths.map((path) => loadModuleFile(path, config)));
  return modules.map(({ module, bytes, memoryLimitBytes }, i) => {
    const own = i === 0 ? config : { ...config, args: [basename(paths[i]!), ...extra[i - 1]!.slice(1)] };
    return { path: paths[i]!, module, bytes, memoryLimitBytes, config: asHttpServer(module, own) };
  });
}

/**
 * A wasi:http handler run by run, record, cluster or node (not serve, which sets both itself) is
 * served as `serve` serves it: the current loop (writes that do not block) and the default idle
 * timeout, both in its configuration, so traces say so and replay the same.
 */
function asHttpServer(module: GuestProgram, config: ProcessConfig): ProcessConfig {
  if (!isComponentProgram(module) || !module.httpHandler || config.httpServeRevision !== undefined) return config;
  return { ...config, httpServeRevision, httpIdleTimeoutMs: config.httpIdleTimeoutMs ?? defaultHttpIdleTimeoutMs };
}

/** How a supervised machine ended: its results (undefined when a signal stopped it and its workers were terminated) and that signal, if one came. */
export interface Supervised<T> {
  results: T | undefined;
  /** SIGINT (Ctrl-C) or SIGTERM, when one stopped the machine: the command then exits ExitCode.interrupted. */
  signal: 'SIGINT' | 'SIGTERM' | undefined;
}

/** Says where the machine listens (startMachine's onListening: before any guest output). */
export function announceListening(listening: ListenSpec[]): void {
  for (const l of listening) process.stderr.write(`replicode: ${listeningLine(l)}\n`);
}

/** Stops the machine on SIGINT/SIGTERM, and waits for `results`. */
export async function superviseMachine<T>(running: RunningMachine, results: Promise<T>): Promise<Supervised<T>> {
  const stop = watchStopSignals(() => void running.stop());
  try {
    const settled = await results.catch((err) => {
      if (err instanceof InternalError && /exited \(\d+\) without reporting/.test(err.message)) return undefined;
      throw err;
    });
    return { results: settled, signal: stop.signal() };
  } finally {
    stop.dispose();
  }
}

/** Calls `onStop` on the first SIGINT or SIGTERM and remembers which came; `dispose` stops listening. */
export function watchStopSignals(onStop: () => void): { signal(): 'SIGINT' | 'SIGTERM' | undefined; dispose(): void } {
  let signal: 'SIGINT' | 'SIGTERM' | undefined;
  // A second Ctrl-C while the machine stops, or one after, ends the process at once, still with
  // the documented exit code, not as Node's default for the signal does (killed: no exit code).
  const onSignal = (which: 'SIGINT' | 'SIGTERM') => {
    if (signal !== undefined) process.exit(ExitCode.interrupted);
    signal = which;
    onStop();
  };
  const onSigint = () => onSignal('SIGINT');
  const onSigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  return {
    signal: () => signal,
    dispose: () => {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      const late = () => process.exit(ExitCode.interrupted);
      process.once('SIGINT', late);
      process.once('SIGTERM', late);
    },
  };
}

/** `listening on 127.0.0.1:8080 for guest port 80` (UDP: `listening on udp:127.0.0.1:5353 for guest UDP port 53`). */
export function listeningLine(l: ListenSpec): string {
  return l.protocol === 'udp' ? `listening on udp:${l.host}:${l.port} for guest UDP port ${l.vport}` : `listening on ${l.host}:${l.port} for guest port ${l.vport}`;
}
