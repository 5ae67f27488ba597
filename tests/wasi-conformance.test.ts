// Expectations of the official WASI preview1 test suite (WebAssembly/wasi-testsuite, whose Rust
// tests come from wasmtime's test-programs), ported as direct syscall checks. Each `it` names
// the suite test it follows. Where the suite accepts several errnos, the one we give is listed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { programsDir, runCli, tempDir } from './helpers.js';
import { Errno, SyscallHarness, all } from './syscall-harness.js';

const O = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 };
const FD_READ = 1n << 1n, FD_SEEK = 1n << 2n, FD_TELL = 1n << 5n, FD_WRITE = 1n << 6n;
const PATH_FILESTAT_SET_SIZE = 1n << 19n, FD_READDIR = 1n << 14n, PATH_OPEN = 1n << 13n;
const APPEND = 1;
const file = (data: string) => ({ kind: 'file' as const, data: new TextEncoder().encode(data) });

describe('wasi-testsuite: files', () => {
  it('fd_fdstat_set_flags / file append: writes go to the end; clearing APPEND writes at the position', () => {
    const h = new SyscallHarness();
    const { fd } = h.open('file', { oflags: O.CREAT, rights: FD_READ | FD_WRITE | FD_SEEK | FD_TELL | (1n << 3n) | (1n << 21n), fdflags: APPEND });
    expect(h.write(fd, 'abcd').n).toBe(4);
    expect(h.seek(fd, 0n, 0).errno).toBe(0);
    h.write(fd, 'ef');
    expect(h.pread(fd, 16, 0n).text).toBe('abcdef');
    expect(h.fdstat(fd).flags).toBe(APPEND);
    expect(h.sys.fd_fdstat_set_flags!(fd, 0)).toBe(0);
    expect(h.seek(fd, 0n, 0).errno).toBe(0);
    h.write(fd, 'XY');
    expect(h.pread(fd, 16, 0n).text).toBe('XYcdef');
  });

  it('pwrite on an APPEND file writes at the offset and does not move the position (POSIX)', () => {
    const h = new SyscallHarness();
    const fd = h.create('f', '', APPEND);
    h.write(fd, 'ab');
    expect(h.seek(fd, 0n, 0).offset).toBe(0n);
    h.write(fd, 'cd');
    expect(h.seek(fd, 0n, 1).offset).toBe(4n);
    expect(h.pwrite(fd, 'XYZ', 0n)).toEqual({ errno: 0, n: 3 });
    expect(h.seek(fd, 0n, 1).offset).toBe(4n);
    expect(h.filestat(fd).size).toBe(4n);
    expect(h.pread(fd, 10, 0n).text).toBe('XYZd');
  });

  it('file_seek_tell: seek past the end then write leaves a zero-filled gap; negative seek is EINVAL', () => {
    const h = new SyscallHarness();
    const fd = h.create('f', 'abc');
    expect(h.seek(fd, 5n, 2)).toEqual({ errno: 0, offset: 8n });
    expect(h.filestat(fd).size).toBe(3n);
    h.write(fd, 'z');
    expect(h.filestat(fd).size).toBe(9n);
    expect(h.pread(fd, 16, 0n).text).toBe('abc\0\0\0\0\0z');
    expect(h.seek(fd, -100n, 1).errno).toBe(Errno.INVAL);
    expect(h.seek(fd, 0n, 7).errno).toBe(Errno.INVAL);
  });

  it('file_allocate: fd_allocate grows the file and never shrinks it', () => {
    const h = new SyscallHarness();
    const fd = h.create('f');
    expect(h.sys.fd_allocate!(fd, 0n, 100n)).toBe(0);
    expect(h.filestat(fd).size).toBe(100n);
    expect(h.sys.fd_allocate!(fd, 10n, 10n)).toBe(0);
    expect(h.filestat(fd).size).toBe(100n);
    expect(h.sys.fd_allocate!(fd, 90n, 20n)).toBe(0);
    expect(h.filestat(fd).size).toBe(110n);
  });

  it('file_truncation / truncation_rights: O_TRUNC needs PATH_FILESTAT_SET_SIZE on the directory', () => {
    const h = new SyscallHarness({ tree: { kind: 'dir', entries: [['f', file('123456')]] } });
    const { fd } = h.open('f', { oflags: O.TRUNC });
    expect(h.filestat(fd).size).toBe(0n);
    expect(h.sys.fd_fdstat_set_rights!(3, h.fdstat(3).rightsBase & ~PATH_FILESTAT_SET_SIZE, all)).toBe(0);
    expect(h.open('f', { oflags: O.TRUNC }).errno).toBe(Errno.NOTCAPABLE);
  });

  it('fd_filestat_set: set_size and set_times, ATIM with ATIM_NOW is EINVAL', () => {
    const h = new SyscallHarness();
    const fd = h.create('f', 'hello');
    expect(h.sys.fd_filestat_set_size!(fd, 2n)).toBe(0);
    expect(h.filestat(fd).size).toBe(2n);
    expect(h.sys.fd_filestat_set_times!(fd, 123n, 456n, 1 | 4)).toBe(0);
    const st = h.filestat(fd);
    expect([st.atim, st.mtim]).toEqual([123n, 456n]);
    expect(h.sys.fd_filestat_set_times!(fd, 1n, 1n, 1 | 2)).toBe(Errno.INVAL);
  });

  it('path_filestat: set_times through a path, stat of a missing path, trailing slash on a file', () => {
    const h = new SyscallHarness({ tree: { kind: 'dir', entries: [['f', file('x')]] } });
    const [p, l] = h.bytes('f');
    expect(h.sys.path_filestat_set_times!(3, 0, p, l, 0n, 999n, 4)).toBe(0);
    expect(h.pathFilestat('f').mtim).toBe(999n);
    expect(h.pathFilestat('f').filetype).toBe(4);
    expect(h.pathFilestat('missing').errno).toBe(Errno.NOENT);
    expect(h.pathFilestat('f/').errno).toBe(Errno.NOTDIR);
  });

  it('path_open_read_write: a read-only fd cannot write (EBADF) and a write-only fd cannot read', () => {
    const h = new SyscallHarness({ tree: { kind: 'dir', entries: [['f', file('data')]] } });
    const ro = h.open('f', { rights: FD_READ }).fd;
    expect(h.write(ro, 'x').errno).toBe(Errno.BADF);
    expect(h.readFd(ro).text).toBe('data');
    const wo = h.open('f', { rights: FD_WRITE }).fd;
    expect(h.readFd(wo).errno).toBe(Errno.BADF);
  });

  it('path_open_create_existing / path_open_missing / path_open_dirfd_not_dir', () => {
    const h = new SyscallHarness({ tree: { kind: 'dir', entries: [['f', file('x')]] } });
    expect(h.open('f', { oflags: O.CREAT | O.EXCL }).errno).toBe(Errno.EXIST);
    expect(h.open('nope').errno).toBe(Errno.NOENT);
    const fd = h.open('f').fd;
    expect(h.open('anything', { dirfd: fd }).errno).toBe(Errno.NOTDIR);
    expect(h.open('f', { oflags: O.DIRECTORY }).errno).toBe(Errno.NOTDIR);
  });

  it('dangling_fd: an unlinked file stays readable through its open fd', () => {
    const h = new SyscallHarness();
    const fd = h.create('f', 'still here');
    expect(h.path('path_unlink_file', 'f')).toBe(0);
    expect(h.pread(fd, 64, 0n).text).toBe('still here');
    expect(h.pathFilestat('f').errno).toBe(Errno.NOENT);
    expect(h.filestat(fd).nlink).toBe(0n);
  });

  it('fd_advise and fd_sync on a file succeed; fd_seek on a directory is EBADF (directory_seek)', () => {
    const h = new SyscallHarness();
    const fd = h.create('f', 'abc');
    expect(h.sys.fd_advise!(fd, 0n, 3n, 1)).toBe(0);
    expect(h.sys.fd_advise!(fd, 0n, 3n, 9)).toBe(Errno.INVAL);
    expect(h.sys.fd_sync!(fd)).toBe(0);
    expect(h.sys.fd_datasync!(fd)).toBe(0);
    const dir = h.open('.', { oflags: O.DIRECTORY, rights: FD_READDIR | PATH_OPEN }).fd;
    expect(h.seek(dir, 0n, 1).errno).toBe(Errno.BADF);
    expect(h.write(dir, 'x').errno).toBe(Errno.ISDIR);
  });
});

describe('wasi-testsuite: rights and fds', () => {
  it('fd_fdstat_set_rights: rights can be dropped, never regained', () => {
    const h = new SyscallHarness();
    const fd = h.create('f');
    expect(h.sys.fd_fdstat_set_rights!(fd, FD_READ, 0n)).toBe(0);
    expect(h.fdstat(fd).rightsBase).toBe(FD_READ);
    expect(h.sys.fd_fdstat_set_rights!(fd, FD_READ | FD_WRITE, 0n)).toBe(Errno.NOTCAPABLE);
    expect(h.write(fd, 'x').errno).toBe(Errno.BADF);
    expect(h.seek(fd, 0n, 0).errno).toBe(Errno.NOTCAPABLE);
  });

  it('path_open: the new fd gets at most the directory\'s inheriting rights', () => {
    const h = new SyscallHarness();
    h.create('f');
    const sub = h.open('.', { oflags: O.DIRECTORY, rights: all & ~FD_WRITE, inheriting: FD_READ | FD_SEEK });
    expect(sub.errno).toBe(0);
    const { fd } = h.open('f', { dirfd: sub.fd, rights: all });
    expect(h.fdstat(fd).rightsBase).toBe(FD_READ | FD_SEEK);
  });

  it('path_open_preopen: "." of the preopen opens with its own rights, with none, with O_DIRECTORY and none or FD_READ', () => {
    const h = new SyscallHarness();
    const preopen = h.fdstat(3);
    const same = h.open('.', { dirflags: 0, rights: preopen.rightsBase, inheriting: preopen.rightsInheriting });
    expect(same.errno).toBe(0);
    expect(h.fdstat(same.fd)).toMatchObject({ filetype: 3, rightsBase: preopen.rightsBase, rightsInheriting: preopen.rightsInheriting });
    const none = h.open('.', { dirflags: 0, rights: 0n, inheriting: 0n });
    expect(none.errno).toBe(0);
    expect(h.fdstat(none.fd)).toMatchObject({ filetype: 3, rightsBase: 0n, rightsInheriting: 0n });
    expect(h.open('.', { dirflags: 0, oflags: O.DIRECTORY, rights: 0n, inheriting: 0n }).errno).toBe(0);
    expect(h.open('.', { dirflags: 0, oflags: O.DIRECTORY, rights: FD_READ, inheriting: 0n }).errno).toBe(0);
  });

  it('path_open_preopen: asking FD_WRITE on a directory is EISDIR, with or without O_DIRECTORY, even where it could not be granted', () => {
    const h = new SyscallHarness();
    h.path('path_create_directory', 'd');
    for (const path of ['.', 'd', 'd/']) {
      expect(h.open(path, { oflags: O.DIRECTORY, rights: FD_READ | FD_WRITE, inheriting: 0n }).errno).toBe(Errno.ISDIR);
      expect(h.open(path, { rights: FD_READ | FD_WRITE, inheriting: 0n }).errno).toBe(Errno.ISDIR);
      expect(h.open(path, { rights: FD_WRITE, inheriting: 0n }).errno).toBe(Errno.ISDIR);
    }
    // The requested rights are the access mode (as open(2)'s O_RDWR), not what would be granted.
    expect(h.sys.fd_fdstat_set_rights!(3, h.fdstat(3).rightsBase, all & ~FD_WRITE)).toBe(0);
    expect(h.open('.', { oflags: O.DIRECTORY, rights: FD_READ | FD_WRITE }).errno).toBe(Errno.ISDIR);
    // A file is still ENOTDIR under O_DIRECTORY, and writable without it.
    h.create('f');
    expect(h.open('f', { oflags: O.DIRECTORY, rights: 0n }).errno).toBe(Errno.NOTDIR);
    expect(h.open('f', { rights: FD_WRITE }).errno).toBe(0);
  });

  it('the lowest free fd is reused; fd_renumber needs an open target (renumber, close_preopen)', () => {
    const h = new SyscallHarness();
    const a = h.create('a');
    const b = h.create('b');
    expect([a, b]).toEqual([4, 5]);
    expect(h.sys.fd_close!(a)).toBe(0);
    expect(h.create('c')).toBe(4);
    expect(h.sys.fd_renumber!(b, 99)).toBe(Errno.BADF);
    expect(h.sys.fd_renumber!(b, 4)).toBe(0);
    expect(h.fdstat(5).errno).toBe(Errno.BADF);
    expect(h.sys.fd_close!(3)).toBe(0);
    expect(h.sys.fd_prestat_get!(3, h.alloc(8))).toBe(Errno.BADF);
    expect(h.sys.fd_close!(3)).toBe(Errno.BADF);
  });

  it('fd_prestat_get / dir_name on the preopen, EBADF on a plain file, ENAMETOOLONG on a short buffer', () => {
    const h = new SyscallHarness();
    const out = h.alloc(8);
    expect(h.sys.fd_prestat_get!(3, out)).toBe(0);
    expect(h.u32(out + 4)).toBe('/scratch'.length);
    const name = h.alloc(16);
    expect(h.sys.fd_prestat_dir_name!(3, name, 16)).toBe(0);
    expect(new TextDecoder().decode(h.read(name, 8))).toBe('/scratch');
    expect(h.sys.fd_prestat_dir_name!(3, name, 3)).toBe(Errno.NAMETOOLONG);
    expect(h.sys.fd_prestat_get!(1, out)).toBe(Errno.BADF);
  });

  it('stdio: character devices; seek on stdout is ESPIPE; socket calls on non-sockets are ENOTSOCK', () => {
    const h = new SyscallHarness();
    for (const fd of [0, 1, 2]) expect(h.fdstat(fd).filetype).toBe(2);
    expect(h.seek(1, 0n, 0).errno).toBe(Errno.SPIPE);
    const fd = h.create('f');
    expect(h.sys.sock_shutdown!(fd, 1)).toBe(Errno.NOTSOCK);
    expect(h.sys.sock_accept!(3, 0, h.alloc(4))).toBe(Errno.NOTSOCK);
    expect(h.sys.sock_send!(1, h.alloc(8), 0, 0, h.alloc(4))).toBe(Errno.NOTSOCK);
    expect(h.sys.sock_recv!(0, h.alloc(8), 0, 0, h.alloc(4), h.alloc(4))).toBe(Errno.NOTSOCK);
  });

  it('EMFILE at the fd limit, and the fd is usable again after a close', () => {
    const h = new SyscallHarness({ maxOpenFds: 8 });
    const fds = [4, 5, 6, 7].map((i) => h.create(`f${i}`));
    expect(fds).toEqual([4, 5, 6, 7]);
    expect(h.open('x', { oflags: O.CREAT }).errno).toBe(Errno.MFILE);
    h.sys.fd_close!(5);
    expect(h.open('x', { oflags: O.CREAT }).fd).toBe(5);
  });
});

describe('wasi-testsuite: directories and readdir', () => {
  it('fd_readdir: ".", "..", then names in byte order; cookies resume; a truncated last entry fills the buffer', () => {
    const names = ['b', 'a', 'Z', 'é', 'long-file-name-0123456789'];
    const h = new SyscallHarness({ tree: { kind: 'dir', entries: [] } });
    for (const n of names) h.create(n);
    const full = h.readdir(3);
    expect(full.entries.map((e) => e.name)).toEqual(['.', '..', 'Z', 'a', 'b', 'long-file-name-0123456789', 'é']);
    expect(full.entries.map((e) => e.next)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n]);
    expect(full.entries[2]!.type).toBe(4);
    expect(full.entries[0]!.type).toBe(3);
    expect(h.listDir(3, 64)).toEqual(full.entries.map((e) => e.name));
    const part = h.readdir(3, 30, 0n);
    expect(part.used).toBe(30);
    expect(h.readdir(3, 4096, 5n).entries.map((e) => e.name)).toEqual(['long-file-name-0123456789', 'é']);
    expect(h.readdir(3, 4096, 100n).used).toBe(0);
  });

  it('readdir inode numbers match stat, and are stable across runs', () => {
    const tree = { kind: 'dir' as const, entries: [['a', file('1')], ['d', { kind: 'dir' as const, entries: [['x', file('2')]] }]] as [string, never][] };
    const one = new SyscallHarness({ tree });
    const two = new SyscallHarness({ tree });
    const inos = (h: SyscallHarness) => h.readdir(3).entries.map((e) => e.ino);
    expect(inos(one)).toEqual(inos(two));
    expect(one.readdir(3).entries.find((e) => e.name === 'd')!.ino).toBe(one.pathFilestat('d').ino);
  });

  it('remove_directory: ENOTEMPTY, ENOTDIR on a file, trailing slash allowed on a directory', () => {
    const h = new SyscallHarness();
    expect(h.path('path_create_directory', 'd')).toBe(0);
    expect(h.path('path_create_directory', 'd')).toBe(Errno.EXIST);
    h.create('d/f');
    expect(h.path('path_remove_directory', 'd')).toBe(Errno.NOTEMPTY);
    expect(h.path('path_remove_directory', 'd/f')).toBe(Errno.NOTDIR);
    expect(h.path('path_unlink_file', 'd/f')).toBe(0);
    expect(h.path('path_remove_directory', 'd/')).toBe(0);
    expect(h.path('path_remove_directory', '.')).toBe(Errno.INVAL);
  });

  it('unlink_file_trailing_slashes: EISDIR for a directory, ENOTDIR for "file/"', () => {
    const h = new SyscallHarness();
    h.path('path_create_directory', 'd');
    h.create('f');
    expect(h.path('path_unlink_file', 'd')).toBe(Errno.ISDIR);
    expect(h.path('path_unlink_file', 'd/')).toBe(Errno.ISDIR);
    expect(h.path('path_unlink_file', 'f/')).toBe(Errno.NOTDIR);
    expect(h.path('path_unlink_file', 'f')).toBe(0);
  });

  it('path_rename: over files, into directories, ENOTEMPTY, EISDIR, ENOTDIR, into itself EINVAL', () => {
    const h = new SyscallHarness();
    h.create('a', 'A');
    h.create('b', 'B');
    expect(h.rename('a', 'b')).toBe(0);
    expect(h.pread(h.open('b').fd, 8, 0n).text).toBe('A');
    expect(h.pathFilestat('a').errno).toBe(Errno.NOENT);
    h.path('path_create_directory', 'd');
    h.path('path_create_directory', 'e');
    h.create('e/x');
    expect(h.rename('b', 'd')).toBe(Errno.ISDIR);
    expect(h.rename('d', 'b')).toBe(Errno.NOTDIR);
    expect(h.rename('d', 'e')).toBe(Errno.NOTEMPTY);
    expect(h.rename('e', 'e/sub')).toBe(Errno.INVAL);
    expect(h.rename('b', 'b/')).toBe(Errno.NOTDIR);
    expect(h.rename('e', 'd')).toBe(0);
    expect(h.pathFilestat('d/x').errno).toBe(0);
    expect(h.rename('b', 'b')).toBe(0);
    expect(h.rename('missing', 'c')).toBe(Errno.NOENT);
  });

  it('path_link: hard links share the inode and count links; directories cannot be linked', () => {
    const h = new SyscallHarness();
    h.create('f', 'data');
    expect(h.link('f', 'g')).toBe(0);
    expect(h.pathFilestat('g').ino).toBe(h.pathFilestat('f').ino);
    expect(h.pathFilestat('f').nlink).toBe(2n);
    expect(h.link('f', 'g')).toBe(Errno.EXIST);
    h.path('path_create_directory', 'd');
    expect(h.link('d', 'd2')).toBe(Errno.PERM);
  });
});

describe('wasi-testsuite: symlinks and sandboxing', () => {
  it('symlink_create / readlink: a short buffer truncates; readlink of a file is EINVAL', () => {
    const h = new SyscallHarness();
    h.create('target');
    expect(h.symlink('target', 'link')).toBe(0);
    expect(h.readlink('link', 64)).toEqual({ errno: 0, target: 'target' });
    expect(h.readlink('link', 3)).toEqual({ errno: 0, target: 'tar' });
    expect(h.readlink('target', 64).errno).toBe(Errno.INVAL);
    expect(h.symlink('target', 'link')).toBe(Errno.EXIST);
    expect(h.pathFilestat('link', false).filetype).toBe(7);
    expect(h.pathFilestat('link', true).filetype).toBe(4);
  });

  it('symlink_create: a symlink to "/" or any absolute path is ENOTCAPABLE and creates nothing; relative targets are stored', () => {
    const h = new SyscallHarness();
    expect(h.symlink('/', 'symlink')).toBe(Errno.NOTCAPABLE);
    expect(h.symlink('/etc/passwd', 'abs')).toBe(Errno.NOTCAPABLE);
    expect(h.symlink('//x', 'abs')).toBe(Errno.NOTCAPABLE);
    expect(h.pathFilestat('symlink', false).errno).toBe(Errno.NOENT);
    expect(h.pathFilestat('abs', false).errno).toBe(Errno.NOENT);
    // The target is refused before the new name is looked at; a bad fd is still EBADF.
    h.create('taken');
    expect(h.symlink('/', 'taken')).toBe(Errno.NOTCAPABLE);
    expect(h.symlink('/', 'x', 99)).toBe(Errno.BADF);
    // Relative targets are stored as written, even one that leaves the directory (following
    // it is what is refused); so is a name merely containing a slash later on.
    expect(h.symlink('taken', 'symlink')).toBe(0);
    expect(h.symlink('../outside', 'up')).toBe(0);
    expect(h.symlink('a/b/', 'slashy')).toBe(0);
    expect(h.readlink('up', 64)).toEqual({ errno: 0, target: '../outside' });
    expect(h.open('up').errno).toBe(Errno.NOTCAPABLE);
    expect(h.pathFilestat('symlink', true).filetype).toBe(4);
  });

  it('nofollow_errors: opening a symlink without SYMLINK_FOLLOW is ELOOP', () => {
    const h = new SyscallHarness();
    h.create('target');
    h.symlink('target', 'link');
    expect(h.open('link', { dirflags: 0 }).errno).toBe(Errno.LOOP);
    expect(h.open('link', { dirflags: 1 }).errno).toBe(0);
  });

  it('dangling_symlink and symlink_loop: ENOENT, ELOOP; O_CREAT through a dangling link creates the target', () => {
    const h = new SyscallHarness();
    h.symlink('nowhere', 'dangling');
    expect(h.open('dangling', { oflags: O.DIRECTORY }).errno).toBe(Errno.NOENT);
    h.symlink('loop2', 'loop1');
    h.symlink('loop1', 'loop2');
    expect(h.open('loop1').errno).toBe(Errno.LOOP);
    expect(h.open('dangling', { oflags: O.CREAT }).errno).toBe(0);
    expect(h.pathFilestat('nowhere').filetype).toBe(4);
  });

  it('interesting_paths: absolute paths, ".." above the preopen and symlinks out of it are ENOTCAPABLE', () => {
    // An absolute symlink can only come from the host's snapshot (path_symlink refuses one).
    const abs = { kind: 'symlink' as const, target: '/etc/passwd' };
    const h = new SyscallHarness({ tree: { kind: 'dir', entries: [['abs', abs], ['dir', { kind: 'dir', entries: [['f', file('x')]] }]] } });
    expect(h.open('/dir/f').errno).toBe(Errno.NOTCAPABLE);
    expect(h.open('../scratch/dir/f').errno).toBe(Errno.NOTCAPABLE);
    expect(h.open('dir/../../x').errno).toBe(Errno.NOTCAPABLE);
    expect(h.open('dir/../dir/./f').errno).toBe(0);
    expect(h.open('dir/f/').errno).toBe(Errno.NOTDIR);
    expect(h.open('dir/f/x').errno).toBe(Errno.NOTDIR);
    expect(h.open('').errno).toBe(Errno.NOENT);
    expect(h.symlink('../../outside', 'dir/up')).toBe(0);
    expect(h.open('abs').errno).toBe(Errno.NOTCAPABLE);
    expect(h.open('dir/up').errno).toBe(Errno.NOTCAPABLE);
    // A directory opened below the preopen is its own sandbox: ".." from it is refused too.
    const sub = h.open('dir', { oflags: O.DIRECTORY, rights: all & ~FD_WRITE }).fd;
    expect(h.open('../dir/f', { dirfd: sub }).errno).toBe(Errno.NOTCAPABLE);
    expect(h.open('f', { dirfd: sub }).errno).toBe(0);
  });

  it('path_symlink_trailing_slashes: a new link name ending in "/" is refused', () => {
    const h = new SyscallHarness();
    h.create('f');
    expect(h.symlink('f', 'l/')).toBe(Errno.NOENT);
    expect(h.symlink('f', 'f/')).toBe(Errno.EXIST);
  });

  it('paths that are not UTF-8 are EILSEQ, NUL bytes EINVAL, over-long names ENAMETOOLONG', () => {
    const h = new SyscallHarness();
    const [p, l] = h.bytes(new Uint8Array([0x66, 0xff]));
    expect(h.sys.path_open!(3, 0, p, l, 1, all, all, 0, h.alloc(4))).toBe(Errno.ILSEQ);
    const [q, m] = h.bytes(new Uint8Array([0x66, 0, 0x67]));
    expect(h.sys.path_open!(3, 0, q, m, 1, all, all, 0, h.alloc(4))).toBe(Errno.INVAL);
    expect(h.open('x'.repeat(256), { oflags: O.CREAT }).errno).toBe(Errno.NAMETOOLONG);
  });
});

describe('wasi-testsuite steps through the CLI', () => {
  it('path_open_preopen and symlink_create, step by step, with the preopen named "/" as the suite gives it', () => {
    const r = runCli(['run', '--dir', `${tempDir()}::/`, join(programsDir, 'wat', 'wasi_steps.wat')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(readFileSync(join(programsDir, 'expected', 'wasi_steps.txt'), 'utf8'));
  });
});

describe('filesystem limits', () => {
  it('creating past the inode limit is ENOSPC; growing past the byte limit is ENOSPC or EFBIG', () => {
    const h = new SyscallHarness({ snapshotLimits: { maxEntries: 4, maxBytes: 1000 } });
    h.create('a');
    h.create('b');
    const c = h.create('c');
    expect(h.open('d', { oflags: O.CREAT }).errno).toBe(Errno.NOSPC);
    const fd = h.open('a').fd;
    expect(h.write(fd, 'x'.repeat(900)).errno).toBe(0);
    expect(h.write(h.open('b').fd, 'y'.repeat(200)).errno).toBe(Errno.NOSPC);
    expect(h.pwrite(fd, 'z', 5000n).errno).toBe(Errno.FBIG);
    // An unlinked file is freed when its last fd closes, and the space is reusable.
    expect(h.path('path_unlink_file', 'c')).toBe(0);
    expect(h.open('d', { oflags: O.CREAT }).errno).toBe(Errno.NOSPC);
    expect(h.sys.fd_close!(c)).toBe(0);
    expect(h.open('d', { oflags: O.CREAT }).errno).toBe(0);
  });
});
