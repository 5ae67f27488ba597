// Public surface of the snapshot index format (TRACE.rct.idx, see docs/index-format.md): a
// cache of restorable snapshots next to a trace, never required.
export {
  IndexFormatError, IndexLimitError, memoryIndexFile, pageHash, indexMagic, indexFormatVersion, defaultMaxIndexBytes, defaultMaxSnapshots,
  pageBytes as indexPageBytes, pageHashBytes as indexPageHashBytes, maxFrameBytes as maxIndexFrameBytes, outputFrameBytes as indexOutputFrameBytes,
  type IndexFile, type IndexIdentity,
} from './layout.js';
export type { IndexSnapshot } from './records.js';
export { readIndex, SnapshotIndex, type IndexedSnapshot, type IndexReadResult, type IndexProblemKind, type OutputStream } from './reader.js';
export { IndexWriter, type IndexWriterOptions } from './writer.js';
