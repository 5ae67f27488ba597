// A WASI 0.2 command component turned into what a worker can run: jco's JavaScript bindings (sync
// instantiation: no JSPI, no asyncify) and its core modules. jco is large and slow to load, so it
// is imported only when a component is given, and its output is cached by the component's hash,
// in memory and on disk (the cache directory of effects/copy-cache.ts).
import { createHash } from 'node:crypto';
import { capMemory } from '../memory-limit.js';
import { ModuleFormatError } from '../module-error.js';
import { applyRewrites, canonicalNansOf, findRewritten, fuelLimitOf, keepRewritten, rewriteCacheKey, stackLimitOf, type RewritePass } from '../rewrite/index.js';
import { readModuleInterface } from '../module-interface.js';
import { GuestLinkError } from '../link-check.js';
import { readCachedCopy, writeCachedCopy } from '../effects/copy-cache.js';
import { componentHost, unservedImports } from './host.js';
import { fasterBindings, stringEnd } from './direct-imports.js';
import { lowerHotImports, loweredTag } from './lowered.js';
import type { Kernel } from '../kernel.js';
import { compiledNowModule, type KernelCalls } from './calls.js';
import { bindingsFile, guardBindings, guardTag, hostErrorsParam } from './guard.js';
import { Script } from 'node:vm';

/** A transpiled component, as sent to the guest worker. */
export interface ComponentProgram {
  readonly kind: 'component';
  /** jco's bindings: `instantiate(getCoreModule, imports, instantiateCore)`, as a function body's text. */
  readonly js: string;
  /**
   * V8's code cache of `bindingsScript(js)`, made where the program is compiled so that each guest
   * thread deserializes the bindings instead of parsing them (instantiate.ts).
   */
  readonly codeCache: Uint8Array;
  /** The core modules by the file name the bindings ask for; `main` is the guest's own. */
  readonly cores: Readonly<Record<string, WebAssembly.Module>>;
  readonly main: string;
  /** calls.ts's core function for monotonic-clock `now`, compiled once here (compiledNowModule). */
  readonly nowCore: WebAssembly.Module;
  /**
   * The core modules that count fuel (with --max-fuel): the main one and any other of guest code
   * (not jco's adapter or shims: see otherCorePasses), each from the whole --max-fuel.
   */
  readonly fueled: readonly string[];
  /** Whether it is a wasi:http handler (exports wasi:http/incoming-handler and not wasi:cli/run): the serve loop runs it. */
  readonly httpHandler: boolean;
  /**
   * Imports the bindings call directly (direct-imports.ts), those left in jco's task wrapper, and
   * those of the direct ones that first try a hand-lowered fast path (lowered.ts).
   */
  readonly importCalls: { readonly direct: number; readonly wrapped: number; readonly lowered: number };
}

/** A guest program: a WASI preview1 core module or a WASI 0.2 command component. */
export type GuestProgram = WebAssembly.Module | ComponentProgram;

export function isComponentProgram(program: GuestProgram): program is ComponentProgram {
  return !(program instanceof WebAssembly.Module);
}

/** jco's output, before compiling: what the caches hold. */
interface Transpiled { js: string; cores: Record<string, Uint8Array>; interfaces: string[]; wanted: string[]; exports: string[]; direct: number; wrapped: number; lowered: number }

const bindingName = 'guest';
const cacheKind = 'component';
/** Transpiled components kept in memory (a cluster or a test loads one component many times). */
const maxCachedComponents = 16;
const memoryCache = new Map<string, Transpiled>();

/** Compiles a component into a program; refuses, naming it, anything RepliCode cannot serve. */
export async function compileComponent(bytes: Uint8Array, label: string, maxMemoryBytes: number | undefined, passes: readonly RewritePass[]): Promise<ComponentProgram> {
  const hash = createHash('sha256').update(bytes).digest('hex');
  const t = await transpiled(bytes, hash, label);
  checkServed(t, label);
  const main = `${bindingName}.core.wasm`;
  const cores: Record<string, WebAssembly.Module> = {};
  const count = Object.keys(t.cores).length - 1;
  const fueled = fuelLimitOf(passes) === undefined ? [] : [main];
  for (const [name, core] of Object.entries(t.cores)) {
    if (name === main) {
      cores[name] = await compileMain(core, hash, label, maxMemoryBytes, passes);
      continue;
    }
    const guest = isGuestCode(core);
    if (guest && fueled.length > 0) fueled.push(name);
    cores[name] = await compileCore(applyRewrites(core, otherCorePasses(passes, count, guest), `component ${hash} ${jcoTag} ${name}`), name, label);
  }
  const codeCache = new Script(bindingsScript(t.js), { filename: bindingsFile }).createCachedData();
  const exported = (iface: string) => t.exports.some((name) => name.startsWith(`wasi:${iface}@0.2.`));
  return { kind: 'component', js: t.js, codeCache, cores, main, nowCore: await compiledNowModule(), fueled, httpHandler: exported('http/incoming-handler') && !exported('cli/run'), importCalls: { direct: t.direct, wrapped: t.wrapped, lowered: t.lowered } };
}

/**
 * The bindings as one script: a function of the host-errors set returning `instantiate`. (Making
 * `instantiate` eager, so that the cache holds its code too, made the cache slower to load than
 * the lazy compile it saves: 10-20 ms against ~1.5.)
 */
export const bindingsScript = (js: string): string => `(function (${hostErrorsParam}) {\n${js}\n})`;

/**
 * The passes a component's `count` other core modules get (jco's shims, the preview1 adapter, or
 * more guest code: a component linked from several modules), in pipeline order. The stack limit,
 * each module counting its own frames: the main one up to --max-stack, the others a share each of
 * half of it, which the guest thread's stack (twice --max-stack and the host's margin:
 * guestThreadStackMb) holds with the main module's, so that V8's own limit, which is not
 * deterministic, is never reached first. Fuel, in a module of guest code (`guest`), from the
 * whole --max-fuel: each module counts its own, so a run is bounded by as many times the limit as
 * it has such modules, and stops, the same way every time, when one of them has used it all. Not
 * in jco's adapter and shims, whose work is the host's side of a call (and which old traces did
 * not count). NaN canonicalisation, since a NaN made in any of them reaches the guest as one made
 * in the main module would (a float-free module, as the adapter and the shims are, comes out the
 * same).
 */
function otherCorePasses(passes: readonly RewritePass[], count: number, guest: boolean): RewritePass[] {
  const out: RewritePass[] = [];
  const stack = stackLimitOf(passes);
  if (stack !== undefined && count > 0) out.push({ name: 'stack-limit', maxStackBytes: Math.max(1, Math.floor(stack / (2 * count))) });
  const fuel = fuelLimitOf(passes);
  if (fuel !== undefined && guest) out.push({ name: 'fuel', maxFuel: fuel });
  if (canonicalNansOf(passes)) out.push({ name: 'canonical-nans' });
  return out;
}

/**
 * Whether a component's core module (not its main one) is guest code rather than what
 * wit-component adds: the preview1 adapter imports its main module as `__main_module__`, the
 * shim exports only numbered functions and its table (`$imports`), the fixups nothing.
 */
function isGuestCode(core: Uint8Array): boolean {
  const { imports, exports } = readModuleInterface(core);
  if (imports.some((i) => i.module === '__main_module__')) return false;
  return !exports.every((e) => (e.kind === 'function' && /^\d+$/.test(e.name)) || (e.kind === 'table' && e.name === '$imports'));
}

/**
 * The guest's own core module, capped and rewritten (jco's shims are its own code): cached by the
 * component's hash, jco's version, the limit and the passes (~1.4 s of CPU of the 13.8 MB
 * componentize-js command's start, docs/performance.md).
 */
async function compileMain(core: Uint8Array, hash: string, label: string, maxMemoryBytes: number | undefined, passes: readonly RewritePass[]): Promise<WebAssembly.Module> {
  const main = `${bindingName}.core.wasm`;
  if (maxMemoryBytes === undefined && passes.length === 0) return compileCore(core, main, label);
  const key = rewriteCacheKey(`component ${hash} ${jcoTag} memory=${maxMemoryBytes ?? '-'}`, passes);
  const hit = findRewritten(key);
  // An entry that does not compile (written by something else under our name) is rebuilt over.
  if (hit) try { return await WebAssembly.compile(hit); } catch { /* rebuilt below */ }
  const capped = maxMemoryBytes === undefined ? core : capMemory(core, maxMemoryBytes, label);
  const rewritten = applyRewrites(capped, passes);
  const module = await compileCore(rewritten, main, label);
  keepRewritten(key, rewritten); // only what compiled
  return module;
}

async function compileCore(binary: Uint8Array, name: string, label: string): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(binary);
  } catch (err) {
    throw new ModuleFormatError(`${label}: its core module ${name} is not valid: ${(err as Error).message}`);
  }
}

async function transpiled(bytes: Uint8Array, hash: string, label: string): Promise<Transpiled> {
  const cached = memoryCache.get(hash) ?? fromDisk(hash);
  if (cached) return remember(hash, cached);
  const { transpile } = await import('@bytecodealliance/jco');
  let out: Awaited<ReturnType<typeof transpile>>;
  try {
    out = await transpile(bytes, { name: bindingName, instantiation: 'sync', noTypescript: true, base64Cutoff: 0 });
  } catch (err) {
    // jco's message ends with the cause, e.g. "unexpected end-of-file (at offset 0xa)": that line.
    const lines = String((err as Error)?.message ?? err).split('\n').map((l) => l.trim()).filter(Boolean);
    const cause = lines.find((l) => /offset 0x[0-9a-f]+/.test(l)) ?? lines[lines.length - 1];
    const offset = /\(at offset 0x([0-9a-f]+)\)/.exec(cause ?? '');
    const text = offset ? `${cause!.replace(offset[0], '').trim()} at byte ${parseInt(offset[1]!, 16)}` : cause;
    throw new ModuleFormatError(`${label} is not a valid WebAssembly component: ${text}`);
  }
  const files = out.files as unknown as Record<string, Uint8Array>;
  const source = new TextDecoder().decode(files[`${bindingName}.js`]);
  const cores: Record<string, Uint8Array> = {};
  for (const [name, data] of Object.entries(files)) if (name.endsWith('.wasm')) cores[name] = data;
  const faster = fasterBindings(withoutUnusedPromising(bindingBody(source)));
  const { js, lowered } = lowerHotImports(faster.js);
  const t: Transpiled = {
    js, direct: faster.direct, wrapped: faster.wrapped, lowered, cores,
    interfaces: out.imports.map(String),
    // `now$1`: jco renames a second import of the same name locally.
    wanted: [...source.matchAll(/\.fnName = '([^']+)'/g)].map((m) => m[1]!.replace(/\$\d+$/, '')),
    exports: out.exports.map(([name]) => String(name)),
  };
  writeCachedCopy(`${hash} ${jcoTag}`, encode(t), cacheKind);
  return remember(hash, t);
}

/**
 * The bindings as the body of a function returning `instantiate`; jco's debug log, which reads
 * process.env on every call, made a no-op.
 */
function bindingBody(source: string): string {
  return `${guardBindings(withoutCalls(source, '_debugLog(')).replace(/^export function instantiate\(/m, 'function instantiate(').replace(/^export const _util\b/m, 'const _util')
    .replace('if (!globalThis?.process?.env?.JCO_DEBUG) { return; }', 'return;')
    // A trap keeps V8's message, as a core module's does (jco rewrites it to wasmtime's wording).
    .replace('if (message !== undefined) { err.message = message; }', '')}\nreturn instantiate;`;
}

/**
 * The bindings without the JSPI wrapper of the adapter's realloc when nothing calls it: jco wraps
 * it with `WebAssembly.promising` for async-lowered imports, which sync instantiation has none
 * of, and where V8 lacks JSPI (Node 20 without a flag) the call throws a TypeError, whose message
 * V8 writes by parsing the calling function (jco's whole `_initGenerator`) again: ~0.7 ms of every
 * guest thread's start (docs/design.md, "Component CPU, fourth pass"). The variable is then what
 * the catch clause makes it without JSPI. Only where it is declared, assigned here and read nowhere.
 */
export function withoutUnusedPromising(js: string): string {
  const wrap = /\n  try \{\n    (realloc\d+Async) = WebAssembly\.promising\((exports\d+\.\w+)\);\n  \} catch\(err\) \{\n    \1 = \2;\n  \}\n/g;
  return js.replace(wrap, (text, name: string, fn: string) => (
    js.split(name).length === 4 && js.includes(`\n  let ${name};\n`) ? `\n  ${name} = ${fn};\n` : text
  ));
}

/**
 * `source` with every call `name...)` replaced by `void 0`: jco builds the arguments of its debug
 * log (object literals) on every import call even when the log is off, which showed in profiles.
 * Strings, template literals and nested parentheses inside the call are skipped over.
 */
export function withoutCalls(source: string, name: string): string {
  let out = '';
  let from = 0;
  for (let at = source.indexOf(name); at >= 0; at = source.indexOf(name, from)) {
    // A definition (`function _debugLog(` or `const _debugLog = (`) is kept.
    if (/(function\s+|\.)$/.test(source.slice(Math.max(0, at - 10), at))) {
      out += source.slice(from, at + name.length);
      from = at + name.length;
      continue;
    }
    const end = closingParen(source, at + name.length);
    if (end < 0) break;
    out += `${source.slice(from, at)}void 0`;
    from = end + 1;
  }
  return out + source.slice(from);
}

/** The index of the `)` that closes a call whose arguments start at `at`; -1 if none. */
function closingParen(source: string, at: number): number {
  let depth = 1;
  for (let i = at; i < source.length; i++) {
    const c = source[i];
    if (c === '"' || c === "'" || c === '`') {
      i = stringEnd(source, i);
      if (i < 0) return -1;
    } else if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') {
      depth--;
      if (depth === 0) return c === ')' ? i : -1;
    }
  }
  return -1;
}

function checkServed(t: Transpiled, label: string): void {
  if (!t.exports.some((name) => /^wasi:(cli\/run|http\/incoming-handler)@0\.2\.\d+$/.test(name))) {
    throw new GuestLinkError(`${label} is a component but not a WASI command: it does not export wasi:cli/run@0.2 (nor wasi:http/incoming-handler@0.2, for serve) (it exports ${t.exports.join(', ') || 'nothing'})`);
  }
  const shape = componentHost(shapeKernel, undefined as unknown as KernelCalls);
  const versioned = (iface: string) => t.wanted.map((w) => w.split('#')[0]!).find((w) => w.startsWith(`${iface}@`)) ?? iface;
  const unknown = t.interfaces.filter((iface) => !(iface in shape));
  const missing = [
    ...unknown.map(versioned),
    ...unservedImports(t.wanted, shape).filter((name) => !unknown.some((iface) => name.startsWith(`${iface}@`) || name.startsWith(`${iface}#`))).map(witName),
  ];
  if (missing.length > 0) throw new GuestLinkError(`${label} imports what RepliCode does not provide: ${[...new Set(missing)].join(', ')}`);
}

/** `wasi:random/random@0.3.0#getRandomU64` as `wasi:random/random@0.3.0 get-random-u64`. */
const witName = (name: string): string => {
  const [iface, fn = ''] = name.split('#');
  return `${iface} ${fn.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()}`;
};

/** A kernel with nothing open: enough to list what the host serves. */
const shapeKernel = { env: [], args: [], fds: { entries: () => [], has: () => false } } as unknown as Kernel;

/** Cache entries name the jco that wrote them (and the patches applied): another version transpiles again. */
const jcoTag = `jco-1.35 sync 7 ${guardTag} ${loweredTag}`;

function remember(hash: string, t: Transpiled): Transpiled {
  memoryCache.delete(hash);
  memoryCache.set(hash, t);
  if (memoryCache.size > maxCachedComponents) memoryCache.delete(memoryCache.keys().next().value!);
  return t;
}

function fromDisk(hash: string): Transpiled | undefined {
  const bytes = readCachedCopy(`${hash} ${jcoTag}`, cacheKind);
  if (!bytes) return undefined;
  try {
    const raw = JSON.parse(new TextDecoder().decode(bytes)) as Omit<Transpiled, 'cores'> & { cores: Record<string, string> };
    return { ...raw, cores: Object.fromEntries(Object.entries(raw.cores).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])) };
  } catch {
    return undefined; // a file the checksum accepted but this version cannot read: transpile again
  }
}

function encode(t: Transpiled): Uint8Array {
  const cores = Object.fromEntries(Object.entries(t.cores).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  return new TextEncoder().encode(JSON.stringify({ ...t, cores }));
}
