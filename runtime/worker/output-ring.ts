// A guest's stdout and stderr on their way from its worker thread to the main thread, through
// shared memory rather than messages: a ring of frames the worker appends to and the main thread
// takes from whenever it likes. Nothing the guest wrote waits inside the worker, so a guest that
// writes and then computes for ever (or is terminated on Ctrl-C) has its output shown all the
// same: the main thread takes it on a timer, when the worker blocks or exits, and once more after
// the worker is gone.
//
// One writer (the worker), one reader (the main thread), on byte-ring.ts's mechanics. A frame is a 4-byte little-endian header, `length * 2 + (stream - 1)`, then its bytes (which may
// wrap around the end of the ring). `written` moves only past whole frames. A recording's
// checkpoint marks its place in the output with a frame of its own: the header `markHeader`, then
// the checkpoint's number (u32), so that the reader hashes the output up to there (OutputDigests).
import { copyFromRing, copyIntoRing, nextLookBelow, putWord, releaseRing, ringRoom, RingSlot, sleepUntilWoken, takeFromRing, waitForRoom, wakeRingReader } from './byte-ring.js';

/**
 * Bytes of guest output in the ring at most; past it the guest waits for the main thread. 4 MiB
 * (1 MiB before): a recording's main thread also compresses the trace and hashes pages, and a
 * guest writing without pause waited for it (record of 10M events: 875 -> 778 ms, medians of 10).
 */
export const outputRingBytes = 4 * 1024 * 1024;
/** One write larger than this goes as several frames, so the reader can take one while the next is written. */
export const maxOutputFrameBytes = outputRingBytes / 4;
/** Longest the main thread leaves unseen output in the ring (a pipe or a file: batches are cheaper). */
export const outputDelayMs = 20;
/** On a terminal the first write of a burst is shown at once, the rest of it after this pause. */
export const watchedOutputBatchMs = 2;

const frameHeaderBytes = 4;
/**
 * A mark's header: no frame of output has one so large (maxOutputFrameBytes). Below 2^30, as every
 * header is: V8 then keeps the reader's loop in small integers (0xffffffff made it deoptimise).
 */
const markHeader = 0x3fffffff;
const markFrameBytes = 8;
const Ctl = {
  ...RingSlot,
  /** Bit `stream` set: the host's end of that stream is closed (its reader went away). */
  closed: 3,
  /** 1 once the writer asked for what it wrote to be taken now (`wake`); the reader clears it as it takes. */
  asked: 4,
} as const;
const controlBytes = 32;
/** Frames up to this size are copied byte by byte (cheaper than a typed-array copy for a few bytes). */
const smallFrameBytes = 16;

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`output ring: ${message}`);
}
assert((outputRingBytes & (outputRingBytes - 1)) === 0, 'the ring size must be a power of two');
assert(maxOutputFrameBytes + frameHeaderBytes <= outputRingBytes, 'a whole frame must fit in the ring');
assert(maxOutputFrameBytes * 2 + 1 < 2 ** 32, 'a frame header holds its length');

export function outputRingBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(controlBytes + outputRingBytes);
}

const streamBit = (stream: 1 | 2): number => stream;

interface RingViews { control: Int32Array; data: Uint8Array }
function views(shared: SharedArrayBuffer): RingViews {
  assert(shared.byteLength === controlBytes + outputRingBytes, `a buffer of ${shared.byteLength} bytes is not an output ring`);
  return { control: new Int32Array(shared, 0, controlBytes / 4), data: new Uint8Array(shared, controlBytes, outputRingBytes) };
}

/** The worker's side: appends the guest's writes, and wakes the reader when asked to be prompt. */
export class OutputRingWriter {
  private readonly control: Int32Array;
  private readonly data: Uint8Array;
  /** Our own copy of `written` (only we move it), and room known free after it. */
  private written: number;
  private room = 0;
  /** The reader's progress is looked at (and it is woken if the ring is half full) when `room` falls below this: nextLookBelow. */
  private lookBelow = outputRingBytes / 2;

  /** `watched`: bit `stream` set for streams a person watches (a terminal): each write wakes the reader. */
  constructor(shared: SharedArrayBuffer, private readonly watched = 0) {
    ({ control: this.control, data: this.data } = views(shared));
    this.written = Atomics.load(this.control, Ctl.written) >>> 0;
  }

  // Called once per guest write (a million a second for some guests): no allocation on this path.
  write(stream: 1 | 2, source: Uint8Array, at: number, length: number): void {
    if (length <= maxOutputFrameBytes) this.append(stream, source, at, length);
    else {
      for (let offset = 0; offset < length; offset += maxOutputFrameBytes) {
        this.append(stream, source, at + offset, Math.min(length - offset, maxOutputFrameBytes));
      }
    }
    if ((this.watched & streamBit(stream)) !== 0) this.wake();
    else if (this.room < this.lookBelow) this.look();
  }

  /** The ring is filling: wake the reader if it is half full. */
  private look(): void {
    this.room = ringRoom(this.control, this.written, outputRingBytes);
    if (this.room < outputRingBytes / 2) this.wake();
    this.lookBelow = nextLookBelow(this.room, outputRingBytes);
  }

  /** Checkpoint `number` of a recording is here in the output (checkpoint-parts.ts). */
  mark(number: number): void {
    if (this.room < markFrameBytes) {
      this.room = waitForRoom(this.control, this.written, outputRingBytes, markFrameBytes, () => this.wake());
      this.lookBelow = outputRingBytes / 2;
    }
    const mask = outputRingBytes - 1;
    putWord(this.data, this.written, markHeader, mask);
    putWord(this.data, this.written + 4, number, mask);
    this.written = (this.written + markFrameBytes) >>> 0;
    this.room -= markFrameBytes;
    Atomics.store(this.control, Ctl.written, this.written | 0);
  }

  /** Whether the host's end of `stream` is closed (the main thread learnt it while writing). */
  closed(stream: 1 | 2): boolean {
    return (Atomics.load(this.control, Ctl.closed) & streamBit(stream)) !== 0;
  }

  /**
   * Tells the reader to take what is there now (the guest is about to block, or has ended). An
   * empty ring has nothing to take: the reader sleeps on (a guest that blocks on the network
   * after every request, writing nothing, woke it for nothing once a request).
   */
  wake(): void {
    if ((Atomics.load(this.control, Ctl.taken) >>> 0) === this.written) return;
    Atomics.store(this.control, Ctl.asked, 1);
    wakeRingReader(this.control);
  }

  // Self-contained (no helper of its own): V8 inlines it into a guest's write only while the
  // write's path stays within its inlining budget, and a helper here cost a call per write.
  private append(stream: 1 | 2, source: Uint8Array, from: number, length: number): void {
    const need = frameHeaderBytes + length;
    if (this.room < need) {
      this.room = waitForRoom(this.control, this.written, outputRingBytes, need, () => this.wake());
      this.lookBelow = outputRingBytes / 2;
    }
    const mask = outputRingBytes - 1;
    const header = length * 2 + (stream - 1);
    const { data } = this;
    let at = this.written;
    for (let i = 0; i < frameHeaderBytes; i++) data[(at + i) & mask] = (header >>> (8 * i)) & 0xff;
    at = (at + frameHeaderBytes) & mask;
    if (length <= smallFrameBytes) {
      for (let i = 0; i < length; i++) data[(at + i) & mask] = source[from + i]!;
    } else copyIntoRing(data, at, source.subarray(from, from + length));
    this.written = (this.written + need) >>> 0;
    this.room -= need;
    Atomics.store(this.control, Ctl.written, this.written | 0);
  }
}

/** A run of output on one stream, in the order the guest wrote it. */
export interface OutputChunk { stream: 1 | 2; bytes: Uint8Array }

/** Sees a recording's output as it is taken, and its checkpoints' marks in place (OutputDigests). */
export interface OutputTap { add(stream: 1 | 2, bytes: Uint8Array): void; mark(checkpoint: number): void }

/**
 * The main thread's side: takes whole frames, joins neighbours on the same stream. With a tap (a
 * recording's OutputDigests), the tap sees every frame first, in order: `hashAhead` reads what is
 * published past what was taken (copied out and split into runs once, which `take` then hands
 * out), so that a checkpoint's draft gets the digests at its mark without taking output before
 * the output's consumer wants it: a slow reader still makes the guest wait, and what is read ahead
 * is at most what the ring holds.
 */
export class OutputRingReader {
  private readonly control: Int32Array;
  private readonly data: Uint8Array;
  /** Ring position up to which the tap has seen the frames (never behind `taken`)... */
  private tapped: number;
  /** ...and those frames' runs, not taken yet. */
  private ahead: OutputChunk[] = [];

  constructor(shared: SharedArrayBuffer, private readonly tap?: OutputTap) {
    ({ control: this.control, data: this.data } = views(shared));
    this.tapped = Atomics.load(this.control, Ctl.taken) >>> 0;
  }

  /** Everything in the ring now, copied out; the worker may write over it from here on. */
  take(): OutputChunk[] {
    Atomics.store(this.control, Ctl.asked, 0);
    if (this.tap) {
      this.hashAhead();
      const chunks = this.ahead;
      this.ahead = [];
      releaseRing(this.control, this.tapped);
      return chunks;
    }
    const bytes = takeFromRing(this.control, this.data, assert);
    const chunks: OutputChunk[] = [];
    if (bytes) frames(bytes, chunks, undefined);
    return chunks;
  }

  /** Shows the tap every frame published since it last looked; they stay in the ring until taken. */
  hashAhead(): void {
    if (!this.tap) return;
    const written = Atomics.load(this.control, Ctl.written) >>> 0;
    const length = (written - this.tapped) >>> 0;
    if (length === 0) return;
    assert(length <= outputRingBytes, `${length} bytes ahead in a ring of ${outputRingBytes}`);
    frames(copyFromRing(this.data, this.tapped, length), this.ahead, this.tap);
    this.tapped = written;
  }

  /**
   * Resolves once the worker asks for its output to be taken (it is about to block or has ended, a
   * person watches the stream, the ring is half full), or after `timeoutMs`; at once if it asked
   * already or the ring is half full. Output short of that waits for the timeout: a guest writing
   * without pause to a pipe was taken as often as the main thread came round, a take and an
   * onOutput call per few writes (~15,000 of each for a component's million one-byte writes).
   */
  waitForOutput(timeoutMs: number): Promise<void> {
    // Checked after arming: a frame written (or an ask made) before that is seen here, one after wakes us.
    return sleepUntilWoken(this.control, timeoutMs, () => Atomics.load(this.control, Ctl.asked) === 1
      || ((Atomics.load(this.control, Ctl.written) - Atomics.load(this.control, Ctl.taken)) >>> 0) >= outputRingBytes / 2);
  }

  /** Wakes a `waitForOutput` from this side (the worker has ended). */
  interrupt(): void {
    wakeRingReader(this.control);
  }

  /** The host's end of `stream` is closed: from now on the guest's writes to it fail (EPIPE). */
  markClosed(stream: 1 | 2): void {
    Atomics.or(this.control, Ctl.closed, streamBit(stream));
  }
}

/**
 * Splits what was taken into runs per stream, appended to `chunks`: frame payloads are moved
 * together, headers dropped. The tap sees each run, and each mark after the runs before it.
 */
function frames(bytes: Uint8Array, chunks: OutputChunk[], tap: OutputTap | undefined): void {
  // One pass per take, once per frame (a million a second of one-byte writes), shaped for V8: no
  // closure over `out` and `runStart` (they would live in a context object), a mark handled out of
  // line, no `continue`, a `while` (each of those ran 3 to 4 times slower once marks came).
  let out = 0;
  let runStart = 0;
  let runStream: 1 | 2 = 1;
  let at = 0;
  while (at < bytes.length) {
    if (at + frameHeaderBytes > bytes.length) assert(false, `a frame header cut at ${at} of ${bytes.length}`);
    const header = bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
    let length = 0;
    let start = at + markFrameBytes;
    if (header !== markHeader) {
      const stream = ((header & 1) + 1) as 1 | 2;
      length = header >>> 1;
      start = at + frameHeaderBytes;
      if (start + length > bytes.length) assert(false, `a frame of ${length} bytes cut at ${at} of ${bytes.length}`);
      if (stream !== runStream && out > runStart) {
        pushRun(chunks, tap, runStream, bytes.subarray(runStart, out));
        runStart = out;
      }
      runStream = stream;
      // In place: payloads only move towards the start (each header dropped makes room).
      if (length <= smallFrameBytes) for (let i = 0; i < length; i++) bytes[out + i] = bytes[start + i]!;
      else bytes.copyWithin(out, start, start + length);
    } else {
      markAt(bytes, at, chunks, tap, runStream, runStart, out);
      runStart = out;
    }
    out += length;
    at = start + length;
  }
  if (out > runStart) pushRun(chunks, tap, runStream, bytes.subarray(runStart, out));
}

/** A mark at `at`: the run before it ends there, then the tap sees the mark. */
function markAt(bytes: Uint8Array, at: number, chunks: OutputChunk[], tap: OutputTap | undefined, runStream: 1 | 2, runStart: number, out: number): void {
  if (at + markFrameBytes > bytes.length) assert(false, `a mark cut at ${at} of ${bytes.length}`);
  if (out > runStart) pushRun(chunks, tap, runStream, bytes.subarray(runStart, out));
  tap?.mark(new DataView(bytes.buffer, bytes.byteOffset + at + 4, 4).getUint32(0, true));
}

function pushRun(chunks: OutputChunk[], tap: OutputTap | undefined, stream: 1 | 2, bytes: Uint8Array): void {
  chunks.push({ stream, bytes });
  tap?.add(stream, bytes);
}
