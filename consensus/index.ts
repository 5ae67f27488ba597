// Public surface of replicated execution: the consensus log, the cluster.
export { EmbeddedLog, LogFullError, defaultMaxLogEntries, type ConsensusLog } from './log.js';
export { encodeBatch, decodeBatch, BatchFormatError } from './batch-codec.js';
export { Proposer } from './proposer.js';
export { ReplicaSequencer } from './replica-sequencer.js';
export { Cluster, type ReplicaSnapshot, type ClusterOptions, type ClusterProcess, type Disagreement, type HashBoard } from './cluster.js';
export { linkBlockRange, linkBlocksRange, linksPerBlock, maxLinkBlock, processLinkRange, LinkBlocksExhaustedError, type LinkRange } from './link-blocks.js';
export { chaosSchedule, ChaosDriver, seededGenerator, defaultChaosFaults, maxChaosFaults, type ChaosFault, type ChaosOptions, type ChaosTarget } from './chaos.js';
export type { EtcdLog, LogPoint, PublishedSnapshot } from './etcd-log.js';
export { SnapshotDir, SnapshotFileError, encodeSnapshotFile, decodeSnapshotFile, machineFingerprint, maxSnapshotFiles, maxSnapshotFileBytes, snapshotFileVersion, type SnapshotIdentity } from './snapshot-file.js';
export { NodeSnapshots, CannotCatchUpError, compactionPoint, isAgreed, type NodeSnapshotOptions } from './node-snapshots.js';

/** The etcd log, loaded only when asked for: its client (gRPC) takes a quarter second to load. */
export async function connectEtcdLog(endpoints: string[], cluster: string, appender: string) {
  const { EtcdLog } = await import('./etcd-log.js');
  return EtcdLog.connect(endpoints, cluster, appender);
}

export async function etcdHashBoard(log: import('./etcd-log.js').EtcdLog, cluster: string) {
  const { EtcdHashBoard } = await import('./etcd-log.js');
  return EtcdHashBoard.fromLog(log, cluster);
}

export async function isEtcdUnavailable(err: unknown): Promise<boolean> {
  const { EtcdUnavailableError } = await import('./etcd-log.js');
  return err instanceof EtcdUnavailableError;
}
