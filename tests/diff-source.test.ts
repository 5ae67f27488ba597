// `replicode diff` in source terms: the stacks at the divergent event and the instruction
// range's ends as file, line and function from the module's DWARF, with the source text when the
// file is on this machine; "no debug info" for a module without it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SourceFiles } from '../dist/replayer/index.js';
import { programsDir, repoRoot, runCli, tempDir } from './helpers.js';

const wasm = (name: string) => join(programsDir, 'build', `${name}.wasm`);

/** Two recordings of `program` whose stdin differs: a divergence at the first read. */
function stdinTraces(program: string): string[] {
  const dir = tempDir();
  const traces = ['a', 'b'].map((n) => join(dir, `${n}.rct`));
  expect(runCli(['record', '-o', traces[0]!, wasm(program)], 'hello\n').exitCode).toBe(0);
  expect(runCli(['record', '-o', traces[1]!, wasm(program)], 'jello\n').exitCode).toBe(0);
  return traces;
}

describe('diff in source terms', () => {
  it('a debug build: each side names stdin_echo.c, the line of the read and its text (JSON and text)', () => {
    const traces = stdinTraces('stdin_echo_debug');
    const r = runCli(['diff', '--json', ...traces]);
    expect(r.exitCode).toBe(3);
    const { source } = JSON.parse(r.stdout);
    expect(source.debugInfo).toBe(true);
    expect(source.sides).toHaveLength(2);
    for (const side of source.sides) {
      expect(side.frames[side.focus]).toMatchObject({ function: 'main', line: 9 }); // the innermost frame whose source is here
      expect(side.frames).toContainEqual({ function: 'main', file: 'wasm_programs/src/stdin_echo.c', line: 9, column: 17, exact: true, inlined: false, text: '    ssize_t n = read(0, buf, sizeof buf);' });
      expect(side.frames[0]).toMatchObject({ function: '__wasi_fd_read', exact: true, text: null }); // libc's source is not on this machine
    }
    const text = runCli(['diff', ...traces]);
    expect(text.stdout).toContain(`  source line at the divergent event (each trace):\n    ${traces[0]}: wasm_programs/src/stdin_echo.c:9:17 in main: ssize_t n = read(0, buf, sizeof buf);\n`);
    expect(text.stdout).toContain('source at the divergent event, every trace (innermost first):');
    expect(text.stdout).toContain('    wasm_programs/src/stdin_echo.c:9:17 in main\n            9 | ssize_t n = read(0, buf, sizeof buf);\n');
  });

  it('without the source file here: the file and line, no text', () => {
    const traces = stdinTraces('stdin_echo_debug');
    const r = runCli(['diff', '--json', ...traces], '', tempDir()); // another working directory
    const main = JSON.parse(r.stdout).source.sides[0].frames.find((f: { function: string }) => f.function === 'main');
    expect(main).toMatchObject({ file: 'wasm_programs/src/stdin_echo.c', line: 9, text: null });
  });

  it('a module without debug info: "no debug info"', () => {
    const traces = stdinTraces('stdin_echo');
    const { source } = JSON.parse(runCli(['diff', '--json', ...traces]).stdout);
    expect(source).toEqual({ debugInfo: false, note: null, sides: [], range: null });
    expect(runCli(['diff', ...traces]).stdout).toContain('  source: no debug info (build the module with -g for file and line: docs/guest.md)\n');
  });

  it('an instruction range: its ends by function and declaration, from the instrumented copy', () => {
    const dir = tempDir();
    const traces = ['fill_debug', 'fill_changed_debug'].map((p, i) => {
      const t = join(dir, `${i}.rct`);
      expect(runCli(['record', '-o', t, wasm(p)]).exitCode).toBe(0);
      return t;
    });
    const report = JSON.parse(runCli(['diff', '--json', ...traces], '', repoRoot).stdout);
    expect(report.range.agreeingStack[0].name).toBe('square');
    const { agreeing, differing } = report.source.range;
    expect(agreeing[0]).toEqual({ function: 'square', file: 'wasm_programs/debug/fill.c', line: 7, column: null, exact: false, inlined: false, text: '__attribute__((noinline)) static int square(int i) {' });
    expect(differing[0]).toMatchObject({ function: 'fill', file: 'wasm_programs/debug/fill.c', line: 15, exact: false });
    const text = runCli(['diff', ...traces]).stdout;
    expect(text).toContain('the instruction range in source (first trace; by function: the search runs an instrumented copy whose code offsets have no lines):');
    expect(text).toContain('      in square (wasm_programs/debug/fill.c:7, its declaration)\n');
  });
});

describe('source files for their lines', () => {
  it('keeps at most maxFiles files, reads lines around a line, and says null for a file not here', () => {
    const dir = tempDir();
    const files = new SourceFiles();
    for (let i = 0; i < SourceFiles.maxFiles + 10; i++) {
      const path = join(dir, `f${i}.c`);
      writeFileSync(path, `first ${i}\nsecond ${i}\r\nthird ${i}\n`);
      expect(files.line(path, 2)).toBe(`second ${i}`);
    }
    expect(files.cached).toBe(SourceFiles.maxFiles);
    expect(files.around(join(dir, 'f0.c'), 1, 5)).toEqual([[1, 'first 0'], [2, 'second 0'], [3, 'third 0'], [4, '']]);
    expect(files.line(join(dir, 'missing.c'), 1)).toBeNull();
    expect(files.around(join(dir, 'missing.c'), 1, 3)).toEqual([]);
  });
});
