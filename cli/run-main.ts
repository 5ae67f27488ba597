// `replicode run ...` (bin/replicode.js comes here for it): a plain command line runs at once
// (quick-run.ts), anything else goes to the full CLI, yargs and all.
import { quickRunArgs } from './quick-run.js';

const quick = process.argv[2] === 'run' ? quickRunArgs(process.argv.slice(3)) : undefined;
if (quick) {
  const [{ handle }, { runCommand }] = await Promise.all([import('./failure.js'), import('./commands/run.js')]);
  await handle('run', runCommand)(quick);
} else {
  await import('./main.js');
}
