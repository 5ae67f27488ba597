// Host effects inside a guest's worker thread: output goes into a ring in shared memory that the
// main thread empties (worker/output-ring.ts), stdin is fetched from it synchronously
// (Atomics.wait), disk I/O is done here.
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { Delivery, NetRequest } from '../net/types.js';
import type { SnapshotLimits, TreeNode, WriteBackOp } from '../fs/tree.js';
import { State, Slot, StdinStatus, type Channel, type WorkerMessage } from '../worker/channel.js';
import type { OutputRingWriter } from '../worker/output-ring.js';
import { applyWriteBack, loadHostTree } from './host-fs.js';
import type { HostEffects, StdinRead } from './types.js';
import { hostClockNow, hostEntropy, hostSleepUntil } from './host-clock.js';
import { setOwnThreadNiceness } from './thread-priority.js';

export class WorkerEffects implements HostEffects {
  constructor(
    private readonly port: MessagePort, private readonly channel: Channel, private readonly output: OutputRingWriter,
    private readonly trees: Record<string, TreeNode> = {},
    /** Where the main thread posts network deliveries (read synchronously after a wait). */
    private readonly netPort?: MessagePort,
  ) {}

  netPost(request: NetRequest): void {
    this.post({ kind: 'net', request }, request.kind === 'send' ? [request.bytes.buffer as ArrayBuffer] : []);
  }

  netAwait(deadlineNs: bigint | null, stateHash?: number): Delivery {
    if (!this.netPort) return { timeNs: 0n, events: [], stopping: true };
    this.flush(); // whoever we wait for may be waiting for our output
    const { control } = this.channel;
    Atomics.store(control, Slot.net, 0);
    this.post({ kind: 'net-wait', deadlineNs, ...(stateHash !== undefined ? { stateHash } : {}) });
    while (Atomics.load(control, Slot.net) === 0) Atomics.wait(control, Slot.net, 0);
    // The delivery was posted before the flag was raised; should the port not show it yet, look again shortly.
    for (;;) {
      const received = receiveMessageOnPort(this.netPort);
      if (received) {
        const delivery = received.message as Delivery;
        if (delivery.niceness !== undefined) setOwnThreadNiceness(delivery.niceness);
        return delivery;
      }
      Atomics.wait(control, Slot.net, 1, 1);
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

  writeOutput(stream: 1 | 2, bytes: Uint8Array): void {
    this.output.write(stream, bytes);
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
