// `replicode replay` and `replicode inspect` as a library.
export { replayTrace, ModuleNotEmbeddedError, openNamedTrace, openTrace, ReplaySetupError, type ReplayRequest, type ReplayResult } from './replay.js';
export { formatDivergence } from './report.js';
export { summarizeTrace, listEvents, eventRows, isEventKind, eventKinds, type TraceSummary, type EventRow, type EventQuery } from './inspect.js';
export { diffTraces, formatDiff, outputAround, type DiffStyle, type DiffReport, type DiffSide, type InstructionRange } from './diff.js';
export { describePoint, diffSource, formatDiffSource, SourceFiles, sourcePoints, type DiffSource, type SourcePoint } from './source.js';
export { openSnapshotIndex, indexPathOf, traceIdentity, type OpenedIndex, type IndexOptions } from './index-file.js';
export {
  replayFromSnapshot, nearestSnapshot, resumePoint, sameGuestState, snapshotSpacing, buildSnapshots, MemorySnapshotStore, type SnapshotStore,
} from './timetravel.js';
export { buildCopy, snapshotModule, snapshotModuleKey } from './instrument.js';
