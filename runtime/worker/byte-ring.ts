// The mechanics the two shared-memory rings share (output-ring.ts for guest output,
// trace-channel.ts for recorded data): one writer thread, one reader thread, byte positions that
// wrap at 2^32 over a power-of-two ring, so `(written - taken) >>> 0` is always what is in it.
// Each ring keeps its own frame format and its own control slots after these three.

export const RingSlot = {
  /** Bytes published so far (mod 2^32), past whole frames only; written by the writer. */
  written: 0,
  /** Bytes taken so far (mod 2^32); written by the reader. */
  taken: 1,
  /** 1 while the reader sleeps until told to take (the writer clears it and wakes it). */
  armed: 2,
} as const;

/** Longest the writer sleeps at a time waiting for room (it looks again after). */
const roomWaitMs = 100;

/** Room for the writer after its own `written` (which may be ahead of what it published). */
export function ringRoom(control: Int32Array, written: number, ringBytes: number): number {
  return ringBytes - ((written - Atomics.load(control, RingSlot.taken)) >>> 0);
}

/**
 * Where a writer next looks at the reader's progress (ringRoom), given the room it just found:
 * at half the ring while the reader keeps up; when the ring is half full (the writer has just
 * woken the reader), a sixteenth of the ring further down, so that the writes made while the
 * reader gets going do not each look again and wake it (a shared-memory compare-and-swap per
 * one-byte write was ~10% of such a guest's time).
 */
export function nextLookBelow(room: number, ringBytes: number): number {
  return room >= ringBytes / 2 ? ringBytes / 2 : room - ringBytes / 16;
}

/**
 * Blocks the writer until `need` bytes are free after `written`; `beforeWait` runs before each
 * sleep (it must let the reader make progress: publish, wake it). Returns the room found.
 */
export function waitForRoom(control: Int32Array, written: number, ringBytes: number, need: number, beforeWait: () => void): number {
  for (;;) {
    const taken = Atomics.load(control, RingSlot.taken);
    const room = ringBytes - ((written - taken) >>> 0);
    if (room >= need) return room;
    beforeWait();
    Atomics.wait(control, RingSlot.taken, taken, roomWaitMs);
  }
}

/** Copies `bytes` into the ring at position `at` (a byte counter), wrapping past the ring's end. */
export function copyIntoRing(data: Uint8Array, at: number, bytes: Uint8Array): void {
  const start = at & (data.length - 1);
  const first = Math.min(bytes.length, data.length - start);
  data.set(first === bytes.length ? bytes : bytes.subarray(0, first), start);
  if (first < bytes.length) data.set(bytes.subarray(first), 0);
}

/**
 * The reader's side: everything published and not taken yet, copied out (null: nothing); the
 * writer may reuse its room from here on. `into` (at least ringCopyBytes of the ring's size): copied
 * there, and the bytes are a view of it, good until the next take into it.
 */
export function takeFromRing(control: Int32Array, data: Uint8Array, assert: (condition: boolean, message: string) => void, into?: Uint8Array): Uint8Array | null {
  const taken = Atomics.load(control, RingSlot.taken) >>> 0;
  const used = (Atomics.load(control, RingSlot.written) - taken) >>> 0;
  if (used === 0) return null;
  assert(used <= data.length, `${used} bytes in a ring of ${data.length}`);
  const bytes = copyFromRing(data, taken, used, into);
  releaseRing(control, taken + used);
  return bytes;
}

/** The reader has taken everything before ring position `to`: the writer may reuse its room. */
export function releaseRing(control: Int32Array, to: number): void {
  Atomics.store(control, RingSlot.taken, to | 0);
  Atomics.notify(control, RingSlot.taken);
}

/**
 * A copy of `length` bytes at ring position `from`, wrapping past the ring's end (in `into`, when
 * given). The copy starts at the same offset modulo 8 as the ring's bytes do: V8 copies out of
 * shared memory a byte at a time unless both sides are 8-byte aligned alike (7 times slower).
 */
export function copyFromRing(data: Uint8Array, from: number, length: number, into?: Uint8Array): Uint8Array {
  const at = from & (data.length - 1);
  const skew = (data.byteOffset + at) & 7;
  const bytes = (into ?? new Uint8Array(length + skew)).subarray(skew, skew + length);
  const first = Math.min(length, data.length - at);
  bytes.set(data.subarray(at, at + first));
  if (first < length) bytes.set(data.subarray(0, length - first), first);
  return bytes;
}

/** Bytes a buffer must hold to take up to `length` bytes with copyFromRing. */
export const ringCopyBytes = (length: number): number => length + 7;

/** Wakes the reader if it sleeps in `sleepUntilWoken` (the writer has data, or the reader's own thread interrupts it). */
export function wakeRingReader(control: Int32Array): void {
  if (Atomics.compareExchange(control, RingSlot.armed, 1, 0) === 1) Atomics.notify(control, RingSlot.armed);
}

/**
 * The reader sleeps until woken or `timeoutMs` pass; with `ready`, checked after arming, it does
 * not sleep when there is something to take already (a wake before arming would be missed).
 */
export async function sleepUntilWoken(control: Int32Array, timeoutMs: number, ready?: () => boolean): Promise<void> {
  Atomics.store(control, RingSlot.armed, 1);
  if (!ready?.()) {
    const waiting = Atomics.waitAsync(control, RingSlot.armed, 1, timeoutMs);
    if (waiting.async) await waiting.value;
  }
  Atomics.store(control, RingSlot.armed, 0);
}

/** A u32, little-endian, at ring position `at` (a byte counter), wrapping past the ring's end. */
export function putWord(data: Uint8Array, at: number, word: number, mask: number): void {
  for (let i = 0; i < 4; i++) data[(at + i) & mask] = (word >>> (8 * i)) & 0xff;
}
