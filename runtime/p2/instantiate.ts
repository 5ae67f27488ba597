// Instantiating a transpiled component in the guest's thread, with the kernel's imports.
import { ProcessExit } from '../exit.js';
import type { Kernel, SyscallTracer } from '../kernel.js';
import { GuestLinkError, wasiModuleName } from '../link-check.js';
import { CallFailed, KernelCalls } from './calls.js';
import { Errno } from '../errno.js';
import { componentHost } from './host.js';
import type { HttpHost } from './http.js';
import { serveHttp, type IncomingHandler } from './serve.js';
import { bindingsFile, guestFault } from './guard.js';
import { Script } from 'node:vm';
import { bindingsScript, type ComponentProgram } from './transpile.js';

type Instantiate = (
  getCoreModule: (name: string) => WebAssembly.Module,
  imports: Record<string, Record<string, unknown>>,
  instantiateCore: (module: WebAssembly.Module, imports: WebAssembly.Imports) => WebAssembly.Instance,
) => { run?: { run(): void }; incomingHandler?: IncomingHandler };

/** A component ready to run: its entry point, and the guest's own memory (hashed into checkpoints). */
export interface StartedComponent {
  readonly start: () => void;
  readonly memory: WebAssembly.Memory;
  readonly calls: KernelCalls;
  /** The instances of the core modules that count fuel (ComponentProgram.fueled): where the fuel left is. */
  readonly fueled: readonly WebAssembly.Instance[];
}

/**
 * Instantiates the component over the kernel. Every kernel call goes through the kernel's
 * syscall boundary with `tracer`, so a record or a replay sees the preview1 calls it performs;
 * without one (a run), a one-chunk stream write takes the kernel's untraced write instead.
 */
export function startComponent(program: ComponentProgram, kernel: Kernel, tracer?: SyscallTracer): StartedComponent {
  const calls = new KernelCalls(kernel.imports(tracer)[wasiModuleName] as Record<string, (...args: (number | bigint)[]) => number>, kernel.staged, program.nowCore, tracer ? undefined : kernel.untracedWrite);
  // The kernel's preview1 calls read and write the scratch memory; state hashes read the guest's.
  kernel.attachMemory(calls.scratch);
  // What the host's functions threw (our errors, or the guest's exit), apart from lifting errors.
  const hostErrors = new WeakSet<object>();
  // From the code cache when V8 takes it (same V8, same flags: always, in the process that
  // compiled the program); parsed otherwise. ~2.5 -> ~0.8 ms CPU per guest thread.
  const script = new Script(bindingsScript(program.js), { filename: bindingsFile, cachedData: program.codeCache });
  const instantiate = (script.runInThisContext() as (errors: WeakSet<object>) => Instantiate)(hostErrors);
  let memory: WebAssembly.Memory | undefined;
  const fuelCounting = new Set(program.fueled.map((name) => program.cores[name]));
  const fueled: WebAssembly.Instance[] = [];
  const instantiateCore = (module: WebAssembly.Module, imports: WebAssembly.Imports): WebAssembly.Instance => {
    const instance = new WebAssembly.Instance(module, imports);
    if (fuelCounting.has(module)) fueled.push(instance);
    if (module === program.cores[program.main] && instance.exports.memory instanceof WebAssembly.Memory) {
      memory = instance.exports.memory;
      kernel.attachInstance(instance);
    }
    return instance;
  };
  const getCoreModule = (name: string): WebAssembly.Module => {
    const module = program.cores[name];
    if (!module) throw new GuestLinkError(`the component's bindings ask for a core module it does not have (${name})`);
    return module;
  };
  let exports: ReturnType<Instantiate>;
  const imports = componentHost(kernel, calls);
  try {
    exports = instantiate(getCoreModule, imports, instantiateCore);
  } catch (err) {
    if (err instanceof WebAssembly.LinkError || err instanceof TypeError) throw new GuestLinkError(`the component cannot be instantiated: ${(err as Error).message}`);
    throw err;
  }
  if (!memory) throw new GuestLinkError('the component\'s main core module does not export its memory');
  kernel.hashMemory(memory);
  const { run, incomingHandler } = exports;
  // `serve` (which sets the loop's revision) of a command: it would run it, after saying it listens.
  if (kernel.config.httpServeRevision !== undefined && !incomingHandler) throw new GuestLinkError('the component does not export wasi:http/incoming-handler@0.2: serve needs a handler (run a command with replicode run)');
  // An HTTP handler (transpile.ts let it through for its export): serve.ts is its main loop.
  if (!run) {
    if (!incomingHandler) throw new Error('a component without wasi:cli/run or wasi:http/incoming-handler passed the export check');
    const http = imports['wasi:http/types'] as unknown as HttpHost['types'];
    const { httpIdleTimeoutMs: idle, httpServeRevision: revision } = kernel.config;
    const options = { ...(idle === undefined ? {} : { idleTimeoutNs: BigInt(idle) * 1_000_000n }), ...(revision === undefined ? {} : { revision }) };
    return { start: () => serveHttp(incomingHandler, http, calls, options), memory, calls, fueled };
  }
  const start = (): void => {
    try {
      run.run();
    } catch (err) {
      // run returned err: the command failed, as a preview1 program exiting with 1.
      if ((err as { constructor?: { name?: string } })?.constructor?.name === 'ComponentError') throw new ProcessExit(1);
      // The machine stopped (Ctrl-C) while the component waited in a call with no error to give
      // (wasi:io/poll): it ends as a preview1 guest given ENETDOWN does, exit 1.
      if (err instanceof CallFailed && err.errno === Errno.NETDOWN && kernel.net.isStopping) throw new ProcessExit(1);
      // A bad pointer, length, handle or discriminant in a call: jco's lifting threw; a trap.
      throw guestFault(err, hostErrors) ?? err;
    }
  };
  return { start, memory, calls, fueled };
}
