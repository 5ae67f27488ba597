// WASI preview1 errno values (witx `errno`, u16). Never Linux numbers: the guest's libc maps these.
export const Errno = {
  SUCCESS: 0, TOOBIG: 1, ACCES: 2, ADDRINUSE: 3, ADDRNOTAVAIL: 4, AFNOSUPPORT: 5, AGAIN: 6,
  ALREADY: 7, BADF: 8, BADMSG: 9, BUSY: 10, CANCELED: 11, CHILD: 12, CONNABORTED: 13,
  CONNREFUSED: 14, CONNRESET: 15, DEADLK: 16, DESTADDRREQ: 17, DOM: 18, DQUOT: 19, EXIST: 20,
  FAULT: 21, FBIG: 22, HOSTUNREACH: 23, IDRM: 24, ILSEQ: 25, INPROGRESS: 26, INTR: 27, INVAL: 28,
  IO: 29, ISCONN: 30, ISDIR: 31, LOOP: 32, MFILE: 33, MLINK: 34, MSGSIZE: 35, MULTIHOP: 36,
  NAMETOOLONG: 37, NETDOWN: 38, NETRESET: 39, NETUNREACH: 40, NFILE: 41, NOBUFS: 42, NODEV: 43,
  NOENT: 44, NOEXEC: 45, NOLCK: 46, NOLINK: 47, NOMEM: 48, NOMSG: 49, NOPROTOOPT: 50, NOSPC: 51,
  NOSYS: 52, NOTCONN: 53, NOTDIR: 54, NOTEMPTY: 55, NOTRECOVERABLE: 56, NOTSOCK: 57, NOTSUP: 58,
  NOTTY: 59, NXIO: 60, OVERFLOW: 61, OWNERDEAD: 62, PERM: 63, PIPE: 64, PROTO: 65,
  PROTONOSUPPORT: 66, PROTOTYPE: 67, RANGE: 68, ROFS: 69, SPIPE: 70, SRCH: 71, STALE: 72,
  TIMEDOUT: 73, TXTBSY: 74, XDEV: 75, NOTCAPABLE: 76,
  // WasmEdge's sock_getaddrinfo errors, after the WASI ones (named EAI_* in messages).
  AI_ADDRFAMILY: 77, AI_AGAIN: 78, AI_BADFLAG: 79, AI_FAIL: 80, AI_FAMILY: 81, AI_MEMORY: 82,
  AI_NODATA: 83, AI_NONAME: 84, AI_SERVICE: 85, AI_SOCKTYPE: 86, AI_SYSTEM: 87,
} as const;
export type ErrnoValue = (typeof Errno)[keyof typeof Errno];

const namesByValue = new Map<number, string>(Object.entries(Errno).map(([name, value]) => [value, name]));

/** `ENOENT`-style name of an errno value, for messages and traces. */
export function errnoName(value: number): string {
  const name = namesByValue.get(value);
  if (name === undefined) return `E?${value}`;
  return name === 'TOOBIG' ? 'E2BIG' : `E${name}`;
}

/**
 * Thrown inside the kernel to abandon a syscall with an errno; the syscall boundary turns it
 * into the return value. Anything else thrown from a syscall is a bug in RepliCode.
 */
export class WasiError extends Error {
  constructor(readonly errno: ErrnoValue, detail?: string) {
    super(detail ? `${errnoName(errno)}: ${detail}` : errnoName(errno));
  }
}

/** A syscall's failure as its errno; anything but a WasiError (ProcessExit, a bug) keeps unwinding, its event left incomplete. */
export function errnoOf(err: unknown): number {
  if (!(err instanceof WasiError)) throw err;
  return err.errno;
}

/** Throws WasiError(errno) unless `condition` holds. */
export function check(condition: unknown, errno: ErrnoValue, detail?: string): asserts condition {
  if (!condition) throw new WasiError(errno, detail);
}

/**
 * The one table from host (Node) error codes to WASI errno, for host I/O done at the edge
 * (snapshot loading, write-back). Unknown host errors are bugs and are rethrown.
 */
const hostCodeToErrno: Record<string, ErrnoValue> = {
  ENOENT: Errno.NOENT, EACCES: Errno.ACCES, EPERM: Errno.PERM, EEXIST: Errno.EXIST,
  ENOTDIR: Errno.NOTDIR, EISDIR: Errno.ISDIR, ENOTEMPTY: Errno.NOTEMPTY, ELOOP: Errno.LOOP,
  ENAMETOOLONG: Errno.NAMETOOLONG, ENOSPC: Errno.NOSPC, EROFS: Errno.ROFS, EMFILE: Errno.MFILE,
  EBADF: Errno.BADF, EINVAL: Errno.INVAL, EIO: Errno.IO, EAGAIN: Errno.AGAIN, EPIPE: Errno.PIPE,
  ECONNRESET: Errno.CONNRESET, ECONNREFUSED: Errno.CONNREFUSED, EADDRINUSE: Errno.ADDRINUSE,
  EADDRNOTAVAIL: Errno.ADDRNOTAVAIL, ETIMEDOUT: Errno.TIMEDOUT, ENOTCONN: Errno.NOTCONN,
};

export function toErrno(err: unknown): ErrnoValue {
  if (err instanceof WasiError) return err.errno;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code in hostCodeToErrno) return hostCodeToErrno[code]!;
  throw err;
}
