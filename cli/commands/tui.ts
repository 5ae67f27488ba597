// `replicode tui A.rct B.rct ...`: the divergence explorer. Ink, React and the TUI load only here.
import { UsageError } from '../options.js';

export interface ParsedTuiArgs { traces?: string[] }

export async function tuiCommand(argv: ParsedTuiArgs): Promise<number> {
  const traces = (argv.traces ?? []).map(String);
  if (traces.length < 1) throw new UsageError('give one or more traces: replicode tui A.rct B.rct [C.rct ...]');
  const [{ render }, { createElement }, { App, loadModel }] = await Promise.all([import('ink'), import('react'), import('../../tui/index.js')]);
  const model = loadModel(traces, (done, total) => process.stderr.write(`\rloading traces: ${done}/${total}`));
  process.stderr.write('\r\x1b[K');
  const app = render(createElement(App, { model }));
  await app.waitUntilExit();
  return 0;
}
