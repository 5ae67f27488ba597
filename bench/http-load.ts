// A keep-alive HTTP load generator for `npm run bench`, run as its own process so it does not
// share an event loop with the server under test: N connections, each sending GET requests
// back to back for a fixed time. Prints requests/s and latency percentiles as JSON.
import { connect, type Socket } from 'node:net';

const [port, connections, durationMs, path] = [Number(process.argv[2]), Number(process.argv[3] ?? 50), Number(process.argv[4] ?? 3000), process.argv[5] ?? '/counter'];
const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: bench\r\n\r\n`);
const latencies: number[] = [];
let stopping = false;

function worker(): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let buffer = Buffer.alloc(0);
    let sentAt = 0;
    const send = () => {
      if (stopping) { socket.end(); return; }
      sentAt = performance.now();
      socket.write(request);
    };
    socket.on('connect', send);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const headEnd = buffer.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const length = Number(/content-length: *(\d+)/i.exec(buffer.subarray(0, headEnd).toString())?.[1] ?? 0);
        if (buffer.length < headEnd + 4 + length) return;
        buffer = buffer.subarray(headEnd + 4 + length);
        latencies.push(performance.now() - sentAt);
        send();
      }
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

const started = performance.now();
setTimeout(() => { stopping = true; }, durationMs);
await Promise.all(Array.from({ length: connections }, worker));
const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
process.stdout.write(JSON.stringify({ requests: latencies.length, rps: latencies.length / seconds, p50: pct(0.5), p90: pct(0.9), p99: pct(0.99) }) + '\n');
