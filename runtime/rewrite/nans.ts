// NaN canonicalisation (on by default; `--no-canonical-nans` turns it off): the bits of a NaN that
// float arithmetic produces are the hardware's choice (x86 gives a negative quiet NaN, ARM a
// positive one; WebAssembly allows either), so a guest that stores them would diverge between
// machines. After every instruction whose result may be such a NaN (decoder.ts lists them, as
// Cranelift's NaN canonicalisation does), the result goes through a new local and is replaced by
// the canonical quiet NaN (f32 0x7fc00000, f64 0x7ff8000000000000, lane by lane for SIMD) when it
// is not equal to itself: `x == x ? x : canonical`, a compare and a select, no branch.
// Its output is cached on disk by the input's hash, the pass list and rewriteVersion
// (rewrite/index.ts): a change to the bytes this writes must raise rewriteVersion
// (tests/rewrite-cache.test.ts holds a golden hash of its output and fails until it is raised).
import { scanBody } from './decoder.js';
import { leb } from '../wasm-binary.js';
import { rewriteBodies, type Body, type BodyEmitter, type PassContext } from './bodies.js';

export const canonicalNanF32 = 0x7fc00000;
export const canonicalNanF64 = 0x7ff8000000000000n;

const localTee = 0x22;
const localGet = 0x20;
const select = 0x1b;
const simd = 0xfd;
const f32Bytes = [0x00, 0x00, 0xc0, 0x7f];
const f64Bytes = [0, 0, 0, 0, 0, 0, 0xf8, 0x7f];
/** Per NanKind: the new local's value type, the canonical constant, the equality test, the select. */
const kinds = [
  { valType: 0x7d, constant: [0x43, ...f32Bytes], eq: [0x5b], pick: [select] },
  { valType: 0x7c, constant: [0x44, ...f64Bytes], eq: [0x61], pick: [select] },
  { valType: 0x7b, constant: [simd, 0x0c, ...f32Bytes, ...f32Bytes, ...f32Bytes, ...f32Bytes], eq: [simd, 0x41], pick: [simd, 0x52] }, // f32x4.eq, v128.bitselect
  { valType: 0x7b, constant: [simd, 0x0c, ...f64Bytes, ...f64Bytes], eq: [simd, 0x47], pick: [simd, 0x52] }, // f64x2.eq
] as const;

function rewriteBody(body: Body, emit: BodyEmitter, binary: Uint8Array, ctx: PassContext): void {
  const scan = scanBody(binary, body.codeStart, body.end, body.type.results, ctx.parsed.shape, { nans: true });
  const sites = scan.nans;
  if (sites.length === 0) {
    emit.out.leb(body.groups);
    emit.copy(body.localsStart, body.end);
    return;
  }
  // One new local per value type used (f32, f64, v128), after the function's own.
  const types: number[] = [];
  for (let i = 1; i < sites.length; i += 2) {
    const t = kinds[sites[i]!]!.valType;
    if (!types.includes(t)) types.push(t);
  }
  const firstNew = body.type.params + body.locals;
  const sequences = kinds.map((k) => {
    const local = leb(firstNew + types.indexOf(k.valType));
    return types.includes(k.valType)
      ? [localTee, ...local, ...k.constant, localGet, ...local, localGet, ...local, ...k.eq, ...k.pick] : [];
  });
  emit.out.leb(body.groups + types.length).bytes(binary.subarray(body.localsStart, body.codeStart));
  for (const t of types) emit.out.byte(1).byte(t);
  let copied = body.codeStart;
  for (let i = 0; i < sites.length; i += 2) {
    const at = sites[i]!;
    emit.copy(copied, at);
    emit.insert(sequences[sites[i + 1]!]!, at);
    copied = at;
  }
  emit.copy(copied, body.end);
}

/** The module with NaN canonicalisation (see the comment at the top). */
export function canonicaliseNans(binary: Uint8Array, originShift = 0): Uint8Array {
  return rewriteBodies(binary, (ctx) => ({ rewrite: (body, emit) => rewriteBody(body, emit, binary, ctx), additions: {} }), originShift);
}
