// diff and the TUI on the traces of a WASI 0.2 component: by event, through plain replays (a
// component's core modules get no snapshot copy or instruction clock), and saying so.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../dist/tui/index.js';
import { programsDir, runCli, tempDir } from './helpers.js';

const component = join(programsDir, 'build', 'random.component.wasm');

describe('diff and the TUI on component traces', () => {
  const dir = tempDir();
  const [a, b, c] = ['a.rct', 'b.rct', 'c.rct'].map((f) => join(dir, f));
  beforeAll(() => {
    for (const [trace, seed] of [[a, '1'], [b, '2'], [c, '1']] as const) expect(runCli(['record', '-o', trace, '--seed', seed, component]).exitCode).toBe(0);
  });

  it('diff finds the first divergent event of two seeds and says why it goes no further', () => {
    const r = runCli(['diff', a, b]);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toContain('header differs: seed: 1 | 2');
    expect(r.stdout).toMatch(/first divergent event: 0 .*a WASI 0\.2 component: not narrowed below the event/);
    const json = JSON.parse(runCli(['diff', '--json', a, b]).stdout) as { event: number; range: unknown; sides: { stack: unknown[] }[] };
    expect(json.event).toBe(0);
    expect(json.range).toBeNull();
    expect(json.sides[0]!.stack.length).toBeGreaterThan(0);
  });

  it('diff of two runs with the same seed agrees', () => {
    const r = runCli(['diff', a, c]);
    expect(r.exitCode).toBe(0);
  });

  it('the TUI model steps by event and explains that hook steps need a core module', async () => {
    const model = loadModel([a, b]);
    expect((await model.stack(0, 3)).join(' ')).toContain('random_get');
    const point = await model.hookAt(0, 0, 1);
    expect(point.reached).toBe(false);
    expect(point.problem).toMatch(/WASI 0\.2 component/);
    expect(await model.output(0, 6)).toMatch(/^random: [0-9a-f]{64}/);
    expect((await model.locate(() => {})).event).toBe(0);
  });

  it('index and replay --from refuse a component trace in one line', () => {
    for (const args of [['index', a], ['replay', '--from', '2', a]]) {
      const r = runCli(args);
      expect(r.exitCode).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('WASI 0.2 component');
    }
  });
});
