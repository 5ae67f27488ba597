// The host's real clocks, entropy and sleep: what `--clock real` and `--random os` read, and
// the only place outside the tests that does. Recording captures every value these return.
import { randomFillSync } from 'node:crypto';
import { ClockId } from '../abi.js';

const startedNs = process.hrtime.bigint();

export function hostClockNow(clockId: number): bigint {
  if (clockId === ClockId.REALTIME) {
    // Microsecond precision: a double of ms since 1970 cannot carry nanoseconds exactly.
    return BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
  }
  return process.hrtime.bigint() - startedNs;
}

export function hostEntropy(target: Uint8Array): void {
  randomFillSync(target);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

export function hostSleepUntil(monotonicNs: bigint): void {
  const remainingMs = Number(monotonicNs - hostClockNow(ClockId.MONOTONIC)) / 1e6;
  if (remainingMs > 0) Atomics.wait(sleeper, 0, 0, Math.min(remainingMs, 2 ** 31 - 1));
}
