// The TUI's state and what each key does to it: pure, tested without rendering.

export interface ReplicaTimeline {
  name: string;
  /** Chain hash (hex) of each checkpoint, in order. */
  chains: string[];
  checkpointEvents: number[];
  events: number;
  /** Set when the trace is not whole: cut short (`incomplete`) or `damaged`, and why (with the byte offset). */
  problem?: { state: 'stopped' | 'incomplete' | 'damaged'; reason: string };
}

export interface BisectStep { lo: number; hi: number; mid: number; agree: boolean }

export interface TuiState {
  replicas: ReplicaTimeline[];
  /** Selected checkpoint index. */
  cursor: number;
  /** First checkpoint where the chains disagree (null: they agree throughout). */
  divergence: number | null;
  bisect: { lo: number; hi: number; steps: BisectStep[] } | null;
  filter: string | null;
  /** The text being typed in the filter or search prompt. */
  search: string;
  /** The last search submitted with Enter: rows containing it are highlighted, n/N go to the next/previous. */
  searchText: string;
  /** A search the app is running over the whole timeline (its answer comes back as `search-result`). */
  pendingSearch: SearchRequest | null;
  /** How many searches have started: the next one's id. */
  searches: number;
  /** One line about the last search (a match, a wrap, no match), cleared by the next key. */
  message: string | null;
  mode: TuiMode;
  /** The selected event, relative to the cursor's checkpoint event (↑/↓). */
  eventOffset: number;
  showStack: boolean;
  /** The detail pane shows the guest output up to the selected event, diffed between replicas. */
  showOutput: boolean;
  quit: boolean;
}

/** browse: the timeline; filter/search: a one-line prompt takes the keys; help: the `?` screen. */
export type TuiMode = 'browse' | 'filter' | 'search' | 'help';

/**
 * Find `text` from event `from` on (direction 1) or back (-1), over every replica's whole trace,
 * wrapping past either end. `id` tells a stale answer (the user searched again) from the current one.
 */
export interface SearchRequest { id: number; text: string; from: number; direction: 1 | -1; kind: string | null }

/** Where a search landed: the event (null: nowhere), and whether it wrapped past the end (or start). */
export interface SearchResult { event: number | null; wrapped: boolean }

export type TuiAction =
  | { type: 'left' } | { type: 'right' } | { type: 'home' } | { type: 'end' }
  | { type: 'jump-divergence' } | { type: 'bisect-step' }
  | { type: 'start-filter' } | { type: 'start-search' } | { type: 'type'; text: string } | { type: 'backspace' } | { type: 'submit' } | { type: 'cancel' }
  | { type: 'next-match' } | { type: 'previous-match' } | { type: 'search-result'; id: number; result: SearchResult }
  | { type: 'up' } | { type: 'down' }
  | { type: 'toggle-stack' } | { type: 'toggle-output' } | { type: 'toggle-help' } | { type: 'back' } | { type: 'quit' };

/** A prompt holds one line: longer pasted text is cut here. */
export const promptMaxChars = 200;

export function checkpointCount(state: Pick<TuiState, 'replicas'>): number {
  return Math.max(0, ...state.replicas.map((r) => r.chains.length));
}

/**
 * Whether the replicas agree at checkpoint i. A trace that ends early because it was cut short
 * or is damaged has no say past its end (it is incomplete there, not divergent); one that is
 * whole and lacks the checkpoint ended differently, which is a divergence.
 */
export function agreeAt(replicas: ReplicaTimeline[], i: number): boolean {
  const voters = replicas.filter((r) => !(r.problem && r.chains[i] === undefined));
  return new Set(voters.map((r) => r.chains[i] ?? 'missing')).size <= 1;
}

export function firstDivergence(replicas: ReplicaTimeline[]): number | null {
  const n = Math.max(0, ...replicas.map((r) => r.chains.length));
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (agreeAt(replicas, mid)) lo = mid + 1; else hi = mid;
  }
  return lo < n ? lo : null;
}

export function initialState(replicas: ReplicaTimeline[]): TuiState {
  return {
    replicas, cursor: 0, divergence: firstDivergence(replicas), bisect: null, filter: null, search: '', searchText: '',
    pendingSearch: null, searches: 0, message: null, mode: 'browse', eventOffset: 0, showStack: false, showOutput: false, quit: false,
  };
}

/** The selected event: the cursor checkpoint's event moved by ↑/↓, within the recorded events. */
export function selectedEvent(state: TuiState): number {
  const at = state.replicas[0]?.checkpointEvents[state.cursor] ?? 0;
  return Math.max(0, Math.min(at + state.eventOffset, eventCount(state) - 1));
}

/** The highest event number any replica recorded, plus one. */
function eventCount(state: TuiState): number {
  return Math.max(0, ...state.replicas.map((r) => r.events));
}

/** Select `event`: the last checkpoint at or before it, and the offset from there. */
export function selectEvent(state: TuiState, event: number): TuiState {
  const at = state.replicas[0]?.checkpointEvents ?? [];
  let cursor = 0;
  while (cursor + 1 < at.length && at[cursor + 1]! <= event) cursor++;
  return { ...state, cursor, eventOffset: event - (at[cursor] ?? 0) };
}

/**
 * Text typed or pasted into a prompt. A terminal sends a paste as one chunk, with its line break
 * as a carriage return: control characters are dropped (a stray CR drew the cursor over the
 * prompt's first letter and made the filter match nothing), and a line break submits the line
 * before it, as Enter would.
 */
function typeIntoPrompt(state: TuiState, text: string): TuiState {
  const lineBreak = text.search(/[\r\n]/);
  const line = (lineBreak < 0 ? text : text.slice(0, lineBreak)).replace(/[\u0000-\u001f\u007f]/g, '');
  const typed = { ...state, search: (state.search + line).slice(0, promptMaxChars) };
  return lineBreak < 0 ? typed : submitPrompt(typed);
}

function submitPrompt(state: TuiState): TuiState {
  if (state.mode === 'filter') return { ...state, mode: 'browse', filter: state.search || null, search: '' };
  if (state.search === '') return { ...state, mode: 'browse' };
  // Enter looks from the selected event on, so a match under the selection is found first.
  return startSearch({ ...state, mode: 'browse', searchText: state.search, search: '' }, selectedEvent(state), 1);
}

function startSearch(state: TuiState, from: number, direction: 1 | -1): TuiState {
  if (state.searchText === '') return { ...state, message: 'no search yet: press / to search' };
  const id = state.searches + 1;
  return { ...state, searches: id, pendingSearch: { id, text: state.searchText, from, direction, kind: state.filter }, message: `searching for "${state.searchText}"...` };
}

function searchDone(state: TuiState, id: number, result: SearchResult): TuiState {
  const request = state.pendingSearch;
  if (request === null || request.id !== id) return state; // an answer to a search since replaced
  const done = { ...state, pendingSearch: null };
  if (result.event === null) return { ...done, message: `no match for "${request.text}"${request.kind ? ` among ${request.kind} events` : ''}` };
  const wrap = !result.wrapped ? '' : request.direction === 1 ? ' (search wrapped to the start)' : ' (search wrapped to the end)';
  return { ...selectEvent(done, result.event), message: `"${request.text}" at event #${result.event}${wrap}` };
}

/** Esc steps back one level: stops a running search, closes the stack, the output, clears the filter, the search; it never quits. */
function back(state: TuiState): TuiState {
  if (state.pendingSearch) return { ...state, pendingSearch: null, message: 'search stopped' };
  if (state.showStack) return { ...state, showStack: false };
  if (state.showOutput) return { ...state, showOutput: false };
  if (state.filter !== null) return { ...state, filter: null };
  if (state.searchText !== '') return { ...state, searchText: '' };
  return { ...state, message: 'q quits' };
}

function reducePrompt(state: TuiState, action: TuiAction): TuiState {
  switch (action.type) {
    case 'type': return typeIntoPrompt(state, action.text);
    case 'backspace': return { ...state, search: state.search.slice(0, -1) };
    case 'submit': return submitPrompt(state);
    case 'cancel': return { ...state, mode: 'browse', search: '' };
    case 'search-result': return searchDone(state, action.id, action.result);
    default: return state;
  }
}

export function reduce(state: TuiState, action: TuiAction): TuiState {
  if (state.mode === 'filter' || state.mode === 'search') return reducePrompt(state, action);
  if (action.type === 'search-result') return searchDone(state, action.id, action.result);
  if (state.mode === 'help') {
    if (action.type === 'toggle-help' || action.type === 'back') return { ...state, mode: 'browse' };
    return action.type === 'quit' ? { ...state, quit: true } : state;
  }
  return reduceBrowse({ ...state, message: null }, action);
}

function reduceBrowse(state: TuiState, action: TuiAction): TuiState {
  const last = Math.max(0, checkpointCount(state) - 1);
  switch (action.type) {
    case 'left': return { ...state, cursor: Math.max(0, state.cursor - 1), eventOffset: 0 };
    case 'right': return { ...state, cursor: Math.min(last, state.cursor + 1), eventOffset: 0 };
    case 'home': return { ...state, cursor: 0, eventOffset: 0 };
    case 'end': return { ...state, cursor: last, eventOffset: 0 };
    case 'jump-divergence': return state.divergence === null ? state : { ...state, cursor: state.divergence, bisect: null, eventOffset: 0 };
    case 'up': {
      const selected = selectedEvent(state);
      return selected === 0 ? state : { ...state, eventOffset: selected - 1 - (state.replicas[0]?.checkpointEvents[state.cursor] ?? 0) };
    }
    case 'down': {
      const selected = selectedEvent(state);
      return selected + 1 >= eventCount(state) ? state : { ...state, eventOffset: selected + 1 - (state.replicas[0]?.checkpointEvents[state.cursor] ?? 0) };
    }
    case 'toggle-output': return { ...state, showOutput: !state.showOutput };
    case 'bisect-step': {
      // One visible step of the binary search over checkpoints: which half, and why.
      const b = state.bisect ?? { lo: 0, hi: checkpointCount(state), steps: [] };
      if (b.lo >= b.hi) return { ...state, cursor: Math.min(b.lo, last) };
      const mid = (b.lo + b.hi) >> 1;
      const agree = agreeAt(state.replicas, mid);
      const next = { lo: agree ? mid + 1 : b.lo, hi: agree ? b.hi : mid, steps: [...b.steps, { lo: b.lo, hi: b.hi, mid, agree }] };
      return { ...state, bisect: next, cursor: Math.min(mid, last), eventOffset: 0 };
    }
    case 'start-filter': return { ...state, mode: 'filter', search: '' };
    case 'start-search': return { ...state, mode: 'search', search: '' };
    case 'next-match': return startSearch(state, selectedEvent(state) + 1, 1);
    case 'previous-match': return startSearch(state, selectedEvent(state) - 1, -1);
    case 'toggle-stack': return { ...state, showStack: !state.showStack };
    case 'toggle-help': return { ...state, mode: 'help' };
    case 'back': return back(state);
    case 'quit': return { ...state, quit: true };
    default: return state;
  }
}
