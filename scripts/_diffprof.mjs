import { diffTraces } from '../dist/replayer/index.js';
const t0 = Date.now(); let last = '';
const r = await diffTraces(process.argv.slice(2), { onProgress: (p) => { const k = p.replace(/[0-9]+/g, 'N'); if (k !== last) { console.log(String(Date.now() - t0).padStart(6), p); last = k; } } });
console.log(Date.now() - t0, 'done', r.event);
