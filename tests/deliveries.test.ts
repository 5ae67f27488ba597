import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { compactBytes } from '../dist/runtime/spawn.js';
import type { Delivery } from '../dist/runtime/net/types.js';

describe('deliveries to a guest worker', () => {
  it('carry their bytes in one buffer of their own, equal to the originals and in order', () => {
    const batch = new Uint8Array(4096).map((_, i) => i & 0xff);
    const delivery: Delivery = {
      timeNs: 5n,
      events: [
        { kind: 'data', conn: 1, bytes: batch.subarray(10, 48) },
        { kind: 'acked', conn: 1, bytes: 120 },
        { kind: 'datagram', port: 53, from: { ip: [10, 0, 0, 2], port: 9 }, bytes: batch.subarray(300, 302) },
        { kind: 'eof', conn: 1 },
      ],
    };
    const compact = compactBytes(delivery);
    const views = compact.events.flatMap((e) => ('bytes' in e && typeof e.bytes !== 'number' ? [e.bytes] : []));
    expect(views.map((v) => [...v])).toEqual([[...batch.subarray(10, 48)], [...batch.subarray(300, 302)]]);
    expect(new Set(views.map((v) => v.buffer)).size).toBe(1);
    expect(views[0]!.buffer.byteLength).toBe(40);
    expect(compact.events[1]).toEqual({ kind: 'acked', conn: 1, bytes: 120 });
    // What crosses to the worker is the 40 bytes, not the 4 KiB batch behind them.
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(compact);
    const received = receiveMessageOnPort(port2)?.message as Delivery;
    const data = received.events[0] as { bytes: Uint8Array };
    expect(data.bytes.buffer.byteLength).toBe(40);
    expect([...data.bytes]).toEqual([...batch.subarray(10, 48)]);
    port1.close();
  });

  it('are passed on unchanged when their bytes are already compact', () => {
    const delivery: Delivery = { timeNs: 1n, events: [{ kind: 'data', conn: 2, bytes: new Uint8Array([1, 2, 3]) }] };
    expect(compactBytes(delivery)).toBe(delivery);
  });
});
