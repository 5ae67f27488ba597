// jco (1.35) wraps every lowered import in the component model's async task bookkeeping, even a
// sync-lowered import of a sync function in a sync-instantiated command: per call, a wrapper
// (`_lowerImportBackwardsCompat`) creates a subtask and the trampoline creates an AsyncTask, looks
// up the current task, enters, resolves and exits it. None of it is observable by such a call
// (no task switch, no waitable, no callback), and it was 90% of a syscall's cost (docs/design.md,
// "WASI 0.2 components: direct imports"). This pass calls those trampolines directly: the core
// module imports `_trampolineN` itself, whose body keeps the lifting, the lowering, the resource
// tables, the may-leave check (unless the flag provably never changes) and the trap marking, and
// loses only the task calls. Smaller rewrites of the same kind follow, each equivalent on the text
// it matches: list copies, the data view, borrows of host objects.
//
// It is a rewrite of generated text, so it is strict: a trampoline or wrapper that is not exactly
// the shape below is left as jco wrote it (correct, only slower), and `direct` says how many were
// rewritten, which tests pin for the test components (a jco upgrade that changes the shape fails
// there, not in a run).

/** What the pass did: the bindings, and the trampolines called directly and left wrapped. */
export interface DirectImports { readonly js: string; readonly direct: number; readonly wrapped: number }

const innerStart = /const (_trampoline\d+) = function\(([^)]*)\) \{/g;

/**
 * The bindings made cheaper per call: list copies, the data view, then direct imports. A part whose
 * shape is not the expected one is left as jco wrote it.
 */
export function fasterBindings(source: string): DirectImports {
  const copied = cheaperListCopies(source).js;
  return directImports(cheaperDataView(copied) ?? copied);
}

/** Calls every sync-lowered import of a sync function without jco's per-call task bookkeeping. */
export function directImports(source: string): DirectImports {
  let js = source;
  let direct = 0;
  let wrapped = 0;
  const alwaysSet = new Map<number, boolean>();
  const standInsOnly = handleSetOnlyOnStandIns(source);
  for (const m of [...source.matchAll(innerStart)]) {
    const name = m[1]!;
    const wrapper = syncWrapper(js, name);
    const at = js.indexOf(m[0]);
    const bodyEnd = wrapper ? closingBrace(js, at + m[0].length) : -1;
    const body = bodyEnd < 0 ? undefined : withoutTask(js.slice(at + m[0].length, bodyEnd));
    if (!wrapper || body === undefined) {
      wrapped++;
      continue;
    }
    // The wrapper checked may-leave before anything else: so does the trampoline now, unless the
    // bindings can never clear the flag.
    const idx = wrapper.componentIdx;
    if (!alwaysSet.has(idx)) alwaysSet.set(idx, mayLeaveAlwaysSet(source, idx));
    const check = alwaysSet.get(idx) ? '' : `_checkMayLeave(${idx});`;
    const lean = standInsOnly ? untrackedHostBorrows(body) : body;
    js = `${js.slice(0, at)}${m[0]}\n    ${check}${lean}${js.slice(bodyEnd)}`;
    const w = syncWrapper(js, name)!;
    js = `${js.slice(0, w.start)}let ${name.slice(1)} = ${name};${js.slice(w.end)}`;
    direct++;
  }
  return { js, direct, wrapped };
}

/**
 * Whether component `idx`'s may-leave flag is 1 for the whole run, so that checking it per call
 * (a Map lookup and a WebAssembly.Global read, 20 ns) cannot fail. jco creates the flag at 1 and
 * passes it to no core module; the only writer is the `mayLeave` setter of the async state, which
 * sync bindings never call. Each of those facts is checked on the text (exact counts of the only
 * places that may touch the flag); any other shape keeps the check.
 */
function mayLeaveAlwaysSet(js: string, idx: number): boolean {
  const count = (text: string) => js.split(text).length - 1;
  return count(`const instanceFlags${idx} = new WebAssembly.Global({ value: "i32", mutable: true }, 1);`) === 1
    && count(`instanceFlags${idx}`) === 2 && count(`INSTANCE_FLAGS.set(${idx}, instanceFlags${idx});`) === 1
    && count('INSTANCE_FLAGS.get(') === 3 && count('flags.value = ') === 1 && !/\.mayLeave\s*=[^=]/.test(js);
}

/**
 * `let trampolineN = _trampolineN.manuallyAsync ? (JSPI) : _lowerImportBackwardsCompat.bind(null, {...});`
 * when its call is sync-lowered and its function type sync; the statement's extent and component.
 */
function syncWrapper(js: string, inner: string): { start: number; end: number; componentIdx: number } | undefined {
  const head = `let ${inner.slice(1)} = ${inner}.manuallyAsync ? `;
  const start = js.indexOf(head);
  if (start < 0 || js.indexOf(head, start + 1) >= 0) return undefined;
  const sync = ' : _lowerImportBackwardsCompat.bind(';
  const jspiEnd = closingParen(js, js.indexOf('(', start + head.length) + 1);
  if (jspiEnd < 0 || !js.startsWith(sync, jspiEnd + 1)) return undefined;
  const argsAt = jspiEnd + 1 + sync.length;
  const end = closingParen(js, argsAt);
  if (end < 0 || js[end + 1] !== ';') return undefined;
  const config = js.slice(argsAt, end);
  const flag = (key: string) => new RegExp(`\\n    ${key}: (\\w+),`).exec(config)?.[1];
  if (flag('isAsync') !== 'false' || flag('funcTypeIsAsync') !== 'false' || !config.includes(`importFn: ${inner},`)) return undefined;
  const componentIdx = Number(flag('componentIdx'));
  if (!Number.isInteger(componentIdx)) return undefined;
  return { start, end: end + 2, componentIdx };
}

/**
 * A list<u8> argument is copied out of guest memory with `new Uint8Array(mem.buffer.slice(a, b))`;
 * ArrayBuffer.prototype.slice costs ~0.6 us in V8 (a fresh backing store through the embedder),
 * TypedArray.prototype.slice ~0.07 us. Both clamp [a, b) to the buffer the same way and return a
 * new array over a buffer of its own, so `new Uint8Array(mem.buffer).slice(a, b)` is the same
 * value. Returns the bindings and how many copies were rewritten.
 */
export function cheaperListCopies(source: string): { js: string; copies: number } {
  const head = /new Uint8Array\((\w+)\.buffer\.slice\(/g;
  let js = '';
  let from = 0;
  let copies = 0;
  for (const m of source.matchAll(head)) {
    const argsAt = m.index + m[0].length;
    const end = closingParen(source, argsAt);
    if (m.index < from || end < 0 || source[end + 1] !== ')') continue;
    js += `${source.slice(from, m.index)}new Uint8Array(${m[1]}.buffer).slice(${source.slice(argsAt, end)})`;
    from = end + 2;
    copies++;
  }
  return { js: js + source.slice(from), copies };
}

/** jco's release of the borrows a call made, run after every call that borrows a resource. */
const borrowRelease = `    for (const entry of curResourceBorrows) {
      const rsc = entry.rsc ?? entry;
      if (entry.drop) {
        if (rsc[symbolRscHandle]) {
          entry.drop(rsc[symbolRscHandle]);
        }
      }
      rsc[symbolRscHandle] = undefined;
    }
    curResourceBorrows = [];`;

/**
 * A borrow of a resource the host made (found in its capture table) is listed in
 * `curResourceBorrows` only so that the release above sets its handle symbol to undefined; but a
 * host object never has that symbol set (the bindings set it only on the stand-ins they create
 * for resources the host does not know, checked on the text by `handleSetOnlyOnStandIns`), and
 * the symbol is private to the bindings, so the listing does nothing. Listing only the stand-ins,
 * and releasing only when something is listed, saved ~50 ns of a stream write (an array, its
 * growth and the loop per call).
 */
export function untrackedHostBorrows(body: string): string {
  let out = body;
  for (const m of body.matchAll(/curResourceBorrows\.push\((rsc\d+)\);/g)) {
    const rsc = m[1]!;
    const standIn = new RegExp(`(    var ${rsc} = captureTable\\d+\\.get\\(rep\\d+\\);\\n    if \\(!${rsc}\\) \\{\\n(?:      [^\\n]*\\n){3})(    \\}\\n\\s*)curResourceBorrows\\.push\\(${rsc}\\);`);
    out = out.replace(standIn, `$1      curResourceBorrows.push(${rsc});\n$2`);
  }
  return out.split(borrowRelease).join(`    if (curResourceBorrows.length !== 0) {\n${borrowRelease}\n    }`);
}

/** Whether the bindings set the (private) handle symbol only on the stand-ins they create for borrows. */
export function handleSetOnlyOnStandIns(js: string): boolean {
  const count = (re: RegExp) => js.match(re)?.length ?? 0;
  const writes = count(/\[symbolRscHandle\]\s*=(?!=)/g);
  const defines = count(/symbolRscHandle\s*,\s*\{/g);
  return js.split("const symbolRscHandle = Symbol('handle');").length === 2
    && writes === js.split(borrowRelease).length - 1
    && defines === count(/(rsc\d+) = Object\.create\([\w$]+\.prototype\);\n\s*Object\.defineProperty\(\1, symbolRscHandle, \{ writable: true, value: handle\d+\}\);/g)
      + count(unreachableStandIn);
}

/**
 * guard.ts makes a borrow of an unknown handle trap where jco made a stand-in: the stand-in's
 * handle symbol is then set only after the throw, never (without this, the guard had turned the
 * borrow rewrite above off: syscall_heavy in-thread 70 -> ~104 ms CPU).
 */
const unreachableStandIn = /throw new WebAssembly\.RuntimeError\('unknown [\w$]+ handle \(never created, or dropped\)'\);\n\s*Object\.defineProperty\((rsc\d+), symbolRscHandle, \{ writable: true, value: handle\d+\}\);/g;

/**
 * jco's `dataView(mem)` reads `mem.buffer` (a C++ accessor, ~15 ns) on every call to see whether
 * memory grew. A grown memory detaches its old buffer (byte length 0), so the cached view is
 * current while it is over the same memory and not detached. (Component memories are not shared.)
 */
export function cheaperDataView(source: string): string | undefined {
  const jco = 'const dataView = mem => dv.buffer === mem.buffer ? dv : dv = new DataView(mem.buffer);';
  if (source.split(jco).length !== 2) return undefined;
  return source.replace(jco, 'let dvMemory = null;\n  const dataView = mem => dvMemory === mem && dv.buffer.byteLength !== 0 ? dv : (dvMemory = mem, dv = new DataView(mem.buffer));');
}

/** The host call jco wraps: `_withGlobalCurrentTaskMeta({... fn: () => _trackHostOperation(() => CALL), })`. */
const hostCall = /_withGlobalCurrentTaskMeta\(\{\n\s*componentIdx: task\.componentIdx\(\),\n\s*taskID: task\.id\(\),\n\s*fn: \(\) => _trackHostOperation\(\(\) => ([^\n]+)\),\n\s*\}\)/g;
/** From `const hostProvided = true;` to `const started = task.enterSync();`: the task's creation. */
const taskCreation = /const hostProvided = true;\n[\s\S]*?\n\s*taskCreation: \{\n[\s\S]*?\n\s*const started = task\.enterSync\(\);/g;
const taskFailed = /\n\s*task\.setErrored\(err\);\n\s*task\.reject\(err\);\n\s*task\.exit\(\);/g;
const taskDone = /\n\s*task\.resolve\(\[[^\]\n]*\]\);\n\s*task\.exit\(\);/g;

/** A trampoline's body without its task: undefined unless exactly the expected task calls were there. */
export function withoutTask(body: string): string | undefined {
  const count = (re: RegExp) => body.match(re)?.length ?? 0;
  if (count(taskCreation) !== 1 || count(hostCall) !== 1 || count(taskDone) !== 1 || count(taskFailed) > 1) return undefined;
  const out = body.replace(taskCreation, '').replace(hostCall, '$1').replace(taskFailed, '').replace(taskDone, '');
  // Anything else that reads the task (or a subtask) means this is not the shape assumed above.
  return /\b(task|subtask|parentTask|started|createTask)\b/.test(out) ? undefined : out;
}

const closingParen = (js: string, at: number): number => closing(js, at, ')');
const closingBrace = (js: string, at: number): number => closing(js, at, '}');

/**
 * The index of the bracket closing one opened just before `at` if it is `close`, else -1. Strings,
 * template literals and comments are skipped (generated code has no regular expression literals
 * in the parts read here: a `/` that starts neither comment is division).
 */
function closing(js: string, at: number, close: ')' | '}'): number {
  let depth = 1;
  for (let i = at; i < js.length; i++) {
    const c = js[i];
    if (c === '"' || c === "'" || c === '`') {
      i = stringEnd(js, i);
      if (i < 0) return -1;
    } else if (c === '/' && js[i + 1] === '/') {
      i = js.indexOf('\n', i);
      if (i < 0) return -1;
    } else if (c === '/' && js[i + 1] === '*') {
      i = js.indexOf('*/', i + 2) + 1;
      if (i <= 0) return -1;
    } else if (c === '(' || c === '{' || c === '[') depth++;
    else if ((c === ')' || c === '}' || c === ']') && --depth === 0) return c === close ? i : -1;
  }
  return -1;
}

/** The index of the quote that ends the string or template literal opening at `at` (template substitutions skipped). */
export function stringEnd(source: string, at: number): number {
  const quote = source[at];
  for (let i = at + 1; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (c === quote) return i;
    else if (quote === '`' && c === '$' && source[i + 1] === '{') {
      const end = substitutionEnd(source, i + 2);
      if (end < 0) return -1;
      i = end;
    }
  }
  return -1;
}

function substitutionEnd(source: string, at: number): number {
  let depth = 1;
  for (let i = at; i < source.length; i++) {
    const c = source[i];
    if (c === '"' || c === "'" || c === '`') { i = stringEnd(source, i); if (i < 0) return -1; }
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}
