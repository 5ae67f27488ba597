// Batches on the log: msgpack arrays, [timeNs, [[kind, link, ...], ...]]; kinds 0 connect, 1 data,
// 2 eof, 3 reset, 4 datagram, 5 stdin, 6 stdin-eof, 7 acked ([7, link, byte count]), 8 reset-links
// ([8, first, end]: every open connection with a link in [first, end) is reset).
import { pack, unpackAll } from '../formats/index.js';
import type { Batch, ExternalEvent } from '../runtime/index.js';

export function encodeBatch(batch: Batch): Uint8Array {
  return pack([batch.timeNs, batch.events.map((e) => {
    switch (e.kind) {
      case 'connect': return [0, e.link, e.port, e.peer.ip, e.peer.port];
      case 'data': return [1, e.link, e.bytes];
      case 'eof': return [2, e.link];
      case 'reset': return [3, e.link];
      case 'datagram': return [4, e.link, e.port, e.peer.ip, e.peer.port, e.bytes];
      case 'stdin': return [5, 0, e.bytes];
      case 'stdin-eof': return [6, 0];
      case 'acked': return [7, e.link, e.bytes];
      case 'reset-links': return [8, e.first, e.end];
    }
  })]);
}

/** A log entry that is not a batch. */
export class BatchFormatError extends Error {}

export function decodeBatch(entry: Uint8Array): Batch {
  const [value] = unpackAll(entry);
  if (!Array.isArray(value) || value.length !== 2 || !Array.isArray(value[1])) throw new BatchFormatError('not a batch');
  const timeNs = BigInt(value[0] as number | bigint);
  const events = (value[1] as unknown[][]).map((e): ExternalEvent => {
    const link = Number(e[1]);
    switch (e[0]) {
      case 0: return { kind: 'connect', link, port: Number(e[2]), peer: { ip: e[3] as [number, number, number, number], port: Number(e[4]) } };
      case 1: return { kind: 'data', link, bytes: plainBytes(e[2]) };
      case 2: return { kind: 'eof', link };
      case 3: return { kind: 'reset', link };
      case 4: return { kind: 'datagram', link, port: Number(e[2]), peer: { ip: e[3] as [number, number, number, number], port: Number(e[4]) }, bytes: plainBytes(e[5]) };
      case 5: return { kind: 'stdin', bytes: plainBytes(e[2]) };
      case 6: return { kind: 'stdin-eof' };
      case 7: return { kind: 'acked', link, bytes: count(e[2]) };
      case 8: return linkRange(e[1], e[2]);
      default: throw new BatchFormatError(`unknown event kind ${String(e[0])}`);
    }
  });
  return { timeNs, events };
}

function linkRange(a: unknown, b: unknown): ExternalEvent {
  // Ids past 2^32 come back from msgpack as 64-bit integers (bigint).
  const [first, end] = [a, b].map((v) => (typeof v === 'bigint' ? Number(v) : v));
  const id = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!id(first) || !id(end) || end < first) throw new BatchFormatError('reset-links range is not two link ids in order');
  return { kind: 'reset-links', first, end };
}

function count(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new BatchFormatError('acked byte count is not a positive integer');
  return v;
}

function plainBytes(v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new BatchFormatError('event bytes are not binary');
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
