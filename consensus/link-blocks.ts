// Gateway link ids name client connections on the consensus log, so they must never repeat on
// one log. A node that restarts replays the log, where its earlier clients' ids are (connected,
// answered, closed); had it started counting from the same id again, the replicas would take a
// new client for an old, closed connection and drop its replies while applying its requests.
// So every process that accepts clients for a log that outlives it (etcd) first claims a block
// of ids from the log's store, and numbers its clients inside that block only.

/** Client connections (and UDP peers) one process may take per block: past it, new ones are refused. */
export const linksPerBlock = 2 ** 32;
/** Blocks there are: ids stay exact in a JavaScript number (and in the log's msgpack). */
export const maxLinkBlock = 2 ** 53 / linksPerBlock - 1;

/** The ids of block `block` (1, 2, ...): `first` up to, not including, `end`. */
export interface LinkRange { first: number; end: number }

/** A log that lives only in this process (the embedded one) starts afresh each time: block 0, from id 1. */
export const processLinkRange: LinkRange = { first: 1, end: linksPerBlock };

export function linkBlockRange(block: number): LinkRange {
  if (!Number.isSafeInteger(block) || block < 1) throw new Error(`link block ${block}: blocks are numbered from 1`);
  if (block > maxLinkBlock) throw new LinkBlocksExhaustedError(`this cluster has used all its ${maxLinkBlock} blocks of client ids (one per node start): start it under a new --cluster-name`);
  return { first: block * linksPerBlock, end: (block + 1) * linksPerBlock };
}

/** The ids of blocks `first` up to, not including, `end`. */
export function linkBlocksRange(first: number, end: number): LinkRange {
  if (end <= first) throw new Error(`link blocks ${first} to ${end}: an empty run`);
  return { first: linkBlockRange(first).first, end: linkBlockRange(end - 1).end };
}

/** Every block of ids was claimed (2^21 node starts on one log). */
export class LinkBlocksExhaustedError extends Error {}
