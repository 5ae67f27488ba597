// Running a machine for real: its processes in workers, a gateway for --listen, a local
// sequencer with the host's clock. The CLI's run/record use this for every guest, networked
// or not.
import { Machine, type ClientLinks } from '../net/machine.js';
import { LocalSequencer, type Sequencer } from '../net/sequencer.js';
import type { GuestOutcome } from '../run.js';
import { startGuest, type SpawnOptions } from '../spawn.js';
import { Gateway, realMachineClock, type ListenSpec } from './gateway.js';

export interface MachineOptions {
  /** One per process, in pid order (pid 1, 2, ...); their config's pid is set here. */
  processes: Omit<SpawnOptions, 'net'>[];
  listen: ListenSpec[];
}

export interface RunningMachine {
  /** The --listen addresses, once bound (ports resolved if 0 was asked). */
  readonly listening: ListenSpec[];
  /** Every process's outcome, in pid order, once all have ended. */
  readonly outcomes: Promise<GuestOutcome[]>;
  readonly machine: Machine;
  /** Ctrl-C: clients are disconnected, blocked processes see the network go down; stragglers are stopped after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export async function startMachine(options: MachineOptions): Promise<RunningMachine> {
  const sequencer = new LocalSequencer(realMachineClock.now, realMachineClock.wait);
  const gateway = new Gateway(options.listen, sequencer);
  const listening = await gateway.start();
  return launch(options.processes, sequencer, gateway, listening, () => { sequencer.end(); void gateway.close(); });
}

/**
 * A machine fed by someone else's sequencer (a replica of a cluster, reading the consensus log)
 * and writing to someone else's client links.
 */
export function startReplicaMachine(processes: MachineOptions['processes'], sequencer: Sequencer & { end(): void }, clients: ClientLinks): RunningMachine {
  return launch(processes, sequencer, clients, [], () => sequencer.end());
}

function launch(
  processes: MachineOptions['processes'], sequencer: Sequencer & { end(): void }, clients: ClientLinks & { close?(): Promise<void> },
  listening: ListenSpec[], shutdown: () => void,
): RunningMachine {
  const machine = new Machine(sequencer, clients);
  const guests = processes.map((spec, i) => {
    const pid = i + 1;
    const hooks = machine.hooksFor(pid);
    const guest = startGuest({ ...spec, config: { ...spec.config, pid }, net: hooks });
    return { pid, guest, outcome: machine.attach(pid, guest) };
  });
  const outcomes = Promise.all(guests.map((g) => g.outcome)).finally(shutdown);
  return {
    listening, outcomes, machine,
    async stop(graceMs = 1000) {
      machine.stop();
      shutdown();
      await clients.close?.();
      const timer = setTimeout(() => { for (const g of guests) void g.guest.terminate(); }, graceMs);
      await outcomes.catch(() => {});
      clearTimeout(timer);
    },
  };
}
