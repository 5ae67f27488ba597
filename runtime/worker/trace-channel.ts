// Recording across threads, through shared memory: the guest's worker appends encoded records
// to a ring the main thread empties, and writes the syscall events straight into shared columns,
// a batch per region of them; the main thread encodes each batch's calls record from its region,
// gathers the records into chunks, compresses, frames and writes them (runtime/spawn.ts), so
// neither encoding calls nor compression runs on the guest's thread. Nothing recorded waits in
// the worker's own memory: when the worker is terminated (Ctrl-C while the guest computes) or
// crashes, the main thread takes what is in the ring and the events of the batch from the
// columns, and every event the guest completed reaches the trace.
//
// The columns hold `columnRegions` batches. A batch's region goes to the reader with the frame
// that ends the batch (a calls frame with `endsRegion` set), and is the worker's again once the
// reader has encoded it (Ctl.released): the worker waits for that only when every region is
// still the reader's. Before, the worker encoded each batch and copied the record into the ring:
// two byte-by-byte copies of ~24 KiB per batch (V8 copies into or out of shared memory a byte at
// a time unless both sides are 8-byte aligned), ~4 ns per event of the guest's thread.
//
// One writer (the worker), one reader (the main thread), on byte-ring.ts's mechanics. A frame is a
// 16-byte header (three u32 little-endian: `length * 4 + kind`, then two values whose meaning
// depends on the kind; then 4 bytes of padding) and its bytes, padded to a multiple of 8, which
// may wrap around the end of the ring. Frames so start 8-byte aligned: a checkpoint's pages, copied
// from the guest's memory, are copied a word at a time (V8 copies into shared memory a byte at a
// time unless both sides are aligned alike). The worker publishes `written` when an event
// completes (so the records of a call still in progress stay unpublished), after a calls batch
// or a checkpoint, and whenever it needs room.
import type { MessagePort } from 'node:worker_threads';
import {
  callsPerBatch, encodeCalls, encodeCallsInto, maxCallsRecordBytes, maxRecordBytes, RecordBuffer, TraceLimitError, traceLimitReason, type RawChunk, type TraceEnd,
} from '../../formats/index.js';
import { encodeDraft, type CheckpointDraft } from '../trace/checkpoint-parts.js';
import type { CallLog, CallLogHooks } from '../trace/recording.js';
import { copyIntoRing, nextLookBelow, putWord, ringCopyBytes, ringRoom, RingSlot, sleepUntilWoken, takeFromRing, waitForRoom, wakeRingReader } from './byte-ring.js';
import type { WorkerMessage } from './channel.js';
import type { ShimHost } from './recording-shim.js';

/** Bytes of recorded data in the ring at most; past it the guest waits for the main thread. */
export const traceRingBytes = 2 * 1024 * 1024;
/** A record larger than this goes as several frames (pieces), so the reader can take one while the next is written. */
export const maxTraceFrameBytes = traceRingBytes / 4;
/** Longest the main thread leaves recorded data in the ring (it takes it sooner when the ring is half full). */
export const traceDrainMs = 50;
/**
 * Batches the columns hold (a region each, 40 KiB). The worker wakes the reader once half of them
 * are the reader's, and waits when all are.
 */
export const columnRegions = 64;
const columnSlots = callsPerBatch * columnRegions;
/** In a calls frame's second value (the region's first slot it holds): the frame ends the batch, and hands its region to the reader. */
const endsRegion = 0x10000;
/** How long the worker sleeps at a time waiting for the reader to release a region (it is woken sooner). */
const columnWaitMs = 100;
const noBytes = new Uint8Array(0);

const FrameKind = {
  /** A whole record, or the last piece of one. */
  record: 0,
  /** A piece of a record that goes on in the next frame. */
  piece: 1,
  /** Calls in the columns, no bytes: value 1 is their number, value 2 the slot of the batch's region they start at (plus endsRegion for the batch's last frame). */
  calls: 2,
  /** A checkpoint's draft (checkpoint-parts.ts), which the reader finishes into the record that ends its chunk; values: checkpoint number, event. */
  checkpoint: 3,
} as const;
const frameHeaderBytes = 16;
/** A frame's bytes with the padding after them (to the next 8-byte boundary). */
const paddedBytes = (length: number): number => (length + 7) & ~7;
/** The event whose exit first takes the log's slow path, well before V8 optimises the boundary (see afterDue). */
const warmUpCalls = 64;
const Ctl = {
  ...RingSlot,
  /** 1 once the trace is full: the worker's next record stops the guest. */
  limitReached: 3,
  /** Events completed (their result known) so far, mod 2^32. */
  completed: 4,
  /** The batch's first slot not yet in a calls record (a checkpoint or persistCompleted sent those before it). */
  persisted: 5,
  /** With a recording shim (recording-shim.ts) owning the per-call path: the batch's slots entered, */
  shimPending: 6,
  /** the slot count whose exit calls back into SharedTraceLog (afterDue), */
  shimDue: 7,
  /** and the event count at the columns' slot 0, mod 2^32 (slots count across regions for the shim). */
  shimBase: 8,
  /** Regions the reader has released (encoded their batch), mod 2^32; written by the reader. */
  released: 9,
  /** 1 once guest threads are attached: the thread column is written (and encoded). */
  threaded: 10,
  /** The shim's first slot past the current region (a call entered there is our bug: `overflow`). */
  shimEnd: 11,
} as const;
const completedSlot = Ctl.completed;
const persistedSlot = Ctl.persisted;
const controlBytes = 64;
const columnsBytes = columnSlots * 10;

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`RepliCode bug: trace ring: ${message}`);
}
assert((traceRingBytes & (traceRingBytes - 1)) === 0, 'the ring size must be a power of two');
assert(maxTraceFrameBytes + frameHeaderBytes <= traceRingBytes, 'a whole frame must fit in the ring');
assert(maxTraceFrameBytes * 4 + 3 < 2 ** 32, 'a frame header holds its length');
assert(endsRegion > callsPerBatch, 'a slot number leaves endsRegion clear');

const ringBufferBytes = controlBytes + columnsBytes + traceRingBytes;
const wasmPageBytes = 65536;
const ringMemoryPages = Math.ceil(ringBufferBytes / wasmPageBytes);

export function traceRingBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(ringBufferBytes);
}

/**
 * The trace ring in a shared WebAssembly.Memory (its buffer is the SharedArrayBuffer both sides
 * read), so that a recording shim (recording-shim.ts) can write the columns from wasm.
 */
export function traceRingMemory(): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: ringMemoryPages, maximum: ringMemoryPages, shared: true });
}

/**
 * Where the recording shim finds the columns and its counters in the ring's memory (byte offsets;
 * control slots). Its slot numbers count across the regions: the current region's first slot
 * plus the batch's calls.
 */
export const shimLayout = {
  ctl: { completed: Ctl.completed, pending: Ctl.shimPending, due: Ctl.shimDue, base: Ctl.shimBase, end: Ctl.shimEnd },
  fingerprints: controlBytes,
  ids: controlBytes + columnSlots * 4,
  results: controlBytes + columnSlots * 5,
} as const;

interface RingViews { control: Int32Array; fingerprints: Uint32Array; threads: Uint32Array; ids: Uint8Array; results: Uint8Array; data: Uint8Array }
/** The first slot of region number `n` (regions handed over so far, mod 2^32: the writer's and the reader's count). */
const regionStart = (n: number): number => (n % columnRegions) * callsPerBatch;

/** The columns of the region whose first slot is `base`. */
function regionViews(v: RingViews, base: number): Pick<RingViews, 'ids' | 'fingerprints' | 'results' | 'threads'> {
  const end = base + callsPerBatch;
  return { ids: v.ids.subarray(base, end), fingerprints: v.fingerprints.subarray(base, end), results: v.results.subarray(base, end), threads: v.threads.subarray(base, end) };
}

function views(shared: SharedArrayBuffer): RingViews {
  const memoryBytes = ringMemoryPages * wasmPageBytes;
  assert(shared.byteLength === ringBufferBytes || shared.byteLength === memoryBytes, `a buffer of ${shared.byteLength} bytes is not a trace ring`);
  return {
    control: new Int32Array(shared, 0, controlBytes / 4),
    fingerprints: new Uint32Array(shared, controlBytes, columnSlots),
    ids: new Uint8Array(shared, controlBytes + columnSlots * 4, columnSlots),
    results: new Uint8Array(shared, controlBytes + columnSlots * 5, columnSlots),
    threads: new Uint32Array(shared, controlBytes + columnSlots * 6, columnSlots),
    data: new Uint8Array(shared, controlBytes + columnsBytes, traceRingBytes),
  };
}

export interface SharedTraceLogOptions {
  /**
   * Keep HashingSession's rolling hash of the calls for network waits to report (a replicated
   * machine compares it: a cluster replica's recording). Off, the log does not fold it, which a
   * batch of 4096 calls otherwise pays ~4 ns per call for, and network waits report none.
   */
  rollingHash: boolean;
  /**
   * Where the guest's output goes (the output ring): each checkpoint is marked there before its
   * draft is sent, so that the reader hashes the output up to that point (OutputDigests).
   */
  output?: { mark(checkpoint: number): void };
}

/** FNV-1a's prime, as HashingSession folds calls. */
const fnvPrime = 0x01000193;

/**
 * The worker's side: the event log a recording session writes to. The boundary writes each call
 * straight into the shared columns (CallColumns); everything else (a batch's calls record, a
 * checkpoint due, records to publish) waits for the one comparison in `exit` to send it to a
 * method of its own, so the per-call path stays small enough for V8 to inline whole.
 */
export class SharedTraceLog implements CallLog {
  private readonly v: RingViews;
  private pending = 0;
  /** Slots of the batch already sent as calls records (by a checkpoint or persistCompleted). */
  private persistedTo = 0;
  private events = 0;
  /** Events whose result is known (all but a call in progress). */
  private completed = 0;
  /** Our own copy of `written` (only we move it), what was last published, and room known free. */
  private written: number;
  private published: number;
  private room = 0;
  /** publish looks at the reader's progress (and wakes it if the ring is half full) when `room` falls below this: nextLookBelow. */
  private lookBelow = traceRingBytes / 2;
  /** `exit` does more than store once `completed` reaches this: see afterDue. */
  private dueAt = warmUpCalls;
  private nextCheckpoint = Infinity;
  private checkpointEvery = 0;
  private hooks: CallLogHooks | undefined;
  /** HashingSession's rolling hash over the calls before slot `rolledTo` of the batch (folded lazily: see rollingHash). */
  private rolling = 0x811c9dc5;
  private rolledTo = 0;
  /** Whether the rolling hash is kept (SharedTraceLogOptions.rollingHash). */
  private readonly keepsRollingHash: boolean;
  private readonly output: SharedTraceLogOptions['output'];

  /** The current batch's region of the columns (views of it, which `useRegion` sets), and its first slot. */
  private ids!: Uint8Array;
  private fingerprints!: Uint32Array;
  private results!: Uint8Array;
  private threads!: Uint32Array;
  private regionBase = 0;
  /** Regions handed to the reader so far (mod 2^32): the current one is number `handedOver`. */
  private handedOver = 0;
  private readonly control: Int32Array;
  /**
   * The guest thread making the current call (wasi-threads: attachThreads). Until then the thread
   * column is never written: it stays 0, as the shared memory starts, and calls records go
   * without it.
   */
  private thread: (() => number) | undefined;
  /** The ring's memory, when it is a WebAssembly.Memory a recording shim can write (traceRingMemory). */
  private readonly memory: WebAssembly.Memory | undefined;
  /**
   * Whether a recording shim owns the per-call path (wasmShim): it keeps `pending` and the
   * completed count in the ring's memory, and this log's fields are brought up to date from there
   * whenever it runs (own) and written back when it returns (release).
   */
  private shim = false;
  /** Inside a method that took the counters from the shim (own): nested ones do not again. */
  private held = false;

  constructor(shared: SharedArrayBuffer | WebAssembly.Memory, private readonly port: MessagePort, private readonly maxTraceBytes: number, options: SharedTraceLogOptions = { rollingHash: true }) {
    this.keepsRollingHash = options.rollingHash;
    this.output = options.output;
    this.memory = shared instanceof WebAssembly.Memory ? shared : undefined;
    this.v = views(shared instanceof WebAssembly.Memory ? shared.buffer as unknown as SharedArrayBuffer : shared);
    this.control = this.v.control;
    this.handedOver = Atomics.load(this.control, Ctl.released) >>> 0;
    this.useRegion();
    this.written = Atomics.load(this.v.control, Ctl.written) >>> 0;
    this.published = this.written;
  }

  get eventCount(): number {
    return this.shim && !this.held ? this.events - this.pending + this.control[Ctl.shimPending]! - this.regionBase : this.events;
  }

  attachThreads(current: () => number): void {
    assert(!this.shim, 'a recording shim serves one thread only');
    this.thread = current;
    Atomics.store(this.control, Ctl.threaded, 1);
  }

  schedule(checkpointEvery: number, hooks: CallLogHooks): void {
    assert(Number.isSafeInteger(checkpointEvery) && checkpointEvery > 0, 'checkpoints every whole number of events');
    const owned = this.own();
    this.checkpointEvery = checkpointEvery;
    this.nextCheckpoint = this.events - (this.events % checkpointEvery) + checkpointEvery;
    this.dueAt = Math.min(this.dueAt, this.nextCheckpoint);
    this.hooks = hooks;
    this.release(owned);
  }

  /**
   * What a recording shim (recording-shim.ts) needs to take over enter and exit: the ring's
   * memory and the call back for an exit that is due; undefined when the ring is not in a
   * WebAssembly.Memory or guest threads are attached. Nothing changes until `engage`.
   */
  wasmShim(): (ShimHost & { engage(): void; disengage(): void }) | undefined {
    const memory = this.memory;
    if (!memory || this.thread !== undefined) return undefined;
    return {
      memory,
      afterDue: () => {
        const owned = this.own();
        try {
          this.afterDue(this.completed);
        } finally {
          this.release(owned);
        }
      },
      overflow: () => { throw new Error('RepliCode bug: trace ring: a full calls batch is written out by the exit that fills it'); },
      engage: () => {
        assert(this.events === 0 && !this.shim, 'a recording shim takes over before the first call');
        this.shim = true;
        this.push();
      },
      // The guest could not be linked to the shim (before any of its code ran): the JS path records.
      disengage: () => {
        assert(this.events === 0 && this.control[Ctl.shimPending] === 0, 'a recording shim hands back before the first call');
        this.shim = false;
      },
    };
  }

  /** In shim mode, outside a method that did already: this log's counters from the shim's. Whether it did (for release). */
  private own(): boolean {
    if (!this.shim || this.held) return false;
    this.held = true;
    const base = this.events - this.pending; // the shim moves only pending (and events with it) and the completed count
    const pending = this.control[Ctl.shimPending]! - this.regionBase;
    this.pending = pending;
    this.events = base + pending;
    this.completed = base + ((this.control[completedSlot]! - base) | 0);
    return true;
  }

  /** The counters back to the shim (its slots count across regions), with the slot count whose exit is due (see afterDue). */
  private release(owned: boolean): void {
    if (!owned) return;
    this.push();
    this.held = false;
  }

  private push(): void {
    const base = this.events - this.pending;
    this.control[Ctl.shimPending] = this.regionBase + this.pending;
    this.control[Ctl.shimBase] = (base - this.regionBase) | 0;
    this.control[Ctl.shimDue] = this.regionBase + Math.max(-1, Math.min(this.dueAt - base, callsPerBatch + 1));
    this.control[Ctl.shimEnd] = this.regionBase + callsPerBatch;
  }

  // enter() and exit() run once per syscall: plain stores into the shared columns, no allocation,
  // through views held in fields of their own (one load each, not two).
  enter(id: number, fingerprint: number): number {
    const at = this.pending;
    // exit writes a batch out as soon as it fills (a store past the columns would be dropped silently).
    if (at >= callsPerBatch) assert(false, 'a full calls batch is written out by the exit that fills it');
    this.ids[at] = id;
    this.fingerprints[at] = fingerprint;
    if (this.thread !== undefined) this.threads[at] = this.thread();
    this.results[at] = 0;
    this.pending = at + 1;
    this.events++;
    return at;
  }

  /** The errno of the call in `slot` (always the last: calls do not nest), which completes its event. */
  exit(slot: number, errno: number): void {
    this.results[slot] = errno;
    const done = this.events;
    this.completed = done;
    this.control[completedSlot] = done | 0;
    if (done >= this.dueAt) this.afterDue(done);
  }

  /**
   * What an exit does besides storing, once `completed` reaches dueAt: records appended during
   * the call are published (it is complete), a full batch is written out, a checkpoint due is
   * taken. dueAt starts at `warmUpCalls`, so an early call comes here: V8 has then seen this
   * branch before it optimises the boundary, and does not throw the optimised code away when the
   * first batch fills (it did, at event 4096, then at the first checkpoint: ~2 ms of a short run
   * each). Not the very first call: V8 records what a function does only from its 8th call on.
   */
  private afterDue(done: number): void {
    if (this.written !== this.published) this.publish();
    if (this.pending === callsPerBatch) {
      try {
        this.flushCalls();
      } catch (err) {
        if (err instanceof TraceLimitError && this.hooks) this.hooks.full(err);
        throw err;
      }
    }
    if (done === this.nextCheckpoint) {
      this.nextCheckpoint += this.checkpointEvery;
      this.hooks!.checkpoint(done);
    }
    // The next checkpoint, or where the batch (which a checkpoint may just have written out) fills.
    this.dueAt = Math.min(this.nextCheckpoint, this.events - this.pending + callsPerBatch);
  }

  /**
   * HashingSession's rolling hash over every call so far (a call in progress without its errno):
   * folded from the columns when asked (a network wait) and before they are reused, not per call;
   * undefined when it is not kept.
   */
  rollingHash(): number | undefined {
    if (!this.keepsRollingHash) return undefined;
    const owned = this.own();
    this.release(owned); // nothing it does moves the counters
    this.foldRolling(this.completed - (this.events - this.pending));
    let h = this.rolling;
    if (this.completed < this.events) {
      const at = this.pending - 1;
      h = Math.imul(Math.imul(h ^ this.ids[at]!, fnvPrime) ^ this.fingerprints[at]!, fnvPrime);
      const thread = this.threads[at]!;
      if (thread !== 0) h = Math.imul(h ^ thread, fnvPrime); // as HashingSession
    }
    return h;
  }

  /** Folds the completed calls in slots [rolledTo, to) into `rolling`. */
  private foldRolling(to: number): void {
    const { ids, fingerprints, results, threads } = this;
    let h = this.rolling;
    for (let at = this.rolledTo; at < to; at++) {
      h = Math.imul(Math.imul(h ^ ids[at]!, fnvPrime) ^ fingerprints[at]!, fnvPrime);
      if (threads[at] !== 0) h = Math.imul(h ^ threads[at]!, fnvPrime); // as HashingSession
      h = Math.imul(h ^ results[at]!, fnvPrime);
    }
    this.rolling = h;
    this.rolledTo = to;
  }

  append(record: Uint8Array): void {
    if (record.length > maxRecordBytes) {
      throw new TraceLimitError(`a record of ${record.length} bytes is larger than a trace holds (${maxRecordBytes} bytes)`);
    }
    this.frame(FrameKind.record, record);
    // Published when the call it belongs to completes (at the next exit when no call is in progress).
    const owned = this.own();
    if (this.dueAt > this.events) this.dueAt = this.events;
    this.release(owned);
  }

  checkpoint(number: number, event: number, draft: CheckpointDraft): void {
    // The calls so far go before it, as a record of their own; the batch goes on in its region
    // (ending it here would leave the region mostly unused: with a checkpoint every few hundred
    // events, the worker waited for regions while the reader hashed pages).
    const owned = this.own();
    try {
      this.sendCalls(this.pending);
    } finally {
      this.release(owned);
    }
    this.output?.mark(number);
    // Its parts as one record in pieces: the pages go from the guest's memory straight into the ring.
    const parts = encodeDraft(draft);
    for (let i = 0; i < parts.length - 1; i++) this.frame(FrameKind.piece, parts[i]!);
    this.frame(FrameKind.checkpoint, parts[parts.length - 1]!, number, event);
    this.publish();
  }

  finish(end: TraceEnd): void {
    this.own(); // and never released: the shim is not called again
    // Stopped inside a call (the size limit, a host failure): its result is unknown, so it is left
    // out. A run that ended inside its last call (proc_exit) recorded it to the end: it stays.
    if (!end.complete && this.completed < this.events) {
      assert(this.events - this.completed === 1 && this.pending > 0, 'only the last call can be in progress');
      this.pending--;
      this.events--;
      this.written = this.published; // and so are the records it had appended, not yet published
    }
    try {
      this.flushCalls();
    } catch (err) {
      if (!(err instanceof TraceLimitError)) throw err;
    }
    this.publish();
    this.wake();
    this.send({ kind: 'trace-end', events: this.events, end });
  }

  /** Ends the batch: its calls (those not sent yet) go to the reader with its region, and the next region is ours. */
  private flushCalls(): void {
    const n = this.pending;
    if (n === 0) return;
    if (this.keepsRollingHash) this.foldRolling(n);
    this.rolledTo = 0;
    this.pending = 0;
    const from = this.persistedTo;
    this.writeCalls(from, n, true);
    // After the frame is out: a reader recovering the columns skips what it already has till then.
    if (from > 0) {
      this.persistedTo = 0;
      this.control[persistedSlot] = 0;
    }
    this.nextRegion();
  }

  /** The next region, once the reader has released it (it is woken when half the regions wait for it). */
  private nextRegion(): void {
    this.handedOver = (this.handedOver + 1) >>> 0;
    for (;;) {
      const released = Atomics.load(this.control, Ctl.released);
      const held = (this.handedOver - released) >>> 0;
      if (held >= columnRegions / 2) this.wake();
      if (held < columnRegions) break;
      Atomics.wait(this.control, Ctl.released, released, columnWaitMs);
    }
    this.useRegion();
  }

  /** Region number `handedOver` is the current batch's. */
  private useRegion(): void {
    this.regionBase = regionStart(this.handedOver);
    ({ ids: this.ids, fingerprints: this.fingerprints, results: this.results, threads: this.threads } = regionViews(this.v, this.regionBase));
  }

  /**
   * While the guest waits in a call with nothing else unpublished (a network wait the main thread
   * found quiet: NetSlot.persist): the batch's calls completed so far go out as a calls record now,
   * rather than when the batch fills, so that a process killed while it waits loses at most the
   * call it is in. The batch goes on in the same columns; its next record starts after them.
   */
  persistCompleted(): void {
    if (this.written !== this.published) return; // records of the call in progress: they wait for it
    const owned = this.own();
    this.release(owned); // it reads the counters, and moves none the shim keeps
    this.sendCalls(this.completed - (this.events - this.pending));
  }

  /** The batch's calls before slot `to` that were not sent yet, as a frame that does not end the batch. */
  private sendCalls(to: number): void {
    if (to <= this.persistedTo) return;
    this.writeCalls(this.persistedTo, to, false);
    this.persistedTo = to;
    this.control[persistedSlot] = to;
  }

  /** Tells the reader the calls in the region's slots [from, to) are complete (with the batch's end: the region is its), published. */
  private writeCalls(from: number, to: number, ends: boolean): void {
    this.frame(FrameKind.calls, noBytes, to - from, from + (ends ? endsRegion : 0));
    // Published before the region is reused: the reader's event count and the columns agree.
    this.publish();
  }

  /** One record as a frame, or as pieces when it is larger than a frame. */
  private frame(kind: number, bytes: Uint8Array, a = 0, b = 0): void {
    if (Atomics.load(this.v.control, Ctl.limitReached)) throw new TraceLimitError(traceLimitReason(this.maxTraceBytes));
    let at = 0;
    for (; bytes.length - at > maxTraceFrameBytes; at += maxTraceFrameBytes) this.put(FrameKind.piece, bytes.subarray(at, at + maxTraceFrameBytes), 0, 0);
    this.put(kind, at === 0 ? bytes : bytes.subarray(at), a, b);
  }

  private put(kind: number, bytes: Uint8Array, a: number, b: number): void {
    const need = frameHeaderBytes + paddedBytes(bytes.length);
    this.waitForRoom(need);
    const mask = traceRingBytes - 1;
    const { data } = this.v;
    const at = this.written;
    putWord(data, at, bytes.length * 4 + kind, mask);
    putWord(data, at + 4, a, mask);
    putWord(data, at + 8, b, mask);
    copyIntoRing(data, at + frameHeaderBytes, bytes);
    this.written = (this.written + need) >>> 0;
    this.room -= need;
  }

  private waitForRoom(need: number): void {
    if (this.room >= need) return;
    // What we hold back must go out for room to come (a large record's earlier pieces).
    this.room = waitForRoom(this.v.control, this.written, traceRingBytes, need, () => { this.publish(); this.wake(); });
    this.lookBelow = traceRingBytes / 2;
  }

  private publish(): void {
    this.published = this.written;
    Atomics.store(this.v.control, Ctl.written, this.written | 0);
    if (this.room < this.lookBelow) {
      this.room = ringRoom(this.v.control, this.written, traceRingBytes);
      if (this.room < traceRingBytes / 2) this.wake();
      this.lookBelow = nextLookBelow(this.room, traceRingBytes);
    }
  }

  private wake(): void {
    wakeRingReader(this.v.control);
  }

  private send(message: WorkerMessage): void {
    this.port.postMessage(message);
  }
}

/** Turns a checkpoint's draft into its record (CheckpointFinisher). */
export interface CheckpointDraftReader { finish(number: number, event: number, draft: Uint8Array): Uint8Array }

/**
 * The main thread's side: takes published frames, gathers them into chunks (as RecordBuffer does
 * in one thread) and hands each to `emit`, checkpoints finished by `drafts`; once the worker is
 * gone, `recoverCalls` adds the events it completed after its last calls batch.
 */
export class TraceRingReader {
  private readonly v: RingViews;
  private readonly chunks: RecordBuffer;
  /** Pieces of a record taken so far (bounded by maxRecordBytes: the worker refuses larger). */
  private pieces: Uint8Array[] = [];
  private pieceBytes = 0;
  /** Events in the calls records taken so far. */
  private events = 0;
  /** Regions released so far (mod 2^32): the batch whose calls come next is in region number `released`. */
  private released: number;
  /** Where a calls record is encoded (the chunk copies it). */
  private readonly callsRecord = new Uint8Array(maxCallsRecordBytes(callsPerBatch, new Uint32Array(callsPerBatch)));

  /**
   * Where a take copies the ring's bytes, one buffer for every take: what the frames hold is
   * copied on before the next (into a chunk, a checkpoint's record, a piece's copy). Fresh copies
   * were ~60 MB of short-lived buffers per 10M events, each one external memory that made V8
   * collect more often: 150 ms of the main thread's collections in a 10M-event recording.
   */
  private readonly scratch: Uint8Array;

  /**
   * `emit` must be done with a chunk when it returns (it frames and writes it): the chunks share
   * one buffer (RecordBuffer's reuseChunks).
   */
  constructor(shared: SharedArrayBuffer, emit: (chunk: RawChunk) => void, private readonly drafts: CheckpointDraftReader) {
    this.v = views(shared);
    this.chunks = new RecordBuffer(emit, { reuseChunks: true });
    this.scratch = new Uint8Array(ringCopyBytes(this.v.data.length));
    this.released = Atomics.load(this.v.control, Ctl.released) >>> 0;
  }

  /** Gathers everything published into chunks; full chunks are emitted, the last stays until more comes or `flush`. Whether anything came. */
  take(): boolean {
    const bytes = takeFromRing(this.v.control, this.v.data, assert, this.scratch);
    if (bytes) this.frames(bytes);
    return bytes !== null;
  }

  private frames(bytes: Uint8Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let at = 0; at < bytes.length;) {
      // The messages are built only on failure: this runs once per record.
      if (at + frameHeaderBytes > bytes.length) assert(false, `a frame header cut at ${at} of ${bytes.length}`);
      const head = view.getUint32(at, true);
      const kind = head & 3;
      const length = Math.floor(head / 4);
      const start = at + frameHeaderBytes;
      if (start + length > bytes.length) assert(false, `a frame of ${length} bytes cut at ${at} of ${bytes.length}`);
      this.frame(kind, bytes.subarray(start, start + length), view.getUint32(at + 4, true), view.getUint32(at + 8, true));
      at = start + paddedBytes(length);
    }
  }

  private frame(kind: number, bytes: Uint8Array, a: number, b: number): void {
    if (kind === FrameKind.piece) {
      this.pieces.push(bytes.slice()); // the scratch is reused by the next take
      this.pieceBytes += bytes.length;
      assert(this.pieceBytes <= maxRecordBytes, 'a record in pieces is larger than maxRecordBytes');
      return;
    }
    const record = this.pieces.length === 0 ? bytes : Buffer.concat([...this.pieces, bytes]);
    this.pieces = [];
    this.pieceBytes = 0;
    if (kind === FrameKind.checkpoint) this.chunks.checkpoint(a, b, this.drafts.finish(a, b, record));
    else if (kind === FrameKind.calls) {
      const from = b & (endsRegion - 1);
      if (a > 0) this.appendCalls(from, from + a);
      if (b >= endsRegion) this.release();
    } else this.chunks.append(record);
  }

  /** The calls in slots [from, to) of the current region, as a calls record (the worker no longer writes them). */
  private appendCalls(from: number, to: number): void {
    assert(to <= callsPerBatch, `calls up to slot ${to} of a region of ${callsPerBatch}`);
    const { ids, results, fingerprints, threads, control } = this.v;
    const base = regionStart(this.released);
    const at = base + from;
    const end = base + to;
    // Without guest threads the column holds only zeros: a calls record without it (the same bytes).
    const threadColumn = Atomics.load(control, Ctl.threaded) === 1 ? threads.subarray(at, end) : undefined;
    const record = this.events <= 0xffffffff
      ? this.callsRecord.subarray(0, encodeCallsInto(this.callsRecord, this.events, ids.subarray(at, end), results.subarray(at, end), fingerprints.subarray(at, end), threadColumn))
      : encodeCalls(this.events, ids.slice(at, end), results.slice(at, end), fingerprints.slice(at, end), threadColumn?.slice());
    this.chunks.append(record, to - from);
    this.events += to - from;
  }

  /** The current region's batch is encoded: the worker may reuse it. */
  private release(): void {
    this.released = (this.released + 1) >>> 0;
    Atomics.add(this.v.control, Ctl.released, 1);
    Atomics.notify(this.v.control, Ctl.released);
  }

  /**
   * Once the worker is gone without closing the trace: the events it completed after its last
   * calls batch are still in the columns; they become one more calls record. The records of a
   * call in progress were never published (and a record half sent in pieces is dropped).
   */
  recoverCalls(): number {
    const completed = Atomics.load(this.v.control, Ctl.completed) >>> 0;
    const n = (completed - this.events) >>> 0;
    // The batch's slots before `skip` went out already (a checkpoint, persistCompleted): ours start there.
    const skip = Atomics.load(this.v.control, Ctl.persisted);
    assert(skip + n <= callsPerBatch, `${n} events completed past the last batch`);
    if (n > 0) this.appendCalls(skip, skip + n);
    return n;
  }

  /** Emits the chunk being filled. */
  flush(): void {
    this.chunks.flush();
  }

  /** The trace is full: the worker's next record stops the guest. */
  markLimitReached(): void {
    Atomics.store(this.v.control, Ctl.limitReached, 1);
  }

  /** Resolves once the worker asks for its data to be taken, or after `timeoutMs`. */
  waitForData(timeoutMs: number): Promise<void> {
    // Checked after arming, as the output ring does: data published just before is not left waiting.
    const { control } = this.v;
    return sleepUntilWoken(control, timeoutMs, () => Atomics.load(control, Ctl.written) !== Atomics.load(control, Ctl.taken));
  }

  /** Wakes a `waitForData` from this side (the worker has ended). */
  interrupt(): void {
    wakeRingReader(this.v.control);
  }
}
