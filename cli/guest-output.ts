// Writing a guest's output to this process's stdout/stderr, with backpressure, and without
// crashing when the reader goes away (`replicode run x.wasm | head`).
import type { Writable } from 'node:stream';

export function outputWriter(streams: { 1: Writable; 2: Writable } = { 1: process.stdout, 2: process.stderr }) {
  const closed = new Set<number>();
  for (const id of [1, 2] as const) {
    streams[id].on('error', () => closed.add(id));
  }
  return (stream: 1 | 2, bytes: Uint8Array): Promise<void> | void => {
    if (closed.has(stream)) return;
    const target = streams[stream];
    if (target.write(bytes)) return;
    return new Promise((resolve) => {
      const done = () => { target.off('drain', done); target.off('error', done); resolve(); };
      target.on('drain', done);
      target.on('error', done);
    });
  };
}
