// The fd_* imports: argument decoding, rights checks and result writing. What an fd does is
// up to its Handle (file, directory, stdio, socket).
import { DirentLayout, FdFlags, FdstatLayout, FilestatLayout, PrestatLayout, Rights, Whence } from '../abi.js';
import type { KernelContext, SyscallTable } from '../context.js';
import { Errno, WasiError, check, errnoOf } from '../errno.js';
import { readIovecs, utf8Encoder } from '../memory.js';

const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const knownFdFlags = FdFlags.APPEND | FdFlags.DSYNC | FdFlags.NONBLOCK | FdFlags.RSYNC | FdFlags.SYNC;

/**
 * fd_write's staged branch (StagedWrite) as a call that nothing traces makes it: src[at, at +
 * length) written to fd, answering the count, or the errno negated where the boundary would have
 * returned it (anything but a WasiError keeps unwinding, as there). The same handle lookup, rights
 * check and writeRange as fd_write; what it leaves out is a staged write's result slot, which is in
 * the WASI 0.2 host's scratch memory (8, always in range), which no guest and no state hash reads.
 * The 0.2 host's stream writes take it in a run without a tracer (runtime/p2/calls.ts): no
 * boundary, no staging, no result slot to store and read back.
 */
export function untracedWrite(ctx: KernelContext): (fd: number, source: Uint8Array, at: number, length: number) => number {
  const { fds } = ctx;
  return (fd, source, at, length) => {
    try {
      return fds.get(fd, Rights.FD_WRITE).writeRange(source, at, length);
    } catch (err) {
      return -errnoOf(err);
    }
  };
}

export function fdSyscalls(ctx: KernelContext): SyscallTable {
  const { fds } = ctx;
  return {
    fd_read(fd: number, iovsPtr: number, iovsLen: number, nreadPtr: number) {
      const handle = fds.get(fd, Rights.FD_READ);
      ctx.memory.checkRange(nreadPtr, 4);
      const n = handle.read(readIovecs(ctx.memory, iovsPtr, iovsLen));
      ctx.memory.setU32(nreadPtr, n);
    },
    fd_write(fd: number, iovsPtr: number, iovsLen: number, nwrittenPtr: number) {
      // A staged write (StagedWrite) is taken first, whatever happens next.
      const { staged } = ctx;
      const source = staged.source;
      staged.source = null;
      const handle = fds.get(fd, Rights.FD_WRITE);
      ctx.memory.checkRange(nwrittenPtr, 4);
      const n = source !== null ? handle.writeRange(source, staged.at, staged.length)
        : iovsLen === 1 ? handle.writeIovec(ctx.memory, iovsPtr) : handle.write(readIovecs(ctx.memory, iovsPtr, iovsLen));
      ctx.memory.setU32(nwrittenPtr, n);
    },
    fd_pread(fd: number, iovsPtr: number, iovsLen: number, offset: bigint, nreadPtr: number) {
      const handle = fds.get(fd, Rights.FD_READ | Rights.FD_SEEK);
      ctx.memory.checkRange(nreadPtr, 4);
      ctx.memory.setU32(nreadPtr, handle.pread(readIovecs(ctx.memory, iovsPtr, iovsLen), u64(offset)));
    },
    fd_pwrite(fd: number, iovsPtr: number, iovsLen: number, offset: bigint, nwrittenPtr: number) {
      const handle = fds.get(fd, Rights.FD_WRITE | Rights.FD_SEEK);
      ctx.memory.checkRange(nwrittenPtr, 4);
      ctx.memory.setU32(nwrittenPtr, handle.pwrite(readIovecs(ctx.memory, iovsPtr, iovsLen), u64(offset)));
    },
    fd_seek(fd: number, offset: bigint, whence: number, newOffsetPtr: number) {
      check(whence === Whence.SET || whence === Whence.CUR || whence === Whence.END, Errno.INVAL);
      // lseek(fd, 0, SEEK_CUR) is how libc asks for the position: FD_TELL is enough for it.
      const right = offset === 0n && whence === Whence.CUR ? Rights.FD_TELL : Rights.FD_SEEK;
      const handle = fds.get(fd, right);
      ctx.memory.checkRange(newOffsetPtr, 8);
      ctx.memory.setU64(newOffsetPtr, handle.seek(offset, whence));
    },
    fd_tell(fd: number, offsetPtr: number) {
      const handle = fds.get(fd, Rights.FD_TELL);
      ctx.memory.checkRange(offsetPtr, 8);
      ctx.memory.setU64(offsetPtr, handle.tell());
    },
    fd_close(fd: number) {
      fds.remove(fd).close();
    },
    fd_renumber(from: number, to: number) {
      fds.renumber(from, to);
    },
    fd_sync(fd: number) { fds.get(fd, Rights.FD_SYNC).sync(); },
    fd_datasync(fd: number) { fds.get(fd, Rights.FD_DATASYNC).sync(); },
    fd_advise(fd: number, offset: bigint, len: bigint, advice: number) {
      const handle = fds.get(fd, Rights.FD_ADVISE);
      check(advice >= 0 && advice <= 5, Errno.INVAL, `advice ${advice}`);
      handle.advise(u64(offset), u64(len), advice);
    },
    fd_allocate(fd: number, offset: bigint, len: bigint) {
      fds.get(fd, Rights.FD_ALLOCATE).allocate(u64(offset), u64(len));
    },
    fd_fdstat_get(fd: number, statPtr: number) {
      const h = fds.get(fd);
      FdstatLayout.write(ctx.memory, statPtr, {
        filetype: h.filetype, flags: h.fdflags, rightsBase: h.rightsBase, rightsInheriting: h.rightsInheriting,
      });
    },
    fd_fdstat_set_flags(fd: number, flags: number) {
      const handle = fds.get(fd, Rights.FD_FDSTAT_SET_FLAGS);
      check((flags & ~knownFdFlags) === 0, Errno.INVAL, `fdflags ${flags}`);
      handle.setFlags(flags);
    },
    fd_fdstat_set_rights(fd: number, base: bigint, inheriting: bigint) {
      const handle = fds.get(fd);
      const newBase = u64(base);
      const newInheriting = u64(inheriting);
      // Rights can only be dropped, never gained.
      check((newBase & ~handle.rightsBase) === 0n, Errno.NOTCAPABLE);
      check((newInheriting & ~handle.rightsInheriting) === 0n, Errno.NOTCAPABLE);
      handle.rightsBase = newBase;
      handle.rightsInheriting = newInheriting;
    },
    fd_filestat_get(fd: number, statPtr: number) {
      const handle = fds.get(fd, Rights.FD_FILESTAT_GET);
      ctx.memory.checkRange(statPtr, FilestatLayout.size);
      FilestatLayout.write(ctx.memory, statPtr, handle.stat());
    },
    fd_filestat_set_size(fd: number, size: bigint) {
      fds.get(fd, Rights.FD_FILESTAT_SET_SIZE).setSize(u64(size));
    },
    fd_filestat_set_times(fd: number, atim: bigint, mtim: bigint, fstflags: number) {
      fds.get(fd, Rights.FD_FILESTAT_SET_TIMES).setTimes(u64(atim), u64(mtim), fstflags);
    },
    fd_prestat_get(fd: number, prestatPtr: number) {
      const name = preopenName(ctx, fd);
      PrestatLayout.write(ctx.memory, prestatPtr, utf8Encoder.encode(name).length);
    },
    fd_prestat_dir_name(fd: number, pathPtr: number, pathLen: number) {
      const name = utf8Encoder.encode(preopenName(ctx, fd));
      check(pathLen >>> 0 >= name.length, Errno.NAMETOOLONG);
      ctx.memory.write(pathPtr, name);
    },
    fd_readdir(fd: number, bufPtr: number, bufLen: number, cookie: bigint, bufUsedPtr: number) {
      const handle = fds.get(fd, Rights.FD_READDIR);
      const out = ctx.memory.bytes(bufPtr, bufLen);
      ctx.memory.checkRange(bufUsedPtr, 4);
      let used = 0;
      for (const entry of handle.readdir(u64(cookie))) {
        const encoded = DirentLayout.encode(entry);
        const n = Math.min(encoded.length, out.length - used);
        // A final entry that does not fit is copied in part: bufused == buf_len tells libc to
        // grow its buffer and ask again from the same cookie.
        out.set(encoded.subarray(0, n), used);
        used += n;
        if (used >= out.length) break;
      }
      ctx.memory.setU32(bufUsedPtr, used);
    },
  };
}

function preopenName(ctx: KernelContext, fd: number): string {
  const name = ctx.fds.get(fd).preopenName;
  if (name === undefined) throw new WasiError(Errno.BADF);
  return name;
}
