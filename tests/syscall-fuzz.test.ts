// Random arguments to every syscall, the way a buggy or hostile guest would call them: the
// runtime answers with an errno (or, for proc_exit/proc_raise, ends the process), and never
// lets a host exception escape.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { syscallTable } from '../dist/formats/index.js';
import { SyscallHarness } from './syscall-harness.js';

/** Signatures from the trace format's syscall table: p and i are i32, I is i64. */
const signatures: Record<string, string> = Object.fromEntries(syscallTable.map(([name, params]) => [name, params]));

const memoryBytes = 4 * 65536;
/** i32s biased toward the interesting: small fds, pointers near the end of memory, extremes. */
const i32 = fc.oneof(
  fc.integer({ min: 0, max: 10 }),
  fc.integer({ min: 0, max: memoryBytes }),
  fc.integer({ min: memoryBytes - 64, max: memoryBytes + 64 }),
  fc.constantFrom(-1, 0x7fffffff, -0x80000000, 4096, 65536),
  fc.integer({ min: -0x80000000, max: 0x7fffffff }),
);
const i64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 1000n }),
  fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
  fc.constantFrom(-1n, 1n << 62n, (1n << 63n) - 1n),
);
const argFor = (c: string) => (c === 'I' ? i64 : i32);

describe('syscall fuzzing', () => {
  it('the trace format\'s syscall table covers every import the kernel provides', () => {
    const provided = [...new SyscallHarness().kernel.provides].sort();
    expect(Object.keys(signatures).sort()).toEqual(provided);
  });

  it('random calls with random arguments never throw a host error', () => {
    const call = fc.constantFrom(...Object.keys(signatures)).chain((name) =>
      fc.tuple(fc.constant(name), fc.tuple(...[...signatures[name]!].map(argFor))));
    fc.assert(
      fc.property(fc.array(call, { minLength: 1, maxLength: 40 }), fc.uint8Array({ minLength: 0, maxLength: 512 }), (calls, garbage) => {
        const h = new SyscallHarness({ tree: { kind: 'dir', entries: [['f', { kind: 'file', data: new Uint8Array(8) }]] } });
        // Scatter garbage over low memory, so pointers read structured nonsense too.
        new Uint8Array(h.memory.buffer, 0, garbage.length).set(garbage);
        for (const [name, args] of calls) {
          let result: unknown;
          try {
            result = h.sys[name]!(...(args as (number | bigint)[]));
          } catch (err) {
            // proc_exit and proc_raise end the process by unwinding; nothing else may throw.
            expect(['proc_exit', 'proc_raise']).toContain(name);
            expect(err).toHaveProperty('code');
            return;
          }
          expect(typeof result).toBe('number');
          expect(result as number).toBeGreaterThanOrEqual(0);
          // WASI errnos end at 76 (NOTCAPABLE); WasmEdge's getaddrinfo adds its EAI_* codes 77..87.
          expect(result as number).toBeLessThanOrEqual(name === 'sock_getaddrinfo' ? 87 : 76);
        }
      }),
      { numRuns: 3000, seed: 20261125 },
    );
  });
});
