// The DWARF reader (runtime/dwarf/) against LLVM's own tools on every debug build in
// wasm_programs/build (*_debug.wasm: clang's DWARF 4 and 5, rustc's DWARF 4): the line tables
// row by row against `llvm-dwarfdump --debug-line`, the line at every row's code offset, and the
// chain of inlined functions at those offsets against `llvm-symbolizer`. And damaged DWARF,
// fuzzed: the reader throws a DwarfError (one line, a byte offset) or answers, never anything else.
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DwarfError, readDebugInfo, type DebugInfo } from '../dist/runtime/dwarf/index.js';
import { formatTrap, hasDebugInfo, loadDebugInfo, trapSources } from '../dist/runtime/index.js';
import { cliPath, programsDir, runCliAsync, tempDir } from './helpers.js';

const buildDir = join(programsDir, 'build');
const debugBuilds = readdirSync(buildDir).filter((f) => f.endsWith('_debug.wasm')).sort();
const tool = (name: string) => `/usr/bin/${name}`;
const haveLlvm = spawnSync(tool('llvm-dwarfdump'), ['--version']).status === 0 && spawnSync(tool('llvm-symbolizer'), ['--version']).status === 0;

interface DumpRow { address: number; line: number; column: number; file: number; isStmt: boolean; endSequence: boolean }

/** `llvm-dwarfdump --debug-line`'s tables: program offset -> rows. */
function dumpLineTables(path: string): Map<number, DumpRow[]> {
  const out = spawnSync(tool('llvm-dwarfdump'), ['--debug-line', path], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout;
  const tables = new Map<number, DumpRow[]>();
  let rows: DumpRow[] = [];
  for (const line of out.split('\n')) {
    const header = /^debug_line\[0x([0-9a-f]+)\]/.exec(line);
    if (header) tables.set(parseInt(header[1]!, 16), rows = []);
    const m = /^0x([0-9a-f]{16})\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+\d+\s*(.*)$/.exec(line);
    if (m) rows.push({ address: parseInt(m[1]!, 16), line: +m[2]!, column: +m[3]!, file: +m[4]!, isStmt: /\bis_stmt\b/.test(m[5]!), endSequence: /\bend_sequence\b/.test(m[5]!) });
  }
  return tables;
}

/** llvm-symbolizer's answer for code addresses: per address, frames innermost first as "file:line:column". */
function symbolize(path: string, addresses: number[]): string[][] {
  const input = addresses.map((a) => `0x${a.toString(16)}`).join('\n');
  const out = spawnSync(tool('llvm-symbolizer'), [`--obj=${path}`, '--no-demangle'], { input, encoding: 'utf8', maxBuffer: 1 << 28 }).stdout;
  return out.trimEnd().split('\n\n').map((block) => block.split('\n').filter((_, i) => i % 2 === 1).map(normalize));
}

// LLVM 14's symbolizer joins a DWARF 5 unit's compilation directory twice (dir/dir/src/x.c).
const normalize = (where: string) => where.replace(/(^|\/)(\.\/)+/g, '$1').replace(/^([^/]+)\/\1\//, '$1/');

/** Every code address a row starts at, in sequences that hold code (not a discarded function's). */
function liveRowAddresses(info: DebugInfo): Map<number, DumpRow> {
  const byAddress = new Map<number, DumpRow>();
  for (const table of info.lineTables) {
    let sequence: DumpRow[] = [];
    for (const row of table.rows) {
      if (!row.endSequence) { sequence.push(row); continue; }
      if (sequence.length > 0 && sequence[0]!.address < info.codeSize) for (const r of sequence) if (r.address < row.address) byAddress.set(r.address, r); // the last row at an address is in force
      sequence = [];
    }
  }
  return byAddress;
}

// Skipped only where LLVM's tools are missing (Debian: apt-get install -y llvm): they give the reference answers.
describe.skipIf(!haveLlvm)('the DWARF reader against llvm-dwarfdump and llvm-symbolizer', () => {
  it('finds the debug builds', () => {
    expect(debugBuilds).toEqual(expect.arrayContaining(['trap_debug.wasm', 'stdin_echo_debug.wasm', 'syscall_heavy_debug.wasm', 'sha256_debug.wasm', 'rust_panic_debug.wasm']));
  });

  it.each(debugBuilds)('%s: every line table, row by row, as llvm-dwarfdump --debug-line reads it', (name) => {
    const path = join(buildDir, name);
    const info = readDebugInfo(readFileSync(path))!;
    const dumped = dumpLineTables(path);
    expect(info.lineTables.map((t) => t.offset)).toEqual([...dumped.keys()]);
    for (const table of info.lineTables) {
      const mine = table.rows.map(({ address, line, column, file, isStmt, endSequence }) => ({ address, line, column, file, isStmt, endSequence }));
      expect(mine, `table at 0x${table.offset.toString(16)}`).toEqual(dumped.get(table.offset));
    }
  });

  it.each(debugBuilds)('%s: offset by offset, the line and the inlined calls llvm-symbolizer gives', (name) => {
    const path = join(buildDir, name);
    const info = readDebugInfo(readFileSync(path))!;
    const rows = liveRowAddresses(info);
    const addresses = [...rows.keys()].sort((a, b) => a - b);
    expect(addresses.length).toBeGreaterThan(50);
    const theirs = symbolize(path, addresses);
    expect(theirs).toHaveLength(addresses.length);
    let inlinedSeen = 0;
    addresses.forEach((address, i) => {
      const mine = info.locate(info.codeStart + address);
      const row = rows.get(address)!;
      expect(mine[0]?.line, `line at code offset 0x${address.toString(16)}`).toBe(row.line);
      expect(mine[0]?.column, `column at code offset 0x${address.toString(16)}`).toBe(row.column);
      // llvm-symbolizer prints line 0 as 0 and drops a missing column: compare what both print.
      const where = mine.map((l) => normalize(`${l.file}:${l.line}:${l.column}`));
      expect(where, `frames at code offset 0x${address.toString(16)}`).toEqual(theirs[i]!.map((w) => (/:\d+:\d+$/.test(w) ? w : `${w}:0`)));
      if (mine.length > 1) inlinedSeen++;
    });
    if (name === 'syscall_heavy_debug.wasm' || name === 'rust_panic_debug.wasm') expect(inlinedSeen).toBeGreaterThan(0);
  });

  it('reads DWARF 4 and DWARF 5 line tables among the builds', () => {
    const versions = new Set(debugBuilds.flatMap((n) => readDebugInfo(readFileSync(join(buildDir, n)))!.lineTables.map((t) => t.version)));
    expect([...versions].sort()).toEqual([4, 5]);
  });
});

describe('which modules have debug info', () => {
  it('a debug build has, a release build has not (and the reader says null)', () => {
    expect(hasDebugInfo(readFileSync(join(buildDir, 'trap_debug.wasm')))).toBe(true);
    const plain = readFileSync(join(buildDir, 'trap.wasm'));
    expect(hasDebugInfo(plain)).toBe(false);
    expect(readDebugInfo(plain)).toBeNull();
  });

  it('a frame known only by its function name (another build of the module) names the function and its declaration', () => {
    const info = readDebugInfo(readFileSync(join(buildDir, 'trap_debug.wasm')))!;
    const body = (name: string) => info.frameSource({ name, functionIndex: -1, offset: 0 });
    expect(body('crash_here').locations[0]).toMatchObject({ file: 'wasm_programs/src/trap.c', line: 4, function: 'crash_here' });
    expect(body('level_two').exact).toBe(false);
  });
});

/** The module with one custom section's bytes replaced (same name, new contents). */
function withSection(module: Uint8Array, name: string, contents: Uint8Array): Uint8Array {
  const pieces: Uint8Array[] = [module.subarray(0, 8)];
  let at = 8;
  while (at < module.length) {
    const start = at;
    const id = module[at]!;
    let size = 0, shift = 0, p = at + 1;
    for (;;) { const b = module[p++]!; size += (b & 0x7f) * 2 ** shift; shift += 7; if (!(b & 0x80)) break; }
    at = p + size;
    if (id === 0) {
      const nameLength = module[p]!;
      const own = Buffer.from(module.subarray(p + 1, p + 1 + nameLength)).toString();
      if (own === name) {
        const payload = Buffer.concat([Uint8Array.of(nameLength), Buffer.from(name), contents]);
        pieces.push(Uint8Array.of(0), Uint8Array.from(leb(payload.length)), payload);
        continue;
      }
    }
    pieces.push(module.subarray(start, at));
  }
  return Buffer.concat(pieces);
}

function leb(n: number): number[] {
  const out: number[] = [];
  do { let b = n & 0x7f; n = Math.floor(n / 128); if (n) b |= 0x80; out.push(b); } while (n);
  return out;
}

function sectionOf(module: Uint8Array, name: string): Uint8Array {
  const wasm = new WebAssembly.Module(module);
  return new Uint8Array(WebAssembly.Module.customSections(wasm, name)[0]!);
}

describe('damaged DWARF (fuzzed)', () => {
  const small = ['trap_debug.wasm', 'stdin_echo_debug.wasm', 'rust_panic_debug.wasm'].map((n) => readFileSync(join(buildDir, n)));
  const names = ['.debug_line', '.debug_info', '.debug_abbrev', '.debug_str', '.debug_ranges', '.debug_str_offsets', '.debug_addr', '.debug_rnglists', '.debug_line_str'];

  const answersOrDwarfError = (module: Uint8Array) => {
    try {
      const info = readDebugInfo(module);
      if (!info) return;
      // Lookups on a damaged table answer something or nothing, but never throw.
      for (let off = info.codeStart; off < info.codeStart + info.codeSize; off += 97) info.locate(off);
      info.frameSource({ name: 'main', functionIndex: 8, offset: info.codeStart + 40 });
    } catch (err) {
      expect(err).toBeInstanceOf(DwarfError);
      expect((err as Error).message).toMatch(/^\.debug_\w+|^module|^code section/);
      expect((err as Error).message).toMatch(/\(at byte \d+\)$/);
      expect((err as Error).message).not.toContain('\n');
    }
  };

  it('truncated, bit-flipped or overwritten sections: a DwarfError naming the byte, or an answer', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: small.length - 1 }), fc.constantFrom(...names), fc.constantFrom('truncate', 'flip', 'splice'),
      fc.integer({ min: 0, max: 1 << 30 }), fc.uint8Array({ minLength: 1, maxLength: 16 }),
      (which, name, how, where, junk) => {
        const module = small[which]!;
        if (WebAssembly.Module.customSections(new WebAssembly.Module(module), name).length === 0) return;
        const section = sectionOf(module, name);
        const at = section.length === 0 ? 0 : where % section.length;
        let damaged: Uint8Array;
        if (how === 'truncate') damaged = section.subarray(0, at);
        else if (how === 'flip') { damaged = Uint8Array.from(section); damaged[at] = damaged[at]! ^ (junk[0]! || 1); }
        else { damaged = Uint8Array.from(section); damaged.set(junk.subarray(0, Math.max(0, damaged.length - at)), at); }
        answersOrDwarfError(withSection(module, name, damaged));
      },
    ), { numRuns: 400, seed: 15 });
  });

  it("a trap's report from damaged DWARF: the frames, and no more than one warning line", async () => {
    const module = small[0]!; // trap_debug.wasm, and the frames its trap has
    const trap = { message: 'unreachable', frames: [[11, 0x22f, 'crash_here'], [10, 0x210, 'level_two'], [9, 0x1f5, 'level_one'], [8, 0x1e5, 'main']]
      .map(([functionIndex, offset, name]) => ({ functionIndex: functionIndex as number, offset: offset as number, name: name as string })) };
    const plain = formatTrap(trap).split('\n');
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('.debug_line', '.debug_info', '.debug_abbrev', '.debug_str', '.debug_ranges'), fc.constantFrom('truncate', 'flip'),
      fc.integer({ min: 0, max: 1 << 30 }), fc.integer({ min: 1, max: 255 }),
      async (name, how, where, bits) => {
        const section = sectionOf(module, name);
        const at = where % section.length;
        const damaged = how === 'truncate' ? section.subarray(0, at) : Uint8Array.from(section);
        if (how === 'flip') damaged[at] = damaged[at]! ^ bits;
        const report = formatTrap(trap, trapSources(await loadDebugInfo(withSection(module, name, damaged)), trap)).split('\n');
        const warnings = report.filter((l) => l.startsWith('replicode: warning:'));
        expect(warnings.length).toBeLessThanOrEqual(1);
        if (warnings.length === 1) expect(report.filter((l) => !l.startsWith('replicode: warning:'))).toEqual(plain);
        expect(report.filter((l) => /^ {2}#\d/.test(l))).toHaveLength(trap.frames.length);
      },
    ), { numRuns: 200, seed: 16 });
  });
});

describe('traps in source terms, through the CLI', () => {
  const trapDebug = join(buildDir, 'trap_debug.wasm');
  const frames = [
    '  #0 wasm_programs/src/trap.c:5:19 in crash_here (func 11, offset 0x22f)',
    '  #1 wasm_programs/src/trap.c:9:3 in level_two (func 10, offset 0x210)',
    '  #2 wasm_programs/src/trap.c:14:3 in level_one (func 9, offset 0x1f5)',
    '  #3 wasm_programs/src/trap.c:22:3 in main (func 8, offset 0x1e5)',
  ];

  it('run, record and replay of a debug build name trap.c and the line of each frame', async () => {
    const dir = tempDir();
    const trace = join(dir, 'trap.rct');
    const [run, record] = await Promise.all([runCliAsync(['run', trapDebug]), runCliAsync(['record', '-o', trace, trapDebug])]);
    const replay = await runCliAsync(['replay', trace]);
    for (const [r, exitCode] of [[run, 134], [record, 134], [replay, 0]] as const) { // a replay that matches exits 0
      expect(r.exitCode, r.stderr).toBe(exitCode);
      expect(r.stderr).toContain(`replicode: guest trapped: unreachable\nwasm stack (innermost first):\n${frames.join('\n')}\n`);
      expect(r.stderr).not.toContain('warning');
    }
  });

  it('a module without debug info prints frames as before', async () => {
    const r = await runCliAsync(['run', join(buildDir, 'trap.wasm')]);
    expect(r.stderr).toContain('  #0 crash_here (func 11, offset 0x');
    expect(r.stderr).not.toMatch(/trap\.c|warning/);
  });

  it("another compiler's DWARF: the Rust guest's trap names panic.rs and the inlined core function", async () => {
    const r = await runCliAsync(['run', join(buildDir, 'rust_panic_debug.wasm')]);
    expect(r.exitCode).toBe(134);
    expect(r.stderr).toMatch(/#0 \S+core_arch\/src\/wasm32\/mod\.rs:\d+:\d+ in unreachable \(inlined\)\n {5}wasm_programs\/rust\/panic\.rs:24:9 in check \(func \d+, offset 0x[0-9a-f]+\)\n/);
    expect(r.stderr).toMatch(/#1 wasm_programs\/rust\/panic\.rs:35:5 in digit_sum /);
  });

  it('damaged DWARF: the frames as without debug info, and one warning line naming the byte', async () => {
    const dir = tempDir();
    const module = readFileSync(trapDebug);
    const info = sectionOf(module, '.debug_info');
    const damaged = join(dir, 'damaged.wasm');
    writeFileSync(damaged, withSection(module, '.debug_info', info.subarray(0, 200)));
    const [r, plain] = await Promise.all([runCliAsync(['run', damaged]), runCliAsync(['run', join(buildDir, 'trap.wasm')])]);
    expect(r.exitCode).toBe(134);
    const lines = r.stderr.split('\n');
    expect(lines.filter((l) => l.includes('warning'))).toEqual([expect.stringMatching(/^replicode: warning: no source lines: the module's debug info is damaged: \.debug_info: .* \(at byte \d+\)$/)]);
    expect(lines.filter((l) => /^ {2}#\d/.test(l))).toHaveLength(plain.stderr.split('\n').filter((l) => /^ {2}#\d/.test(l)).length);
    expect(r.stderr).not.toMatch(/trap\.c|\n\s+at /);
  });
});

describe("replay's divergence in source terms", () => {
  it('a changed build that makes another call: the divergent stack names stdin_echo.c and its line (text and --json); without DWARF, frames as before', async () => {
    const dir = tempDir();
    const trace = join(dir, 'trap.rct');
    expect((await runCliAsync(['record', '-o', trace, join(buildDir, 'trap_debug.wasm')])).exitCode).toBe(134);
    const summary = join(dir, 'summary.json');
    const [r, plain] = await Promise.all([
      runCliAsync(['replay', `--json=${summary}`, '--module', join(buildDir, 'stdin_echo_debug.wasm'), trace]),
      runCliAsync(['replay', '--module', join(buildDir, 'stdin_echo.wasm'), trace]),
    ]);
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toContain('replicode: replay diverged at event 0: the guest made a different call\n');
    expect(r.stderr).toMatch(/\n {4}#2 wasm_programs\/src\/stdin_echo\.c:9:17 in main \(func 6, offset 0x[0-9a-f]+\)\n/);
    expect(r.stderr).toMatch(/\n {4}#0 \S+__wasilibc_real\.c:\d+:\d+ in __wasi_fd_read \(func \d+, offset 0x[0-9a-f]+\)\n/);
    const { divergence } = JSON.parse(readFileSync(summary, 'utf8'));
    expect(divergence.source.warning).toBeNull();
    expect(divergence.source.frames).toHaveLength(divergence.stack.length);
    const main = divergence.stack.findIndex((f: { name: string }) => f.name === '__original_main'); // the name section's; DWARF says main
    expect(divergence.source.frames[main]).toEqual([{ file: 'wasm_programs/src/stdin_echo.c', line: 9, column: 17, function: 'main', inlined: false }]);
    expect(plain.exitCode).toBe(3);
    expect(plain.stderr).toMatch(/\n {4}#\d __original_main \(func \d+, offset 0x[0-9a-f]+\)\n/);
    expect(plain.stderr).not.toMatch(/stdin_echo\.c|warning/);
  });
});

describe('the DWARF reader is loaded only when needed', () => {
  it('a trap in a module without debug info never loads runtime/dwarf/; one in a debug build does', () => {
    const dir = tempDir();
    const log = join(dir, 'loaded.txt');
    writeFileSync(log, '');
    // A module resolve hook that notes every file of the DWARF reader the CLI loads (runtime/dwarf/,
    // or its chunk of the bundled CLI: dist/bundle/dwarf-*.js).
    writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (/\\/runtime\\/dwarf\\/|\\/bundle\\/dwarf-/.test(r.url)) appendFileSync(${JSON.stringify(log)}, r.url + '\\n');
  return r;
}`);
    writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`);
    const run = (module: string) => spawnSync(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, cliPath, 'run', join(buildDir, module)], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    const plain = run('trap.wasm');
    expect(plain.status, plain.stderr).toBe(134);
    expect(readFileSync(log, 'utf8')).toBe('');
    const debug = run('trap_debug.wasm');
    expect(debug.stderr).toContain('trap.c:5:19 in crash_here');
    expect(readFileSync(log, 'utf8')).toMatch(/\/runtime\/dwarf\/index\.js|\/bundle\/dwarf-\w+\.js/);
  });
});
