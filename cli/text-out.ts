// Writing a command's own output (not a guest's) to stdout in batches, with backpressure, and
// quietly stopping when the reader goes away (`replicode inspect --events big.rct | head`):
// the command sees `closed` and stops producing, rather than dying with an EPIPE stack.
import type { Writable } from 'node:stream';

/** Text is handed to the stream in pieces of about this many bytes. */
const batchBytes = 64 * 1024;

export class TextOut {
  private pending: string[] = [];
  private pendingBytes = 0;
  private gone = false;

  constructor(private readonly stream: Writable = process.stdout) {
    stream.on('error', () => { this.gone = true; });
  }

  /** The reader went away: nothing more will be shown. */
  get closed(): boolean { return this.gone; }

  /** Queues text; resolves once the stream has taken it when a batch is full. */
  async write(text: string): Promise<void> {
    if (this.gone) return;
    this.pending.push(text);
    this.pendingBytes += text.length;
    if (this.pendingBytes >= batchBytes) await this.flush();
  }

  /** Hands everything queued to the stream and waits until it is written (or the reader is gone). */
  async flush(): Promise<void> {
    if (this.pending.length === 0 || this.gone) return;
    const text = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    await new Promise<void>((resolve) => {
      this.stream.write(text, (err) => {
        if (err) this.gone = true;
        resolve();
      });
    });
  }
}
