import { createRequire } from 'node:module';
import type { Packr, Unpackr } from 'msgpackr';

/**
 * The one msgpackr configuration of the trace format. Plain arrays and maps (no record
 * extension, so any msgpack reader can decode a trace); 64-bit integers are BigInt on both sides.
 */
export const msgpackOptions = { useRecords: false, int64AsType: 'bigint', mapsAsObjects: true } as const;

let codec: { packr: Packr; unpackr: Unpackr } | undefined;
let provided: typeof import('msgpackr') | undefined;

/**
 * Hands over msgpackr as already loaded (the guest worker's bundle carries it, so a replay does
 * not read it from node_modules at its first record): the options stay the ones above.
 */
export function provideMsgpackr(msgpackr: typeof import('msgpackr')): void {
  provided ??= msgpackr;
}

/**
 * msgpackr, loaded on first use: a plain `run` never packs anything, and loading msgpackr took
 * ~10-20 ms of every start. Its CommonJS build is required synchronously, so pack and unpackAll
 * stay synchronous; it is the same code as its ES build. The build without `eval` is the one
 * without the native add-on too (which only reads strings faster; traces are numbers and bytes):
 * finding and loading that add-on was ~5-8 ms of every record, replay and inspect (7.8 against
 * 12.5-21 ms to require, medians of 3).
 */
function msgpackr(): { packr: Packr; unpackr: Unpackr } {
  if (!codec) {
    const { Packr, Unpackr } = provided ?? (createRequire(import.meta.url)('msgpackr/index-no-eval') as typeof import('msgpackr'));
    codec = { packr: new Packr(msgpackOptions), unpackr: new Unpackr(msgpackOptions) };
  }
  return codec;
}

/** Encodes one value; the result is a fresh copy (msgpackr reuses its buffer). */
export function pack(value: unknown): Uint8Array {
  return Uint8Array.prototype.slice.call(msgpackr().packr.pack(value));
}

/** Decodes every msgpack value in `bytes`, in order. */
export function unpackAll(bytes: Uint8Array): unknown[] {
  return msgpackr().unpackr.unpackMultiple(bytes) as unknown[];
}
