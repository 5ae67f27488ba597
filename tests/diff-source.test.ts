// `replicode diff` in source terms: the stacks at the divergent event and the instruction
// range's ends as file, line and function from the module's DWARF, with the source text when the
// file is on this machine; "no debug info" for a module without it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffTraces, SourceFiles } from '../dist/replayer/index.js';
import { readDebugInfo } from '../dist/runtime/dwarf/index.js';
import type { WasmFrame } from '../dist/runtime/index.js';
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

/** Records each program once (no input): the traces of two builds. */
function recordPair(programs: string[]): string[] {
  const dir = tempDir();
  return programs.map((p, i) => {
    const t = join(dir, `${i}.rct`);
    expect(runCli(['record', '-o', t, wasm(p)]).exitCode).toBe(0);
    return t;
  });
}

/** llvm-dwarfdump --debug-line's rows (code addresses), every table. */
function dumpRows(path: string): { address: number; line: number; column: number; isStmt: boolean }[] {
  const out = spawnSync('/usr/bin/llvm-dwarfdump', ['--debug-line', path], { encoding: 'utf8', maxBuffer: 1 << 26 }).stdout;
  return [...out.matchAll(/^0x([0-9a-f]{16})\s+(\d+)\s+(\d+)\s+\d+\s+\d+\s+\d+\s*(.*)$/gm)]
    .map((m) => ({ address: parseInt(m[1]!, 16), line: +m[2]!, column: +m[3]!, isStmt: /\bis_stmt\b/.test(m[4]!) }));
}

/** llvm-symbolizer's frames (file:line:column, innermost first) at code addresses. */
function symbolize(path: string, addresses: number[]): string[][] {
  const input = addresses.map((a) => `0x${a.toString(16)}`).join('\n');
  const out = spawnSync('/usr/bin/llvm-symbolizer', [`--obj=${path}`], { input, encoding: 'utf8' }).stdout;
  return out.trimEnd().split('\n\n').map((block) => block.split('\n').filter((_, i) => i % 2 === 1).map((w) => w.replace(/(^|\/)(\.\/)+/g, '$1')));
}
const haveLlvm = spawnSync('/usr/bin/llvm-symbolizer', ['--version']).status === 0 && spawnSync('/usr/bin/llvm-dwarfdump', ['--version']).status === 0;

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

  it('an instruction range (fill): its ends in lines, through the instrumented copy\'s site map', () => {
    const traces = recordPair(['fill_debug', 'fill_changed_debug']);
    const report = JSON.parse(runCli(['diff', '--json', ...traces], '', repoRoot).stdout);
    expect(report.range.agreeingStack[0]).toMatchObject({ name: 'square', hook: { kind: 'entry' } });
    expect(report.range.differingStack[0]).toMatchObject({ name: 'fill', hook: { kind: 'loop' } });
    const { agreeing, differing } = report.source.range;
    // square's entry (its first instruction is its one statement's); fill's loop head at its first statement.
    expect(agreeing[0]).toEqual({ function: 'square', file: 'wasm_programs/debug/fill.c', line: 11, column: 12, exact: true, inlined: false, text: '  return i * i;' });
    expect(agreeing[1]).toMatchObject({ function: 'fill', line: 17, exact: true, text: '    table[i] = square(i);' }); // the caller, at its call
    expect(differing[0]).toMatchObject({ function: 'fill', file: 'wasm_programs/debug/fill.c', line: 17, exact: true });
    const text = runCli(['diff', ...traces]).stdout;
    expect(text).toContain('state agrees at hook 78 after event 0 returned (the entry of square <- fill <- __original_main');
    expect(text).toContain('and differs at hook 79 (the head of a loop in fill <- __original_main');
    expect(text).toContain('  the instruction range in source (first trace):\n    state agrees at:\n      wasm_programs/debug/fill.c:11:12 in square\n');
  });

  // Skipped only where LLVM's tools are missing (Debian: apt-get install -y llvm): they give the reference answers.
  it.skipIf(!haveLlvm)('an instruction range (scale: one arithmetic line inside a loop differs): the loop\'s line on each side, as llvm-dwarfdump and llvm-symbolizer read the same offsets', () => {
    const names = ['scale_debug', 'scale_changed_debug'];
    const traces = recordPair(names);
    const report = JSON.parse(runCli(['diff', '--json', ...traces], '', repoRoot).stdout);
    const { range, source } = report;
    const sides = [
      { module: wasm(names[0]!), stacks: [range.agreeingStack, range.differingStack], points: [source.range.agreeing, source.range.differing] },
      { module: wasm(names[1]!), stacks: [range.second.agreeingStack, range.second.differingStack], points: [source.range.second.agreeing, source.range.second.differing] },
    ];
    expect(source.range.second.trace).toBe(traces[1]);
    for (const side of sides) {
      const bytes = readFileSync(side.module);
      const codeStart = readDebugInfo(bytes)!.codeStart;
      side.stacks.forEach((stack: WasmFrame[], end: number) => {
        const points = side.points[end];
        // The innermost frame: the head of scale's loop, its `loop` opcode in the module as given.
        expect(stack[0]).toMatchObject({ name: 'scale', hook: { kind: 'loop' } });
        expect(bytes[stack[0]!.offset]).toBe(0x03);
        expect(points[0]).toMatchObject({ function: 'scale', file: 'wasm_programs/debug/scale.c', line: 17, exact: true, text: '    table[i] = i * 3 + BUMP(i);' });
        // llvm-dwarfdump: the loop's first statement row (a loop opcode often has the row of the code before it).
        const rows = dumpRows(side.module).filter((r) => r.isStmt && r.line > 0 && r.address >= stack[0]!.offset - codeStart && r.address < stack[0]!.hook!.end - codeStart);
        expect(rows.length).toBeGreaterThan(0);
        expect([points[0].line, points[0].column]).toEqual([rows[0]!.line, rows[0]!.column]);
        expect(symbolize(side.module, [rows[0]!.address])[0]).toEqual([`wasm_programs/debug/scale.c:17:${rows[0]!.column}`]);
        // The callers, at their calls: what llvm-symbolizer says of the same offsets.
        const callers = stack.slice(1).filter((f) => f.name !== '_start.command_export');
        expect(callers.map((f) => bytes[f.offset])).toEqual(callers.map(() => 0x10));
        const theirs = symbolize(side.module, callers.map((f) => f.offset - codeStart)).map((frames) => frames[0]);
        expect(points.slice(1, 1 + callers.length).map((p: { file: string; line: number; column: number }) => `${p.file.replace(/^\.\//, '')}:${p.line}:${p.column}`)).toEqual(theirs);
      });
    }
    // The two builds' loops differ in their code: the first statement's column differs, the line does not.
    const text = runCli(['diff', ...traces]).stdout;
    expect(text).toContain("  the instruction range's ends in source (each trace):\n");
    expect(text).toMatch(/ {6}state agrees at wasm_programs\/debug\/scale\.c:17:\d+ in scale: table\[i\] = i \* 3 \+ BUMP\(i\);\n {6}and differs at wasm_programs\/debug\/scale\.c:17:\d+ in scale/);
  });
});

describe("the snapshot copy's frames in the module as given", () => {
  it('diff resumed from snapshots (the instrumented copy) gives the stacks a replay of the module itself gives: same offsets, same lines', async () => {
    const dir = tempDir();
    const program = join(programsDir, 'build', 'syscall_heavy_debug.wasm');
    const traces = [join(dir, 'a.rct'), join(dir, 'b.rct')];
    expect(runCli(['record', '-o', traces[0]!, program, '--', '3000']).exitCode).toBe(0);
    expect(runCli(['record', '--inject', 'skew@4000:1000000', '-o', traces[1]!, program, '--', '3000']).exitCode).toBe(0);
    const plain = await diffTraces(traces, { snapshots: false });
    const resumed = await diffTraces(traces, { snapshots: true }); // builds the indexes: snapshots every 1024 events
    expect(existsSync(`${traces[0]}.idx`)).toBe(true);
    expect(resumed.event).toBe(plain.event);
    expect(resumed.event).toBeGreaterThan(1024); // past a snapshot: the stacks come from the copy resumed there
    expect(plain.sides[0]!.stack.length).toBeGreaterThan(3);
    expect(resumed.sides.map((x) => x.stack)).toEqual(plain.sides.map((x) => x.stack));
    expect(resumed.source!.sides).toEqual(plain.source!.sides);
    expect(resumed.source!.sides[0]!.frames).toContainEqual(expect.objectContaining({ file: 'wasm_programs/src/syscall_heavy.c', exact: true }));
    expect(resumed.range).toEqual(plain.range);
  }, 240_000);
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
