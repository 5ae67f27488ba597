// Host memory with a client that never reads, for `npm run bench` (issue 11, items 4 and 6): a
// client that sends as fast as its socket lets it and reads nothing (echo_server under `run` and
// under a 3-replica `cluster` on the embedded log), and one that sends nothing to a guest writing
// 1 MiB blocks (flood_server). The RSS of the RepliCode process is sampled every 100 ms; the
// bound is 150 MB of growth over the RSS before the client connected.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

/** The bound on host growth with a non-reading client. */
export const maxNonReaderGrowthMB = 150;

export interface NonReaderResult {
  name: string; seconds: number; baseMB: number; peakMB: number; growthMB: number;
  /** What the client got out before it was held back (its own socket's buffers included). */
  clientSentMB: number; boundMB: number; meetsBound: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const rssMB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function measure(root: string, name: string, args: string[], send: boolean, seconds: number): Promise<NonReaderResult> {
  const child = spawn(process.execPath, [join(root, 'bin', 'replicode.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  let port = 0;
  for (let i = 0; i < 200 && !port; i++) {
    port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1] ?? 0);
    await sleep(50);
  }
  if (!port) throw new Error(`${name}: the server did not start: ${stderr}`);
  await sleep(500);
  const base = rssMB(child.pid!);
  const socket = connect(port, '127.0.0.1');
  socket.pause();
  socket.on('error', () => {});
  let sent = 0;
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const pump = () => { while (!socket.destroyed && socket.write(chunk)) sent += chunk.length; };
  if (send) { socket.on('connect', pump); socket.on('drain', () => { sent += chunk.length; pump(); }); }
  let peak = base;
  for (let t = 0; t < seconds * 1000; t += 100) {
    await sleep(100);
    peak = Math.max(peak, rssMB(child.pid!));
  }
  socket.destroy();
  child.kill('SIGINT');
  await new Promise((resolve) => child.once('exit', resolve));
  const growth = peak - base;
  const result = {
    name, seconds, baseMB: Math.round(base), peakMB: Math.round(peak), growthMB: Math.round(growth), clientSentMB: Math.round(sent / 2 ** 20),
    boundMB: maxNonReaderGrowthMB, meetsBound: growth < maxNonReaderGrowthMB,
  };
  console.log(`${name.padEnd(46)} RSS ${result.baseMB} -> ${result.peakMB} MB (+${result.growthMB} MB, bound ${maxNonReaderGrowthMB}) in ${seconds} s; client got ${result.clientSentMB} MB out`);
  return result;
}

export async function benchNonReader(root: string, seconds = Number(process.env.BENCH_NONREADER_SECONDS ?? 10)): Promise<NonReaderResult[]> {
  const guest = (name: string) => join(root, 'wasm_programs', 'build', `${name}.wasm`);
  return [
    await measure(root, 'non-reading sender, echo_server (run)', ['run', '--listen', '127.0.0.1:0=7', guest('echo_server')], true, seconds),
    await measure(root, 'silent non-reader, flood_server 1 MiB blocks', ['run', '--listen', '127.0.0.1:0=9', guest('flood_server'), '--', '9', String(1 << 20)], false, seconds),
    await measure(root, 'non-reading sender, echo_server (cluster of 3)', ['cluster', '--replicas', '3', '--listen', '127.0.0.1:0=7', guest('echo_server')], true, seconds),
  ];
}
