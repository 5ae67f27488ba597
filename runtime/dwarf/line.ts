// .debug_line: the line-number programs (DWARF 2 to 5), run into their rows. The state machine
// follows DWARF 5 section 6.2; op_index is ignored (max_ops_per_inst is 1 on every target but VLIW).
import { SectionReader, stringAt } from './bytes.js';

/** One row of a line table, as `llvm-dwarfdump --debug-line` prints it. */
export interface LineRow {
  /** Code offset (relative to the start of the Code section's contents). */
  address: number;
  /** Index into the table's `files` (1-based in DWARF 2-4, 0-based in 5). */
  file: number;
  line: number;
  column: number;
  isStmt: boolean;
  endSequence: boolean;
}

export interface LineTable {
  /** Offset of this program in .debug_line (what a unit's DW_AT_stmt_list names). */
  offset: number;
  version: number;
  /** File paths by file index (directory joined; undefined where the table has none). */
  files: (string | undefined)[];
  rows: LineRow[];
}

export interface LineSections {
  line: Uint8Array;
  str?: Uint8Array;
  lineStr?: Uint8Array;
}

const DW_LNCT_path = 1;
const DW_LNCT_directory_index = 2;

/** Joins a directory and a path as DWARF means it: an absolute path stands alone. */
export function joinPath(dir: string | undefined, name: string): string {
  if (!dir || dir === '.' || name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(name)) return name;
  return `${dir.replace(/\/+$/, '')}/${name.replace(/^(\.\/)+/, '')}`;
}

/**
 * Every line program in .debug_line, in order. `compDirs` gives, by program offset, its unit's
 * DW_AT_comp_dir (DWARF 2-4 name directory 0 that way).
 */
export function readLineTables(s: LineSections, compDirs: Map<number, string> = new Map()): LineTable[] {
  const tables: LineTable[] = [];
  const r = new SectionReader('.debug_line', s.line);
  while (!r.done) {
    const offset = r.pos;
    const [length, offsetSize] = r.initialLength();
    const end = r.pos + length;
    if (end > s.line.length) r.fail(`line program of ${length} bytes runs past the section's end`, offset);
    tables.push(readProgram(new SectionReader('.debug_line', s.line.subarray(0, end), r.pos), s, offset, offsetSize, compDirs.get(offset)));
    r.pos = end;
  }
  return tables;
}

interface Header {
  version: number; addressSize: number; minInst: number; defaultIsStmt: boolean;
  lineBase: number; lineRange: number; opcodeBase: number; opcodeLengths: number[];
}

function readProgram(r: SectionReader, s: LineSections, offset: number, offsetSize: 4 | 8, compDir: string | undefined): LineTable {
  const version = r.uint(2);
  if (version < 2 || version > 5) r.fail(`line table version ${version} (2 to 5 are known)`, r.pos - 2);
  let addressSize = 4;
  if (version >= 5) {
    addressSize = r.u8();
    r.u8(); // segment selector size
  }
  const headerLength = r.uint(offsetSize);
  const programStart = r.pos + headerLength;
  const minInst = r.u8();
  if (version >= 4) r.u8(); // max_ops_per_inst
  const defaultIsStmt = r.u8() !== 0;
  const lineBase = r.i8();
  const lineRange = r.u8();
  if (lineRange === 0) r.fail('line_range 0', r.pos - 1);
  const opcodeBase = r.u8();
  const opcodeLengths = [0];
  for (let i = 1; i < opcodeBase; i++) opcodeLengths.push(r.u8());
  const files = version >= 5 ? readEntries5(r, s, offsetSize) : readEntries4(r, compDir);
  if (programStart > r.bytes.length) r.fail('header runs past the program', r.pos);
  r.pos = programStart;
  const rows = runProgram(r, { version, addressSize, minInst, defaultIsStmt, lineBase, lineRange, opcodeBase, opcodeLengths }, files);
  return { offset, version, files, rows };
}

function readEntries4(r: SectionReader, compDir: string | undefined): (string | undefined)[] {
  const dirs: (string | undefined)[] = [compDir];
  // A relative include directory is relative to the compilation directory (as llvm-symbolizer reads it).
  for (let d = r.cstring(); d !== ''; d = r.cstring()) dirs.push(joinPath(compDir, d));
  const files: (string | undefined)[] = [undefined];
  for (let name = r.cstring(); name !== ''; name = r.cstring()) {
    const dir = r.uleb();
    r.uleb(); // modification time
    r.uleb(); // length
    files.push(joinPath(dirs[dir], name));
  }
  return files;
}

/** DWARF 5: directory and file entries described by (content type, form) pairs. */
function readEntries5(r: SectionReader, s: LineSections, offsetSize: 4 | 8): (string | undefined)[] {
  const table = () => {
    const formats: [number, number][] = [];
    for (let n = r.u8(); n > 0; n--) formats.push([r.uleb(), r.uleb()]);
    const count = r.uleb();
    if (count > r.bytes.length) r.fail(`${count} entries in a line table header`);
    const entries: { path?: string; dir: number }[] = [];
    for (let i = 0; i < count; i++) {
      const e: { path?: string; dir: number } = { dir: 0 };
      for (const [type, form] of formats) {
        const v = entryValue(r, s, form, offsetSize);
        if (type === DW_LNCT_path && typeof v === 'string') e.path = v;
        else if (type === DW_LNCT_directory_index && typeof v === 'number') e.dir = v;
      }
      entries.push(e);
    }
    return entries;
  };
  const dirs = table();
  const files = table();
  // Directory 0 is the compilation directory; the others are relative to it unless absolute.
  const dirPaths = dirs.map((d, i) => (i === 0 || d.path === undefined ? d.path : joinPath(dirs[0]?.path, d.path)));
  return files.map((f) => (f.path === undefined ? undefined : joinPath(dirPaths[f.dir], f.path)));
}

function entryValue(r: SectionReader, s: LineSections, form: number, offsetSize: 4 | 8): string | number | undefined {
  switch (form) {
    case 0x08: return r.cstring(); // string
    case 0x1f: return stringAt('.debug_line_str', s.lineStr, r.uint(offsetSize)); // line_strp
    case 0x0e: return stringAt('.debug_str', s.str, r.uint(offsetSize)); // strp
    case 0x0b: return r.u8(); // data1
    case 0x05: return r.uint(2); // data2
    case 0x06: return r.uint(4); // data4
    case 0x07: return r.uint(8); // data8
    case 0x0f: return r.uleb(); // udata
    case 0x1e: r.skip(16); return undefined; // data16 (MD5)
    case 0x09: r.skip(r.uleb()); return undefined; // block
    default: return r.fail(`form 0x${form.toString(16)} in a line table header`);
  }
}

function runProgram(r: SectionReader, h: Header, files: (string | undefined)[]): LineRow[] {
  const rows: LineRow[] = [];
  let address = 0, file = 1, line = 1, column = 0, isStmt = h.defaultIsStmt;
  // A sequence the linker tombstoned (set_address to all ones: a discarded function's code) is
  // skipped whole, as LLVM's reader does.
  let dead = false;
  const reset = () => { address = 0; file = 1; line = 1; column = 0; isStmt = h.defaultIsStmt; dead = false; };
  const emit = (endSequence = false) => { if (!dead) rows.push({ address, file, line, column, isStmt, endSequence }); };
  while (!r.done) {
    const op = r.u8();
    if (op >= h.opcodeBase) {
      const adjusted = op - h.opcodeBase;
      address += Math.floor(adjusted / h.lineRange) * h.minInst;
      line += h.lineBase + (adjusted % h.lineRange);
      emit();
      continue;
    }
    switch (op) {
      case 0: {
        const length = r.uleb();
        const start = r.pos;
        if (length === 0) break;
        const sub = r.u8();
        if (sub === 1) { emit(true); reset(); }
        else if (sub === 2) {
          const size = Math.min(length - 1, 8);
          address = r.uint(size);
          dead = size > 0 && address === Math.min(2 ** (8 * size) - 1, Number.MAX_SAFE_INTEGER);
        }
        else if (sub === 3) { files.push(r.cstring()); r.uleb(); r.uleb(); r.uleb(); } // define_file (DWARF 2-4)
        r.pos = start; // every extended opcode is skipped by its length, whatever it held
        r.skip(length);
        break;
      }
      case 1: emit(); break; // copy
      case 2: address += r.uleb() * h.minInst; break; // advance_pc
      case 3: line += r.sleb(); break; // advance_line
      case 4: file = r.uleb(); break; // set_file
      case 5: column = r.uleb(); break; // set_column
      case 6: isStmt = !isStmt; break; // negate_stmt
      case 7: break; // set_basic_block
      case 8: address += Math.floor((255 - h.opcodeBase) / h.lineRange) * h.minInst; break; // const_add_pc
      case 9: address += r.uint(2); break; // fixed_advance_pc
      case 10: case 11: break; // prologue_end, epilogue_begin
      default: for (let n = h.opcodeLengths[op] ?? 0; n > 0; n--) r.uleb(); // set_isa and unknown standard opcodes
    }
  }
  return rows;
}
