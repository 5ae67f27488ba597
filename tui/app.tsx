// The divergence explorer: a timeline of checkpoints per replica coloured by agreement, the
// events around the cursor for each replica side by side, a detail pane for the selected event
// (field by field) or the guest output up to it (a line diff between replicas), and a help bar.
// Keys: ←/→ move, ↑/↓ select an event, d first divergence, b bisect one step, f filter by kind,
// / search, s guest stack, o output diff, q quit.
import { basename } from 'node:path';
import { Box, Text, useApp, useInput } from 'ink';
import { useEffect, useMemo, useReducer, useState } from 'react';
import { outputAround } from '../replayer/index.js';
import type { EventLine, TuiModel } from './model.js';
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
      <Text color="gray">{`checkpoint ${state.cursor}/${Math.max(0, n - 1)}` + (state.divergence === null ? (state.replicas.some((r) => r.problem) ? ' · the replicas agree as far as each goes' : ' · all replicas agree') : ` · first divergence at checkpoint ${state.divergence}`)}</Text>
    </Box>
  );
}

function EventsPane({ model, state, around }: { model: TuiModel; state: TuiState; around: number }) {
  const windows = useMemo(
    () => model.replicas.map((_, i) => model.events(i, Math.max(0, around - 3), 7, state.filter)),
    [model, around, state.filter],
  );
  const search = state.mode === 'browse' ? '' : state.search;
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
            const hit = search !== '' && row.syscall.includes(search);
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
  useEffect(() => {
    let live = true;
    setOutputs(null);
    void Promise.all(model.replicas.map((_, i) => model.output(i, around))).then((o) => { if (live) setOutputs(o); });
    return () => { live = false; };
  }, [model, around]);
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

export function App({ model }: { model: TuiModel }) {
  const [state, dispatch] = useReducer(reduce, model.replicas, initialState);
  const { exit } = useApp();
  const [stacks, setStacks] = useState<string[][] | null>(null);
  const around = selectedEvent(state);

  useInput((input, key) => {
    if (state.mode !== 'browse') {
      if (key.return) dispatch({ type: 'submit' });
      else if (key.escape) dispatch({ type: 'cancel' });
      else if (key.backspace || key.delete) dispatch({ type: 'backspace' });
      else if (input) dispatch({ type: 'type', text: input });
      return;
    }
    if (key.leftArrow || input === 'h') dispatch({ type: 'left' });
    else if (key.rightArrow || input === 'l') dispatch({ type: 'right' });
    else if (key.upArrow || input === 'k') dispatch({ type: 'up' });
    else if (key.downArrow || input === 'j') dispatch({ type: 'down' });
    else if (input === 'o') dispatch({ type: 'toggle-output' });
    else if (input === 'd') dispatch({ type: 'jump-divergence' });
    else if (input === 'b') dispatch({ type: 'bisect-step' });
    else if (input === 'f') dispatch({ type: 'start-filter' });
    else if (input === '/') dispatch({ type: 'start-search' });
    else if (input === 's') dispatch({ type: 'toggle-stack' });
    else if (input === 'q' || key.escape) dispatch({ type: 'quit' });
  });

  useEffect(() => { if (state.quit) exit(); }, [state.quit, exit]);
  useEffect(() => {
    if (!state.showStack) { setStacks(null); return; }
    let live = true;
    void Promise.all(model.replicas.map((_, i) => model.stack(i, around))).then((s) => { if (live) setStacks(s); });
    return () => { live = false; };
  }, [state.showStack, around, model]);

  const lastStep = state.bisect?.steps.at(-1);
  return (
    <Box flexDirection="column">
      <Text bold>{`RepliCode · ${model.replicas.length} traces · events around #${around}${state.filter ? ` · only ${state.filter}` : ''}`}</Text>
      <Timeline state={state} />
      <EventsPane model={model} state={state} around={around} />
      {state.showOutput ? <OutputDetail model={model} around={around} /> : <EventDetail model={model} state={state} around={around} />}
      {lastStep && (
        <Text color="cyan">{`bisect: checkpoints [${lastStep.lo}, ${lastStep.hi}) → looked at #${lastStep.mid}: ${lastStep.agree ? 'chains agree, so the divergence is later' : 'chains differ, so it is here or earlier'}` + (state.bisect!.lo >= state.bisect!.hi ? ` · found: checkpoint ${state.bisect!.lo}` : '')}</Text>
      )}
      {state.divergence !== null && state.cursor === state.divergence && (
        <Text color="red">{`checkpoint ${state.divergence}: ${state.replicas.map((r, i) => `replica ${i + 1} ${r.chains[state.divergence!]?.slice(0, 12) ?? '—'}`).join(' · ')}`}</Text>
      )}
      {stacks && stacks.map((s, i) => <Text key={i} color="magenta">{`replica ${i + 1} stack: ${s.slice(0, 6).join(' ← ') || '(none)'}`}</Text>)}
      {state.mode !== 'browse' && <Text color="yellow">{`${state.mode === 'filter' ? 'filter by kind' : 'search'}: ${state.search}▌`}</Text>}
      <Text color="gray">←/→ checkpoint · ↑/↓ event · d first divergence · b bisect step · f filter · / search · s stack · o output diff · q quit</Text>
    </Box>
  );
}

/** Damage in red; a trace that ends early, cut short or stopped, in yellow. */
function problemColor(state: 'stopped' | 'incomplete' | 'damaged'): string {
  return state === 'damaged' ? 'red' : 'yellow';
}
