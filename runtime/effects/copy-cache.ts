// The disk cache of built snapshot copies of modules (replayer/instrument.ts builds them; binaryen
// takes about a second, most of a warm `diff`). Each file is the SHA-256 of the rest, then the copy:
// a damaged or foreign file is ignored and rebuilt over; a cache that cannot be written only costs
// the next command the build.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** REPLICODE_CACHE_DIR, else $XDG_CACHE_HOME/replicode, else ~/.cache/replicode. */
export function copyCacheDir(): string {
  return process.env.REPLICODE_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'replicode');
}

/** What a cache file holds: snapshot copies of modules, or transpiled components (runtime/p2). */
export type CacheKind = 'snapshot-copy' | 'component';

const copyPath = (key: string, kind: CacheKind) => join(copyCacheDir(), `${kind}-${createHash('sha256').update(key).digest('hex').slice(0, 32)}.${kind === 'component' ? 'json' : 'wasm'}`);

export function readCachedCopy(key: string, kind: CacheKind = 'snapshot-copy'): Uint8Array | undefined {
  let file: Buffer;
  try { file = readFileSync(copyPath(key, kind)); } catch { return undefined; }
  const body = file.subarray(32);
  return file.length > 32 && createHash('sha256').update(body).digest().equals(file.subarray(0, 32)) ? body : undefined;
}

/** The cache keeps at most this many copies: writing one more removes the least recently written. */
export const maxCachedCopies = 64;

export function writeCachedCopy(key: string, copy: Uint8Array, kind: CacheKind = 'snapshot-copy'): void {
  try {
    mkdirSync(copyCacheDir(), { recursive: true });
    pruneCopies(kind, maxCachedCopies - 1);
    const path = copyPath(key, kind);
    const temporary = `${path}.${process.pid}.tmp`;
    writeFileSync(temporary, Buffer.concat([createHash('sha256').update(copy).digest(), copy]));
    renameSync(temporary, path); // whole or not at all, even with two commands building at once
  } catch {
    // Not writable: the next command builds it again.
  }
}

/** Removes the oldest files of a kind until at most `keep` are left. */
function pruneCopies(kind: CacheKind, keep: number): void {
  const dir = copyCacheDir();
  const copies = readdirSync(dir).filter((name) => name.startsWith(`${kind}-`) && /^[a-z-]+-[0-9a-f]+\.(wasm|json)$/.test(name))
    .map((name) => ({ path: join(dir, name), at: statSync(join(dir, name)).mtimeMs }))
    .sort((a, b) => a.at - b.at);
  for (const old of copies.slice(0, Math.max(0, copies.length - keep))) rmSync(old.path, { force: true });
}
