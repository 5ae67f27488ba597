// wasi_snapshot_preview1 constants and struct layouts (witx typenames), wasm32 little-endian.
// Each struct's byte offsets are named once, here, in its read/write pair.
import type { GuestMemory } from './memory.js';

export const FileType = {
  UNKNOWN: 0, BLOCK_DEVICE: 1, CHARACTER_DEVICE: 2, DIRECTORY: 3, REGULAR_FILE: 4,
  SOCKET_DGRAM: 5, SOCKET_STREAM: 6, SYMBOLIC_LINK: 7,
} as const;

export const FdFlags = { APPEND: 0x1, DSYNC: 0x2, NONBLOCK: 0x4, RSYNC: 0x8, SYNC: 0x10 } as const;
export const OFlags = { CREAT: 0x1, DIRECTORY: 0x2, EXCL: 0x4, TRUNC: 0x8 } as const;
export const LookupFlags = { SYMLINK_FOLLOW: 0x1 } as const;
export const FstFlags = { ATIM: 0x1, ATIM_NOW: 0x2, MTIM: 0x4, MTIM_NOW: 0x8 } as const;
export const Whence = { SET: 0, CUR: 1, END: 2 } as const;
export const ClockId = { REALTIME: 0, MONOTONIC: 1, PROCESS_CPUTIME: 2, THREAD_CPUTIME: 3 } as const;
export const EventType = { CLOCK: 0, FD_READ: 1, FD_WRITE: 2 } as const;
export const SubclockFlags = { ABSTIME: 0x1 } as const;
export const EventRwFlags = { HANGUP: 0x1 } as const;
export const RiFlags = { PEEK: 0x1, WAITALL: 0x2 } as const;
export const RoFlags = { DATA_TRUNCATED: 0x1 } as const;
export const SdFlags = { RD: 0x1, WR: 0x2 } as const;

/** Rights bits (u64). */
export const Rights = {
  FD_DATASYNC: 1n << 0n, FD_READ: 1n << 1n, FD_SEEK: 1n << 2n, FD_FDSTAT_SET_FLAGS: 1n << 3n,
  FD_SYNC: 1n << 4n, FD_TELL: 1n << 5n, FD_WRITE: 1n << 6n, FD_ADVISE: 1n << 7n,
  FD_ALLOCATE: 1n << 8n, PATH_CREATE_DIRECTORY: 1n << 9n, PATH_CREATE_FILE: 1n << 10n,
  PATH_LINK_SOURCE: 1n << 11n, PATH_LINK_TARGET: 1n << 12n, PATH_OPEN: 1n << 13n,
  FD_READDIR: 1n << 14n, PATH_READLINK: 1n << 15n, PATH_RENAME_SOURCE: 1n << 16n,
  PATH_RENAME_TARGET: 1n << 17n, PATH_FILESTAT_GET: 1n << 18n, PATH_FILESTAT_SET_SIZE: 1n << 19n,
  PATH_FILESTAT_SET_TIMES: 1n << 20n, FD_FILESTAT_GET: 1n << 21n, FD_FILESTAT_SET_SIZE: 1n << 22n,
  FD_FILESTAT_SET_TIMES: 1n << 23n, PATH_SYMLINK: 1n << 24n, PATH_REMOVE_DIRECTORY: 1n << 25n,
  PATH_UNLINK_FILE: 1n << 26n, POLL_FD_READWRITE: 1n << 27n, SOCK_SHUTDOWN: 1n << 28n,
  SOCK_ACCEPT: 1n << 29n,
} as const;

export const allRights = (1n << 30n) - 1n;

/** Rights that make sense on a regular file / a directory / a stream (stdio, socket). */
export const fileRights =
  Rights.FD_DATASYNC | Rights.FD_READ | Rights.FD_SEEK | Rights.FD_FDSTAT_SET_FLAGS |
  Rights.FD_SYNC | Rights.FD_TELL | Rights.FD_WRITE | Rights.FD_ADVISE | Rights.FD_ALLOCATE |
  Rights.FD_FILESTAT_GET | Rights.FD_FILESTAT_SET_SIZE | Rights.FD_FILESTAT_SET_TIMES |
  Rights.POLL_FD_READWRITE;
export const directoryRights =
  Rights.FD_FDSTAT_SET_FLAGS | Rights.FD_SYNC | Rights.FD_ADVISE | Rights.PATH_CREATE_DIRECTORY |
  Rights.PATH_CREATE_FILE | Rights.PATH_LINK_SOURCE | Rights.PATH_LINK_TARGET | Rights.PATH_OPEN |
  Rights.FD_READDIR | Rights.PATH_READLINK | Rights.PATH_RENAME_SOURCE | Rights.PATH_RENAME_TARGET |
  Rights.PATH_FILESTAT_GET | Rights.PATH_FILESTAT_SET_SIZE | Rights.PATH_FILESTAT_SET_TIMES |
  Rights.FD_FILESTAT_GET | Rights.FD_FILESTAT_SET_TIMES | Rights.PATH_SYMLINK |
  Rights.PATH_REMOVE_DIRECTORY | Rights.PATH_UNLINK_FILE;
export const streamRights =
  Rights.FD_READ | Rights.FD_WRITE | Rights.FD_FDSTAT_SET_FLAGS | Rights.FD_FILESTAT_GET |
  Rights.POLL_FD_READWRITE;
export const socketRights = streamRights | Rights.SOCK_SHUTDOWN | Rights.SOCK_ACCEPT;

export interface Filestat {
  dev: bigint; ino: bigint; filetype: number; nlink: bigint; size: bigint;
  atim: bigint; mtim: bigint; ctim: bigint;
}
/** filestat: 64 bytes, align 8. */
export const FilestatLayout = {
  size: 64,
  write(mem: GuestMemory, ptr: number, s: Filestat): void {
    mem.checkRange(ptr, 64);
    mem.setU64(ptr, s.dev);
    mem.setU64(ptr + 8, s.ino);
    mem.setU8(ptr + 16, s.filetype);
    mem.bytes(ptr + 17, 7).fill(0);
    mem.setU64(ptr + 24, s.nlink);
    mem.setU64(ptr + 32, s.size);
    mem.setU64(ptr + 40, s.atim);
    mem.setU64(ptr + 48, s.mtim);
    mem.setU64(ptr + 56, s.ctim);
  },
};

export interface Fdstat { filetype: number; flags: number; rightsBase: bigint; rightsInheriting: bigint }
/** fdstat: 24 bytes, align 8. */
export const FdstatLayout = {
  size: 24,
  write(mem: GuestMemory, ptr: number, s: Fdstat): void {
    mem.checkRange(ptr, 24);
    mem.bytes(ptr, 8).fill(0);
    mem.setU8(ptr, s.filetype);
    mem.setU16(ptr + 2, s.flags);
    mem.setU64(ptr + 8, s.rightsBase);
    mem.setU64(ptr + 16, s.rightsInheriting);
  },
};

/** prestat: 8 bytes; tag u8 @0 (0 = dir), name length u32 @4. */
export const PrestatLayout = {
  size: 8,
  write(mem: GuestMemory, ptr: number, nameLength: number): void {
    mem.checkRange(ptr, 8);
    mem.setU32(ptr, 0);
    mem.setU32(ptr + 4, nameLength);
  },
};

export interface Dirent { next: bigint; ino: bigint; name: Uint8Array; type: number }
/** dirent header: 24 bytes (d_next u64 @0, d_ino u64 @8, d_namlen u32 @16, d_type u8 @20), then the name. */
export const DirentLayout = {
  headerSize: 24,
  /** Serialises the header and name to bytes (fd_readdir copies a possibly truncated prefix). */
  encode(d: Dirent): Uint8Array {
    const out = new Uint8Array(24 + d.name.length);
    const view = new DataView(out.buffer);
    view.setBigUint64(0, d.next, true);
    view.setBigUint64(8, d.ino, true);
    view.setUint32(16, d.name.length, true);
    view.setUint8(20, d.type);
    out.set(d.name, 24);
    return out;
  },
};

export type Subscription =
  | { userdata: bigint; type: typeof EventType.CLOCK; clockId: number; timeout: bigint; precision: bigint; flags: number }
  | { userdata: bigint; type: typeof EventType.FD_READ | typeof EventType.FD_WRITE; fd: number };

/** subscription: 48 bytes, align 8. */
export const SubscriptionLayout = {
  size: 48,
  read(mem: GuestMemory, ptr: number): Subscription | { userdata: bigint; type: number; invalid: true } {
    mem.checkRange(ptr, 48);
    const userdata = mem.u64(ptr);
    const type = mem.u8(ptr + 8);
    if (type === EventType.CLOCK) {
      return {
        userdata, type, clockId: mem.u32(ptr + 16), timeout: mem.u64(ptr + 24),
        precision: mem.u64(ptr + 32), flags: mem.u16(ptr + 40),
      };
    }
    if (type === EventType.FD_READ || type === EventType.FD_WRITE) {
      return { userdata, type, fd: mem.u32(ptr + 16) };
    }
    return { userdata, type, invalid: true };
  },
};

export interface PollEvent { userdata: bigint; error: number; type: number; nbytes: bigint; flags: number }
/** event: 32 bytes, align 8. */
export const EventLayout = {
  size: 32,
  write(mem: GuestMemory, ptr: number, e: PollEvent): void {
    mem.checkRange(ptr, 32);
    mem.bytes(ptr, 32).fill(0);
    mem.setU64(ptr, e.userdata);
    mem.setU16(ptr + 8, e.error);
    mem.setU8(ptr + 10, e.type);
    mem.setU64(ptr + 16, e.nbytes);
    mem.setU16(ptr + 24, e.flags);
  },
};
