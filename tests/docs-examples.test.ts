// Every command example in README.md and docs/*.md runs here, so the docs cannot drift.
//
// How examples are written (docs/CONTRIBUTING.md says the same):
// - A ```sh block is a script. Each line that is not a comment is a command (a line ending in
//   `\` continues on the next). Comment lines right after a command (no blank line between) are
//   its expected output, one `# ` line per output line; a comment after a blank line describes
//   what follows and is not compared. A command without expected output must still exit 0.
// - A ``` block with `$ ` prompts: each prompt line is a command, the lines up to the next prompt
//   its expected output (its exit code is not checked: a trap or a divergence is the point).
// - Output is stdout and stderr together, in order (NO_COLOR=1), compared line by line:
//     `...` inside a line matches any text;
//     a line that is only `...` matches any number of lines (none included);
//     a line ending in `# varies` matches with every number and every hex string of 8 or more
//     characters free (times, sizes, hashes), the rest exact.
// - A command ending in `&` is a server started in the background: the test waits until it has
//   printed as many lines as its expected output shows (so show its `listening` line), compares
//   those, and goes on with the clients; `kill -INT %1; wait` stops it as Ctrl-C would, and the lines
//   after that command are what the server printed since its first lines (as on a terminal). Host
//   ports given to `--listen` are replaced by free ones (in the commands and the output alike).
// - A block that cannot run here (it waits for Ctrl-C, needs etcd, a terminal or network tools
//   the machine lacks) is preceded by `<!-- not run: the reason -->`; a block that only shows
//   syntax or output has no prompt and is not a ```sh block, so it is not an example.
// Each block runs in its own fresh temporary directory holding a symlink to wasm_programs/;
// `npx replicode` and `replicode` resolve to this checkout's bin/replicode.js.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import assert from 'node:assert/strict';
import { cliPath, programsDir, repoRoot } from './helpers.js';

const blockTimeoutMs = 45_000;
const backgroundWaitSteps = 400; // of 50 ms: 20 s for a server to print its first lines

interface Command { text: string; expected: string[]; background: boolean; checkExit: boolean }
interface Block { file: string; line: number; skip: string | null; commands: Command[] }

const docFiles = ['README.md', ...readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

function parseFile(file: string): Block[] {
  const lines = readFileSync(join(repoRoot, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  let skip: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const note = /^<!-- not run: (.+?) -->$/.exec(line.trim());
    if (note) { skip = note[1]; continue; }
    const fence = /^```(\w*)\s*$/.exec(line);
    if (!fence) { if (line.trim() !== '') skip = null; continue; }
    let end = i + 1;
    while (end < lines.length && !lines[end].startsWith('```')) end++;
    const body = lines.slice(i + 1, end);
    const lang = fence[1];
    const commands = ['sh', 'bash', 'shell'].includes(lang) ? parseScript(body)
      : lang === '' && body.some((l) => l.startsWith('$ ')) ? parsePrompts(body) : null;
    if (commands) blocks.push({ file, line: i + 1, skip, commands });
    skip = null;
    i = end;
  }
  return blocks;
}

function parseScript(body: string[]): Command[] {
  const commands: Command[] = [];
  let last: Command | null = null; // the command whose output comments may follow
  for (let i = 0; i < body.length; i++) {
    const line = body[i];
    if (line.trim() === '') { last = null; continue; }
    if (line.trimStart().startsWith('#')) {
      if (last) last.expected.push(line.trimStart().replace(/^# ?/, ''));
      continue;
    }
    let text = line;
    while (text.endsWith('\\') && i + 1 < body.length) text += '\n' + body[++i];
    last = makeCommand(text, true);
    commands.push(last);
  }
  return commands;
}

function parsePrompts(body: string[]): Command[] {
  const commands: Command[] = [];
  for (let i = 0; i < body.length; i++) {
    if (!body[i].startsWith('$ ')) {
      if (commands.length > 0) commands[commands.length - 1].expected.push(body[i]);
      continue;
    }
    let text = body[i].slice(2);
    while (text.endsWith('\\') && i + 1 < body.length) text += '\n' + body[++i];
    commands.push(makeCommand(text, false));
  }
  for (const c of commands) while (c.expected.length > 0 && c.expected[c.expected.length - 1].trim() === '') c.expected.pop();
  return commands;
}

function makeCommand(text: string, checkExit: boolean): Command {
  const background = /&\s*(#.*)?$/.test(text) && !/&&\s*(#.*)?$/.test(text);
  return { text: background ? text.replace(/&\s*(#.*)?$/, '') : text, expected: [], background, checkExit: checkExit && !background };
}

// --- matching ---------------------------------------------------------------------------------

function lineRegex(expected: string): RegExp {
  const varies = /\s+# varies$/.test(expected);
  const text = expected.replace(/\s+# varies$/, '').trimEnd();
  const escape = (s: string) => {
    let r = s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    if (varies) r = r.replace(/\b[0-9a-f]{8,}\b/g, '[0-9a-f]+').replace(/\d+(\\\.\d+)?/g, '\\d+(\\.\\d+)?');
    return r;
  };
  return new RegExp(`^${text.split('...').map(escape).join('.*')}$`);
}

function linesMatch(expected: string[], actual: string[]): boolean {
  const memo = new Map<string, boolean>();
  const go = (e: number, a: number): boolean => {
    const key = `${e},${a}`;
    if (memo.has(key)) return memo.get(key)!;
    let ok: boolean;
    if (e === expected.length) ok = a === actual.length;
    else if (expected[e].trim() === '...') ok = go(e + 1, a) || (a < actual.length && go(e, a + 1));
    else ok = a < actual.length && lineRegex(expected[e]).test(actual[a].trimEnd()) && go(e + 1, a + 1);
    memo.set(key, ok);
    return ok;
  };
  return go(0, 0);
}

// --- running ----------------------------------------------------------------------------------

const shimDir = mkdtempSync(join(tmpdir(), 'replicode-docs-bin-'));
for (const name of ['replicode', 'npx']) {
  const body = name === 'npx'
    ? `#!/bin/sh\nif [ "$1" = replicode ]; then shift; exec node ${JSON.stringify(cliPath)} "$@"; fi\necho "docs test: only 'npx replicode' is available" >&2; exit 127\n`
    : `#!/bin/sh\nexec node ${JSON.stringify(cliPath)} "$@"\n`;
  writeFileSync(join(shimDir, name), body);
  chmodSync(join(shimDir, name), 0o755);
}
const workDirs: string[] = [];
afterAll(() => { for (const d of [shimDir, ...workDirs]) rmSync(d, { recursive: true, force: true }); });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      server.close(() => resolve(address.port));
    });
  });
}

/** Replace each host port given to --listen by a free one, everywhere in the block. */
async function withFreePorts(commands: Command[]): Promise<Command[]> {
  const ports = new Set<string>();
  for (const c of commands) for (const m of c.text.matchAll(/--listen\s+(?:udp:)?(?:[\d.]+:)?(\d+)(?:=|\s)/g)) ports.add(m[1]);
  let out = commands;
  for (const port of ports) {
    const fresh = String(await freePort());
    const swap = (s: string) => s.replace(new RegExp(`\\b${port}\\b`, 'g'), fresh);
    out = out.map((c) => ({ ...c, text: swap(c.text), expected: c.expected.map(swap) }));
  }
  return out;
}

function script(commands: Command[]): string {
  const parts = ['exec 2>&1 </dev/null'];
  let running: { n: number; shown: number }[] = []; // background commands not yet waited for
  commands.forEach((c, n) => {
    parts.push(`printf '\\n@@start ${n}@@\\n'`);
    if (c.background) {
      const shown = c.expected.filter((l) => l.trim() !== '...').length;
      assert(shown > 0, `${c.text}: a background command shows the lines the test waits for`);
      parts.push(`${c.text} > .bg${n}.out 2>&1 &`);
      parts.push(`for _ in $(seq ${backgroundWaitSteps}); do [ "$(grep -c '' .bg${n}.out)" -ge ${shown} ] && break; sleep 0.05; done`);
      parts.push(`head -n ${shown} .bg${n}.out`);
      parts.push(`printf '\\n@@end ${n} 0@@\\n'`);
      running.push({ n, shown });
    } else {
      parts.push(c.text);
      parts.push('status=$?');
      // After a `wait`, what the servers printed since their first lines (as they stopped) is
      // this command's output, as it would be on a terminal.
      if (/\bwait\b/.test(c.text)) {
        for (const bg of running) parts.push(`tail -n +${bg.shown + 1} .bg${bg.n}.out`);
        running = [];
      }
      parts.push(`printf '\\n@@end ${n} %s@@\\n' "$status"`);
    }
  });
  parts.push('for p in $(jobs -p); do kill -INT "$p" 2>/dev/null; done; wait');
  return parts.join('\n') + '\n';
}

function runScript(text: string, cwd: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', text], {
      cwd,
      env: { ...process.env, PATH: `${shimDir}:${process.env.PATH}`, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), blockTimeoutMs);
    child.on('close', () => { clearTimeout(timer); resolve(out); });
  });
}

interface Result { output: string[]; exitCode: number | null }

function split(output: string, count: number): Result[] {
  const results: Result[] = [];
  for (let n = 0; n < count; n++) {
    const m = new RegExp(`\\n@@start ${n}@@\\n([\\s\\S]*?)\\n@@end ${n} (\\d+)@@\\n`).exec(output);
    if (!m) { results.push({ output: [`(no output: the block stopped before command ${n})`], exitCode: null }); continue; }
    const lines = m[1].split('\n');
    while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
    results.push({ output: lines, exitCode: Number(m[2]) });
  }
  return results;
}

async function runBlock(block: Block): Promise<void> {
  const cwd = mkdtempSync(join(tmpdir(), 'replicode-docs-'));
  workDirs.push(cwd);
  symlinkSync(programsDir, join(cwd, 'wasm_programs'));
  mkdirSync(join(cwd, 'home'));
  const commands = await withFreePorts(block.commands);
  const results = split(await runScript(script(commands), cwd), commands.length);
  commands.forEach((c, n) => {
    const r = results[n];
    const where = `${block.file}:${block.line}: $ ${c.text}`;
    if (c.checkExit) expect(r.exitCode, `${where}\nexit code; output:\n${r.output.join('\n')}`).toBe(0);
    if (c.expected.length === 0) return;
    const ok = linesMatch(c.expected, r.output);
    if (!ok) expect(r.output.join('\n'), `${where}\ndoes not show what the docs show`).toBe(c.expected.join('\n'));
  });
}

// --- the tests --------------------------------------------------------------------------------

const blocks = docFiles.flatMap(parseFile);

describe('the conventions of this test', () => {
  it('matches `...`, whole-line `...` and `# varies`', () => {
    expect(linesMatch(['a ... c'], ['a bb c'])).toBe(true);
    expect(linesMatch(['a', '...', 'z'], ['a', 'z'])).toBe(true);
    expect(linesMatch(['a', '...', 'z'], ['a', 'b', 'c', 'z'])).toBe(true);
    expect(linesMatch(['a', 'z'], ['a', 'b', 'z'])).toBe(false);
    expect(linesMatch(['took 12 ms, hash 0123abcd  # varies'], ['took 3.5 ms, hash ffee0011'])).toBe(true);
    expect(linesMatch(['took 12 ms  # varies'], ['took 3 s'])).toBe(false);
    expect(linesMatch(['took 12 ms'], ['took 13 ms'])).toBe(false);
  });
  it('finds examples, and every block it skips says why', () => {
    expect(blocks.filter((b) => b.skip === null).length).toBeGreaterThan(10);
    for (const b of blocks.filter((x) => x.skip !== null)) expect(b.skip!.trim().length, `${b.file}:${b.line}`).toBeGreaterThan(5);
  });
});

/** GitHub's anchor for a heading. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-');
}

describe('links between the pages', () => {
  it('point at files that exist, and at headings that exist', () => {
    const broken: string[] = [];
    for (const file of docFiles) {
      const text = readFileSync(join(repoRoot, file), 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const [path, anchor] = m[1].split('#');
        if (/^[a-z]+:/.test(path)) continue; // http:, https:, mailto:
        const target = path === '' ? file : join(dirname(file), path);
        if (!existsSync(join(repoRoot, target))) { broken.push(`${file}: ${m[1]}`); continue; }
        if (anchor === undefined || !target.endsWith('.md')) continue;
        const headings = readFileSync(join(repoRoot, target), 'utf8').split('\n').filter((l) => /^#{1,6} /.test(l));
        if (!headings.some((h) => slug(h.replace(/^#+ /, '')) === anchor)) broken.push(`${file}: ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe.concurrent('docs examples', () => {
  for (const block of blocks) {
    const name = `${block.file}:${block.line} ${block.commands[0]?.text.split('\n')[0] ?? ''}`;
    if (block.skip !== null) it.skip(`${name} (not run: ${block.skip})`, () => {});
    else it(name, () => runBlock(block), blockTimeoutMs + 5_000);
  }
});
