// The in-process parts of bench/timetravel.ts, each in a process of its own so that no compiled
// module or open index another measurement left in memory flatters it. Run as
// `node dist/bench/timetravel-child.js MODE EXPECTED_EVENT TRACE...`; prints one JSON object.
// tui: the TUI's time-travel keys, timed through the model the TUI itself drives (loadModel: the
// same TuiModel the app's effects call); each step makes the calls the app makes for that key
// (tui/app.tsx: useTimeTravel, EventsPane, EventDetail), one per replica side by side
// (Promise.all), as the app does. diff / diff-no-snapshots: diffTraces as a library, with the
// traces' indexes or with every replay from event 0 (DiffOptions.snapshots false).
import { diffTraces, openSnapshotIndex } from '../replayer/index.js';
import { loadModel, type TuiModel } from '../tui/index.js';

export interface TuiStep { key: string; what: string; ms: number }
export interface TuiStepsResult {
  events: number; event: number; hook: { k: number; of: number } | null; loadMs: number; steps: TuiStep[];
  /** Opening each trace's index alone (after the steps; part of the first replay of each replica, in d's landing). */
  indexOpenMs: number[];
}

const each = <T>(model: TuiModel, f: (replica: number) => Promise<T>): Promise<T[]> => Promise.all(model.replicas.map((_, i) => f(i)));

/** What the events pane and the detail pane read when the selection lands on `event` (no replay). */
function eventViews(model: TuiModel, event: number): void {
  model.replicas.forEach((_, i) => { model.events(i, Math.max(0, event - 3), 7, null); model.events(i, event, 1, null); });
}

async function timed<T>(steps: TuiStep[], key: string, what: string, f: () => Promise<T> | T): Promise<T> {
  const t = performance.now();
  const value = await f();
  steps.push({ key, what, ms: performance.now() - t });
  return value;
}

export async function tuiSteps(paths: string[], expected: number): Promise<TuiStepsResult> {
  const steps: TuiStep[] = [];
  const t0 = performance.now();
  const model = loadModel(paths);
  const loadMs = performance.now() - t0;
  const located = await timed(steps, 'd', 'locate(): replicode diff in process, with the indexes', () => model.locate(() => {}));
  if (located.event !== expected) throw new Error(`bench: the TUI's d located event ${located.event}, not ${expected} (${located.reason})`);
  const e = located.event;
  // d lands on the event with the hook where state first differs: the panes, the hook counts, the hook's point.
  const k = located.hook?.k ?? 1;
  const counts = await timed(steps, 'd', `landing at #${e} hook ${k}: event panes, hookCount(${e}) and hookAt(${e}, ${k}) on each replica`, async () => {
    eventViews(model, e);
    const c = await each(model, (i) => model.hookCount(i, e));
    await each(model, (i) => model.hookAt(i, e, k));
    return c;
  });
  const most = Math.max(...counts);
  if (most < 2) throw new Error(`bench: only ${most} hook(s) after event ${e}: no hook to step to`);
  const next = k < most ? k + 1 : k - 1;
  await timed(steps, ']', `next hook: hookAt(${e}, ${next}) on each replica`, () => each(model, (i) => model.hookAt(i, e, next)));
  await timed(steps, '[', `previous hook: hookAt(${e}, ${k}) on each replica`, () => each(model, (i) => model.hookAt(i, e, k)));
  await timed(steps, '[', `from event #${e} itself: event #${e - 1}'s last hook (hookCount then hookAt)`, async () => {
    eventViews(model, e - 1);
    const c = await each(model, (i) => model.hookCount(i, e - 1));
    const last = Math.max(...c);
    if (last > 0) await each(model, (i) => model.hookAt(i, e - 1, last));
  });
  await timed(steps, 'down', `next event #${e + 1}: event panes (no replay)`, () => eventViews(model, e + 1));
  await timed(steps, 'up', `previous event #${e}: event panes (no replay)`, () => eventViews(model, e));
  await timed(steps, 'm', `memory at #${e} hook ${k}: memory() on each replica`, () => each(model, (i) => model.memory(i, e, k)));
  await timed(steps, 's', `stacks at #${e}: stack() on each replica`, () => each(model, (i) => model.stack(i, e)));
  const indexOpenMs: number[] = [];
  for (const path of paths) {
    const t = performance.now();
    const opened = await openSnapshotIndex(path, { build: false });
    indexOpenMs.push(performance.now() - t);
    if (!opened) throw new Error(`bench: ${path} has no usable index`);
    opened.store.close();
  }
  return { events: model.replicas[0]!.events, event: e, hook: located.hook, loadMs, steps, indexOpenMs };
}

export interface LibraryDiffResult { ms: number; event: number | null }

async function libraryDiff(paths: string[], expected: number, snapshots: boolean): Promise<LibraryDiffResult> {
  const t = performance.now();
  const report = await diffTraces(paths, { snapshots });
  const ms = performance.now() - t;
  if (report.event !== expected) throw new Error(`bench: diff (snapshots ${snapshots}) named event ${report.event}, not ${expected}`);
  return { ms, event: report.event };
}

if (process.argv[1]?.endsWith('timetravel-child.js')) {
  const [mode, expected, ...paths] = process.argv.slice(2);
  const result = mode === 'tui' ? await tuiSteps(paths, Number(expected))
    : mode === 'diff' || mode === 'diff-no-snapshots' ? await libraryDiff(paths, Number(expected), mode === 'diff')
      : (() => { throw new Error(`bench: timetravel-child: unknown mode ${mode}`); })();
  process.stdout.write(JSON.stringify(result) + '\n');
}
