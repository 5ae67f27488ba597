// The frame of a pass that rewrites function bodies one by one (fuel, NaN canonicalisation): it
// walks the code section, lets the pass write each body, adds what the pass declares (a global,
// an export, types), and reassembles the module with its offset map composed with the
// one an earlier pass left (so trap stacks still name offsets in the module as the user gave it).
// Shared by the passes, whose output is cached on disk by rewriteVersion (rewrite/index.ts): a
// change to the bytes this writes must raise rewriteVersion (tests/rewrite-cache.test.ts fails until it is).
import { ModuleFormatError } from '../module-error.js';
import { leb, readLeb, section, type Section } from '../wasm-binary.js';
import { ByteWriter } from './bytes.js';
import { appendEntry, assemble, customSection, nameSectionOf, parse, SectionId, TypeTable, type Parsed, type ParsedType } from './module.js';
import { composeSegments, decodeSegments, encodeSegments, offsetsSectionName, type Segment } from './offsets.js';
import { skipValType } from './decoder.js';

/** One function body of the module being rewritten. */
export interface Body {
  /** Its function index. */
  index: number;
  type: ParsedType;
  /** Where its local declarations start (after their group count), its code starts, and it ends (after its final `end`). */
  localsStart: number; codeStart: number; end: number;
  /** Local declaration groups, and locals they declare (parameters not included). */
  groups: number; locals: number;
}

/** Writes one body: copies stretches of the original and inserts code, keeping the offset map. */
export class BodyEmitter {
  readonly out = new ByteWriter();
  readonly segments: Segment[] = [];
  constructor(private readonly binary: Uint8Array) {}

  /** Copies the original's bytes [from, to); returns `to`. */
  copy(from: number, to: number): number {
    this.segments.push({ start: this.out.length, length: to - from, original: from, copied: true });
    this.out.bytes(this.binary.subarray(from, to));
    return to;
  }

  /** Inserts new code, which a stack names as the original's `original`. */
  insert(bytes: ArrayLike<number>, original: number): void {
    this.segments.push({ start: this.out.length, length: bytes.length, original, copied: false });
    this.out.bytes(bytes);
  }

  reset(): void {
    this.out.reset();
    this.segments.length = 0;
  }
}

/** What a pass adds to the module besides rewriting bodies (each goes last in its index space, so no index moves). */
export interface Additions {
  /** A global entry's bytes (type, mutability, init expression). */
  global?: number[];
  /** An export entry's bytes (name, kind, index). */
  export?: number[];
  /** More export entries. */
  exports?: number[][];
  /** More global entries, after `global` (read once every body is rewritten). */
  globals?: number[][];
  /** A table entry's bytes (reference type, limits). */
  table?: number[];
}

/** The module as parsed, the types to append to, the index the added global will have. */
export interface PassContext { parsed: Parsed; typeTable: TypeTable; globalIndex: number; tableIndex: number }

/** The module's code section's bodies, in order. */
export function bodiesOf(binary: Uint8Array, s: Section, parsed: Parsed): Body[] {
  const bodies: Body[] = [];
  let [count, p] = readLeb(binary, s.payload);
  for (let i = 0; i < count; i++) {
    const index = parsed.importedFuncs + i;
    const [size, start] = readLeb(binary, p);
    if (start + size > s.end) throw new ModuleFormatError(`function ${index}'s body runs past the code section`);
    const typeIndex = parsed.shape.funcTypes[index];
    const type = typeIndex === undefined ? undefined : parsed.types[typeIndex];
    if (!type) throw new ModuleFormatError(`function ${index} has no type`);
    const [groups, localsStart] = readLeb(binary, start);
    let q = localsStart;
    let locals = 0;
    for (let g = 0; g < groups; g++) {
      const [n, next] = readLeb(binary, q);
      locals += n;
      q = skipValType(binary, next);
    }
    bodies.push({ index, type, localsStart, codeStart: q, end: start + size, groups, locals });
    p = start + size;
  }
  return bodies;
}

/**
 * The module with every body rewritten by `rewrite` (which writes the whole body: local
 * declarations, then code) and `additions` made. `originShift` as for limitStack, when no earlier
 * pass left an offset map.
 */
export function rewriteBodies(
  binary: Uint8Array,
  plan: (ctx: PassContext) => { rewrite: (body: Body, emit: BodyEmitter) => void; additions: Additions },
  originShift = 0,
): Uint8Array {
  const parsed = parse(binary);
  const find = (id: number) => parsed.sections.find((s) => s.id === id);
  const codeSection = find(SectionId.code);
  if (!codeSection) return binary;
  const typeTable = new TypeTable(parsed.types);
  const ctx: PassContext = { parsed, typeTable, globalIndex: parsed.globals, tableIndex: parsed.tables };
  const { rewrite, additions } = plan(ctx);
  const bodies = bodiesOf(binary, codeSection, parsed);
  const code = new ByteWriter();
  const segments: Segment[] = [];
  const emit = new BodyEmitter(binary);
  code.leb(bodies.length);
  for (const body of bodies) {
    emit.reset();
    rewrite(body, emit);
    code.leb(emit.out.length);
    for (const seg of emit.segments) segments.push({ ...seg, start: seg.start + code.length });
    code.bytes(emit.out.view());
  }
  const payload = code.view();
  const replaced = new Map<number, Uint8Array>([[SectionId.code, section(SectionId.code, payload)]]);
  const globals = [...(additions.global ? [additions.global] : []), ...(additions.globals ?? [])];
  if (globals.length > 0) replaced.set(SectionId.global, appendEntry(binary, SectionId.global, find(SectionId.global), ...globals));
  const exports = [...(additions.export ? [additions.export] : []), ...(additions.exports ?? [])];
  if (exports.length > 0) replaced.set(exportSectionId, appendEntry(binary, exportSectionId, find(exportSectionId), ...exports));
  if (additions.table) replaced.set(SectionId.table, appendEntry(binary, SectionId.table, find(SectionId.table), additions.table));
  if (typeTable.added.length > 0) replaced.set(SectionId.type, typeTable.section(binary, find(SectionId.type)));
  const nameSection = nameSectionOf(binary, parsed.sections);
  const names = nameSection ? binary.subarray(nameSection.start, nameSection.end) : new Uint8Array();
  const { pieces, codeAt } = assemble(binary, parsed.sections, replaced);
  const codePayloadAt = codeAt + 1 + leb(payload.length).length;
  const inner = earlierOffsets(binary, parsed.sections);
  for (const seg of segments) {
    seg.start += codePayloadAt;
    if (!inner) seg.original -= originShift;
  }
  const offsets = encodeSegments(inner ? composeSegments(segments, inner) : segments);
  return Buffer.concat([...pieces, names, customSection(offsetsSectionName, offsets)]);
}

const exportSectionId = 7;

/** The offset map an earlier pass left in the module, if any. */
function earlierOffsets(binary: Uint8Array, list: Section[]): Segment[] | undefined {
  for (const s of list) {
    if (s.id !== SectionId.custom) continue;
    const [n, p] = readLeb(binary, s.payload);
    if (new TextDecoder().decode(binary.subarray(p, p + n)) === offsetsSectionName) return decodeSegments(binary.subarray(p + n, s.end));
  }
  return undefined;
}

/** A name as a wasm name (length, UTF-8 bytes). */
export function wasmName(text: string): number[] {
  const bytes = new TextEncoder().encode(text);
  return [...leb(bytes.length), ...bytes];
}
