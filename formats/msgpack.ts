import { Packr, Unpackr } from 'msgpackr';

/**
 * The one msgpackr configuration of the trace format. Plain arrays and maps (no record
 * extension, so any msgpack reader can decode a trace); 64-bit integers are BigInt on both sides.
 */
export const msgpackOptions = { useRecords: false, int64AsType: 'bigint', mapsAsObjects: true } as const;

const packr = new Packr(msgpackOptions);
const unpackr = new Unpackr(msgpackOptions);

/** Encodes one value; the result is a fresh copy (msgpackr reuses its buffer). */
export function pack(value: unknown): Uint8Array {
  return Uint8Array.prototype.slice.call(packr.pack(value));
}

/** Decodes every msgpack value in `bytes`, in order. */
export function unpackAll(bytes: Uint8Array): unknown[] {
  return unpackr.unpackMultiple(bytes) as unknown[];
}
