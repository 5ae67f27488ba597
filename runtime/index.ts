// Public surface of the deterministic runtime.
export { Errno, errnoName, WasiError } from './errno.js';
export { processConfig, defaultSeed, type ProcessConfig, type Preopen } from './config.js';
export { defaultEpochNs, clockTickNs, VirtualClock } from './clock.js';
export { SeededRandom } from './prng.js';
export { Kernel, wasiModuleName } from './kernel.js';
export { runGuest, trapExitCode, divergedExitCode, GuestLinkError, type GuestOutcome } from './run.js';
export { spawnGuest, InternalError, TraceReadError, type SpawnOptions } from './spawn.js';
export { compileModule, moduleBinary, moduleKind, ModuleFormatError } from './module.js';
export { capMemory, defaultMaxMemoryBytes, wasmPageBytes } from './memory-limit.js';
export {
  applyRewrites, guestThreadStackMb, offsetsSectionName, rewritePipeline, stackLimitOf, describePass, defaultMaxStackBytes, maxMaxStackBytes, exhaustedFunctionName, type RewritePass,
} from './rewrite/index.js';
export { leb, readLeb, section, sections, type Section } from './wasm-binary.js';
export { formatTrap, wasmFrames, type TrapInfo, type WasmFrame } from './trap.js';
export type { HostEffects, StdinRead } from './effects/types.js';
export { MemoryEffects, type MemoryEffectsOptions } from './effects/memory-effects.js';
export { BufferStdin, StreamStdin, type StdinSource } from './effects/stdin-sources.js';
export { PreopenError, loadHostTree, applyWriteBack } from './effects/host-fs.js';
export type { TreeNode, WriteBackOp, SnapshotLimits } from './fs/tree.js';
export type { SessionSpec, SessionStats } from './trace/spec.js';
export type { Divergence, StopSnapshot } from './trace/session.js';
export { RecordingSession, type RecordingOptions } from './trace/recording.js';
export { ReplaySession, type ReplayOptions } from './trace/replaying.js';
export { openTraceFile, FileTraceSink, TraceFileError, type FileByteSource } from './effects/trace-file.js';
export { sha256 } from './trace/digest.js';
export { defaultSnapshotLimits } from './fs/tree.js';
export { startGuest, type GuestProcess, type NetHooks } from './spawn.js';
export { Machine, maxMachineConnections, type ClientLinks, type MachineStats } from './net/machine.js';
export { LocalSequencer, takeBatch, maxBatchBytes, maxBatchEvents, type Sequencer, type Batch, type ExternalEvent } from './net/sequencer.js';
export type { Delivery, NetEvent, NetRequest, Endpoint } from './net/types.js';
export { ephemeralPorts, processAddress } from './net/types.js';
export { machineProcessConfig, startMachine, startReplicaMachine, type MachineOptions, type RunningMachine } from './effects/machine-host.js';
export { StdinFeed } from './effects/stdin-feed.js';
export { realMachineClock } from './effects/gateway.js';
export { Gateway, GatewayError, type ListenSpec } from './effects/gateway.js';
export { parseFault, FaultSpecError, type Fault } from './trace/faults.js';
