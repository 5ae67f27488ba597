// Snapshot index files on disk (formats/snapshot-index/ reads and writes them through this).
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import type { IndexFile } from '../../formats/index.js';

/** Opens (or creates) an index file for reading and appending. Throws the OS error if it cannot. */
export function openIndexFile(path: string, create: boolean): IndexFile {
  const fd = openSync(path, existsSync(path) ? (create ? 'r+' : 'r') : create ? 'w+' : 'r');
  const stat = fstatSync(fd);
  // Opening a directory read-only succeeds on Linux; its reads would then fail with EISDIR.
  if (!stat.isFile()) {
    closeSync(fd);
    throw Object.assign(new Error(`${path}: not a regular file`), { code: stat.isDirectory() ? 'EISDIR' : 'EINVAL' });
  }
  let size = stat.size;
  return {
    get size() { return size; },
    read(offset, length) {
      const out = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
      for (let done = 0; done < out.length;) {
        const n = readSync(fd, out, done, out.length - done, offset + done);
        if (n === 0) return out.subarray(0, done);
        done += n;
      }
      return out;
    },
    append(bytes) {
      for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done, size + done);
      size += bytes.length;
    },
    truncate(length) { ftruncateSync(fd, length); size = length; },
    close: () => closeSync(fd),
  };
}

/** SHA-256 (hex) and size of a whole file, read in 1 MiB pieces. */
export function fileDigest(path: string): { bytes: number; sha256: string } {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buffer = new Uint8Array(2 ** 20);
    let bytes = 0;
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, bytes);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
      bytes += n;
    }
    return { bytes, sha256: hash.digest('hex') };
  } finally {
    closeSync(fd);
  }
}

/** Puts a finished file in place of `path` (atomically, on one filesystem). */
export function replaceFile(temporary: string, path: string): void {
  renameSync(temporary, path);
}

/** Removes a file if it is there. */
export function removeFile(path: string): void {
  rmSync(path, { force: true });
}

/** Why a file cannot be put at `path` (something other than a file is there), or undefined. */
export function fileBlocked(path: string): string | undefined {
  try {
    const stat = statSync(path);
    return stat.isFile() ? undefined : stat.isDirectory() ? 'EISDIR' : 'EINVAL';
  } catch {
    return undefined; // nothing there: free
  }
}
