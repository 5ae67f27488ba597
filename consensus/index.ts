// Public surface of replicated execution: the consensus log, the cluster.
export { EmbeddedLog, LogFullError, defaultMaxLogEntries, type ConsensusLog } from './log.js';
export { encodeBatch, decodeBatch, BatchFormatError } from './batch-codec.js';
export { Proposer } from './proposer.js';
export { ReplicaSequencer } from './replica-sequencer.js';
export { Cluster, type ClusterOptions, type ClusterProcess, type Disagreement } from './cluster.js';
