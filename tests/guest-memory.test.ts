// GuestMemory caches the guest's ArrayBuffer and its views: memory.grow between syscalls must
// still be seen by every later syscall, above the old size and below it (where a non-shared
// memory's old buffer is detached), in run, record and replay.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Kernel, MemoryEffects, processConfig } from '../dist/runtime/index.js';
import { programsDir, runCli, tempDir } from './helpers.js';

const growGuest = join(programsDir, 'wat', 'grow_between_syscalls.wat');
const expected = 'before grow\nthe-arg' + 'from stdin\n' + 'done\n';

describe('guest memory that grows between syscalls', () => {
  it('run: args, stdin and stdout through memory past the old size and through the detached range', () => {
    const r = runCli(['run', growGuest, '--', 'the-arg'], 'from stdin\n');
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(expected);
  });

  it('record and replay see the grown memory too', () => {
    const trace = join(tempDir(), 'grow.rct');
    const rec = runCli(['record', '-o', trace, growGuest, '--', 'the-arg'], 'from stdin\n');
    expect(rec.exitCode, rec.stderr).toBe(0);
    expect(rec.stdout).toBe(expected);
    const replay = runCli(['replay', trace]);
    expect(replay.exitCode, replay.stderr).toBe(0);
    expect(replay.stderr).toMatch(/replay matches the recording/);
  });

  it('a shared memory (never detached, only longer) is seen at its new size', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
    const kernel = new Kernel(processConfig({ args: ['guest', 'the-arg'] }), new MemoryEffects({ stdin: '' }));
    kernel.attachMemory(memory);
    const sys = kernel.imports()['wasi_snapshot_preview1'] as unknown as Record<string, (...a: number[]) => number>;
    const page = 65536;
    expect(sys.args_sizes_get!(16, 20)).toBe(0); // warms the cache at one page
    expect(sys.args_sizes_get!(page + 16, page + 20)).toBe(21); // FAULT: past the end
    memory.grow(1);
    expect(sys.args_sizes_get!(page + 16, page + 20)).toBe(0);
    const view = new DataView(memory.buffer);
    expect(view.getUint32(page + 16, true)).toBe(2);
    expect(view.getUint32(page + 20, true)).toBe('guest\0the-arg\0'.length);
    expect(sys.args_sizes_get!(2 * page - 4, 2 * page)).toBe(21); // the size pointer is one past the end
  });
});
