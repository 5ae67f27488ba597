// The divergence explorer: a timeline of checkpoints per replica coloured by agreement, the
// events around the cursor for each replica side by side, a detail pane for the selected event
// (field by field) or the guest output up to it (a line diff between replicas), and a help bar.
// The keys are in one table (keys/index.ts), which also writes the help bar and the `?` screen.
// Checkpoints are numbered from #0, as `replicode inspect` and `replicode diff` number them.
import { basename } from 'node:path';
import { Box, Text, useApp, useInput, useStdout } from 'ink';
import { Component, useCallback, useEffect, useMemo, useReducer, useRef, useState, type ReactNode } from 'react';
import { describePoint, outputAround, type SourcePoint } from '../replayer/index.js';
import { BoundedMap, LatestOnly } from './jobs.js';
import { keyBar, keyHelp, keysToActions } from './keys/index.js';
import { differingRegions, dumpRows } from './memory.js';
import { rowMatches, searchTimeline, type EventLine, type HookPoint, type SourceView, type TuiModel } from './model.js';
import {
  agreeAt, checkpointCount, initialState, isPrompt, memoryPageRows, reduce, selectedEvent, type HookPosition, type LocateResult, type TuiAction, type TuiState,
} from './state.js';

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
        <Box key={i} flexDirection="column" flexGrow={1} flexBasis={0} minWidth={24} marginRight={1} borderStyle="single">
          <Text bold>{`replica ${i + 1}`}</Text>
          {rows.length === 0 && <Text color="gray">(no events here)</Text>}
          {rows.map((row) => {
            const other = windows.find((w, j) => j !== i && w.some((x) => x.event === row.event));
            const twin = other?.find((x) => x.event === row.event);
            const differs = twin !== undefined && (twin.thread !== row.thread || twin.syscall !== row.syscall || twin.fingerprint !== row.fingerprint || twin.result !== row.result || twin.inputs.join() !== row.inputs.join());
            const hit = rowMatches(row, search);
            return (
              <Text key={row.event} color={differs ? 'red' : hit ? 'yellow' : undefined} inverse={row.event === around} wrap="truncate">
                {`#${row.event} ${row.thread === undefined ? '' : `t${row.thread} `}${row.syscall} ${row.result}${row.inputs.length ? ` · ${row.inputs[0]}` : ''}`}
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
  ? [...(r.thread === undefined ? [] : [['thread', String(r.thread)] as [string, string]]), ['call', r.syscall], ['result', r.result], ['args', r.fingerprint], ['inputs', r.inputs.join(' · ') || '-']]
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
        <Text color="yellow">the calls agree here but the checkpoint's state does not: d finds the exact event (and hook) where it starts</Text>
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

/** Source lines shown above and below the selected frame's line. */
const sourceContextLines = 3;

/** The frame the source pane selects: the innermost whose text is here (else with a file), moved by < and >. */
function selectedFrame(frames: SourcePoint[], offset: number): number {
  const withText = frames.findIndex((p) => p.text !== null);
  const base = withText >= 0 ? withText : Math.max(0, frames.findIndex((p) => p.file !== null));
  return Math.max(0, Math.min(frames.length - 1, base + offset));
}

/**
 * `c`: each replica's stack at the event (or at the selected hook after it: `d` selects the hook
 * where state first differs) in files and lines, beside the source around the selected frame's
 * line; that line is marked, in red where the replicas are at different lines.
 */
function SourcePane({ model, state, around }: { model: TuiModel; state: TuiState; around: number }) {
  const hook = state.hook !== null && state.hook.k !== 'last' ? state.hook.k : undefined;
  const where = hook === undefined ? `event #${around}` : `hook ${hook} after event #${around}`;
  const [views, setViews] = useState<SourceView[] | null>(null);
  const raise = useRaise();
  const { stdout } = useStdout();
  const [columns, setColumns] = useState(stdout.columns || 100);
  useEffect(() => {
    const resize = () => setColumns(stdout.columns || 100);
    stdout.on('resize', resize);
    return () => { stdout.off('resize', resize); };
  }, [stdout]);
  useEffect(() => {
    let live = true;
    setViews(null);
    Promise.all(model.replicas.map((_, i) => model.source(i, around, hook))).then((v) => { if (live) setViews(v); }, raise);
    return () => { live = false; };
  }, [model, around, hook, raise]);
  if (!views) return <Box borderStyle="single" borderColor="gray"><Text color="gray">{`replaying to ${where} for the source lines...`}</Text></Box>;
  const selected = views.map((v) => v.frames[selectedFrame(v.frames, state.sourceFrame)]);
  const differs = new Set(selected.map((p) => (p ? `${p.file}:${p.line}` : ''))).size > 1;
  const stackWidth = Math.max(24, Math.floor((columns - 4) * 0.45));
  return (
    <Box flexDirection="column" borderStyle="single" borderColor={differs ? 'red' : 'gray'}>
      <Text bold wrap="truncate">{`source at ${where}${differs ? ' · the replicas are at different lines' : ''} · < > move along the stack`}</Text>
      {views.map((view, i) => {
        const name = `replica ${i + 1} (${basename(model.replicas[i]!.name)})`;
        if (!view.debugInfo) return <Text key={i} color="gray" wrap="truncate">{`${name}: no debug info${view.note ? ` (${view.note})` : ' (build the module with -g)'}`}</Text>;
        if (view.frames.length === 0) return <Text key={i} color="gray" wrap="truncate">{`${name}: ${view.note ?? 'no stack at this event'}`}</Text>;
        const at = selectedFrame(view.frames, state.sourceFrame);
        const point = view.frames[at]!;
        const lines = point.file && point.line ? model.sourceLines(point.file, point.line, sourceContextLines) : [];
        return (
          <Box key={i} flexDirection="column">
            <Text color="magenta" wrap="truncate">{`${name}: ${describePoint(point)}`}</Text>
            <Box flexDirection="row">
              <Box flexDirection="column" width={stackWidth}>
                {view.frames.map((p, j) => <Text key={j} inverse={j === at} wrap="truncate">{`#${j} ${describePoint(p.file ? { ...p, file: basename(p.file) } : p)}`}</Text>)}
              </Box>
              <Box flexDirection="column" flexGrow={1}>
                {lines.length === 0
                  ? <Text color="gray" wrap="truncate">{point.file ? `(${point.file} is not on this machine)` : '(no source for this frame)'}</Text>
                  : lines.map(([n, text]) => (
                    <Text key={n} color={n === point.line ? (differs ? 'red' : 'yellow') : undefined} wrap="truncate">
                      {`${n === point.line ? (differs ? '≠' : '▶') : ' '}${String(n).padStart(5)} │ ${text}`}
                    </Text>
                  ))}
              </Box>
            </Box>
          </Box>
        );
      })}
    </Box>
  );
}

/** How often diff's progress line is redrawn while `d` locates (it reports far more often). */
const locateProgressEveryMs = 100;

/** Hook counts are kept for this many events (stepping back and forth over them replays nothing twice). */
const hookCountsKept = 256;

/** The state hashes of each replica at a hook: which replicas' state differs from replica 1's. */
function hookVerdict(points: HookPoint[]): string {
  const odd = points.flatMap((p, i) => (p.stateHash !== points[0]!.stateHash ? [i + 1] : []));
  return odd.length === 0 ? 'state agrees on every replica' : `state differs: replica ${odd.join(', ')} vs replica 1`;
}

/** `[`/`]`: hook k of n after the selected event, each replica's stack there, and whether state agrees. */
function HookDetail({ hook, points }: { hook: HookPosition; points: HookPoint[] | null }) {
  const counts = hook.counts;
  const of = counts === null ? 'counting...' : `${Math.max(...counts)}` + (new Set(counts).size > 1 ? ` (${counts.map((c, i) => `replica ${i + 1}: ${c}`).join(', ')})` : '');
  const k = hook.k === 'last' ? 'last' : `${hook.k}`;
  const heading = `hook ${k} of ${of} after event #${hook.event} (function entries and loop iterations before the next call)`;
  const differs = points !== null && new Set(points.map((p) => p.stateHash)).size > 1;
  return (
    <Box flexDirection="column" borderStyle="single" borderColor={differs ? 'red' : 'gray'}>
      <Text bold wrap="truncate">{heading}</Text>
      {points === null
        ? <Text color="gray">{`replaying each replica to hook ${k} after event #${hook.event}... (Esc stops)`}</Text>
        : (
          <>
            <Text color={differs ? 'red' : 'green'}>{`${differs ? '≠ ' : '= '}${hookVerdict(points)}`}</Text>
            {points.map((p, i) => (
              <Text key={i} color="magenta" wrap="truncate">{`replica ${i + 1} stack: ${p.problem ?? ((p.reached ? '' : '(fewer hooks: at the next call) ') + (p.stack.slice(0, 6).join(' ← ') || '(none)'))}`}</Text>
            ))}
          </>
        )}
    </Box>
  );
}

const hex2 = (b: number | null) => (b === null ? '--' : b.toString(16).padStart(2, '0'));
const printable = (b: number | null) => (b !== null && b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.');

/**
 * The hex dump of the memory view: a line per replica where a row differs (else one line for
 * all), differing bytes in red reverse video, and under them a line of carets (which survives
 * NO_COLOR and a copy of the screen).
 */
function MemoryDetail({ state, memories, at }: { state: TuiState; memories: (Uint8Array | string)[] | null; at: string }) {
  const view = state.memory!;
  const loaded = view.loaded;
  if (memories === null || loaded === null || view.top === null) {
    return <Box borderStyle="single" borderColor="gray"><Text color="gray">{`replaying each replica to ${at} for its memory... (Esc closes)`}</Text></Box>;
  }
  const problems = memories.flatMap((m, i) => (typeof m === 'string' ? [`replica ${i + 1}: ${m}`] : []));
  const buffers = memories.map((m) => (typeof m === 'string' ? new Uint8Array(0) : m));
  const { regions, size, more } = loaded;
  const top = view.top;
  const current = regions.findIndex((r) => r.end > top && r.start < top + memoryPageRows * 16);
  const summary = regions.length === 0 ? 'the same on every replica'
    : `${regions.length}${more ? '+' : ''} differing region${regions.length === 1 && !more ? '' : 's'}, first at 0x${regions[0]!.start.toString(16)}`
      + (current >= 0 ? ` · showing region ${current + 1}` : '');
  return (
    <Box flexDirection="column" borderStyle="single" borderColor={regions.length ? 'red' : 'gray'}>
      <Text bold wrap="truncate">{`memory at ${at}: ${size} bytes, ${summary}`}</Text>
      {problems.map((p, i) => <Text key={`p${i}`} color="yellow" wrap="truncate">{p}</Text>)}
      {dumpRows(buffers, top, memoryPageRows).flatMap((row) => {
        const address = `0x${row.address.toString(16).padStart(8, '0')}`;
        const differs = row.differs.some(Boolean);
        const lines = differs ? row.bytes.map((bytes, i) => ({ label: `r${i + 1}`, bytes })) : [{ label: 'all', bytes: row.bytes[0]! }];
        const out = lines.map(({ label, bytes }, i) => (
          <Text key={`${row.address}-${label}`} wrap="truncate">
            {`${i === 0 ? address : ' '.repeat(address.length)} ${label.padEnd(3)}`}
            {bytes.map((b, c) => <Text key={c} color={row.differs[c] ? 'red' : undefined} inverse={row.differs[c]}>{` ${hex2(b)}`}</Text>)}
            {`  |${bytes.map(printable).join('')}|`}
          </Text>
        ));
        if (differs) out.push(<Text key={`${row.address}-caret`}>{`${' '.repeat(address.length + 4)}${row.differs.map((d) => (d ? ' ^^' : '   ')).join('')}`}</Text>);
        return out;
      })}
    </Box>
  );
}

/** The selection as the views name it: `event #N`, or `hook k after event #N`. */
const describeAt = (event: number, hook: HookPosition | null) => (hook === null ? `event #${event}` : `hook ${hook.k} after event #${event}`);

/**
 * The background work behind d, [ ], and m: diff (one at a time, its progress on a status line),
 * hook counts (kept per event), the guest at a hook and memory; each answer carries the
 * generation it was asked for, so it never lands on a newer selection.
 */
function useTimeTravel(model: TuiModel, state: TuiState, dispatch: (a: TuiAction) => void, raise: (err: unknown) => void) {
  const [progress, setProgress] = useState<string | null>(null);
  const [points, setPoints] = useState<{ generation: number; points: HookPoint[] } | null>(null);
  const [memories, setMemories] = useState<{ generation: number; memories: (Uint8Array | string)[] } | null>(null);
  const locating = useRef<Promise<LocateResult> | null>(null);
  const jobs = useRef({ counts: new LatestOnly(), point: new LatestOnly(), memory: new LatestOnly(), counted: new BoundedMap<number, number[]>(hookCountsKept) });
  const replicas = model.replicas.length;
  const { pendingLocate, hook, generation } = state;
  const event = selectedEvent(state);

  useEffect(() => {
    if (pendingLocate === null) return;
    setProgress(null);
    let last = 0;
    // One diff at a time: pressing d again after Esc waits for the same answer (the traces do not change).
    locating.current ??= model.locate((phase) => {
      if (Date.now() - last < locateProgressEveryMs) return;
      last = Date.now();
      setProgress(phase);
    });
    locating.current.then((result) => dispatch({ type: 'located', id: pendingLocate.id, result }), raise);
  }, [pendingLocate, model, dispatch, raise]);

  const counting = hook !== null && hook.counts === null ? hook.event : null;
  useEffect(() => {
    if (counting === null) return;
    const known = jobs.current.counted.get(counting);
    if (known) { dispatch({ type: 'hooks-counted', event: counting, counts: known }); return; }
    jobs.current.counts.run(async () => {
      try {
        const counts = await Promise.all(Array.from({ length: replicas }, (_, i) => model.hookCount(i, counting)));
        jobs.current.counted.set(counting, counts);
        dispatch({ type: 'hooks-counted', event: counting, counts });
      } catch (err) { raise(err); }
    });
  }, [counting, replicas, model, dispatch, raise]);

  const k = hook === null || hook.k === 'last' ? null : hook.k;
  useEffect(() => {
    if (k === null) return;
    jobs.current.point.run(async () => {
      try {
        setPoints({ generation, points: await Promise.all(Array.from({ length: replicas }, (_, i) => model.hookAt(i, event, k))) });
      } catch (err) { raise(err); }
    });
  }, [k, event, generation, replicas, model, raise]);

  const wantsMemory = state.mode === 'memory' && state.memory?.loaded === null && (hook === null || k !== null);
  useEffect(() => {
    if (!wantsMemory) return;
    jobs.current.memory.run(async () => {
      try {
        const got = await Promise.all(Array.from({ length: replicas }, (_, i) => model.memory(i, event, k)));
        setMemories({ generation, memories: got });
        dispatch({ type: 'memory-loaded', generation, ...differingRegions(got.map((m) => (typeof m === 'string' ? new Uint8Array(0) : m))) });
      } catch (err) { raise(err); }
    });
  }, [wantsMemory, k, event, generation, replicas, model, dispatch, raise]);

  return {
    progress: pendingLocate === null ? null : progress,
    points: points?.generation === generation ? points.points : null,
    memories: memories?.generation === generation ? memories.memories : null,
  };
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
  const travel = useTimeTravel(model, state, dispatch, raise);
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
  const hookNote = state.hook === null ? '' : ` · hook ${state.hook.k} after it`;
  const title = <Text bold>{`RepliCode · ${model.replicas.length} traces · events around #${around}${hookNote}${state.filter ? ` · only ${state.filter}` : ''}`}</Text>;
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
      {state.mode === 'memory' ? <MemoryDetail state={state} memories={travel.memories} at={describeAt(around, state.hook)} />
        : state.showOutput ? <OutputDetail model={model} around={around} /> : <EventDetail model={model} state={state} around={around} />}
      {state.hook !== null && state.mode !== 'memory' && <HookDetail hook={state.hook} points={travel.points} />}
      {lastStep && (
        <Text color="cyan">{`bisect: checkpoints [${lastStep.lo}, ${lastStep.hi}) → looked at #${lastStep.mid}: ${lastStep.agree ? 'chains agree, so the divergence is later' : 'chains differ, so it is here or earlier'}` + (state.bisect!.lo >= state.bisect!.hi ? ` · found: checkpoint #${state.bisect!.lo}` : '')}</Text>
      )}
      {state.divergence !== null && state.cursor === state.divergence && (
        <Text color="red">{`checkpoint #${state.divergence}: ${state.replicas.map((r, i) => `replica ${i + 1} ${r.chains[state.divergence!]?.slice(0, 12) ?? '—'}`).join(' · ')}`}</Text>
      )}
      {stacks && stacks.map((s, i) => <Text key={i} color="magenta">{`replica ${i + 1} stack: ${s.slice(0, 6).join(' ← ') || '(none)'}`}</Text>)}
      {state.showSource && state.mode !== 'memory' && <SourcePane model={model} state={state} around={around} />}
      {state.message !== null && <Text color="cyan">{state.message}</Text>}
      {travel.progress !== null && <Text color="cyan" wrap="truncate">{`${travel.progress} · Esc stops`}</Text>}
      {isPrompt(state.mode) && <Text color="yellow">{`${promptNames[state.mode]}: ${state.search}▌`}</Text>}
      <Text color="gray">{keyBar(state.mode)}</Text>
    </Box>
  );
}

const promptNames: Record<string, string> = { filter: 'filter by kind', search: 'search', goto: 'go to event' };

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
