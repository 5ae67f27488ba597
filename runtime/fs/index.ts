// Public surface of the in-memory filesystem (used by the kernel).
export { Filesystem } from './filesystem.js';
export { DirectoryHandle } from './dir-handle.js';
export { FileHandle } from './file-handle.js';
export { mountSnapshot, writeBackOps } from './mount.js';
export { fsSyscalls } from './syscalls.js';
export { resolvePath, maxPathBytes, maxNameBytes, maxSymlinkHops } from './resolve.js';
export { compareNames } from './inode.js';
export { defaultSnapshotLimits, type SnapshotLimits, type TreeNode, type WriteBackOp } from './tree.js';
