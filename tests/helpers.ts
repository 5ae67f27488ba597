// Shared test plumbing: guest programs, and three ways to run them (CLI child process, worker
// thread, in-thread). Tests use the compiled runtime in dist/ (built by `npm test`), because
// guest workers must load compiled JavaScript.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeChunk, encodeFileHeader, encodeTrailer, memorySource, pack, readChunk } from '../dist/formats/index.js';
import {
  compileModule, MemoryEffects, processConfig, runGuest, spawnGuest, BufferStdin,
  type GuestOutcome, type ProcessConfig,
} from '../dist/runtime/index.js';

export const repoRoot = join(import.meta.dirname, '..');
export const programsDir = join(repoRoot, 'wasm_programs');
export const cliPath = join(repoRoot, 'bin', 'replicode.js');

export interface ProgramCase {
  name: string;
  wasm: string;
  args: string[];
  env: Record<string, string>;
  stdin: string;
  dataDir: null | 'empty' | string;
  seed: number | null;
  exitCode: number;
  stdout: string | null;
  stderrIncludes: string[];
}

export function programCases(): ProgramCase[] {
  return JSON.parse(readFileSync(join(programsDir, 'cases.json'), 'utf8')) as ProgramCase[];
}

export function expectedStdout(c: ProgramCase): string | null {
  return c.stdout === null ? null : readFileSync(join(programsDir, c.stdout), 'utf8');
}

/** Directories tempDir made, removed once the test file is done (etcd's data dirs alone are ~120 MB each). */
const madeDirs: string[] = [];
afterAll(() => {
  for (const dir of madeDirs.splice(0)) {
    try { rmSync(dir, { recursive: true, force: true }); } catch { /* a file still held open: left for the OS */ }
  }
});

export function tempDir(prefix = 'replicode-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  madeDirs.push(dir);
  return dir;
}

/** A fresh host directory for a case's /data preopen, or null. */
export function dataDirFor(c: ProgramCase): string | null {
  if (c.dataDir === null) return null;
  const dir = tempDir();
  if (c.dataDir !== 'empty') cpSync(join(programsDir, c.dataDir), dir, { recursive: true });
  return dir;
}

const moduleCache = new Map<string, Promise<WebAssembly.Module>>();
export function compileProgram(wasm: string): Promise<WebAssembly.Module> {
  const file = join(programsDir, wasm);
  if (!moduleCache.has(file)) moduleCache.set(file, compileModule(readFileSync(file), file));
  return moduleCache.get(file)!;
}

export function configFor(c: ProgramCase, dataDir: string | null): ProcessConfig {
  return processConfig({
    args: [c.wasm.split('/').pop()!, ...c.args],
    env: Object.entries(c.env).map(([k, v]) => `${k}=${v}`),
    ...(c.seed !== null ? { seed: BigInt(c.seed) } : {}),
    preopens: dataDir ? [{ hostPath: dataDir, guestPath: '/data' }] : [],
  });
}

/** CLI arguments equivalent to configFor. */
export function cliArgsFor(c: ProgramCase, dataDir: string | null): string[] {
  const args = ['run'];
  for (const [k, v] of Object.entries(c.env)) args.push('--env', `${k}=${v}`);
  if (c.seed !== null) args.push('--seed', String(c.seed));
  if (dataDir) args.push('--dir', `${dataDir}::/data`);
  args.push(join(programsDir, c.wasm), '--', ...c.args);
  return args;
}

export interface RunResult { exitCode: number; stdout: string; stderr: string; outcome?: GuestOutcome }

/**
 * The environment a CLI child gets: ours without the variables that force terminal behaviour
 * (colour, progress), so output compared in tests is the same in a CI that sets FORCE_COLOR.
 */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['FORCE_COLOR', 'NO_COLOR', 'REPLICODE_PROGRESS']) delete env[name];
  return { ...env, ...extra };
}

/** The summary --json writes as the last line of stderr. */
export function lastJson(stderr: string): Record<string, unknown> {
  return JSON.parse(stderr.trimEnd().split('\n').at(-1)!) as Record<string, unknown>;
}

export function runCli(args: string[], stdin = '', cwd = repoRoot, env: Record<string, string> = {}): RunResult {
  // spawnSync's default maxBuffer (1 MiB) cut long listings short without a word (inspect --events of a
  // guest that wrote ~47,000 lines before its EPIPE: the last event listed was not the last).
  const r = spawnSync(process.execPath, [cliPath, ...args], { input: stdin, cwd, encoding: 'utf8', timeout: 60_000, env: cliEnv(env), maxBuffer: 256 * 1024 * 1024 });
  return { exitCode: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** runCli without blocking: independent CLI runs of one test can go side by side. */
export function runCliAsync(args: string[], stdin = '', env: Record<string, string> = {}): Promise<RunResult> {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: repoRoot, env: cliEnv(env) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  child.stdin.end(stdin);
  return new Promise((resolve) => child.on('close', (code) => resolve({ exitCode: code ?? -1, stdout, stderr })));
}

export function runInThread(module: WebAssembly.Module, config: ProcessConfig, stdin = ''): RunResult {
  const effects = new MemoryEffects({ stdin });
  const outcome = runGuest(module, config, effects);
  return { exitCode: outcome.exitCode, stdout: effects.stdout, stderr: effects.stderr, outcome };
}

export async function runInWorker(module: WebAssembly.Module, config: ProcessConfig, stdin = ''): Promise<RunResult> {
  const out: Record<1 | 2, Buffer[]> = { 1: [], 2: [] };
  const outcome = await spawnGuest({
    module, config, stdin: new BufferStdin(stdin),
    onOutput: (stream, bytes) => { out[stream].push(Buffer.from(bytes)); },
  });
  return {
    exitCode: outcome.exitCode, outcome,
    stdout: Buffer.concat(out[1]).toString('utf8'), stderr: Buffer.concat(out[2]).toString('utf8'),
  };
}

/** A CLI child process that keeps running (servers, clusters), with what it has printed so far. */
export interface RunningCli {
  child: import('node:child_process').ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with `pattern`'s match once stderr shows it; rejects if the process exits first. */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

export function startCli(args: string[], env: Record<string, string> = {}): RunningCli {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: repoRoot, env: cliEnv(env) });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child, exited, stdout: () => out, stderr: () => err,
    waitFor: (pattern) => new Promise((resolve, reject) => {
      const look = () => {
        const m = pattern.exec(err);
        if (m) { child.stderr.off('data', look); resolve(m); }
      };
      child.stderr.on('data', look);
      look();
      void exited.then(() => reject(new Error(`exited before printing ${pattern}: ${err}`)));
    }),
  };
}

/**
 * A small WAT guest that says "step" (fd_write) and reads the clock: `$say` and `$tick` are its
 * two calls, `start` the body of its `_start`, `extra` more functions (record-replay, snapshot and
 * replay-shim tests build variants of it); what it says (WAT text, its length in bytes), the clock
 * read's precision and more imports can be given.
 */
export function stepsProgram(start: string, extra = '', { said = 'step\\n', saidBytes = 5, precision = 0, imports = '' } = {}): string {
  return `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))${imports}
  (memory (export "memory") 1)
  (data (i32.const 64) "${said}")
  (func $say (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const ${saidBytes}))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $tick (drop (call $clock (i32.const 1) (i64.const ${precision}) (i32.const 16))))${extra}
  (func (export "_start") ${start}))`;
}

/**
 * A program case's `record` command line in `dir`: the module and its directory copied there (so
 * that `cleanup` can take them away and the replay has only the trace), real clock and OS
 * entropy (a replay is right only if the trace is), the case's environment and seed, and `extra`.
 */
export function caseRecording(c: ProgramCase, dir: string, extra: string[] = []): { args: string[]; trace: string; cleanup(): void } {
  const module = join(dir, c.wasm.split('/').pop()!);
  copyFileSync(join(programsDir, c.wasm), module);
  const trace = join(dir, `${c.name}.rct`);
  const args = ['record', '--clock', 'real', '--random', 'os', '-o', trace, ...extra];
  for (const [k, v] of Object.entries(c.env)) args.push('--env', `${k}=${v}`);
  if (c.seed !== null) args.push('--seed', String(c.seed));
  let data: string | null = null;
  if (c.dataDir !== null) {
    data = join(dir, 'data');
    if (c.dataDir === 'empty') mkdirSync(data);
    else cpSync(join(programsDir, c.dataDir), data, { recursive: true });
    args.push('--dir', `${data}::/data`);
  }
  args.push(module, '--', ...c.args);
  return {
    args, trace,
    cleanup: () => {
      rmSync(module);
      if (data) rmSync(data, { recursive: true, force: true });
    },
  };
}

/**
 * A copy of a trace (TRACE-tampered.rct) with `mutate` applied to every decoded msgpack value,
 * chunk by chunk, re-framed with a valid CRC and trailer: what a replay must then catch.
 */
export function tamperTrace(path: string, mutate: (value: unknown[]) => void): string {
  const src = memorySource(readFileSync(path));
  const out: Uint8Array[] = [encodeFileHeader()];
  let at = 16;
  let written = 16;
  let footerOffset = 0;
  for (let chunk = readChunk(src, at); chunk; at = chunk.end, chunk = readChunk(src, at)) {
    const values = chunk.values as unknown[][];
    if (values[0]?.[0] === 10) footerOffset = written;
    values.forEach(mutate);
    const framed = encodeChunk(Buffer.concat(values.map((v) => pack(v))));
    out.push(framed);
    written += framed.length;
  }
  out.push(encodeTrailer(footerOffset));
  const tampered = path.replace(/\.rct$/, '-tampered.rct');
  writeFileSync(tampered, Buffer.concat(out));
  return tampered;
}

export interface BoundedCliResult { exitCode: number | null; signal: string | null; stdout: string; stderr: string }

/**
 * The CLI as the fuzz tests run it: killed after `hangMs` (a hang shows as SIGKILL), its output
 * kept up to a bound (a runaway guest's stdout must not fill the test's memory).
 */
export function runCliBounded(args: string[], options: { hangMs: number; env?: NodeJS.ProcessEnv; maxStdout?: number }): Promise<BoundedCliResult> {
  const maxStdout = options.maxStdout ?? 1e5;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: repoRoot, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { if (stdout.length < maxStdout) stdout += d; });
    child.stderr.on('data', (d) => { if (stderr.length < 1e5) stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.hangMs);
    child.on('close', (exitCode, signal) => { clearTimeout(timer); resolve({ exitCode, signal, stdout, stderr }); });
  });
}

/** Runs `jobs` two at a time (the machine is shared), results in the jobs' order. */
export async function inPairs<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => { while (next < jobs.length) { const i = next++; results[i] = await jobs[i]!(); } };
  await Promise.all([worker(), worker()]);
  return results;
}

/**
 * A test file's servers: `serve(args)` starts the CLI and resolves with it and the host port it
 * listens on; after each test, any still running gets Ctrl-C and is waited for.
 */
export function servers(env: Record<string, string> = {}): (args: string[]) => Promise<{ cli: RunningCli; port: number }> {
  const running: RunningCli[] = [];
  afterEach(async () => {
    for (const cli of running.splice(0)) {
      if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGINT');
      await cli.exited;
    }
  });
  return async (args) => {
    const cli = startCli(args, env);
    running.push(cli);
    const port = Number((await cli.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    return { cli, port };
  };
}
