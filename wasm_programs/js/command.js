// A WASI 0.2 command in JavaScript (componentize-js): clocks, random, a file under the /data
// preopen and stdout. Its output is the same for the same --seed and --epoch.
import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

function clocks() {
  console.log(`wall clock: ${new Date().toISOString()}`);
  const start = performance.now();
  let spins = 0;
  while (performance.now() === start && spins < 1000) spins++;
  console.log(`monotonic clock advances: ${performance.now() >= start}`);
}

function random() {
  console.log(`Math.random: ${Math.random()}`);
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  console.log(`crypto.getRandomValues: ${hex(bytes)}`);
}

function files() {
  const found = getDirectories().find(([, name]) => name === '/data');
  if (!found) throw new Error('no /data preopen (run with --dir HOST::/data)');
  const [dir] = found;
  const note = `note ${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')} at ${new Date().toISOString()}\n`;
  const file = dir.openAt({}, 'js-note.txt', { create: true, truncate: true }, { read: true, write: true });
  const out = file.writeViaStream(0n);
  out.blockingWriteAndFlush(encoder.encode(note));
  const [bytes, end] = file.read(4096n, 0n);
  console.log(`wrote and read /data/js-note.txt (${file.stat().size} bytes, end ${end}): ${decoder.decode(bytes).trim()}`);
  const names = [];
  const entries = dir.readDirectory();
  for (let entry = entries.readDirectoryEntry(); entry; entry = entries.readDirectoryEntry()) names.push(`${entry.name} (${entry.type})`);
  console.log(`/data holds: ${names.sort().join(', ')}`);
}

export const run = {
  run() {
    console.log('hello from JavaScript (componentize-js)');
    try {
      clocks();
      random();
      files();
    } catch (err) {
      console.error(`js_command: ${err.message}`);
      throw err; // run's err: exit status 1
    }
  },
};
