// Public surface of the terminal UI.
export { App } from './app.js';
export { loadModel, type TuiModel, type EventLine } from './model.js';
export { reduce, initialState, firstDivergence, agreeAt, selectedEvent, type TuiState, type TuiAction, type ReplicaTimeline } from './state.js';
