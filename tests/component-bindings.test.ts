// jco's bindings as RepliCode runs them: every sync import is called without jco's per-call task
// bookkeeping (runtime/p2/direct-imports.ts), and that changes nothing a trace can see: traces
// recorded while the bookkeeping was in place still replay.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { programsDir, repoRoot, runCli, tempDir } from './helpers.js';

const cacheDir = tempDir('replicode-bindings-cache-');
const env = { REPLICODE_CACHE_DIR: cacheDir };

describe('the bindings of a component', () => {
  it('call every import of every adapted C program directly (a jco with another shape of bindings fails here)', async () => {
    process.env.REPLICODE_CACHE_DIR = cacheDir;
    const { compileProgram, isComponentProgram } = await import('../dist/runtime/index.js');
    // The C programs wrapped with the preview1 adapter (their module is beside them).
    const build = readdirSync(join(programsDir, 'build'));
    const components = build.filter((f) => f.endsWith('.component.wasm') && build.includes(f.replace('.component.wasm', '.wasm')));
    expect(components.length).toBeGreaterThanOrEqual(10);
    let withNow = 0;
    for (const file of components) {
      const program = await compileProgram(readFileSync(join(programsDir, 'build', file)), file);
      if (!isComponentProgram(program)) throw new Error(`${file} compiled to a core module`);
      expect(program.importCalls, file).toEqual({ direct: expect.any(Number), wrapped: 0, lowered: expect.any(Number) });
      expect(program.importCalls.direct, file).toBeGreaterThanOrEqual(15);
      // Each of the stream's write, blocking-write-and-flush and check-write and monotonic-clock's
      // now that the adapter imports is lowered by hand (runtime/p2/lowered.ts); every adapter
      // writes to a stream.
      const hot = program.js.match(/\.fnName = 'wasi:(io\/streams@0\.2\.\d+#(write|blockingWriteAndFlush|checkWrite)|clocks\/monotonic-clock@0\.2\.\d+#now)'/g)?.length ?? 0;
      expect(program.importCalls.lowered, file).toBe(hot);
      expect(program.js.match(/rscLowered\.writeLowered\(memory\d+, arg1 >>> 0, arg2 >>> 0, arg3\);\n      \} catch \(e\) \{\n[^\n]*\n[^\n]*\n    \}\n      if \(ret === true\) return;/g)?.length, file).toBe(2);
      // The adapter's import of monotonic-clock now is our core function, not the trampoline.
      const nows = program.js.match(/\.fnName = 'wasi:clocks\/monotonic-clock@0\.2\.\d+#now'/g)?.length ?? 0;
      expect(program.js.match(/Object\.assign\(now\.loweredByHand === true && now\.coreFunction !== undefined \? now\.coreFunction : trampoline\d+, /g)?.length ?? 0, file).toBe(nows);
      withNow += nows;
      // The stream trampolines keep their last lookup of the stream (every set and delete of the table resets it).
      expect(program.js.match(/var rscLowered = repLowered === captureTable\d+\$rep \? /g)?.length ?? 0, file).toBe(hot - nows);
      // Borrows of host objects are not listed for release, so every release loop is skipped
      // while the list is empty (guard.ts's unreachable stand-ins included).
      const releases = program.js.match(/for \(const entry of curResourceBorrows\)/g)?.length ?? 0;
      expect(releases, file).toBeGreaterThan(0);
      expect(program.js.match(/if \(curResourceBorrows\.length !== 0\) \{\n    for \(const entry of curResourceBorrows\)/g)?.length, file).toBe(releases);
      // No import creates a task any more: what is left of the task machinery serves the one export call.
      expect(program.js.match(/createNewCurrentTask\(\{/g)?.length ?? 0, file).toBeLessThanOrEqual(2);
      // The adapter's realloc is not wrapped for JSPI, which nothing calls (and which threw and
      // was caught at every start where V8 lacks JSPI); the core function of `now` comes compiled.
      expect(program.js, file).not.toContain('WebAssembly.promising(');
      expect(program.js.match(/\n  realloc\d+Async = exports\d+\.cabi_import_realloc;\n/g)?.length, file).toBe(1);
      expect(program.nowCore, file).toBeInstanceOf(WebAssembly.Module);
    }
    // clocks and syscall_heavy read the monotonic clock.
    expect(withNow).toBeGreaterThanOrEqual(2);
  }, 120_000);
});

describe('the JSPI wrapper of the adapter\'s realloc', () => {
  const jco = (use: string) => `\n  let realloc0Async;\n  let exports2;\n  realloc0 = exports2.cabi_import_realloc;\n  \n  try {\n    realloc0Async = WebAssembly.promising(exports2.cabi_import_realloc);\n  } catch(err) {\n    realloc0Async = exports2.cabi_import_realloc;\n  }\n  ${use}\n`;

  it('is dropped where nothing reads it: the variable is what it is without JSPI', async () => {
    const { withoutUnusedPromising } = await import('../dist/runtime/p2/index.js');
    expect(withoutUnusedPromising(jco(''))).toBe('\n  let realloc0Async;\n  let exports2;\n  realloc0 = exports2.cabi_import_realloc;\n  \n  realloc0Async = exports2.cabi_import_realloc;\n  \n');
  });

  it('is kept where something reads it, or where the text is not jco 1.35\'s', async () => {
    const { withoutUnusedPromising } = await import('../dist/runtime/p2/index.js');
    const used = jco('const f = () => realloc0Async(0, 0, 1, 4);');
    expect(withoutUnusedPromising(used)).toBe(used);
    const other = jco('').replace('catch(err)', 'catch (err)');
    expect(withoutUnusedPromising(other)).toBe(other);
  });
});

describe('the code cache of the bindings', () => {
  it('is taken by V8 in another thread, and gives the same instantiate as the text', async () => {
    process.env.REPLICODE_CACHE_DIR = cacheDir;
    const { compileProgram } = await import('../dist/runtime/index.js');
    const { bindingsScript } = await import('../dist/runtime/p2/index.js');
    const program = await compileProgram(readFileSync(join(programsDir, 'build', 'syscall_heavy.component.wasm')), 'syscall_heavy');
    if (!('codeCache' in program)) throw new Error('syscall_heavy.component.wasm compiled to a core module');
    expect(program.codeCache.length).toBeGreaterThan(0);
    const source = bindingsScript(program.js);
    const worker = new Worker(`const { Script } = require('node:vm'); const { parentPort, workerData } = require('node:worker_threads');
      const script = new Script(workerData.source, { filename: 'b.js', cachedData: workerData.cache });
      const instantiate = script.runInThisContext()(new WeakSet());
      parentPort.postMessage({ rejected: script.cachedDataRejected, kind: typeof instantiate, params: instantiate.length });`, { eval: true, workerData: { source, cache: program.codeCache } });
    const answer = await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
    expect(answer).toEqual({ rejected: false, kind: 'function', params: 2 });
  }, 60_000);
});

describe('traces recorded with jco\'s task wrappers', () => {
  const fixtures = join(repoRoot, 'tests', 'fixtures', 'p2-jco-tasks');
  it.each(readdirSync(fixtures).filter((f) => f.endsWith('.rct')))('%s replays', (file) => {
    const replayed = runCli(['replay', '-q', join(fixtures, file)], '', undefined, env);
    expect(replayed.exitCode, replayed.stderr).toBe(0);
    expect(replayed.stderr).toContain('replay matches the recording');
  });
});
