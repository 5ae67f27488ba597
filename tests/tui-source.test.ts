// The TUI's source pane (c): each replica's stack at the selected event in files and lines, beside
// the source around the selected frame (< and > move along the stack), the line marked, in red
// where the replicas are at different lines; "no debug info" for a module without DWARF.
import { join } from 'node:path';
import { createElement } from 'react';
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { App, initialState, keyToAction, loadModel, reduce, type ReplicaTimeline, type TuiModel } from '../dist/tui/index.js';
import { programsDir, runCli, tempDir } from './helpers.js';

const timeline = (name: string): ReplicaTimeline => ({ name, chains: ['a', 'b'], checkpointEvents: [0, 10], events: 20 });
const noKey = { upArrow: false, downArrow: false, leftArrow: false, rightArrow: false, pageDown: false, pageUp: false, home: false, end: false, return: false, escape: false, ctrl: false, shift: false, tab: false, backspace: false, delete: false, meta: false, super: false, hyper: false, capsLock: false, numLock: false } as never;

describe('source pane state and keys', () => {
  it('c opens and closes it, < and > move the selected frame, Esc closes it before anything else', () => {
    let s = initialState([timeline('a'), timeline('b')]);
    expect(keyToAction('c', noKey, 'browse')).toEqual({ type: 'toggle-source' });
    s = reduce(s, keyToAction('c', noKey, 'browse')!);
    expect(s.showSource).toBe(true);
    s = reduce(s, keyToAction('<', noKey, 'browse')!);
    s = reduce(s, keyToAction('<', noKey, 'browse')!);
    expect(s.sourceFrame).toBe(2);
    s = reduce(s, keyToAction('>', noKey, 'browse')!);
    expect(s.sourceFrame).toBe(1);
    for (let i = 0; i < 100; i++) s = reduce(s, { type: 'source-frame', delta: 1 });
    expect(s.sourceFrame).toBe(16); // bounded
    s = reduce(reduce(s, { type: 'toggle-stack' }), { type: 'back' });
    expect(s.showSource).toBe(false);
    expect(s.showStack).toBe(true);
  });
});

const tick = () => new Promise((r) => setTimeout(r, 30));
async function frameWith(ui: { lastFrame(): string | undefined }, text: string | RegExp, ticks = 300): Promise<string> {
  const shows = (frame: string | undefined) => (typeof text === 'string' ? frame?.includes(text) : text.test(frame ?? '')) === true;
  for (let i = 0; i < ticks && !shows(ui.lastFrame()); i++) await tick();
  return ui.lastFrame()!;
}

/** A model whose replica 2 is one line further on in main (a made-up divergence). */
const point = (fn: string, file: string | null, line: number | null, text: string | null) => ({ function: fn, file, line, column: 3, exact: true, inlined: false, text });
const fake: TuiModel = {
  replicas: [timeline('one.rct'), timeline('two.rct')],
  events: (_r, from, count) => Array.from({ length: count }, (_, i) => ({ event: from + i, syscall: 'fd_read', result: 'ok', fingerprint: '0', inputs: [] })),
  stack: async () => ['read', 'main'],
  source: async (replica) => ({ debugInfo: true, note: null, frames: [point('read', 'libc/read.c', 12, null), point('main', 'prog.c', 20 + replica, `line ${20 + replica}`), point('_start', null, null, null)] }),
  sourceLines: (file, line, context) => Array.from({ length: 2 * context + 1 }, (_, i) => [line - context + i, `${file} text ${line - context + i}`] as [number, string]),
  output: async () => '',
  find: async () => null,
  locate: async () => ({ event: null, reason: 'agree', checkpoint: null, hook: null }),
  hookCount: async () => 0,
  hookAt: async () => ({ reached: false, stack: [], stateHash: '' }),
  memory: async () => new Uint8Array(0),
};

describe('source pane on screen', () => {
  it('beside each stack, the lines around the innermost frame with source; the divergent line marked in both', async () => {
    const ui = render(createElement(App, { model: fake }));
    await tick();
    ui.stdin.write('c');
    const frame = await frameWith(ui, 'source at event #0');
    expect(frame).toContain('the replicas are at different lines');
    expect(frame).toContain('replica 1 (one.rct): prog.c:20:3 in main');
    expect(frame).toContain('replica 2 (two.rct): prog.c:21:3 in main');
    expect(frame).toContain('≠   20 │ prog.c text 20');
    expect(frame).toContain('≠   21 │ prog.c text 21');
    expect(frame).toContain('    17 │ prog.c text 17');
    ui.stdin.write('>');
    const inner = await frameWith(ui, 'libc/read.c text 12');
    expect(inner).toContain('▶   12 │ libc/read.c text 12'); // the same line on both: marked, not as a difference
    ui.unmount();
  });

  it('real traces of a debug build: stdin_echo.c line 9 and its text; without DWARF: "no debug info"', async () => {
    const dir = tempDir();
    const record = (program: string, name: string, stdin: string) => {
      const t = join(dir, name);
      expect(runCli(['record', '-o', t, join(programsDir, 'build', `${program}.wasm`)], stdin).exitCode).toBe(0);
      return t;
    };
    const debug = [record('stdin_echo_debug', 'a.rct', 'hello\n'), record('stdin_echo_debug', 'b.rct', 'jello\n')];
    let ui = render(createElement(App, { model: loadModel(debug) }));
    await tick();
    for (const k of ['g', '0\r', 'c']) { ui.stdin.write(k); await tick(); }
    let frame = await frameWith(ui, '│     ssize_t n');
    expect(frame).toContain('replica 1 (a.rct): wasm_programs/src/stdin_echo.c:9:17 in main');
    expect(frame).toMatch(/#2 stdin_echo\.c:9:17 in main/);
    expect(frame).toContain('▶    9 │     ssize_t n = read(0, buf, sizeof buf);');
    expect(frame.match(/▶    9 │/g)).toHaveLength(2); // both replicas
    ui.unmount();
    const plain = [record('stdin_echo', 'c.rct', 'hello\n'), record('stdin_echo', 'd.rct', 'jello\n')];
    ui = render(createElement(App, { model: loadModel(plain) }));
    await tick();
    ui.stdin.write('c');
    frame = await frameWith(ui, 'no debug info');
    expect(frame).toContain('replica 1 (c.rct): no debug info (build the module with -g)');
    ui.unmount();
  }, 60_000);

  it('after d, at the hook where state first differs (two builds of scale.c): the loop\'s line, marked on both replicas', async () => {
    const dir = tempDir();
    const traces = ['scale_debug', 'scale_changed_debug'].map((program, i) => {
      const t = join(dir, `${i}.rct`);
      expect(runCli(['record', '-o', t, join(programsDir, 'build', `${program}.wasm`)]).exitCode).toBe(0);
      return t;
    });
    const ui = render(createElement(App, { model: loadModel(traces) }));
    await tick();
    ui.stdin.write('d');
    await frameWith(ui, /state first differs at hook \d+ of \d+ after it/, 2000);
    ui.stdin.write('c');
    const frame = await frameWith(ui, /source at hook \d+ after event #0[\s\S]*table\[i\][\s\S]*table\[i\]/, 2000);
    expect(frame).toMatch(/replica 1 \(0\.rct\): wasm_programs\/debug\/scale\.c:17:\d+ in scale/);
    expect(frame).toMatch(/replica 2 \(1\.rct\): wasm_programs\/debug\/scale\.c:17:\d+ in scale/);
    expect(frame.match(/▶ {3}17 │ {5}table\[i\] = i \* 3 \+ BUMP\(i\);/g)).toHaveLength(2); // the same line on both replicas
    ui.unmount();
  }, 120_000);
});
