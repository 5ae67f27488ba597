// Files a replica keeps for itself (consensus/snapshot-file.ts's snapshot directory): the host
// I/O stays here, behind the effects boundary, like every other touch of the disk.
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';

/** The names in `dir` (none if it cannot be read). */
export const listNames = (dir: string): Promise<string[]> => readdir(dir).catch(() => [] as string[]);

export const fileSize = async (path: string): Promise<number> => (await stat(path)).size;

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
