// `replicode serve`: a wasi:http/incoming-handler component as an HTTP/1.1 server, as
// `wasmtime serve` runs one. It is `run` (or, with -o, `record`) of the component with its
// --listen address delivered to the guest port the server loop listens on (runtime/p2/serve.ts).
import { closeSync, openSync, readSync } from 'node:fs';
import type { Argv } from 'yargs';
import { defaultCheckpointEvery, defaultMaxTraceBytes } from '../../recorder/index.js';
import { defaultHttpIdleTimeoutMs, httpGuestPort, httpServeRevision, moduleKind } from '../../runtime/index.js';
import { UsageError } from '../options.js';
import { recordCommand } from './record.js';
import { runCommand, withRunOptions, type ParsedRunArgs } from './run.js';

export function withServeOptions<T>(yargs: Argv<T>) {
  return withRunOptions(yargs)
    .positional('module', { type: 'string', describe: 'a WASI 0.2 component exporting wasi:http/incoming-handler' })
    .option('listen', { type: 'string', array: true, default: [] as string[], describe: `where HTTP clients connect, HOST:PORT (delivered to guest port ${httpGuestPort}, where the server loop listens)` })
    .option('output', { alias: 'o', type: 'string', describe: 'record the session into this trace (replay it with replicode replay)' })
    .option('idle-timeout', { type: 'string', default: String(defaultHttpIdleTimeoutMs / 1000), describe: 'close a connection that sends nothing for this many seconds (0: never)' });
}

export interface ParsedServeArgs extends ParsedRunArgs { output?: string; idleTimeout: string }

/** --idle-timeout SECONDS (decimals allowed, to the millisecond) as milliseconds; 0 turns it off. */
function idleTimeoutMs(text: string): number | undefined {
  const seconds = /^\s*\d+(\.\d{1,3})?\s*$/.test(text) ? Number(text) : NaN;
  if (!(seconds <= maxIdleTimeoutSeconds)) throw new UsageError(`--idle-timeout ${text}: expected seconds from 0 to ${maxIdleTimeoutSeconds}, e.g. 30 or 0.5`);
  return seconds === 0 ? undefined : Math.round(seconds * 1000);
}
const maxIdleTimeoutSeconds = 86_400;

/** `[HOST:]PORT` (or the run form HOST:PORT=VPORT): where clients connect, delivered to the server's guest port. */
export function serveListenSpec(spec: string): string {
  // The run form is accepted for the server loop's own port only: any other has no listener, so every client was refused.
  if (spec.includes('=')) {
    if (!spec.endsWith(`=${httpGuestPort}`)) throw new UsageError(`--listen ${spec}: serve's loop listens on guest port ${httpGuestPort}; give HOST:PORT, e.g. 127.0.0.1:8080`);
    return spec;
  }
  if (!/^(?:.*:)?\d+$/.test(spec)) throw new UsageError(`--listen ${spec}: expected HOST:PORT, e.g. 127.0.0.1:8080`);
  return `${spec}=${httpGuestPort}`;
}

/**
 * A preview1 module (binary or WAT) has no handler to serve: it was run as a command after the
 * "listening" line. (A component without the handler export is refused when it is instantiated.)
 */
function refuseCoreModule(file: string): void {
  const head = new Uint8Array(4096);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return; // run's own check names a missing or unreadable file
  }
  try {
    const kind = moduleKind(head.subarray(0, readSync(fd, head)));
    if (kind === 'core' || (kind === 'wat' && !new TextDecoder().decode(head).includes('(component'))) {
      throw new UsageError(`${file} is a WASI preview1 module: serve runs a WASI 0.2 component exporting wasi:http/incoming-handler (serve a preview1 server with replicode run --listen HOST:PORT=VPORT)`);
    }
  } finally {
    closeSync(fd);
  }
}

export async function serveCommand(argv: ParsedServeArgs): Promise<number> {
  if (!argv.module) throw new UsageError('name the component to serve: replicode serve --listen HOST:PORT COMPONENT.wasm');
  if (argv.listen.length === 0) throw new UsageError('serve needs --listen HOST:PORT (where HTTP clients connect)');
  refuseCoreModule(argv.module);
  const idle = idleTimeoutMs(argv.idleTimeout);
  const args = { ...argv, listen: argv.listen.map(serveListenSpec), httpServeRevision, ...(idle !== undefined ? { httpIdleTimeoutMs: idle } : {}) };
  if (argv.output === undefined) return runCommand(args);
  return recordCommand({
    ...args, output: argv.output, clock: 'virtual', random: 'seeded', checkpointEvery: String(defaultCheckpointEvery),
    recordOutput: false, embedModule: true, maxTraceBytes: String(defaultMaxTraceBytes), inject: [],
  });
}
