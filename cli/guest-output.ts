// Writing a guest's output to this process's stdout/stderr, with backpressure, and without
// crashing when the reader goes away (`replicode run x.wasm | head`): from then on the writer
// answers 'closed', and the guest's writes to that stream fail with EPIPE.
import type { Writable } from 'node:stream';
import type { OutputAccepted } from '../runtime/index.js';

type Streams = { 1: Writable; 2: Writable };

export function outputWriter(streams: Streams = { 1: process.stdout, 2: process.stderr }) {
  const closed = new Set<number>();
  for (const id of [1, 2] as const) {
    streams[id].on('error', () => closed.add(id));
  }
  return (stream: 1 | 2, bytes: Uint8Array): OutputAccepted | Promise<OutputAccepted> => {
    if (closed.has(stream)) return 'closed';
    const target = streams[stream];
    if (target.write(bytes)) return;
    return new Promise((resolve) => {
      const done = () => { target.off('drain', done); target.off('error', done); resolve(closed.has(stream) ? 'closed' : undefined); };
      target.on('drain', done);
      target.on('error', done);
    });
  };
}

/** The streams a person watches (terminals): their output is shown as the guest writes it. */
export function watchedStreams(streams: Streams = { 1: process.stdout, 2: process.stderr }): (1 | 2)[] {
  return ([1, 2] as const).filter((id) => (streams[id] as Writable & { isTTY?: boolean }).isTTY === true);
}
