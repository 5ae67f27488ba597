// The instruction clock of the divergence tools: binaryen's log-execution pass puts a call to an
// imported `log_execution` at every function entry and loop header, so "the n-th hook since event
// E" names a point in the guest's execution between two syscalls, and the stretch between two
// consecutive hooks is straight-line code (no call, no loop). The instrumented module computes
// exactly what the original does (same memory layout, globals and syscalls), so it replays the
// original's trace. binaryen loads only here (it takes a second to import).
import { moduleBinary } from '../runtime/index.js';

const compiled = new Map<string, Promise<WebAssembly.Module>>();

/** The module with a hook at every function entry and loop header (cached by its hash). */
export function instrumentedModule(bytes: Uint8Array, sha256: string): Promise<WebAssembly.Module> {
  let module = compiled.get(sha256);
  if (!module) {
    module = instrument(bytes);
    compiled.set(sha256, module);
  }
  return module;
}

async function instrument(bytes: Uint8Array): Promise<WebAssembly.Module> {
  const [{ default: binaryen }, binary] = await Promise.all([import('binaryen'), moduleBinary(bytes)]);
  // Keep the name section (stacks name their functions); binaryen's warnings about name
  // subsections it does not know (jco writes label names) are not the user's business.
  binaryen.setDebugInfo(true);
  const m = quietly(() => binaryen.readBinary(binary));
  try {
    m.runPasses(['log-execution']);
    return await WebAssembly.compile(m.emitBinary());
  } finally {
    m.dispose();
  }
}

function quietly<T>(fn: () => T): T {
  const { warn, error } = console;
  const write = process.stderr.write;
  console.warn = () => {};
  console.error = () => {};
  process.stderr.write = () => true;
  try {
    return fn();
  } finally {
    console.warn = warn;
    console.error = error;
    process.stderr.write = write;
  }
}
