// The disk cache of rewritten modules (runtime/rewrite, runtime/effects/copy-cache.ts): a second
// start reads the rewritten module instead of rewriting it, gives the same output and the same
// trace; a damaged entry is rebuilt over; another pass option is another entry; the cache stays in
// its bounds; and a pass whose output changes without a new rewriteVersion fails here.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyRewrites, capMemory, deferStartFunction, moduleBinary, readCachedCopy, rewriteVersion, writeCachedCopy, type RewritePass } from '../dist/runtime/index.js';
import { programsDir, runCli, tempDir } from './helpers.js';

const build = (name: string) => join(programsDir, 'build', name);
const hello = build('hello.wasm');
const helloText = readFileSync(join(programsDir, 'expected', 'hello.txt'), 'utf8');
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const entries = (dir: string, kind = 'rewritten') => readdirSync(dir).filter((name) => name.startsWith(`${kind}-`)).sort();

describe('rewritten modules cached on disk', () => {
  it('a first run writes an entry and a second run with the same options reads it: same output, no new entry', () => {
    const dir = tempDir('replicode-rwcache-');
    const first = runCli(['run', hello], '', undefined, { REPLICODE_CACHE_DIR: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toBe(helloText);
    const [entry] = entries(dir);
    expect(entries(dir)).toHaveLength(1);
    const written = readFileSync(join(dir, entry!));
    const second = runCli(['run', hello], '', undefined, { REPLICODE_CACHE_DIR: dir });
    expect(second).toEqual(first);
    expect(entries(dir)).toEqual([entry]);
    expect(readFileSync(join(dir, entry!)).equals(written)).toBe(true);
  });

  it('the second run compiles what the entry holds (an entry swapped for another module runs that module)', () => {
    // Proves the hit is real: the run never reads hello.wasm's code once the entry is there.
    const helloDir = tempDir('replicode-rwcache-');
    const exitDir = tempDir('replicode-rwcache-');
    expect(runCli(['run', hello], '', undefined, { REPLICODE_CACHE_DIR: helloDir }).exitCode).toBe(0);
    expect(runCli(['run', build('exit_code.wasm')], '', undefined, { REPLICODE_CACHE_DIR: exitDir }).exitCode).toBe(3);
    const [helloEntry] = entries(helloDir);
    const [exitEntry] = entries(exitDir);
    writeFileSync(join(helloDir, helloEntry!), readFileSync(join(exitDir, exitEntry!)));
    const swapped = runCli(['run', hello], '', undefined, { REPLICODE_CACHE_DIR: helloDir });
    expect(swapped.exitCode).toBe(3);
    expect(swapped.stdout).not.toBe(helloText);
  });

  it.each([
    ['a flipped byte', (path: string) => { const b = readFileSync(path); b[b.length - 7] ^= 0x40; writeFileSync(path, b); }],
    ['a truncated file', (path: string) => truncateSync(path, 40)],
    ['an empty file', (path: string) => truncateSync(path, 0)],
    ['a checksum that fits but no module', (path: string) => { const body = Buffer.from('not a module'); writeFileSync(path, Buffer.concat([createHash('sha256').update(body).digest(), body])); }],
  ])('an entry with %s is ignored without a word and written again', (_what, damage) => {
    const dir = tempDir('replicode-rwcache-');
    expect(runCli(['run', hello], '', undefined, { REPLICODE_CACHE_DIR: dir }).exitCode).toBe(0);
    const [entry] = entries(dir);
    const good = readFileSync(join(dir, entry!));
    damage(join(dir, entry!));
    const again = runCli(['run', hello], '', undefined, { REPLICODE_CACHE_DIR: dir });
    expect(again).toEqual({ exitCode: 0, stdout: helloText, stderr: '' });
    expect(readFileSync(join(dir, entry!)).equals(good)).toBe(true);
  });

  it('another pass option is another entry', () => {
    const dir = tempDir('replicode-rwcache-');
    expect(runCli(['run', hello], '', undefined, { REPLICODE_CACHE_DIR: dir }).exitCode).toBe(0);
    expect(runCli(['run', '--max-stack', '1', hello], '', undefined, { REPLICODE_CACHE_DIR: dir }).exitCode).toBe(0);
    expect(runCli(['run', '--no-canonical-nans', hello], '', undefined, { REPLICODE_CACHE_DIR: dir }).exitCode).toBe(0);
    expect(entries(dir)).toHaveLength(3);
  });

  it('a cache directory that cannot be written is skipped without a word', () => {
    const file = join(tempDir('replicode-rwcache-'), 'not-a-dir');
    writeFileSync(file, 'x');
    expect(runCli(['run', hello], '', undefined, { REPLICODE_CACHE_DIR: file })).toEqual({ exitCode: 0, stdout: helloText, stderr: '' });
  });

  it('traces recorded with a cold cache and from the cache are byte-identical', () => {
    const dir = tempDir('replicode-rwcache-');
    const out = tempDir('replicode-rwcache-out-');
    const record = (name: string) => {
      const r = runCli(['record', '--seed', '7', '--epoch', '2020-01-01T00:00:00Z', '-o', join(out, name), build('random.wasm')], '', undefined, { REPLICODE_CACHE_DIR: dir });
      expect(r.exitCode, r.stderr).toBe(0);
      return readFileSync(join(out, name));
    };
    const cold = record('cold.rct');
    expect(entries(dir)).toHaveLength(1);
    const warm = record('warm.rct');
    expect(warm.equals(cold)).toBe(true);
    expect(runCli(['replay', join(out, 'warm.rct')], '', undefined, { REPLICODE_CACHE_DIR: tempDir('replicode-rwcache-') }).exitCode).toBe(0);
  });

  it("a component's rewritten core module is cached beside its transpiled form, and read back", () => {
    const dir = tempDir('replicode-rwcache-');
    const component = build('hello.component.wasm');
    const first = runCli(['run', component], '', undefined, { REPLICODE_CACHE_DIR: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    // One per core module: the program's, the preview1 adapter and jco's two shims (the others
    // get NaN canonicalisation and a share of the stack limit too).
    expect(entries(dir)).toHaveLength(4);
    expect(entries(dir, 'component')).toHaveLength(1);
    // The core module is from the cache: swapping the entry for exit_code's core changes what runs.
    const exitDir = tempDir('replicode-rwcache-');
    expect(runCli(['run', build('exit_code.component.wasm')], '', undefined, { REPLICODE_CACHE_DIR: exitDir }).exitCode).toBe(1); // a component's exit is ok or err
    const second = runCli(['run', component], '', undefined, { REPLICODE_CACHE_DIR: dir });
    expect(second).toEqual(first);
    expect(entries(dir)).toHaveLength(4);
    // The program's own core is the entry that exports _start.
    // (An entry is the module after a 32-byte SHA-256 of it.)
    const program = (d: string) => entries(d).find((name) => WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(join(d, name)).subarray(32))).some((e) => e.name === '_start'))!;
    writeFileSync(join(dir, program(dir)), readFileSync(join(exitDir, program(exitDir))));
    const swapped = runCli(['run', component], '', undefined, { REPLICODE_CACHE_DIR: dir });
    expect(swapped.exitCode).toBe(1);
    expect(swapped.stdout).not.toBe(first.stdout);
  });
});

describe('the cache bounds (effects/copy-cache.ts)', () => {
  const withDir = <T>(f: (dir: string) => T): T => {
    const dir = tempDir('replicode-rwcache-bound-');
    const before = process.env.REPLICODE_CACHE_DIR;
    process.env.REPLICODE_CACHE_DIR = dir;
    try { return f(dir); } finally { if (before === undefined) delete process.env.REPLICODE_CACHE_DIR; else process.env.REPLICODE_CACHE_DIR = before; }
  };
  /** Writes keys k0..k(n-1) of `bytes` each, the files' times one second apart (oldest first). */
  const fill = (dir: string, n: number, bytes: number, limits: { maxFilesPerKind: number; maxBytes: number }) => {
    for (let i = 0; i < n; i++) {
      writeCachedCopy(`k${i}`, new Uint8Array(bytes).fill(i), 'rewritten', limits);
      for (const name of entries(dir)) if (statSync(join(dir, name)).mtimeMs > 1.5e12) utimesSync(join(dir, name), 1e9 + i, 1e9 + i);
    }
  };

  it('keeps the total bytes within the bound, evicting the oldest', () => withDir((dir) => {
    fill(dir, 6, 300, { maxFilesPerKind: 100, maxBytes: 1000 });
    const total = entries(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
    expect(total).toBeLessThanOrEqual(1000);
    expect(entries(dir)).toHaveLength(3);
    expect(readCachedCopy('k0', 'rewritten')).toBeUndefined();
    expect(Buffer.from(readCachedCopy('k5', 'rewritten')!).equals(Buffer.alloc(300, 5))).toBe(true);
  }));

  it('keeps at most the bound of files of a kind, and a file read is used again, so it stays', () => withDir((dir) => {
    const limits = { maxFilesPerKind: 3, maxBytes: 1e9 };
    fill(dir, 3, 10, limits);
    expect(readCachedCopy('k0', 'rewritten')).toBeDefined(); // now the most recently used
    writeCachedCopy('k3', new Uint8Array(10), 'rewritten', limits);
    expect(entries(dir)).toHaveLength(3);
    expect(readCachedCopy('k0', 'rewritten')).toBeDefined();
    expect(readCachedCopy('k1', 'rewritten')).toBeUndefined();
  }));

  it('does not write what is larger than the whole bound', () => withDir((dir) => {
    writeCachedCopy('big', new Uint8Array(2000), 'rewritten', { maxFilesPerKind: 10, maxBytes: 1000 });
    expect(entries(dir)).toEqual([]);
  }));
});

describe('rewriteVersion', () => {
  // The SHA-256 of each pass's output for two small modules under rewriteVersion `goldenVersion`.
  // A pass that writes other bytes fails here: raise rewriteVersion (runtime/rewrite/index.ts), so
  // that no cache hands out the old output, and record the new hashes under the new version.
  // (4: the threads pass charges a loop's quantum at its head and yields after it, not inside;
  // 5: it keeps the loop's locals in globals across that yield.)
  const goldenVersion = 5;
  const golden: Record<string, string> = {
    'hello canonical-nans': '30c3f52f1f83eb88c8d624ce18c76c6ff03708680b07fb7beb3bdf35eaa9cc33',
    'hello memory-limit': 'f2af48f0a367a9b5a808dc1f0204555e06da54e75f53afe2725d0db278c45356',
    'start deferred': 'f4d31d7ced3c22cda189e5bf71de8e03ad5ab990a36381294628a57097a27183',
    'start input': '00672055b340809f16e3a17b256ad599f4aeb49c97639916154b57a11f77ab6d',
    'hello fuel': '0cf4c15d09198c00869ee7865b8fa7243f1c06bbf69317af3f24fa3b43723c1c',
    'hello stack-limit': 'c869d2cb5beab853c28201beedd29891fae07055a6012047955c710e063ee3af',
    'racy_counter input': '538513319ed5c230f2d2ec6a2e79e3c7f4473b007bd2d3ec69b010b68c8ff91b',
    'racy_counter threads': 'e9ca6a80f8ca685eb4d2a08c4d7d1e61a4638b073a8c99cdced71829fb227049',
  };
  const passes: [string, RewritePass][] = [
    ['stack-limit', { name: 'stack-limit', maxStackBytes: 8 << 20 }],
    ['fuel', { name: 'fuel', maxFuel: 1e12 }],
    ['canonical-nans', { name: 'canonical-nans' }],
  ];

  it("names every pass's output for the same input", async () => {
    const hashes: Record<string, string> = {};
    const helloBinary = readFileSync(hello);
    for (const [name, pass] of passes) hashes[`hello ${name}`] = sha(applyRewrites(helloBinary, [pass]));
    // What compileModule does before the passes is under the same version.
    hashes['hello memory-limit'] = sha(capMemory(helloBinary, 2 ** 26, 'hello'));
    const started = await moduleBinary(new TextEncoder().encode('(module (memory (export "memory") 1) (func $init) (start $init) (func (export "_start")))'));
    hashes['start input'] = sha(started);
    hashes['start deferred'] = sha(deferStartFunction(started));
    const threaded = await moduleBinary(readFileSync(join(programsDir, 'wat', 'threads', 'racy_counter.wat')));
    hashes['racy_counter input'] = sha(threaded); // the WAT as jco assembles it: if this moved, jco did
    hashes['racy_counter threads'] = sha(applyRewrites(threaded, [{ name: 'threads', quantum: 1000 }]));
    expect({ version: rewriteVersion, hashes }, `a pass writes other bytes: raise rewriteVersion (now ${rewriteVersion}) and record these under it`).toEqual({ version: goldenVersion, hashes: golden });
  });
});
