// Main-thread side of a guest process: starts its worker, serves its stdin requests, writes its
// output, and reports how it ended.
import type { GuestProgram } from './p2/index.js';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { ProcessConfig } from './config.js';
import { PreopenError } from './effects/host-fs.js';
import { BufferStdin, type StdinSource } from './effects/stdin-sources.js';
import type { TreeNode } from './fs/tree.js';
import { TraceFileRecorder } from './effects/trace-file.js';
import { traceDrainMs, traceRingMemory, TraceRingReader } from './worker/trace-channel.js';
import { precompiledShim } from './worker/recording-shim.js';
import { precompiledReplayShim } from './trace/replay-shim.js';
import type { CompiledShim } from './wasm-shim.js';
import { CheckpointFinisher, OutputDigests } from './trace/checkpoint-parts.js';
import type { TraceEnd } from '../formats/index.js';
import { GuestLinkError, type GuestOutcome } from './run.js';
import { defaultMaxStackBytes, guestThreadStackMb } from './rewrite/index.js';
import { defaultGuestStackMb, takeEarlyGuestWorker } from './worker/early.js';
import type { SessionSpec, SessionStats } from './trace/spec.js';
import type { TakenSnapshot } from './snapshot/driver.js';
import type { Delivery, NetEvent, NetRequest } from './net/types.js';
import { NetSlot, Slot, State, StdinStatus, channelBytes, openChannel, type Channel, type WorkerMessage } from './worker/channel.js';
import { DeliveryBoxWriter, netBoxBuffer, RequestBoxReader } from './worker/net-box.js';
import { OutputRingReader, outputDelayMs, outputRingBuffer, watchedOutputBatchMs } from './worker/output-ring.js';
import { setTimeout as sleep } from 'node:timers/promises';

/** A bug inside RepliCode (not the guest's fault): the message and host stack. */
export class InternalError extends Error {}

/** A trace stopped being readable during replay; the message names the byte offset. */
export class TraceReadError extends Error {
  constructor(message: string, readonly stats?: SessionStats) { super(message); }
}

export interface SpawnOptions {
  /** A core module or a transpiled WASI 0.2 component (compileProgram). */
  module: GuestProgram;
  config: ProcessConfig;
  stdin?: StdinSource;
  /**
   * Receives guest output in order; may return a promise to apply backpressure, and 'closed'
   * once the stream's reader has gone (the guest's next write there fails with EPIPE).
   */
  onOutput: (stream: 1 | 2, bytes: Uint8Array) => OutputAccepted | Promise<OutputAccepted>;
  /**
   * Streams a person watches (a terminal): their output reaches onOutput as the guest writes it.
   * Other output arrives within outputDelayMs, or sooner when the guest blocks or ends.
   */
  watchedOutput?: readonly (1 | 2)[];
  /** Record or replay instead of a plain run. */
  session?: SessionSpec;
  /** Directory snapshots taken by the caller, by host path (record and replay pass them in). */
  trees?: Record<string, TreeNode>;
  /** Receives the record/replay session's figures when the guest ends. */
  onStats?: (stats: SessionStats) => void;
  /** Receives each snapshot a replay takes (SessionSpec snapshots.every), in order. */
  onSnapshot?: (snapshot: TakenSnapshot) => void;
  /** The machine this process's network stack talks to; without one, network waits fail at once. */
  net?: NetHooks;
}

/** What onOutput answers: nothing, or 'closed' when the stream's reader has gone. */
export type OutputAccepted = void | 'closed';

// The worker's code is bundled into one file at build time: a fresh worker then loads one
// script instead of ~30 modules, which takes about 20 ms off every guest start, and its loader
// compiles it from V8's code cache (~8 ms more: effects/guest-loader.ts).
// Spelled as '../runtime/...' so that it holds both here (dist/runtime/spawn.js) and in the CLI's
// bundle (dist/bundle/*.js, scripts/build.mjs).
const workerUrl = new URL('../runtime/effects/guest-loader.js', import.meta.url);
if (guestThreadStackMb(defaultMaxStackBytes) !== defaultGuestStackMb) throw new InternalError('worker/early.ts: defaultGuestStackMb is not the default stack');

/** The machine's side of a process's networking (see runtime/machine.ts). */
export interface NetHooks {
  onRequest(request: NetRequest): void;
  /** A snapshot the machine asked the blocked process for (Delivery.snapshot). */
  onSnapshot?(snapshot: TakenSnapshot): void;
  /** The process is blocked until `deliver` is called; `stateHash` summarizes its syscalls so far, if it keeps one. */
  onWait(deadlineNs: bigint | null, stateHash?: number): void;
}

export interface GuestProcess {
  readonly outcome: Promise<GuestOutcome>;
  /** Hands a blocked process its network input and wakes it. */
  deliver(delivery: Delivery): void;
  /**
   * Stops the worker at once: on Ctrl-C (`stopped`, the default: a recording is closed as stopped
   * by the user), or to simulate a crash (`crashed`: closed as incomplete). Either way every event
   * the guest completed is written.
   */
  terminate(how?: 'stopped' | 'crashed'): Promise<number>;
  /** A replay's events completed so far (every replayProgressEveryEvents; 0 for other sessions). */
  eventsSoFar(): number;
  /** The OS nice value of the guest's worker thread, taken with its next delivery (Delivery.niceness). */
  setNiceness(niceness: number): void;
}

/** Runs a guest process in its own worker thread; resolves when it exits or traps. */
export function spawnGuest(options: SpawnOptions): Promise<GuestOutcome> {
  try {
    return startGuest(options).outcome;
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * The per-call shim a recording or a replay of a core module will put between it and the kernel,
 * compiled here (cached for the process) rather than cold in the new worker; the worker decides
 * whether it fits (threads, faults to inject and snapshot copies keep the JS path).
 */
function precompiledShimFor(module: GuestProgram, session: SessionSpec | undefined, traceRing: WebAssembly.Memory | undefined): CompiledShim | undefined {
  if (!(module instanceof WebAssembly.Module)) return undefined;
  if (session?.kind === 'record' && traceRing) return precompiledShim(module, traceRing);
  if (session?.kind === 'replay' && !session.snapshots) return precompiledReplayShim(module);
  return undefined;
}

/** Starts a guest process in its own worker thread. */
export function startGuest(options: SpawnOptions): GuestProcess {
  const stdin = options.stdin ?? new BufferStdin();
  const shared = new SharedArrayBuffer(channelBytes);
  const channel = openChannel(shared);
  const session = options.session;
  const outputShared = outputRingBuffer();
  // Recording: this thread writes the trace file, and hashes the output and the pages a
  // checkpoint's draft hands over; the worker only appends records to a shared ring.
  const outputDigests = session?.kind === 'record' ? new OutputDigests() : undefined;
  const outputRing = new OutputRingReader(outputShared, outputDigests);
  const traceRing = session?.kind === 'record' ? traceRingMemory() : undefined;
  let terminated: 'stopped' | 'crashed' | undefined;
  const net = new MessageChannel();
  const boxes = { deliveries: netBoxBuffer(), requests: netBoxBuffer() };
  const box = new DeliveryBoxWriter(boxes.deliveries);
  const requestBox = new RequestBoxReader(boxes.requests);
  const watchedOutput = (options.watchedOutput ?? []).reduce((mask, stream) => mask | stream, 0);
  const stackMb = options.config.maxStackBytes === undefined ? undefined : guestThreadStackMb(options.config.maxStackBytes);
  const shim = precompiledShimFor(options.module, session, traceRing);
  const workerData = {
    module: options.module, config: options.config, channel: shared, trees: options.trees ?? {}, session, traceRing, netPort: net.port2, shim,
    output: outputShared, watchedOutput, netBoxes: boxes,
  };
  // A worker started early (bin/replicode.js) gets its setup as its first message.
  const early = takeEarlyGuestWorker(stackMb);
  early?.postMessage(workerData, [net.port2]);
  const worker = early ?? new Worker(workerUrl, {
    argv: [session?.kind ?? 'run'], // which code cache the loader takes
    ...(stackMb === undefined ? {} : { resourceLimits: { stackSizeMb: stackMb } }),
    workerData,
    transferList: [net.port2],
  });
  // The trace file (its header framed, the module's bytes compressed: ~2.5 ms) while the worker boots.
  let trace: ReturnType<typeof tracePump> | undefined;
  try {
    trace = session?.kind === 'record'
      ? tracePump(new TraceFileRecorder(session.tracePath, session.header, session.maxTraceBytes), traceRing!.buffer as unknown as SharedArrayBuffer, new CheckpointFinisher(outputDigests!, () => outputRing.hashAhead()), () => {
        if (Atomics.compareExchange(channel.control, Slot.net, NetSlot.none, NetSlot.persist) === NetSlot.none) Atomics.notify(channel.control, Slot.net);
      })
      : undefined;
  } catch (err) {
    void worker.terminate();
    throw err;
  }
  const recorder = trace?.recorder;
  const pump = outputPump(outputRing, options.onOutput, watchedOutput);
  let niceness: number | undefined;
  // One delivery per network wait: the worker has taken the last one (and set the slot back to
  // none) before it waits again, so the box is free whenever a delivery is due.
  const deliver = (delivery: Delivery): void => {
    const slot = Atomics.load(channel.control, Slot.net);
    if (slot !== NetSlot.none && slot !== NetSlot.persist) throw new InternalError('a delivery to a process that has not taken the last one');
    const full = niceness === undefined ? delivery : { ...delivery, niceness };
    niceness = undefined;
    let where: number = NetSlot.box;
    if (!box.write(full)) {
      net.port1.postMessage(compactBytes(full));
      where = NetSlot.message;
    }
    // The slot is none, or persist (the waiting worker may be handing over its calls): it takes
    // the delivery either way, once its own compare-and-swap back to none has failed or run.
    while (Atomics.compareExchange(channel.control, Slot.net, NetSlot.none, where) !== NetSlot.none
      && Atomics.compareExchange(channel.control, Slot.net, NetSlot.persist, where) !== NetSlot.persist);
    Atomics.notify(channel.control, Slot.net);
  };
  // The events and checkpoints the trace holds (past the size limit, fewer than the guest made) and its size.
  const withTraceBytes = (stats: SessionStats): SessionStats => (recorder ? { ...stats, events: recorder.events, checkpoints: recorder.checkpoints, traceBytes: recorder.bytes } : stats);
  // A trace that reached its size limit stopped the recording there, though the guest may have run
  // on: the main thread writes behind it, so a short run could end before its worker saw the limit
  // (and `record` said it recorded the run, exit 0, of a trace that held the first 1100 of 5000 events).
  const withTraceLimit = (outcome: GuestOutcome): GuestOutcome => {
    const reason = recorder?.limitReason;
    return reason === undefined || outcome.kind === 'stopped' ? outcome : { kind: 'stopped', exitCode: 0, event: recorder!.events, reason };
  };
  const outcome = new Promise<GuestOutcome>((resolve, reject) => {
    let settled = false;
    let queue = Promise.resolve();
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      pump.stop();
      stdin.close();
      trace?.stop();
      trace?.close({ complete: false }, false); // no-op if the worker closed the trace properly
      fn();
    };
    const handle = async (msg: WorkerMessage): Promise<void> => {
      switch (msg.kind) {
        case 'stdin':
          answerStdin(channel, msg.mode === 'block' ? await stdin.read(msg.maxBytes) : stdin.poll(msg.maxBytes));
          return;
        case 'net':
          for (const request of msg.requests) options.net?.onRequest(request);
          return;
        case 'net-wait':
          // Its last requests, in the request box unless they did not fit (then in the message); read before it is woken again.
          for (const request of msg.requests ?? requestBox.read(msg.boxed!.count, msg.boxed!.bytes)) options.net?.onRequest(request);
          if (options.net) options.net.onWait(msg.deadlineNs, msg.stateHash);
          else deliver({ timeNs: 0n, events: [], stopping: true }); // no machine: nothing will ever arrive
          return;
        case 'snapshot':
          options.onSnapshot?.(msg.snapshot);
          options.net?.onSnapshot?.(msg.snapshot);
          return;
        case 'trace-end':
          trace?.close(msg.end, false);
          return;
        case 'done':
          trace?.close({ complete: false }, false); // only if the worker did not close it
          if (msg.stats) options.onStats?.(withTraceBytes(msg.stats));
          settle(() => resolve(withTraceLimit(msg.outcome)));
          return;
        case 'failed':
          trace?.close({ complete: false }, false);
          if (msg.stats) options.onStats?.(withTraceBytes(msg.stats));
          settle(() => reject(failureError(msg)));
          return;
      }
    };
    // Whatever the worker wrote before a message is taken before the message is handled, and
    // once more when the worker is gone (terminated on Ctrl-C, or crashed): nothing it wrote is lost.
    const then = (step: () => void | Promise<void>) => {
      queue = queue.then(pump.drain).then(step).catch((err) => settle(() => reject(err)));
    };
    worker.on('message', (msg: WorkerMessage) => then(() => handle(msg)));
    // A worker gone without closing its trace: what it recorded is taken from the shared ring and columns.
    const gone = (): void => trace?.close(terminated === 'stopped' ? { complete: false, stop: 'stopped' } : { complete: false }, true);
    worker.on('error', (err) => then(() => { gone(); settle(() => reject(new InternalError(`guest worker crashed: ${err.message}`))); }));
    worker.on('exit', (code) => then(() => { gone(); settle(() => reject(new InternalError(`guest worker exited (${code}) without reporting`))); }));
    pump.run().catch((err) => settle(() => reject(err)));
    trace?.run().catch((err) => settle(() => reject(err)));
  });
  outcome.finally(() => net.port1.close()).catch(() => {});
  return {
    outcome, deliver,
    terminate: (how = 'stopped') => {
      terminated ??= how;
      return worker.terminate();
    },
    eventsSoFar: () => channel.control[Slot.events]! >>> 0,
    setNiceness: (value) => { niceness = value; },
  };
}

/** Drains of the trace ring that found nothing before a recording's data is written out as it is (1 s). */
const persistAfterQuietDrains = Math.ceil(1000 / traceDrainMs);

/**
 * The main thread's side of a recording: takes what the worker appends to the trace ring, on a
 * timer and when the worker asks, writes it as chunks, and closes the trace however the run ends.
 */
function tracePump(recorder: TraceFileRecorder, shared: SharedArrayBuffer, drafts: CheckpointFinisher, askPersist: () => void) {
  const ring: TraceRingReader = new TraceRingReader(shared, (chunk) => {
    if (!recorder.chunk(chunk)) ring.markLimitReached();
  }, drafts);
  let stopped = false;
  /** Takes what the ring holds; the chunks it made go to the file together. */
  const take = (): boolean => {
    const got = ring.take();
    recorder.flush();
    return got;
  };
  const run = async (): Promise<void> => {
    let quiet = 0;
    while (!stopped) {
      // Once the trace is closed, only to let a worker still writing see the limit.
      quiet = take() ? 0 : quiet + 1;
      // Quiet for a second (a server between clients): what was recorded goes to the file now, not
      // when a chunk fills, so a kill -9 loses at most the call the guest waits in. A worker in a
      // network wait hands over the calls it completed first (NetSlot.persist); one busy
      // elsewhere does so at its next wait.
      if (quiet === persistAfterQuietDrains) {
        askPersist();
        await ring.waitForData(traceDrainMs);
        ring.take();
        if (!recorder.isClosed) ring.flush();
        recorder.flush();
      }
      await ring.waitForData(traceDrainMs);
    }
  };
  /**
   * Takes the rest and closes the trace (once). `end` is the worker's when it closed the trace
   * itself (it flushed everything first); `workerGone`: it is gone without doing so, and the
   * events it completed since its last batch are taken from the shared columns.
   */
  const close = (end: TraceEnd, workerGone: boolean): void => {
    if (recorder.isClosed) return;
    ring.take();
    if (workerGone) ring.recoverCalls();
    ring.flush();
    recorder.close(end);
  };
  return { recorder, run, close, stop: () => { stopped = true; ring.interrupt(); } };
}

/**
 * The main thread's side of a guest's output: hands what is in the ring to onOutput, one take at
 * a time and in order (onOutput may push back), whenever asked (`drain`) and, until stopped, as
 * soon as the worker says so or every outputDelayMs (`run`).
 */
function outputPump(ring: OutputRingReader, onOutput: SpawnOptions['onOutput'], watched: number) {
  let chain: Promise<unknown> = Promise.resolve();
  let stopped = false;
  /** Resolves with how many chunks there were. */
  const drain = (): Promise<number> => {
    const next = chain.then(async () => {
      const chunks = ring.take();
      for (const chunk of chunks) {
        if ((await onOutput(chunk.stream, chunk.bytes)) === 'closed') ring.markClosed(chunk.stream);
      }
      return chunks.length;
    });
    chain = next.catch(() => {});
    return next;
  };
  const run = async (): Promise<void> => {
    while (!stopped) {
      // A terminal sees the first write of a burst at once, the rest a moment later in one piece.
      if (await drain() > 0 && watched !== 0) await sleep(watchedOutputBatchMs);
      await ring.waitForOutput(outputDelayMs);
    }
  };
  return { drain, run, stop: () => { stopped = true; ring.interrupt(); } };
}

function answerStdin(channel: Channel, got: Uint8Array | 'eof' | 'again'): void {
  const { control, data } = channel;
  if (got === 'eof') control[Slot.status] = StdinStatus.eof;
  else if (got === 'again') control[Slot.status] = StdinStatus.again;
  else {
    data.set(got.subarray(0, data.length));
    control[Slot.status] = StdinStatus.data;
    control[Slot.length] = Math.min(got.length, data.length);
  }
  Atomics.store(control, Slot.state, State.answered);
  Atomics.notify(control, Slot.state);
}

function failureError(msg: Extract<WorkerMessage, { kind: 'failed' }>): Error {
  if (msg.failure === 'link') return new GuestLinkError(msg.message);
  if (msg.failure === 'preopen') return new PreopenError(msg.message);
  if (msg.failure === 'trace') return new TraceReadError(msg.message, msg.stats);
  const err = new InternalError(msg.message);
  if (msg.stack) err.stack = msg.stack;
  return err;
}

/**
 * The delivery with every event's bytes in one buffer of their own. postMessage copies the whole
 * ArrayBuffer behind each view it sends, and the bytes of a cluster's events are views into the
 * decoded batch (about 1.1 KB behind each 38-byte request): copying them into one buffer took a
 * 3-replica HTTP cluster's main thread from ~30 to ~1 us of cloning per event (design.md).
 */
export function compactBytes(delivery: Delivery): Delivery {
  const viewOf = (event: NetEvent): Uint8Array | undefined => ('bytes' in event && typeof event.bytes !== 'number' ? event.bytes : undefined);
  let spare = 0;
  let total = 0;
  for (const event of delivery.events) {
    const view = viewOf(event);
    if (view === undefined) continue;
    total += view.byteLength;
    spare += view.buffer.byteLength - view.byteLength;
  }
  if (spare === 0) return delivery;
  const joined = new Uint8Array(total);
  let at = 0;
  const events = delivery.events.map((event): NetEvent => {
    const view = viewOf(event);
    if (view === undefined) return event;
    joined.set(view, at);
    at += view.byteLength;
    return { ...event, bytes: joined.subarray(at - view.byteLength, at) } as NetEvent;
  });
  return { ...delivery, events };
}
