// Real disk I/O for --dir preopens: the snapshot read at start and the write-back at exit.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SnapshotLimits, TreeNode, WriteBackOp } from '../fs/tree.js';

/** A --dir problem the user can fix (missing directory, snapshot over its limits). */
export class PreopenError extends Error {}

const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Reads a host directory into a TreeNode, sorted by name; sockets, fifos and devices are skipped. */
export function loadHostTree(hostPath: string, limits: SnapshotLimits): TreeNode {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(hostPath);
  } catch {
    throw new PreopenError(`--dir ${hostPath}: no such directory`);
  }
  if (!stat.isDirectory()) throw new PreopenError(`--dir ${hostPath}: not a directory`);
  const budget = { entries: 0, bytes: 0 };
  return readDir(hostPath, limits, budget, hostPath);
}

function readDir(dir: string, limits: SnapshotLimits, budget: { entries: number; bytes: number }, root: string): TreeNode {
  const entries: [string, TreeNode][] = [];
  for (const name of fs.readdirSync(dir).sort(byUtf8)) {
    if (++budget.entries > limits.maxEntries) {
      throw new PreopenError(`--dir ${root}: more than ${limits.maxEntries} entries to snapshot`);
    }
    const full = path.join(dir, name);
    const st = fs.lstatSync(full);
    if (st.isSymbolicLink()) entries.push([name, { kind: 'symlink', target: fs.readlinkSync(full) }]);
    else if (st.isDirectory()) entries.push([name, readDir(full, limits, budget, root)]);
    else if (st.isFile()) {
      budget.bytes += st.size;
      if (budget.bytes > limits.maxBytes) throw new PreopenError(`--dir ${root}: more than ${limits.maxBytes} bytes to snapshot`);
      entries.push([name, { kind: 'file', data: new Uint8Array(fs.readFileSync(full)) }]);
    }
  }
  return { kind: 'dir', entries };
}

/** Applies write-back operations under hostRoot, refusing any path that would leave it. */
export function applyWriteBack(hostRoot: string, ops: WriteBackOp[]): void {
  const root = path.resolve(hostRoot);
  for (const op of ops) {
    const target = path.resolve(root, op.path);
    if (target !== root && !target.startsWith(root + path.sep)) {
      throw new PreopenError(`write-back path ${op.path} leaves ${hostRoot}`);
    }
    switch (op.op) {
      case 'mkdir': fs.mkdirSync(target, { recursive: true }); break;
      case 'write': fs.writeFileSync(target, op.data); break;
      case 'symlink': fs.rmSync(target, { force: true }); fs.symlinkSync(op.target, target); break;
      case 'remove': fs.rmSync(target, { recursive: true, force: true }); break;
    }
  }
}
