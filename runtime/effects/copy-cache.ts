// The disk cache of modules RepliCode builds from a guest's: snapshot copies (replayer/instrument.ts,
// binaryen takes about a second, most of a warm `diff`), transpiled components (runtime/p2) and
// rewritten modules (runtime/rewrite: 2.5 s of a 13.8 MB component's start). Each file is the
// SHA-256 of the rest, then the content: a damaged, truncated or foreign file is ignored and built
// over; a cache that cannot be written only costs the next command the build.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** REPLICODE_CACHE_DIR, else $XDG_CACHE_HOME/replicode, else ~/.cache/replicode. */
export function copyCacheDir(): string {
  return process.env.REPLICODE_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'replicode');
}

/** What a cache file holds: snapshot copies of modules, transpiled components (runtime/p2), or rewritten modules. */
export type CacheKind = 'snapshot-copy' | 'component' | 'rewritten';

/** The cache keeps at most this many files of each kind: writing one more removes the least recently used. */
export const maxCachedCopies = 64;
/**
 * The cache's files together take at most this many bytes (all kinds): writing one more removes
 * the least recently used until it fits. A 13.8 MB component costs ~18 MB transpiled and ~14 MB
 * rewritten, so this holds a dozen of those besides the small modules.
 */
export const maxCacheBytes = 512 * 2 ** 20;

/** The bounds writeCachedCopy keeps (tests pass smaller ones). */
export interface CacheLimits { readonly maxFilesPerKind: number; readonly maxBytes: number }
export const cacheLimits: CacheLimits = { maxFilesPerKind: maxCachedCopies, maxBytes: maxCacheBytes };
const checksumBytes = 32;

const digestHex = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 32);
const cacheFileName = (key: string, kind: CacheKind) => `${kind}-${digestHex(key)}.${kind === 'component' ? 'json' : 'wasm'}`;
const cacheFilePattern = /^(snapshot-copy|component|rewritten)-[0-9a-f]{32}\.(wasm|json)$/;

/** The content cached under `key`, or undefined when there is none or the file is damaged (it is then rebuilt over). */
export function readCachedCopy(key: string, kind: CacheKind = 'snapshot-copy'): Uint8Array | undefined {
  const path = join(copyCacheDir(), cacheFileName(key, kind));
  let file: Buffer;
  try { file = readFileSync(path); } catch { return undefined; }
  const body = file.subarray(checksumBytes);
  if (file.length <= checksumBytes || !createHash('sha256').update(body).digest().equals(file.subarray(0, checksumBytes))) return undefined;
  try { const now = Date.now() / 1000; utimesSync(path, now, now); } catch { /* read-only: eviction goes by write */ }
  return body;
}

/** Writes `copy` under `key`, whole or not at all (a temporary file renamed); never throws. */
export function writeCachedCopy(key: string, copy: Uint8Array, kind: CacheKind = 'snapshot-copy', limits: CacheLimits = cacheLimits): void {
  if (copy.length + checksumBytes > limits.maxBytes) return;
  try {
    const dir = copyCacheDir();
    mkdirSync(dir, { recursive: true });
    pruneCache(dir, kind, copy.length + checksumBytes, limits);
    const path = join(dir, cacheFileName(key, kind));
    const temporary = `${path}.${process.pid}.tmp`;
    writeFileSync(temporary, Buffer.concat([createHash('sha256').update(copy).digest(), copy]));
    renameSync(temporary, path); // whole or not at all, even with two commands building at once
  } catch {
    // Not writable: the next command builds it again.
  }
}

/**
 * Removes the least recently used files until one more of `kind` (`incomingBytes` long) keeps
 * the cache within the limits.
 */
function pruneCache(dir: string, kind: CacheKind, incomingBytes: number, limits: CacheLimits): void {
  const files = readdirSync(dir).filter((name) => cacheFilePattern.test(name)).flatMap((name) => {
    try {
      const s = statSync(join(dir, name));
      return [{ name, path: join(dir, name), at: s.mtimeMs, bytes: s.size }];
    } catch {
      return []; // removed by another command meanwhile
    }
  }).sort((a, b) => a.at - b.at);
  let total = files.reduce((sum, f) => sum + f.bytes, 0) + incomingBytes;
  let ofKind = files.filter((f) => f.name.startsWith(`${kind}-`)).length + 1;
  for (const old of files) {
    if (total <= limits.maxBytes && ofKind <= limits.maxFilesPerKind) break;
    const sameKind = old.name.startsWith(`${kind}-`);
    if (total <= limits.maxBytes && !sameKind) continue; // only the count of this kind is over
    rmSync(old.path, { force: true });
    total -= old.bytes;
    if (sameKind) ofKind--;
  }
}
