// Host effects inside a guest's worker thread: output goes into a ring in shared memory that the
// main thread empties (worker/output-ring.ts), stdin is fetched from it synchronously
// (Atomics.wait), disk I/O is done here.
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { Delivery, NetRequest } from '../net/types.js';
import type { SnapshotLimits, TreeNode, WriteBackOp } from '../fs/tree.js';
import { NetSlot, State, Slot, StdinStatus, type Channel, type WorkerMessage } from '../worker/channel.js';
import type { DeliveryBoxReader, RequestBoxWriter } from '../worker/net-box.js';
import type { OutputRingWriter } from '../worker/output-ring.js';
import { applyWriteBack, loadHostTree } from './host-fs.js';
import type { HostEffects, StdinRead } from './types.js';
import { hostClockNow, hostEntropy, hostSleepUntil } from './host-clock.js';
import { setOwnThreadNiceness } from './thread-priority.js';

/**
 * Network requests a running process has made are held here and posted together when it blocks
 * (with its net-wait): the machine routes them only once every process is blocked, so nothing
 * waits for them sooner, and one message a round replaces one a request (a 3-replica cluster's
 * main thread took three messages per HTTP request). A process that makes many without blocking
 * posts them every this many requests or bytes, so what is held stays bounded.
 */
export const maxHeldNetRequests = 256;
/** Also the size of the arena held bytes are copied into (one per worker, reused every round). */
export const maxHeldNetBytes = 1024 * 1024;

export class WorkerEffects implements HostEffects {
  private held: NetRequest[] = [];
  /**
   * The bytes of held sends and datagrams, copied here from guest memory as they are made (one
   * buffer reused, not an ArrayBuffer per send); `arenaUsed` bytes of it are taken.
   */
  private readonly arena = new Uint8Array(maxHeldNetBytes);
  private arenaUsed = 0;

  constructor(
    private readonly port: MessagePort, private readonly channel: Channel, private readonly output: OutputRingWriter,
    private readonly trees: Record<string, TreeNode> = {},
    /** Where the main thread puts network deliveries (read synchronously after a wait): the box, or the port for one too large for it. */
    private readonly deliveries?: { port: MessagePort; box: DeliveryBoxReader; requests: RequestBoxWriter },
  ) {}

  /**
   * A recording's hook for a quiet network wait (NetSlot.persist): the calls completed so far go
   * to the trace, so that a process killed while it waits loses at most the call it is in.
   */
  onPersist: (() => void) | undefined;

  netPost(request: NetRequest): void {
    if (request.kind === 'send' || request.kind === 'datagram') {
      const length = request.bytes.length;
      if (this.arenaUsed + length > this.arena.length) this.postHeldRequests();
      // A piece larger than the whole arena (at most the send buffer) gets its own copy.
      request = { ...request, bytes: length <= this.arena.length ? this.keep(request.bytes) : request.bytes.slice() };
    }
    this.held.push(request);
    if (this.held.length >= maxHeldNetRequests) this.postHeldRequests();
  }

  private keep(bytes: Uint8Array): Uint8Array {
    const at = this.arenaUsed;
    this.arena.set(bytes, at);
    this.arenaUsed += bytes.length;
    return this.arena.subarray(at, this.arenaUsed);
  }

  /** Posts the requests held so far (the process is about to end, or holds as many as it may). */
  postHeldRequests(): void {
    if (this.held.length === 0) return;
    const [requests, buffers] = detached(this.takeHeld());
    this.post({ kind: 'net', requests }, buffers);
  }

  /** The held requests; their bytes stay valid until the next netPost (the arena is reused). */
  private takeHeld(): NetRequest[] {
    const taken = this.held;
    this.held = [];
    this.arenaUsed = 0;
    return taken;
  }

  netAwait(deadlineNs: bigint | null, stateHash?: number): Delivery {
    if (!this.deliveries) {
      this.postHeldRequests();
      return { timeNs: 0n, events: [], stopping: true };
    }
    this.flush(); // whoever we wait for may be waiting for our output
    const { control } = this.channel;
    const held = this.takeHeld();
    const hash = stateHash !== undefined ? { stateHash } : {};
    // The main thread reads the box before it wakes us, so it is free again whenever we block.
    const boxed = this.deliveries.requests.write(held);
    if (boxed !== undefined) this.post({ kind: 'net-wait', boxed: { count: held.length, bytes: boxed }, deadlineNs, ...hash });
    else {
      const [requests, buffers] = detached(held);
      this.post({ kind: 'net-wait', requests, deadlineNs, ...hash }, buffers);
    }
    for (;;) {
      while (Atomics.load(control, Slot.net) === NetSlot.none) Atomics.wait(control, Slot.net, NetSlot.none);
      if (Atomics.load(control, Slot.net) !== NetSlot.persist) break;
      this.onPersist?.();
      // Back to waiting, unless a delivery has taken the slot meanwhile.
      Atomics.compareExchange(control, Slot.net, NetSlot.persist, NetSlot.none);
    }
    const delivery = Atomics.load(control, Slot.net) === NetSlot.box ? this.deliveries.box.read() : this.receiveDelivery();
    // Taken: the main thread may put the next one there once we wait again.
    Atomics.store(control, Slot.net, NetSlot.none);
    if (delivery.niceness !== undefined) setOwnThreadNiceness(delivery.niceness);
    return delivery;
  }

  /** A delivery too large for the box: posted before the slot was raised; should the port not show it yet, look again shortly. */
  private receiveDelivery(): Delivery {
    for (;;) {
      const received = receiveMessageOnPort(this.deliveries!.port);
      if (received) return received.message as Delivery;
      Atomics.wait(this.channel.control, Slot.net, NetSlot.message, 1);
    }
  }

  readStdin(maxBytes: number, mode: 'block' | 'poll'): StdinRead {
    this.flush();
    const { control, data } = this.channel;
    Atomics.store(control, Slot.state, State.waiting);
    this.post({ kind: 'stdin', maxBytes: Math.min(maxBytes, data.length), mode });
    while (Atomics.load(control, Slot.state) === State.waiting) Atomics.wait(control, Slot.state, State.waiting);
    const status = Atomics.load(control, Slot.status);
    const length = Atomics.load(control, Slot.length);
    Atomics.store(control, Slot.state, State.idle);
    if (status === StdinStatus.eof) return 'eof';
    if (status === StdinStatus.again) return 'again';
    return data.slice(0, length);
  }

  writeOutput(stream: 1 | 2, source: Uint8Array, at: number, length: number): void {
    this.output.write(stream, source, at, length);
  }

  outputClosed(stream: 1 | 2): boolean {
    return this.output.closed(stream);
  }

  /** The main thread takes the output now: the guest is about to block, or has ended. */
  flush(): void {
    this.output.wake();
  }

  /** Trees snapshotted by the main thread (record, replay) are used as given; others are read here. */
  loadTree(hostPath: string, limits: SnapshotLimits): TreeNode {
    return this.trees[hostPath] ?? loadHostTree(hostPath, limits);
  }

  writeBack(hostPath: string, ops: WriteBackOp[]): void {
    applyWriteBack(hostPath, ops);
  }

  private post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
    this.port.postMessage(message, transfer);
  }

  clockNow(clockId: number): bigint { return hostClockNow(clockId); }
  entropy(target: Uint8Array): void { hostEntropy(target); }
  sleepUntil(monotonicNs: bigint): void { this.flush(); hostSleepUntil(monotonicNs); }
}

/**
 * Requests to post as a message: their bytes (views of the arena) copied into one buffer of their
 * own, moved rather than cloned (postMessage would clone the whole arena behind each view).
 */
function detached(requests: NetRequest[]): [NetRequest[], ArrayBuffer[]] {
  let total = 0;
  for (const r of requests) if (r.kind === 'send' || r.kind === 'datagram') total += r.bytes.length;
  if (total === 0) return [requests, []];
  const joined = new Uint8Array(total);
  let at = 0;
  const out = requests.map((r): NetRequest => {
    if (r.kind !== 'send' && r.kind !== 'datagram') return r;
    joined.set(r.bytes, at);
    at += r.bytes.length;
    return { ...r, bytes: joined.subarray(at - r.bytes.length, at) };
  });
  return [out, [joined.buffer]];
}
