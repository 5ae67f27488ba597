import { ClockId } from './abi.js';
import { Errno, WasiError } from './errno.js';
import type { GuestMemory } from './memory.js';

/** Virtual time advances by this much at every clock read, so time never stands still. */
export const clockTickNs = 1000n;

/** 2020-01-01T00:00:00Z: the default realtime epoch. */
export const defaultEpochNs = 1577836800n * 1_000_000_000n;

/**
 * The last nanosecond a guest's clock can show: clock_time_get's result is a u64. An epoch
 * past it (2554-07-21T23:34:33.709551615Z) is refused on the command line; a run whose own time
 * carries a clock past it gets EOVERFLOW from clock_time_get instead of a wrapped value.
 */
export const maxClockNs = (1n << 64n) - 1n;

/** What the kernel needs of a clock: reads, sleeps (poll_oneoff deadlines) and file timestamps. */
export interface GuestClock {
  /** clock_time_get. */
  read(clockId: number): bigint;
  /** clock_time_get into guest memory: read(clockId) stored as a u64 at `at`, which the caller has checked. */
  readInto(clockId: number, memory: GuestMemory, at: number): void;
  resolution(clockId: number): bigint;
  /** Monotonic deadline of a poll_oneoff clock subscription. */
  deadline(clockId: number, timeout: bigint, absolute: boolean): bigint;
  /** Waits until the monotonic clock reaches `monotonicNs`. */
  advanceTo(monotonicNs: bigint): void;
  /** The monotonic clock now. */
  readonly monotonicNs: bigint;
  /** Timestamp for file times. */
  timestamp(): bigint;
}

/**
 * The guest's only source of time. One counter (`now`, ns since start) drives every clock;
 * realtime is the epoch plus `now`. Reads tick it forward; sleeps jump it to their deadline.
 */
export class VirtualClock implements GuestClock {
  /**
   * `now`: a number while it is below 2^53 (exact), so that a read ticks it without allocating (a
   * BigInt per read was a third of a chatty guest's garbage); `far` holds it once past that.
   */
  private ns = 0;
  private far: bigint | null = null;
  /** The epoch's two 32-bit halves, for readInto's realtime sum. */
  private readonly epochHigh: number;
  private readonly epochLow: number;

  constructor(readonly epochNs: bigint = defaultEpochNs) {
    this.epochHigh = Number(BigInt.asUintN(64, epochNs) >> 32n);
    this.epochLow = Number(BigInt.asUintN(32, epochNs));
  }

  private get nowNs(): bigint { return this.far ?? BigInt(this.ns); }
  private set nowNs(value: bigint) {
    if (value < exactNs) { this.ns = Number(value); this.far = null; } else this.far = value;
  }

  /** clock_time_get: the clock's value, then the tick. */
  read(clockId: number): bigint {
    const value = this.peek(clockId);
    this.nowNs += clockTickNs;
    return value;
  }

  /**
   * read(clockId) into memory, in two 32-bit halves while the time is a number: no BigInt made.
   * Anything else (a time past 2^53, a realtime past 2^64, a bad id) goes through read.
   */
  readInto(clockId: number, memory: GuestMemory, at: number): void {
    const ns = this.ns;
    if (this.far === null && ns < exactNumber - tickNumber) {
      // Not `ns % twoTo32`: a float modulo is a call into C (half the cost of a clock read).
      const high = Math.floor(ns / twoTo32);
      const low = ns - high * twoTo32;
      if (clockId === ClockId.MONOTONIC || clockId === ClockId.PROCESS_CPUTIME || clockId === ClockId.THREAD_CPUTIME) {
        return this.store(memory, at, low, high, ns);
      }
      if (clockId === ClockId.REALTIME) {
        const sum = this.epochLow + low;
        const carry = sum >= twoTo32 ? 1 : 0;
        const top = this.epochHigh + high + carry;
        if (top < twoTo32) return this.store(memory, at, sum - carry * twoTo32, top, ns);
      }
    }
    memory.setU64(at, this.read(clockId));
  }

  private store(memory: GuestMemory, at: number, low: number, high: number, ns: number): void {
    memory.setU32(at, low);
    memory.setU32(at + 4, high);
    this.ns = ns + tickNumber;
  }

  /** The clock's current value without advancing it. */
  peek(clockId: number): bigint {
    const value = this.unchecked(clockId);
    if (value > maxClockNs) throw new WasiError(Errno.OVERFLOW, `clock ${clockId} is past 2^64-1 ns`);
    return value;
  }

  private unchecked(clockId: number): bigint {
    switch (clockId) {
      case ClockId.REALTIME: return this.epochNs + this.nowNs;
      case ClockId.MONOTONIC:
      case ClockId.PROCESS_CPUTIME:
      case ClockId.THREAD_CPUTIME: return this.nowNs;
      default: throw new WasiError(Errno.INVAL, `clock id ${clockId}`);
    }
  }

  resolution(clockId: number): bigint {
    this.unchecked(clockId); // validates the id
    return clockTickNs;
  }

  /** Monotonic deadline of a poll_oneoff clock subscription. */
  deadline(clockId: number, timeout: bigint, absolute: boolean): bigint {
    if (!absolute) return this.nowNs + timeout;
    const offset = clockId === ClockId.REALTIME ? this.epochNs : 0n;
    this.unchecked(clockId);
    return timeout - offset;
  }

  /** Jumps forward to `monotonicNs` (never backwards). */
  advanceTo(monotonicNs: bigint): void {
    if (monotonicNs > this.nowNs) this.nowNs = monotonicNs;
  }

  get monotonicNs(): bigint { return this.nowNs; }

  /** Filesystem timestamps: realtime now, without ticking (held at the last u64 nanosecond). */
  timestamp(): bigint {
    const value = this.epochNs + this.nowNs;
    return value > maxClockNs ? maxClockNs : value;
  }
}

const twoTo32 = 2 ** 32;
/** VirtualClock keeps the time in a number below this (2^53: every integer below it is exact). */
const exactNumber = 2 ** 53;
const exactNs = BigInt(exactNumber);
const tickNumber = Number(clockTickNs);

/** Clock ids clock_time_get accepts. */
function checkClockId(clockId: number): void {
  if (clockId < ClockId.REALTIME || clockId > ClockId.THREAD_CPUTIME) throw new WasiError(Errno.INVAL, `clock id ${clockId}`);
}

/**
 * `--clock real`: reads and sleeps go to the host (through the effects, which record them, or
 * feed them back on replay). File timestamps stay on the virtual clock, which never moves in this
 * mode, so the filesystem's state does not depend on the host at all.
 */
export class RealClock implements GuestClock {
  constructor(private readonly host: { clockNow(clockId: number): bigint; sleepUntil(monotonicNs: bigint): void }, private readonly files: VirtualClock) {}

  read(clockId: number): bigint {
    checkClockId(clockId);
    return this.host.clockNow(clockId === ClockId.REALTIME ? ClockId.REALTIME : ClockId.MONOTONIC);
  }

  readInto(clockId: number, memory: GuestMemory, at: number): void {
    memory.setU64(at, this.read(clockId));
  }

  resolution(clockId: number): bigint {
    checkClockId(clockId);
    return clockTickNs;
  }

  deadline(clockId: number, timeout: bigint, absolute: boolean): bigint {
    checkClockId(clockId);
    if (!absolute) return this.monotonicNs + timeout;
    if (clockId !== ClockId.REALTIME) return timeout;
    // An absolute realtime deadline: as far from now on the monotonic clock as it is on the wall clock.
    return this.monotonicNs + (timeout - this.host.clockNow(ClockId.REALTIME));
  }

  advanceTo(monotonicNs: bigint): void { this.host.sleepUntil(monotonicNs); }
  get monotonicNs(): bigint { return this.host.clockNow(ClockId.MONOTONIC); }
  timestamp(): bigint { return this.files.timestamp(); }
}
