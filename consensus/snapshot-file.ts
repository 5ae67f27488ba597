// A replica's snapshot on disk (what the in-memory catch-up keeps: cluster.ts ReplicaSnapshot),
// so a node restarted as a new process resumes from it. One file per snapshot, written under a
// temporary name and renamed, so a file under its final name is whole unless the disk damaged it.
//
// Layout (little-endian), docs/cluster.md "Snapshots on disk":
//   0  magic "RCSNAP\0\0"            8 bytes
//   8  format version (2)            u16: the kernel state's (snapshotFormatVersion), which the body holds
//  10  reserved (0)                  u16
//  12  identity length I             u32
//  16  body length B                 u32
//  20  CRC-32 of the identity        u32
//  24  CRC-32 of the body            u32
//  28  identity: UTF-8 JSON (SnapshotIdentity)
//  28+I body: v8 serialization of the snapshot's fields, then its pages (64 KiB each, in the order
//      the body's `pageHashes` lists them)
// A damaged, truncated or foreign file is refused with one line naming the byte offset; the
// reader falls back to an older file or to the whole log.
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { crc32 } from 'node:zlib';
import { InternalError, listNames, readWhole, regularFileSize, removePath, renamePath, sha256, snapshotFormatVersion, writeSynced } from '../runtime/index.js';
import type { ReplicaSnapshot } from './cluster.js';

export const snapshotFileMagic = 'RCSNAP\0\0';
/** The body holds kernel states, restored only into a run of their own version: a file from another is refused (and the log replayed). */
export const snapshotFileVersion = snapshotFormatVersion;
const headerBytes = 28;
const pageBytes = 64 * 1024;
/** Snapshot files kept per replica, the newest (the older ones are deleted once a newer one is written). */
export const maxSnapshotFiles = 3;
/**
 * The largest snapshot file written or read: a larger snapshot is not written (one line says so;
 * restarts use an older one or the log), and a header claiming more is refused before anything
 * is allocated. With maxSnapshotFiles, a replica's directory holds at most 3 x 1 GiB.
 */
export const maxSnapshotFileBytes = 1024 * 1024 * 1024;
/** Longest identity: a few hashes and numbers. */
const maxIdentityBytes = 64 * 1024;

/** What a snapshot is of: a file whose machine or cluster differs is foreign and never loaded. */
export interface SnapshotIdentity {
  /** SHA-256 (hex) of the processes' modules and configuration (machineFingerprint). */
  machine: string;
  cluster: string;
  replica: number;
  batch: number;
  /** The replica's state hash at that batch, as it published it. */
  hash: string;
  /** The log position of its last batch (etcd: the entry's create revision), if the log gives one. */
  position?: number;
}

/** A snapshot file that cannot be used, with the byte offset where it goes wrong. */
export class SnapshotFileError extends Error {
  constructor(readonly reason: string, readonly offset: number) {
    super(`${reason} (at byte ${offset})`);
  }
}

/** A fingerprint of what the replicas run: module bytes and every configuration field (functions left out). */
export function machineFingerprint(parts: { moduleBytes: Uint8Array; config: unknown }[], replicas: number): string {
  const config = JSON.stringify({ replicas, configs: parts.map((p) => p.config) }, (_key, value: unknown) =>
    typeof value === 'bigint' ? `${value}n` : typeof value === 'function' ? undefined : value instanceof Map ? [...value] : value);
  const hashes = parts.map((p) => Buffer.from(sha256(p.moduleBytes)).toString('hex'));
  return Buffer.from(sha256(new TextEncoder().encode(`${hashes.join(',')}|${config}`))).toString('hex');
}

interface Body extends Omit<ReplicaSnapshot, 'processes' | 'agreed'> {
  processes: [number, ReplicaSnapshot['processes'] extends Map<number, infer S> ? S : never][];
  pageHashes: string[];
}

/** The file's bytes: header, identity, body (the snapshot's pages, each once, by hash). */
export function encodeSnapshotFile(identity: SnapshotIdentity, snapshot: ReplicaSnapshot, page: (hash: string) => Uint8Array): Uint8Array[] {
  const pageHashes = [...new Set([...snapshot.processes.values()].flatMap((p) => p.pages))];
  const { agreed: _agreed, processes, ...rest } = snapshot;
  const body: Body = { ...rest, processes: [...processes], pageHashes };
  const fields = serialize(body);
  const pages = pageHashes.map((h) => {
    const bytes = page(h);
    assert(bytes.length === pageBytes, `page ${h} holds ${bytes.length} bytes, not ${pageBytes}`);
    return bytes;
  });
  const id = Buffer.from(JSON.stringify(identity));
  const bodyLength = 4 + fields.length + pages.length * pageBytes;
  assert(id.length <= maxIdentityBytes, 'a snapshot identity of more than 64 KiB');
  const fieldsLength = new Uint8Array(4);
  new DataView(fieldsLength.buffer).setUint32(0, fields.length, true);
  let bodyCrc = crc32(fields, crc32(fieldsLength));
  for (const p of pages) bodyCrc = crc32(p, bodyCrc);
  const header = new Uint8Array(headerBytes);
  const view = new DataView(header.buffer);
  header.set(Buffer.from(snapshotFileMagic, 'latin1'));
  view.setUint16(8, snapshotFileVersion, true);
  view.setUint32(12, id.length, true);
  view.setUint32(16, Math.min(bodyLength, 0xffff_ffff), true);
  view.setUint32(20, crc32(id), true);
  view.setUint32(24, bodyCrc, true);
  return [header, id, fieldsLength, fields, ...pages];
}

/** Reads the header and identity (no more): a file that is not a whole snapshot of ours says where. */
export function decodeSnapshotIdentity(bytes: Uint8Array, expect: { machine: string; cluster: string; replica: number }): SnapshotIdentity {
  if (bytes.length < headerBytes) throw new SnapshotFileError(`not a snapshot: only ${bytes.length} bytes`, bytes.length);
  if (Buffer.from(bytes.subarray(0, 8)).toString('latin1') !== snapshotFileMagic) throw new SnapshotFileError('not a RepliCode snapshot (bad magic)', 0);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(8, true);
  if (version !== snapshotFileVersion) throw new SnapshotFileError(`snapshot format version ${version}, this RepliCode reads ${snapshotFileVersion}`, 8);
  const idLength = view.getUint32(12, true);
  const bodyLength = view.getUint32(16, true);
  if (idLength > maxIdentityBytes || headerBytes + idLength + bodyLength > maxSnapshotFileBytes) throw new SnapshotFileError(`snapshot header claims ${idLength} + ${bodyLength} bytes, more than allowed`, 12);
  const end = headerBytes + idLength + bodyLength;
  if (bytes.length < end) throw new SnapshotFileError(`snapshot is truncated: ${bytes.length} of ${end} bytes`, bytes.length);
  if (bytes.length > end) throw new SnapshotFileError(`snapshot has ${bytes.length - end} bytes past its end`, end);
  const id = bytes.subarray(headerBytes, headerBytes + idLength);
  if (crc32(id) !== view.getUint32(20, true)) throw new SnapshotFileError('snapshot identity is damaged (CRC mismatch)', headerBytes);
  let identity: SnapshotIdentity;
  try {
    identity = JSON.parse(Buffer.from(id).toString('utf8')) as SnapshotIdentity;
  } catch {
    throw new SnapshotFileError('snapshot identity is not JSON', headerBytes);
  }
  for (const key of ['machine', 'cluster', 'replica'] as const) {
    if (identity[key] !== expect[key]) throw new SnapshotFileError(`snapshot of another ${key} (${String(identity[key])}, this is ${expect[key]})`, headerBytes);
  }
  if (!Number.isSafeInteger(identity.batch) || identity.batch < 1 || typeof identity.hash !== 'string') throw new SnapshotFileError('snapshot identity names no batch and hash', headerBytes);
  return identity;
}

/** The whole file: identity, snapshot and its pages; refuses a file that is not wholly right. */
export function decodeSnapshotFile(file: Uint8Array, expect: { machine: string; cluster: string; replica: number }): { identity: SnapshotIdentity; snapshot: ReplicaSnapshot; pages: Map<string, Uint8Array> } {
  // A plain view (not a Buffer, as readFile gives): the pages sliced from it are plain Uint8Arrays.
  const bytes = new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
  const identity = decodeSnapshotIdentity(bytes, expect);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = headerBytes + view.getUint32(12, true);
  const body = bytes.subarray(at);
  if (crc32(body) !== view.getUint32(24, true)) throw new SnapshotFileError('snapshot body is damaged (CRC mismatch)', at);
  const fieldsLength = body.length >= 4 ? new DataView(body.buffer, body.byteOffset).getUint32(0, true) : Infinity;
  if (4 + fieldsLength > body.length) throw new SnapshotFileError('snapshot body is shorter than its fields', at);
  let fields: Body;
  try {
    fields = deserialize(body.subarray(4, 4 + fieldsLength)) as Body;
  } catch (err) {
    throw new SnapshotFileError(`snapshot fields do not decode (${(err as Error).message})`, at + 4);
  }
  const pagesAt = 4 + fieldsLength;
  if (!Array.isArray(fields.pageHashes) || body.length - pagesAt !== fields.pageHashes.length * pageBytes) {
    throw new SnapshotFileError('snapshot pages do not match its page list', at + pagesAt);
  }
  if (fields.batch !== identity.batch || fields.hash !== identity.hash) throw new SnapshotFileError('snapshot body is of another batch than its identity', at + 4);
  const pages = new Map<string, Uint8Array>();
  fields.pageHashes.forEach((h, i) => pages.set(h, body.slice(pagesAt + i * pageBytes, pagesAt + (i + 1) * pageBytes)));
  const { pageHashes: _hashes, processes, ...rest } = fields;
  return { identity, snapshot: { ...rest, processes: new Map(processes) }, pages };
}

const fileName = (replica: number, batch: number) => `replica-${replica}-${String(batch).padStart(12, '0')}.snap`;
const namePattern = /^replica-(\d+)-(\d{12})\.snap$/;

/** A replica's snapshot files in one directory: written one at a time, the newest maxSnapshotFiles kept. */
export class SnapshotDir {
  private writing: Promise<void> = Promise.resolve();
  private queued = false;
  /** A write failure is said once (a full or read-only disk would otherwise say it every N batches); stats count the rest. */
  private toldFailure = false;
  /**
   * A batch whose file is kept whatever newer files come (within the bound): the newest one its
   * node knows agreed, which the etcd log's compaction counts on (node-snapshots.ts).
   */
  protect: number | undefined;
  /** Files written, and snapshots not written (too large, a write already waiting, an I/O error). */
  readonly stats = { written: 0, skipped: 0 };

  constructor(
    readonly dir: string, private readonly expect: { machine: string; cluster: string; replica: number },
    /** One line for the operator (a file refused, a write failed). */
    private readonly say: (line: string) => void,
    private readonly limits = { files: maxSnapshotFiles, bytes: maxSnapshotFileBytes },
  ) {}

  /** This replica's snapshot files, the newest first. */
  async list(): Promise<{ batch: number; path: string }[]> {
    const names = await listNames(this.dir);
    return names.flatMap((name) => {
      const m = namePattern.exec(name);
      return m && Number(m[1]) === this.expect.replica ? [{ batch: Number(m[2]), path: join(this.dir, name) }] : [];
    }).sort((a, b) => b.batch - a.batch);
  }

  /** Reads one file; a file that cannot be used gets one line (naming the byte offset) and undefined. */
  async load(path: string): Promise<ReturnType<typeof decodeSnapshotFile> | undefined> {
    try {
      const size = await regularFileSize(path);
      if (size === undefined) throw new SnapshotFileError('not a regular file', 0);
      if (size > this.limits.bytes) throw new SnapshotFileError(`snapshot of ${size} bytes, more than the ${this.limits.bytes} allowed`, 0);
      return decodeSnapshotFile(await readWhole(path), this.expect);
    } catch (err) {
      // The disk's answer (a dangling link, no permission, gone since listed) is the file's fault too.
      const io = (err as NodeJS.ErrnoException | null)?.code;
      if (!(err instanceof SnapshotFileError) && typeof io !== 'string') throw err;
      this.say(`snapshot ${path} ignored: ${err instanceof SnapshotFileError ? err.message : `cannot be read (${io}) (at byte 0)`}`);
      return undefined;
    }
  }

  /**
   * Writes a snapshot (its pages taken now: they never change) after the writes before it; while
   * one is being written a second may wait, more are skipped (the replica runs ahead of the disk).
   * Resolves with the files kept once written (undefined: not written).
   */
  save(identity: SnapshotIdentity, snapshot: ReplicaSnapshot, page: (hash: string) => Uint8Array): Promise<{ batch: number; path: string }[] | undefined> {
    if (this.queued) {
      this.stats.skipped++;
      return Promise.resolve(undefined);
    }
    const parts = encodeSnapshotFile(identity, snapshot, page);
    this.queued = true;
    const done = this.writing.then(async () => {
      this.queued = false;
      return this.write(identity.batch, parts);
    });
    this.writing = done.then(() => {}, () => {});
    return done;
  }

  private async write(batch: number, parts: Uint8Array[]): Promise<{ batch: number; path: string }[] | undefined> {
    const size = parts.reduce((n, p) => n + p.length, 0);
    if (size > this.limits.bytes) {
      this.stats.skipped++;
      this.say(`snapshot at batch ${batch} not written: ${size} bytes, more than the ${this.limits.bytes} allowed`);
      return undefined;
    }
    const path = join(this.dir, fileName(this.expect.replica, batch));
    const temporary = `${path}.tmp-${process.pid}`;
    try {
      await writeSynced(temporary, parts);
      // The oldest go before the new one arrives, so the directory never holds more than the bound
      // (the protected one stays, in place of the oldest of the others).
      const files = await this.list();
      const kept = files.findIndex((f) => f.batch === this.protect) >= this.limits.files - 1 ? files.filter((f) => f.batch !== this.protect) : files;
      const room = kept === files ? this.limits.files - 1 : this.limits.files - 2;
      for (const old of kept.slice(Math.max(0, room))) await removePath(old.path);
      await renamePath(temporary, path);
    } catch (err) {
      this.stats.skipped++;
      await removePath(temporary);
      if (!this.toldFailure) this.say(`snapshot at batch ${batch} not written: ${(err as Error).message} (later failures are counted in --json, not said)`);
      this.toldFailure = true;
      return undefined;
    }
    this.stats.written++;
    return this.list();
  }
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InternalError(message);
}
