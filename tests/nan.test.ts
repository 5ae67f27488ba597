// NaN canonicalisation (runtime/rewrite/nans.ts): on by default, `--no-canonical-nans` to opt out,
// recorded in the trace header and applied by replay only when recorded, so traces made without it
// (older ones included) replay exactly as before.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyRewrites, canonicaliseNans, moduleBinary, rewritePipeline } from '../dist/runtime/index.js';
import { programsDir, runCli, tempDir } from './helpers.js';

const nanBits = join(programsDir, 'wat', 'nan_bits.wat');
const canonical = [
  'f32 0/0=7fc00000',
  'f64 0/0=7ff8000000000000',
  'f32 sqrt(-1)=7fc00000',
  'f64 sqrt(-1)=7ff8000000000000',
  'f32 -nan+1=7fc00000',
  'f64 promote(snan)=7ff8000000000000',
  'f32x4 0/0=7fc00000',
  'f32 neg(0/0)=ffc00000', // neg flips the sign of the canonical NaN: it moves bits, it is not canonicalised
].join('\n') + '\n';
const dir = tempDir();
const inspectJson = (trace: string) => JSON.parse(runCli(['inspect', '--json', trace]).stdout);

describe('NaN canonicalisation through the CLI', () => {
  it('run: every NaN float arithmetic produces has the canonical bits', () => {
    const r = runCli(['run', nanBits]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(canonical);
  });

  it('run --no-canonical-nans: the hardware\'s bits (on x86, negative NaNs and propagated payloads)', () => {
    const r = runCli(['run', '--no-canonical-nans', nanBits]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toHaveLength(canonical.split('\n').length);
    if (process.arch === 'x64') {
      expect(r.stdout).toContain('f32 0/0=ffc00000\n');
      expect(r.stdout).toContain('f32 -nan+1=ffc12345\n');
      expect(r.stdout).toContain('f64 promote(snan)=7ffc000020000000\n');
    }
  });

  it('record puts the pass in the header; replay applies it and matches', () => {
    const trace = join(dir, 'nans.rct');
    const recorded = runCli(['record', '-o', trace, nanBits]);
    expect(recorded.stdout).toBe(canonical);
    const s = inspectJson(trace);
    expect(s.header.rewrite.map((p: { name: string }) => p.name)).toEqual(['stack-limit', 'canonical-nans']);
    expect(s.header.canonicalNans).toBe(true);
    expect(runCli(['inspect', trace]).stdout).toContain('rewriting:   stack-limit(maxStackBytes=8388608), canonical-nans()');
    const replay = runCli(['replay', trace]);
    expect(replay.stdout).toBe(canonical);
    expect(replay.exitCode).toBe(0);
  });

  it('a trace recorded without it (as every older trace) replays without it: no pass is added on replay', () => {
    const trace = join(dir, 'raw.rct');
    const recorded = runCli(['record', '--no-canonical-nans', '-o', trace, nanBits]);
    expect(inspectJson(trace).header.rewrite.map((p: { name: string }) => p.name)).toEqual(['stack-limit']);
    const replay = runCli(['replay', trace]);
    expect(replay.exitCode).toBe(0);
    expect(replay.stdout).toBe(recorded.stdout);
    if (process.arch === 'x64') expect(replay.stdout).not.toBe(canonical);
  });

  it('an older trace (format 2, no rewrite list) still replays and matches', () => {
    const replay = runCli(['replay', '-q', join('tests', 'fixtures', 'v2-no-pages', 'clean.rct')]);
    expect(replay.stderr).toContain('replay matches the recording');
    expect(replay.exitCode).toBe(0);
  });
});

describe('the NaN pass on every module we build', () => {
  const modules = readdirSync(join(programsDir, 'build')).filter((f) => f.endsWith('.wasm') && !f.endsWith('.component.wasm')); // core modules: a component's get the passes inside it

  it('gives valid modules, alone and after the stack limit and fuel, and changes nothing without float arithmetic', async () => {
    expect(modules.length).toBeGreaterThan(10);
    for (const name of modules) {
      const binary = new Uint8Array(readFileSync(join(programsDir, 'build', name)));
      const alone = canonicaliseNans(binary);
      expect(WebAssembly.validate(alone), name).toBe(true);
      const all = applyRewrites(binary, rewritePipeline({ maxStackBytes: 8 << 20, maxFuel: 1e12, canonicalNans: true }));
      expect(WebAssembly.validate(all), name).toBe(true);
    }
    const integerOnly = await moduleBinary(new TextEncoder().encode('(module (func (export "f") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))'));
    const rewritten = canonicaliseNans(integerOnly);
    // Same code: only the offset map is added at the end.
    expect(Buffer.from(rewritten.subarray(0, integerOnly.length))).toEqual(Buffer.from(integerOnly));
  });

  it('is off unless asked: the pipeline of a configuration without it has no such pass', () => {
    expect(rewritePipeline({ maxStackBytes: 1 << 20 })).toEqual([{ name: 'stack-limit', maxStackBytes: 1 << 20 }]);
    expect(rewritePipeline({ canonicalNans: true, maxFuel: 5 })).toEqual([{ name: 'fuel', maxFuel: 5 }, { name: 'canonical-nans' }]);
  });
});
