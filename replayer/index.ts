// `replicode replay` and `replicode inspect` as a library.
export { replayTrace, openTrace, ReplaySetupError, type ReplayRequest, type ReplayResult } from './replay.js';
export { formatDivergence } from './report.js';
export { summarizeTrace, listEvents, type TraceSummary, type EventRow } from './inspect.js';
export { diffTraces, formatDiff, outputAround, type DiffReport, type DiffSide, type InstructionRange } from './diff.js';
