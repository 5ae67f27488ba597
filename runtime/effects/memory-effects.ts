// Effects for running a guest inside the calling thread with everything in memory: stdin is a
// fixed byte string, output is collected. Used by tests and library callers.
import type { SnapshotLimits, TreeNode, WriteBackOp } from '../fs/tree.js';
import { applyWriteBack, loadHostTree } from './host-fs.js';
import type { HostEffects, StdinRead } from './types.js';
import type { Delivery } from '../net/types.js';
import { hostClockNow, hostEntropy, hostSleepUntil } from './host-clock.js';

export interface MemoryEffectsOptions {
  stdin?: Uint8Array | string;
  /** Trees to serve for --dir host paths; a path not listed is read from disk. */
  trees?: Record<string, TreeNode>;
  /** Apply write-back to disk (default: only record the operations). */
  writeBackToDisk?: boolean;
}

export class MemoryEffects implements HostEffects {
  private stdin: Uint8Array;
  private readonly chunks: { stream: 1 | 2; bytes: Uint8Array }[] = [];
  readonly writeBacks: { hostPath: string; ops: WriteBackOp[] }[] = [];

  constructor(private readonly options: MemoryEffectsOptions = {}) {
    const input = options.stdin ?? new Uint8Array(0);
    this.stdin = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  }

  readStdin(maxBytes: number): StdinRead {
    if (this.stdin.length === 0) return 'eof';
    const out = this.stdin.slice(0, maxBytes);
    this.stdin = this.stdin.subarray(out.length);
    return out;
  }

  writeOutput(stream: 1 | 2, source: Uint8Array, at: number, length: number): void {
    this.chunks.push({ stream, bytes: source.slice(at, at + length) });
  }

  /** Memory never closes. */
  outputClosed(): boolean { return false; }

  loadTree(hostPath: string, limits: SnapshotLimits): TreeNode {
    return this.options.trees?.[hostPath] ?? loadHostTree(hostPath, limits);
  }

  writeBack(hostPath: string, ops: WriteBackOp[]): void {
    this.writeBacks.push({ hostPath, ops });
    if (this.options.writeBackToDisk) applyWriteBack(hostPath, ops);
  }

  flush(): void {}

  output(stream: 1 | 2): Uint8Array {
    return Buffer.concat(this.chunks.filter((c) => c.stream === stream).map((c) => c.bytes));
  }

  get stdout(): string { return Buffer.from(this.output(1)).toString('utf8'); }
  get stderr(): string { return Buffer.from(this.output(2)).toString('utf8'); }

  /** In-thread runs have no machine: nothing is routed, and a blocking network call fails. */
  netPost(): void {}
  netAwait(): Delivery { return { timeNs: 0n, events: [], stopping: true }; }

  clockNow(clockId: number): bigint { return hostClockNow(clockId); }
  entropy(target: Uint8Array): void { hostEntropy(target); }
  sleepUntil(monotonicNs: bigint): void { this.flush(); hostSleepUntil(monotonicNs); }
}
