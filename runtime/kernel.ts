import { VirtualClock } from './clock.js';
import type { ProcessConfig } from './config.js';
import type { KernelContext, SyscallTable } from './context.js';
import type { HostEffects } from './effects/types.js';
import { WasiError } from './errno.js';
import { FdTable } from './fdtable.js';
import { Filesystem, fsSyscalls, mountSnapshot, writeBackOps, type DirectoryHandle } from './fs/index.js';
import type { TreeNode } from './fs/tree.js';
import { GuestMemory } from './memory.js';
import { SeededRandom } from './prng.js';
import { OutputHandle, StdinHandle } from './stdio.js';
import { fdSyscalls } from './wasi/fd.js';
import { pollSyscalls } from './wasi/poll.js';
import { processSyscalls } from './wasi/process.js';
import { socketSyscalls } from './wasi/sock.js';

export const wasiModuleName = 'wasi_snapshot_preview1';

/**
 * One guest process's deterministic kernel: its clock, PRNG, fd table and filesystem, and the
 * wasi_snapshot_preview1 imports over them. Owns all of its state; instances share nothing.
 */
export class Kernel implements KernelContext {
  readonly fds: FdTable;
  readonly clock: VirtualClock;
  readonly random: SeededRandom;
  readonly fs: Filesystem;
  readonly args: readonly string[];
  readonly env: readonly string[];
  private guestMemory: GuestMemory | undefined;
  private readonly mounts: { hostPath: string; root: DirectoryHandle; snapshot: TreeNode }[] = [];
  private readonly syscalls: SyscallTable;

  constructor(readonly config: ProcessConfig, readonly effects: HostEffects) {
    this.args = config.args;
    this.env = config.env;
    this.clock = new VirtualClock(config.epochNs);
    this.random = new SeededRandom(config.seed);
    this.fds = new FdTable(config.maxOpenFds);
    this.fs = new Filesystem(this.clock, config.snapshotLimits);
    this.fds.allocate(new StdinHandle(effects));
    this.fds.allocate(new OutputHandle(effects, 1));
    this.fds.allocate(new OutputHandle(effects, 2));
    for (const { hostPath, guestPath } of config.preopens) {
      const snapshot = effects.loadTree(hostPath, config.snapshotLimits);
      const root = mountSnapshot(this.fs, guestPath, snapshot);
      this.fds.allocate(root);
      this.mounts.push({ hostPath, root, snapshot });
    }
    this.syscalls = {
      ...processSyscalls(this), ...fdSyscalls(this), ...fsSyscalls(this, this.fs),
      ...pollSyscalls(this), ...socketSyscalls(this),
    };
  }

  get memory(): GuestMemory {
    if (!this.guestMemory) throw new Error('guest memory is not attached yet');
    return this.guestMemory;
  }

  /** Names of the imports this kernel provides. */
  get provides(): ReadonlySet<string> {
    return new Set(Object.keys(this.syscalls));
  }

  imports(): WebAssembly.Imports {
    const table: Record<string, (...args: never[]) => number> = {};
    for (const [name, fn] of Object.entries(this.syscalls)) table[name] = errnoBoundary(fn);
    return { [wasiModuleName]: table };
  }

  attachMemory(memory: WebAssembly.Memory): void {
    this.guestMemory = new GuestMemory(memory);
  }

  /** At exit: write the in-memory filesystem back to the host if asked, flush output. */
  finish(): void {
    if (this.config.writeBack) {
      for (const { hostPath, root, snapshot } of this.mounts) this.effects.writeBack(hostPath, writeBackOps(this.fs, root, snapshot));
    }
    this.effects.flush();
  }
}

/**
 * The syscall boundary: a WasiError becomes its errno. Anything else (ProcessExit, or a bug in
 * RepliCode) keeps unwinding; the runner tells them apart.
 */
function errnoBoundary(fn: (...args: never[]) => number | void) {
  return (a: never, b: never, c: never, d: never, e: never, f: never, g: never, h: never, i: never): number => {
    try {
      return fn(a, b, c, d, e, f, g, h, i) ?? 0;
    } catch (err) {
      if (err instanceof WasiError) return err.errno;
      throw err;
    }
  };
}
