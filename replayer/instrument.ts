// The instruction clock of the divergence tools: binaryen's log-execution pass puts a call to an
// imported `log_execution` at every function entry and loop header, so "the n-th hook since event
// E" names a point in the guest's execution between two syscalls, and the stretch between two
// consecutive hooks is straight-line code (no call, no loop). The instrumented module computes
// exactly what the original does (same memory layout, globals and syscalls), so it replays the
// original's trace. binaryen loads only here (it takes a second to import).
import { capMemory, moduleBinary } from '../runtime/index.js';

const compiled = new Map<string, Promise<WebAssembly.Module>>();

/** The module with a hook at every function entry and loop header (cached by its hash and memory limit). */
export function instrumentedModule(bytes: Uint8Array, sha256: string, maxMemoryBytes?: number): Promise<WebAssembly.Module> {
  const key = `${sha256} ${maxMemoryBytes ?? '-'}`;
  let module = compiled.get(key);
  if (!module) {
    module = instrument(bytes, maxMemoryBytes);
    compiled.set(key, module);
  }
  return module;
}

async function instrument(bytes: Uint8Array, maxMemoryBytes: number | undefined): Promise<WebAssembly.Module> {
  const [{ default: binaryen }, source] = await Promise.all([import('binaryen'), moduleBinary(bytes)]);
  const binary = maxMemoryBytes === undefined ? source : capMemory(source, maxMemoryBytes);
  // Keep the name section (stacks name their functions) but not its label names (jco writes
  // them; binaryen does not know them and would print a warning per function).
  binaryen.setDebugInfo(true);
  const m = binaryen.readBinary(withoutLabelNames(binary));
  try {
    m.runPasses(['log-execution']);
    return await WebAssembly.compile(m.emitBinary());
  } finally {
    m.dispose();
  }
}

/** The module with subsection 3 (label names) removed from its `name` custom section. */
export function withoutLabelNames(binary: Uint8Array): Uint8Array {
  const out: Uint8Array[] = [binary.subarray(0, 8)];
  let at = 8;
  while (at < binary.length) {
    const start = at;
    const id = binary[at++]!;
    const [size, sizeEnd] = leb(binary, at);
    const end = sizeEnd + size;
    if (id !== 0 || end > binary.length) {
      out.push(binary.subarray(start, Math.min(end, binary.length)));
      at = end;
      continue;
    }
    const [nameLength, nameStart] = leb(binary, sizeEnd);
    const name = new TextDecoder().decode(binary.subarray(nameStart, nameStart + nameLength));
    if (name !== 'name') {
      out.push(binary.subarray(start, end));
      at = end;
      continue;
    }
    const payload: number[] = Array.from(binary.subarray(sizeEnd, nameStart + nameLength));
    let sub = nameStart + nameLength;
    while (sub < end) {
      const subId = binary[sub]!;
      const [subSize, subStart] = leb(binary, sub + 1);
      if (subId !== 3) payload.push(...binary.subarray(sub, subStart + subSize));
      sub = subStart + subSize;
    }
    out.push(Uint8Array.from([0, ...unsignedLeb(payload.length), ...payload]));
    at = end;
  }
  return Buffer.concat(out);
}

function leb(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++] ?? 0;
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0 || at >= bytes.length) return [value, at];
  }
}

function unsignedLeb(value: number): number[] {
  const out: number[] = [];
  do {
    let b = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) b |= 0x80;
    out.push(b);
  } while (value !== 0);
  return out;
}
