// What the replay-side copy of a module exports and imports for snapshots and the instruction
// clock (built by replayer/instrument.ts; used by driver.ts). The names are the contract.

/** Prefix of every export the snapshot copy adds; they are not the guest's and are never hashed. */
export const snapshotExportPrefix = '__replicode_';
/** The module's own mutable globals (defined, not imported) are exported as this prefix plus their index. */
export const globalExportPrefix = `${snapshotExportPrefix}global_`;
/** The instruction clock: an i64 counting function entries and loop iterations since the start. */
export const clockExport = `${snapshotExportPrefix}clock`;
/** When the clock reaches this value the module calls the stop import (-1: never). */
export const stopExport = `${snapshotExportPrefix}stop`;
/** The function that advances the clock (binaryen's log-execution hook, defined in the copy): not the guest's, left out of stacks. */
export const clockFunctionName = 'log_execution';
/** The import the module calls when the clock reaches the stop value. */
export const stopImport = { module: 'replicode', name: 'clock_stop' } as const;
/** The module imports whose calls may unwind the stack (binaryen's asyncify-imports). */
export const unwindingImports = 'wasi_snapshot_preview1.*';

/**
 * Version of the snapshot's state blob and of this contract: a snapshot is restored only into a
 * run of the same version (the index file records it; a node's snapshot files carry it as their
 * format version, consensus/snapshot-file.ts). 2: VirtualClock keeps its time in a number.
 */
export const snapshotFormatVersion = 2;

/** Whether an export is one the snapshot copy added. */
export const isSnapshotExport = (name: string): boolean => name.startsWith(snapshotExportPrefix) || name.startsWith('asyncify_');

/**
 * Thrown from inside a blocked call when the machine asks for a snapshot there: the snapshot
 * driver catches it at the import, takes the snapshot and runs the call again, resumed (the
 * kernel's blocking calls then pick up where they were: NetStack.resuming).
 */
export class SnapshotRequest extends Error {
  constructor() { super('a snapshot was asked for inside a blocked call'); }
}
