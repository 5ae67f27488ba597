// Files a replica keeps for itself (consensus/snapshot-file.ts's snapshot directory): the host
// I/O stays here, behind the effects boundary, like every other touch of the disk.
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';

/** The names in `dir` (none if it cannot be read). */
export const listNames = (dir: string): Promise<string[]> => readdir(dir).catch(() => [] as string[]);

/**
 * A regular file's size; undefined for anything else under that name (a directory, a FIFO, a
 * device: reading one fails, or blocks for ever).
 */
export async function regularFileSize(path: string): Promise<number | undefined> {
  const info = await stat(path);
  return info.isFile() ? info.size : undefined;
}

export const readWhole = (path: string): Promise<Uint8Array> => readFile(path);

/** Writes `parts` to `path` and syncs it to the disk before resolving. */
export async function writeSynced(path: string, parts: Uint8Array[]): Promise<void> {
  const file = await open(path, 'w');
  try {
    await file.writev(parts);
    await file.sync();
  } finally {
    await file.close();
  }
}

export const removePath = (path: string): Promise<void> => rm(path, { force: true });

export const renamePath = (from: string, to: string): Promise<void> => rename(from, to);
