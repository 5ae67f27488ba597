// The lightest session: every syscall (its id, value-argument fingerprint and errno) is folded
// into a 32-bit rolling hash, reported to the machine each time the process blocks on the
// network. Replicas of a cluster compare these after every batch: two replicas that made
// different calls, with different arguments or results, disagree at the next batch.
import type { HostEffects } from '../effects/types.js';
import type { GuestSession, SessionEnd } from './session.js';
import { FaultInjector } from './faults.js';
import { filterDelivery } from './recording.js';
import type { Kernel } from '../kernel.js';

export class HashingSession implements GuestSession {
  private hash = 0x811c9dc5;
  private event = -1;
  private kernel: Kernel | undefined;

  

  readonly tracer = {
    wantsArguments: false,
    enter: (id: number, fingerprint: number, args: ArrayLike<number | bigint>): void => {
      this.event++;
      if (this.faults.active) this.faults.noteCall(id, args);
      this.hash = Math.imul(this.hash ^ id, 0x01000193);
      this.hash = Math.imul(this.hash ^ fingerprint, 0x01000193);
    },
    exit: (errno: number): void => {
      this.hash = Math.imul(this.hash ^ errno, 0x01000193);
      if (this.faults.active) this.faults.afterCall(this.event, this.kernel!);
    },
  };

  constructor(private readonly faults = new FaultInjector([])) {
    this.tracer.wantsArguments = faults.wantsArguments;
  }

  wrapEffects(inner: HostEffects): HostEffects {
    return {
      readStdin: (m, mode) => { const got = inner.readStdin(m, mode); return typeof got === 'string' ? got : this.faults.filterInput(this.event, got); }, writeOutput: (s, b) => inner.writeOutput(s, b),
      // Replicas must see the same results: the host's stdout closing is not on the log, so it never shows.
      outputClosed: () => false,
      loadTree: (h, l) => inner.loadTree(h, l), writeBack: (h, o) => inner.writeBack(h, o), flush: () => inner.flush(),
      clockNow: (c) => inner.clockNow(c), entropy: (t) => inner.entropy(t), sleepUntil: (n) => inner.sleepUntil(n),
      netPost: (r) => inner.netPost(r),
      netAwait: (deadline) => filterDelivery(inner.netAwait(deadline, this.hash >>> 0), this.faults, this.event),
    };
  }

  attach(kernel: Kernel): void { this.kernel = kernel; }
  finish(): SessionEnd | undefined { return undefined; }
}
