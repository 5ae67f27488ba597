import type { SourceLocation } from './dwarf/index.js';
import { exhaustedFunctionName } from './rewrite/index.js';
import { shimModuleName } from './wasm-shim.js';

/** One frame of a guest's wasm stack, as V8 reports it. */
export interface WasmFrame {
  /** Function name from the name section, or `wasm-function[N]` when the module has none. */
  name: string;
  functionIndex: number;
  /** Byte offset of the instruction in the module. */
  offset: number;
  /**
   * Where a hook of the snapshot copy stopped the instruction clock: the number the copy gave
   * that hook (set by the replay session; the worker's translation replaces it with `hook`).
   */
  hookId?: number;
  /**
   * The frame stands at a hook of diff's instruction clock (runtime/snapshot/sites.ts): a
   * function's entry (`offset`: its first instruction), a loop's head (the `loop` opcode) or an
   * exit (the function's final `end`); `end`: where that loop or function ends.
   */
  hook?: { kind: 'entry' | 'loop' | 'exit'; end: number };
  /** A frame of the snapshot copy whose place in the module as given is unknown: its function is, its line is not. */
  approximate?: true;
}

export interface TrapInfo {
  message: string;
  frames: WasmFrame[];
}

// V8: "    at crash_here (wasm://wasm/1a2b3c4d:wasm-function[5]:0x2a5)" or, unnamed,
//     "    at wasm://wasm/1a2b3c4d:wasm-function[5]:0x2a5"; a module with a name in its name
// section: "wasm://wasm/name-1a2b3c4d".
const framePattern = /^\s*at (?:(.*?) \()?wasm:\/\/wasm\/([^:]*):wasm-function\[(\d+)\]:0x([0-9a-f]+)\)?\s*$/;
/** The frames of a per-call shim (runtime/wasm-shim.ts) between the guest and the kernel are ours, not the guest's. */
const shimModulePrefix = `${shimModuleName}-`;

/** The wasm frames (innermost first) of an error thrown out of guest code. */
export function wasmFrames(stack: string | undefined): WasmFrame[] {
  const frames: WasmFrame[] = [];
  for (const line of (stack ?? '').split('\n')) {
    const m = framePattern.exec(line);
    if (!m || m[2]!.startsWith(shimModulePrefix)) continue;
    const functionIndex = Number(m[3]);
    frames.push({ name: m[1] ?? `wasm-function[${functionIndex}]`, functionIndex, offset: parseInt(m[4]!, 16) });
  }
  return frames;
}

/** Is this error a guest trap (as opposed to a host bug)? */
export function isTrap(err: unknown): err is Error {
  if (err instanceof WebAssembly.RuntimeError) return true;
  // Guest recursion too deep: V8 raises RangeError with wasm frames on the stack.
  return err instanceof RangeError && wasmFrames(err.stack).length > 0;
}

/** What a guest sees when its calls pass --max-stack (the same message in every run and replay). */
export const stackExhaustedMessage = 'call stack exhausted (--max-stack)';

/** What a guest sees when it has used its --max-fuel (the same message in every run, replay and replica; runGuest decides). */
export const fuelExhaustedMessage = 'fuel exhausted (--max-fuel)';

/** How a deadlock report begins (runtime/sched/scheduler.ts): formatTrap shows it as one line, with no stack. */
export const deadlockMessagePrefix = 'deadlock: every thread waits: ';

/** How a lost thread's report begins (runtime/sched/failure.ts, ThreadLost): one line too. */
export const threadLostMessagePrefix = 'thread worker lost: ';

export function trapInfo(err: Error): TrapInfo {
  const frames = wasmFrames(err.stack);
  // The stack limit's trap is an `unreachable` in the function the pass adds: report it by name
  // and show the guest's frames only. V8 puts the module's own name, when its name section has
  // one, in front ("deep.replicode:call-stack-exhausted": a component's core module named in WAT).
  const top = frames[0]?.name;
  if (top === exhaustedFunctionName || top?.endsWith(`.${exhaustedFunctionName}`)) return { message: stackExhaustedMessage, frames: frames.slice(1) };
  return { message: err.message, frames };
}

/**
 * Source positions of a trap's frames (runtime/source.ts), by frame: innermost inlined call
 * first, empty where the debug info says nothing. `warning`: why there are none (damaged DWARF).
 */
export interface TrapSources { frames: SourceLocation[][]; warning: string | null }

/** Human-readable report for stderr; with `sources`, "file:line:column in function" where known. */
export function formatTrap(trap: TrapInfo, sources?: TrapSources): string {
  if (trap.message.startsWith(deadlockMessagePrefix) || trap.message.startsWith(threadLostMessagePrefix)) return `replicode: ${trap.message}\n`;
  const lines = [`replicode: guest trapped: ${trap.message}`, 'wasm stack (innermost first):', ...formatFrames(trap.frames, sources, '  ')];
  if (trap.frames.length === 0) lines.push('  (no wasm frames)');
  if (sources?.warning) lines.push(`replicode: warning: ${sources.warning}`);
  return lines.join('\n') + '\n';
}

/**
 * A stack's lines, innermost first: `#i name (func N, offset 0xX)`, or with `sources` one line per
 * source position (an inlined call's first) where the debug info knows the frame; the first `limit` frames.
 */
export function formatFrames(frames: WasmFrame[], sources: TrapSources | undefined, indent: string, limit = Infinity): string[] {
  const lines: string[] = [];
  frames.slice(0, limit).forEach((f, i) => {
    const where = `(func ${f.functionIndex}, offset 0x${f.offset.toString(16)})`;
    const locations = sources?.frames[i] ?? [];
    if (locations.length === 0) return lines.push(`${indent}#${i} ${f.name} ${where}`);
    locations.forEach((l, j) => {
      const head = j === 0 ? `${indent}#${i} ` : ' '.repeat(`${indent}#${i} `.length);
      const file = l.file === null ? '(unknown file)' : `${l.file}:${l.line}${l.column ? `:${l.column}` : ''}`;
      lines.push(`${head}${file} in ${l.function ?? f.name}${l.inlined ? ' (inlined)' : ` ${where}`}`);
    });
  });
  if (frames.length > limit) lines.push(`${indent}... ${frames.length - limit} more frames`);
  return lines;
}
