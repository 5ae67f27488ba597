// Fault injection for a cluster whose replicas run here (`replicode cluster --chaos SEED`): kills
// and restarts replicas at batches of the log chosen by a seeded generator. The schedule is a
// pure function of the seed and the cluster's shape (chaosSchedule), and each fault fires when the
// log reaches its batch, so a run that failed is reproduced by its seed: the same faults at the
// same batches. Most faults keep a majority alive (one replica down at a time, more when there
// are more replicas); about one in ten takes a majority down briefly (clients wait: the log keeps
// what they sent, and the first replica back replays it), then quorum is restored first.
import type { ConsensusLog } from './log.js';

export interface ChaosFault {
  /** The fault fires once the log holds this many batches. */
  batch: number;
  action: 'kill' | 'restart';
  replica: number;
  /** Replicas alive once it has fired. */
  alive: number;
}

export interface ChaosOptions {
  seed: number;
  replicas: number;
  /** Kills in all; each killed replica is restarted later (the schedule ends with all alive). */
  faults: number;
  /** Batches before the first fault (default 20: clients connect, replicas start). */
  firstBatch?: number;
  /** Most batches between two faults (default 12); the least is 2. */
  maxGap?: number;
}

/** The most kills one schedule may hold (each is recorded, and each restart replays the log). */
export const maxChaosFaults = 100_000;
export const defaultChaosFaults = 50;
/** In a hundred steps, how many take a majority down (when that is possible and faults remain). */
const outagePercent = 10;

/** A small seeded generator (mulberry32): 32-bit state, the same sequence on every platform. */
export function seededGenerator(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** The faults of a chaos run, in order of batch (a pure function of its options). */
export function chaosSchedule(options: ChaosOptions): ChaosFault[] {
  const { replicas, faults } = options;
  assert(Number.isInteger(faults) && faults >= 0 && faults <= maxChaosFaults, `chaos faults ${faults} out of 0..${maxChaosFaults}`);
  assert(Number.isInteger(replicas) && replicas >= 1, `chaos on ${replicas} replicas`);
  const random = seededGenerator(options.seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
  const majority = Math.floor(replicas / 2) + 1;
  const maxGap = Math.max(2, options.maxGap ?? 12);
  const alive = new Set(Array.from({ length: replicas }, (_, i) => i + 1));
  const out: ChaosFault[] = [];
  let batch = options.firstBatch ?? 20;
  let kills = 0;
  const fire = (action: 'kill' | 'restart', replica: number) => {
    if (action === 'kill') { alive.delete(replica); kills++; } else alive.add(replica);
    out.push({ batch, action, replica, alive: alive.size });
  };
  const dead = () => Array.from({ length: replicas }, (_, i) => i + 1).filter((r) => !alive.has(r));
  while (kills < faults) {
    batch += 2 + Math.floor(random() * (maxGap - 1));
    const roll = random() * 100;
    if (alive.size < majority) fire('restart', pick(dead())); // after an outage, quorum comes back first
    else if (roll < outagePercent && alive.size >= majority) {
      // An outage: down to a minority (now and then to none), one replica a batch.
      const keep = random() < 0.3 ? 0 : majority - 1;
      while (alive.size > keep && kills < faults) { fire('kill', pick([...alive])); batch++; }
    } else if (alive.size > majority && (dead().length === 0 || roll < 60)) fire('kill', pick([...alive]));
    else if (dead().length > 0) fire('restart', pick(dead()));
    else if (replicas === 1 || majority === replicas) fire('kill', pick([...alive])); // no kill keeps a quorum here
  }
  for (const r of dead()) { batch += 2; fire('restart', r); }
  return out;
}

/** What runs the faults: a cluster's kill and restart. */
export interface ChaosTarget {
  kill(replica: number): Promise<void>;
  restart(replica: number): void;
}

/**
 * Fires a schedule's faults as the log reaches their batches, one at a time (a kill finishes
 * before the next fault), and reports each as it fires.
 */
export class ChaosDriver {
  private next = 0;
  private chain: Promise<void> = Promise.resolve();
  private readonly unsubscribe: () => void;
  private stopped = false;
  private waiters: (() => void)[] = [];
  /** Faults fired so far. */
  readonly fired: ChaosFault[] = [];

  constructor(log: ConsensusLog, private readonly schedule: ChaosFault[], private readonly target: ChaosTarget, private readonly onFault: (f: ChaosFault) => void = () => {}) {
    this.unsubscribe = log.subscribe(0, (index) => this.reached(index + 1));
  }

  /** Whether every fault has fired. */
  get done(): boolean { return this.fired.length === this.schedule.length; }

  /** Replicas the schedule holds down now (killed and not yet restarted). */
  get down(): number { return this.fired.reduce((n, f) => n + (f.action === 'kill' ? 1 : -1), 0); }

  /** Resolves at the next fault fired (or at stop). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private reached(batches: number): void {
    while (this.next < this.schedule.length && this.schedule[this.next]!.batch <= batches) {
      const fault = this.schedule[this.next++]!;
      this.chain = this.chain.then(async () => {
        if (this.stopped) return;
        if (fault.action === 'kill') await this.target.kill(fault.replica);
        else this.target.restart(fault.replica);
        this.fired.push(fault);
        this.onFault(fault);
        for (const w of this.waiters.splice(0)) w();
      });
    }
  }

  /** No more faults; waits for the one firing, if any. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    await this.chain;
    for (const w of this.waiters.splice(0)) w();
  }
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`internal error: ${message}`);
}
