// The path_* imports. Each resolves its path inside the directory fd it was given (see
// resolve.ts) and then acts on the in-memory filesystem with the errno POSIX would give.
import { FdFlags, FilestatLayout, LookupFlags, OFlags, Rights, directoryRights, fileRights } from '../abi.js';
import type { KernelContext, SyscallTable } from '../context.js';
import { Errno, WasiError, check } from '../errno.js';
import type { GuestMemory } from '../memory.js';
import { DirectoryHandle } from './dir-handle.js';
import { FileHandle } from './file-handle.js';
import type { Filesystem } from './filesystem.js';
import { isWithin, type DirInode, type Inode } from './inode.js';
import { maxPathBytes, resolvePath, type Resolution } from './resolve.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const utf8 = new TextEncoder();
const knownOFlags = OFlags.CREAT | OFlags.DIRECTORY | OFlags.EXCL | OFlags.TRUNC;

/** A guest path: must be valid UTF-8 (names are compared as strings), at most PATH_MAX bytes. */
function readPath(mem: GuestMemory, ptr: number, len: number): string {
  check(len >>> 0 <= maxPathBytes, Errno.NAMETOOLONG);
  const bytes = mem.bytes(ptr, len);
  check(!bytes.includes(0), Errno.INVAL, 'NUL in path');
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new WasiError(Errno.ILSEQ, 'path is not UTF-8');
  }
}

export function fsSyscalls(ctx: KernelContext, fs: Filesystem): SyscallTable {
  /** The directory behind fd, with `right` checked; a non-directory is ENOTDIR. */
  function dirOf(fd: number, right: bigint): DirectoryHandle {
    const handle = ctx.fds.get(fd, right);
    if (!(handle instanceof DirectoryHandle)) throw new WasiError(Errno.NOTDIR);
    return handle;
  }

  function resolve(fd: number, right: bigint, ptr: number, len: number, follow: boolean): Resolution {
    const dir = dirOf(fd, right);
    return resolvePath(dir.inode, readPath(ctx.memory, ptr, len), follow);
  }

  const follows = (lookupFlags: number) => (lookupFlags & LookupFlags.SYMLINK_FOLLOW) !== 0;

  /** The node a path names, which must exist (and be a directory if the path says so). */
  function existing(r: Resolution): Inode {
    if (!r.node) throw new WasiError(Errno.NOENT);
    if (r.mustBeDirectory && r.node.kind !== 'dir') throw new WasiError(Errno.NOTDIR);
    return r.node;
  }

  return {
    path_open(fd: number, dirflags: number, pathPtr: number, pathLen: number, oflags: number,
      rightsBase: bigint, rightsInheriting: bigint, fdflags: number, fdPtr: number) {
      check((oflags & ~knownOFlags) === 0, Errno.INVAL, `oflags ${oflags}`);
      let needed = Rights.PATH_OPEN;
      if (oflags & OFlags.CREAT) needed |= Rights.PATH_CREATE_FILE;
      if (oflags & OFlags.TRUNC) needed |= Rights.PATH_FILESTAT_SET_SIZE;
      const dirHandle = dirOf(fd, needed);
      ctx.memory.checkRange(fdPtr, 4);
      const r = resolvePath(dirHandle.inode, readPath(ctx.memory, pathPtr, pathLen), follows(dirflags));
      let node = r.node;
      if (node === undefined) {
        check(oflags & OFlags.CREAT, Errno.NOENT);
        check(!(oflags & OFlags.DIRECTORY), Errno.INVAL, 'CREAT with DIRECTORY');
        check(!r.mustBeDirectory, Errno.ISDIR, 'creating a file with a trailing slash');
        const file = fs.newFile();
        fs.attach(r.dir, r.name, file);
        node = file;
      } else {
        check(!((oflags & OFlags.CREAT) && (oflags & OFlags.EXCL)), Errno.EXIST);
        if (node.kind === 'symlink') throw new WasiError(Errno.LOOP, 'last component is a symlink (no SYMLINK_FOLLOW)');
        if ((r.mustBeDirectory || oflags & OFlags.DIRECTORY) && node.kind !== 'dir') throw new WasiError(Errno.NOTDIR);
      }
      const base = BigInt.asUintN(64, rightsBase) & dirHandle.rightsInheriting;
      const inheriting = BigInt.asUintN(64, rightsInheriting) & dirHandle.rightsInheriting;
      let handle: FileHandle | DirectoryHandle;
      if (node.kind === 'dir') {
        checkDirectoryOpen(oflags, BigInt.asUintN(64, rightsBase));
        handle = new DirectoryHandle(fs, node, base & directoryRights, inheriting);
      } else {
        if (oflags & OFlags.TRUNC) fs.setSize(node, 0);
        handle = new FileHandle(fs, node, base & fileRights, inheriting, fdflags & (FdFlags.APPEND | FdFlags.NONBLOCK | FdFlags.SYNC | FdFlags.DSYNC | FdFlags.RSYNC));
      }
      let newFd: number;
      try {
        newFd = ctx.fds.allocate(handle);
      } catch (err) {
        handle.close();
        throw err;
      }
      ctx.memory.setU32(fdPtr, newFd);
    },

    path_create_directory(fd: number, pathPtr: number, pathLen: number) {
      const r = resolve(fd, Rights.PATH_CREATE_DIRECTORY, pathPtr, pathLen, false);
      check(r.node === undefined, Errno.EXIST);
      fs.attach(r.dir, r.name, fs.newDir(r.dir));
    },

    path_remove_directory(fd: number, pathPtr: number, pathLen: number) {
      const r = resolve(fd, Rights.PATH_REMOVE_DIRECTORY, pathPtr, pathLen, false);
      const node = existing(r);
      check(node.kind === 'dir', Errno.NOTDIR);
      check(r.name !== '.', Errno.INVAL, 'cannot remove "." or the directory itself');
      check(node.entries.size === 0, Errno.NOTEMPTY);
      fs.detach(r.dir, r.name);
    },

    path_unlink_file(fd: number, pathPtr: number, pathLen: number) {
      const r = resolve(fd, Rights.PATH_UNLINK_FILE, pathPtr, pathLen, false);
      const node = r.node;
      if (!node) throw new WasiError(Errno.NOENT);
      check(node.kind !== 'dir', Errno.ISDIR);
      check(!r.mustBeDirectory, Errno.NOTDIR);
      fs.detach(r.dir, r.name);
    },

    path_filestat_get(fd: number, lookupFlags: number, pathPtr: number, pathLen: number, statPtr: number) {
      const r = resolve(fd, Rights.PATH_FILESTAT_GET, pathPtr, pathLen, follows(lookupFlags));
      FilestatLayout.write(ctx.memory, statPtr, fs.stat(existing(r)));
    },

    path_filestat_set_times(fd: number, lookupFlags: number, pathPtr: number, pathLen: number,
      atim: bigint, mtim: bigint, fstflags: number) {
      const r = resolve(fd, Rights.PATH_FILESTAT_SET_TIMES, pathPtr, pathLen, follows(lookupFlags));
      fs.setTimes(existing(r), BigInt.asUintN(64, atim), BigInt.asUintN(64, mtim), fstflags);
    },

    path_readlink(fd: number, pathPtr: number, pathLen: number, bufPtr: number, bufLen: number, usedPtr: number) {
      const r = resolve(fd, Rights.PATH_READLINK, pathPtr, pathLen, false);
      const node = existing(r);
      check(node.kind === 'symlink', Errno.INVAL, 'not a symlink');
      const target = utf8.encode(node.target);
      const buf = ctx.memory.bytes(bufPtr, bufLen);
      ctx.memory.checkRange(usedPtr, 4);
      // Like readlink(2): a short buffer gets a truncated target, and bufused says how much.
      const n = Math.min(buf.length, target.length);
      buf.set(target.subarray(0, n));
      ctx.memory.setU32(usedPtr, n);
    },

    path_symlink(oldPtr: number, oldLen: number, fd: number, newPtr: number, newLen: number) {
      const dir = dirOf(fd, Rights.PATH_SYMLINK);
      const target = readPath(ctx.memory, oldPtr, oldLen);
      // An absolute target could never be followed from inside a capability (resolve.ts), and
      // written back to the host it would point into the host's own tree: refused, as
      // Wasmtime (cap-std) refuses it, before the new name is looked at (wasi-testsuite
      // symlink_create accepts any error; ENOTCAPABLE is what every other escape gets here).
      check(!target.startsWith('/'), Errno.NOTCAPABLE, `absolute symlink target ${target}`);
      const r = resolvePath(dir.inode, readPath(ctx.memory, newPtr, newLen), false);
      check(r.node === undefined, Errno.EXIST);
      check(!r.mustBeDirectory, Errno.NOENT, 'symlink name with a trailing slash');
      fs.attach(r.dir, r.name, fs.newSymlink(target));
    },

    path_link(oldFd: number, oldFlags: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number) {
      const from = resolve(oldFd, Rights.PATH_LINK_SOURCE, oldPtr, oldLen, follows(oldFlags));
      const to = resolve(newFd, Rights.PATH_LINK_TARGET, newPtr, newLen, false);
      const node = existing(from);
      check(node.kind !== 'dir', Errno.PERM, 'hard link to a directory');
      check(to.node === undefined, Errno.EXIST);
      check(!to.mustBeDirectory, Errno.NOENT);
      fs.attach(to.dir, to.name, node);
    },

    path_rename(oldFd: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number) {
      const from = resolve(oldFd, Rights.PATH_RENAME_SOURCE, oldPtr, oldLen, false);
      const to = resolve(newFd, Rights.PATH_RENAME_TARGET, newPtr, newLen, false);
      const node = existing(from);
      check(from.name !== '.' && to.name !== '.', Errno.BUSY, 'renaming "." or ".."');
      if (node.kind !== 'dir') {
        check(!from.mustBeDirectory && !to.mustBeDirectory, Errno.NOTDIR);
      }
      const target = to.node;
      if (target === node) return; // same inode: POSIX says do nothing
      if (target) {
        if (node.kind === 'dir') {
          check(target.kind === 'dir', Errno.NOTDIR);
          check(target.entries.size === 0, Errno.NOTEMPTY);
        } else {
          check(target.kind !== 'dir', Errno.ISDIR);
        }
      }
      if (node.kind === 'dir') check(!isWithin(to.dir, node), Errno.INVAL, 'directory into itself');
      moveEntry(fs, from.dir, from.name, to.dir, to.name, node);
    },
  };
}

/**
 * What open(2) refuses for a directory: O_TRUNC, and any request to write (FD_WRITE among the
 * rights the guest asked for, its access mode, as Wasmtime reads it), with or without
 * O_DIRECTORY: EISDIR (wasi-testsuite path_open_preopen). Other file rights are not granted.
 */
function checkDirectoryOpen(oflags: number, requested: bigint): void {
  check(!(oflags & OFlags.TRUNC), Errno.ISDIR, 'O_TRUNC on a directory');
  check((requested & Rights.FD_WRITE) === 0n, Errno.ISDIR, 'directory opened for writing');
}

/** Rename without the node ever being unreferenced (so a file's bytes are never released). */
function moveEntry(fs: Filesystem, fromDir: DirInode, fromName: string, toDir: DirInode, toName: string, node: Inode): void {
  if (toDir.entries.has(toName)) fs.detach(toDir, toName);
  fs.attach(toDir, toName, node);
  if (node.kind === 'dir') {
    // attach() re-parented it; drop the old entry without marking the directory removed.
    fromDir.entries.delete(fromName);
    fromDir.sortedNames = undefined;
  } else {
    fs.detach(fromDir, fromName);
  }
}
