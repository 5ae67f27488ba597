// The network's two hops between the main thread and a guest's worker, below the machine:
// deliveries go down and requests come up through fixed-size boxes in shared memory (what does
// not fit as a message); requests are held until the process blocks, in bounded groups.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  channelBytes, compileModule, DeliveryBoxReader, InternalError, processConfig, startGuest, DeliveryBoxWriter, maxHeldNetBytes, maxHeldNetRequests, netBoxBuffer, netBoxBytes, openChannel, OutputRingWriter,
  outputRingBuffer, RequestBoxReader, RequestBoxWriter, WorkerEffects,
} from '../dist/runtime/index.js';
import type { Delivery, NetEvent, NetRequest } from '../dist/runtime/net/types.js';

const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const endpoint = fc.record({ ip: fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)), port: u16 });
const bytes = fc.uint8Array({ maxLength: 64 });
const event: fc.Arbitrary<NetEvent> = fc.oneof(
  fc.record({ kind: fc.constant('incoming' as const), conn: u32, port: u16, peer: endpoint }),
  fc.record({ kind: fc.constant('connected' as const), request: u32, conn: u32, errno: fc.nat(76) }),
  fc.record({ kind: fc.constant('data' as const), conn: u32, bytes }),
  fc.record({ kind: fc.constant('eof' as const), conn: u32 }),
  fc.record({ kind: fc.constant('reset' as const), conn: u32 }),
  fc.record({ kind: fc.constant('acked' as const), conn: u32, bytes: u32 }),
  fc.record({ kind: fc.constant('datagram' as const), port: u16, from: endpoint, bytes }),
  fc.record({ kind: fc.constant('stdin' as const), bytes }),
  fc.record({ kind: fc.constant('stdin-eof' as const) }),
);
const delivery: fc.Arbitrary<Delivery> = fc.record({
  timeNs: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  events: fc.array(event, { maxLength: 40 }),
  stopping: fc.constant(true), snapshot: fc.constant(true), niceness: fc.integer({ min: -20, max: 19 }),
}, { requiredKeys: ['timeNs', 'events'] });

describe('the delivery box', () => {
  it('gives the worker back every delivery the main thread wrote, field for field', () => {
    const shared = netBoxBuffer();
    const writer = new DeliveryBoxWriter(shared);
    const reader = new DeliveryBoxReader(shared);
    fc.assert(fc.property(delivery, (d) => {
      expect(writer.write(d)).toBe(true);
      expect(reader.read()).toEqual(d);
    }), { numRuns: 300 });
  });

  it('hands out copies: the next delivery written over the box leaves the last one\'s bytes alone', () => {
    const shared = netBoxBuffer();
    const writer = new DeliveryBoxWriter(shared);
    const reader = new DeliveryBoxReader(shared);
    writer.write({ timeNs: 1n, events: [{ kind: 'data', conn: 3, bytes: new Uint8Array([1, 2, 3]) }] });
    const first = reader.read().events[0] as { bytes: Uint8Array };
    writer.write({ timeNs: 2n, events: [{ kind: 'data', conn: 3, bytes: new Uint8Array([9, 9, 9]) }] });
    expect([...first.bytes]).toEqual([1, 2, 3]);
    expect(first.bytes.buffer).not.toBe(shared);
  });

  it('is a fixed size: a delivery that fills it exactly fits, one byte more is refused and left to a message', () => {
    const shared = netBoxBuffer();
    expect(shared.byteLength).toBe(netBoxBytes);
    const writer = new DeliveryBoxWriter(shared);
    const reader = new DeliveryBoxReader(shared);
    // 24 bytes of header, then a data event: a kind byte, its conn and its length (4 each), its bytes.
    const fill = netBoxBytes - 24 - 9;
    const exact: Delivery = { timeNs: 7n, events: [{ kind: 'data', conn: 1, bytes: new Uint8Array(fill).fill(5) }] };
    const same = (d: Delivery) => {
      const data = d.events[0] as { bytes: Uint8Array };
      expect(d.timeNs).toBe(7n);
      expect(Buffer.compare(data.bytes, (exact.events[0] as { bytes: Uint8Array }).bytes)).toBe(0);
    };
    expect(writer.write(exact)).toBe(true);
    same(reader.read());
    const over: Delivery = { timeNs: 8n, events: [{ kind: 'data', conn: 1, bytes: new Uint8Array(fill + 1) }] };
    expect(writer.write(over)).toBe(false);
    same(reader.read()); // nothing of it was written
  });

  it('refuses numbers its fields cannot hold, rather than cutting them', () => {
    const writer = new DeliveryBoxWriter(netBoxBuffer());
    expect(() => writer.write({ timeNs: 0n, events: [{ kind: 'eof', conn: 2 ** 32 }] })).toThrow(/does not fit a u32/);
    expect(() => writer.write({ timeNs: 0n, events: [{ kind: 'incoming', conn: 1, port: 70000, peer: { ip: [1, 2, 3, 4], port: 1 } }] })).toThrow(/does not fit a u16/);
  });
});

const request: fc.Arbitrary<NetRequest> = fc.oneof(
  fc.record({ kind: fc.constantFrom('listen' as const, 'unlisten' as const, 'udp-bind' as const, 'udp-unbind' as const), port: u16 }),
  fc.record({ kind: fc.constant('connect' as const), request: u32, to: endpoint, from: endpoint }),
  fc.record({ kind: fc.constant('send' as const), conn: u32, bytes }),
  fc.record({ kind: fc.constantFrom('shutdown' as const, 'close' as const), conn: u32 }),
  fc.record({ kind: fc.constant('consumed' as const), conn: u32, bytes: u32 }),
  fc.record({ kind: fc.constant('datagram' as const), from: u16, to: endpoint, bytes }),
  fc.record({ kind: fc.constant('stdin-want' as const) }),
);

describe('the request box', () => {
  it('gives the main thread back every request the worker wrote, in order, field for field', () => {
    const shared = netBoxBuffer();
    const writer = new RequestBoxWriter(shared);
    const reader = new RequestBoxReader(shared);
    fc.assert(fc.property(fc.array(request, { maxLength: 40 }), (requests) => {
      const size = writer.write(requests);
      expect(size).toBeDefined();
      expect(reader.read(requests.length, size!)).toEqual(requests);
    }), { numRuns: 300 });
  });

  it('refuses what does not fit, writing nothing, so the requests go as a message', () => {
    const shared = netBoxBuffer();
    const writer = new RequestBoxWriter(shared);
    const reader = new RequestBoxReader(shared);
    const small: NetRequest[] = [{ kind: 'close', conn: 4 }];
    const size = writer.write(small)!;
    // A send request: a kind byte, its conn and length (4 each), its bytes.
    const fits: NetRequest[] = [{ kind: 'send', conn: 1, bytes: new Uint8Array(netBoxBytes - 9) }];
    const over: NetRequest[] = [{ kind: 'send', conn: 1, bytes: new Uint8Array(netBoxBytes - 8) }];
    expect(writer.write(over)).toBeUndefined();
    expect(reader.read(1, size)).toEqual(small);
    expect(writer.write(fits)).toBe(netBoxBytes);
  });
});

describe('a worker\'s network requests', () => {
  const effects = () => {
    const { port1, port2 } = new MessageChannel();
    const worker = new WorkerEffects(port1, openChannel(new SharedArrayBuffer(channelBytes)), new OutputRingWriter(outputRingBuffer()));
    const posted = (): { kind: string; requests: NetRequest[] }[] => {
      const all = [];
      for (let m = receiveMessageOnPort(port2); m; m = receiveMessageOnPort(port2)) all.push(m.message);
      return all;
    };
    return { worker, posted, close: () => { port1.close(); port2.close(); } };
  };

  it('are held while the process runs and go up together, in order, when it ends', () => {
    const { worker, posted, close } = effects();
    worker.netPost({ kind: 'listen', port: 80 });
    worker.netPost({ kind: 'send', conn: 1, bytes: new Uint8Array([1, 2]) });
    worker.netPost({ kind: 'close', conn: 1 });
    expect(posted()).toEqual([]);
    worker.postHeldRequests();
    const [message, ...rest] = posted();
    expect(rest).toEqual([]);
    expect(message!.kind).toBe('net');
    expect(message!.requests.map((r) => r.kind)).toEqual(['listen', 'send', 'close']);
    expect([...(message!.requests[1] as { bytes: Uint8Array }).bytes]).toEqual([1, 2]);
    worker.postHeldRequests();
    expect(posted()).toEqual([]); // nothing held, nothing sent
    close();
  });

  it('keep what was sent as it was when sent: a send\'s bytes may be guest memory, changed right after', () => {
    const { worker, posted, close } = effects();
    const memory = new Uint8Array([7, 7, 7, 7]);
    worker.netPost({ kind: 'send', conn: 1, bytes: memory.subarray(0, 2) });
    memory.fill(0);
    worker.netPost({ kind: 'send', conn: 1, bytes: memory.subarray(2) });
    worker.postHeldRequests();
    const [message] = posted();
    expect(message!.requests.map((r) => [...(r as { bytes: Uint8Array }).bytes])).toEqual([[7, 7], [0, 0]]);
    close();
  });

  it('held past maxHeldNetRequests or maxHeldNetBytes go up without waiting for the process to block', () => {
    const { worker, posted, close } = effects();
    const many = maxHeldNetRequests * 3 + 5;
    for (let i = 0; i < many; i++) worker.netPost({ kind: 'shutdown', conn: i });
    const groups = posted();
    expect(groups.map((g) => g.requests.length)).toEqual([maxHeldNetRequests, maxHeldNetRequests, maxHeldNetRequests]);
    expect(groups.flatMap((g) => g.requests.map((r) => (r as { conn: number }).conn))).toEqual(Array.from({ length: maxHeldNetRequests * 3 }, (_, i) => i));
    worker.postHeldRequests();
    expect(posted()[0]!.requests.length).toBe(5);
    // Bytes: sends of a quarter of the bound each go up four at a time.
    for (let i = 0; i < 9; i++) worker.netPost({ kind: 'send', conn: 1, bytes: new Uint8Array(maxHeldNetBytes / 4) });
    expect(posted().map((g) => g.requests.length)).toEqual([4, 4]);
    close();
  });
});

describe('deliveries to a guest process', () => {
  it('are one at a time: a second one before the process took the first is refused, not queued', async () => {
    const path = join(import.meta.dirname, '..', 'wasm_programs', 'build', 'echo_server.wasm');
    const module = await compileModule(readFileSync(path), path);
    const guest = startGuest({ module, config: processConfig({ args: ['echo_server.wasm', '80'] }), onOutput: () => {}, net: { onRequest: () => {}, onWait: () => {} } });
    // Both before the worker has even started (tens of ms): the box holds the first.
    guest.deliver({ timeNs: 1n, events: [] });
    expect(() => guest.deliver({ timeNs: 2n, events: [] })).toThrow(InternalError);
    await guest.terminate();
    await guest.outcome.catch(() => {});
  });
});
