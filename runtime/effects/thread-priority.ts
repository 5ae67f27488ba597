// The host's thread scheduler: a guest's worker thread can lower (or, where allowed, raise) its
// own OS scheduling priority. Nothing a guest observes depends on it; a replicated cluster uses
// it so that the replica answering clients runs first when three replicas share two cores.
import { getPriority, setPriority } from 'node:os';

/** The calling thread's nice value before it first changed it (inherited from the process). */
let inherited: number | undefined;

/**
 * Sets the calling thread's nice value to `niceness` above the one it started with (so a cluster
 * run under `nice` keeps its replicas' order relative to the rest of the machine). On Linux the
 * nice value is per thread and setpriority(PRIO_PROCESS, 0) changes the calling thread only.
 * Returns false where the OS refuses (lowering nice again needs CAP_SYS_NICE) or has no such notion.
 */
export function setOwnThreadNiceness(niceness: number): boolean {
  if (process.platform !== 'linux') return false;
  try {
    inherited ??= getPriority(0);
    setPriority(0, Math.max(-20, Math.min(19, inherited + Math.trunc(niceness))));
    return true;
  } catch {
    return false;
  }
}
