// The TUI's one key table: it decides what a key press does (`keyToAction`) and writes the help
// (the `?` screen, the help bar and `replicode tui --help`), so a key cannot exist without help or
// help without a key. It loads no Ink or React, so the CLI can print the help without them.
import type { Key } from 'ink';
import { isPrompt, memoryPageRows, memoryRowBytes, reduce, type TuiAction, type TuiMode, type TuiState } from '../state.js';

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

/** A key by name, or one printable character; `text` is whatever is typed or pasted into a prompt. */
type KeyName = 'left' | 'right' | 'up' | 'down' | 'home' | 'end' | 'pageup' | 'pagedown' | 'escape' | 'return' | 'backspace' | 'text' | string;

export interface KeyBinding {
  keys: readonly KeyName[];
  modes: readonly TuiMode[];
  /** What the key does; for `text`, the action is built from what was typed. */
  action: TuiAction;
  /** A few words for the help bar ('' shares the next binding's); null leaves it to the `?` screen. */
  short: string | null;
  /** The sentence on the `?` screen and in `tui --help`. */
  help: string;
}

const browse: readonly TuiMode[] = ['browse'];
const prompts: readonly TuiMode[] = ['filter', 'search', 'goto'];
const helpScreen: readonly TuiMode[] = ['help'];
const memoryView: readonly TuiMode[] = ['memory'];
const browseAndMemory: readonly TuiMode[] = ['browse', 'memory'];

export const keyTable: readonly KeyBinding[] = [
  { keys: ['left', 'h'], modes: browse, action: { type: 'left' }, short: '', help: 'previous checkpoint' },
  { keys: ['right', 'l'], modes: browse, action: { type: 'right' }, short: 'checkpoint', help: 'next checkpoint' },
  { keys: ['up', 'k'], modes: browse, action: { type: 'up' }, short: '', help: 'previous event' },
  { keys: ['down', 'j'], modes: browse, action: { type: 'down' }, short: 'event', help: 'next event' },
  { keys: ['['], modes: browseAndMemory, action: { type: 'hook-previous' }, short: '', help: 'previous hook (function entry, loop); before hook 1, the event' },
  { keys: [']'], modes: browseAndMemory, action: { type: 'hook-next' }, short: 'hook', help: 'next hook before the next call: stacks, whether state agrees' },
  { keys: ['home'], modes: browse, action: { type: 'home' }, short: null, help: 'first checkpoint' },
  { keys: ['end'], modes: browse, action: { type: 'end' }, short: null, help: 'last checkpoint' },
  { keys: ['g'], modes: browse, action: { type: 'start-goto' }, short: 'go to', help: 'go to an event by its number' },
  { keys: ['d'], modes: browse, action: { type: 'jump-divergence' }, short: 'divergence', help: 'go to the exact first divergent event (diff, in the background)' },
  { keys: ['b'], modes: browse, action: { type: 'bisect-step' }, short: 'bisect', help: 'one step of the bisection over checkpoints: which half, and why' },
  { keys: ['f'], modes: browse, action: { type: 'start-filter' }, short: 'filter', help: 'only events of one kind (a syscall, stdin, clock, net, output...)' },
  { keys: ['/'], modes: browse, action: { type: 'start-search' }, short: 'search', help: 'search all traces from the selected event on (call, result, input)' },
  { keys: ['n'], modes: browse, action: { type: 'next-match' }, short: '', help: 'next match of the search (wraps past the end)' },
  { keys: ['N'], modes: browse, action: { type: 'previous-match' }, short: 'next/prev match', help: 'previous match of the search (wraps past the start)' },
  { keys: ['s'], modes: browse, action: { type: 'toggle-stack' }, short: 'stack', help: "the guest's stack at the selected event, on each replica (toggle)" },
  { keys: ['c'], modes: browse, action: { type: 'toggle-source' }, short: 'source', help: "source lines of each replica's stack at the event (toggle)" },
  { keys: ['<'], modes: browse, action: { type: 'source-frame', delta: 1 }, short: null, help: 'source pane: the next frame out (the caller)' },
  { keys: ['>'], modes: browse, action: { type: 'source-frame', delta: -1 }, short: null, help: 'source pane: the next frame in (the callee)' },
  { keys: ['o'], modes: browse, action: { type: 'toggle-output' }, short: 'output', help: "the guest's stdout up to the selected event, diffed (toggle)" },
  { keys: ['m'], modes: browse, action: { type: 'toggle-memory' }, short: 'memory', help: 'linear memory at the selection, hex, bytes that differ marked' },
  { keys: ['escape'], modes: browse, action: { type: 'back' }, short: 'back', help: 'stop d or a search, leave a hook, close c/s/o, clear filter/search' },
  { keys: ['?'], modes: browse, action: { type: 'toggle-help' }, short: 'all keys', help: 'this list of keys' },
  { keys: ['q'], modes: [...browse, ...helpScreen], action: { type: 'quit' }, short: 'quit', help: 'quit' },
  { keys: ['up', 'k'], modes: memoryView, action: { type: 'memory-rows', rows: -1 }, short: '', help: `up a row (${memoryRowBytes} bytes)` },
  { keys: ['down', 'j'], modes: memoryView, action: { type: 'memory-rows', rows: 1 }, short: 'row', help: `down a row (${memoryRowBytes} bytes)` },
  { keys: ['pageup', 'b'], modes: memoryView, action: { type: 'memory-rows', rows: -memoryPageRows }, short: '', help: `up a page (${memoryPageRows} rows)` },
  { keys: ['pagedown', 'f'], modes: memoryView, action: { type: 'memory-rows', rows: memoryPageRows }, short: 'page', help: `down a page (${memoryPageRows} rows)` },
  { keys: ['n'], modes: memoryView, action: { type: 'memory-region', direction: 1 }, short: '', help: 'next region where the replicas differ' },
  { keys: ['N'], modes: memoryView, action: { type: 'memory-region', direction: -1 }, short: 'next/prev difference', help: 'previous region where the replicas differ' },
  { keys: ['left', 'h'], modes: memoryView, action: { type: 'up' }, short: '', help: 'previous event (its memory)' },
  { keys: ['right', 'l'], modes: memoryView, action: { type: 'down' }, short: 'event', help: 'next event (its memory)' },
  { keys: ['m', 'escape'], modes: memoryView, action: { type: 'toggle-memory' }, short: 'close', help: 'close the memory view' },
  { keys: ['q'], modes: memoryView, action: { type: 'quit' }, short: 'quit', help: 'quit' },
  { keys: ['text'], modes: prompts, action: { type: 'type', text: '' }, short: 'type', help: 'type or paste the text (a pasted line break submits it)' },
  { keys: ['backspace'], modes: prompts, action: { type: 'backspace' }, short: 'delete', help: 'delete the last character' },
  { keys: ['return'], modes: prompts, action: { type: 'submit' }, short: 'apply', help: 'apply the filter, find the first match from the selection, or go' },
  { keys: ['escape'], modes: prompts, action: { type: 'cancel' }, short: 'cancel', help: 'leave the prompt without applying it' },
  { keys: ['?', 'escape'], modes: helpScreen, action: { type: 'toggle-help' }, short: 'close', help: 'close this list' },
];

/** How the help shows a key. */
export const keyLabels: Record<string, string> = {
  left: '←', right: '→', up: '↑', down: '↓', home: 'Home', end: 'End', pageup: 'PageUp', pagedown: 'PageDown', escape: 'Esc', return: 'Enter', backspace: 'Backspace', text: 'text',
};
export const keyLabel = (name: KeyName): string => keyLabels[name] ?? name;

/** The name of the key Ink reports, or null for one the table cannot hold (a modifier chord, a paste outside a prompt). */
function pressedKey(input: string, key: Key, mode: TuiMode): KeyName | null {
  const named: [boolean, KeyName][] = [
    [key.leftArrow, 'left'], [key.rightArrow, 'right'], [key.upArrow, 'up'], [key.downArrow, 'down'], [key.home, 'home'],
    [key.end, 'end'], [key.pageUp, 'pageup'], [key.pageDown, 'pagedown'], [key.escape, 'escape'], [key.return, 'return'], [key.backspace || key.delete, 'backspace'],
  ];
  const hit = named.find(([pressed]) => pressed);
  if (hit) return hit[1];
  if (input === '' || key.ctrl || key.meta) return null;
  if (isPrompt(mode)) return 'text';
  return [...input].length === 1 ? input : null;
}

/** What a key press does in `mode`, or null if nothing. */
export function keyToAction(input: string, key: Key, mode: TuiMode): TuiAction | null {
  const name = pressedKey(input, key, mode);
  if (name === null) return null;
  const binding = keyTable.find((b) => b.modes.includes(mode) && b.keys.includes(name));
  if (!binding) return null;
  return binding.action.type === 'type' ? { type: 'type', text: input } : binding.action;
}

/**
 * A chunk of input as actions, and the state they lead to. Ink hands over whatever one read
 * returns, so keys typed fast (or on a busy machine) arrive together: `/args_get` then Enter can
 * be one chunk. Outside a prompt the chunk is taken one key at a time; once a key opens a prompt,
 * the rest is typed into it.
 */
export function keysToActions(input: string, key: Key, state: TuiState): { actions: TuiAction[]; state: TuiState } {
  const actions: TuiAction[] = [];
  let next = state;
  let rest = input;
  do {
    const prompt = isPrompt(next.mode);
    const piece = prompt ? rest : [...rest][0] ?? '';
    const pieceKey = piece === rest ? key : { ...key, shift: /[A-Z]/.test(piece) };
    const action = keyToAction(piece, pieceKey, next.mode);
    if (action) {
      actions.push(action);
      next = reduce(next, action);
    }
    rest = rest.slice(piece.length);
  } while (rest !== '' && !next.quit);
  return { actions, state: next };
}

/** The help fits a terminal this wide (`tui --help` is read in one). */
export const keyHelpMaxColumns = 80;

const sections: { title: string; modes: readonly TuiMode[] }[] = [
  { title: 'Keys', modes: browse },
  { title: 'In the memory view (m)', modes: memoryView },
  { title: 'In the filter (f), search (/) and go-to (g) prompts', modes: prompts },
  { title: 'On this list of keys (?)', modes: helpScreen },
];

/** The full help: a section per mode, a line per binding (its keys, then what it does). */
export function keyHelp(): string[] {
  const width = Math.max(...keyTable.map((b) => b.keys.map(keyLabel).join(' ').length)) + 2;
  return sections.flatMap(({ title, modes }) => [
    `${title}:`,
    ...keyTable.filter((b) => b.modes.some((m) => modes.includes(m))).map((b) => `  ${b.keys.map(keyLabel).join(' ').padEnd(width)}${b.help}`),
  ]).map((line) => {
    assert([...line].length <= keyHelpMaxColumns, `key help wider than ${keyHelpMaxColumns} columns: ${line}`);
    return line;
  });
}

/**
 * The help bar for `mode`: each binding's first key and a few words; bindings with no words of
 * their own share the next one's (←/→ checkpoint); the `?` screen has every key.
 */
export function keyBar(mode: TuiMode): string {
  const parts: string[] = [];
  let keys: string[] = [];
  for (const b of keyTable.filter((x) => x.modes.includes(mode) && x.short !== null)) {
    keys.push(keyLabel(b.keys[0]!));
    if (b.short === '') continue;
    parts.push(`${keys.join('/')} ${b.short}`);
    keys = [];
  }
  return parts.join(' · ');
}
