import { Errno, WasiError } from './errno.js';
import { Rights } from './abi.js';
import type { Handle } from './handle.js';

/** Default bound on open fds per process (EMFILE beyond it). */
export const defaultMaxOpenFds = 1024;

/** A process's fd table: POSIX's lowest-free-number rule, a hard bound, rights checks. */
export class FdTable {
  private readonly handles: (Handle | undefined)[] = [];
  private openCount = 0;
  /** digestText's line for each fd, with what it was made of. */
  private readonly lines: ({ handle: Handle; fdflags: number; rightsBase: bigint; rightsInheriting: bigint; key: string; text: string } | undefined)[] = [];

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

  /**
   * The fds' part of a state hash: a line per open fd (its number, type, flags, rights and
   * digestKey), in fd order. A line is made again only when one of those changed: the rights are
   * BigInts, and making every line afresh took 5-13 us of each checkpoint on the guest's thread
   * (a fifth of it) for the three stdio fds.
   */
  digestText(): string {
    let text: string | undefined;
    for (let fd = 0; fd < this.handles.length; fd++) {
      const h = this.handles[fd];
      if (h === undefined) {
        this.lines[fd] = undefined; // no closed handle kept alive by its line
        continue;
      }
      const key = h.digestKey();
      let line = this.lines[fd];
      if (line?.handle !== h || line.fdflags !== h.fdflags || line.rightsBase !== h.rightsBase || line.rightsInheriting !== h.rightsInheriting || line.key !== key) {
        const textOf = `${fd} ${h.filetype} ${h.fdflags} ${h.rightsBase} ${h.rightsInheriting} ${key}`;
        line = { handle: h, fdflags: h.fdflags, rightsBase: h.rightsBase, rightsInheriting: h.rightsInheriting, key, text: textOf };
        this.lines[fd] = line;
      }
      text = text === undefined ? line.text : `${text}\n${line.text}`;
    }
    if (this.lines.length > this.handles.length) this.lines.length = this.handles.length;
    return text ?? '';
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
