// The TUI's state and what each key does to it: pure, tested without rendering.

export interface ReplicaTimeline {
  name: string;
  /** Chain hash (hex) of each checkpoint, in order. */
  chains: string[];
  checkpointEvents: number[];
  events: number;
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
  showStack: boolean;
  quit: boolean;
}

export type TuiAction =
  | { type: 'left' } | { type: 'right' } | { type: 'home' } | { type: 'end' }
  | { type: 'jump-divergence' } | { type: 'bisect-step' }
  | { type: 'start-filter' } | { type: 'start-search' } | { type: 'type'; text: string } | { type: 'backspace' } | { type: 'submit' } | { type: 'cancel' }
  | { type: 'toggle-stack' } | { type: 'quit' };

export function checkpointCount(state: Pick<TuiState, 'replicas'>): number {
  return Math.max(0, ...state.replicas.map((r) => r.chains.length));
}

/** Do all replicas have the same chain at checkpoint i? */
export function agreeAt(replicas: ReplicaTimeline[], i: number): boolean {
  return new Set(replicas.map((r) => r.chains[i] ?? 'missing')).size === 1;
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
  return { replicas, cursor: 0, divergence: firstDivergence(replicas), bisect: null, filter: null, search: '', mode: 'browse', showStack: false, quit: false };
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
    case 'left': return { ...state, cursor: Math.max(0, state.cursor - 1) };
    case 'right': return { ...state, cursor: Math.min(last, state.cursor + 1) };
    case 'home': return { ...state, cursor: 0 };
    case 'end': return { ...state, cursor: last };
    case 'jump-divergence': return state.divergence === null ? state : { ...state, cursor: state.divergence, bisect: null };
    case 'bisect-step': {
      // One visible step of the binary search over checkpoints: which half, and why.
      const b = state.bisect ?? { lo: 0, hi: checkpointCount(state), steps: [] };
      if (b.lo >= b.hi) return { ...state, cursor: Math.min(b.lo, last) };
      const mid = (b.lo + b.hi) >> 1;
      const agree = agreeAt(state.replicas, mid);
      const next = { lo: agree ? mid + 1 : b.lo, hi: agree ? b.hi : mid, steps: [...b.steps, { lo: b.lo, hi: b.hi, mid, agree }] };
      return { ...state, bisect: next, cursor: Math.min(mid, last) };
    }
    case 'start-filter': return { ...state, mode: 'filter', search: '' };
    case 'start-search': return { ...state, mode: 'search', search: '' };
    case 'toggle-stack': return { ...state, showStack: !state.showStack };
    case 'quit': return { ...state, quit: true };
    default: return state;
  }
}
