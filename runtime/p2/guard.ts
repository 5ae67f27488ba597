// A hostile guest against jco's generated bindings: what the lifting and lowering code does with
// bad pointers, lengths, handles and discriminants, made into the component model's answer, a
// trap (tests/components-fuzz.test.ts drives every served function with such values). jco 1.35
// throws TypeError or RangeError from its lifting code, and, for some inputs, does not check at
// all; the patches below close those holes in the bindings' text, and `guestFault` tells a
// lifting error (the guest's fault: a trap) from an error our host code threw (our bug: exit 70).
// See docs/design.md, "Hostile components".

import { createHash } from 'node:crypto';

/** The name the bindings' frames carry in stack traces (transpile.ts compiles them under it). */
export const bindingsFile = 'replicode-component-bindings.js';

/** The name of the bindings' parameter that collects what the host's functions threw. */
export const hostErrorsParam = 'replicodeHostErrors';

/** One text patch: `from` must match the bindings jco 1.35 writes, wherever the intrinsic is used. */
interface Patch { readonly what: string; readonly from: RegExp; readonly to: string }

const patches: readonly Patch[] = [
  {
    // A resource drop of a handle past the table's end read `undefined` as a live entry and wrote
    // the handle into the free list (table corruption, and a table as long as the handle).
    what: 'drop of a handle outside the table',
    from: /(function rscTableRemove\(table, handle\) \{\n(?:.*\n){4}\s*if \()(val === 0 \|\| \(scope & T_FLAG\) !== 0\) \{)/,
    to: '$1!(handle > 0 && handle < table.length >> 1) || $2',
  },
  {
    // A borrow of a handle the guest was never given (or has dropped) became a bare object of the
    // host's class, built without its constructor, whose method then failed inside our code.
    what: 'borrow of an unknown handle',
    from: /if \(!(rsc\d+)\) \{\n(\s*)\1 = Object\.create\(([\w$]+)\.prototype\);/g,
    to: "if (!$1) {\n$2throw new WebAssembly.RuntimeError('unknown $3 handle (never created, or dropped)');",
  },
  {
    // list<u8> arguments: ArrayBuffer#slice clamps, so a list past the end of memory (or at a
    // "negative" i32 address) was cut short instead of trapping.
    what: 'list<u8> past the end of memory',
    from: /new Uint8Array\((memory\d+)\.buffer\.slice\((ptr\d+), \2 \+ (len\d+) \* 1\)\)/g,
    to: 'new Uint8Array($1.buffer, $2 >>> 0, $3 >>> 0).slice()',
  },
  {
    // A bool argument other than 0 or 1 is checked inside the closure that calls the host: as a
    // TypeError it would pass for the host's own (and exit 70).
    what: 'bool that is not 0 or 1',
    from: /throw new TypeError\('invalid variant discriminant for bool'\);/,
    to: "throw new WebAssembly.RuntimeError('invalid argument to a WASI 0.2 call: a bool that is neither 0 nor 1');",
  },
  {
    // The same for a u8 or u16 argument out of its range (exit-with-code 300, a port of 70000).
    what: 'u8 or u16 out of range',
    from: /throw new TypeError\(`must be between \$\{min\} and \$\{max\}`\);/,
    to: 'throw new WebAssembly.RuntimeError(`invalid argument to a WASI 0.2 call: ${i} is not between ${min} and ${max}`);',
  },
  {
    // Strings: the component model traps on invalid UTF-8; a default TextDecoder replaced it.
    what: 'string that is not UTF-8',
    from: /const TEXT_DECODER_UTF8 = new TextDecoder\(\);/,
    to: "const TEXT_DECODER_UTF8 = new TextDecoder('utf-8', { fatal: true });",
  },
  {
    // Remember what the host threw, so that it is not taken for a lifting error.
    what: 'errors thrown by the host',
    from: /function _trackHostOperation\(operation\) \{\n(\s*)const result = operation\(\);/,
    to: `function _trackHostOperation(operation) {\n$1let result;\n$1try { result = operation(); } catch (e) { if (e !== null && typeof e === 'object') ${hostErrorsParam}.add(e); throw e; }`,
  },
];

/** Names this set of patches in the transpile cache's key: bindings patched otherwise are not reused. */
export const guardTag = createHash('sha256').update(patches.map((p) => `${p.from.source}\0${p.to}`).join('\0')).digest('hex').slice(0, 12);

/** The bindings with the hostile-guest patches applied. */
export function guardBindings(js: string): string {
  return patches.reduce((text, p) => text.replace(p.from, p.to), js);
}

/** The patches that matched nothing in `js` (jco changed its output: the fuzz test fails too). */
export function unmatchedPatches(js: string): string[] {
  return patches.filter((p) => !new RegExp(p.from.source).test(js)).map((p) => p.what);
}

/**
 * Whether the innermost frame of `err` outside V8's builtins (`at DataView.getUint32 (<anonymous>)`)
 * and Node's internals (`node:internal/encoding`) is the bindings' code. The direct calls (direct-imports.ts, lowered.ts) call our host functions
 * without jco's `_trackHostOperation`, so `hostErrors` never sees what they throw: the frame tells
 * a TypeError of our own (exit 70) from one of jco's lifting. A stack without frames (a limit of
 * 0) says nothing, and the error is taken as the lifting's, as before.
 */
function thrownInBindings(err: Error): boolean {
  for (const line of (err.stack ?? '').split('\n').slice(1)) {
    const frame = line.trim();
    // V8's builtins and Node's own JavaScript (TextDecoder's decode) are what the bindings called.
    if (!frame.startsWith('at ') || /\((?:<anonymous>|native)\)$|[( ]node:/.test(frame)) continue;
    return frame.includes(bindingsFile);
  }
  return true;
}

/**
 * A trap for an error that jco's lifting or lowering code threw because of what the guest passed
 * (a TypeError for a bad discriminant, flag or handle; a RangeError for memory it does not have);
 * undefined for anything else, including whatever the host threw (`hostErrors`).
 */
export function guestFault(err: unknown, hostErrors: WeakSet<object>): WebAssembly.RuntimeError | undefined {
  if (!(err instanceof TypeError || err instanceof RangeError) || hostErrors.has(err) || !thrownInBindings(err)) return undefined;
  // V8's own stack overflow is a RangeError too: it stays what it is (runtime/trap.ts reports it).
  if (/^Maximum call stack size exceeded/.test((err as Error).message)) return undefined;
  const what = (err as Error).message;
  const message = err instanceof RangeError ? `out of bounds memory access in a WASI 0.2 call (${what})` : `invalid argument to a WASI 0.2 call: ${what}`;
  const trap = new WebAssembly.RuntimeError(message);
  // Keep the wasm frames: the trap report shows where the guest made the call.
  trap.stack = `${trap.name}: ${message}\n${(err.stack ?? '').split('\n').slice(1).join('\n')}`;
  return trap;
}
