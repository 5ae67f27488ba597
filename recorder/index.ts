// `replicode record` as a library: snapshot the preopens, describe the run in a trace header,
// and run the guest in a worker that records every event into the trace file.
import {
  defaultMaxTraceBytes, encodeHeader, headerBytesPastLimit, maxRecordBytes, pack, replicodeVersion, TraceLimitError, type TraceHeader,
} from '../formats/index.js';
import { isThreadedModule,
  loadHostTree, machineProcessConfig, rewritePipeline, sha256, startMachine, type GuestOutcome, type ListenSpec, type ProcessConfig, type RunningMachine,
  type SessionStats, type SpawnOptions, type StdinSource, type TreeNode,
} from '../runtime/index.js';

/** Snapshots and modules above these sizes are stored as hashes only (replay then needs the originals). */
export const maxEmbeddedSnapshotBytes = 8 * 1024 * 1024;
export const maxEmbeddedModuleBytes = 8 * 1024 * 1024;
export const defaultCheckpointEvery = 16384;
/** `--max-trace-bytes` when not given: the trace format's own default (4 GiB). */
export { defaultMaxTraceBytes };

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
  onOutput: SpawnOptions['onOutput'];
  /** Streams on a terminal: see SpawnOptions.watchedOutput. */
  watchedOutput?: readonly (1 | 2)[];
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

/**
 * The header for a recording. It is one record, so it must fit in maxRecordBytes: past that, the
 * largest embedded snapshot (then the module) is stored by hash only, as if over its own limit,
 * until it fits; `inspect` shows which (replay then reads the host directory and checks it).
 */
export function traceHeader(req: RecordRequest, trees: Record<string, TreeNode>): TraceHeader {
  const header = fullHeader(req, trees);
  for (;;) {
    const bytes = encodeHeader(header).length;
    if (bytes <= maxRecordBytes) return header;
    const largest = header.preopens.filter((p) => p.tree !== null).sort((a, b) => treeBytes(b.tree!) - treeBytes(a.tree!))[0];
    if (largest) largest.tree = null;
    else if (header.module.bytes !== null) header.module.bytes = null;
    else throw new TraceLimitError(`the trace header would take ${bytes} bytes (arguments and environment), more than a trace record holds (${maxRecordBytes})`);
  }
}

function fullHeader(req: RecordRequest, trees: Record<string, TreeNode>): TraceHeader {
  const { config } = req;
  const embedModule = (req.embedModule ?? true) && req.moduleBytes.length <= maxEmbeddedModuleBytes;
  return {
    replicodeVersion,
    module: {
      name: req.moduleName, sha256: Buffer.from(sha256(req.moduleBytes)).toString('hex'), size: req.moduleBytes.length, bytes: embedModule ? req.moduleBytes : null,
      rewrite: rewritePipeline(config, req.module instanceof WebAssembly.Module && isThreadedModule(req.module)),
    },
    config: {
      args: config.args, env: config.env, seed: config.seed, epochNs: config.epochNs, writeBack: config.writeBack,
      maxOpenFds: config.maxOpenFds, snapshotLimits: config.snapshotLimits, pid: config.pid,
      ...(config.faults?.length ? { faults: config.faults } : {}),
      ...(config.stdin === 'machine' ? { stdin: 'machine' as const } : {}),
      ...(config.hosts?.length ? { hosts: config.hosts } : {}),
      ...(config.maxMemoryBytes !== undefined ? { maxMemoryBytes: config.maxMemoryBytes } : {}),
      ...(config.sendBufferBytes !== undefined ? { sendBufferBytes: config.sendBufferBytes } : {}),
      ...(config.maxThreads !== undefined ? { maxThreads: config.maxThreads } : {}),
      ...(config.httpIdleTimeoutMs !== undefined ? { httpIdleTimeoutMs: config.httpIdleTimeoutMs } : {}),
      ...(config.httpServeRevision !== undefined ? { httpServeRevision: config.httpServeRevision } : {}),
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

export interface MachineRecordRequest {
  /** One per process, in pid order; each writes its own trace. */
  processes: Omit<RecordRequest, 'onOutput' | 'stdin' | 'watchedOutput'>[];
  listen: ListenSpec[];
  stdin?: StdinSource;
  onOutput: SpawnOptions['onOutput'];
  watchedOutput?: readonly (1 | 2)[];
  /** As MachineOptions.onListening. */
  onListening?: (listening: ListenSpec[]) => void;
}

export interface MachineRecording {
  running: RunningMachine;
  /** Per process, in pid order, once all have ended. */
  results: Promise<RecordResult[]>;
}

/** Records every process of a machine (servers with --listen, several processes) into its own trace. */
export async function startRecording(req: MachineRecordRequest): Promise<MachineRecording> {
  const stats: (SessionStats | undefined)[] = [];
  const headers: TraceHeader[] = [];
  const specs = req.processes.map((p, i) => {
    const config = machineProcessConfig(p.config, i + 1);
    const trees: Record<string, TreeNode> = {};
    for (const { hostPath } of config.preopens) trees[hostPath] ??= loadHostTree(hostPath, config.snapshotLimits);
    const header = traceHeader({ ...p, config, onOutput: req.onOutput }, trees);
    const maxTraceBytes = p.maxTraceBytes ?? defaultMaxTraceBytes;
    const start = headerBytesPastLimit(header, maxTraceBytes);
    // Refused before anything is written: a trace whose header alone passes its limit holds nothing.
    if (start !== undefined) throw new TraceLimitError(`--max-trace-bytes ${maxTraceBytes}: the trace's header alone takes ${start} bytes (the module is embedded unless --no-embed-module)`);
    headers.push(header);
    return {
      module: p.module, config, trees, onOutput: req.onOutput, ...(req.watchedOutput ? { watchedOutput: req.watchedOutput } : {}),
      session: {
        kind: 'record' as const, tracePath: p.tracePath, header, checkpointEvery: header.options.checkpointEvery,
        recordOutput: header.options.recordOutput, maxTraceBytes,
      },
      onStats: (s: SessionStats) => { stats[i] = s; },
    };
  });
  const running = await startMachine({ processes: specs, listen: req.listen, ...(req.stdin ? { stdin: req.stdin } : {}), ...(req.onListening ? { onListening: req.onListening } : {}) });
  const results = running.outcomes.then((outcomes) => outcomes.map((outcome, i) => ({ outcome, stats: stats[i], header: headers[i]! })));
  return { running, results };
}

/** Records one process (no --listen): the common case. */
export async function record(req: RecordRequest): Promise<RecordResult> {
  const { onOutput, stdin, watchedOutput, ...rest } = req;
  const { results } = await startRecording({ processes: [rest], listen: [], onOutput, ...(stdin ? { stdin } : {}), ...(watchedOutput ? { watchedOutput } : {}) });
  return (await results)[0]!;
}
