import type { GuestClock } from './clock.js';
import type { HostEffects } from './effects/types.js';
import type { FdTable } from './fdtable.js';
import type { GuestMemory } from './memory.js';
import type { RandomSource } from './prng.js';
import type { NetStack } from './net/stack.js';

/**
 * What a syscall implementation may touch: the state one guest process owns. Nothing here is
 * shared between instances.
 */
export interface KernelContext {
  /** The guest's memory; throws before the module is instantiated. */
  readonly memory: GuestMemory;
  readonly fds: FdTable;
  readonly clock: GuestClock;
  readonly random: RandomSource;
  readonly effects: HostEffects;
  /** The process's network stack (sockets, ports, input from the machine). */
  readonly net: NetStack;
  readonly args: readonly string[];
  /** `KEY=VALUE` strings, in the order given. */
  readonly env: readonly string[];
  /** Names sock_getaddrinfo resolves (--host NAME=IP), besides numbers and localhost. */
  readonly hosts: readonly (readonly [string, string])[];
  /** Bytes the next fd_write takes in place of its iovec's (see StagedWrite). */
  readonly staged: StagedWrite;
}

/**
 * A write's bytes where they already are, for the next fd_write to take instead of the bytes its
 * iovec names: a WASI 0.2 stream write (runtime/p2) makes the same traced fd_write call as ever
 * (same arguments, so the same event and fingerprint) without first copying the guest's bytes
 * and an iovec into its scratch memory, which no state hash covers. fd_write takes it before
 * anything it does can fail, so a staged write never outlives the call it was staged for.
 */
export class StagedWrite {
  source: Uint8Array | null = null;
  at = 0;
  length = 0;

  stage(source: Uint8Array, at: number, length: number): void {
    this.source = source;
    this.at = at;
    this.length = length;
  }
}

/**
 * A group of wasi_snapshot_preview1 imports. Arguments are raw wasm values: i32 arrive as JS
 * numbers (signed: use `>>> 0`), i64 as bigint (signed: use `BigInt.asUintN(64, x)`). Each
 * returns an errno, or throws WasiError, which the kernel's boundary turns into the errno.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type SyscallTable = Record<string, (...args: any[]) => number | void>;
