// stdin as part of a machine's input stream: the pieces arrive in batches, ordered with the
// network events around them, so every replica (and every replay) sees the same bytes at the
// same point. Flow is demand-driven: the process asks for one piece at a time (a read or poll
// that finds nothing buffered), so a guest that never reads stdin never makes the host read it,
// and one that reads slowly never has more than a piece buffered.
import { FileType, FdFlags, type Filestat } from '../abi.js';
import { Errno, WasiError } from '../errno.js';
import { Handle, gather, scatter, totalLength, type Readiness } from '../handle.js';
import { stdioFilestat, stdioRights } from '../stdio.js';
import type { NetStack } from './stack.js';

export class MachineStdin extends Handle {
  readonly filetype = FileType.CHARACTER_DEVICE;
  readonly applicableRights = stdioRights;
  private pending: Uint8Array = new Uint8Array(0);
  private eof = false;
  /** A piece was asked for and has not arrived yet. */
  private asked = false;

  constructor(private readonly stack: NetStack) {
    super(stdioRights, 0n);
  }

  receive(bytes: Uint8Array): void {
    this.pending = this.pending.length ? gather([this.pending, bytes]) : bytes;
    this.asked = false;
  }

  receiveEof(): void {
    this.eof = true;
    this.asked = false;
  }

  override read(buffers: Uint8Array[]): number {
    if (totalLength(buffers) === 0) return 0;
    for (;;) {
      if (this.pending.length > 0) {
        const n = scatter(this.pending, buffers);
        this.pending = this.pending.subarray(n);
        return n;
      }
      if (this.eof || this.stack.isStopping) return 0;
      this.ask();
      if (this.fdflags & FdFlags.NONBLOCK) throw new WasiError(Errno.AGAIN);
      this.stack.wait();
    }
  }

  override pollRead(): Readiness {
    if (this.pending.length === 0 && !this.eof) this.ask();
    return { ready: this.pending.length > 0 || this.eof, nbytes: BigInt(this.pending.length), hangup: this.eof };
  }

  override get waitsOnNetwork(): boolean { return true; }
  override stat(): Filestat { return stdioFilestat(); }
  override digestKey(): string { return `machine stdin pending=${this.pending.length} eof=${this.eof} asked=${this.asked}`; }

  private ask(): void {
    if (this.asked || this.eof) return;
    this.asked = true;
    this.stack.wantStdin();
  }
}
