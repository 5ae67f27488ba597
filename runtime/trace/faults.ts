// Fault injection (`record --inject`, `cluster --inject REPLICA:SPEC`): ways to make one run
// diverge realistically and reproducibly, so the divergence tools have something to find. The
// faults are part of the process's configuration, so they are in its trace header and replay
// re-applies them: a faulty run replays faithfully, and `diff` finds where it left the others.
//
//   bitflip@E[:ADDR[:BIT]]  after event E, flip bit BIT (default 0) of guest memory byte ADDR
//                           (default: the first byte event E read into memory, else 1024)
//   skew@E:NS               at event E the guest's clock jumps ahead by NS nanoseconds
//   drop@E                  the first input byte (stdin or network) delivered at or after E is lost
//   reorder@E               the first two input bytes delivered at or after E are swapped
//   leak@E                  at event E the guest's clock jumps to the host's real time (a host
//                           call that leaks real time; the value is recorded like any input)
//   seed:N                  (applied to the configuration, not here) a different PRNG seed
import { ClockId } from '../abi.js';
import { VirtualClock } from '../clock.js';
import { syscallId } from '../../formats/index.js';
import type { Kernel } from '../kernel.js';

export type Fault =
  | { kind: 'bitflip'; event: number; address: number | undefined; bit: number }
  | { kind: 'skew'; event: number; ns: bigint }
  | { kind: 'drop'; event: number }
  | { kind: 'reorder'; event: number }
  | { kind: 'leak'; event: number }
  | { kind: 'seed'; seed: bigint };

/** A fault specification the user can fix. */
export class FaultSpecError extends Error {}

/** Largest seed: the PRNG's seed is an unsigned 64-bit integer. */
const maxSeed = (1n << 64n) - 1n;
/** wasm32 guests address at most 4 GiB. */
const addressSpaceBytes = 2 ** 32;

export function parseFault(spec: string): Fault {
  const seed = /^seed:(\d+|0x[0-9a-f]+)$/i.exec(spec);
  if (seed) {
    const value = BigInt(seed[1]!);
    if (value > maxSeed) throw new FaultSpecError(`--inject ${spec}: the seed is larger than 2^64-1`);
    return { kind: 'seed', seed: value };
  }
  const m = /^(bitflip|skew|drop|reorder|leak)@(\d+)(?::(.*))?$/.exec(spec);
  if (!m) throw new FaultSpecError(`--inject ${spec}: expected bitflip@E[:ADDR[:BIT]], skew@E:NS, drop@E, reorder@E, leak@E or seed:N`);
  const event = Number(m[2]);
  if (!Number.isSafeInteger(event)) throw new FaultSpecError(`--inject ${spec}: event ${m[2]} is too large`);
  const rest = m[3]?.split(':') ?? [];
  switch (m[1]) {
    case 'bitflip': {
      const address = rest[0] ? wholeNumber(rest[0]) : undefined;
      const bit = rest[1] ? wholeNumber(rest[1]) : 0;
      if (rest.length > 2 || (address !== undefined && !(address < addressSpaceBytes)) || !(bit <= 7)) {
        throw new FaultSpecError(`--inject ${spec}: expected bitflip@E[:ADDR[:BIT]] with ADDR below 4 GiB (wasm32) and BIT 0 to 7`);
      }
      return { kind: 'bitflip', event, address, bit };
    }
    case 'skew':
      // The clock only moves forward: a negative skew would change nothing.
      if (rest.length !== 1 || !/^\d+$/.test(rest[0]!) || BigInt(rest[0]!) > maxSeed) {
        throw new FaultSpecError(`--inject ${spec}: skew needs :NS, a whole number of nanoseconds (the clock only moves forward) within 64 bits`);
      }
      return { kind: 'skew', event, ns: BigInt(rest[0]!) };
    default:
      if (rest.length > 0) throw new FaultSpecError(`--inject ${spec}: ${m[1]}@E takes no argument`);
      return { kind: m[1] as 'drop' | 'reorder' | 'leak', event };
  }
}

/** Decimal or 0x-hex digits as a number (NaN for anything else). */
function wholeNumber(text: string): number {
  return /^(\d+|0x[0-9a-f]+)$/i.test(text) ? Number(text) : NaN;
}

/** The bitflip addresses among `specs` that lie at or past `limitBytes` (the module's largest memory). */
export function faultsBeyondMemory(specs: readonly string[], limitBytes: number): string[] {
  return specs.filter((spec) => {
    const f = parseFault(spec);
    return f.kind === 'bitflip' && f.address !== undefined && f.address >= limitBytes;
  });
}

const readLike = new Set(['fd_read', 'fd_pread', 'sock_recv', 'sock_recv_from'].map((n) => syscallId(n)));

/** Applies a process's faults as its session sees events go by. */
export class FaultInjector {
  private readonly pending: (Fault & { spec: string })[];
  /** Faults that fired without effect (a bitflip outside memory): told to the user after the run. */
  private readonly noEffect: string[] = [];
  private lastId = -1;
  private lastArgs: (number | bigint)[] = [];

  constructor(faults: readonly string[]) {
    this.pending = faults.map((spec) => ({ ...parseFault(spec), spec })).filter((f) => f.kind !== 'seed');
  }

  /** One line per fault that changed nothing: fired without effect, or never reached (the run ended after `lastEvent`). */
  report(lastEvent: number): string[] {
    const unreached = this.pending.map((f) => `--inject ${f.spec} never applied: the run ended after event ${lastEvent}`);
    return [...this.noEffect, ...unreached];
  }

  get active(): boolean { return this.pending.length > 0; }
  /** Whether the session must keep call arguments (a bitflip aimed at what a call read). */
  get wantsArguments(): boolean { return this.pending.some((f) => f.kind === 'bitflip' && f.address === undefined); }

  noteCall(id: number, args: ArrayLike<number | bigint>): void {
    this.lastId = id;
    this.lastArgs = Array.from(args);
  }

  /** After event `event` returned: memory and clock faults due now. */
  afterCall(event: number, kernel: Kernel): void {
    for (let i = 0; i < this.pending.length; i++) {
      const f = this.pending[i]!;
      if (f.kind === 'drop' || f.kind === 'reorder' || f.kind === 'seed' || f.event !== event) continue;
      this.pending.splice(i--, 1);
      if (f.kind === 'bitflip') this.flip(kernel, f.address, f.bit, f.spec, event);
      if ((f.kind === 'skew' || f.kind === 'leak') && !(kernel.clock instanceof VirtualClock)) {
        this.noEffect.push(`--inject ${f.spec} changed nothing: the guest reads the host's clock (--clock real)`);
      }
      if (f.kind === 'skew' && kernel.clock instanceof VirtualClock) kernel.clock.advanceTo(kernel.clock.monotonicNs + f.ns);
      if (f.kind === 'leak' && kernel.clock instanceof VirtualClock) {
        const real = kernel.effects.clockNow(ClockId.REALTIME);
        kernel.clock.advanceTo(real - kernel.clock.epochNs);
      }
    }
  }

  /** Input bytes (stdin or network data) reaching the guest during event `event`. */
  filterInput(event: number, bytes: Uint8Array): Uint8Array {
    if (bytes.length === 0) return bytes;
    const i = this.pending.findIndex((f) => (f.kind === 'drop' || (f.kind === 'reorder' && bytes.length >= 2)) && f.event <= event);
    if (i < 0) return bytes;
    const [f] = this.pending.splice(i, 1);
    if (f!.kind === 'drop') return bytes.subarray(1);
    const out = bytes.slice();
    [out[0], out[1]] = [out[1]!, out[0]!];
    return out;
  }

  private flip(kernel: Kernel, address: number | undefined, bit: number, spec: string, event: number): void {
    let at = address;
    if (at === undefined && readLike.has(this.lastId)) {
      // The first byte the call read: the buffer of its first iovec.
      try { at = kernel.memory.u32(Number(this.lastArgs[1])); } catch { at = undefined; }
    }
    at ??= 1024;
    const size = kernel.memory.byteLength;
    if (at >= size) {
      this.noEffect.push(`--inject ${spec} flipped nothing: address ${at} is past the guest's memory (${size} bytes) after event ${event}`);
      return;
    }
    const b = kernel.memory.bytes(at, 1);
    b[0] = b[0]! ^ (1 << bit);
  }
}
