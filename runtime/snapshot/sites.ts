// Where the snapshot copy's frames stand in the module as given. binaryen rebuilds every function
// body of the copy (replayer/instrument.ts), so the copy's code offsets mean nothing to the
// module's DWARF. When the copy is built, this file matches, function by function, what binaryen
// keeps in order:
// - calls: a function's k-th call in the copy is its k-th call in binaryen's input (asyncify and
//   the clock add none but the clock's stop call); checked by callee, a function whose calls do
//   not match is left out;
// - hooks: log-execution passes each hook a number; decoding the module right after that pass
//   says which number marks a function's entry, the head of its k-th loop (the k-th `loop` opcode
//   of the input: binaryen keeps loops in order) or an exit.
// The map travels in the copy as a custom section (copySitesSectionName), so the guest's worker
// translates frames with the module alone, as rewrite/offsets.ts does for the rewriting passes.
import { ModuleFormatError } from '../module-error.js';
import type { WasmFrame } from '../trap.js';
import { readLeb, sections } from '../wasm-binary.js';
import { bodiesOf, type Body } from '../rewrite/bodies.js';
import { ByteWriter } from '../rewrite/bytes.js';
import { readSleb, scanBody, skipValType } from '../rewrite/decoder.js';
import { parse, SectionId, skipLimits, type Parsed } from '../rewrite/module.js';
import { stopImport } from './abi.js';

/** The copy's custom section holding its site map. */
export const copySitesSectionName = 'replicode.copy_sites';
/** Version of the section's payload (its first byte). */
const copySitesVersion = 1;

export type HookKind = 'entry' | 'loop' | 'exit';
const hookKinds: readonly HookKind[] = ['entry', 'loop', 'exit'];

/**
 * A hook in the module as given: in function `function`, at `offset` (the function's first
 * instruction, its loop's `loop` opcode, or its final `end`), the loop or function ending at `end`.
 */
export interface HookSite { kind: HookKind; function: number; offset: number; end: number }
/** A call in the module as given. */
export interface CallSite { function: number; offset: number }
/** The copy's calls by their offset in the copy, its hooks by the number log-execution gave them. */
export interface CopySites { calls: Map<number, CallSite>; hooks: Map<number, HookSite> }

/** What one body holds, in order: its calls (callee -1: indirect) and loops; for each call, where its i32 argument came from. */
interface BodyMarks {
  calls: { at: number; callee: number; arg: number | undefined; entry: boolean; loop: number }[];
  loops: { at: number; end: number }[];
}

const op = { block: 0x02, loop: 0x03, if: 0x04, try: 0x06, end: 0x0b, delegate: 0x18, tryTable: 0x1f, call: 0x10, returnCall: 0x12, i32Const: 0x41 } as const;
const indirectCalls = new Set([0x11, 0x13, 0x14, 0x15]);
const callOpcodes = new Set([op.call, op.returnCall, ...indirectCalls]);

function marksOf(binary: Uint8Array, parsed: Parsed, body: Body): BodyMarks {
  const marks: BodyMarks = { calls: [], loops: [] };
  const open: number[] = []; // per open block: its index in marks.loops, or -1
  let loop = -1; // the loop whose head this is (only blocks since its opcode), else -1
  let entry = true; // only blocks since the body's start
  let constant: { at: number; entry: boolean; loop: number } | undefined; // the previous instruction, an i32.const
  scanBody(binary, body.codeStart, body.end, body.type.results, parsed.shape, {
    visit: (code, at) => {
      const before = constant;
      constant = undefined;
      if (code === op.block) { open.push(-1); return; }
      if (code === op.loop) {
        open.push(marks.loops.length);
        loop = marks.loops.length;
        marks.loops.push({ at, end: -1 });
        return;
      }
      if (code === op.if || code === op.try || code === op.tryTable) open.push(-1);
      else if (code === op.end || code === op.delegate) {
        const closed = open.pop();
        if (closed !== undefined && closed >= 0) marks.loops[closed]!.end = at;
      } else if (code === op.i32Const) constant = { at, entry, loop };
      else if (code === op.call || code === op.returnCall || indirectCalls.has(code)) {
        const callee = code === op.call || code === op.returnCall ? readLeb(binary, at + 1)[0] : -1;
        marks.calls.push({ at, callee, arg: before && readSleb(binary, before.at + 1)[0], entry: before?.entry ?? false, loop: before?.loop ?? -1 });
      }
      loop = -1;
      entry = false;
    },
  });
  return marks;
}

/** The index of the function import `module`.`name` (-1: none). */
function functionImport(binary: Uint8Array, list: Parsed['sections'], module: string, name: string): number {
  const s = list.find((x) => x.id === SectionId.import);
  if (!s) return -1;
  const text = (at: number): [string, number] => { const [n, p] = readLeb(binary, at); return [new TextDecoder().decode(binary.subarray(p, p + n)), p + n]; };
  let [count, p] = readLeb(binary, s.payload);
  let functions = 0;
  while (count-- > 0) {
    const [m, q] = text(p);
    const [n, r] = text(q);
    const kind = binary[r];
    p = r + 1;
    if (kind === 0) {
      if (m === module && n === name) return functions;
      functions++;
      p = readLeb(binary, p)[1];
    } else if (kind === 1) p = skipLimits(binary, skipValType(binary, p));
    else if (kind === 2) p = skipLimits(binary, p);
    else if (kind === 3) p = skipValType(binary, p) + 1;
    else if (kind === 4) p = readLeb(binary, p + 1)[1];
    else throw new ModuleFormatError(`unknown import kind ${kind} at byte ${r}`);
  }
  return -1;
}

interface Decoded { parsed: Parsed; bodies: Body[] }
function decode(binary: Uint8Array): Decoded {
  const parsed = parse(binary);
  const code = parsed.sections.find((s) => s.id === SectionId.code);
  return { parsed, bodies: code ? bodiesOf(binary, code, parsed) : [] };
}

/**
 * The copy's site map. `original`: the module as given; `input`: the module binaryen read (after
 * the rewriting passes); `logged`: binaryen's module right after log-execution; `copy`: the
 * finished copy; `toOriginal`: an offset of `input` in `original`. Function indices are the
 * input's, which are the original's (the passes add functions only after the module's own).
 * A site whose offset in the original is not the instruction it should be (code a pass inserted,
 * such as the stack limit's calls) is left out.
 */
export function copySites(original: Uint8Array, input: Uint8Array, logged: Uint8Array, copy: Uint8Array, toOriginal: (offset: number) => number, logImport: { module: string; name: string }): CopySites {
  const [orig, inp, log, out] = [decode(original), decode(input), decode(logged), decode(copy)];
  const imported = inp.parsed.importedFuncs;
  const logIndex = functionImport(logged, log.parsed.sections, logImport.module, logImport.name);
  const stopIndex = functionImport(copy, out.parsed.sections, stopImport.module, stopImport.name);
  if (logIndex < 0 || stopIndex < 0) throw new ModuleFormatError('the snapshot copy lacks its clock imports');
  // A callee in the input's index space (binaryen adds its imports after the module's own).
  const callee = (c: number, importsAdded: number) => (c < imported ? c : c - importsAdded);
  const sites: CopySites = { calls: new Map(), hooks: new Map() };
  inp.bodies.forEach((body, j) => {
    const [logBody, outBody] = [log.bodies[j], out.bodies[j]];
    if (!logBody || !outBody) return;
    const function_ = imported + j;
    const source = marksOf(input, inp.parsed, body);
    const calls = marksOf(copy, out.parsed, outBody).calls.filter((c) => c.callee !== stopIndex);
    const outAdded = out.parsed.importedFuncs - imported;
    const same = calls.length === source.calls.length && calls.every((c, k) => (c.callee < 0 ? -1 : callee(c.callee, outAdded)) === source.calls[k]!.callee);
    for (const [k, c] of (same ? calls : []).entries()) {
      const offset = toOriginal(source.calls[k]!.at);
      if (callOpcodes.has(original[offset]!)) sites.calls.set(c.at, { function: function_, offset });
    }
    const own = orig.bodies[j];
    if (!own) return;
    const logMarks = marksOf(logged, log.parsed, logBody);
    const loopsKept = logMarks.loops.length === source.loops.length;
    const last = own.end - 1; // the function's final `end`
    for (const c of logMarks.calls) {
      if (c.callee !== logIndex || c.arg === undefined) continue;
      const at = c.entry ? 'entry' : c.loop >= 0 ? 'loop' : 'exit';
      if (at === 'entry') sites.hooks.set(c.arg, { kind: at, function: function_, offset: own.codeStart, end: last });
      else if (at === 'exit') sites.hooks.set(c.arg, { kind: at, function: function_, offset: last, end: last });
      else if (loopsKept) {
        const loop = source.loops[c.loop]!;
        const [offset, end] = [toOriginal(loop.at), toOriginal(loop.end)];
        if (original[offset] === op.loop && original[end] === op.end) sites.hooks.set(c.arg, { kind: at, function: function_, offset, end });
      }
    }
  });
  return sites;
}

/** The section's payload: version, then the calls (copy offset delta, function, offset), then the hooks (number, kind, function, offset, end). */
export function encodeCopySites(sites: CopySites): Uint8Array {
  const w = new ByteWriter().byte(copySitesVersion).leb(sites.calls.size);
  let last = 0;
  for (const [at, c] of [...sites.calls].sort(([a], [b]) => a - b)) {
    w.leb(at - last).leb(c.function).leb(c.offset);
    last = at;
  }
  w.leb(sites.hooks.size);
  for (const [id, h] of sites.hooks) w.leb(id >>> 0).byte(hookKinds.indexOf(h.kind)).leb(h.function).leb(h.offset).leb(h.end);
  return w.view().slice();
}

export function decodeCopySites(bytes: Uint8Array): CopySites {
  if (bytes[0] !== copySitesVersion) throw new ModuleFormatError(`the snapshot copy's site map has version ${bytes[0]}, not ${copySitesVersion}`);
  const sites: CopySites = { calls: new Map(), hooks: new Map() };
  let p = 1;
  const next = () => { const [v, q] = readLeb(bytes, p); p = q; return v; };
  let at = 0;
  for (let n = next(); n > 0; n--) {
    at += next();
    sites.calls.set(at, { function: next(), offset: next() });
  }
  for (let n = next(); n > 0; n--) {
    const id = next() | 0;
    const kind = hookKinds[bytes[p++]!];
    if (!kind) throw new ModuleFormatError(`the snapshot copy's site map names an unknown hook kind at byte ${p - 1}`);
    sites.hooks.set(id, { kind, function: next(), offset: next(), end: next() });
  }
  return sites;
}

/** The copy's site map, if the module is a snapshot copy with one. */
export function copySitesOf(binary: Uint8Array): CopySites | undefined {
  for (const { id, payload, end } of sections(binary)) {
    if (id !== 0) continue;
    const [n, p] = readLeb(binary, payload);
    if (new TextDecoder().decode(binary.subarray(p, p + n)) === copySitesSectionName) return decodeCopySites(binary.subarray(p + n, end));
  }
  return undefined;
}

/**
 * Translates a snapshot copy's frames to the module as given: a hook's frame (`hookId`) to the
 * hook's place, a caller's frame to its call; any other frame (a trap inside the copy) keeps the
 * copy's index and offset and is marked `approximate`. Undefined: the module has no site map.
 */
export function copyFrameTranslator(module: WebAssembly.Module): ((frames: WasmFrame[]) => WasmFrame[]) | undefined {
  const [section] = WebAssembly.Module.customSections(module, copySitesSectionName);
  if (!section) return undefined;
  const sites = decodeCopySites(new Uint8Array(section));
  return (frames) => frames.map((f) => translateFrame(sites, f));
}

export function translateFrame(sites: CopySites, f: WasmFrame): WasmFrame {
  const { hookId, ...frame } = f;
  const hook = hookId === undefined ? undefined : sites.hooks.get(hookId);
  if (hook) return { ...frame, functionIndex: hook.function, offset: hook.offset, hook: { kind: hook.kind, end: hook.end } };
  const call = hookId === undefined ? sites.calls.get(f.offset) : undefined;
  if (call) return { ...frame, functionIndex: call.function, offset: call.offset };
  return { ...frame, approximate: true };
}
