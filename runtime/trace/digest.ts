// State hashes for checkpoints: what a guest's future depends on, hashed component by
// component so a mismatch can say which part differs.
import { createHash } from 'node:crypto';
import { memoryPageBytes, pageHashBytes, type StateDigest } from '../../formats/index.js';

export type { StateDigest };

const sha256 = (data: Uint8Array | string): Uint8Array => new Uint8Array(createHash('sha256').update(data).digest());

/** Exported globals in name order; values as text (v128 and references cannot be read from JS). */
export function digestGlobals(globals: [string, WebAssembly.Global][]): Uint8Array {
  const parts = globals.map(([name, g]) => {
    let value: string;
    try {
      const v: unknown = g.value;
      value = typeof v === 'number' ? (Object.is(v, -0) ? '-0' : Number.isNaN(v) ? 'NaN' : String(v)) : typeof v === 'bigint' ? `${v}n` : 'ref';
    } catch {
      value = 'unreadable';
    }
    return `${name}=${value}`;
  });
  return sha256(parts.join('\n'));
}

/** The memory hash of traces without page hashes: SHA-256 of the whole memory. */
export function digestMemory(memory: WebAssembly.Memory): Uint8Array {
  return sha256(new Uint8Array(memory.buffer));
}

/**
 * Memory read once, a 64 KiB page at a time: each page's SHA-256, of which the first
 * `pageHashBytes` are kept as its page hash, and the memory hash = SHA-256 of all the pages'
 * whole SHA-256s in order (so it keeps SHA-256's strength; the short page hashes only name pages).
 */
export function digestMemoryPages(memory: WebAssembly.Memory): { memory: Uint8Array; pages: Uint8Array } {
  const bytes = new Uint8Array(memory.buffer);
  const count = Math.ceil(bytes.length / memoryPageBytes);
  const pages = new Uint8Array(count * pageHashBytes);
  const all = createHash('sha256');
  for (let page = 0; page < count; page++) {
    const digest = createHash('sha256').update(bytes.subarray(page * memoryPageBytes, (page + 1) * memoryPageBytes)).digest();
    all.update(digest);
    pages.set(digest.subarray(0, pageHashBytes), page * pageHashBytes);
  }
  return { memory: new Uint8Array(all.digest()), pages };
}

/** A run of consecutive pages, `first` to `last` inclusive. */
export interface PageRun { first: number; last: number }

/** The pages whose hashes differ (a page only one side has differs), as runs; at most `limit` runs. */
export function differingPages(a: Uint8Array, b: Uint8Array, limit = 64): PageRun[] {
  const count = Math.max(a.length, b.length) / pageHashBytes;
  const runs: PageRun[] = [];
  for (let page = 0; page < count && runs.length <= limit; page++) {
    const at = page * pageHashBytes;
    let same = at + pageHashBytes <= a.length && at + pageHashBytes <= b.length;
    for (let i = at; same && i < at + pageHashBytes; i++) same = a[i] === b[i];
    if (same) continue;
    const last = runs[runs.length - 1];
    if (last && last.last === page - 1) last.last = page;
    else runs.push({ first: page, last: page });
  }
  return runs.slice(0, limit);
}

/** "pages 3, 17-18 (0x30000-0x3ffff, 0x110000-0x12ffff)". */
export function describePages(runs: PageRun[]): string {
  const names = runs.map((r) => (r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`));
  const spans = runs.map((r) => `0x${(r.first * memoryPageBytes).toString(16)}-0x${((r.last + 1) * memoryPageBytes - 1).toString(16)}`);
  const one = runs.length === 1 && runs[0]!.first === runs[0]!.last;
  return `${one ? 'page' : 'pages'} ${names.join(', ')} (${spans.join(', ')})`;
}

export { sha256 };

/** The chained checkpoint hash: SHA-256(previous chain || number || event || each component). */
export function chainHash(previous: Uint8Array, number: number, event: number, d: StateDigest): Uint8Array {
  const hash = createHash('sha256');
  hash.update(previous);
  hash.update(`${number} ${event}`);
  for (const part of [d.memory, d.globals, d.fds, d.fs, d.stdout, d.stderr]) hash.update(part);
  return new Uint8Array(hash.digest());
}

/** Names of the components that differ between two digests. */
export function differingComponents(a: StateDigest, b: StateDigest): (keyof StateDigest)[] {
  const same = (x: Uint8Array, y: Uint8Array) => x.length === y.length && x.every((v, i) => v === y[i]);
  return (['memory', 'globals', 'fds', 'fs', 'stdout', 'stderr'] as const).filter((k) => !same(a[k], b[k]));
}

/** Incremental SHA-256 of an output stream, fed in 64 KiB blocks so tiny writes stay cheap. */
export class OutputHasher {
  private readonly hash = createHash('sha256');
  private readonly staging = new Uint8Array(64 * 1024);
  private staged = 0;
  bytes = 0;

  add(data: Uint8Array): void {
    this.bytes += data.length;
    if (this.staged + data.length > this.staging.length) {
      this.drain();
      if (data.length > this.staging.length) { this.hash.update(data); return; }
    }
    if (data.length <= 16) {
      // A loop beats TypedArray.set for the one-byte writes chatty programs make.
      for (let i = 0; i < data.length; i++) this.staging[this.staged + i] = data[i]!;
    } else {
      this.staging.set(data, this.staged);
    }
    this.staged += data.length;
  }

  digest(): Uint8Array {
    this.drain();
    return new Uint8Array(this.hash.copy().digest());
  }

  private drain(): void {
    if (this.staged === 0) return;
    this.hash.update(this.staging.subarray(0, this.staged));
    this.staged = 0;
  }
}
