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
}

/**
 * A group of wasi_snapshot_preview1 imports. Arguments are raw wasm values: i32 arrive as JS
 * numbers (signed: use `>>> 0`), i64 as bigint (signed: use `BigInt.asUintN(64, x)`). Each
 * returns an errno, or throws WasiError, which the kernel's boundary turns into the errno.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type SyscallTable = Record<string, (...args: any[]) => number | void>;
