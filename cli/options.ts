// Pure parsing of the run options shared by run (and later record/cluster) into a ProcessConfig.
import * as path from 'node:path';
import { defaultEpochNs, defaultMaxMemoryBytes, defaultMaxStackBytes, maxMaxStackBytes, defaultSeed, FaultSpecError, parseFault, processConfig, type Preopen, type ProcessConfig } from '../runtime/index.js';

/** A command-line value the user must fix; printed as one line, exit code 1. */
export class UsageError extends Error {}

/** `HOST[::GUEST]`: preopen HOST as GUEST (default: HOST as written). */
export function parseDirSpec(spec: string): Preopen {
  const at = spec.indexOf('::');
  const hostPath = at < 0 ? spec : spec.slice(0, at);
  const guestPath = at < 0 ? spec : spec.slice(at + 2);
  if (hostPath === '' || guestPath === '') throw new UsageError(`--dir ${spec}: expected HOST or HOST::GUEST`);
  return { hostPath, guestPath };
}

/** `KEY=VALUE`; the key must be non-empty and contain no '='. */
export function parseEnvSpec(spec: string): string {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new UsageError(`--env ${spec}: expected KEY=VALUE`);
  return spec;
}

const maxU64 = (1n << 64n) - 1n;

/** A seed: an unsigned 64-bit integer, decimal or 0x-hex. */
export function parseSeed(text: string | number | undefined): bigint {
  if (text === undefined) return defaultSeed;
  const s = String(text).trim();
  if (!/^(\d+|0x[0-9a-fA-F]+)$/.test(s)) throw new UsageError(`--seed ${s}: expected an unsigned integer`);
  const value = BigInt(s);
  if (value > maxU64) throw new UsageError(`--seed ${s}: larger than 2^64-1`);
  return value;
}

/** An ISO-8601 date (UTC unless it says otherwise) as ns since the Unix epoch, not before 1970. */
export function parseEpoch(text: string | undefined): bigint {
  if (text === undefined) return defaultEpochNs;
  const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(ms)) throw new UsageError(`--epoch ${text}: expected an ISO date such as 2020-01-01T00:00:00Z`);
  if (ms < 0) throw new UsageError(`--epoch ${text}: dates before 1970 are not supported`);
  return BigInt(ms) * 1_000_000n;
}

export interface RunOptions {
  module: string;
  args: string[];
  dir: string[];
  env: string[];
  argv0: string | undefined;
  seed: string | number | undefined;
  epoch: string | undefined;
  writeBack: boolean;
  /** --host NAME=IP specs. */
  hosts?: string[];
  /** --max-memory, in MiB (default 1024). */
  maxMemoryMiB?: number | undefined;
  /** --max-stack, in MiB (default 8). */
  maxStackMiB?: number | undefined;
  clock?: 'virtual' | 'real';
  random?: 'seeded' | 'os';
}

export function toProcessConfig(options: RunOptions): ProcessConfig {
  return processConfig({
    args: [options.argv0 ?? path.basename(options.module), ...options.args],
    env: options.env.map(parseEnvSpec),
    seed: parseSeed(options.seed),
    epochNs: parseEpoch(options.epoch),
    preopens: options.dir.map(parseDirSpec),
    writeBack: options.writeBack,
    clock: options.clock ?? 'virtual',
    random: options.random ?? 'seeded',
    ...(options.hosts?.length ? { hosts: options.hosts.map(parseHostSpec) } : {}),
    maxMemoryBytes: parseMaxMemory(options.maxMemoryMiB),
    maxStackBytes: parseMaxStack(options.maxStackMiB),
  });
}

/** A positive integer option (`--checkpoint-every`, `--to`, `--limit`...). */
export function parseCount(name: string, value: unknown, min = 1): number {
  const n = typeof value === 'number' ? value : Number(String(value));
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} ${String(value)}: expected an integer >= ${min}`);
  return n;
}

/** `HOST:PORT=VPORT` (HOST may be omitted: 127.0.0.1): clients connecting there reach guest port VPORT. */
/** `[udp:][HOST:]PORT=VPORT` (TCP unless it starts with `udp:`). */
export function parseListenSpec(spec: string): { host: string; port: number; vport: number; protocol?: 'udp' } {
  const udp = spec.startsWith('udp:');
  const rest = udp ? spec.slice(4) : spec.startsWith('tcp:') ? spec.slice(4) : spec;
  const m = /^(?:(.*):)?(\d+)=(\d+)$/.exec(rest);
  const port = m ? Number(m[2]) : NaN;
  const vport = m ? Number(m[3]) : NaN;
  if (!m || port > 65535 || vport < 1 || vport > 65535) throw new UsageError(`--listen ${spec}: expected [udp:]HOST:PORT=VPORT, e.g. 127.0.0.1:8080=80`);
  return { host: m[1] || '127.0.0.1', port, vport, ...(udp ? { protocol: 'udp' as const } : {}) };
}

/** `--max-memory MIB`: 1 to 4096 (wasm32's 4 GiB); default 1 GiB. */
export function parseMaxMemory(mib: number | undefined): number {
  if (mib === undefined) return defaultMaxMemoryBytes;
  if (!Number.isInteger(mib) || mib < 1 || mib > 4096) throw new UsageError(`--max-memory ${mib}: expected a whole number of MiB from 1 to 4096`);
  return mib * 1024 * 1024;
}

/** `--max-stack MIB`: 1 to 256 MiB of counted frames (runtime/rewrite/stack-limit.ts); default 8 MiB. */
export function parseMaxStack(mib: number | undefined): number {
  if (mib === undefined) return defaultMaxStackBytes;
  const most = maxMaxStackBytes / 2 ** 20;
  if (!Number.isInteger(mib) || mib < 1 || mib > most) throw new UsageError(`--max-stack ${mib}: expected a whole number of MiB from 1 to ${most}`);
  return mib * 1024 * 1024;
}

/** `--host NAME=IP`: a name sock_getaddrinfo resolves (an /etc/hosts line). */
export function parseHostSpec(spec: string): [string, string] {
  const m = /^([A-Za-z0-9][A-Za-z0-9.-]*)=(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(spec);
  if (!m || m[2]!.split('.').some((p) => Number(p) > 255)) throw new UsageError(`--host ${spec}: expected NAME=a.b.c.d, e.g. backend=10.77.0.2`);
  return [m[1]!, m[2]!];
}

/** Applies `--inject` specs to a configuration: `seed:N` changes the seed, the others travel as faults. */
export function withFaults(config: ProcessConfig, specs: string[]): ProcessConfig {
  if (specs.length === 0) return config;
  const faults: string[] = [];
  let seed = config.seed;
  for (const spec of specs) {
    let fault;
    try {
      fault = parseFault(spec);
    } catch (err) {
      if (err instanceof FaultSpecError) throw new UsageError(err.message);
      throw err;
    }
    if (fault.kind === 'seed') seed = fault.seed;
    else faults.push(spec);
  }
  return { ...config, seed, ...(faults.length ? { faults } : {}) };
}
