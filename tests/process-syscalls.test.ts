// args/environ, clocks, poll_oneoff, random_get, proc_exit/raise through the raw imports.
import { describe, expect, it } from 'vitest';
import { Errno, SyscallHarness } from './syscall-harness.js';

const subscriptionSize = 48;
const eventSize = 32;

function clockSubscription(h: SyscallHarness, ptr: number, userdata: bigint, timeoutNs: bigint, flags = 0, clockId = 1): void {
  h.view.setBigUint64(ptr, userdata, true);
  h.view.setUint8(ptr + 8, 0);
  h.view.setUint32(ptr + 16, clockId, true);
  h.view.setBigUint64(ptr + 24, timeoutNs, true);
  h.view.setUint16(ptr + 40, flags, true);
}

function fdSubscription(h: SyscallHarness, ptr: number, userdata: bigint, type: 1 | 2, fd: number): void {
  h.view.setBigUint64(ptr, userdata, true);
  h.view.setUint8(ptr + 8, type);
  h.view.setUint32(ptr + 16, fd, true);
}

function now(h: SyscallHarness, clockId = 1): bigint {
  const out = h.alloc(8);
  expect(h.sys.clock_time_get!(clockId, 0n, out)).toBe(0);
  return h.u64(out);
}

describe('args and environ', () => {
  it('sizes count the NUL terminators; the strings land where the pointers say', () => {
    const h = new SyscallHarness();
    const count = h.alloc(4);
    const size = h.alloc(4);
    expect(h.sys.args_sizes_get!(count, size)).toBe(0);
    expect([h.u32(count), h.u32(size)]).toEqual([2, 'harness\0arg1\0'.length]);
    const list = h.alloc(8);
    const buf = h.alloc(64);
    expect(h.sys.args_get!(list, buf)).toBe(0);
    expect(new TextDecoder().decode(h.read(h.u32(list + 4), 4))).toBe('arg1');
    expect(h.sys.environ_sizes_get!(count, size)).toBe(0);
    expect([h.u32(count), h.u32(size)]).toEqual([1, 4]);
  });

  it('a pointer past the end of memory is EFAULT, not a host exception', () => {
    const h = new SyscallHarness();
    const end = h.memory.buffer.byteLength;
    expect(h.sys.args_get!(end - 2, 0)).toBe(Errno.FAULT);
    expect(h.sys.args_sizes_get!(-1, 0)).toBe(Errno.FAULT);
    expect(h.sys.random_get!(end - 10, 11)).toBe(Errno.FAULT);
  });
});

describe('virtual clocks', () => {
  it('realtime starts at the epoch, monotonic at 0, and each read ticks 1 us', () => {
    const h = new SyscallHarness();
    expect(now(h, 0)).toBe(1577836800n * 1_000_000_000n);
    expect(now(h, 1)).toBe(1000n);
    expect(now(h, 1)).toBe(2000n);
    const res = h.alloc(8);
    for (const id of [0, 1, 2, 3]) {
      expect(h.sys.clock_res_get!(id, res)).toBe(0);
      expect(h.u64(res)).toBe(1000n);
    }
    expect(h.sys.clock_res_get!(9, res)).toBe(Errno.INVAL);
    expect(h.sys.clock_time_get!(9, 0n, res)).toBe(Errno.INVAL);
  });

  it('poll_oneoff sleeps by jumping virtual time to the earliest deadline, reporting only expired clocks', () => {
    const h = new SyscallHarness();
    const subs = h.alloc(2 * subscriptionSize);
    clockSubscription(h, subs, 1n, 5_000_000_000n);
    clockSubscription(h, subs + subscriptionSize, 2n, 1_000_000_000n);
    const events = h.alloc(2 * eventSize);
    const n = h.alloc(4);
    const before = now(h);
    expect(h.sys.poll_oneoff!(subs, events, 2, n)).toBe(0);
    expect(h.u32(n)).toBe(1);
    expect(h.u64(events)).toBe(2n);
    expect(now(h) - before).toBe(1_000_000_000n + 1000n);
  });

  it('an absolute deadline in the past fires at once; an invalid clock id is reported in the event', () => {
    const h = new SyscallHarness();
    const subs = h.alloc(subscriptionSize * 2);
    clockSubscription(h, subs, 7n, 0n, 1);
    const events = h.alloc(eventSize * 2);
    const n = h.alloc(4);
    expect(h.sys.poll_oneoff!(subs, events, 1, n)).toBe(0);
    expect(h.u32(n)).toBe(1);
    expect(h.view.getUint16(events + 8, true)).toBe(0);
    expect(h.sys.poll_oneoff!(subs, events, 0, n)).toBe(Errno.INVAL);
  });

  it('poll_oneoff on files is ready at once with the bytes left to read (poll_oneoff_files)', () => {
    const h = new SyscallHarness();
    const fd = h.create('f', 'twelve bytes');
    h.seek(fd, 2n, 0);
    const subs = h.alloc(subscriptionSize * 3);
    fdSubscription(h, subs, 10n, 1, fd);
    fdSubscription(h, subs + subscriptionSize, 11n, 2, fd);
    clockSubscription(h, subs + 2 * subscriptionSize, 12n, 10_000_000_000n);
    const events = h.alloc(eventSize * 3);
    const n = h.alloc(4);
    const before = now(h);
    expect(h.sys.poll_oneoff!(subs, events, 3, n)).toBe(0);
    expect(h.u32(n)).toBe(2);
    expect(h.u64(events + 16)).toBe(10n);
    expect(now(h) - before).toBe(1000n); // the clock did not jump: an fd was ready
  });

  it('poll_oneoff on stdin at EOF reports readable with HANGUP; a bad fd is reported as EBADF', () => {
    const h = new SyscallHarness({ stdin: '' });
    const subs = h.alloc(subscriptionSize * 2);
    fdSubscription(h, subs, 1n, 1, 0);
    fdSubscription(h, subs + subscriptionSize, 2n, 1, 77);
    const events = h.alloc(eventSize * 2);
    const n = h.alloc(4);
    expect(h.sys.poll_oneoff!(subs, events, 2, n)).toBe(0);
    const errors = [h.view.getUint16(events + 8, true), h.view.getUint16(events + eventSize + 8, true)];
    expect(errors.sort()).toEqual([0, Errno.BADF]);
  });
});

describe('random_get', () => {
  it('is a pure function of the seed: same seed, same bytes; stream continues across calls', () => {
    const a = new SyscallHarness();
    const b = new SyscallHarness();
    const take = (h: SyscallHarness, n: number) => {
      const p = h.alloc(n);
      expect(h.sys.random_get!(p, n)).toBe(0);
      return Buffer.from(h.read(p, n)).toString('hex');
    };
    const first = take(a, 40);
    expect(take(b, 16) + take(b, 24)).toBe(first);
    expect(take(a, 40)).not.toBe(first);
  });
});

describe('proc_exit and proc_raise', () => {
  it('proc_exit unwinds with the exit code; ignored signals return 0; bad signals are EINVAL', () => {
    const h = new SyscallHarness();
    expect(() => h.sys.proc_exit!(42)).toThrow(expect.objectContaining({ code: 42 }));
    expect(h.sys.proc_raise!(16)).toBe(0);
    expect(h.sys.proc_raise!(0)).toBe(Errno.INVAL);
    expect(() => h.sys.proc_raise!(6)).toThrow(expect.objectContaining({ code: 134 }));
    expect(h.sys.sched_yield!()).toBe(0);
  });
});
