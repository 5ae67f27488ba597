// The consensus log on etcd, so replicas on different machines agree on one order of batches.
// Every append is a put of a new key under the cluster's prefix; etcd's revisions order them,
// and every subscriber sees the same sequence: existing entries sorted by creation revision,
// then a watch from the next revision. Any number of nodes may append.
import { Etcd3, type IKeyValue } from 'etcd3';
import type { ConsensusLog } from './log.js';

/** etcd did not answer (not running, wrong endpoints), or holds what we cannot use. */
export class EtcdUnavailableError extends Error {}

/** Tries at claiming a link block while other nodes claim theirs (each failed try means another node succeeded). */
const maxClaimAttempts = 50;

export class EtcdLog implements ConsensusLog {
  private seq = 0;
  private readonly prefix: string;
  private readonly watchers: { cancel(): Promise<void> }[] = [];
  /** The client, shared with the hash board. */
  readonly etcd: Etcd3;

  private readonly linkBlocksKey: string;
  private readonly nodesKey: string;

  private constructor(private readonly client: Etcd3, cluster: string, private readonly appender: string) {
    this.etcd = client;
    this.prefix = `/replicode/${cluster}/log/`;
    this.linkBlocksKey = `/replicode/${cluster}/link-blocks`;
    this.nodesKey = `/replicode/${cluster}/node/`;
  }

  /**
   * Claims the next block of gateway link ids (1, 2, ...): a counter in etcd, raised by a
   * compare-and-swap, so no two processes serving this log, and no process after a restart,
   * ever get the same block (see link-blocks.ts).
   */
  async claimLinkBlock(): Promise<number> {
    const key = this.linkBlocksKey;
    for (let attempt = 0; attempt < maxClaimAttempts; attempt++) {
      const kv = (await this.client.get(key).exec()).kvs[0];
      const block = (kv ? Number(kv.value.toString()) : 0) + 1;
      if (!Number.isSafeInteger(block) || block < 1) throw new EtcdUnavailableError(`etcd key ${key} holds ${JSON.stringify(kv?.value.toString())}, not a block count`);
      const unchanged = kv ? this.client.if(key, 'Mod', '==', kv.mod_revision) : this.client.if(key, 'Create', '==', 0);
      if ((await unchanged.then(this.client.put(key).value(String(block))).commit()).succeeded) return block;
    }
    throw new EtcdUnavailableError(`could not claim link ids from etcd: ${maxClaimAttempts} other nodes claimed theirs at the same moment`);
  }

  /**
   * Notes that node `node` now numbers its clients in `block`; returns the block its previous
   * incarnation had (undefined on its first start), whose connections the log must reset.
   */
  async swapNodeLinkBlock(node: number, block: number): Promise<number | undefined> {
    const key = `${this.nodesKey}${node}/link-block`;
    const previous = await this.client.put(key).value(String(block)).getPrevious();
    if (!previous?.value) return undefined;
    const was = Number(previous.value.toString());
    if (!Number.isSafeInteger(was) || was < 1) throw new EtcdUnavailableError(`etcd key ${key} held ${JSON.stringify(previous.value.toString())}, not a block number`);
    return was;
  }

  /** Connects (and checks that etcd answers within `timeoutMs`). `appender` must be unique per appending process. */
  static async connect(endpoints: string[], cluster: string, appender: string, timeoutMs = 5000): Promise<EtcdLog> {
    const client = new Etcd3({ hosts: endpoints, dialTimeout: timeoutMs });
    try {
      await Promise.race([
        client.get('/replicode/ping').string(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref()),
      ]);
    } catch (err) {
      client.close();
      throw new EtcdUnavailableError(`etcd at ${endpoints.join(',')} does not answer (${(err as Error).message})`);
    }
    return new EtcdLog(client, cluster, appender);
  }

  async append(entry: Uint8Array): Promise<number> {
    const key = `${this.prefix}${this.appender}-${String(this.seq++).padStart(12, '0')}`;
    const res = await this.client.put(key).value(Buffer.from(entry.buffer, entry.byteOffset, entry.byteLength)).exec();
    return Number(res.header.revision);
  }

  subscribe(from: number, onEntry: (index: number, entry: Uint8Array) => void): () => void {
    let index = 0;
    let stopped = false;
    const deliver = (kv: IKeyValue) => {
      if (stopped) return;
      const i = index++;
      if (i >= from) onEntry(i, new Uint8Array(kv.value));
    };
    void (async () => {
      const existing = await this.client.getAll().prefix(this.prefix).sort('Create', 'Ascend').exec();
      for (const kv of existing.kvs) deliver(kv);
      const watcher = await this.client.watch().prefix(this.prefix).startRevision(String(Number(existing.header.revision) + 1)).create();
      this.watchers.push(watcher);
      watcher.on('put', (kv) => { if (kv.create_revision === kv.mod_revision) deliver(kv); });
      if (stopped) await watcher.cancel();
    })().catch(() => { /* the log is gone: the replica waits, the cluster reports the append failures */ });
    return () => { stopped = true; };
  }

  async close(): Promise<void> {
    await Promise.all(this.watchers.map((w) => w.cancel().catch(() => {})));
    this.client.close();
  }
}

/** State hashes on etcd, every `every`-th batch (bounded writes), for nodes to compare. */
export class EtcdHashBoard {
  private readonly prefix: string;
  private watcher: { cancel(): Promise<void> } | undefined;

  constructor(private readonly client: Etcd3, cluster: string, private readonly every = 10) {
    this.prefix = `/replicode/${cluster}/hash/`;
  }

  static fromLog(log: EtcdLog, cluster: string): EtcdHashBoard {
    return new EtcdHashBoard(log.etcd, cluster);
  }

  publish(replica: number, batch: number, hash: string): void {
    if (batch % this.every !== 0) return;
    void this.client.put(`${this.prefix}${String(batch).padStart(12, '0')}/${replica}`).value(hash).exec().catch(() => {});
  }

  watch(onHash: (replica: number, batch: number, hash: string) => void): void {
    void this.client.watch().prefix(this.prefix).create().then((w) => {
      this.watcher = w;
      w.on('put', (kv) => {
        const m = /(\d+)\/(\d+)$/.exec(kv.key.toString());
        if (m) onHash(Number(m[2]), Number(m[1]), kv.value.toString());
      });
    }).catch(() => {});
  }

  async close(): Promise<void> {
    await this.watcher?.cancel().catch(() => {});
  }
}
