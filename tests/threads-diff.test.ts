// diff and the TUI on the traces of a wasi-threads module: by event, through plain replays (a
// threaded module gets no snapshot copy or instruction clock), and saying so.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../dist/tui/index.js';
import { programsDir, runCli, tempDir } from './helpers.js';

const chatter = join(programsDir, 'wat', 'threads', 'chatter.wat');

describe('diff and the TUI on threaded traces', () => {
  const dir = tempDir();
  const [a, b] = ['a.rct', 'b.rct'].map((f) => join(dir, f));
  beforeAll(() => {
    expect(runCli(['record', '-o', a, chatter]).exitCode).toBe(0);
    expect(runCli(['record', '-o', b, '--inject', 'bitflip@3:2000', chatter]).exitCode).toBe(0);
  });

  it('diff finds the event after which state differs and says why it goes no further', () => {
    const r = runCli(['diff', a, b]);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toMatch(/first divergent event: 3 .*a wasi-threads module: not narrowed below the event/);
    expect(JSON.parse(runCli(['diff', '--json', a, b]).stdout).range).toBeNull();
  });

  it('diff names a different --quantum in the header, the cause of a different schedule (it said nothing of it)', () => {
    const c = join(dir, 'c.rct');
    expect(runCli(['record', '-o', c, '--quantum', '50', chatter]).exitCode).toBe(0);
    const r = runCli(['diff', a, c]);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toContain('header differs: rewriting: stack-limit(maxStackBytes=8388608), canonical-nans(), threads(quantum=1000000) | stack-limit(maxStackBytes=8388608), canonical-nans(), threads(quantum=50)');
    expect(JSON.parse(runCli(['diff', '--json', a, c]).stdout).headerDifferences.map((h: { field: string }) => h.field)).toEqual(['rewriting']);
    // The bit flip's traces differ by their faults only.
    expect(runCli(['diff', a, b]).stdout.split('\n').filter((l) => l.includes('header differs'))).toEqual([expect.stringMatching(/^ *header differs: faults: /)]);
  });

  it('the TUI model explains that hook steps need a single-threaded module, and still shows stacks', async () => {
    const model = loadModel([a, b]);
    const point = await model.hookAt(0, 3, 1);
    expect(point.reached).toBe(false);
    expect(point.problem).toMatch(/wasi-threads module/);
    expect((await model.stack(0, 3)).length).toBeGreaterThan(0);
  });

  it('replay --from refuses a threaded trace in one line', () => {
    const r = runCli(['replay', '--from', '2', a]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('wasi-threads module');
  });
});
