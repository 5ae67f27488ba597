// The wasi:filesystem descriptor methods and the stream splice that the preview1 adapter never
// imports but StarlingMonkey (componentize-js guests) does: each is the preview1 call it names,
// on the kernel's in-memory filesystem, driven here through the component host directly.
import { describe, expect, it } from 'vitest';
import { Kernel, MemoryEffects, processConfig } from '../dist/runtime/index.js';
import { componentHost, KernelCalls } from '../dist/runtime/p2/index.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The /data preopen of a fresh kernel holding old.txt, as the component host serves it. */
function dataDir(): { dir: any; host: Record<string, Record<string, any>> } {
  const effects = new MemoryEffects({ stdin: '', trees: { '/host/data': { kind: 'dir', entries: [['old.txt', { kind: 'file', data: bytes('0123456789') }]] } } });
  const kernel = new Kernel(processConfig({ args: ['t'], preopens: [{ hostPath: '/host/data', guestPath: '/data' }] }), effects);
  const calls = new KernelCalls(kernel.imports()['wasi_snapshot_preview1'] as never, kernel.staged);
  kernel.attachMemory(calls.scratch);
  const host = componentHost(kernel, calls) as Record<string, Record<string, any>>;
  const [[dir, name]] = host['wasi:filesystem/preopens']!.getDirectories();
  expect(name).toBe('/data');
  return { dir, host };
}
const errorOf = (fn: () => unknown) => { try { fn(); return 'ok'; } catch (err) { return (err as { payload: unknown }).payload; } };

describe('descriptor methods StarlingMonkey imports', () => {
  it('write and read at an offset (fd_pwrite, fd_pread); the end of the file is reported', () => {
    const { dir } = dataDir();
    const file = dir.openAt({}, 'new.txt', { create: true }, { read: true, write: true });
    expect(file.write(bytes('hello world'), 0n)).toBe(11n);
    expect(file.write(bytes('W'), 6n)).toBe(1n);
    const [head, headEnd] = file.read(5n, 0n);
    expect([text(head), headEnd]).toEqual(['hello', false]);
    const [tail, tailEnd] = file.read(100n, 6n);
    expect([text(tail), tailEnd]).toEqual(['World', true]);
    expect(file.stat().size).toBe(11n);
    const readOnly = dir.openAt({}, 'old.txt', {}, { read: true });
    // The fd lacks the write right: preview1's ENOTCAPABLE, which WASI 0.2 names not-permitted.
    expect(errorOf(() => readOnly.write(bytes('x'), 0n))).toBe('not-permitted');
  });

  it('set-times and set-times-at (fd_filestat_set_times, path_filestat_set_times)', () => {
    const { dir } = dataDir();
    const file = dir.openAt({}, 'old.txt', {}, { read: true, write: true });
    file.setTimes({ tag: 'timestamp', val: { seconds: 5n, nanoseconds: 7 } }, { tag: 'no-change' });
    expect(file.stat().dataAccessTimestamp).toEqual({ seconds: 5n, nanoseconds: 7 });
    dir.setTimesAt({}, 'old.txt', { tag: 'no-change' }, { tag: 'timestamp', val: { seconds: 9n, nanoseconds: 0 } });
    expect(dir.statAt({}, 'old.txt').dataModificationTimestamp).toEqual({ seconds: 9n, nanoseconds: 0 });
    expect(file.stat().dataAccessTimestamp).toEqual({ seconds: 5n, nanoseconds: 7 });
  });

  it('link-at (path_link): a second name for the same file; a directory cannot be linked', () => {
    const { dir } = dataDir();
    dir.linkAt({}, 'old.txt', dir, 'again.txt');
    expect(dir.statAt({}, 'again.txt').linkCount).toBe(2n);
    expect(text(dir.openAt({}, 'again.txt', {}, { read: true }).read(3n, 0n)[0])).toBe('012');
    expect(errorOf(() => dir.linkAt({}, 'old.txt', dir, 'again.txt'))).toBe('exist');
    dir.createDirectoryAt('sub');
    expect(errorOf(() => dir.linkAt({}, 'sub', dir, 'sub2'))).toBe('not-permitted');
  });

  it('advise (fd_advise) takes every advice', () => {
    const { dir } = dataDir();
    const file = dir.openAt({}, 'old.txt', {}, { read: true });
    for (const advice of ['normal', 'sequential', 'random', 'will-need', 'dont-need', 'no-reuse']) expect(errorOf(() => file.advise(0n, 4n, advice))).toBe('ok');
  });

  it('an output stream splices from an input stream: one read, written at the stream\'s offset', () => {
    const { dir } = dataDir();
    const from = dir.openAt({}, 'old.txt', {}, { read: true }).readViaStream(2n);
    const to = dir.openAt({}, 'copy.txt', { create: true }, { read: true, write: true });
    const out = to.writeViaStream(0n);
    expect(out.splice(from, 4n)).toBe(4n);
    expect(out.blockingSplice(from, 100n)).toBe(4n);
    expect(text(to.read(100n, 0n)[0])).toBe('23456789');
  });
});
