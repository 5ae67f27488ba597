// Public surface of the deterministic runtime.
export { Errno, errnoName, WasiError } from './errno.js';
export { processConfig, defaultSeed, type ProcessConfig, type Preopen } from './config.js';
export { defaultEpochNs, clockTickNs, VirtualClock } from './clock.js';
export { SeededRandom } from './prng.js';
export { Kernel, wasiModuleName } from './kernel.js';
export { runGuest, trapExitCode, GuestLinkError, type GuestOutcome } from './run.js';
export { spawnGuest, InternalError, type SpawnOptions } from './spawn.js';
export { compileModule, moduleKind, ModuleFormatError } from './module.js';
export { formatTrap, wasmFrames, type TrapInfo, type WasmFrame } from './trap.js';
export type { HostEffects, StdinRead } from './effects/types.js';
export { MemoryEffects, type MemoryEffectsOptions } from './effects/memory-effects.js';
export { BufferStdin, StreamStdin, type StdinSource } from './effects/stdin-sources.js';
export { PreopenError, loadHostTree, applyWriteBack } from './effects/host-fs.js';
export type { TreeNode, WriteBackOp, SnapshotLimits } from './fs/tree.js';
