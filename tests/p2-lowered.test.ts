// The hand-lowered stream write (runtime/p2/lowered.ts): OutputStream.writeGuest reads the guest's
// bytes straight from its memory and must answer, and call the kernel, exactly as jco's lifting
// followed by OutputStream.write does, for every length and for a closed stdout; and the rewrite
// leaves a trampoline of any other shape as jco wrote it.
import { describe, expect, it } from 'vitest';
import { Kernel, MemoryEffects, processConfig } from '../dist/runtime/index.js';
import { componentHost, KernelCalls, lowerHotImports } from '../dist/runtime/p2/index.js';

/** A kernel's stdout stream as the component host serves it, the syscalls it makes, and its output. */
function stdout(closed = false) {
  const effects = new MemoryEffects();
  if (closed) effects.outputClosed = () => true;
  // Each call's id and the fingerprint of its arguments, as a trace keeps them; then its errno.
  const calls: string[] = [];
  const tracer = { wantsArguments: false, enter: (id: number, fingerprint: number) => { calls.push(`${id} ${fingerprint}`); }, exit: (errno: number) => { calls.push(`-> ${errno}`); } };
  const kernel = new Kernel(processConfig({ args: ['t'] }), effects);
  const kernelCalls = new KernelCalls(kernel.imports(tracer)['wasi_snapshot_preview1'] as never);
  kernel.attachMemory(kernelCalls.scratch);
  const host = componentHost(kernel, kernelCalls) as Record<string, Record<string, any>>;
  return { stream: host['wasi:cli/stdout']!.getStdout(), calls, effects };
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

describe('the rewrite of the bindings', () => {
  const trampoline = (body: string, fnName = 'wasi:io/streams@0.2.3#blockingWriteAndFlush') =>
    `  const _trampoline7 = function(arg0, arg1, arg2, arg3) {\n${body}\n  }\n  _trampoline7.fnName = '${fnName}';\n`;

  it('leaves a trampoline of an unknown shape, or of a call it does not lower, as jco wrote it', () => {
    for (const js of [trampoline('    return 1;'), trampoline('    return 1;', 'wasi:io/streams@0.2.3#subscribe')]) {
      expect(lowerHotImports(js)).toEqual({ js, lowered: 0 });
    }
  });
});
