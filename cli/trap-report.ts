// A guest's trap on stderr, with "file:line:column in function" for each frame the module's
// DWARF covers (runtime/source.ts loads the reader only when the module has DWARF).
import { readFile } from 'node:fs/promises';
import { formatTrap, loadDebugInfo, trapSources, type TrapInfo } from '../runtime/index.js';

/** Writes the trap report; `module`: the module's bytes, or its file (read again only now, on a trap). */
export async function writeTrap(trap: TrapInfo, module: Uint8Array | string | undefined): Promise<void> {
  const bytes = typeof module === 'string' ? await readFile(module).catch(() => undefined) : module;
  const debug = await loadDebugInfo(bytes);
  process.stderr.write(formatTrap(trap, trapSources(debug, trap)));
}
