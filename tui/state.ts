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
  /** The source pane (c): each replica's stack in files and lines, and the lines around frame `sourceFrame`. */
  showSource: boolean;
  /** The source pane's selected frame, relative to the innermost frame whose source is on this machine (+: callers). */
  sourceFrame: number;
  /** The detail pane shows the guest output up to the selected event, diffed between replicas. */
  showOutput: boolean;
  quit: boolean;
  /**
   * Bumped whenever the selection (event or hook) changes: an answer to work started at an older
   * generation (locating the divergence, a memory replay) must not move or describe a newer one.
   */
  generation: number;
  /** The exact first divergence, once located (`d` runs diff in the background; later presses reuse it). */
  located: LocateResult | null;
  /** A locate running in the background: its id and the generation it may still move. */
  pendingLocate: { id: number; generation: number } | null;
  /** How many locates have started: the next one's id. */
  locates: number;
  /** A point on the instruction clock between the selected event and the next ([ and ]), or null: at the event. */
  hook: HookPosition | null;
  /** The memory view (mode `memory`): where it is and what differs. */
  memory: MemoryView | null;
}

/**
 * browse: the timeline; filter/search/goto: a one-line prompt takes the keys; help: the `?`
 * screen; memory: the hex dump of linear memory takes the keys.
 */
export type TuiMode = 'browse' | 'filter' | 'search' | 'goto' | 'help' | 'memory';

export const isPrompt = (mode: TuiMode): boolean => mode === 'filter' || mode === 'search' || mode === 'goto';

/**
 * Where replicode diff puts the first divergence: the event (null: the traces do not diverge) and
 * why; when only guest state differs, `hook` is the first function-entry/loop hook after `event`
 * where it differs (`of`: hooks between `event` and the next; null: it differs only at the next call).
 */
export interface LocateResult { event: number | null; reason: string; checkpoint: number | null; hook: { k: number; of: number } | null }

/**
 * Hook `k` (1-based) after event `event` returned; `'last'` until the count is known (`[` from an
 * event steps back to the previous event's last hook). `counts`: hooks between `event` and the
 * next on each replica, once counted.
 */
export interface HookPosition { event: number; k: number | 'last'; counts: number[] | null }

/** A run of differing memory, byte offsets (row-aligned, end exclusive). */
export interface MemoryRegion { start: number; end: number }

/**
 * The memory view: `top` is the first byte shown (a multiple of memoryRowBytes; null: the first
 * differing region, once loaded); `loaded` says how big memory is and where the replicas differ,
 * for the selection of generation `generation`.
 */
export interface MemoryView {
  top: number | null;
  loaded: { generation: number; size: number; regions: MemoryRegion[]; more: boolean } | null;
}

/** The hex dump shows this many bytes a row and this many rows a page. */
export const memoryRowBytes = 16;
export const memoryPageRows = 8;

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
  | { type: 'located'; id: number; result: LocateResult }
  | { type: 'start-goto' }
  | { type: 'hook-next' } | { type: 'hook-previous' } | { type: 'hooks-counted'; event: number; counts: number[] }
  | { type: 'toggle-memory' } | { type: 'memory-loaded'; generation: number; size: number; regions: MemoryRegion[]; more: boolean }
  | { type: 'memory-rows'; rows: number } | { type: 'memory-region'; direction: 1 | -1 }
  | { type: 'toggle-source' } | { type: 'source-frame'; delta: 1 | -1 }
  | { type: 'toggle-stack' } | { type: 'toggle-output' } | { type: 'toggle-help' } | { type: 'back' } | { type: 'quit' };

/** The source pane shows at most this many frames of a stack (replayer/source.ts shows six frames, each maybe inlined calls). */
export const sourceFramesMax = 16;

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
    pendingSearch: null, searches: 0, message: null, mode: 'browse', eventOffset: 0, showStack: false, showSource: false, sourceFrame: 0, showOutput: false, quit: false,
    generation: 0, located: null, pendingLocate: null, locates: 0, hook: null, memory: null,
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
  if (state.mode === 'goto') return goTo({ ...state, mode: 'browse', search: '' }, state.search);
  if (state.search === '') return { ...state, mode: 'browse' };
  // Enter looks from the selected event on, so a match under the selection is found first.
  return startSearch({ ...state, mode: 'browse', searchText: state.search, search: '' }, selectedEvent(state), 1);
}

/** `g`: the event typed (`1234` or `#1234`); past the end, the last event, and a line says so. */
function goTo(state: TuiState, typed: string): TuiState {
  const text = typed.trim().replace(/^#/, '');
  if (text === '') return state;
  if (!/^\d+$/.test(text)) return { ...state, message: `not an event number: ${typed}` };
  const last = Math.max(0, eventCount(state) - 1);
  const wanted = Number(text);
  const event = Math.min(wanted, last);
  return { ...selectEvent(state, event), message: wanted > last ? `the traces hold events #0-#${last}: at #${last}` : `at event #${event}` };
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

/**
 * `d`: the exact first divergent event. Once located it is reused; until then the cursor goes to
 * the first divergent checkpoint at once and diff runs in the background (its answer comes back
 * as `located`, and moves the selection only if nothing else has moved it meanwhile).
 */
function jumpToDivergence(state: TuiState): TuiState {
  if (state.located) return goToLocated(state, state.located);
  if (state.pendingLocate) return { ...state, message: 'still locating the first divergent event... (Esc stops)' };
  const atCheckpoint = settle(state, state.divergence === null ? state : { ...state, cursor: state.divergence, bisect: null, eventOffset: 0, hook: null });
  const id = state.locates + 1;
  return {
    ...atCheckpoint, locates: id, pendingLocate: { id, generation: atCheckpoint.generation },
    message: 'locating the first divergent event (replicode diff)... Esc stops',
  };
}

function describeLocated(r: LocateResult): string {
  if (r.event === null) return r.reason;
  const hook = r.hook ? ` · state first differs at hook ${r.hook.k} of ${r.hook.of} after it` : '';
  return `first divergent event #${r.event}: ${r.reason}${hook}`;
}

function goToLocated(state: TuiState, r: LocateResult): TuiState {
  if (r.event === null) return { ...state, message: describeLocated(r) };
  const at = { ...selectEvent(state, r.event), bisect: null, message: describeLocated(r) };
  return { ...at, hook: r.hook ? { event: r.event, k: r.hook.k, counts: null } : null };
}

function locateDone(state: TuiState, id: number, result: LocateResult): TuiState {
  const request = state.pendingLocate;
  const current = request !== null && request.id === id;
  const done = { ...state, located: result, pendingLocate: current ? null : state.pendingLocate };
  // Stopped with Esc, or the selection moved since: keep the answer for the next `d`, move nothing.
  if (!current || request.generation !== state.generation) {
    return result.event === null ? done : { ...done, message: `located the first divergent event: #${result.event} (d goes there)` };
  }
  return goToLocated(done, result);
}

/** `]`: the next hook after the selected event; past the last one, the next event. */
function hookNext(state: TuiState): TuiState {
  const h = state.hook;
  if (h === null) return { ...state, hook: { event: selectedEvent(state), k: 1, counts: null } };
  if (h.k === 'last') return state; // still counting
  if (h.counts !== null && h.k >= Math.max(...h.counts)) return { ...moveEvent(state, 1), hook: null };
  return { ...state, hook: { ...h, k: h.k + 1 } };
}

/** `[`: the previous hook; from the first, the event itself; from an event, the previous event's last hook. */
function hookPrevious(state: TuiState): TuiState {
  const h = state.hook;
  if (h === null) {
    const event = selectedEvent(state);
    if (event === 0) return { ...state, message: 'event #0 is the first: nothing runs before it that a hook counts' };
    return { ...moveEvent(state, -1), hook: { event: event - 1, k: 'last', counts: null } };
  }
  if (h.k === 'last') return state;
  return { ...state, hook: h.k <= 1 ? null : { ...h, k: h.k - 1 } };
}

function hooksCounted(state: TuiState, event: number, counts: number[]): TuiState {
  const h = state.hook;
  if (h === null || h.event !== event) return state; // counted for a selection since left
  const most = Math.max(0, ...counts);
  if (most === 0) return { ...state, hook: null, message: `no function entry or loop runs between event #${event} and the next` };
  return { ...state, hook: { event, counts, k: h.k === 'last' ? most : Math.min(h.k, most) } };
}

/** The selection one event later (1) or earlier (-1), within the recorded events. */
function moveEvent(state: TuiState, by: 1 | -1): TuiState {
  const target = selectedEvent(state) + by;
  if (target < 0 || target >= eventCount(state)) return state;
  return { ...state, eventOffset: target - (state.replicas[0]?.checkpointEvents[state.cursor] ?? 0) };
}

function memoryLoaded(state: TuiState, action: Extract<TuiAction, { type: 'memory-loaded' }>): TuiState {
  if (state.memory === null || action.generation !== state.generation) return state; // memory of a selection since left
  const { size, regions, more } = action;
  const top = state.memory.top ?? regions[0]?.start ?? 0;
  return { ...state, memory: { top: clampTop(top, size), loaded: { generation: action.generation, size, regions, more } } };
}

/** The first byte shown, row-aligned, so that a page never starts past the last row. */
function clampTop(top: number, size: number): number {
  const rows = Math.ceil(size / memoryRowBytes);
  const lastTop = Math.max(0, rows - memoryPageRows) * memoryRowBytes;
  return Math.max(0, Math.min(lastTop, Math.floor(top / memoryRowBytes) * memoryRowBytes));
}

function memoryRegion(state: TuiState, direction: 1 | -1): TuiState {
  const view = state.memory;
  if (view?.loaded == null || view.top === null) return state;
  const { regions, size } = view.loaded;
  const top = view.top;
  const region = direction === 1 ? regions.find((r) => r.start > top) : regions.findLast((r) => r.start < top);
  if (!region) return { ...state, message: regions.length === 0 ? 'memory is the same on every replica' : `no differing region ${direction === 1 ? 'after' : 'before'} this one` };
  const index = regions.indexOf(region) + 1;
  return { ...state, memory: { ...view, top: clampTop(region.start, size) }, message: `differing region ${index} of ${regions.length}${view.loaded.more ? '+' : ''}` };
}

function reduceMemory(state: TuiState, action: TuiAction): TuiState {
  const view = state.memory;
  if (view === null) return { ...state, mode: 'browse' };
  switch (action.type) {
    case 'memory-rows': {
      if (view.loaded === null || view.top === null) return state;
      return { ...state, memory: { ...view, top: clampTop(view.top + action.rows * memoryRowBytes, view.loaded.size) } };
    }
    case 'memory-region': return memoryRegion(state, action.direction);
    case 'up': return moveEvent(state, -1);
    case 'down': return moveEvent(state, 1);
    case 'hook-next': return hookNext(state);
    case 'hook-previous': return hookPrevious(state);
    case 'toggle-memory': case 'back': return { ...state, mode: 'browse', memory: null };
    case 'quit': return { ...state, quit: true };
    default: return state;
  }
}

/** Esc steps back one level: stops a running locate or search, leaves a hook, closes the stack, the output, clears the filter, the search; it never quits. */
function back(state: TuiState): TuiState {
  if (state.pendingLocate) return { ...state, pendingLocate: null, message: 'locating stopped' };
  if (state.pendingSearch) return { ...state, pendingSearch: null, message: 'search stopped' };
  if (state.hook) return { ...state, hook: null };
  if (state.showSource) return { ...state, showSource: false };
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
    default: return state;
  }
}

const hookKey = (h: HookPosition | null): string => (h === null ? '' : `${h.event}:${h.k}`);

/**
 * After any action: a hook belongs to its event (moving off the event leaves it), and a new
 * selection bumps the generation and drops the memory view's differences (they were of the old one).
 */
function settle(before: TuiState, after: TuiState): TuiState {
  let s = after;
  if (s.hook !== null && s.hook.event !== selectedEvent(s)) s = { ...s, hook: null };
  const moved = selectedEvent(s) !== selectedEvent(before) || hookKey(s.hook) !== hookKey(before.hook);
  if (!moved) return s;
  return { ...s, generation: before.generation + 1, memory: s.memory && { ...s.memory, loaded: null } };
}

export function reduce(state: TuiState, action: TuiAction): TuiState {
  return settle(state, reduceAny(state, action));
}

function reduceAny(state: TuiState, action: TuiAction): TuiState {
  // Answers from background work arrive in any mode.
  switch (action.type) {
    case 'search-result': return searchDone(state, action.id, action.result);
    case 'located': return locateDone(state, action.id, action.result);
    case 'hooks-counted': return hooksCounted(state, action.event, action.counts);
    case 'memory-loaded': return memoryLoaded(state, action);
    default: break;
  }
  if (isPrompt(state.mode)) return reducePrompt(state, action);
  if (state.mode === 'help') {
    if (action.type === 'toggle-help' || action.type === 'back') return { ...state, mode: 'browse' };
    return action.type === 'quit' ? { ...state, quit: true } : state;
  }
  if (state.mode === 'memory') return reduceMemory({ ...state, message: null }, action);
  return reduceBrowse({ ...state, message: null }, action);
}

function reduceBrowse(state: TuiState, action: TuiAction): TuiState {
  const last = Math.max(0, checkpointCount(state) - 1);
  switch (action.type) {
    case 'left': return { ...state, cursor: Math.max(0, state.cursor - 1), eventOffset: 0 };
    case 'right': return { ...state, cursor: Math.min(last, state.cursor + 1), eventOffset: 0 };
    case 'home': return { ...state, cursor: 0, eventOffset: 0 };
    case 'end': return { ...state, cursor: last, eventOffset: 0 };
    case 'jump-divergence': return jumpToDivergence(state);
    case 'up': return moveEvent(state, -1);
    case 'down': return moveEvent(state, 1);
    case 'hook-next': return hookNext(state);
    case 'hook-previous': return hookPrevious(state);
    case 'toggle-output': return { ...state, showOutput: !state.showOutput };
    case 'toggle-memory': return { ...state, mode: 'memory', memory: { top: null, loaded: null } };
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
    case 'start-goto': return { ...state, mode: 'goto', search: '' };
    case 'next-match': return startSearch(state, selectedEvent(state) + 1, 1);
    case 'previous-match': return startSearch(state, selectedEvent(state) - 1, -1);
    case 'toggle-stack': return { ...state, showStack: !state.showStack };
    case 'toggle-source': return { ...state, showSource: !state.showSource, sourceFrame: 0 };
    // The pane clamps it to the frames it has; here it stays within the most it could show.
    case 'source-frame': return state.showSource ? { ...state, sourceFrame: Math.max(-sourceFramesMax, Math.min(sourceFramesMax, state.sourceFrame + action.delta)) } : state;
    case 'toggle-help': return { ...state, mode: 'help' };
    case 'back': return back(state);
    case 'quit': return { ...state, quit: true };
    default: return state;
  }
}
