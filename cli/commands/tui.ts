// `replicode tui A.rct B.rct ...`: the divergence explorer. Ink, React and the TUI load only here.
import { ExitCode } from '../exit-codes.js';
import { UsageError } from '../options.js';
import { percent, Progress } from '../progress.js';

export interface ParsedTuiArgs { traces?: string[] }

export async function tuiCommand(argv: ParsedTuiArgs): Promise<number> {
  const traces = (argv.traces ?? []).map(String);
  if (traces.length < 1) throw new UsageError('give one or more traces: replicode tui A.rct B.rct [C.rct ...]');
  // Ink needs raw keys in and a screen out; without them it fails with a stack (and a React warning).
  const missing = [process.stdin.isTTY ? '' : 'stdin', process.stdout.isTTY ? '' : 'stdout'].filter(Boolean);
  if (missing.length > 0) throw new UsageError(`tui needs a terminal, and its ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not one (for scripts: replicode diff, or inspect --json)`);
  forceInteractiveRendering();
  // Loading Ink and reading big traces takes seconds: the line shows at once and moves with the reading.
  const progress = new Progress();
  progress.update(`loading ${traces.length} trace${traces.length > 1 ? 's' : ''}...`, true);
  const [{ render }, { createElement }, { App, loadModel }] = await Promise.all([import('ink'), import('react'), import('../../tui/index.js')]);
  let model;
  try {
    model = loadModel(traces, (i, f) => progress.update(`loading trace ${i + 1}/${traces.length} (${traces[i]}): ${percent(f)}`));
  } finally {
    progress.clear();
  }
  const app = render(createElement(App, { model }));
  // The divergence is located in the background from the start: `d` then answers at once.
  const located = model;
  setImmediate(() => { located.locate(() => {}).catch(() => {}); }); // a failure is shown when `d` asks
  try {
    await app.waitUntilExit();
  } catch (err) {
    // The app caught an error in a component and left one line on the screen saying so.
    if (process.env.REPLICODE_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? err}\n`);
    return ExitCode.internal;
  }
  return 0;
}

// Ink decides once, when it is imported, that a process with CI or CONTINUOUS_INTEGRATION set is
// a CI log and then draws nothing until exit. A user who runs the TUI in a terminal wants frames
// whatever their environment says (CI debug shells, tmux in a CI job), so those two variables are
// cleared before Ink loads (tuiCommand has checked that stdout is a terminal).
function forceInteractiveRendering(): void {
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
}
