// `replicode record` as a library: snapshot the preopens, describe the run in a trace header,
// and run the guest in a worker that records every event into the trace file.
import {
  pack, replicodeVersion, type TraceHeader,
} from '../formats/index.js';
import {
  loadHostTree, sha256, spawnGuest, type GuestOutcome, type ProcessConfig, type SessionStats, type StdinSource, type TreeNode,
} from '../runtime/index.js';

/** Snapshots and modules above these sizes are stored as hashes only (replay then needs the originals). */
export const maxEmbeddedSnapshotBytes = 8 * 1024 * 1024;
export const maxEmbeddedModuleBytes = 8 * 1024 * 1024;
export const defaultCheckpointEvery = 16384;
export const defaultMaxTraceBytes = 4 * 1024 ** 3;

export interface RecordRequest {
  moduleName: string;
  moduleBytes: Uint8Array;
  module: WebAssembly.Module;
  config: ProcessConfig;
  tracePath: string;
  checkpointEvery?: number;
  recordOutput?: boolean;
  embedModule?: boolean;
  maxTraceBytes?: number;
  stdin?: StdinSource;
  onOutput: (stream: 1 | 2, bytes: Uint8Array) => void | Promise<void>;
}

export interface RecordResult { outcome: GuestOutcome; stats: SessionStats | undefined; header: TraceHeader }

/** Size of a tree's file contents, to decide whether it is embedded. */
function treeBytes(tree: TreeNode): number {
  if (tree.kind === 'file') return tree.data.length;
  if (tree.kind === 'symlink') return tree.target.length;
  return tree.entries.reduce((sum, [, child]) => sum + treeBytes(child), 0);
}

/** The snapshot hash stored in headers: SHA-256 of the tree's msgpack encoding. */
export function snapshotSha256(tree: TreeNode): string {
  return Buffer.from(sha256(pack(tree))).toString('hex');
}

export function traceHeader(req: RecordRequest, trees: Record<string, TreeNode>): TraceHeader {
  const { config } = req;
  const embedModule = (req.embedModule ?? true) && req.moduleBytes.length <= maxEmbeddedModuleBytes;
  return {
    replicodeVersion,
    module: { name: req.moduleName, sha256: Buffer.from(sha256(req.moduleBytes)).toString('hex'), size: req.moduleBytes.length, bytes: embedModule ? req.moduleBytes : null },
    config: {
      args: config.args, env: config.env, seed: config.seed, epochNs: config.epochNs, writeBack: config.writeBack,
      maxOpenFds: config.maxOpenFds, snapshotLimits: config.snapshotLimits,
    },
    preopens: config.preopens.map(({ hostPath, guestPath }) => {
      const tree = trees[hostPath]!;
      return { hostPath, guestPath, sha256: snapshotSha256(tree), tree: treeBytes(tree) <= maxEmbeddedSnapshotBytes ? tree : null };
    }),
    options: {
      clock: config.clock, random: config.random,
      checkpointEvery: req.checkpointEvery ?? defaultCheckpointEvery, recordOutput: req.recordOutput ?? false,
    },
  };
}

export async function record(req: RecordRequest): Promise<RecordResult> {
  const trees: Record<string, TreeNode> = {};
  for (const { hostPath } of req.config.preopens) trees[hostPath] ??= loadHostTree(hostPath, req.config.snapshotLimits);
  const header = traceHeader(req, trees);
  let stats: SessionStats | undefined;
  const outcome = await spawnGuest({
    module: req.module, config: req.config, trees, onOutput: req.onOutput,
    ...(req.stdin ? { stdin: req.stdin } : {}),
    session: {
      kind: 'record', tracePath: req.tracePath, header, checkpointEvery: header.options.checkpointEvery,
      recordOutput: header.options.recordOutput, maxTraceBytes: req.maxTraceBytes ?? defaultMaxTraceBytes,
    },
    onStats: (s) => { stats = s; },
  });
  return { outcome, stats, header };
}
