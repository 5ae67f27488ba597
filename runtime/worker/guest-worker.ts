// Entry point of a guest's worker thread: runs one WASI process to completion (plainly, or
// recording, or replaying a trace) and reports how it ended.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { EventCursor, provideMsgpackr, TraceFormatError, TraceReader, type CursorState } from '../../formats/index.js';
import { SnapshotDriver } from '../snapshot/driver.js';
import type { ProcessConfig } from '../config.js';
import { PreopenError } from '../effects/host-fs.js';
import { openTraceFile } from '../effects/trace-file.js';
import { WorkerEffects } from '../effects/worker-effects.js';
import type { TreeNode } from '../fs/tree.js';
import { frameTranslator } from '../rewrite/index.js';
import { copyFrameTranslator } from '../snapshot/sites.js';
import { isComponentProgram, type GuestProgram } from '../p2/index.js';
import { GuestLinkError, runGuest, type GuestOutcome } from '../run.js';
import type { WasmFrame } from '../trap.js';
import { HashingSession } from '../trace/hashing.js';
import { FaultInjector } from '../trace/faults.js';
import { RecordingSession } from '../trace/recording.js';
import { ReplaySession } from '../trace/replaying.js';
import type { SessionSpec, SessionStats } from '../trace/spec.js';
import { openChannel, Slot, type WorkerMessage } from './channel.js';
import { OutputRingWriter } from './output-ring.js';
import { DeliveryBoxReader, RequestBoxWriter } from './net-box.js';
import { SharedTraceLog } from './trace-channel.js';
import { adoptShim, type CompiledShim } from '../wasm-shim.js';

interface GuestWorkerData {
  module: GuestProgram;
  config: ProcessConfig;
  channel: SharedArrayBuffer;
  trees: Record<string, TreeNode>;
  session?: SessionSpec;
  /** A recording's trace ring (trace-channel.ts). */
  traceRing?: WebAssembly.Memory;
  /** A recording's or a replay's per-call shim, compiled on the main thread (wasm-shim.ts CompiledShim). */
  shim?: CompiledShim;
  netPort: MessagePort;
  /** The output ring (output-ring.ts), and the streams whose every write wakes the main thread. */
  output: SharedArrayBuffer;
  watchedOutput: number;
  /** The delivery box and the request box (net-box.ts). */
  netBoxes: { deliveries: SharedArrayBuffer; requests: SharedArrayBuffer };
}

// Deep guest stacks are the point of trap and divergence reports.
Error.stackTraceLimit = 64;

/**
 * The worker's whole life, as one function rather than top-level code: the bundle is a CommonJS
 * script (effects/guest-loader.ts compiles it with V8's code cache), which has no top-level await.
 */
async function main(): Promise<void> {
  const port = parentPort!;
  // A worker started early (worker/early.ts) has no workerData: its setup is its first message.
  const setup = (workerData ?? await new Promise((resolve) => port.once('message', resolve))) as GuestWorkerData;
  const { module, config, channel, trees, session: spec, traceRing, netPort, output, watchedOutput, netBoxes } = setup;
  if (setup.shim) adoptShim(setup.shim);
  // A recording or replay packs and unpacks from its first event: msgpackr, bundled with this worker
  // but evaluated only here, is handed to formats/ (a plain run never evaluates it, nor reads it
  // from node_modules).
  if (spec) provideMsgpackr(await import('msgpackr/pack') as unknown as typeof import('msgpackr'));
  const opened = openChannel(channel);
  const control = opened.control;
  const outputRing = new OutputRingWriter(output, watchedOutput);
  const effects = new WorkerEffects(port, opened, outputRing, trees, { port: netPort, box: new DeliveryBoxReader(netBoxes.deliveries), requests: new RequestBoxWriter(netBoxes.requests) });
  let stats: () => SessionStats | undefined = () => undefined;
  const cleanups: (() => void)[] = [];

  function openSession() {
    if (spec?.kind === 'record') {
      const log = new SharedTraceLog(traceRing!, port, spec.maxTraceBytes, { rollingHash: spec.stateHash === true, output: outputRing });
      effects.onPersist = () => log.persistCompleted();
      const session = new RecordingSession(log, { checkpointEvery: spec.checkpointEvery, recordOutput: spec.recordOutput }, new FaultInjector(config.faults ?? []));
      stats = () => ({ ...session.stats });
      cleanups.push(() => session.abandon());
      return session;
    }
    if (spec?.kind === 'replay') {
      const source = openTraceFile(spec.tracePath);
      cleanups.push(() => source.close());
      const reader = new TraceReader(source);
      const cutShort = cutShortOf(reader, spec.cutShort);
      const resume = spec.snapshots?.resume;
      const cursor = resume ? EventCursor.resume(reader, (resume.state.session as { cursor: CursorState }).cursor) : new EventCursor(reader.records());
      const session = new ReplaySession(cursor, {
        checkpointEvery: spec.checkpointEvery, quiet: spec.quiet, ...(cutShort ? { cutShort } : {}),
        ...(stoppedRecording(reader, spec.cutShort) ? { stopped: true } : {}), ...(spec.toEvent !== undefined ? { toEvent: spec.toEvent } : {}), captureMemory: spec.captureMemory === true,
        ...(spec.hooks ? { hooks: spec.hooks } : {}),
        ...(spec.stateHashes ? { stateHashes: spec.stateHashes } : {}),
        ...(resume ? { resume: { state: resume.state.session, stdout: resume.stdout, stderr: resume.stderr } } : {}),
        onProgress: (events) => { control[Slot.events] = events | 0; },
      }, new FaultInjector(config.faults ?? []));
      stats = () => ({ events: session.stats.events, checkpoints: session.stats.checkpointsVerified });
      return session;
    }
    if (spec?.kind === 'hash') return new HashingSession(new FaultInjector(config.faults ?? []), spec.snapshots?.resume?.state.session);
    return undefined;
  }

  /** Whether the recording was stopped on purpose, as the caller found it (no second pass over the file) or as read here. */
  function stoppedRecording(reader: TraceReader, known: { stopped?: boolean } | null | undefined): boolean {
    return known !== undefined ? known?.stopped === true : reader.integrity.state === 'stopped';
  }

  /** Why the trace is not whole (undefined: it is), as the caller found it or as read here; damage stops here. */
  function cutShortOf(reader: TraceReader, known: { reason: string; offset: number; stopped?: boolean } | null | undefined): TraceFormatError | undefined {
    if (known !== undefined) return known === null || known.stopped ? undefined : new TraceFormatError(known.reason, known.offset, 'incomplete');
    const integrity = reader.integrity;
    if (integrity.state === 'damaged') throw integrity.error;
    return integrity.state === 'incomplete' ? integrity.error : undefined;
  }

  /** The outcome with its stacks' offsets in the module as given, not as rewritten (see rewrite/offsets.ts). */
  function withOriginalOffsets(outcome: GuestOutcome, translate: (frames: WasmFrame[]) => WasmFrame[]): GuestOutcome {
    switch (outcome.kind) {
      case 'trap': return { ...outcome, trap: { ...outcome.trap, frames: translate(outcome.trap.frames) } };
      case 'diverged': return { ...outcome, divergence: { ...outcome.divergence, stack: translate(outcome.divergence.stack) } };
      case 'stopped': {
        const at = outcome.at;
        if (!at) return outcome;
        const points = at.hookPoints?.map((p) => ({ ...p, stack: translate(p.stack) }));
        return { ...outcome, at: { ...at, stack: translate(at.stack), ...(at.hookPoint ? { hookPoint: { ...at.hookPoint, stack: translate(at.hookPoint.stack) } } : {}), ...(points ? { hookPoints: points } : {}) } };
      }
      case 'exit': return outcome;
    }
  }

  let message: WorkerMessage;
  try {
    const session = openSession();
    const plan = spec?.kind === 'replay' || spec?.kind === 'hash' ? spec.snapshots : undefined;
    const driver = plan ? new SnapshotDriver(plan, (snapshot) => {
      port.postMessage({ kind: 'snapshot', snapshot } satisfies WorkerMessage, [...snapshot.newPages.map((p) => p.bytes.buffer as ArrayBuffer), snapshot.stack.buffer as ArrayBuffer, snapshot.kernel.buffer as ArrayBuffer]);
    }) : undefined;
    // The build's warm-up writes the code cache here (effects/guest-loader.ts): what the worker compiled to set up, not its guest's calls.
    (globalThis as { [key: symbol]: (() => void) | undefined })[Symbol.for('replicode.guestWorkerStarting')]?.();
    const outcome = withOriginalOffsets(runGuest(module, config, effects, session, driver), isComponentProgram(module) ? (frames) => frames : copyFrameTranslator(module) ?? frameTranslator(module));
    const figures = stats();
    message = { kind: 'done', outcome, ...(figures ? { stats: figures } : {}) };
  } catch (err) {
    effects.flush();
    const failure = err instanceof GuestLinkError ? 'link' : err instanceof PreopenError ? 'preopen' : err instanceof TraceFormatError ? 'trace' : 'internal';
    const e = err instanceof Error ? err : new Error(String(err));
    const figures = stats();
    message = { kind: 'failed', failure, message: e.message, ...(e.stack ? { stack: e.stack } : {}), ...(figures ? { stats: figures } : {}) };
  }
  // What the guest sent last reaches the machine before it learns the process ended.
  effects.postHeldRequests();
  for (const cleanup of cleanups) {
    try { cleanup(); } catch { /* closing is best effort once the run is over */ }
  }
  port.postMessage(message);
  netPort.close();
}

void main();
