import type { ProcessConfig } from './config.js';
import type { HostEffects } from './effects/types.js';
import { ProcessExit } from './exit.js';
import { Kernel, wasiModuleName } from './kernel.js';
import { isTrap, trapInfo, type TrapInfo } from './trap.js';

/** How a guest process ended. */
export type GuestOutcome =
  | { kind: 'exit'; exitCode: number }
  | { kind: 'trap'; exitCode: number; trap: TrapInfo };

/** Exit code of a trapped guest, like a process killed by SIGABRT. */
export const trapExitCode = 134;

/** A module RepliCode cannot run as a WASI command (bad imports, no _start, no memory). */
export class GuestLinkError extends Error {}

/** Imports the module needs that the kernel does not provide, as `module.name` strings. */
export function missingImports(module: WebAssembly.Module, provided: ReadonlySet<string>): string[] {
  return WebAssembly.Module.imports(module)
    .filter((imp) => imp.module !== wasiModuleName || imp.kind !== 'function' || !provided.has(imp.name))
    .map((imp) => `${imp.module}.${imp.name}`);
}

/**
 * Runs a WASI command module to completion in the calling thread. Blocking host calls block
 * this thread (inside `effects`), so call it from a worker unless the effects never wait.
 */
export function runGuest(module: WebAssembly.Module, config: ProcessConfig, effects: HostEffects): GuestOutcome {
  const kernel = new Kernel(config, effects);
  const missing = missingImports(module, kernel.provides);
  if (missing.length > 0) throw new GuestLinkError(`module imports what RepliCode does not provide: ${missing.join(', ')}`);
  const instance = new WebAssembly.Instance(module, kernel.imports());
  const { memory, _start: start } = instance.exports;
  if (!(memory instanceof WebAssembly.Memory)) throw new GuestLinkError('module does not export its memory as "memory"');
  if (typeof start !== 'function') throw new GuestLinkError('module has no _start export (is it a WASI command?)');
  kernel.attachMemory(memory);
  let outcome: GuestOutcome;
  try {
    (start as () => void)();
    outcome = { kind: 'exit', exitCode: 0 };
  } catch (err) {
    if (err instanceof ProcessExit) outcome = { kind: 'exit', exitCode: err.code };
    else if (isTrap(err)) outcome = { kind: 'trap', exitCode: trapExitCode, trap: trapInfo(err) };
    else throw err;
  }
  kernel.finish();
  return outcome;
}
