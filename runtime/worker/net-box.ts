// A guest process's network traffic between the main thread and its worker, through shared memory
// rather than messages: two boxes of fixed size, one each way, in a compact binary form.
//
// - Down, the delivery box: the main thread writes the delivery that wakes a blocked process and
//   raises the channel's `net` slot; the worker, woken, reads it back.
// - Up, the request box: the requests a process made since it last blocked, written by the worker
//   as it blocks; its net-wait message says how many there are, and the main thread reads them
//   when it takes that message.
//
// postMessage cloned each of them (a V8 serializer on one side, a deserializer and one
// ArrayBuffer per sent piece on the other) once per replica per batch: a 3-replica HTTP cluster
// spent most of its main thread's time apart from sockets there (docs/design.md).
//
// One slot each way, not a ring: a process is woken with one delivery per wait, and blocks again
// before the main thread writes the next one; its requests are read before it is woken, so it
// writes the next ones over them. What does not fit goes as a message, as before (spawn.ts,
// worker-effects.ts), so each box is a fixed size whatever the traffic.
//
// Layout, little-endian: a header, then each event or request: its kind (one byte) and its fields
// in the order the writer gives, a number as a u32 (u16 for ports), an endpoint as its four
// address bytes and a u16 port, a byte string as a u32 length and its bytes.
import type { Delivery, Endpoint, NetEvent, NetRequest } from '../net/types.js';

/** Bytes of each box; what does not fit goes as a message. */
export const netBoxBytes = 256 * 1024;
if (netBoxBytes % 8 !== 0) throw new Error('net box: its size must be a multiple of 8');

const DeliveryHeader = {
  /** u8: DeliveryFlag bits. */
  flags: 0,
  /** i8: Delivery.niceness, when DeliveryFlag.niceness is set. */
  niceness: 1,
  /** u32: events that follow. */
  events: 4,
  /** u64: Delivery.timeNs. */
  timeNs: 8,
  /** u32: bytes the delivery takes, header included. */
  size: 16,
} as const;
/** A multiple of 8: what follows is copied out a word at a time (FieldReader.from). */
const deliveryHeaderBytes = 24;
const DeliveryFlag = { stopping: 1, snapshot: 2, niceness: 4 } as const;

/** Kinds as stored (both sides of one build share them; tests pin the layout). */
const EventKind = { incoming: 1, connected: 2, data: 3, eof: 4, reset: 5, acked: 6, datagram: 7, stdin: 8, 'stdin-eof': 9 } as const satisfies Record<NetEvent['kind'], number>;
const RequestKind = {
  listen: 1, unlisten: 2, connect: 3, send: 4, shutdown: 5, close: 6, consumed: 7, 'udp-bind': 8, 'udp-unbind': 9, datagram: 10, 'stdin-want': 11,
} as const satisfies Record<NetRequest['kind'], number>;
const eventKindOf = Object.fromEntries(Object.entries(EventKind).map(([k, v]) => [v, k])) as Record<number, NetEvent['kind']>;
const requestKindOf = Object.fromEntries(Object.entries(RequestKind).map(([k, v]) => [v, k])) as Record<number, NetRequest['kind']>;

const endpointBytes = 6;

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`net box: ${message}`);
}

/** A box's bytes, shared by the main thread and the guest's worker. */
export function netBoxBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(netBoxBytes);
}

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

function requestSize(request: NetRequest): number {
  switch (request.kind) {
    case 'listen': case 'unlisten': case 'udp-bind': case 'udp-unbind': return 1 + 2;
    case 'connect': return 1 + 4 + endpointBytes * 2;
    case 'send': return 1 + 4 + 4 + request.bytes.length;
    case 'shutdown': case 'close': return 1 + 4;
    case 'consumed': return 1 + 4 + 4;
    case 'datagram': return 1 + 2 + endpointBytes + 4 + request.bytes.length;
    case 'stdin-want': return 1;
  }
}

/** Writes fields at a position it moves on. */
class FieldWriter {
  protected readonly view: DataView;
  protected readonly bytes: Uint8Array;
  protected at = 0;

  constructor(shared: SharedArrayBuffer) {
    assert(shared.byteLength === netBoxBytes, `a buffer of ${shared.byteLength} bytes is not a net box`);
    this.view = new DataView(shared);
    this.bytes = new Uint8Array(shared);
  }

  protected u8(value: number): this {
    this.view.setUint8(this.at++, value);
    return this;
  }

  protected u32(value: number): this {
    assert(value >>> 0 === value, `${value} does not fit a u32`);
    this.view.setUint32(this.at, value, true);
    this.at += 4;
    return this;
  }

  protected u16(value: number): this {
    assert((value & 0xffff) === value, `${value} does not fit a u16`);
    this.view.setUint16(this.at, value, true);
    this.at += 2;
    return this;
  }

  protected endpoint({ ip, port }: Endpoint): this {
    for (let i = 0; i < 4; i++) this.bytes[this.at + i] = ip[i]!;
    this.at += 4;
    return this.u16(port);
  }

  protected byteString(bytes: Uint8Array): this {
    this.u32(bytes.length);
    if (bytes.length <= 16) for (let i = 0; i < bytes.length; i++) this.bytes[this.at + i] = bytes[i]!;
    else this.bytes.set(bytes, this.at);
    this.at += bytes.length;
    return this;
  }
}

/** Reads fields at a position it moves on; byte strings come from `source` (see `from`). */
class FieldReader {
  protected readonly view: DataView;
  protected readonly bytes: Uint8Array;
  protected at = 0;
  /** Where byte strings are cut from: a copy of the box's used part (one allocation), and where it starts in the box. */
  private copy: Uint8Array | undefined;
  private copyStart = 0;

  constructor(private readonly shared: SharedArrayBuffer) {
    assert(shared.byteLength === netBoxBytes, `a buffer of ${shared.byteLength} bytes is not a net box`);
    this.view = new DataView(shared);
    this.bytes = new Uint8Array(shared);
  }

  /** Starts reading at `at`; byte strings are views into one copy of the box's bytes [at, end), the part written. */
  protected from(at: number, end: number): void {
    assert(end <= netBoxBytes && at % 8 === 0, `${at}..${end} is not a part of the box to copy`);
    this.at = at;
    this.copyStart = at;
    this.copy = undefined;
    if (end === at) return;
    // Eight bytes at a time: V8 copies a shared buffer's bytes one by one, about 3x slower. The
    // last word may run past `end` (never past the box: its size is a multiple of 8).
    const words = new BigUint64Array(this.shared, at, Math.ceil((end - at) / 8)).slice();
    this.copy = new Uint8Array(words.buffer, 0, end - at);
  }

  protected u8(): number {
    return this.view.getUint8(this.at++);
  }

  protected u32(): number {
    const value = this.view.getUint32(this.at, true);
    this.at += 4;
    return value;
  }

  protected u16(): number {
    const value = this.view.getUint16(this.at, true);
    this.at += 2;
    return value;
  }

  protected endpoint(): Endpoint {
    const { bytes, at } = this;
    this.at += 4;
    return { ip: [bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!], port: this.u16() };
  }

  protected byteString(): Uint8Array {
    const length = this.u32();
    const start = this.at - this.copyStart;
    assert(this.copy !== undefined && start + length <= this.copy.length, `${length} bytes at ${this.at} run past what was written`);
    this.at += length;
    return this.copy.subarray(start, start + length);
  }
}

/** The main thread's side of the delivery box. */
export class DeliveryBoxWriter extends FieldWriter {
  /** Writes `delivery` into the box; false (nothing written) when it does not fit. */
  write(delivery: Delivery): boolean {
    let size = deliveryHeaderBytes;
    for (const event of delivery.events) size += eventSize(event);
    if (size > netBoxBytes) return false;
    const { view } = this;
    const niceness = delivery.niceness;
    if (niceness !== undefined) assert(Number.isInteger(niceness) && niceness >= -128 && niceness <= 127, `niceness ${niceness} does not fit a byte`);
    view.setUint8(DeliveryHeader.flags, (delivery.stopping ? DeliveryFlag.stopping : 0) | (delivery.snapshot ? DeliveryFlag.snapshot : 0) | (niceness !== undefined ? DeliveryFlag.niceness : 0));
    view.setInt8(DeliveryHeader.niceness, niceness ?? 0);
    view.setUint32(DeliveryHeader.events, delivery.events.length, true);
    view.setBigUint64(DeliveryHeader.timeNs, delivery.timeNs, true);
    this.at = deliveryHeaderBytes;
    for (const event of delivery.events) this.event(event);
    assert(this.at === size, `wrote ${this.at} bytes of ${size}`);
    view.setUint32(DeliveryHeader.size, size, true);
    return true;
  }

  private event(event: NetEvent): void {
    this.u8(EventKind[event.kind]);
    switch (event.kind) {
      case 'incoming': this.u32(event.conn).u16(event.port).endpoint(event.peer); return;
      case 'connected': this.u32(event.request).u32(event.conn).u32(event.errno); return;
      case 'data': this.u32(event.conn).byteString(event.bytes); return;
      case 'eof': case 'reset': this.u32(event.conn); return;
      case 'acked': this.u32(event.conn).u32(event.bytes); return;
      case 'datagram': this.u16(event.port).endpoint(event.from).byteString(event.bytes); return;
      case 'stdin': this.byteString(event.bytes); return;
      case 'stdin-eof': return;
    }
  }
}

/**
 * The worker's side of the delivery box: the delivery, its bytes copied out in one piece (the box
 * is written again after the next wait), each event's a view into it, as a delivery sent as a
 * message carries them (spawn.ts, compactBytes).
 */
export class DeliveryBoxReader extends FieldReader {
  read(): Delivery {
    const { view } = this;
    const flags = view.getUint8(DeliveryHeader.flags);
    const count = view.getUint32(DeliveryHeader.events, true);
    this.from(deliveryHeaderBytes, view.getUint32(DeliveryHeader.size, true));
    const events: NetEvent[] = new Array(count);
    for (let i = 0; i < count; i++) events[i] = this.event();
    // Every field present (undefined when not set): one object shape for all deliveries, so the
    // code that reads them is not deoptimised by the first one that carries a niceness.
    return {
      timeNs: view.getBigUint64(DeliveryHeader.timeNs, true), events,
      stopping: flags & DeliveryFlag.stopping ? true : undefined,
      snapshot: flags & DeliveryFlag.snapshot ? true : undefined,
      niceness: flags & DeliveryFlag.niceness ? view.getInt8(DeliveryHeader.niceness) : undefined,
    };
  }

  private event(): NetEvent {
    const kind = eventKindOf[this.u8()];
    assert(kind !== undefined, `an unknown event kind at ${this.at - 1}`);
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

/** The worker's side of the request box. */
export class RequestBoxWriter extends FieldWriter {
  /** Writes `requests` into the box; returns the bytes they take, or undefined (nothing written) when they do not fit. */
  write(requests: readonly NetRequest[]): number | undefined {
    let size = 0;
    for (const request of requests) size += requestSize(request);
    if (size > netBoxBytes) return undefined;
    this.at = 0;
    for (const request of requests) this.request(request);
    assert(this.at === size, `wrote ${this.at} bytes of ${size}`);
    return size;
  }

  private request(request: NetRequest): void {
    this.u8(RequestKind[request.kind]);
    switch (request.kind) {
      case 'listen': case 'unlisten': case 'udp-bind': case 'udp-unbind': this.u16(request.port); return;
      case 'connect': this.u32(request.request).endpoint(request.to).endpoint(request.from); return;
      case 'send': this.u32(request.conn).byteString(request.bytes); return;
      case 'shutdown': case 'close': this.u32(request.conn); return;
      case 'consumed': this.u32(request.conn).u32(request.bytes); return;
      case 'datagram': this.u16(request.from).endpoint(request.to).byteString(request.bytes); return;
      case 'stdin-want': return;
    }
  }
}

/** The main thread's side of the request box: the bytes of what was sent are views into one copy. */
export class RequestBoxReader extends FieldReader {
  /** The `count` requests the box holds, written in `bytes` bytes (both from the net-wait message). */
  read(count: number, bytes: number): NetRequest[] {
    this.from(0, bytes);
    const requests: NetRequest[] = new Array(count);
    for (let i = 0; i < count; i++) requests[i] = this.request();
    assert(this.at === bytes, `read ${this.at} bytes of ${bytes}`);
    return requests;
  }

  private request(): NetRequest {
    const kind = requestKindOf[this.u8()];
    assert(kind !== undefined, `an unknown request kind at ${this.at - 1}`);
    switch (kind) {
      case 'listen': case 'unlisten': case 'udp-bind': case 'udp-unbind': return { kind, port: this.u16() };
      case 'connect': return { kind, request: this.u32(), to: this.endpoint(), from: this.endpoint() };
      case 'send': return { kind, conn: this.u32(), bytes: this.byteString() };
      case 'shutdown': case 'close': return { kind, conn: this.u32() };
      case 'consumed': return { kind, conn: this.u32(), bytes: this.u32() };
      case 'datagram': return { kind, from: this.u16(), to: this.endpoint(), bytes: this.byteString() };
      case 'stdin-want': return { kind };
    }
  }
}
