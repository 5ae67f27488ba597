// Hand-lowered hot imports. jco lifts a stream write's list<u8> into a fresh array, wraps the
// host's answer in a result object, lists the borrowed stream for release and releases it, then
// lowers the result: per one-byte write, more JS than the kernel call it makes (docs/design.md,
// "Why not 1.2x on syscall_heavy"). For the calls below, the trampoline first asks the host
// object itself, by a method that reads the canonical ABI's arguments (a pointer and a length
// into guest memory) straight into the kernel call and answers with a result object made once.
// The fast path is taken only when the borrowed handle names a live object of our own class (by
// identity) that declares `loweredByHand`; anything else (a bad handle, a list outside memory,
// which the method reports by answering undefined) runs jco's own lifting as before, which traps.
// The host's throws are caught by jco's own catch clause, and the result is lowered into guest
// memory by jco's own code, except in the commonest case: a stream write's `ok`, which is one byte
// 0 at the result pointer, is stored by the method itself when that byte is in memory (it then
// answers `true` and the trampoline returns; an out-of-range pointer is left to jco's lowering,
// which traps). Only the lifting, the borrow list and that one store move, and none of it is
// observable (the borrow list holds host objects only: guard.ts refuses stand-ins).
//
// Like direct-imports.ts, this is a rewrite of generated text and strict about it: a trampoline
// not exactly of the shape below is left as it was, and `lowered` counts those rewritten (pinned
// by tests/component-bindings.test.ts).

/** What a resource class of ours declares (a static `loweredByHand = true`) when it has the methods `hot` names. */
export const loweredByHand = 'loweredByHand';

/**
 * The hand-lowered methods: the method jco's trampoline calls (by its JS name), the one called
 * instead, and its arguments. `list` methods take (memory, ptr >>> 0, len >>> 0, retptr) of their
 * one list<u8> argument and the result pointer, answer undefined when [ptr, ptr + len) is not in
 * memory, and `true` when they have stored a result<_, E>'s ok (one byte 0) at retptr themselves.
 */
type Method = { readonly cls: string; readonly via: string; readonly args: 'list' | 'none' };
const hot: Readonly<Record<string, Method | 'u64'>> = {
  'wasi:io/streams#blockingWriteAndFlush': { cls: 'OutputStream', via: 'writeLowered', args: 'list' },
  'wasi:io/streams#write': { cls: 'OutputStream', via: 'writeLowered', args: 'list' },
  'wasi:io/streams#checkWrite': { cls: 'OutputStream', via: 'checkWriteResult', args: 'none' },
  // A function returning a u64: when ours declares `loweredByHand`, it always answers a bigint in
  // [0, 2^64), which toUint64 would give back unchanged (as a new BigInt).
  'wasi:clocks/monotonic-clock#now': 'u64',
};

/**
 * What a `u64` host function of ours may also declare: a getter of a core function of the same
 * type (`() -> i64`) that does the same, which the core modules then import in place of the
 * trampoline (`coreImports`).
 */
export const coreFunction = 'coreFunction';

/** Names this lowering in the transpile cache's key: bump it with any change to the text written here. */
export const loweredTag = 'lowered 6';

const trampolineAt = /  const (_trampoline\d+) = function\(([^)]*)\) \{\n/g;

/** The bindings with the `hot` calls lowered by hand where the trampoline has jco 1.35's shape. */
export function lowerHotImports(source: string): { js: string; lowered: number } {
  let js = '';
  let from = 0;
  let lowered = 0;
  const u64s: { name: string; fn: string }[] = [];
  const cached = new Set<string>();
  for (const m of source.matchAll(trampolineAt)) {
    const name = m[1]!;
    const end = source.indexOf(`\n  }\n  ${name}.fnName = '`, m.index);
    if (end < 0) continue;
    const fnName = /^'([^@#']+)@0\.2\.\d+#(\w+)'/.exec(source.slice(end + `\n  }\n  ${name}.fnName = `.length));
    const spec = fnName && hot[`${fnName[1]}#${fnName[2]}`];
    const jco = source.slice(m.index + m[0].length, end);
    const hand = !spec || spec === 'u64' ? undefined : loweredBody(jco, m[2]!.split(', '), spec, (table) => cacheable(source, table));
    const body = !spec ? undefined : spec === 'u64' ? u64Body(jco) : hand?.body;
    if (body === undefined) continue;
    if (hand?.cached) cached.add(hand.cached);
    js += `${source.slice(from, m.index + m[0].length)}${body}`;
    from = end;
    lowered++;
    if (spec === 'u64') u64s.push({ name, fn: u64Call.exec(jco)![1]! });
  }
  const withCores = u64s.reduce((text, { name, fn }) => coreImports(text, name, fn), js + source.slice(from));
  return { js: [...cached].reduce(cachingTable, withCores), lowered };
}

/**
 * A capture table (a resource's rep -> host object `Map`) whose last lookup the hand-lowered
 * trampolines may keep (`captureTableN$rep`, `captureTableN$rsc`): a stream write looked its stream
 * up in the Map on every call (~5 ns of ~140 per syscall_heavy iteration). Reps are never reused
 * (jco numbers them from a counter), so the kept pair is the Map's own answer as long as the Map
 * has not changed since, and every change resets it: only where the bindings touch the table
 * through nothing but its declaration, `get`, `set` and `delete` (checked on the text), so that
 * no other code can change it unseen.
 */
function cacheable(source: string, table: string): boolean {
  const uses = [...source.matchAll(new RegExp(`\\b${table}\\b`, 'g'))];
  const declaration = `const ${table}= new Map();`;
  return source.split(`\n  ${declaration}\n`).length === 2
    && uses.every((u) => source.startsWith(declaration, u.index - 'const '.length) || /^\.(get|set|delete)\(/.test(source.slice(u.index + table.length)));
}

/** The bindings with `table`'s kept lookup declared, and reset by every set and delete of it (see cacheable). */
function cachingTable(js: string, table: string): string {
  const declaration = `\n  const ${table}= new Map();\n`;
  return js.replace(declaration, `${declaration}  let ${table}$rep = -1, ${table}$rsc;\n`)
    .split(`${table}.set(`).join(`(${table}$rep = -1, ${table}).set(`)
    .split(`${table}.delete(`).join(`(${table}$rep = -1, ${table}).delete(`);
}

/**
 * The core modules' imports of a u64 trampoline (`Object.assign(trampolineN, ...)` in their import
 * objects) given our function's core function instead, when it has one. Only for a trampoline
 * that direct-imports.ts made direct (`let trampolineN = _trampolineN;`: no task around it), so
 * all the trampoline did besides calling ours was its catch clause, whose markTrapped acts on a
 * WebAssembly.RuntimeError only, which our clock never throws: the core function's throws (our
 * CallFailed, or whatever the kernel's boundary throws) reach the caller as the trampoline's did.
 */
function coreImports(js: string, name: string, fn: string): string {
  const alias = name.slice(1);
  if (js.split(`\n  let ${alias} = ${name};`).length !== 2) return js;
  const entry = `Object.assign(${alias}, { _jcoMaySuspend: false })`;
  return js.split(entry).join(`Object.assign(${fn}.${loweredByHand} === true && ${fn}.${coreFunction} !== undefined ? ${fn}.${coreFunction} : ${alias}, { _jcoMaySuspend: false })`);
}

/** A borrowed `self` handle looked up in its tables, as jco writes it (after guard.ts's patch). */
const borrowedSelf = /^ *\n    var (handle\d+) = arg0;\n *\n    var (rep\d+) = (handleTable\d+)\[\(\1 << 1\) \+ 1\] & ~T_FLAG;\n    var (rsc\d+) = (captureTable\d+)\.get\(\2\);\n    if \(!\4\) \{\n      throw new WebAssembly\.RuntimeError\('unknown (\w+) handle \(never created, or dropped\)'\);\n/;
const listArg = /\n    var (ptr\d+) = arg1;\n    var (len\d+) = arg2;\n    if \(\1 % 1 !== 0\) throw new TypeError\(`list pointer \[\$\{\1\}\] is not aligned to 1`\);\n    var (result\d+) = new Uint8Array\((memory\d+)\.buffer, \1 >>> 0, \2 >>> 0\)\.slice\(\);\n/;
const hostCall = /\n    let ret;\n *\n    try \{\n      const (hostRet\d+) = (rsc\d+)\.(\w+)\(([\w, ]*)\)\n      ;\n      ret = \1 !== null && typeof \1 === 'object' && \(\1\.tag === 'ok' \|\| \1\.tag === 'err'\)\n      \? \1\n      : \{ tag: 'ok', val: \1\};\n    \}( catch \(e\) \{\n      if \(getOrCreateAsyncState\(\d+\)\.markTrapped\(e\)\) \{ throw e; \}\n      ret = \{ tag: 'err', val: getErrorPayload\(e\) \};\n    \})\n/;
const lowering = /\n    var (variant\d+) = ret;\n/;

/**
 * The trampoline's body with the fast path in front of jco's lifting and host call, which now run
 * only when the fast path does not answer; undefined if the body is not of the expected shape.
 */
function loweredBody(body: string, params: readonly string[], spec: Method, canKeep: (table: string) => boolean): { body: string; cached?: string } | undefined {
  const self = borrowedSelf.exec(body);
  const call = hostCall.exec(body);
  const lower = lowering.exec(body);
  if (!self || !call || !lower || self[6] !== spec.cls || call[2] !== self[4] || call.index > lower.index) return undefined;
  const list = listArg.exec(body);
  let args: string;
  if (spec.args === 'list') {
    if (!list || params.length !== 4 || call[4] !== list[3] || list.index > call.index) return undefined;
    if (!storesOkOnly(body.slice(lower.index), list[4]!)) return undefined;
    args = `${list[4]}, arg1 >>> 0, arg2 >>> 0, arg3`;
  } else {
    if (list || params.length !== 2 || call[4] !== '') return undefined;
    args = '';
  }
  const lifting = body.slice(0, lower.index).replace('\n    let ret;\n', '\n');
  const lowerRet = body.slice(lower.index);
  const [, handle, rep, handles, rsc, captures, cls] = self;
  // jco's lifting moves into a block and may not run: nothing it declares with let or const, nor
  // what it lifts, may be read by the lowering after it.
  const lifted = [handle!, rep!, rsc!, ...(list ? [list[1]!, list[2]!, list[3]!] : [])];
  if (/^ {4}(let|const) /m.test(lifting) || lifted.some((v) => new RegExp(`\\b${v}\\b`).test(lowerRet))) return undefined;
  const keep = canKeep(captures!);
  const lookup = keep
    ? `var repLowered = ${handles}[(arg0 << 1) + 1] & ~T_FLAG;\n    var rscLowered = repLowered === ${captures}$rep ? ${captures}$rsc : (${captures}$rsc = ${captures}.get(${captures}$rep = repLowered));`
    : `var rscLowered = ${captures}.get(${handles}[(arg0 << 1) + 1] & ~T_FLAG);`;
  const text = `    let ret;
    ${lookup}
    if (rscLowered !== undefined && rscLowered.constructor === ${cls} && ${cls}.${loweredByHand} === true) {
      try {
        ret = rscLowered.${spec.via}(${args});
      }${call[5]}${spec.args === 'list' ? '\n      if (ret === true) return;' : ''}
    }
    if (ret === undefined) {
${lifting}
    }${lowerRet}`;
  return keep ? { body: text, cached: captures! } : { body: text };
}

/**
 * Whether jco's lowering (from `var variantN = ret;` to the end of the trampoline) is one switch
 * on a result whose `ok` case stores only the byte 0 at arg3 in `memory`, and nothing follows the
 * switch: then a method that stored that byte itself may return from the trampoline at once.
 */
function storesOkOnly(lowerRet: string, memory: string): boolean {
  const ok = new RegExp(`^\\n    var (variant\\d+) = ret;\\n    switch \\(\\1\\.tag\\) \\{\\n      case 'ok': \\{\\n        const e = \\1\\.val;\\n        dataView\\(${memory}\\)\\.setInt8\\(arg3 \\+ 0, 0, true\\);\\n *\\n        break;\\n      \\}\\n      case 'err': \\{\\n`);
  // The statements at the trampoline's own level: the variable, the switch, its end, and jco's
  // debug log (void 0 once transpile.ts has removed it).
  const top = lowerRet.split('\n').filter((line) => /^ {4}\S/.test(line));
  return ok.test(lowerRet) && top.length === 4 && top[2] === '    }' && top[3] === '    void 0;';
}

/** A function's call and its u64 result, as jco writes them for a function without parameters. */
const u64Call = /\n    try \{\n      ret = (\w+(?:\$\d+)?)\(\)\n      ;\n    \} catch \(err\) \{\n/;
const u64Return = '\n    return toUint64(ret);';

/** The body returning our function's u64 as it is; undefined if not of the expected shape. */
function u64Body(body: string): string | undefined {
  const call = u64Call.exec(body);
  if (!call || body.split(u64Return).length !== 2 || !body.endsWith(u64Return)) return undefined;
  return body.replace(u64Return, `\n    return ${call[1]}.${loweredByHand} === true ? ret : toUint64(ret);`);
}
