// The hand-lowered stream write (runtime/p2/lowered.ts): OutputStream.writeGuest reads the guest's
// bytes straight from its memory and must answer, and call the kernel, exactly as jco's lifting
// followed by OutputStream.write does, for every length and for a closed stdout; writeLowered
// also stores an ok itself, only where jco's lowering would have; monotonic-clock's core `now`
// answers and calls the kernel as the host function does; and the rewrite leaves a trampoline of
// any other shape as jco wrote it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Kernel, MemoryEffects, processConfig } from '../dist/runtime/index.js';
import { componentHost, KernelCalls, lowerHotImports } from '../dist/runtime/p2/index.js';
import { StagedWrite } from '../dist/runtime/context.js';

/** A kernel's stdout stream as the component host serves it, the syscalls it makes, and its output. */
function stdout(closed = false, tracerEnter?: () => void) {
  const effects = new MemoryEffects();
  if (closed) effects.outputClosed = () => true;
  // Each call's id and the fingerprint of its arguments, as a trace keeps them; then its errno.
  const calls: string[] = [];
  const tracer = { wantsArguments: false, enter: (id: number, fingerprint: number) => { tracerEnter?.(); calls.push(`${id} ${fingerprint}`); }, exit: (errno: number) => { calls.push(`-> ${errno}`); } };
  const kernel = new Kernel(processConfig({ args: ['t'] }), effects);
  const kernelCalls = new KernelCalls(kernel.imports(tracer)['wasi_snapshot_preview1'] as never, kernel.staged);
  kernel.attachMemory(kernelCalls.scratch);
  const host = componentHost(kernel, kernelCalls) as Record<string, Record<string, any>>;
  return { stream: host['wasi:cli/stdout']!.getStdout(), calls, effects, host, kernelCalls, kernel, table: kernel.imports()['wasi_snapshot_preview1'] as Record<string, any> };
}

/** jco's path: the list copied out of memory, then write, whose throw is the call's err. */
function jcoWrite(stream: any, memory: WebAssembly.Memory, ptr: number, len: number): unknown {
  try {
    stream.write(new Uint8Array(memory.buffer, ptr, len).slice());
    return { tag: 'ok', val: undefined };
  } catch (err) {
    return { tag: 'err', val: (err as { payload: unknown }).payload };
  }
}

describe('a hand-lowered stream write', () => {
  const memory = new WebAssembly.Memory({ initial: 4 });
  const guest = new Uint8Array(memory.buffer);
  for (let i = 0; i < guest.length; i++) guest[i] = 97 + (i % 26);

  // 1 and 32 bytes take the flat path; 33 the staging with set; 200000 two chunks of scratch.
  it.each([[0, 0], [5, 1], [100, 32], [7, 33], [1000, 200_000]])('at %i, %i bytes: the same result, output and kernel calls as jco\'s path', (ptr, len) => {
    const lowered = stdout();
    const jco = stdout();
    expect(lowered.stream.writeGuest(memory, ptr, len)).toEqual(jcoWrite(jco.stream, memory, ptr, len));
    const out = Buffer.from(lowered.effects.output(1));
    expect(out.equals(Buffer.from(jco.effects.output(1)))).toBe(true);
    expect(out.equals(Buffer.from(guest.subarray(ptr, ptr + len)))).toBe(true);
    expect(lowered.calls).toEqual(jco.calls);
    expect(lowered.calls.length).toBe(2 * Math.ceil(len / (128 * 1024)));
  });

  it('to a closed stdout: closed, after the one fd_write that found it so', () => {
    const lowered = stdout(true);
    const jco = stdout(true);
    expect(lowered.stream.writeGuest(memory, 3, 1)).toEqual({ tag: 'err', val: { tag: 'closed' } });
    expect(jcoWrite(jco.stream, memory, 3, 1)).toEqual({ tag: 'err', val: { tag: 'closed' } });
    expect(lowered.calls).toEqual(jco.calls);
    expect(lowered.calls.length).toBe(2);
  });

  it('past the end of memory: no answer and no call, so that jco\'s lifting traps', () => {
    const { stream, calls } = stdout();
    expect(stream.writeGuest(memory, guest.length - 2, 3)).toBeUndefined();
    expect(stream.writeGuest(memory, 0xffff_ffff, 1)).toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('sees the memory grown since the last call', () => {
    const grown = new WebAssembly.Memory({ initial: 1 });
    const { stream, effects } = stdout();
    expect(stream.writeGuest(grown, 65536, 1)).toBeUndefined();
    grown.grow(1);
    new Uint8Array(grown.buffer)[65536] = 0x7a;
    expect(stream.writeGuest(grown, 65536, 1)).toEqual({ tag: 'ok', val: undefined });
    expect(effects.stdout).toBe('z');
  });
});

describe('a hand-lowered stream write that stores its ok', () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const guest = new Uint8Array(memory.buffer);
  const retptr = 4000;

  it.each([[1], [32], [33], [3000]])('of %i bytes: ok stored at the result pointer, the same kernel calls as writeGuest', (len) => {
    guest.fill(0x61, 0, 3100);
    guest[retptr] = 0xee;
    const lowered = stdout();
    const plain = stdout();
    expect(lowered.stream.writeLowered(memory, 10, len, retptr)).toBe(true);
    expect(guest[retptr]).toBe(0);
    expect(plain.stream.writeGuest(memory, 10, len)).toEqual({ tag: 'ok', val: undefined });
    expect(lowered.calls).toEqual(plain.calls);
    expect(lowered.effects.stdout).toBe('a'.repeat(len));
  });

  it('leaves the store to jco\'s lowering (which traps) when the result pointer is not in memory, after the same write', () => {
    for (const bad of [-1, -2147483648, guest.length, guest.length + 7]) {
      const lowered = stdout();
      const plain = stdout();
      expect(lowered.stream.writeLowered(memory, 10, 1, bad)).toEqual({ tag: 'ok', val: undefined });
      plain.stream.writeGuest(memory, 10, 1);
      expect(lowered.calls).toEqual(plain.calls);
    }
  });

  it('answers as writeGuest, storing nothing, for an empty write, a closed stdout, a list outside memory and a write of more than one chunk', () => {
    // Three pages: room for a write one byte longer than a chunk (Scratch.dataBytes, 128 KiB).
    const large = new WebAssembly.Memory({ initial: 3 });
    const cases: [WebAssembly.Memory, boolean, number, number][] = [
      [memory, false, 10, 0], [memory, true, 10, 1], [memory, false, guest.length - 1, 2], [large, false, 0, 128 * 1024 + 1],
    ];
    for (const [where, closed, ptr, len] of cases) {
      const bytes = new Uint8Array(where.buffer);
      bytes[retptr] = 0xee;
      const lowered = stdout(closed);
      const plain = stdout(closed);
      expect(lowered.stream.writeLowered(where, ptr, len, retptr)).toEqual(plain.stream.writeGuest(where, ptr, len));
      expect(lowered.calls).toEqual(plain.calls);
      expect(lowered.effects.stdout).toBe(plain.effects.stdout);
      expect(bytes[retptr]).toBe(0xee);
    }
  });
});

describe('a stream write in a run (no tracer): the kernel\'s untraced write', () => {
  /** stdout as a run's component host has it: KernelCalls given the kernel's untracedWrite. */
  function untracedStdout(closed = false) {
    const effects = new MemoryEffects();
    if (closed) effects.outputClosed = () => true;
    const kernel = new Kernel(processConfig({ args: ['t'] }), effects);
    const table = kernel.imports()['wasi_snapshot_preview1'] as Record<string, unknown>;
    const boundaryWrites: number[] = [];
    const fdWrite = table.fd_write as (...args: number[]) => number;
    const kernelCalls = new KernelCalls({ ...table, fd_write: (...args: number[]) => { boundaryWrites.push(args[0]!); return fdWrite(...args); } } as never, kernel.staged, undefined, kernel.untracedWrite);
    kernel.attachMemory(kernelCalls.scratch);
    const host = componentHost(kernel, kernelCalls) as Record<string, Record<string, any>>;
    return { stream: host['wasi:cli/stdout']!.getStdout(), effects, kernel, boundaryWrites, table };
  }
  const memory = new WebAssembly.Memory({ initial: 4 });
  const guest = new Uint8Array(memory.buffer);
  for (let i = 0; i < guest.length; i++) guest[i] = 97 + (i % 26);

  it.each([[5, 1], [100, 32], [7, 33], [1000, 3000]])('at %i, %i bytes: the traced path\'s result and output, with no call through the boundary', (ptr, len) => {
    const run = untracedStdout();
    const traced = stdout();
    expect(run.stream.writeGuest(memory, ptr, len)).toEqual(traced.stream.writeGuest(memory, ptr, len));
    expect(run.effects.stdout).toBe(traced.effects.stdout);
    expect(run.effects.output(1).length).toBe(len);
    expect(run.boundaryWrites).toEqual([]);
    guest[60000] = 0xee;
    expect(run.stream.writeLowered(memory, ptr, len, 60000)).toBe(true);
    expect(guest[60000]).toBe(0);
  });

  it('a write of more than one chunk goes through fd_write chunk by chunk, as before, with the same output', () => {
    const run = untracedStdout();
    const traced = stdout();
    const len = 200_000;
    expect(run.stream.writeGuest(memory, 1000, len)).toEqual(traced.stream.writeGuest(memory, 1000, len));
    expect(Buffer.from(run.effects.output(1)).equals(Buffer.from(guest.subarray(1000, 1000 + len)))).toBe(true);
    expect(run.boundaryWrites).toEqual([1, 1]);
  });

  it('fails as the traced fd_write does: a closed stdout, a closed fd, stdin, an fd without the write right', () => {
    const failures: [string, (k: Kernel, table: Record<string, any>) => void, boolean][] = [
      ['closed stdout', () => {}, true],
      ['closed fd', (k) => { k.fds.remove(1); }, false],
      ['no write right', (_, table) => { expect(table.fd_fdstat_set_rights(1, 0n, 0n)).toBe(0); }, false],
    ];
    for (const [what, setUp, closed] of failures) {
      const run = untracedStdout(closed);
      const traced = stdout(closed);
      setUp(run.kernel, run.table);
      setUp(traced.kernel, traced.table);
      const got = run.stream.writeGuest(memory, 3, 1);
      expect(got, what).toEqual(traced.stream.writeGuest(memory, 3, 1));
      expect(got.tag, what).toBe('err');
      expect(run.effects.stdout, what).toBe('');
    }
    // stdin's handle takes no write: EBADF, as fd_write answers.
    const run = untracedStdout();
    const traced = stdout();
    const OutputStream = traced.host['wasi:io/streams']!.OutputStream;
    const runStdin = new OutputStream(run.stream.calls, { fd: 0, offset: null });
    expect(runStdin.writeGuest(memory, 3, 1)).toEqual(new OutputStream(traced.kernelCalls, { fd: 0, offset: null }).writeGuest(memory, 3, 1));
    expect(runStdin.writeGuest(memory, 3, 1)).toEqual({ tag: 'err', val: { tag: 'last-operation-failed', val: expect.objectContaining({ errno: 8 }) } });
  });

  it('lets what is not a WasiError (our bug, or a stop) unwind, as the boundary does', () => {
    const run = untracedStdout();
    run.effects.writeOutput = () => { throw new Error('not an errno'); };
    expect(() => run.stream.writeGuest(memory, 3, 1)).toThrow('not an errno');
  });
});

describe('monotonic-clock now as a core function', () => {
  it('answers the host function\'s time and makes the same kernel call', () => {
    const a = stdout();
    const b = stdout();
    const now = a.host['wasi:clocks/monotonic-clock']!.now;
    const core = b.host['wasi:clocks/monotonic-clock']!.now.coreFunction;
    expect(typeof core).toBe('function');
    for (let i = 0; i < 3; i++) expect(core()).toBe(now());
    expect(b.calls).toEqual(a.calls);
    expect(b.calls.length).toBe(6);
  });

  it('gives back a time past 2^63 as the same 64 bits (the adapter reads them as an i64)', () => {
    // A kernel whose clock_time_get leaves 2^64 - 2 in the result slot.
    let slot: DataView | undefined;
    const forged = new KernelCalls({ fd_write: () => 0, fd_read: () => 0, clock_time_get: () => { slot!.setBigUint64(8, 2n ** 64n - 2n, true); return 0; } } as never, new StagedWrite());
    slot = forged.view;
    expect(BigInt.asUintN(64, forged.monotonicNowCore()())).toBe(2n ** 64n - 2n);
  });

  it('throws what the kernel call threw, and an errno as CallFailed, to its caller', () => {
    const stop = new Error('the trace ends here');
    const { host } = stdout(false, () => { throw stop; });
    expect(() => host['wasi:clocks/monotonic-clock']!.now.coreFunction()).toThrow(stop);
    const failing = new KernelCalls({ fd_write: () => 0, fd_read: () => 0, clock_time_get: () => 28 } as never, new StagedWrite());
    expect(() => failing.monotonicNowCore()()).toThrow(expect.objectContaining({ errno: 28 }));
  });
});

describe('the rewrite of the bindings', () => {
  // jco 1.35's blocking-write-and-flush trampoline for the preview1 adapter, after guard.ts and
  // direct-imports.ts (what lowerHotImports is given).
  const jco = readFileSync(join(import.meta.dirname, 'fixtures', 'p2-lowered', 'blocking-write-and-flush.js.txt'), 'utf8');
  const earlyReturn = 'if (ret === true) return;';

  it('calls writeLowered, which returns from the trampoline once it stored ok, where jco\'s ok stores only that byte', () => {
    const { js, lowered } = lowerHotImports(jco);
    expect(lowered).toBe(1);
    expect(js).toContain('ret = rscLowered.writeLowered(memory0, arg1 >>> 0, arg2 >>> 0, arg3);');
    expect(js.split(earlyReturn).length).toBe(2);
  });

  it('does not return early when jco\'s lowering does more than store the ok byte', () => {
    const okStore = '        dataView(memory0).setInt8(arg3 + 0, 0, true);\n';
    expect(jco).toContain(okStore);
    const variants = [
      jco.replace(okStore, `${okStore}        dataView(memory0).setInt32(arg3 + 4, 1, true);\n`),
      jco.replace('    void 0;\n  }\n  _trampoline21.fnName', '    void 0;\n    somethingAfter();\n  }\n  _trampoline21.fnName'),
      jco.replace(okStore, okStore.replace('memory0', 'memory1')),
    ];
    for (const variant of variants) {
      expect(variant).not.toBe(jco);
      const { js } = lowerHotImports(variant);
      expect(js).not.toContain(earlyReturn);
    }
  });

  // The trampoline among the capture table's declaration and a set and a delete of it, as the
  // bindings hold them, and a way to call them.
  const withTable = (extra = '') => `\n  const captureTable1= new Map();\n${jco}  const add = (rep, v) => captureTable1.set(rep, v);\n  const drop = (rep) => captureTable1.delete(rep);\n${extra}`;
  const T_FLAG = 1 << 30;
  class OutputStream {
    static loweredByHand = true;
    writes = 0;
    writeLowered(): true { this.writes++; return true; }
  }
  const run = (js: string) => new Function('T_FLAG', 'handleTable1', 'OutputStream', 'memory0', 'getOrCreateAsyncState', `${js}\n  return { write: _trampoline21, add, drop };`)(
    T_FLAG, [T_FLAG, 0, 0, 5 | T_FLAG], OutputStream, new WebAssembly.Memory({ initial: 1 }), () => ({ markTrapped: () => true }),
  ) as { write: (...args: number[]) => void; add: (rep: number, v: object) => void; drop: (rep: number) => void };

  it('keeps the stream it looked up last until the table changes: a dropped stream is not written to', () => {
    const { js } = lowerHotImports(withTable());
    expect(js).toContain('var rscLowered = repLowered === captureTable1$rep ? captureTable1$rsc : (captureTable1$rsc = captureTable1.get(captureTable1$rep = repLowered));');
    expect(js).toContain('(captureTable1$rep = -1, captureTable1).set(rep, v)');
    expect(js).toContain('(captureTable1$rep = -1, captureTable1).delete(rep)');
    const { write, add, drop } = run(js);
    const stream = new OutputStream();
    add(5, stream);
    write(1, 0, 1, 8);
    write(1, 0, 1, 8);
    expect(stream.writes).toBe(2);
    // Handle 1 still names rep 5 in the handle table (a drop leaves the word), but rep 5 is gone.
    drop(5);
    expect(() => write(1, 0, 1, 8)).toThrow('unknown OutputStream handle');
    expect(stream.writes).toBe(2);
    const other = new OutputStream();
    add(5, other);
    write(1, 0, 1, 8);
    expect([stream.writes, other.writes]).toEqual([2, 1]);
  });

  it('looks the stream up every time where the bindings use the table otherwise than by get, set and delete', () => {
    const { js } = lowerHotImports(withTable('  tables.push(captureTable1);\n'));
    expect(js).toContain('var rscLowered = captureTable1.get(handleTable1[(arg0 << 1) + 1] & ~T_FLAG);');
    expect(js).not.toContain('captureTable1$rep');
  });

  const trampoline = (body: string, fnName = 'wasi:io/streams@0.2.3#blockingWriteAndFlush') =>
    `  const _trampoline7 = function(arg0, arg1, arg2, arg3) {\n${body}\n  }\n  _trampoline7.fnName = '${fnName}';\n`;

  it('leaves a trampoline of an unknown shape, or of a call it does not lower, as jco wrote it', () => {
    for (const js of [trampoline('    return 1;'), trampoline('    return 1;', 'wasi:io/streams@0.2.3#subscribe')]) {
      expect(lowerHotImports(js)).toEqual({ js, lowered: 0 });
    }
  });
});
