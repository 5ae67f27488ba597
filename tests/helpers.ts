// Shared test plumbing: guest programs, and three ways to run them (CLI child process, worker
// thread, in-thread). Tests use the compiled runtime in dist/ (built by `npm test`), because
// guest workers must load compiled JavaScript.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

export function tempDir(prefix = 'replicode-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
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

export function runCli(args: string[], stdin = '', cwd = repoRoot): RunResult {
  const r = spawnSync(process.execPath, [cliPath, ...args], { input: stdin, cwd, encoding: 'utf8', timeout: 60_000 });
  return { exitCode: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
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
