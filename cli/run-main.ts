// `replicode run ...` (bin/replicode.js comes here for it): a plain command line runs at once
// (quick-run.ts), anything else goes to the full CLI, yargs and all. The run command and the
// failure handling are imported statically: the full CLI needs them too, and one module graph
// loads faster than two in turn.
import { runCommand } from './commands/run.js';
import { catchStrays, handle } from './failure.js';
import { quickRunArgs } from './quick-run.js';

catchStrays();
const quick = process.argv[2] === 'run' ? quickRunArgs(process.argv.slice(3)) : undefined;
if (quick) await handle('run', runCommand)(quick);
else await import('./main.js');
