// The lightest session: every syscall (its id, value-argument fingerprint and errno) is folded
// into a 32-bit rolling hash, reported to the machine each time the process blocks on the
// network. Replicas of a cluster compare these after every batch: two replicas that made
// different calls, with different arguments or results, disagree at the next batch.
import type { HostEffects } from '../effects/types.js';
import type { GuestSession, SessionEnd } from './session.js';
import { FaultInjector } from './faults.js';
import { filterDelivery } from './recording.js';
import type { Kernel } from '../kernel.js';
import { SnapshotRequest } from '../snapshot/abi.js';
import type { SessionState, SnapshotSession } from '../snapshot/driver.js';

/** What a snapshot keeps of a hashing session. */
interface SavedHashing { hash: number; event: number }

export class HashingSession implements GuestSession, SnapshotSession {
  private hash = 0x811c9dc5;
  private event = -1;
  private kernel: Kernel | undefined;
  /** The call being resumed after a snapshot taken inside it was entered already: not hashed twice. */
  private skipEnter = false;

  get nextEvent(): number { return this.event + 1; }
  outputBytes(): number { return 0; } // output is the cluster's to compare (through the replicas' links)
  saveState(): SessionState { return { hash: this.hash, event: this.event } satisfies SavedHashing as unknown as SessionState; }
  clockStopped(_hook: number): void { /* a replica's copy never sets a stop */ }
  attachClock(): void { /* no instruction clock in a replica */ }
  resumeCall(): void { this.skipEnter = true; }

  readonly tracer = {
    wantsArguments: false,
    enter: (id: number, fingerprint: number, args: ArrayLike<number | bigint>): void => {
      if (this.skipEnter) {
        this.skipEnter = false;
        return;
      }
      this.event++;
      if (this.faults.active) this.faults.noteCall(id, args);
      this.hash = Math.imul(this.hash ^ id, 0x01000193);
      this.hash = Math.imul(this.hash ^ fingerprint, 0x01000193);
      const thread = this.thread();
      if (thread !== 0) this.hash = Math.imul(this.hash ^ thread, 0x01000193); // single-threaded hashes stay as they were
    },
    exit: (errno: number): void => {
      this.hash = Math.imul(this.hash ^ errno, 0x01000193);
      if (this.faults.active) this.faults.afterCall(this.event, this.kernel!);
    },
  };

  constructor(readonly faults = new FaultInjector([]), resume?: SessionState) {
    this.tracer.wantsArguments = faults.wantsArguments;
    if (resume) ({ hash: this.hash, event: this.event } = resume as unknown as SavedHashing);
  }

  wrapEffects(inner: HostEffects): HostEffects {
    return {
      readStdin: (m, mode) => { const got = inner.readStdin(m, mode); return typeof got === 'string' ? got : this.faults.filterInput(this.event, got); }, writeOutput: (s, b, at, n) => inner.writeOutput(s, b, at, n),
      // Replicas must see the same results: the host's stdout closing is not on the log, so it never shows.
      outputClosed: () => false,
      loadTree: (h, l) => inner.loadTree(h, l), writeBack: (h, o) => inner.writeBack(h, o), flush: () => inner.flush(),
      clockNow: (c) => inner.clockNow(c), entropy: (t) => inner.entropy(t), sleepUntil: (n) => inner.sleepUntil(n),
      netPost: (r) => inner.netPost(r),
      netAwait: (deadline) => {
        const delivery = inner.netAwait(deadline, this.hash >>> 0);
        if (delivery.snapshot) throw new SnapshotRequest();
        return filterDelivery(delivery, this.faults, this.event);
      },
    };
  }

  attach(kernel: Kernel): void { this.kernel = kernel; }
  /** The guest thread making the current call (wasi-threads; 0 otherwise): part of the rolling hash. */
  private thread: () => number = () => 0;
  attachThreads(current: () => number): void { this.thread = current; }
  finish(): SessionEnd | undefined { return undefined; }
}
