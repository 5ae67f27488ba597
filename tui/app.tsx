// The divergence explorer: a timeline of checkpoints per replica coloured by agreement, the
// events around the cursor for each replica side by side, a detail pane for the selected event
// (field by field) or the guest output up to it (a line diff between replicas), and a help bar.
// The keys are in one table (keys/index.ts), which also writes the help bar and the `?` screen.
// Checkpoints are numbered from #0, as `replicode inspect` and `replicode diff` number them.
import { basename } from 'node:path';
import { Box, Text, useApp, useInput } from 'ink';
import { Component, useCallback, useEffect, useMemo, useReducer, useRef, useState, type ReactNode } from 'react';
import { outputAround } from '../replayer/index.js';
import { keyBar, keyHelp, keysToActions } from './keys/index.js';
import { rowMatches, searchTimeline, type EventLine, type TuiModel } from './model.js';
import { agreeAt, checkpointCount, initialState, reduce, selectedEvent, type TuiState } from './state.js';

const cells = 48;

/** The chain most replicas have at checkpoint k. */
function majorityAt(state: TuiState, k: number): string | undefined {
  const counts = new Map<string, number>();
  for (const r of state.replicas) if (r.chains[k] !== undefined) counts.set(r.chains[k]!, (counts.get(r.chains[k]!) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}

function Timeline({ state }: { state: TuiState }) {
  const n = checkpointCount(state);
  const per = Math.max(1, Math.ceil(n / cells));
  const columns = Math.ceil(n / per);
  const cursorColumn = Math.floor(state.cursor / per);
  return (
    <Box flexDirection="column">
      {state.replicas.map((r, i) => (
        <Box key={i}>
          <Text>{`replica ${i + 1} `.padEnd(11)}</Text>
          {Array.from({ length: columns }, (_, c) => {
            const from = c * per;
            const to = Math.min(n, from + per);
            // Green: all agree; red: this replica is outside the majority; yellow: in it, but someone differs.
            let colour: 'green' | 'yellow' | 'red' | 'gray' = r.chains[from] === undefined ? 'gray' : 'green';
            for (let k = from; k < to && colour !== 'red'; k++) {
              if (agreeAt(state.replicas, k)) continue;
              colour = majorityAt(state, k) === r.chains[k] ? 'yellow' : 'red';
            }
            return <Text key={c} color={colour} inverse={c === cursorColumn}>{colour === 'gray' ? '·' : colour === 'green' ? '█' : '▓'}</Text>;
          })}
          <Text color="gray">{` ${r.chains.length} checkpoints, ${r.events} events`}</Text>
          {r.problem && <Text color={problemColor(r.problem.state)}>{` · ${r.problem.state.toUpperCase()}`}</Text>}
        </Box>
      ))}
      {state.replicas.map((r, i) => r.problem && (
        <Text key={`problem-${i}`} color={problemColor(r.problem.state)} wrap="truncate">{`replica ${i + 1} (${basename(r.name)}) is ${r.problem.state}: ${r.problem.reason}`}</Text>
      ))}
      <Text color="gray">{`checkpoint #${state.cursor} of #0-#${Math.max(0, n - 1)}` + (state.divergence === null ? (state.replicas.some((r) => r.problem) ? ' · the replicas agree as far as each goes' : ' · all replicas agree') : ` · first divergence at checkpoint #${state.divergence}`)}</Text>
    </Box>
  );
}

function EventsPane({ model, state, around }: { model: TuiModel; state: TuiState; around: number }) {
  const windows = useMemo(
    () => model.replicas.map((_, i) => model.events(i, Math.max(0, around - 3), 7, state.filter)),
    [model, around, state.filter],
  );
  // While typing, rows matching what is typed so far are highlighted; after Enter, the submitted search's.
  const search = state.mode === 'search' ? state.search : state.searchText;
  return (
    <Box>
      {windows.map((rows, i) => (
        <Box key={i} flexDirection="column" width={40} marginRight={1} borderStyle="single">
          <Text bold>{`replica ${i + 1}`}</Text>
          {rows.length === 0 && <Text color="gray">(no events here)</Text>}
          {rows.map((row) => {
            const other = windows.find((w, j) => j !== i && w.some((x) => x.event === row.event));
            const twin = other?.find((x) => x.event === row.event);
            const differs = twin !== undefined && (twin.syscall !== row.syscall || twin.fingerprint !== row.fingerprint || twin.result !== row.result || twin.inputs.join() !== row.inputs.join());
            const hit = rowMatches(row, search);
            return (
              <Text key={row.event} color={differs ? 'red' : hit ? 'yellow' : undefined} inverse={row.event === around} wrap="truncate">
                {`#${row.event} ${row.syscall} ${row.result}${row.inputs.length ? ` · ${row.inputs[0]}` : ''}`}
              </Text>
            );
          })}
        </Box>
      ))}
    </Box>
  );
}

/** The fields of an event as the detail pane compares them. */
const fields = (r: EventLine | undefined): [string, string][] => (r
  ? [['call', r.syscall], ['result', r.result], ['args', r.fingerprint], ['inputs', r.inputs.join(' · ') || '-']]
  : [['call', '(no such event)']]);

/** The selected event, replica by replica, each field red where it differs from replica 1's. */
function EventDetail({ model, state, around }: { model: TuiModel; state: TuiState; around: number }) {
  const rows = useMemo(() => model.replicas.map((_, i) => model.events(i, around, 1, null)[0]), [model, around]);
  const reference = fields(rows[0]);
  const same = rows.every((r) => JSON.stringify(fields(r)) === JSON.stringify(reference));
  return (
    <Box flexDirection="column" borderStyle="single" borderColor={same ? 'gray' : 'red'}>
      <Text bold>{`event #${around}: ${same ? 'the same on every replica' : 'differs between replicas'}`}</Text>
      {rows.map((r, i) => (
        <Text key={i} wrap="truncate">
          {`replica ${i + 1}: `}
          {fields(r).map(([name, value], k) => (
            <Text key={name} color={reference[k]?.[1] === value ? undefined : 'red'}>{`${k ? ' · ' : ''}${name} ${value}`}</Text>
          ))}
        </Text>
      ))}
      {same && state.divergence !== null && state.cursor === state.divergence && (
        <Text color="yellow">the calls agree here but the checkpoint's state does not: replicode diff narrows it to the instruction range</Text>
      )}
    </Box>
  );
}

/** stdout up to the selected event: a line diff of replica 1's against the first replica whose output differs. */
function OutputDetail({ model, around }: { model: TuiModel; around: number }) {
  const [outputs, setOutputs] = useState<string[] | null>(null);
  const raise = useRaise();
  useEffect(() => {
    let live = true;
    setOutputs(null);
    Promise.all(model.replicas.map((_, i) => model.output(i, around))).then((o) => { if (live) setOutputs(o); }, raise);
    return () => { live = false; };
  }, [model, around, raise]);
  if (!outputs) return <Box borderStyle="single" borderColor="gray"><Text color="gray">{`replaying to event #${around} for the output...`}</Text></Box>;
  const other = outputs.findIndex((o) => o !== outputs[0]);
  const diff = other < 0 ? null : outputAround(outputs[0]!, outputs[other]!, 8);
  return (
    <Box flexDirection="column" borderStyle="single" borderColor={diff ? 'red' : 'gray'}>
      <Text bold>{diff
        ? `stdout before event #${around}: replica 1 (-) vs replica ${other + 1} (+)`
        : `stdout before event #${around}: the same on every replica (${Buffer.byteLength(outputs[0] ?? '')} bytes)`}</Text>
      {(diff ?? '').split('\n').filter(Boolean).map((line, i) => (
        <Text key={i} color={line.startsWith('-') ? 'red' : line.startsWith('+') ? 'green' : undefined} wrap="truncate">{line}</Text>
      ))}
    </Box>
  );
}

/** Rethrows an error from a promise during the next render, so the error boundary sees it. */
function useRaise(): (err: unknown) => void {
  const [, setState] = useState(0);
  return useCallback((err: unknown) => setState(() => { throw err; }), []);
}

function Explorer({ model }: { model: TuiModel }) {
  const [state, dispatch] = useReducer(reduce, model.replicas, initialState);
  const { exit } = useApp();
  const raise = useRaise();
  const [stacks, setStacks] = useState<string[][] | null>(null);
  const around = selectedEvent(state);

  // The state the keys so far lead to: two chunks can arrive before React renders the first's.
  const latest = useRef(state);
  latest.current = state;
  useInput((input, key) => {
    const { actions, state: next } = keysToActions(input, key, latest.current);
    latest.current = next;
    actions.forEach(dispatch);
  });

  useEffect(() => { if (state.quit) exit(); }, [state.quit, exit]);
  useEffect(() => {
    if (!state.showStack) { setStacks(null); return; }
    let live = true;
    Promise.all(model.replicas.map((_, i) => model.stack(i, around))).then((s) => { if (live) setStacks(s); }, raise);
    return () => { live = false; };
  }, [state.showStack, around, model, raise]);
  useEffect(() => {
    const request = state.pendingSearch;
    if (request === null) return;
    searchTimeline(model, request).then((result) => dispatch({ type: 'search-result', id: request.id, result }), raise);
  }, [state.pendingSearch, model, raise]);

  const lastStep = state.bisect?.steps.at(-1);
  const title = <Text bold>{`RepliCode · ${model.replicas.length} traces · events around #${around}${state.filter ? ` · only ${state.filter}` : ''}`}</Text>;
  if (state.mode === 'help') {
    return (
      <Box flexDirection="column">
        {title}
        {keyHelp().map((line, i) => <Text key={i} bold={!line.startsWith(' ')}>{line}</Text>)}
        <Text color="gray">{keyBar(state.mode)}</Text>
      </Box>
    );
  }
  return (
    <Box flexDirection="column">
      {title}
      <Timeline state={state} />
      <EventsPane model={model} state={state} around={around} />
      {state.showOutput ? <OutputDetail model={model} around={around} /> : <EventDetail model={model} state={state} around={around} />}
      {lastStep && (
        <Text color="cyan">{`bisect: checkpoints [${lastStep.lo}, ${lastStep.hi}) → looked at #${lastStep.mid}: ${lastStep.agree ? 'chains agree, so the divergence is later' : 'chains differ, so it is here or earlier'}` + (state.bisect!.lo >= state.bisect!.hi ? ` · found: checkpoint #${state.bisect!.lo}` : '')}</Text>
      )}
      {state.divergence !== null && state.cursor === state.divergence && (
        <Text color="red">{`checkpoint #${state.divergence}: ${state.replicas.map((r, i) => `replica ${i + 1} ${r.chains[state.divergence!]?.slice(0, 12) ?? '—'}`).join(' · ')}`}</Text>
      )}
      {stacks && stacks.map((s, i) => <Text key={i} color="magenta">{`replica ${i + 1} stack: ${s.slice(0, 6).join(' ← ') || '(none)'}`}</Text>)}
      {state.message !== null && <Text color="cyan">{state.message}</Text>}
      {(state.mode === 'filter' || state.mode === 'search') && <Text color="yellow">{`${state.mode === 'filter' ? 'filter by kind' : 'search'}: ${state.search}▌`}</Text>}
      <Text color="gray">{keyBar(state.mode)}</Text>
    </Box>
  );
}

/** Damage in red; a trace that ends early, cut short or stopped, in yellow. */
function problemColor(state: 'stopped' | 'incomplete' | 'damaged'): string {
  return state === 'damaged' ? 'red' : 'yellow';
}

/** The one line the TUI leaves when a component fails; it then exits with the error (the CLI exits 70). */
function Stopped({ error }: { error: Error }) {
  const { exit } = useApp();
  useEffect(() => { exit(error); }, [exit, error]);
  return <Text color="red">{`replicode: the TUI stopped: ${error.message}`}</Text>;
}

/** Catches an error in any component (or raised from its promises) before Ink's own error screen, with its stack, does. */
class StopOnError extends Component<{ children: ReactNode }, { error: Error | null }> {
  override state: { error: Error | null } = { error: null };
  static getDerivedStateFromError(err: unknown): { error: Error } {
    return { error: err instanceof Error ? err : new Error(String(err)) };
  }
  override render(): ReactNode {
    return this.state.error ? <Stopped error={this.state.error} /> : this.props.children;
  }
}

export function App({ model }: { model: TuiModel }) {
  return <StopOnError><Explorer model={model} /></StopOnError>;
}
