// A guest's trap on stderr, with "file:line:column in function" for each frame the module's
// DWARF covers (runtime/source.ts loads the reader only when the module has DWARF).
import { readFile } from 'node:fs/promises';
import { formatTrap, loadDebugInfo, stackSources, trapSources, type TrapInfo, type TrapSources, type WasmFrame } from '../runtime/index.js';

/** Writes the trap report; `module`: the module's bytes, or its file (read again only now, on a trap). */
export async function writeTrap(trap: TrapInfo, module: Uint8Array | string | undefined): Promise<void> {
  const bytes = typeof module === 'string' ? await readFile(module).catch(() => undefined) : module;
  const debug = await loadDebugInfo(bytes);
  process.stderr.write(formatTrap(trap, trapSources(debug, trap)));
}

/** Source positions of a stack's frames (a replay's divergence), read from the module's DWARF; undefined when it has none. */
export async function sourcesOf(frames: WasmFrame[], module: Uint8Array | undefined): Promise<TrapSources | undefined> {
  if (frames.length === 0) return undefined;
  return stackSources(await loadDebugInfo(module), frames);
}
