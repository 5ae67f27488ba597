// Trace files on disk: the sink `record` writes through (each chunk reaches the OS as soon as
// it is framed, so a crash loses at most the chunk being filled) and the byte source `replay`
// and `inspect` read through, one chunk at a time.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import type { ByteSource, TraceSink } from '../../formats/index.js';

export class FileTraceSink implements TraceSink {
  private readonly fd: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  write(bytes: Uint8Array): void {
    for (let done = 0; done < bytes.length;) done += writeSync(this.fd, bytes, done, bytes.length - done);
  }

  close(): void {
    closeSync(this.fd);
  }
}

export interface FileByteSource extends ByteSource {
  close(): void;
}

export function openTraceFile(path: string): FileByteSource {
  const fd = openSync(path, 'r');
  const size = fstatSync(fd).size;
  return {
    size,
    read(offset: number, length: number): Uint8Array {
      const n = Math.max(0, Math.min(length, size - offset));
      const out = new Uint8Array(n);
      for (let done = 0; done < n;) {
        const got = readSync(fd, out, done, n - done, offset + done);
        if (got === 0) break;
        done += got;
      }
      return out;
    },
    close: () => closeSync(fd),
  };
}
