// Small reads of the host's own files and clock for the tools (not the guest: the guest's files
// come from its directory snapshots, its time from its clock): source files a divergence report
// quotes, and wall-clock deadlines for talking to a consensus service.
import { readFileSync, statSync } from 'node:fs';

/** The lines of a text file of at most `maxBytes`; null when it is missing, unreadable or larger. */
export function readTextLines(path: string, maxBytes: number): string[] | null {
  try {
    return statSync(path).size <= maxBytes ? readFileSync(path, 'utf8').split('\n') : null;
  } catch {
    return null;
  }
}

/** The host's wall clock, in ms since the epoch (deadlines for a service's RPCs). */
export function wallClockMs(): number {
  return Date.now();
}
