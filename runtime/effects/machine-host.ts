// Running a machine for real: its processes in workers, a gateway for --listen, a local
// sequencer with the host's clock. The CLI's run/record use this for every guest, networked
// or not.
import { Machine, stdinPid, type ClientLinks } from '../net/machine.js';
import { LocalSequencer, type Sequencer } from '../net/sequencer.js';
import { maxSendBufferBytes } from '../net/types.js';
import type { ProcessConfig } from '../config.js';
import type { GuestOutcome } from '../run.js';
import { startGuest, type SpawnOptions } from '../spawn.js';
import { Gateway, realMachineClock, type ListenSpec } from './gateway.js';
import { StdinFeed } from './stdin-feed.js';
import { BufferStdin, type StdinSource } from './stdin-sources.js';

export interface MachineOptions {
  /** One per process, in pid order (pid 1, 2, ...); their config's pid is set here. */
  processes: Omit<SpawnOptions, 'net'>[];
  listen: ListenSpec[];
  /** The machine's stdin, read into its batches for the first process (default: empty). */
  stdin?: StdinSource;
  /**
   * Told the --listen addresses once bound, before any process starts: what it prints comes
   * before anything a guest writes (which the main thread could otherwise pass on first).
   */
  onListening?: (listening: ListenSpec[]) => void;
}

export interface RunningMachine {
  /** The --listen addresses, once bound (ports resolved if 0 was asked). */
  readonly listening: ListenSpec[];
  /** Every process's outcome, in pid order, once all have ended. */
  readonly outcomes: Promise<GuestOutcome[]>;
  readonly machine: Machine;
  /**
   * Ctrl-C: clients are disconnected, blocked processes see the network go down; stragglers are
   * stopped after `graceMs` (`how`: as stopped by the user, or as crashed: see GuestProcess.terminate).
   */
  stop(graceMs?: number, how?: 'stopped' | 'crashed'): Promise<void>;
}

/** A process's configuration as process `pid` of a machine: the first one reads the machine's stdin from its batches, the others see an empty one. */
export function machineProcessConfig(config: ProcessConfig, pid: number): ProcessConfig {
  return { ...config, pid, stdin: pid === stdinPid ? 'machine' : 'host', sendBufferBytes: maxSendBufferBytes };
}

export async function startMachine(options: MachineOptions): Promise<RunningMachine> {
  // Machine time is real only when outside clients can reach the machine (see LocalSequencer),
  // or when a process reads the host's clock (its poll deadlines are in real time).
  const realTime = options.listen.length > 0 || options.processes.some((p) => p.config.clock === 'real');
  const sequencer = new LocalSequencer(realTime ? realMachineClock : 'virtual');
  const stdin = new StdinFeed(options.stdin ?? new BufferStdin(), (event) => sequencer.push(event));
  sequencer.stdinFeed = stdin;
  const gateway = new Gateway(options.listen, sequencer);
  const listening = await gateway.start();
  options.onListening?.(listening);
  return launch(options.processes, sequencer, gateway, listening, () => { stdin.close(); sequencer.end(); void gateway.close(); });
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
    const guest = startGuest({ ...spec, config: machineProcessConfig(spec.config, pid), net: hooks });
    return { pid, guest, outcome: machine.attach(pid, guest) };
  });
  const outcomes = Promise.all(guests.map((g) => g.outcome)).finally(shutdown);
  return {
    listening, outcomes, machine,
    async stop(graceMs = 1000, how: 'stopped' | 'crashed' = 'stopped') {
      machine.stop();
      shutdown();
      await clients.close?.();
      const timer = setTimeout(() => { for (const g of guests) void g.guest.terminate(how); }, graceMs);
      await outcomes.catch(() => {});
      clearTimeout(timer);
    },
  };
}
