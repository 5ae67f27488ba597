import { allRights, directoryRights } from '../abi.js';
import { DirectoryHandle } from './dir-handle.js';
import type { Filesystem } from './filesystem.js';
import type { TreeNode, WriteBackOp } from './tree.js';

/** Loads a --dir snapshot and returns the preopen handle the guest finds at its fd. */
export function mountSnapshot(fs: Filesystem, guestPath: string, tree: TreeNode): DirectoryHandle {
  return new DirectoryHandle(fs, fs.load(tree), directoryRights, allRights, guestPath);
}

/**
 * The host changes that turn `before` (the snapshot taken at start) into the directory's
 * contents now: removals first within each directory, then creations and rewrites, in name
 * order. Hard links are written back as separate copies.
 */
export function writeBackOps(fs: Filesystem, root: DirectoryHandle, before: TreeNode): WriteBackOp[] {
  const ops: WriteBackOp[] = [];
  diffDir('', before.kind === 'dir' ? before : undefined, fs.toTree(root.inode), ops);
  return ops;
}

type DirTree = Extract<TreeNode, { kind: 'dir' }>;

function diffDir(path: string, before: DirTree | undefined, after: DirTree, ops: WriteBackOp[]): void {
  const old = new Map(before?.entries ?? []);
  const now = new Map(after.entries);
  const join = (name: string) => (path ? `${path}/${name}` : name);
  for (const [name, node] of old) {
    const replacement = now.get(name);
    if (!replacement || replacement.kind !== node.kind) ops.push({ op: 'remove', path: join(name) });
  }
  for (const [name, node] of after.entries) {
    const prior = old.get(name);
    const same = prior?.kind === node.kind ? prior : undefined;
    diffNode(join(name), same, node, ops);
  }
}

function diffNode(path: string, before: TreeNode | undefined, after: TreeNode, ops: WriteBackOp[]): void {
  switch (after.kind) {
    case 'dir':
      if (!before) ops.push({ op: 'mkdir', path });
      diffDir(path, before as DirTree | undefined, after, ops);
      return;
    case 'file':
      if (!before || !sameBytes((before as typeof after).data, after.data)) ops.push({ op: 'write', path, data: after.data });
      return;
    case 'symlink':
      if (!before || (before as typeof after).target !== after.target) ops.push({ op: 'symlink', path, target: after.target });
      return;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
