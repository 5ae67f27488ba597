// The instruction clock of the divergence tools: binaryen's log-execution pass puts a call to an
// imported `log_execution` at every function entry and loop header (and before a body's last
// statement: with the stack limit, that is every function's exit), so "the n-th hook since event
// E" names a point in the guest's execution between two syscalls, and the stretch between two
// consecutive hooks is straight-line code (no call, no loop). The instrumented module computes
// exactly what the original does (same memory layout, globals and syscalls), so it replays the
// original's trace. binaryen loads only here (it takes a second to import).
import { applyRewrites, capMemory, deferStartFunction, describePass, moduleBinary, offsetsSectionName, readLeb, section, sections, type RewritePass } from '../runtime/index.js';

const compiled = new Map<string, Promise<WebAssembly.Module>>();

/**
 * The module with a hook at every function entry and loop header, after the memory limit and the
 * recorded rewriting passes (in the order a plain run applies them); cached by hash and options.
 */
export function instrumentedModule(bytes: Uint8Array, sha256: string, maxMemoryBytes?: number, passes: readonly RewritePass[] = []): Promise<WebAssembly.Module> {
  const key = `${sha256} ${maxMemoryBytes ?? '-'} ${passes.map(describePass).join(' ')}`;
  let module = compiled.get(key);
  if (!module) {
    module = instrument(bytes, maxMemoryBytes, passes);
    compiled.set(key, module);
  }
  return module;
}

async function instrument(bytes: Uint8Array, maxMemoryBytes: number | undefined, passes: readonly RewritePass[]): Promise<WebAssembly.Module> {
  const [{ default: binaryen }, source] = await Promise.all([import('binaryen'), moduleBinary(bytes)]);
  const binary = applyRewrites(deferStartFunction(maxMemoryBytes === undefined ? source : capMemory(source, maxMemoryBytes)), passes);
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

/** The module with subsection 3 (label names) removed from its `name` custom section, and no offset map. */
export function withoutLabelNames(binary: Uint8Array): Uint8Array {
  const pieces: Uint8Array[] = [binary.subarray(0, 8)];
  for (const { id, start, payload, end } of sections(binary)) {
    const [nameLength, nameStart] = id === 0 ? readLeb(binary, payload) : [0, payload];
    const name = id === 0 ? new TextDecoder().decode(binary.subarray(nameStart, nameStart + nameLength)) : '';
    if (name === offsetsSectionName) continue; // binaryen moves the code: the stack limit's offset map would lie
    if (name !== 'name') {
      pieces.push(binary.subarray(start, end));
      continue;
    }
    const kept: number[] = Array.from(binary.subarray(payload, nameStart + nameLength));
    for (let sub = nameStart + nameLength; sub < end;) {
      const [subSize, subStart] = readLeb(binary, sub + 1);
      if (binary[sub] !== 3) kept.push(...binary.subarray(sub, subStart + subSize));
      sub = subStart + subSize;
    }
    pieces.push(section(0, kept));
  }
  return Buffer.concat(pieces);
}
