// The lightest session: every syscall (its id, value-argument fingerprint and errno) is folded
// into a 32-bit rolling hash, reported to the machine each time the process blocks on the
// network. Replicas of a cluster compare these after every batch: two replicas that made
// different calls, with different arguments or results, disagree at the next batch.
import type { HostEffects } from '../effects/types.js';
import type { GuestSession, SessionEnd } from './session.js';

export class HashingSession implements GuestSession {
  private hash = 0x811c9dc5;

  readonly tracer = {
    wantsArguments: false,
    enter: (id: number, fingerprint: number): void => {
      this.hash = Math.imul(this.hash ^ id, 0x01000193);
      this.hash = Math.imul(this.hash ^ fingerprint, 0x01000193);
    },
    exit: (errno: number): void => {
      this.hash = Math.imul(this.hash ^ errno, 0x01000193);
    },
  };

  wrapEffects(inner: HostEffects): HostEffects {
    return {
      readStdin: (m, mode) => inner.readStdin(m, mode), writeOutput: (s, b) => inner.writeOutput(s, b),
      loadTree: (h, l) => inner.loadTree(h, l), writeBack: (h, o) => inner.writeBack(h, o), flush: () => inner.flush(),
      clockNow: (c) => inner.clockNow(c), entropy: (t) => inner.entropy(t), sleepUntil: (n) => inner.sleepUntil(n),
      netPost: (r) => inner.netPost(r),
      netAwait: (deadline) => inner.netAwait(deadline, this.hash >>> 0),
    };
  }

  attach(): void {}
  finish(): SessionEnd | undefined { return undefined; }
}
