// The snapshot copy's site map (runtime/snapshot/sites.ts): binaryen rebuilds every body of the
// copy diff's instruction search replays, and the map takes each hook and each call back to the
// module as given, so the range's ends and their stacks have source lines. Checked against the
// original's own bytes: a loop hook names a `loop` opcode, a call site a call, an entry the
// function's first instruction, an exit its final `end`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCopy } from '../dist/replayer/index.js';
import { copySitesOf, encodeCopySites, type CopySites } from '../dist/runtime/index.js';
import { readDebugInfo } from '../dist/runtime/dwarf/index.js';
import { decodeCopySites, translateFrame } from '../dist/runtime/snapshot/sites.js';
import { programsDir } from './helpers.js';

const wasm = (name: string) => readFileSync(join(programsDir, 'build', `${name}.wasm`));

/** Every defined function's body [start, end) in module offsets, and how many call opcodes the original holds (from the DWARF reader's function list). */
function checkAgainstOriginal(original: Uint8Array, sites: CopySites): { loops: number; calls: number } {
  let loops = 0;
  for (const h of sites.hooks.values()) {
    if (h.kind === 'loop') {
      loops++;
      expect(original[h.offset], `loop hook at 0x${h.offset.toString(16)}`).toBe(0x03);
      expect(original[h.end], `its end at 0x${h.end.toString(16)}`).toBe(0x0b);
      expect(h.end).toBeGreaterThan(h.offset);
    } else if (h.kind === 'exit') expect(original[h.offset]).toBe(0x0b);
  }
  for (const c of sites.calls.values()) expect([0x10, 0x11, 0x12, 0x13], `call at 0x${c.offset.toString(16)}`).toContain(original[c.offset]);
  return { loops, calls: sites.calls.size };
}

describe("the snapshot copy's site map", () => {
  it('scale_debug: the loop hook names the loop opcode of scale, its entry and exit hooks the function, every call its call', async () => {
    const original = wasm('scale_debug');
    const sites = copySitesOf(await buildCopy(original))!;
    expect(sites).toBeDefined();
    const { loops, calls } = checkAgainstOriginal(original, sites);
    expect(loops).toBe(1); // scale's one loop (libc's start code has none)
    expect(calls).toBeGreaterThan(5);
    const info = readDebugInfo(original)!;
    const scale = [...sites.hooks.values()].filter((h) => h.function === sites.hooks.get([...sites.hooks].find(([, h]) => h.kind === 'loop')![0])!.function);
    expect(scale.map((h) => h.kind).sort()).toEqual(['entry', 'exit', 'loop']);
    const loop = scale.find((h) => h.kind === 'loop')!;
    expect(info.locateStatement(loop.offset, loop.end)[0]).toMatchObject({ function: 'scale', line: 17 });
  });

  it('sha256_debug under fuel and the stack limit: hooks and calls still name the module as given (the passes\' offset map composed)', async () => {
    const original = wasm('sha256_debug');
    const plain = copySitesOf(await buildCopy(original))!;
    const passes = [{ name: 'stack-limit' as const, maxStackBytes: 1 << 20 }, { name: 'fuel' as const, maxFuel: 1e12 }];
    const rewritten = copySitesOf(await buildCopy(original, 64 * 2 ** 20, passes))!;
    const a = checkAgainstOriginal(original, plain);
    const b = checkAgainstOriginal(original, rewritten);
    expect(a.loops).toBeGreaterThan(3);
    expect(b.loops).toBe(a.loops);
    // The same loop heads and entries, wherever binaryen put them in each copy (exits follow the
    // rewritten bodies' returns: the stack limit adds its own code there).
    const key = (s: CopySites) => [...s.hooks.values()].filter((h) => h.kind !== 'exit').map((h) => `${h.kind} ${h.function} ${h.offset} ${h.end}`).sort();
    expect(key(rewritten)).toEqual(key(plain));
    const callKey = (s: CopySites) => [...s.calls.values()].map((c) => `${c.function} ${c.offset}`).sort();
    expect(callKey(rewritten)).toEqual(expect.arrayContaining(callKey(plain)));
  });

  it('encodes and decodes the map unchanged; refuses another version by name', () => {
    const sites: CopySites = {
      calls: new Map([[300, { function: 4, offset: 120 }], [7, { function: 2, offset: 1 << 20 }]]),
      hooks: new Map([[0, { kind: 'entry', function: 1, offset: 10, end: 40 }], [2 ** 31 - 1, { kind: 'loop', function: 3, offset: 70, end: 99 }], [5, { kind: 'exit', function: 1, offset: 39, end: 39 }]]),
    };
    const back = decodeCopySites(encodeCopySites(sites));
    expect(new Map([...back.calls].sort())).toEqual(new Map([...sites.calls].sort()));
    expect(back.hooks).toEqual(sites.hooks);
    const bytes = encodeCopySites(sites);
    bytes[0] = 9;
    expect(() => decodeCopySites(bytes)).toThrow(/version 9/);
  });

  it("translates a hook's frame and a caller's; any other frame of the copy is approximate, and the DWARF reader names only its function", async () => {
    const original = wasm('scale_debug');
    const sites = copySitesOf(await buildCopy(original))!;
    const info = readDebugInfo(original)!;
    const [id, loop] = [...sites.hooks].find(([, h]) => h.kind === 'loop')!;
    const [at, call] = [...sites.calls].find(([, c]) => c.function !== loop.function)!;
    const hookFrame = translateFrame(sites, { name: 'scale', functionIndex: loop.function + 1, offset: 12345, hookId: id });
    expect(hookFrame).toEqual({ name: 'scale', functionIndex: loop.function, offset: loop.offset, hook: { kind: 'loop', end: loop.end } });
    expect(info.frameSource(hookFrame)).toMatchObject({ exact: true, locations: [{ function: 'scale', line: 17 }] });
    const name = `wasm-function[${call.function}]`; // a module without names: V8's name, by the original's index
    const caller = translateFrame(sites, { name, functionIndex: call.function + 1, offset: at });
    expect(caller).toEqual({ name, functionIndex: call.function, offset: call.offset });
    expect(info.frameSource(caller).exact).toBe(true);
    // Not a site (a trap inside the copy): the copy's index and offset, marked, and by declaration only.
    const other = translateFrame(sites, { name: 'scale', functionIndex: loop.function + 1, offset: at + 1 });
    expect(other).toMatchObject({ approximate: true, offset: at + 1 });
    expect(info.frameSource({ ...other, functionIndex: loop.function, offset: loop.offset })).toMatchObject({ exact: false, locations: [{ function: 'scale', line: 15, column: 0 }] });
  });
});
