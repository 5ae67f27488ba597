// A module's start function (`(start $f)`) runs inside `new WebAssembly.Instance`, before the
// instance's exports (its memory) exist, so a syscall from it could not reach guest memory, and
// a trap or proc_exit in it would escape as an instantiation failure. RepliCode therefore moves
// it: the start section is removed and the function exported under a reserved name, which the
// runner calls right after instantiation, before `_start`: same order, same state, but with the
// kernel attached, so traps, proc_exit and syscalls behave as anywhere else in the guest.
// Pure byte rewriting; a module without a start section is returned unchanged.
// Its output is cached on disk by the input's hash, the pass list and rewriteVersion
// (rewrite/index.ts): a change to the bytes this writes must raise rewriteVersion
// (tests/rewrite-cache.test.ts holds a golden hash of its output and fails until it is raised).
import { ModuleFormatError } from './module-error.js';
import { leb, readLeb, section, sections } from './wasm-binary.js';

/** The export the start function moves to (a name no toolchain emits). */
export const deferredStartExport = 'replicode:start';

const exportSectionId = 7;
const startSectionId = 8;
const functionExportKind = 0x00;

export function deferStartFunction(binary: Uint8Array): Uint8Array {
  const startSection = [...sections(binary)].find((s) => s.id === startSectionId);
  if (!startSection) return binary;
  const [startFunction] = readLeb(binary, startSection.payload);
  const name = new TextEncoder().encode(deferredStartExport);
  const entry = [...leb(name.length), ...name, functionExportKind, ...leb(startFunction)];
  const pieces: Uint8Array[] = [binary.subarray(0, 8)];
  let exported = false;
  for (const { id, start, payload, end } of sections(binary)) {
    if (id === exportSectionId) {
      const [count, entries] = readLeb(binary, payload);
      if (new TextDecoder().decode(binary.subarray(entries, end)).includes(deferredStartExport)) {
        throw new ModuleFormatError(`the module exports a name RepliCode reserves (${deferredStartExport})`);
      }
      const head = leb(count + 1);
      pieces.push(Uint8Array.of(exportSectionId, ...leb(head.length + (end - entries) + entry.length), ...head), binary.subarray(entries, end), Uint8Array.from(entry));
      exported = true;
    } else if (id === startSectionId) {
      // The export section, when there is one, came before (sections are ordered 7 then 8).
      if (!exported) pieces.push(section(exportSectionId, [...leb(1), ...entry]));
    } else {
      pieces.push(binary.subarray(start, end));
    }
  }
  return Buffer.concat(pieces);
}
