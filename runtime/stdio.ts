import { FileType, Rights, streamRights, FdFlags, type Filestat } from './abi.js';
import { Errno, WasiError } from './errno.js';
import type { HostEffects } from './effects/types.js';
import type { GuestMemory } from './memory.js';
import { Handle, scatter, totalLength, type Readiness } from './handle.js';

/**
 * stdio looks like a terminal to the guest (character device, no seek/tell), whatever the host
 * has behind it, so the guest's libc makes the same buffering choice on every machine.
 */
export const stdioRights = streamRights & ~(Rights.FD_SEEK | Rights.FD_TELL);
export const stdioFilestat = (): Filestat => ({
  dev: 0n, ino: 0n, filetype: FileType.CHARACTER_DEVICE, nlink: 1n, size: 0n, atim: 0n, mtim: 0n, ctim: 0n,
});

/** Largest single stdin request; bounds the cross-thread transfer. */
export const stdinChunkBytes = 64 * 1024;

export class StdinHandle extends Handle {
  readonly filetype = FileType.CHARACTER_DEVICE;
  readonly applicableRights = stdioRights;
  /** Bytes fetched by a readiness check and not yet read by the guest. */
  private pending: Uint8Array = new Uint8Array(0);
  private sawEof = false;

  constructor(private readonly effects: HostEffects) {
    super(stdioRights, 0n);
  }

  override read(buffers: Uint8Array[]): number {
    const wanted = totalLength(buffers);
    if (wanted === 0) return 0;
    if (this.pending.length === 0 && !this.sawEof) this.fetch(wanted, this.fdflags & FdFlags.NONBLOCK ? 'poll' : 'block');
    if (this.pending.length === 0) {
      if (this.sawEof) return 0;
      throw new WasiError(Errno.AGAIN);
    }
    const n = scatter(this.pending, buffers);
    this.pending = this.pending.subarray(n);
    return n;
  }

  override pollRead(): Readiness {
    if (this.pending.length === 0 && !this.sawEof) this.fetch(stdinChunkBytes, 'poll');
    return { ready: this.pending.length > 0 || this.sawEof, nbytes: BigInt(this.pending.length), hangup: this.sawEof };
  }

  /** Blocks until stdin has data or has ended (poll_oneoff with nothing else to wait for). */
  waitReadable(): void {
    if (this.pending.length === 0 && !this.sawEof) this.fetch(stdinChunkBytes, 'block');
  }

  override stat(): Filestat { return stdioFilestat(); }
  override digestKey(): string { return `stdin pending=${this.pending.length} eof=${this.sawEof}`; }

  private fetch(maxBytes: number, mode: 'block' | 'poll'): void {
    const got = this.effects.readStdin(Math.min(maxBytes, stdinChunkBytes), mode);
    if (got === 'eof') this.sawEof = true;
    else if (got !== 'again') this.pending = got;
  }
}

export class OutputHandle extends Handle {
  readonly filetype = FileType.CHARACTER_DEVICE;
  readonly applicableRights = stdioRights;

  /** Bytes handed to writeOutput (a recording's exit record says how many). */
  bytesWritten = 0;

  constructor(private readonly effects: HostEffects, private readonly stream: 1 | 2) {
    super(stdioRights, 0n);
  }

  override write(buffers: Uint8Array[]): number {
    if (totalLength(buffers) === 0) return 0;
    // Asked once per call, before any byte goes: a write is refused whole or taken whole, the
    // same in a replay as in the recording.
    if (this.effects.outputClosed(this.stream)) throw new WasiError(Errno.PIPE);
    let written = 0;
    for (const buf of buffers) {
      if (buf.length === 0) continue;
      this.effects.writeOutput(this.stream, buf, 0, buf.length);
      written += buf.length;
      this.bytesWritten += buf.length;
    }
    return written;
  }

  /** write of one iovec, read in place: no views, no array (the commonest write of all, see Handle.writeIovec). */
  override writeIovec(memory: GuestMemory, iovPtr: number): number {
    const base = memory.checkRange(iovPtr, 8);
    const view = memory.view();
    const ptr = view.getUint32(base, true);
    const length = view.getUint32(base + 4, true);
    const at = memory.checkRange(ptr, length);
    return this.writeRange(memory.octetsView(), at, length);
  }

  override writeRange(source: Uint8Array, at: number, length: number): number {
    if (length === 0) return 0;
    if (this.effects.outputClosed(this.stream)) throw new WasiError(Errno.PIPE);
    this.effects.writeOutput(this.stream, source, at, length);
    this.bytesWritten += length;
    return length;
  }

  override stat(): Filestat { return stdioFilestat(); }
}
