// State hashes for checkpoints: what a guest's future depends on, hashed component by
// component so a mismatch can say which part differs.
import { createHash } from 'node:crypto';
import type { StateDigest } from '../../formats/index.js';

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

export function digestMemory(memory: WebAssembly.Memory): Uint8Array {
  return sha256(new Uint8Array(memory.buffer));
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
