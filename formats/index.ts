// Public surface of the .rct trace format (see docs/trace-format.md). Depends on nothing else
// in RepliCode.
export * from './framing.js';
export * from './records.js';
export { msgpackOptions, pack, unpackAll, provideMsgpackr } from './msgpack.js';
export { syscallTable, syscallId, syscallName, fingerprint, fingerprintSeed, mixArgument, describeValueArgs, syscallSignatures, wasmSignature, type WasmSignature } from './syscalls.js';
export {
  TraceWriter, RecordBuffer, ChunkFramer, TraceLimitError, traceLimitReason, callsPerBatch, defaultMaxTraceBytes, headerBytesPastLimit,
  type TraceSink, type TraceWriterOptions, type RawChunk, type EventLog, type ChunkFramerOptions, type TraceEnd,
} from './writer.js';
export { TraceReader, EventCursor, describeStop, type CallEvent, type PlacedRecord, type ChunkInfo, type TraceIntegrity, type CursorState } from './reader.js';
export { replicodeVersion } from './version.js';
export * from './snapshot-index/index.js';
