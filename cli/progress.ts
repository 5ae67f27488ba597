// Progress for work that can take more than a second (diff, long replays, loading traces): one
// line on stderr, rewritten in place with \r, cleared before the command's real output. Shown
// only on a terminal: a script or a log gets nothing. REPLICODE_PROGRESS=1 forces it on (tests,
// `script`-style recorders), REPLICODE_PROGRESS=0 off.
import type { Writable } from 'node:stream';

/** Updates closer together than this are skipped (the last one is always shown by `done`). */
export const progressEveryMs = 250;
/** Without a known terminal width, lines are cut to this many columns (a rewrite must not wrap). */
const defaultColumns = 80;

type Stream = Writable & { isTTY?: boolean; columns?: number };

/** Whether progress lines go to `stream`: forced by REPLICODE_PROGRESS, else only to a terminal. */
export function progressWanted(stream: Stream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.REPLICODE_PROGRESS === '1') return true;
  if (env.REPLICODE_PROGRESS === '0') return false;
  return stream.isTTY === true;
}

export class Progress {
  private shown = false;
  private lastAt = -Infinity;
  private latest = '';
  private pending: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: Stream = process.stderr,
    readonly enabled: boolean = progressWanted(stream),
    private readonly now: () => number = Date.now,
  ) {}

  /** Shows `text` in place of the previous line, at most every progressEveryMs (`urgent`: now). */
  update(text: string, urgent = false): void {
    if (!this.enabled) return;
    this.latest = text;
    const t = this.now();
    const wait = progressEveryMs - (t - this.lastAt);
    if (urgent || !this.shown || wait <= 0) {
      this.lastAt = t;
      this.draw(text);
      return;
    }
    // A skipped update is drawn once the interval has passed, should the work then wait on a
    // worker (a replay) rather than update again: the line never lags behind for long.
    this.pending ??= setTimeout(() => {
      this.pending = undefined;
      this.lastAt = this.now();
      this.draw(this.latest);
    }, wait).unref();
  }

  /** Erases the line, so the command's own output starts on a clean line. */
  clear(): void {
    clearTimeout(this.pending);
    this.pending = undefined;
    if (!this.shown) return;
    this.stream.write('\r\x1b[K');
    this.shown = false;
  }

  private draw(text: string): void {
    const width = Math.max(20, (this.stream.columns ?? defaultColumns) - 1);
    this.stream.write(`\r${text.length > width ? `${text.slice(0, width - 3)}...` : text}\x1b[K`);
    this.shown = true;
  }
}

/** A fraction (0 to 1) as a whole percentage, for "reading 3 traces: 42%". */
export const percent = (fraction: number): string => `${Math.floor(100 * fraction)}%`;
