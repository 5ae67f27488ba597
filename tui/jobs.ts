// Background replays for the TUI's views, bounded: one runs at a time per view, and of the ones
// asked for meanwhile only the latest waits (holding ] down must not start a replay per press).

export class LatestOnly {
  private running = false;
  private waiting: (() => Promise<void>) | null = null;

  /** Run `job` now, or after the running one (replacing any job already waiting). */
  run(job: () => Promise<void>): void {
    if (this.running) {
      this.waiting = job;
      return;
    }
    this.running = true;
    void job().finally(() => {
      this.running = false;
      const next = this.waiting;
      this.waiting = null;
      if (next) this.run(next);
    });
  }
}

/** A map that forgets its oldest entry past `max` entries. */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  constructor(readonly max: number) {}
  get(key: K): V | undefined { return this.map.get(key); }
  get size(): number { return this.map.size; }
  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }
}
