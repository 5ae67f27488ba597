// VirtualClock.readInto (clock_time_get's path) stores the time in two 32-bit halves while it is
// a number: every value it stores must be the u64 that read() gives, and the clock must tick the
// same, at the edges of that fast path too (2^53, a realtime sum with a carry, one past 2^64).
import { describe, expect, it } from 'vitest';
import { ClockId } from '../dist/runtime/abi.js';
import { VirtualClock, clockTickNs, maxClockNs } from '../dist/runtime/clock.js';
import { GuestMemory } from '../dist/runtime/memory.js';

/** What readInto stores at 8 and what read() answers, on two clocks that have seen the same calls. */
function both(fast: VirtualClock, slow: VirtualClock, clockId: number): { stored: bigint | string; read: bigint | string } {
  const memory = new GuestMemory(new WebAssembly.Memory({ initial: 1 }));
  const outcome = (f: () => bigint) => { try { return f(); } catch (e) { return (e as Error).message; } };
  return {
    stored: outcome(() => { fast.readInto(clockId, memory, 8); return new DataView(memory.octetsView().buffer).getBigUint64(8, true); }),
    read: outcome(() => slow.read(clockId)),
  };
}

describe('VirtualClock.readInto', () => {
  const ids = [ClockId.REALTIME, ClockId.MONOTONIC, ClockId.PROCESS_CPUTIME, ClockId.THREAD_CPUTIME, 7];
  const cases: [string, bigint, bigint][] = [
    ['the default epoch, from 0', 1577836800n * 1_000_000_000n, 0n],
    ['just below 2^53', 0n, (1n << 53n) - 3n * clockTickNs],
    ['across 2^53', 5n, (1n << 53n) - 1n],
    ['a realtime sum whose low halves carry', (1n << 32n) - 1n, (1n << 32n) - 500n],
    ['a realtime just below 2^64', maxClockNs - 10n * clockTickNs, 0n],
    ['a realtime past 2^64 (EOVERFLOW)', maxClockNs - 2n * clockTickNs, 0n],
  ];
  for (const [name, epoch, start] of cases) {
    it(`stores what read() answers: ${name}`, () => {
      const fast = new VirtualClock(epoch);
      const slow = new VirtualClock(epoch);
      fast.advanceTo(start);
      slow.advanceTo(start);
      for (let i = 0; i < 12; i++) {
        for (const id of ids) {
          const { stored, read } = both(fast, slow, id);
          expect(stored).toEqual(read);
          expect(fast.monotonicNs).toBe(slow.monotonicNs);
        }
      }
    });
  }
});
