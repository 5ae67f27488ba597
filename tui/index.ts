// Public surface of the terminal UI.
export { App } from './app.js';
export { keyBar, keyHelp, keyLabel, keyTable, keyToAction, keysToActions, type KeyBinding } from './keys/index.js';
export { loadModel, locateResult, rowMatches, searchTimeline, type TuiModel, type EventLine, type HookPoint } from './model.js';
export { differingRegions, dumpRows, memoryRegionsMax, type DumpRow } from './memory.js';
export { LatestOnly, BoundedMap } from './jobs.js';
export {
  reduce, initialState, firstDivergence, agreeAt, selectedEvent, selectEvent, promptMaxChars, isPrompt, memoryRowBytes, memoryPageRows,
  type TuiState, type LocateResult, type HookPosition, type MemoryView, type MemoryRegion, type TuiAction, type TuiMode, type ReplicaTimeline, type SearchRequest, type SearchResult,
} from './state.js';
