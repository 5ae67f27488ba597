// The options of `replicode cluster` (and `replicode node`), apart from the command itself so
// that registering them does not load the consensus code.
import type { Argv } from 'yargs';
import type { ParsedRunArgs } from './run.js';

export const maxReplicas = 15;

export function withClusterOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('replicas', { type: 'string', default: '3', describe: `replicas of the machine (1-${maxReplicas})` })
    .option('log', { choices: ['embedded', 'etcd'] as const, default: 'embedded' as const, describe: 'consensus log: embedded (in this process) or etcd' })
    .option('endpoints', { type: 'string', describe: 'etcd endpoints, comma-separated (with --log etcd)' })
    .option('inject', { type: 'string', array: true, default: [] as string[], describe: 'inject a fault into one replica: REPLICA:SPEC (see record --inject)' })
    .option('cluster-name', { type: 'string', default: 'default', describe: 'name of the cluster in etcd (nodes of one cluster share it)' })
    .option('record-dir', { type: 'string', describe: "write each replica's traces here (replica-N.rct)" })
    .option('replies', { choices: ['designated', 'majority'] as const, default: 'designated' as const, describe: 'who answers clients: one designated replica, checked through the state hashes, or a majority of the replicas agreeing byte for byte' });
}

export interface ParsedClusterArgs extends ParsedRunArgs {
  replicas: string; log: 'embedded' | 'etcd'; recordDir?: string; endpoints?: string; clusterName: string; inject: string[];
  replies: 'designated' | 'majority';
  /** `replicode node`: this node's replica id. */
  id?: string;
}

export function withNodeOptions<T>(yargs: Argv<T>) {
  return withClusterOptions(yargs)
    .option('id', { type: 'string', demandOption: true, describe: "this node's replica id (1, 2, ...), unique in the cluster" });
}

