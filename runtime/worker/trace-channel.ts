// Recording across threads: the guest's worker batches records into raw chunks and posts them;
// the main thread compresses, frames and writes them (runtime/spawn.ts), so compression never
// runs on the guest's thread. A few chunks may be in flight (bounded); the main thread raises a
// shared flag when the trace is full, and the next chunk stops the guest.
import type { MessagePort } from 'node:worker_threads';
import { RecordBuffer, TraceLimitError, type EventLog, type RawChunk } from '../../formats/index.js';
import type { WorkerMessage } from './channel.js';

export const TraceSlot = { limitReached: 0, inFlightBytes: 1 } as const;
export const traceControlBytes = 8;
/** The guest waits when this much recorded data has not been written yet. */
const maxInFlightBytes = 1024 * 1024;

export class CrossThreadEventLog extends RecordBuffer implements EventLog {
  // A subclass rather than a wrapper: call() and result() run once per syscall.
  constructor(private readonly port: MessagePort, private readonly control: Int32Array, private readonly maxTraceBytes: number) {
    super((chunk) => this.post(chunk));
  }

  finish(complete: boolean): void {
    try {
      this.flush();
    } catch (err) {
      if (!(err instanceof TraceLimitError)) throw err;
    }
    this.send({ kind: 'trace-end', events: this.eventCount, complete });
  }

  private post(chunk: RawChunk): void {
    if (Atomics.load(this.control, TraceSlot.limitReached)) throw new TraceLimitError(`trace reached its size limit of ${this.maxTraceBytes} bytes`);
    const bytes = chunk.payload.length;
    Atomics.add(this.control, TraceSlot.inFlightBytes, bytes);
    this.send({ kind: 'trace-chunk', payload: chunk.payload, ...(chunk.checkpoint ? { checkpoint: chunk.checkpoint } : {}) }, [chunk.payload.buffer as ArrayBuffer]);
    for (;;) {
      const inFlight = Atomics.load(this.control, TraceSlot.inFlightBytes);
      if (inFlight <= maxInFlightBytes) break;
      Atomics.wait(this.control, TraceSlot.inFlightBytes, inFlight, 100);
    }
  }

  private send(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
    this.port.postMessage(message, transfer);
  }
}
