import { ClockId } from './abi.js';
import { Errno, WasiError } from './errno.js';

/** Virtual time advances by this much at every clock read, so time never stands still. */
export const clockTickNs = 1000n;

/** 2020-01-01T00:00:00Z: the default realtime epoch. */
export const defaultEpochNs = 1577836800n * 1_000_000_000n;

/**
 * The guest's only source of time. One counter (`now`, ns since start) drives every clock;
 * realtime is the epoch plus `now`. Reads tick it forward; sleeps jump it to their deadline.
 */
export class VirtualClock {
  private nowNs = 0n;

  constructor(readonly epochNs: bigint = defaultEpochNs) {}

  /** clock_time_get: the clock's value, then the tick. */
  read(clockId: number): bigint {
    const value = this.peek(clockId);
    this.nowNs += clockTickNs;
    return value;
  }

  /** The clock's current value without advancing it. */
  peek(clockId: number): bigint {
    switch (clockId) {
      case ClockId.REALTIME: return this.epochNs + this.nowNs;
      case ClockId.MONOTONIC:
      case ClockId.PROCESS_CPUTIME:
      case ClockId.THREAD_CPUTIME: return this.nowNs;
      default: throw new WasiError(Errno.INVAL, `clock id ${clockId}`);
    }
  }

  resolution(clockId: number): bigint {
    this.peek(clockId); // validates the id
    return clockTickNs;
  }

  /** Monotonic deadline of a poll_oneoff clock subscription. */
  deadline(clockId: number, timeout: bigint, absolute: boolean): bigint {
    if (!absolute) return this.nowNs + timeout;
    const offset = clockId === ClockId.REALTIME ? this.epochNs : 0n;
    this.peek(clockId);
    return timeout - offset;
  }

  /** Jumps forward to `monotonicNs` (never backwards). */
  advanceTo(monotonicNs: bigint): void {
    if (monotonicNs > this.nowNs) this.nowNs = monotonicNs;
  }

  get monotonicNs(): bigint { return this.nowNs; }

  /** Filesystem timestamps: realtime now, without ticking. */
  timestamp(): bigint { return this.epochNs + this.nowNs; }
}
