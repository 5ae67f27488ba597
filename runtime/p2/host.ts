// The WASI 0.2 imports of a command component, served by one process's kernel: the object jco's
// generated `instantiate(getCoreModule, imports)` takes, keyed by interface without version.
// Never @bytecodealliance/preview2-shim: it reads the host's clock, entropy and disk.
import { ClockId, FileType } from '../abi.js';
import type { Kernel } from '../kernel.js';
import { CallFailed, Scratch, type KernelCalls } from './calls.js';
import type { ErrnoValue } from '../errno.js';
import { coreFunction, loweredByHand } from './lowered.js';
import { Descriptor, DirectoryEntryStream, filesystemErrorCode } from './filesystem.js';
import { httpHost } from './http.js';
import { InputStream, IoError, OutputStream, Pollable, pollList } from './streams.js';
import { socketInterfaces } from './sockets.js';

/** The WASI 0.2 versions served: every 0.2.x up to this patch level (they only add items). */
export const newestPatch = 12;

/** The most bytes one get-random-bytes call may ask for. */
export const maxRandomBytes = 64 * 1024 * 1024;

class TerminalInput {}
class TerminalOutput {}

/** Imports for one process: every resource it creates is numbered by jco's tables, in call order. */
export function componentHost(kernel: Kernel, calls: KernelCalls): Record<string, Record<string, unknown>> {
  const clockRead = (id: number): bigint => calls.clock(id);
  // The commonest call after a stream write, in one flat function; a u64 always, so its trampoline
  // returns it as it is (lowered.ts).
  const monotonicNow = Object.assign((): bigint => {
    const errno = calls.clockTimeGet(ClockId.MONOTONIC, 1n, Scratch.out);
    if (errno !== 0) throw new CallFailed(errno as ErrnoValue);
    return calls.view.getBigUint64(Scratch.out, true);
  }, { [loweredByHand]: true });
  // What the core modules import in its trampoline's place (lowered.ts), made when the bindings
  // ask (checkServed builds a host without calls to list what is served).
  Object.defineProperty(monotonicNow, coreFunction, { get: () => calls.monotonicNowCore() });
  const clockRes = (id: number): bigint => { calls.call('clock_res_get', id, Scratch.out); return calls.mem.u64(Scratch.out); };
  const datetime = (ns: bigint) => ({ seconds: ns / 1_000_000_000n, nanoseconds: Number(ns % 1_000_000_000n) });
  // From the kernel's random source (seeded, or the host's under --random os, recorded): random_get.
  const seededBytes = (len: bigint): Uint8Array => {
    if (len > BigInt(maxRandomBytes)) throw new WebAssembly.RuntimeError(`get-random-bytes of ${len} bytes (at most ${maxRandomBytes})`);
    const out = new Uint8Array(Number(len));
    for (let at = 0; at < out.length; at += Scratch.dataBytes) {
      const n = Math.min(Scratch.dataBytes, out.length - at);
      calls.call('random_get', Scratch.data, n);
      out.set(calls.mem.bytes(Scratch.data, n), at);
    }
    return out;
  };
  const randomU64 = (): bigint => { calls.call('random_get', Scratch.out, 8); return calls.mem.u64(Scratch.out); };
  const terminal = (fd: number, make: () => object) => (kernel.fds.has(fd) && kernel.fds.get(fd).filetype === FileType.CHARACTER_DEVICE ? make() : undefined);
  const preopens = kernel.fds.entries().filter(([, h]) => h.preopenName !== undefined).map(([fd, h]) => [new Descriptor(calls, fd, true), h.preopenName!] as const);
  const random = { getRandomBytes: seededBytes, getRandomU64: randomU64 };
  const http = httpHost(calls);
  return {
    'wasi:cli/environment': {
      getEnvironment: () => kernel.env.map((e) => { const eq = e.indexOf('='); return eq < 0 ? [e, ''] : [e.slice(0, eq), e.slice(eq + 1)]; }),
      getArguments: () => [...kernel.args],
      initialCwd: () => undefined,
    },
    'wasi:cli/exit': {
      exit: (status: { tag: string }) => calls.call('proc_exit', status.tag === 'ok' ? 0 : 1),
      exitWithCode: (code: number) => calls.call('proc_exit', code),
    },
    'wasi:cli/stdin': { getStdin: () => new InputStream(calls, { fd: 0, offset: null }) },
    'wasi:cli/stdout': { getStdout: () => new OutputStream(calls, { fd: 1, offset: null }) },
    'wasi:cli/stderr': { getStderr: () => new OutputStream(calls, { fd: 2, offset: null }) },
    'wasi:cli/terminal-input': { TerminalInput },
    'wasi:cli/terminal-output': { TerminalOutput },
    'wasi:cli/terminal-stdin': { getTerminalStdin: () => terminal(0, () => new TerminalInput()) },
    'wasi:cli/terminal-stdout': { getTerminalStdout: () => terminal(1, () => new TerminalOutput()) },
    'wasi:cli/terminal-stderr': { getTerminalStderr: () => terminal(2, () => new TerminalOutput()) },
    'wasi:clocks/monotonic-clock': {
      now: monotonicNow,
      resolution: () => clockRes(ClockId.MONOTONIC),
      subscribeInstant: (when: bigint) => new Pollable(calls, { kind: 'clock', ns: when, absolute: true }),
      subscribeDuration: (ns: bigint) => new Pollable(calls, { kind: 'clock', ns, absolute: false }),
    },
    'wasi:clocks/wall-clock': {
      now: () => datetime(clockRead(ClockId.REALTIME)),
      resolution: () => datetime(clockRes(ClockId.REALTIME)),
    },
    'wasi:random/random': random,
    'wasi:random/insecure': { getInsecureRandomBytes: seededBytes, getInsecureRandomU64: randomU64 },
    'wasi:random/insecure-seed': { insecureSeed: () => [randomU64(), randomU64()] },
    'wasi:io/error': { Error: IoError },
    'wasi:io/poll': { Pollable, poll: (list: Pollable[]) => pollList(calls, list) },
    'wasi:io/streams': { InputStream, OutputStream },
    'wasi:filesystem/types': { Descriptor, DirectoryEntryStream, filesystemErrorCode },
    'wasi:filesystem/preopens': { getDirectories: () => preopens.map(([d, name]) => [d, name]) },
    ...socketInterfaces(calls),
    'wasi:http/types': http.types,
    'wasi:http/outgoing-handler': http.outgoingHandler,
  };
}

/**
 * What a generated binding calls, as `interface@version#jsName`, that `host` does not serve (a
 * function, or a method of one of its resources), or whose version is not 0.2.0-0.2.{newestPatch}.
 */
export function unservedImports(wanted: readonly string[], host: Record<string, Record<string, unknown>>): string[] {
  return wanted.filter((name) => {
    const m = /^([^@#]+)(?:@([^#]+))?#(.+)$/.exec(name);
    if (!m) return true;
    const [, iface, version, fn] = m as unknown as [string, string, string | undefined, string];
    const served = host[iface];
    if (!served) return true;
    const v = /^0\.2\.(\d+)$/.exec(version ?? '');
    if (!v || Number(v[1]) > newestPatch) return true;
    if (typeof served[fn] === 'function' && !/^[A-Z]/.test(fn)) return false;
    // `new Fields` (a constructor) and `Fields.fromList` (a static function) of a served resource.
    const ctor = /^new (\w+)$/.exec(fn);
    if (ctor) return typeof served[ctor[1]!] !== 'function';
    const member = /^(\w+)\.(\w+)$/.exec(fn);
    if (member) return typeof (served[member[1]!] as Record<string, unknown> | undefined)?.[member[2]!] !== 'function';
    return !Object.values(served).some((c) => typeof c === 'function' && typeof (c as { prototype?: Record<string, unknown> }).prototype?.[fn] === 'function');
  });
}
