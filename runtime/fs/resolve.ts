// Path resolution inside a directory capability. A path may never leave the directory it is
// resolved from: absolute paths, ".." above the start, and symlinks that point outside are
// all ENOTCAPABLE, as wasi-libc and the WASI test suite expect.
import { Errno, WasiError, check } from '../errno.js';
import type { DirInode, Inode } from './inode.js';

/** Linux's PATH_MAX, NAME_MAX and MAXSYMLINKS. */
export const maxPathBytes = 4096;
export const maxNameBytes = 255;
export const maxSymlinkHops = 40;

/**
 * Where a path leads: the directory holding its last component, that component's name, and
 * the node there if any. `name` is "." for paths that name a directory itself ("", ".",
 * "a/.."), which therefore cannot be created or removed by that name.
 */
export interface Resolution {
  dir: DirInode;
  name: string;
  node: Inode | undefined;
  /** The path ended in "/" (or named a directory via "." or ".."): it must be a directory. */
  mustBeDirectory: boolean;
}

const utf8 = new TextEncoder();

/**
 * Resolves `path` from `start`. Symlinks in the middle are always followed; the last
 * component's only if `followLast` (or the path ends in "/").
 */
export function resolvePath(start: DirInode, path: string, followLast: boolean): Resolution {
  check(path.length > 0, Errno.NOENT, 'empty path');
  check(utf8.encode(path).length <= maxPathBytes, Errno.NAMETOOLONG);
  const state = { hops: 0 };
  return walk([start], path, followLast, state);
}

function walk(stack: DirInode[], path: string, followLast: boolean, state: { hops: number }): Resolution {
  if (path.startsWith('/')) throw new WasiError(Errno.NOTCAPABLE, `absolute path ${path}`);
  const trailingSlash = path.endsWith('/');
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.length === 0) parts.push('.');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const last = i === parts.length - 1;
    const dir = stack[stack.length - 1]!;
    check(utf8.encode(part).length <= maxNameBytes, Errno.NAMETOOLONG);
    if (part === '.' || part === '..') {
      if (part === '..') {
        check(stack.length > 1, Errno.NOTCAPABLE, '".." leaves the directory');
        stack.pop();
      }
      if (last) {
        const here = stack[stack.length - 1]!;
        return { dir: here, name: '.', node: here, mustBeDirectory: true };
      }
      continue;
    }
    const node = dir.entries.get(part);
    if (last && (node === undefined || node.kind !== 'symlink' || !(followLast || trailingSlash))) {
      return { dir, name: part, node, mustBeDirectory: trailingSlash };
    }
    if (node === undefined) throw new WasiError(Errno.NOENT, part);
    if (node.kind === 'symlink') {
      check(++state.hops <= maxSymlinkHops, Errno.LOOP, 'too many symlinks');
      const rest = parts.slice(i + 1).join('/');
      const target = node.target + (rest ? `/${rest}` : trailingSlash ? '/' : '');
      check(node.target.length > 0, Errno.NOENT, 'empty symlink');
      return walk(stack, target, followLast, state);
    }
    if (node.kind !== 'dir') throw new WasiError(Errno.NOTDIR, part);
    stack.push(node);
  }
  throw new Error('unreachable: the last component returns');
}
