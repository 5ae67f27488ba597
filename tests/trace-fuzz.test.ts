// Fuzzing trace bytes: real small traces, truncated, with bytes flipped, bytes appended, two
// joined, the trailer's offset replaced. Every such trace is damaged or incomplete (a chunk's
// CRC covers its header and payload; the file header, the footer's place and the trailer are
// checked exactly), so every command must say so, and say it alike: exit 1 with one line naming
// a byte offset, never exit 70, never a stack, never a hang. A fixed seed and a fixed number of
// cases keep it repeatable and within its budget (about 30 s here): many cases in process
// (the reader's two paths, the scan and the record reader, must agree), a sample through the CLI.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { memorySource, TraceFormatError, TraceReader } from '../dist/formats/index.js';
import { summarizeTrace } from '../dist/replayer/index.js';
import { cliPath, programsDir, repoRoot, runCli, tempDir } from './helpers.js';

/** mulberry32: a small seeded generator, so every run fuzzes the same cases. */
function generator(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), bytes: (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256))) };
}
type Rng = ReturnType<typeof generator>;

const mutations: Record<string, (b: Buffer, other: Buffer, rng: Rng) => Buffer> = {
  truncate: (b, _o, rng) => b.subarray(0, rng.int(b.length)),
  flip: (b, _o, rng) => {
    const m = Buffer.from(b);
    for (let i = 0, n = 1 + rng.int(3); i < n; i++) m[rng.int(m.length)]! ^= 1 + rng.int(255);
    return m;
  },
  flipTail: (b, _o, rng) => { // the footer chunk and trailer, where damage used to go unnoticed
    const m = Buffer.from(b);
    m[m.length - 1 - rng.int(Math.min(80, m.length))]! ^= 1 + rng.int(255);
    return m;
  },
  append: (b, _o, rng) => Buffer.concat([b, rng.next() < 0.5 ? Buffer.alloc(1 + rng.int(200)) : rng.bytes(1 + rng.int(200))]),
  join: (b, o, rng) => (rng.next() < 0.5 ? Buffer.concat([b, b]) : Buffer.concat([b, o])),
  trailerOffset: (b, _o, rng) => {
    const m = Buffer.from(b);
    const real = m.readBigUInt64LE(m.length - 8);
    const choices = [0n, 16n, real + 1n, real - 1n, BigInt(m.length), BigInt(rng.int(m.length)), (1n << 63n) + BigInt(rng.int(1000))];
    let v = choices[rng.int(choices.length)]!;
    if (v === real) v = real + 16n;
    m.writeBigUInt64LE(v, m.length - 8);
    return m;
  },
};

/** Three real traces: tiny, several chunks with inputs and checkpoints, and more events. */
function baseTraces(dir: string): Buffer[] {
  const build = (name: string) => join(programsDir, 'build', `${name}.wasm`);
  const specs: [string, string[], string][] = [
    ['hello', ['record', build('hello')], ''],
    ['lines', ['record', '--checkpoint-every', '2', build('line_count')], 'a b\nc d e\n'.repeat(300)],
    ['heavy', ['record', '--checkpoint-every', '100', build('syscall_heavy'), '--', '300'], ''],
  ];
  return specs.map(([name, args, stdin]) => {
    const path = join(dir, `${name}.rct`);
    const r = runCli([args[0]!, '-o', path, ...args.slice(1)], stdin);
    expect(r.exitCode, r.stderr).toBe(0);
    return readFileSync(path);
  });
}

/** intact / not, as the scan sees it and as reading every record sees it (they must agree). */
function inProcessVerdict(bytes: Buffer): 'intact' | 'not' {
  let reader: TraceReader;
  try {
    reader = new TraceReader(memorySource(bytes));
  } catch (err) {
    if (!(err instanceof TraceFormatError)) throw err;
    return 'not';
  }
  const integrity = reader.integrity;
  const scanned = integrity.state;
  const summary = summarizeTrace(new TraceReader(memorySource(bytes)));
  const read = summary.state;
  expect(read === 'intact', `scan says ${scanned} (${integrity.state === 'intact' ? '' : integrity.error.message}), reading says ${read} (${summary.error})`).toBe(scanned === 'intact');
  return scanned === 'intact' ? 'intact' : 'not';
}

interface CliResult { code: number | null; out: string }

function cli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d; });
    child.stderr.on('data', (d: Buffer) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000); // a hang fails the case (code null)
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

describe('trace bytes fuzz', () => {
  const dir = tempDir();
  let bases: Buffer[] = [];
  beforeAll(() => { bases = baseTraces(dir); });

  it('in process: every mutation is found, by the scan and by reading records alike (3000 cases)', () => {
    const rng = generator(0x5eed);
    const names = Object.keys(mutations);
    for (let i = 0; i < 3000; i++) {
      const k = rng.int(bases.length);
      const mutated = mutations[names[i % names.length]!]!(bases[k]!, bases[(k + 1) % bases.length]!, rng);
      expect(inProcessVerdict(mutated), `${names[i % names.length]} of trace ${k}, case ${i}`).toBe('not');
    }
    for (const b of bases) expect(inProcessVerdict(b)).toBe('intact');
  });

  it('through the CLI: inspect, replay and diff against the intact trace agree (exit 1, one line with the byte offset) on 24 mutations', async () => {
    const rng = generator(0xc11);
    const names = Object.keys(mutations);
    const cases = Array.from({ length: 24 }, (_, i) => {
      const k = rng.int(bases.length);
      const name = names[i % names.length]!;
      const path = join(dir, `case-${i}-${name}.rct`);
      writeFileSync(path, mutations[name]!(bases[k]!, bases[(k + 1) % bases.length]!, rng));
      return { i, name, path, intact: join(dir, `${['hello', 'lines', 'heavy'][k]}.rct`) };
    });
    const check = async ({ i, name, path, intact }: (typeof cases)[number]) => {
      const results = await Promise.all([cli(['inspect', path]), cli(['replay', '-q', path]), cli(['diff', '--no-instructions', intact, path])]);
      for (const [j, r] of results.entries()) {
        const what = `case ${i} (${name}), ${['inspect', 'replay', 'diff'][j]}: exit ${r.code}\n${r.out}`;
        expect(r.code, what).toBe(1);
        expect(r.out, what).not.toMatch(/\n\s+at |internal error|RepliCode bug/);
        expect(r.out, what).toMatch(/^replicode: .*\(at byte \d+\)$/m);
      }
    };
    // Two cases at a time: each case is three processes.
    for (let at = 0; at < cases.length; at += 2) await Promise.all(cases.slice(at, at + 2).map(check));
    for (const trace of ['hello', 'lines', 'heavy']) {
      const path = join(dir, `${trace}.rct`);
      const results = await Promise.all([cli(['inspect', path]), cli(['replay', '-q', path]), cli(['diff', path, path])]);
      expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
    }
  }, 120_000);
});
