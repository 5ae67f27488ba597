// Fills the table the threads pass adds (runtime/rewrite/threads.ts) with the host's wait,
// notify and yield. A funcref table holds only wasm functions, so the host functions go through
// a tiny trampoline module that imports and re-exports them. The address checks (alignment,
// bounds) happen here, in the calling thread, so a bad wait traps in the thread that made it.
import { leb } from '../wasm-binary.js';
import { quantumExport, schedTableExport, SchedSlot } from '../rewrite/index.js';

/** What a thread's wait, notify and yield do once the address is checked (`address` includes the memarg's offset). */
export interface SchedCalls {
  wait32(address: number, expected: number, timeoutNs: bigint): number;
  wait64(address: number, expected: bigint, timeoutNs: bigint): number;
  notify(address: number, count: number): number;
  yield(): void;
}

const i32 = 0x7f;
const i64 = 0x7e;
const signatures = [[i32, i32, i64, i32, 1, i32], [i32, i64, i64, i32, 1, i32], [i32, i32, i32, 1, i32], []] as const;
let trampoline: WebAssembly.Module | undefined;

/** `(import "h" "0" ...) ... (export "0" (func 0)) ...`: the table slots' types, in SchedSlot order. */
function trampolineModule(): WebAssembly.Module {
  if (trampoline) return trampoline;
  const sec = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
  const types = signatures.map((s, i) => (i === 3 ? [0x60, 0, 0] : [0x60, s.length - 2, ...s]));
  const imports = signatures.map((_, i) => [1, 0x68, 1, 0x30 + i, 0, i]);
  const exports = signatures.map((_, i) => [1, 0x30 + i, 0, i]);
  const bytes = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...sec(1, [signatures.length, ...types.flat()]), ...sec(2, [signatures.length, ...imports.flat()]), ...sec(7, [signatures.length, ...exports.flat()])];
  trampoline = new WebAssembly.Module(Uint8Array.from(bytes));
  return trampoline;
}

function trap(message: string): never {
  throw new WebAssembly.RuntimeError(message);
}

/** Fills the instance's scheduler table with `calls`, behind the address checks a real wait/notify makes. */
export function fillSchedTable(instance: WebAssembly.Instance, memory: WebAssembly.Memory, calls: SchedCalls): void {
  const table = instance.exports[schedTableExport];
  if (!(table instanceof WebAssembly.Table)) throw new Error(`internal error: the threads pass left no ${schedTableExport} table`);
  const at = (address: number, offset: number, width: number): number => {
    const ea = (address >>> 0) + (offset >>> 0);
    if (ea % width !== 0) trap('unaligned atomic');
    if (ea + width > memory.buffer.byteLength) trap('memory access out of bounds');
    return ea;
  };
  const host = {
    0: (a: number, expected: number, timeout: bigint, offset: number) => calls.wait32(at(a, offset, 4), expected, timeout),
    1: (a: number, expected: bigint, timeout: bigint, offset: number) => calls.wait64(at(a, offset, 8), expected, timeout),
    2: (a: number, count: number, offset: number) => calls.notify(at(a, offset, 4), count >>> 0),
    3: () => calls.yield(),
  };
  const exports = new WebAssembly.Instance(trampolineModule(), { h: host }).exports;
  for (const slot of Object.values(SchedSlot)) table.set(slot, exports[String(slot)] as (...args: never[]) => unknown);
}

/**
 * What refills the thread's quantum (each turn starts with a full one), called right after
 * instantiation: the global then holds the whole quantum, as the pass wrote it.
 */
export function quantumRefill(instance: WebAssembly.Instance): () => void {
  const global = instance.exports[quantumExport];
  if (!(global instanceof WebAssembly.Global)) return () => {};
  const quantum = global.value as number;
  return () => { global.value = quantum; };
}
