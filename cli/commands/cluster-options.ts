// The options of `replicode cluster` and `replicode node`, apart from the commands themselves so
// that registering them does not load the consensus code. The two share option names and
// meanings; each describes them as they apply to it (a node runs one replica, on etcd).
import type { Argv } from 'yargs';
import type { ParsedRunArgs } from './run.js';

/** As consensus/chaos.ts (not imported: registering the options must not load the consensus code). */
export const defaultChaosFaults = 50;
export const maxChaosFaults = 100_000;
/** The most batches --chaos-gap allows between two faults. */
export const maxChaosGap = 1_000_000;

export const maxReplicas = 15;

export function withClusterOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('replicas', { type: 'string', default: '3', describe: `replicas of the machine, all run here (1-${maxReplicas})` })
    .option('log', { choices: ['embedded', 'etcd'] as const, default: 'embedded' as const, describe: 'consensus log: embedded (in this process) or etcd' })
    .option('endpoints', { type: 'string', describe: 'etcd endpoints, comma-separated (with --log etcd)' })
    .option('cluster-name', { type: 'string', default: 'default', describe: 'name of the cluster in etcd (with --log etcd)' })
    .option('inject', { type: 'string', array: true, default: [] as string[], describe: 'inject a fault into one replica: REPLICA:SPEC (SPEC as record --inject)' })
    .option('record-dir', { type: 'string', describe: "write each replica's traces here (replica-N.rct, replica-N.pK.rct)" })
    .option('chaos', { type: 'string', describe: 'kill and restart replicas at pseudo-random batches chosen by this seed (a whole number); each fault is printed and in --json, and the same seed gives the same faults' })
    .option('chaos-faults', { type: 'string', describe: `with --chaos: replicas killed in all, each restarted later (default ${defaultChaosFaults}, at most ${maxChaosFaults})` })
    .option('chaos-gap', { type: 'string', describe: 'with --chaos: the most batches between two faults (default 12; the least is 2)' })
    .option('replies', { choices: ['designated', 'majority'] as const, default: 'designated' as const, describe: 'who answers clients: one designated replica, checked through the state hashes, or a majority of the replicas agreeing byte for byte' })
    .option('follower-niceness', { type: 'string', describe: 'with designated replies: the OS nice value (0-19) of the replicas that do not answer clients, so the one that does runs first on shared cores (default 10; 0: all alike)' })
    .option('snapshot-every', { type: 'string', describe: 'every N batches each replica snapshots its machine; a restarted replica resumes from the latest agreed snapshot (0: never; not with --record-dir)' })
    .option('max-log-entries', { type: 'string', describe: 'the embedded log holds at most this many entries (default 10000000); past it the cluster stops (exit 1)' })
    .option('compact', { type: 'boolean', default: false, describe: 'drop log entries below the oldest snapshot a restart could need (embedded log; with --snapshot-every)' });
}

/** `node`: one replica of a cluster spread over machines; they can only agree through etcd. */
export function withNodeOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('id', { type: 'string', demandOption: true, describe: "this node's replica id (1 to --replicas), unique in the cluster" })
    .option('replicas', { type: 'string', demandOption: true, describe: `replicas in the whole cluster (1-${maxReplicas}), the same on every node` })
    .option('endpoints', { type: 'string', demandOption: true, describe: 'etcd endpoints, comma-separated' })
    .option('log', { choices: ['etcd'] as const, default: 'etcd' as const, describe: 'consensus log: nodes agree through etcd (the only choice; accepted for symmetry with cluster)' })
    .option('cluster-name', { type: 'string', default: 'default', describe: 'name of the cluster in etcd: every node of one cluster gives the same' })
    .option('inject', { type: 'string', array: true, default: [] as string[], describe: "inject a fault into this node's replica: ID:SPEC, ID this node's --id (SPEC as record --inject)" })
    .option('record-dir', { type: 'string', describe: "write this node's traces here (replica-ID.rct, replica-ID.pK.rct)" })
    .option('snapshot-every', { type: 'string', describe: `every N batches this node snapshots its machine into --snapshot-dir and publishes its state hash on etcd; restarted, it resumes from its newest snapshot a majority agreed on and reads only the log after it (not with --record-dir)` })
    .option('snapshot-dir', { type: 'string', describe: `with --snapshot-every: where this node keeps its snapshot files (the newest ${maxSnapshotFilesShown}; default ${defaultSnapshotDirShown})` })
    .option('compact', { type: 'boolean', default: false, describe: 'with --snapshot-every: delete the etcd log below the oldest snapshot any node would restart from, less one interval (etcd\'s own history of it is left to etcd\'s auto-compaction)' });
}

/** As consensus/snapshot-file.ts maxSnapshotFiles (not imported: see above). */
export const maxSnapshotFilesShown = 3;
/** A node's snapshot directory when --snapshot-dir is not given (relative to the working directory). */
export const defaultSnapshotDir = (cluster: string, node: number) => `replicode-snapshots/${cluster}/node-${node}`;
const defaultSnapshotDirShown = 'replicode-snapshots/CLUSTER/node-ID';

export interface ParsedClusterArgs extends ParsedRunArgs {
  replicas: string; log: 'embedded' | 'etcd'; recordDir?: string; endpoints?: string; clusterName: string; inject: string[];
  /** `cluster` only: a node answers its own clients. */
  replies?: 'designated' | 'majority';
  /** `cluster` only: the nice value of replicas other than the designated one. */
  followerNiceness?: string;
  /** Batches between snapshots, and compaction of the log below them. */
  snapshotEvery?: string;
  /** `node` only: where its snapshot files go. */
  snapshotDir?: string;
  compact?: boolean;
  maxLogEntries?: string;
  /** `cluster` only: the chaos seed and how many replicas it kills. */
  chaos?: string;
  chaosFaults?: string;
  chaosGap?: string;
  /** `replicode node`: this node's replica id. */
  id?: string;
}
