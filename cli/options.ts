// Pure parsing of the run options shared by run (and later record/cluster) into a ProcessConfig.
import * as path from 'node:path';
import { maxMaxThreads, maxQuantum, defaultEpochNs, defaultMaxMemoryBytes, defaultMaxStackBytes, maxFuelLimit, maxMaxStackBytes, maxClockNs, defaultSeed, faultsBeyondMemory, FaultSpecError, parseFault, processConfig, type Preopen, type ProcessConfig } from '../runtime/index.js';

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

// YYYY-MM-DD[(T| )HH:MM[:SS[.fraction]]][Z|+HH:MM|-HH:MM]; anything else (Date.parse's guesses,
// local time) would make the guest's clock depend on the host.
const isoDate = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/** An ISO-8601 date (UTC unless it says otherwise) as ns since the Unix epoch, 1970 to 2554. */
export function parseEpoch(text: string | undefined): bigint {
  if (text === undefined) return defaultEpochNs;
  const bad = (why: string) => new UsageError(`--epoch ${text}: ${why}`);
  const m = isoDate.exec(text.trim());
  if (!m) throw bad('expected an ISO date such as 2020-01-01T00:00:00Z');
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((v) => Number(v ?? 0)) as [number, number, number, number, number, number];
  const zone = /^([+-])(\d{2}):?(\d{2})$/.exec(m[8] ?? '');
  const offsetMinutes = zone ? (zone[1] === '-' ? -1 : 1) * (Number(zone[2]) * 60 + Number(zone[3])) : 0;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59 || Math.abs(offsetMinutes) >= 24 * 60) {
    throw bad('no such date or time');
  }
  const ms = Date.UTC(year, month - 1, day, hour, minute, second) - offsetMinutes * 60_000;
  if (ms < 0) throw bad('dates before 1970 are not supported');
  const ns = BigInt(ms) * 1_000_000n + BigInt((m[7] ?? '').padEnd(9, '0'));
  if (ns > maxClockNs) throw bad("after 2554-07-21T23:34:33.709551615Z, the last instant the guest's 64-bit nanosecond clock can hold");
  return ns;
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
  maxMemoryMiB?: string | number | undefined;
  /** --max-stack, in MiB (default 8). */
  maxStackMiB?: string | number | undefined;
  /** --max-fuel (default: no fuel counting). */
  maxFuel?: string | number | undefined;
  /** --quantum, --max-threads (wasi-threads modules; defaults in runtime/). */
  quantum?: string | number | undefined;
  maxThreads?: string | number | undefined;
  /** NaN canonicalisation (default on; --no-canonical-nans). */
  canonicalNans?: boolean;
  clock?: 'virtual' | 'real';
  random?: 'seeded' | 'os';
  /** serve's --idle-timeout, in milliseconds (runtime/p2/serve.ts); absent for the other commands. */
  httpIdleTimeoutMs?: number;
  /** serve's loop revision (runtime/p2/serve.ts httpServeRevision); absent for the other commands. */
  httpServeRevision?: number;
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
    ...(options.maxFuel !== undefined ? { maxFuel: parseCount('max-fuel', options.maxFuel, 1, maxFuelLimit) } : {}),
    ...(options.quantum !== undefined ? { quantum: parseCount('quantum', options.quantum, 1, maxQuantum) } : {}),
    ...(options.maxThreads !== undefined ? { maxThreads: parseCount('max-threads', options.maxThreads, 1, maxMaxThreads) } : {}),
    canonicalNans: options.canonicalNans ?? true,
    ...(options.httpIdleTimeoutMs !== undefined ? { httpIdleTimeoutMs: options.httpIdleTimeoutMs } : {}),
    ...(options.httpServeRevision !== undefined ? { httpServeRevision: options.httpServeRevision } : {}),
  });
}

/**
 * A whole-number option (`--checkpoint-every`, `--to`, `--limit`...), given as the text typed
 * (options are declared as strings, so `abc` is echoed as typed rather than as NaN): decimal
 * digits only, from `min` to `max`.
 */
export function parseCount(name: string, value: unknown, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const text = Array.isArray(value) ? value.map(String).join(' ') : String(value);
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`--${name} ${text}: expected a whole number ${range}`);
  }
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

/** Largest --max-memory: wasm32's 4 GiB. */
const maxMemoryLimitMiB = 4096;

/** `--max-memory MIB`: 1 to 4096 (wasm32's 4 GiB); default 1 GiB. */
export function parseMaxMemory(mib: string | number | undefined): number {
  if (mib === undefined) return defaultMaxMemoryBytes;
  return parseCount('max-memory', mib, 1, maxMemoryLimitMiB) * 1024 * 1024;
}

/** `--max-stack MIB`: 1 to 256 MiB of counted frames (runtime/rewrite/stack-limit.ts); default 8 MiB. */
export function parseMaxStack(mib: string | number | undefined): number {
  if (mib === undefined) return defaultMaxStackBytes;
  return parseCount('max-stack', mib, 1, maxMaxStackBytes / 2 ** 20) * 1024 * 1024;
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

/** A bitflip aimed past the most memory the module can ever have could never flip anything. */
export function refuseFaultsBeyondMemory(specs: readonly string[], memoryLimitBytes: number, modulePath: string): void {
  const [beyond] = faultsBeyondMemory(specs, memoryLimitBytes);
  if (beyond !== undefined) {
    throw new UsageError(`--inject ${beyond}: the address is past the most memory ${modulePath} can have (${memoryLimitBytes} bytes, see --max-memory)`);
  }
}
