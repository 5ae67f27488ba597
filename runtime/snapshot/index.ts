// Restorable snapshots of a replayed guest process (see driver.ts and docs/design.md).
export {
  clockExport, globalExportPrefix, isSnapshotExport, snapshotExportPrefix, snapshotFormatVersion, stopExport, stopImport, unwindingImports, SnapshotRequest,
} from './abi.js';
export { SnapshotDriver, snapshotMemory, type InstructionClock, type ResumePoint, type SessionState, type SnapshotPlan, type SnapshotState, type TakenSnapshot } from './driver.js';
export { SnapshotGraphError } from './graph.js';
export { copyFrameTranslator, copySites, copySitesOf, copySitesSectionName, encodeCopySites, type CallSite, type CopySites, type HookKind, type HookSite } from './sites.js';
