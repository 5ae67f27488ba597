// Source positions for wasm frames, from the module's DWARF when it has some. The reader
// (runtime/dwarf/) is loaded with import() here and only for a module with a .debug_line section,
// so a command on a module without debug info never loads it. Damaged DWARF is not an error of
// the command: the answer is "no source lines" and one warning line saying where it is damaged.
import type { DebugInfo, FrameSource } from './dwarf/index.js';
import type { TrapInfo, TrapSources, WasmFrame } from './trap.js';
import { hasDebugInfo } from './wasm-binary.js';

export type { DebugInfo, FrameSource, SourceLocation } from './dwarf/index.js';

/** A module's debug info: `info` null when it has none (`warning` says why when it has some but damaged). */
export interface ModuleDebugInfo { info: DebugInfo | null; warning: string | null }

const noDebugInfo: ModuleDebugInfo = { info: null, warning: null };

/** Reads the module's DWARF if it has any (`bytes`: the module as given, before any rewriting). */
export async function loadDebugInfo(bytes: Uint8Array | undefined): Promise<ModuleDebugInfo> {
  if (!bytes || !hasDebugInfo(bytes)) return noDebugInfo;
  const dwarf = await import('./dwarf/index.js');
  try {
    return { info: dwarf.readDebugInfo(bytes), warning: null };
  } catch (err) {
    if (err instanceof dwarf.DwarfError) return { info: null, warning: `no source lines: the module's debug info is damaged: ${err.message}` };
    throw err;
  }
}

/** Source positions for each of a trap's frames (their offsets are the original module's: rewrite/offsets.ts). */
export function trapSources(debug: ModuleDebugInfo, trap: TrapInfo): TrapSources | undefined {
  return stackSources(debug, trap.frames);
}

/** Source positions for each frame of a stack (a trap's, a divergence's); undefined when the module has no DWARF at all. */
export function stackSources(debug: ModuleDebugInfo, frames: WasmFrame[]): TrapSources | undefined {
  if (!debug.info && !debug.warning) return undefined;
  return { frames: frames.map((f) => frameSource(debug, f).locations), warning: debug.warning };
}

/** Where a frame is in the source: exact for a frame of the module itself, its function's declaration for one of a rewritten copy. */
export function frameSource(debug: ModuleDebugInfo, frame: WasmFrame): FrameSource {
  return debug.info ? debug.info.frameSource(frame) : { frame, exact: false, locations: [] };
}
