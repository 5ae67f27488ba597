import { defaultEpochNs } from './clock.js';
import { defaultMaxOpenFds } from './fdtable.js';
import { defaultSnapshotLimits, type SnapshotLimits } from './fs/tree.js';

/** A --dir preopen: the host directory snapshotted at start, and the path the guest sees. */
export interface Preopen {
  hostPath: string;
  guestPath: string;
}

/**
 * Everything that decides what a guest process observes, apart from its module and its input
 * stream. Plain data (structured-cloneable) so it can cross into a worker and into a trace.
 */
export interface ProcessConfig {
  /** argv, including argv[0]. */
  args: string[];
  /** `KEY=VALUE` strings; nothing is inherited from the host. */
  env: string[];
  seed: bigint;
  epochNs: bigint;
  preopens: Preopen[];
  writeBack: boolean;
  maxOpenFds: number;
  snapshotLimits: SnapshotLimits;
  /** 'virtual' (default): time is computed; 'real': the host's clocks (recorded by `record`). */
  clock: 'virtual' | 'real';
  /** 'seeded' (default): the PRNG over `seed`; 'os': host entropy (recorded by `record`). */
  random: 'seeded' | 'os';
  /** Process id on its machine (1, 2, ...): its address on the virtual network is 10.77.0.pid. */
  pid: number;
  /**
   * Where fd 0 reads from: 'host' (default) asks the host effects directly; 'machine' takes
   * stdin from the machine's batches, ordered with its network input (run/record/cluster give
   * this to the first process).
   */
  stdin?: 'host' | 'machine';
  /** The most linear memory the guest may have (--max-memory); absent: the module's own maximum. */
  maxMemoryBytes?: number;
  /**
   * Bytes a connection to an outside client may hold sent and not yet taken by the client
   * (runtime/net/types.ts, maxSendBufferBytes); a machine sets it. Absent: unbounded (traces
   * recorded before the bound existed replay so).
   */
  sendBufferBytes?: number;
  /**
   * The guest's call-stack limit in counted bytes (--max-stack, runtime/rewrite/stack-limit.ts);
   * absent: no limit of its own (V8's, which is not deterministic).
   */
  maxStackBytes?: number;
  /**
   * The most fuel the guest may use (--max-fuel, runtime/rewrite/fuel.ts): past it, it stops at
   * the same instruction everywhere. Absent: no fuel counting.
   */
  maxFuel?: number;
  /**
   * wasi-threads: the fuel a thread runs before the turn passes (--quantum, runtime/rewrite/threads.ts);
   * absent: the default. Only for modules that import wasi.thread-spawn.
   */
  quantum?: number;
  /** wasi-threads: threads alive at once, the main one included (--max-threads); absent: the default (64). */
  maxThreads?: number;
  /** Whether float results are NaN-canonicalised (runtime/rewrite/nans.ts); absent: not (older traces). */
  canonicalNans?: boolean;
  /** Names `sock_getaddrinfo` resolves besides numeric addresses and localhost (an /etc/hosts). */
  hosts?: [name: string, ip: string][];
  /**
   * A wasi:http server's idle timeout (`serve --idle-timeout`, runtime/p2/serve.ts): a connection
   * that sends nothing for this many milliseconds of machine time is closed. Absent: none (traces
   * recorded before it existed replay so).
   */
  httpIdleTimeoutMs?: number;
  /**
   * The wasi:http server loop's revision (runtime/p2/serve.ts `httpServeRevision`): 2 writes
   * without blocking and answers Expect: 100-continue. Absent: 1 (traces recorded before).
   */
  httpServeRevision?: number;
  /** Injected faults (runtime/trace/faults.ts), applied by record, replay and cluster sessions. */
  faults?: string[];
}

export const defaultSeed = 0n;

export function processConfig(partial: Partial<ProcessConfig> & { args: string[] }): ProcessConfig {
  return {
    env: [],
    seed: defaultSeed,
    epochNs: defaultEpochNs,
    preopens: [],
    writeBack: false,
    maxOpenFds: defaultMaxOpenFds,
    snapshotLimits: defaultSnapshotLimits,
    clock: 'virtual',
    random: 'seeded',
    pid: 1,
    ...partial,
  };
}
