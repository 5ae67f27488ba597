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
  search: string;
  mode: 'browse' | 'filter' | 'search';
  /** The selected event, relative to the cursor's checkpoint event (↑/↓). */
  eventOffset: number;
  showStack: boolean;
  /** The detail pane shows the guest output up to the selected event, diffed between replicas. */
  showOutput: boolean;
  quit: boolean;
}

export type TuiAction =
  | { type: 'left' } | { type: 'right' } | { type: 'home' } | { type: 'end' }
  | { type: 'jump-divergence' } | { type: 'bisect-step' }
  | { type: 'start-filter' } | { type: 'start-search' } | { type: 'type'; text: string } | { type: 'backspace' } | { type: 'submit' } | { type: 'cancel' }
  | { type: 'up' } | { type: 'down' }
  | { type: 'toggle-stack' } | { type: 'toggle-output' } | { type: 'quit' };

export function checkpointCount(state: Pick<TuiState, 'replicas'>): number {
  return Math.max(0, ...state.replicas.map((r) => r.chains.length));
}

/** Do all replicas have the same chain at checkpoint i? */
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
    replicas, cursor: 0, divergence: firstDivergence(replicas), bisect: null, filter: null, search: '', mode: 'browse',
    eventOffset: 0, showStack: false, showOutput: false, quit: false,
  };
}

/** The selected event: the cursor checkpoint's event moved by ↑/↓, within the recorded events. */
export function selectedEvent(state: TuiState): number {
  const at = state.replicas[0]?.checkpointEvents[state.cursor] ?? 0;
  const events = Math.max(0, ...state.replicas.map((r) => r.events));
  return Math.max(0, Math.min(at + state.eventOffset, events - 1));
}

export function reduce(state: TuiState, action: TuiAction): TuiState {
  const last = Math.max(0, checkpointCount(state) - 1);
  if (state.mode !== 'browse') {
    switch (action.type) {
      case 'type': return { ...state, search: state.search + action.text };
      case 'backspace': return { ...state, search: state.search.slice(0, -1) };
      case 'submit': return state.mode === 'filter'
        ? { ...state, mode: 'browse', filter: state.search || null, search: '' }
        : { ...state, mode: 'browse' };
      case 'cancel': return { ...state, mode: 'browse', search: '' };
      default: return state;
    }
  }
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
      const events = Math.max(0, ...state.replicas.map((r) => r.events));
      const selected = selectedEvent(state);
      return selected + 1 >= events ? state : { ...state, eventOffset: selected + 1 - (state.replicas[0]?.checkpointEvents[state.cursor] ?? 0) };
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
    case 'toggle-stack': return { ...state, showStack: !state.showStack };
    case 'quit': return { ...state, quit: true };
    default: return state;
  }
}
