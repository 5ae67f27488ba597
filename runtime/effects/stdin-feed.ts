// Reads the machine's stdin into its input stream one piece per request of the stdin process
// (see MachineStdin): the host reads only what the guest asks for, so memory stays bounded and
// a guest that never reads stdin never touches the terminal.
import type { ExternalEvent } from '../net/sequencer.js';
import type { StdinSource } from './stdin-sources.js';

/** Largest piece of stdin in one event. */
export const stdinPieceBytes = 64 * 1024;

export class StdinFeed {
  private asked = 0;
  private delivered = 0;
  private pumping = false;
  private ended = false;

  constructor(private readonly source: StdinSource, private readonly push: (event: ExternalEvent) => void) {}

  /** The stdin process asked for its `ordinal`-th piece (replicas ask for the same ones; the first ask reads it). */
  want(ordinal: number): void {
    if (ordinal > this.asked) this.asked = ordinal;
    void this.pump();
  }

  close(): void {
    this.ended = true;
    this.source.close();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.ended && this.delivered < this.asked) {
        const got = await this.source.read(stdinPieceBytes);
        if (this.ended) return;
        this.delivered++;
        if (got === 'eof') {
          this.ended = true;
          this.push({ kind: 'stdin-eof' });
        } else {
          this.push({ kind: 'stdin', bytes: got });
        }
      }
    } finally {
      this.pumping = false;
    }
  }
}
