// A network delivery on its way from the main thread to a blocked guest's worker, through shared
// memory rather than a message: the main thread writes it here in a compact binary form and
// raises the channel's `net` slot; the worker, woken, reads it back. postMessage cloned each
// delivery (a V8 serializer on one side, a deserializer on the other, and a wake-up of the
// worker's event loop that it never used) once per replica per batch: ~100 µs of a 3-replica
// HTTP cluster's main thread per 29-event delivery (docs/design.md).
//
// One slot, not a ring: a process is woken with one delivery per wait, and the main thread writes
// the next one only after the process has waited again, so the worker has read this one by
// then. A delivery larger than the box goes as a message, as before (spawn.ts), so the box is
// a fixed size whatever the traffic.
//
// Layout, little-endian: the header (headerBytes), then each event: its kind (one byte) and its
// fields in the order eventFields gives, a byte string as a u32 length and its bytes.
import type { Delivery, Endpoint, NetEvent } from '../net/types.js';

/** Bytes of the box; a delivery that does not fit goes as a message. */
export const deliveryBoxBytes = 256 * 1024;

const Header = {
  /** u8: Flag bits. */
  flags: 0,
  /** i8: Delivery.niceness, when Flag.niceness is set. */
  niceness: 1,
  /** u32: events that follow. */
  events: 4,
  /** u64: Delivery.timeNs. */
  timeNs: 8,
} as const;
const headerBytes = 16;

const Flag = { stopping: 1, snapshot: 2, niceness: 4 } as const;

/** Event kinds as stored (never renumber: both sides of one build share them, and tests pin them). */
const Kind = { incoming: 1, connected: 2, data: 3, eof: 4, reset: 5, acked: 6, datagram: 7, stdin: 8, 'stdin-eof': 9 } as const satisfies Record<NetEvent['kind'], number>;
const kindOf = Object.fromEntries(Object.entries(Kind).map(([k, v]) => [v, k])) as Record<number, NetEvent['kind']>;

/** Bytes an endpoint takes: four address bytes, a u16 port. */
const endpointBytes = 6;

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`delivery box: ${message}`);
}

/** The box's bytes, shared by the main thread (writer) and the guest's worker (reader). */
export function deliveryBoxBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(deliveryBoxBytes);
}

/** Bytes `event` takes in the box. */
function eventSize(event: NetEvent): number {
  switch (event.kind) {
    case 'incoming': return 1 + 4 + 2 + endpointBytes;
    case 'connected': return 1 + 4 + 4 + 4;
    case 'data': return 1 + 4 + 4 + event.bytes.length;
    case 'eof': case 'reset': return 1 + 4;
    case 'acked': return 1 + 4 + 4;
    case 'datagram': return 1 + 2 + endpointBytes + 4 + event.bytes.length;
    case 'stdin': return 1 + 4 + event.bytes.length;
    case 'stdin-eof': return 1;
  }
}

/** The main thread's side. */
export class DeliveryBoxWriter {
  private readonly view: DataView;
  private readonly bytes: Uint8Array;

  constructor(shared: SharedArrayBuffer) {
    assert(shared.byteLength === deliveryBoxBytes, `a buffer of ${shared.byteLength} bytes is not a delivery box`);
    this.view = new DataView(shared);
    this.bytes = new Uint8Array(shared);
  }

  /** Writes `delivery` into the box; false (nothing written) when it does not fit. */
  write(delivery: Delivery): boolean {
    let size = headerBytes;
    for (const event of delivery.events) size += eventSize(event);
    if (size > deliveryBoxBytes) return false;
    const { view } = this;
    const niceness = delivery.niceness;
    if (niceness !== undefined) assert(Number.isInteger(niceness) && niceness >= -128 && niceness <= 127, `niceness ${niceness} does not fit a byte`);
    view.setUint8(Header.flags, (delivery.stopping ? Flag.stopping : 0) | (delivery.snapshot ? Flag.snapshot : 0) | (niceness !== undefined ? Flag.niceness : 0));
    view.setInt8(Header.niceness, niceness ?? 0);
    view.setUint32(Header.events, delivery.events.length, true);
    view.setBigUint64(Header.timeNs, delivery.timeNs, true);
    let at = headerBytes;
    for (const event of delivery.events) at = this.event(event, at);
    assert(at === size, `wrote ${at} bytes of ${size}`);
    return true;
  }

  private u32(at: number, value: number): number {
    assert(value >>> 0 === value, `${value} does not fit a u32`);
    this.view.setUint32(at, value, true);
    return at + 4;
  }

  private u16(at: number, value: number): number {
    assert((value & 0xffff) === value, `${value} does not fit a u16`);
    this.view.setUint16(at, value, true);
    return at + 2;
  }

  private endpoint(at: number, { ip, port }: Endpoint): number {
    for (let i = 0; i < 4; i++) this.view.setUint8(at + i, ip[i]!);
    return this.u16(at + 4, port);
  }

  private byteString(at: number, bytes: Uint8Array): number {
    at = this.u32(at, bytes.length);
    if (bytes.length <= 16) for (let i = 0; i < bytes.length; i++) this.bytes[at + i] = bytes[i]!;
    else this.bytes.set(bytes, at);
    return at + bytes.length;
  }

  private event(event: NetEvent, at: number): number {
    this.view.setUint8(at++, Kind[event.kind]);
    switch (event.kind) {
      case 'incoming': return this.endpoint(this.u16(this.u32(at, event.conn), event.port), event.peer);
      case 'connected': return this.u32(this.u32(this.u32(at, event.request), event.conn), event.errno);
      case 'data': return this.byteString(this.u32(at, event.conn), event.bytes);
      case 'eof': case 'reset': return this.u32(at, event.conn);
      case 'acked': return this.u32(this.u32(at, event.conn), event.bytes);
      case 'datagram': return this.byteString(this.endpoint(this.u16(at, event.port), event.from), event.bytes);
      case 'stdin': return this.byteString(at, event.bytes);
      case 'stdin-eof': return at;
    }
  }
}

/** The worker's side: the delivery the box holds, its bytes copied out (the box is written again after the next wait). */
export class DeliveryBoxReader {
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private at = 0;

  constructor(shared: SharedArrayBuffer) {
    assert(shared.byteLength === deliveryBoxBytes, `a buffer of ${shared.byteLength} bytes is not a delivery box`);
    this.view = new DataView(shared);
    this.bytes = new Uint8Array(shared);
  }

  read(): Delivery {
    const { view } = this;
    const flags = view.getUint8(Header.flags);
    const count = view.getUint32(Header.events, true);
    const events: NetEvent[] = new Array(count);
    this.at = headerBytes;
    for (let i = 0; i < count; i++) events[i] = this.event();
    const delivery: Delivery = { timeNs: view.getBigUint64(Header.timeNs, true), events };
    if (flags & Flag.stopping) delivery.stopping = true;
    if (flags & Flag.snapshot) delivery.snapshot = true;
    if (flags & Flag.niceness) delivery.niceness = view.getInt8(Header.niceness);
    return delivery;
  }

  private u32(): number {
    assert(this.at + 4 <= deliveryBoxBytes, `a field past the box's end at ${this.at}`);
    const value = this.view.getUint32(this.at, true);
    this.at += 4;
    return value;
  }

  private u16(): number {
    const value = this.view.getUint16(this.at, true);
    this.at += 2;
    return value;
  }

  private endpoint(): Endpoint {
    const { bytes, at } = this;
    this.at += 4;
    return { ip: [bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!], port: this.u16() };
  }

  private byteString(): Uint8Array {
    const length = this.u32();
    assert(this.at + length <= deliveryBoxBytes, `${length} bytes at ${this.at} run past the box's end`);
    const copy = this.bytes.slice(this.at, this.at + length);
    this.at += length;
    return copy;
  }

  private event(): NetEvent {
    const kind = kindOf[this.bytes[this.at++]!];
    assert(kind !== undefined, `an unknown event kind ${this.bytes[this.at - 1]} at ${this.at - 1}`);
    switch (kind) {
      case 'incoming': return { kind, conn: this.u32(), port: this.u16(), peer: this.endpoint() };
      case 'connected': return { kind, request: this.u32(), conn: this.u32(), errno: this.u32() };
      case 'data': return { kind, conn: this.u32(), bytes: this.byteString() };
      case 'eof': case 'reset': return { kind, conn: this.u32() };
      case 'acked': return { kind, conn: this.u32(), bytes: this.u32() };
      case 'datagram': return { kind, port: this.u16(), from: this.endpoint(), bytes: this.byteString() };
      case 'stdin': return { kind, bytes: this.byteString() };
      case 'stdin-eof': return { kind };
    }
  }
}
