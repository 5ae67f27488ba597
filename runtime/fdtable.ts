import { Errno, WasiError } from './errno.js';
import { Rights } from './abi.js';
import type { Handle } from './handle.js';

/** Default bound on open fds per process (EMFILE beyond it). */
export const defaultMaxOpenFds = 1024;

/** A process's fd table: POSIX's lowest-free-number rule, a hard bound, rights checks. */
export class FdTable {
  private readonly handles: (Handle | undefined)[] = [];
  private openCount = 0;

  constructor(readonly maxOpenFds: number = defaultMaxOpenFds) {}

  get size(): number { return this.openCount; }

  /** Installs a handle at the lowest free fd. */
  allocate(handle: Handle): number {
    if (this.openCount >= this.maxOpenFds) throw new WasiError(Errno.MFILE);
    let fd = this.handles.indexOf(undefined);
    if (fd < 0) fd = this.handles.length;
    this.handles[fd] = handle;
    this.openCount++;
    return fd;
  }

  /** The handle at fd, checking `right` if given (see `checkRight`). */
  get(fd: number, right?: bigint): Handle {
    const handle = this.handles[fd >>> 0];
    if (handle === undefined) throw new WasiError(Errno.BADF);
    if (right !== undefined) checkRight(handle, right);
    return handle;
  }

  has(fd: number): boolean { return this.handles[fd >>> 0] !== undefined; }

  /** Removes fd from the table and returns its handle (the caller closes it). */
  remove(fd: number): Handle {
    const handle = this.get(fd);
    this.handles[fd >>> 0] = undefined;
    this.openCount--;
    while (this.handles.length > 0 && this.handles[this.handles.length - 1] === undefined) this.handles.pop();
    return handle;
  }

  /** fd_renumber: `to` must be open; it is closed and replaced by `from`. */
  renumber(from: number, to: number): void {
    const source = this.get(from);
    const target = this.get(to);
    if (from >>> 0 === to >>> 0) return;
    target.close();
    this.handles[to >>> 0] = source;
    this.handles[from >>> 0] = undefined;
    this.openCount--;
  }

  /** Open fds in ascending order (for checkpoints and exit). */
  entries(): [number, Handle][] {
    const out: [number, Handle][] = [];
    this.handles.forEach((h, fd) => { if (h) out.push([fd, h]); });
    return out;
  }
}

/**
 * A right the handle's kind supports but this fd was not granted: NOTCAPABLE, or BADF for
 * read/write (what POSIX programs expect of a file opened the other way). A right the kind
 * does not support is left to the handle's own operation, which answers with its type's error
 * (EISDIR, ESPIPE, ENOTSOCK...).
 */
export function checkRight(handle: Handle, right: bigint): void {
  if ((handle.rightsBase & right) === right) return;
  if ((handle.applicableRights & right) !== right) return;
  if (right === Rights.FD_READ || right === Rights.FD_WRITE) throw new WasiError(Errno.BADF);
  throw new WasiError(Errno.NOTCAPABLE);
}
