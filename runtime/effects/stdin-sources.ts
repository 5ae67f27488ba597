// Where a guest's stdin comes from, on the main thread: a fixed buffer, or a real stream
// (the process's stdin), read only once the guest asks for it.
import type { Readable } from 'node:stream';

export interface StdinSource {
  /** Waits for up to maxBytes, or end of input. */
  read(maxBytes: number): Promise<Uint8Array | 'eof'>;
  /** What is available right now, without waiting. */
  poll(maxBytes: number): Uint8Array | 'eof' | 'again';
  /** Stops reading the underlying stream (the guest has ended). */
  close(): void;
}

export class BufferStdin implements StdinSource {
  private rest: Uint8Array;
  constructor(data: Uint8Array | string = new Uint8Array(0)) {
    this.rest = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  }
  async read(maxBytes: number): Promise<Uint8Array | 'eof'> {
    return this.poll(maxBytes);
  }
  poll(maxBytes: number): Uint8Array | 'eof' {
    if (this.rest.length === 0) return 'eof';
    const out = this.rest.slice(0, maxBytes);
    this.rest = this.rest.subarray(out.length);
    return out;
  }
  close(): void {}
}

/** Above this much unread input the stream is paused until the guest catches up. */
const maxBufferedInputBytes = 1024 * 1024;

export class StreamStdin implements StdinSource {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private ended = false;
  private started = false;
  private wake: (() => void) | undefined;

  constructor(private readonly stream: Readable) {}

  async read(maxBytes: number): Promise<Uint8Array | 'eof'> {
    this.start();
    while (this.chunks.length === 0 && !this.ended) {
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
    return this.take(maxBytes);
  }

  poll(maxBytes: number): Uint8Array | 'eof' | 'again' {
    this.start();
    if (this.chunks.length === 0 && !this.ended) return 'again';
    return this.take(maxBytes);
  }

  close(): void {
    if (!this.started) return;
    this.stream.pause();
    this.stream.removeAllListeners('data');
    this.stream.removeAllListeners('end');
    if ('destroy' in this.stream) this.stream.destroy();
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.stream.on('data', (chunk: Buffer) => {
      this.chunks.push(new Uint8Array(chunk));
      this.buffered += chunk.length;
      if (this.buffered > maxBufferedInputBytes) this.stream.pause();
      this.notify();
    });
    this.stream.on('end', () => { this.ended = true; this.notify(); });
    this.stream.on('error', () => { this.ended = true; this.notify(); });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private take(maxBytes: number): Uint8Array | 'eof' {
    const first = this.chunks[0];
    if (!first) return 'eof';
    const out = first.subarray(0, maxBytes);
    if (out.length === first.length) this.chunks.shift();
    else this.chunks[0] = first.subarray(out.length);
    this.buffered -= out.length;
    if (this.buffered <= maxBufferedInputBytes / 2 && this.stream.isPaused() && !this.ended) this.stream.resume();
    return out;
  }
}
