import { replayTrace } from '../dist/replayer/index.js';
const path = process.argv[2]; const every = Number(process.argv[3] ?? 1000);
const snaps = []; const pages = new Map(); let out1 = []; let out2 = [];
let t = Date.now();
const r = await replayTrace({ tracePath: path, quiet: false, snapshots: { every }, onSnapshot: (s) => { for (const p of s.newPages) pages.set(p.hash, p.bytes); snaps.push(s); },
  onOutput: (st, b) => { (st === 1 ? out1 : out2).push(Buffer.from(b)); } });
console.log('full', r.outcome.kind, r.outcome.exitCode, 'snapshots', snaps.length, 'pages', pages.size, Date.now() - t, 'ms', r.stats);
const so = Buffer.concat(out1), se = Buffer.concat(out2);
for (const s of [snaps[0], snaps[Math.floor(snaps.length / 2)], snaps[snaps.length - 1]].filter(Boolean)) {
  const memory = Buffer.concat(s.pages.map((h) => pages.get(h)));
  t = Date.now();
  const o = [];
  const rr = await replayTrace({ tracePath: path, quiet: false, snapshots: { resume: { state: s, memory, stdout: so.subarray(0, s.stdoutBytes), stderr: se.subarray(0, s.stderrBytes) } }, onOutput: (st, b) => { if (st === 1) o.push(Buffer.from(b)); } });
  const tail = Buffer.concat(o);
  console.log('resume at', s.event, rr.outcome.kind, rr.outcome.exitCode, JSON.stringify(rr.outcome.divergence?.reason ?? rr.outcome.reason ?? ''), rr.stats, Date.now() - t, 'ms', 'output tail ok:', tail.equals(so.subarray(s.stdoutBytes)), 'stack bytes', s.stack.length, 'kernel bytes', s.kernel.length);
}
