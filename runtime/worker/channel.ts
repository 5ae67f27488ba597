// The shared-memory handshake between a guest's worker thread and the main thread. The worker
// posts a request message, then sleeps in Atomics.wait until the main thread stores the answer.
import { stdinChunkBytes } from '../stdio.js';

export const Slot = {
  /** 0 idle, 1 request outstanding, 2 answer stored. */
  state: 0,
  /** Answer status: StdinStatus. */
  status: 1,
  /** Answer length in bytes (data region). */
  length: 2,
  /** A replay's events completed so far, updated every few events (progress only: read without ordering). */
  events: 3,
  /** NetSlot: where the delivery for the outstanding network wait is, once the main thread has put it there. */
  net: 4,
} as const;
/**
 * Slot.net's values: none yet (the worker waits), a message on the net port, in the delivery box
 * (net-box.ts), or `persist`: no delivery, but a recording's main thread, quiet for a while, asks
 * the waiting worker to hand over the calls it completed so far (then it waits on).
 */
export const NetSlot = { none: 0, message: 1, box: 2, persist: 3 } as const;
export const State = { idle: 0, waiting: 1, answered: 2 } as const;
export const StdinStatus = { data: 0, eof: 1, again: 2 } as const;

const headerBytes = 32;
export const channelBytes = headerBytes + stdinChunkBytes;

export interface Channel {
  control: Int32Array;
  data: Uint8Array;
}

export function openChannel(buffer: SharedArrayBuffer): Channel {
  return {
    control: new Int32Array(buffer, 0, headerBytes / 4),
    data: new Uint8Array(buffer, headerBytes, stdinChunkBytes),
  };
}

/** Messages from a guest worker to the main thread. */
export type WorkerMessage =
  | { kind: 'stdin'; maxBytes: number; mode: 'block' | 'poll' }
  /** Network requests, in the order the process made them (held until it blocks: WorkerEffects.netPost). */
  | { kind: 'net'; requests: import('../net/types.js').NetRequest[] }
  /**
   * The process blocks on the network, after making its last requests: `boxed` of them in the
   * request box (net-box.ts), or, when they did not fit, `requests` here.
   */
  | { kind: 'net-wait'; requests?: import('../net/types.js').NetRequest[]; boxed?: { count: number; bytes: number }; deadlineNs: bigint | null; stateHash?: number }
  | { kind: 'trace-end'; events: number; end: import('../../formats/index.js').TraceEnd }
  | { kind: 'snapshot'; snapshot: import('../snapshot/driver.js').TakenSnapshot }
  | { kind: 'done'; outcome: import('../run.js').GuestOutcome; stats?: import('../trace/spec.js').SessionStats }
  | { kind: 'failed'; failure: 'link' | 'preopen' | 'trace' | 'internal'; message: string; stack?: string; stats?: import('../trace/spec.js').SessionStats };
