// State hashes for checkpoints: what a guest's future depends on, hashed component by
// component so a mismatch can say which part differs.
import { createHash, hash as oneShotHash } from 'node:crypto';
import { memoryPageBytes, pageHashBytes, type StateDigest } from '../../formats/index.js';

export type { StateDigest };

// One-shot hashing (no Hash object: ~3x cheaper for the small inputs of a checkpoint).
const sha256 = (data: Uint8Array | string): Uint8Array => {
  const digest = oneShotHash('sha256', data, 'buffer') as unknown as Buffer;
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
};

/**
 * A digest kept with the text it was made from: the next call with the same text returns a copy
 * of it instead of computing it again. A checkpoint's globals, fds and mounts seldom change
 * between checkpoints, and hashing them afresh was ~10 of the ~45 µs a checkpoint took on the
 * guest's thread.
 */
export class LastDigest {
  private text: string | undefined;
  private digest: Uint8Array = new Uint8Array(0);

  of(text: string, compute: () => Uint8Array): Uint8Array {
    if (text !== this.text) {
      this.digest = compute();
      this.text = text;
    }
    return this.digest.slice();
  }
}

/** Exported globals in name order; values as text (v128 and references cannot be read from JS): the globals' hash is its SHA-256. */
export function globalsText(globals: [string, WebAssembly.Global][]): string {
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
  return parts.join('\n');
}

/** The memory hash of traces without page hashes: SHA-256 of the whole memory. */
export function digestMemory(memory: WebAssembly.Memory): Uint8Array {
  return sha256(new Uint8Array(memory.buffer));
}

/** Memory up to this size is kept as last hashed, so the next digest hashes only the pages that changed. */
export const pageCacheMaxBytes = 64 * 1024 * 1024;
const sha256Bytes = 32;

/** What a patch covers at least: a changed page is compared with its copy this much at a time. */
export const patchBlockBytes = 4096;

/**
 * The pages of a memory that changed since the last look (`PageChanges.diff`), for `PageDigests`
 * to hash. A page comes with its bytes (a view into the memory, valid until the guest runs
 * again), as the parts of it that changed (when the other side mirrors it), or as its SHA-256
 * taken at once (past a budget). `byteLength` -1: there is no memory.
 */
export interface MemoryChanges { byteLength: number; changed: PageChange[] }
/** Bytes at `offset` in their page. */
export interface PagePatch { offset: number; bytes: Uint8Array }
export type PageChange =
  | { page: number; bytes: Uint8Array; digest?: undefined; patches?: undefined }
  | { page: number; digest: Uint8Array; bytes?: undefined; patches?: undefined }
  | { page: number; patches: PagePatch[]; bytes?: undefined; digest?: undefined };

/**
 * Which pages of a memory changed since the last diff: each page is compared with a copy, so
 * nothing is assumed about how memory changed (a snapshot restored, a fault injected). Memory over
 * `maxCopyBytes` is not copied (the copy is as large as what it covers): every page counts as
 * changed each time.
 *
 * With `mirrored`, the reader keeps a mirror of the pages it was handed whole (PageDigests with a
 * mirror): a changed page it mirrors is handed over as the 4 KiB blocks of it that changed. A
 * recording diffs on the guest's thread and hashes on the main thread
 * (runtime/trace/checkpoint-parts.ts): comparing a 64 KiB page costs ~1.5 us, hashing it ~39.
 */
export class PageChanges {
  private copy: Buffer = Buffer.alloc(0);
  /** With a mirroring reader: 1 for each page it holds as our copy does. */
  private mirror: Uint8Array | undefined;
  /** A view of the memory's buffer, made again only when the memory grew (a new buffer). */
  private view: { buffer: ArrayBuffer; bytes: Buffer } | undefined;

  constructor(private readonly maxCopyBytes = pageCacheMaxBytes, mirrored = false) {
    if (mirrored) this.mirror = new Uint8Array(0);
  }

  /** `budget`: bytes handed over (whole pages, changed blocks); the pages past it come hashed. */
  diff(memory: WebAssembly.Memory, budget = Infinity): MemoryChanges {
    const buffer = memory.buffer;
    if (this.view?.buffer !== buffer) this.view = { buffer, bytes: Buffer.from(buffer) };
    const { bytes } = this.view;
    const count = Math.ceil(bytes.length / memoryPageBytes);
    const keep = bytes.length <= this.maxCopyBytes;
    const known = keep ? Math.min(count, this.copy.length / memoryPageBytes) : 0;
    if (keep && this.copy.length !== count * memoryPageBytes) this.resize(count);
    if (!keep) {
      this.copy = Buffer.alloc(0);
      if (this.mirror) this.mirror = new Uint8Array(0);
    }
    const { copy, mirror } = this;
    const changed: PageChange[] = [];
    for (let page = 0, handed = 0; page < count; page++) {
      const from = page * memoryPageBytes;
      const data = bytes.subarray(from, from + memoryPageBytes);
      const whole = page < known && data.length === memoryPageBytes;
      if (whole && bytes.compare(copy, from, from + memoryPageBytes, from, from + memoryPageBytes) === 0) continue;
      const patches = whole && mirror?.[page] ? changedBlocks(bytes, copy, from) : undefined;
      let size = data.length;
      if (patches) {
        // Our copy takes the changed blocks only (the rest of the page is the same).
        size = 0;
        for (const patch of patches) {
          copy.set(patch.bytes, from + patch.offset);
          size += patch.bytes.length;
        }
      } else if (keep) copy.set(data, from);
      const handOver = handed + size <= budget;
      if (mirror) mirror[page] = keep && handOver ? 1 : 0;
      if (!handOver) changed.push({ page, digest: sha256(data) });
      else {
        changed.push(patches ? { page, patches } : { page, bytes: data });
        handed += size;
      }
    }
    return { byteLength: bytes.length, changed };
  }

  /** Memory grew (or shrank: another memory): the copy covers `count` pages, the known ones kept. */
  private resize(count: number): void {
    this.copy = resized(this.copy, count * memoryPageBytes);
    if (this.mirror) this.mirror = resized(this.mirror, count);
  }
}

/** The runs of `patchBlockBytes` blocks of the page at `from` where `bytes` differs from `copy` (views into `bytes`). */
function changedBlocks(bytes: Buffer, copy: Buffer, from: number): PagePatch[] {
  const patches: PagePatch[] = [];
  let run = -1;
  for (let at = from; at <= from + memoryPageBytes; at += patchBlockBytes) {
    const differs = at < from + memoryPageBytes && bytes.compare(copy, at, at + patchBlockBytes, at, at + patchBlockBytes) !== 0;
    if (differs && run < 0) run = at;
    if (!differs && run >= 0) {
      patches.push({ offset: run - from, bytes: bytes.subarray(run, at) });
      run = -1;
    }
  }
  return patches;
}

/**
 * Memory hashed a 64 KiB page at a time, from the changes PageChanges finds: each page's SHA-256,
 * of which the first `pageHashBytes` are kept as its page hash, and the memory hash = SHA-256 of
 * all the pages' whole SHA-256s in order (so it keeps SHA-256's strength; the short page hashes
 * only name pages). A page not in the changes keeps its SHA-256 from before. With `mirrored` (as
 * the PageChanges that feeds it), the pages handed over whole are kept, to which the changed
 * blocks handed over later are applied before the page is hashed again.
 */
export class PageDigests {
  /** Each page's whole SHA-256 (32 bytes). */
  private digests: Buffer = Buffer.alloc(0);
  private mirror: Buffer | undefined;

  constructor(private readonly maxMirrorBytes = pageCacheMaxBytes, mirrored = false) {
    if (mirrored) this.mirror = Buffer.alloc(0);
  }

  apply(changes: MemoryChanges): { memory: Uint8Array; pages: Uint8Array } {
    if (changes.byteLength < 0) return { memory: new Uint8Array(32), pages: new Uint8Array(0) };
    const count = Math.ceil(changes.byteLength / memoryPageBytes);
    this.digests = resized(this.digests, count * sha256Bytes);
    if (this.mirror) this.mirror = resized(this.mirror, changes.byteLength <= this.maxMirrorBytes ? count * memoryPageBytes : 0);
    const { mirror } = this;
    for (const change of changes.changed) {
      const from = change.page * memoryPageBytes;
      let digest = change.digest;
      if (change.bytes) {
        if (mirror?.length) mirror.set(change.bytes, from);
        digest = sha256(change.bytes);
      } else if (change.patches) {
        if (!mirror?.length) throw new Error(`RepliCode bug: page ${change.page} patched but not mirrored`);
        for (const patch of change.patches) mirror.set(patch.bytes, from + patch.offset);
        digest = sha256(mirror.subarray(from, from + memoryPageBytes));
      }
      this.digests.set(digest!, change.page * sha256Bytes);
    }
    const pages = new Uint8Array(count * pageHashBytes);
    for (let page = 0; page < count; page++) pages.set(this.digests.subarray(page * sha256Bytes, page * sha256Bytes + pageHashBytes), page * pageHashBytes);
    return { memory: sha256(this.digests), pages };
  }
}

/** `buffer` at `length` bytes, what it held kept (zeros past it). */
function resized<T extends Uint8Array>(buffer: T, length: number): T | Buffer {
  if (buffer.length === length) return buffer;
  const next = Buffer.alloc(length);
  next.set(buffer.subarray(0, length));
  return next;
}

/** Both halves in one thread (replay, the hashing session): only the pages that changed are hashed again. */
export class PageHasher {
  private readonly changes: PageChanges;
  private readonly digests = new PageDigests();

  constructor(maxCopyBytes = pageCacheMaxBytes) {
    this.changes = new PageChanges(maxCopyBytes);
  }

  digest(memory: WebAssembly.Memory): { memory: Uint8Array; pages: Uint8Array } {
    return this.digests.apply(this.changes.diff(memory));
  }
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
  // The same bytes as an incremental hash fed part by part, hashed in one go.
  return sha256(Buffer.concat([previous, Buffer.from(`${number} ${event}`), d.memory, d.globals, d.fds, d.fs, d.stdout, d.stderr]));
}

/** Names of the components that differ between two digests. */
export function differingComponents(a: StateDigest, b: StateDigest): (keyof StateDigest)[] {
  const same = (x: Uint8Array, y: Uint8Array) => x.length === y.length && x.every((v, i) => v === y[i]);
  return (['memory', 'globals', 'fds', 'fs', 'stdout', 'stderr'] as const).filter((k) => !same(a[k], b[k]));
}

/** Bytes an OutputHasher gathers before it hashes them. */
const outputStagingBytes = 64 * 1024;
/** The first bytes of a stream take the long way in (see OutputHasher.add). */
const warmUpBytes = 64;

/** Incremental SHA-256 of an output stream, fed in 64 KiB blocks so tiny writes stay cheap. */
export class OutputHasher {
  private readonly hash = createHash('sha256');
  private readonly staging = new Uint8Array(outputStagingBytes);
  private staged = 0;
  private room = 0;
  private last: { bytes: number; digest: Uint8Array } | undefined;
  bytes = 0;

  /**
   * Small enough for V8 to inline into a guest's write: a short write is staged, the rest goes to
   * addLong. `room` is 0 for the first `warmUpBytes`, which so go the long way: V8 has then seen
   * that branch before it optimises the write path, and does not deoptimise it 64 KiB later (V8
   * records what a function does only from its 8th call on).
   */
  add(data: Uint8Array, from = 0, n = data.length): void {
    const at = this.staged;
    if (n > 16 || at + n > this.room) return this.addLong(from === 0 && n === data.length ? data : data.subarray(from, from + n));
    // A loop beats TypedArray.set for the one-byte writes chatty programs make.
    for (let i = 0; i < n; i++) this.staging[at + i] = data[from + i]!;
    this.staged = at + n;
    this.bytes += n;
  }

  digest(): Uint8Array {
    // A stream not written since (stderr, most often) keeps its digest: no Hash copied.
    if (this.last?.bytes !== this.bytes) {
      this.drain();
      this.last = { bytes: this.bytes, digest: new Uint8Array(this.hash.copy().digest()) };
    }
    return this.last.digest.slice();
  }

  private addLong(data: Uint8Array): void {
    this.bytes += data.length;
    if (this.bytes >= warmUpBytes) this.room = outputStagingBytes;
    if (this.staged + data.length > outputStagingBytes) {
      this.drain();
      if (data.length > outputStagingBytes) { this.hash.update(data); return; }
    }
    this.staging.set(data, this.staged);
    this.staged += data.length;
  }

  private drain(): void {
    if (this.staged === 0) return;
    this.hash.update(this.staging.subarray(0, this.staged));
    this.staged = 0;
  }
}
