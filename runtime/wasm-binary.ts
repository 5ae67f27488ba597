// The few pieces of the WebAssembly binary format that RepliCode rewrites modules with (the
// memory limit, the divergence tools' instrumentation): LEB128 numbers and the section list.
import { ModuleFormatError } from './module-error.js';

/** An unsigned LEB128 number at `at`: its value and where the next field starts. */
export function readLeb(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    if (b === undefined) throw new ModuleFormatError('the module ends inside a number');
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return [value, at];
  }
}

/** `value` as unsigned LEB128. */
export function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let b = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) b |= 0x80;
    out.push(b);
  } while (value !== 0);
  return out;
}

export interface Section { id: number; start: number; payload: number; end: number }

/** The sections of a binary module, in order (a section running past the end is cut there). */
export function* sections(binary: Uint8Array): Generator<Section> {
  let at = 8;
  while (at < binary.length) {
    const start = at;
    const id = binary[at]!;
    const [size, payload] = readLeb(binary, at + 1);
    const end = Math.min(payload + size, binary.length);
    yield { id, start, payload, end };
    at = end;
  }
}

/** A section from its id and payload. */
export function section(id: number, payload: number[] | Uint8Array): Uint8Array {
  // Concatenated, not spread: a code section's payload is far too long to pass as arguments.
  return Buffer.concat([Uint8Array.of(id, ...leb(payload.length)), payload instanceof Uint8Array ? payload : Uint8Array.from(payload)]);
}

/**
 * Whether a module carries DWARF line tables (a `.debug_line` custom section): a walk over the
 * section headers only, so commands can decide to load the DWARF reader (runtime/dwarf/) at all.
 */
export function hasDebugInfo(binary: Uint8Array): boolean {
  const wanted = new TextEncoder().encode('.debug_line');
  if (binary.length < 8 || binary[0] !== 0 || binary[1] !== 0x61 || binary[2] !== 0x73 || binary[3] !== 0x6d) return false; // not binary (WAT)
  try {
    for (const { id, payload } of sections(binary)) {
      if (id !== 0) continue;
      const [length, at] = readLeb(binary, payload);
      if (length === wanted.length && wanted.every((b, i) => binary[at + i] === b)) return true;
    }
  } catch {
    return false; // a damaged module: whatever reads it next says how
  }
  return false;
}
