import { createHash } from 'node:crypto';

/**
 * random_get's source: the byte stream SHA-256(seed u64 LE || counter u64 LE) for counter =
 * 0, 1, 2, ... Each call consumes the next bytes; leftovers carry over. Chosen because anyone
 * can reproduce it in any language from this one sentence.
 */
/** Where random_get's bytes come from. */
export interface RandomSource {
  fill(target: Uint8Array): void;
}

/** `--random os`: the host's entropy, through the effects (which record it, or feed it back). */
export class HostRandom implements RandomSource {
  constructor(private readonly host: { entropy(target: Uint8Array): void }) {}
  fill(target: Uint8Array): void { this.host.entropy(target); }
}

export class SeededRandom implements RandomSource {
  private counter = 0n;
  private pending: Uint8Array = new Uint8Array(0);

  constructor(readonly seed: bigint = 0n) {}

  fill(target: Uint8Array): void {
    let filled = 0;
    while (filled < target.length) {
      if (this.pending.length === 0) this.pending = this.nextBlock();
      const n = Math.min(this.pending.length, target.length - filled);
      target.set(this.pending.subarray(0, n), filled);
      this.pending = this.pending.subarray(n);
      filled += n;
    }
  }

  /** Position in the stream (blocks used, bytes left in the current one), for state hashes. */
  get position(): { counter: bigint; pendingBytes: number } {
    return { counter: this.counter, pendingBytes: this.pending.length };
  }

  private nextBlock(): Uint8Array {
    const input = new Uint8Array(16);
    const view = new DataView(input.buffer);
    view.setBigUint64(0, BigInt.asUintN(64, this.seed), true);
    view.setBigUint64(8, this.counter, true);
    this.counter++;
    return new Uint8Array(createHash('sha256').update(input).digest());
  }
}
