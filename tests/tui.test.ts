// The TUI: its reducer without rendering, its screens with ink-testing-library, and once end to
// end in a real terminal (tmux runs it, send-keys drives it, capture-pane reads it).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createElement } from 'react';
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { App, firstDivergence, initialState, reduce, selectedEvent, type ReplicaTimeline, type TuiModel } from '../dist/tui/index.js';
import { cliPath, programsDir, runCli, tempDir } from './helpers.js';

const timeline = (chains: string[]): ReplicaTimeline => ({ name: 'x', chains, checkpointEvents: chains.map((_, i) => (i + 1) * 100), events: chains.length * 100 });
const replicas = [
  timeline(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']),
  timeline(['a', 'b', 'c', 'X', 'Y', 'Z', 'W', 'V']),
  timeline(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']),
];

describe('TUI state', () => {
  it('finds the first divergence and moves within bounds', () => {
    expect(firstDivergence(replicas)).toBe(3);
    let s = initialState(replicas);
    s = reduce(s, { type: 'left' });
    expect(s.cursor).toBe(0);
    s = reduce(s, { type: 'end' });
    expect(s.cursor).toBe(7);
    s = reduce(s, { type: 'right' });
    expect(s.cursor).toBe(7);
    expect(reduce(s, { type: 'jump-divergence' }).cursor).toBe(3);
  });

  it('bisects one visible step at a time and lands on the divergence', () => {
    let s = initialState(replicas);
    const mids: number[] = [];
    for (let i = 0; i < 5; i++) {
      s = reduce(s, { type: 'bisect-step' });
      if (s.bisect!.steps.length > mids.length) mids.push(s.bisect!.steps.at(-1)!.mid);
    }
    expect(mids).toEqual([4, 2, 3]);
    expect(s.bisect!.lo).toBe(3);
    expect(s.cursor).toBe(3);
  });

  it('↑/↓ select an event around the checkpoint (never before event 0, never past the end); moving the cursor resets it', () => {
    let s = reduce(initialState(replicas), { type: 'jump-divergence' });
    expect(selectedEvent(s)).toBe(400);
    s = reduce(s, { type: 'down' });
    expect(selectedEvent(s)).toBe(401);
    s = reduce(reduce(reduce(s, { type: 'up' }), { type: 'up' }), { type: 'up' });
    expect(selectedEvent(s)).toBe(398);
    expect(selectedEvent(reduce(s, { type: 'right' }))).toBe(500);
    let start = initialState(replicas);
    start = reduce(start, { type: 'home' });
    for (let i = 0; i < 200; i++) start = reduce(start, { type: 'up' });
    expect(selectedEvent(start)).toBe(0);
    let end = reduce(initialState(replicas), { type: 'end' });
    for (let i = 0; i < 200; i++) end = reduce(end, { type: 'down' });
    expect(selectedEvent(end)).toBe(799);
    expect(reduce(initialState(replicas), { type: 'toggle-output' }).showOutput).toBe(true);
  });

  it('filter and search take typed text; escape cancels; q quits', () => {
    let s = reduce(initialState(replicas), { type: 'start-filter' });
    for (const ch of 'fd_read') s = reduce(s, { type: 'type', text: ch });
    s = reduce(s, { type: 'submit' });
    expect(s.filter).toBe('fd_read');
    s = reduce(reduce(s, { type: 'start-search' }), { type: 'cancel' });
    expect(s.mode).toBe('browse');
    expect(reduce(s, { type: 'quit' }).quit).toBe(true);
  });
});

const model: TuiModel = {
  replicas,
  events: (replica, from, count) => Array.from({ length: count }, (_, i) => ({
    event: from + i, syscall: replica === 1 && from + i === 401 ? 'fd_write' : 'fd_read', result: 'ok', fingerprint: '00000000', inputs: [],
  })),
  stack: async () => ['crash_here', 'main'],
  output: async (replica, event) => `served ${event - 1} requests\n${replica === 1 ? 'jello' : 'hello'}\n`,
};

const tick = () => new Promise((r) => setTimeout(r, 30));

describe('TUI screens', () => {
  it('shows the timeline, jumps to the divergence with d and shows the differing chains and events', async () => {
    const ui = render(createElement(App, { model }));
    await tick();
    expect(ui.lastFrame()).toContain('first divergence at checkpoint 3');
    expect(ui.lastFrame()).toContain('replica 2');
    ui.stdin.write('d');
    await tick();
    const frame = ui.lastFrame()!;
    expect(frame).toContain('checkpoint 3/7');
    expect(frame).toContain('replica 2 X');
    expect(frame).toContain('#401 fd_write');
    ui.unmount();
  });

  it('↓ selects the next event and the detail pane marks the fields that differ; o shows the output diff', async () => {
    const ui = render(createElement(App, { model }));
    await tick();
    ui.stdin.write('d');
    await tick();
    ui.stdin.write('\u001B[B'); // ↓
    await tick();
    expect(ui.lastFrame()).toContain('event #401: differs between replicas');
    expect(ui.lastFrame()).toContain('replica 2: call fd_write · result ok');
    ui.stdin.write('o');
    await tick();
    await tick();
    const frame = ui.lastFrame()!;
    expect(frame).toContain('stdout before event #401: replica 1 (-) vs replica 2 (+)');
    expect(frame).toContain('- hello');
    expect(frame).toContain('+ jello');
    expect(frame).toContain('  served 400 requests');
    ui.unmount();
  });

  it('shows each bisection step, and stacks on s', async () => {
    const ui = render(createElement(App, { model }));
    await tick();
    ui.stdin.write('b');
    await tick();
    expect(ui.lastFrame()).toContain('bisect: checkpoints [0, 8) → looked at #4: chains differ');
    ui.stdin.write('s');
    await tick();
    await tick();
    expect(ui.lastFrame()).toContain('stack: crash_here ← main');
    ui.unmount();
  });
});

describe('TUI without a terminal', () => {
  it('refuses with one line and exit 1 when stdin or stdout is not a terminal (no stack, no React warning)', () => {
    const dir = tempDir();
    const trace = join(dir, 'hello.rct');
    expect(runCli(['record', '-o', trace, join(programsDir, 'build', 'hello.wasm')]).exitCode).toBe(0);
    const r = runCli(['tui', trace, trace]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('replicode: tui needs a terminal, and its stdin and stdout are not one (for scripts: replicode diff, or inspect --json)\n');
  });
});

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

describe.skipIf(!hasTmux)('TUI in a real terminal', () => {
  it('tmux runs it on three recorded traces, d jumps to the divergence, q quits', async () => {
    const dir = tempDir();
    const traces = [1, 2, 3].map((i) => join(dir, `r${i}.rct`));
    traces.forEach((t, i) => {
      const inject = i === 1 ? ['--inject', 'bitflip@3000:1024'] : [];
      expect(runCli(['record', ...inject, '--checkpoint-every', '1000', '-o', t, join(programsDir, 'build', 'syscall_heavy.wasm'), '--', '3000']).exitCode).toBe(0);
    });
    const session = `replicode-test-${process.pid}`;
    // CI=true as in CI jobs, where Ink would otherwise draw nothing until exit.
    spawnSync('tmux', ['new-session', '-d', '-s', session, '-x', '150', '-y', '30', '-e', 'CI=true', `${process.execPath} ${cliPath} tui ${traces.join(' ')}`]);
    try {
      const capture = () => spawnSync('tmux', ['capture-pane', '-t', session, '-p'], { encoding: 'utf8' }).stdout;
      for (let i = 0; i < 100 && !capture().includes('first divergence'); i++) await new Promise((r) => setTimeout(r, 100));
      expect(capture()).toContain('first divergence at checkpoint');
      spawnSync('tmux', ['send-keys', '-t', session, 'd']);
      await new Promise((r) => setTimeout(r, 500));
      expect(capture()).toMatch(/checkpoint \d+: replica 1 \w+ · replica 2 \w+/);
      spawnSync('tmux', ['send-keys', '-t', session, 'q']);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      spawnSync('tmux', ['kill-session', '-t', session]);
    }
  }, 60_000);
});
