// Public surface of the terminal UI.
export { App } from './app.js';
export { keyBar, keyHelp, keyLabel, keyTable, keyToAction, keysToActions, type KeyBinding } from './keys/index.js';
export { loadModel, rowMatches, searchTimeline, type TuiModel, type EventLine } from './model.js';
export {
  reduce, initialState, firstDivergence, agreeAt, selectedEvent, selectEvent, promptMaxChars,
  type TuiState, type TuiAction, type TuiMode, type ReplicaTimeline, type SearchRequest, type SearchResult,
} from './state.js';
