// Colour where it helps a reader find what matters (a disagreeing replica, the fields that
// differ, an error), never in a pipe or a file: on when the stream is a terminal, off when
// NO_COLOR is set and non-empty (https://no-color.org), forced on by FORCE_COLOR (tests, `less -R`).
import type { Writable } from 'node:stream';

type Stream = Writable & { isTTY?: boolean };

export function colourWanted(stream: Stream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return stream.isTTY === true;
}

export interface Paint {
  /** What went wrong: an error, a disagreeing replica, the odd one out. */
  bad(text: string): string;
  /** What to look at: a field that differs. */
  notice(text: string): string;
  /** Headings. */
  strong(text: string): string;
}

const sgr = (on: number, off: number) => (text: string) => `\x1b[${on}m${text}\x1b[${off}m`;
const plain = (text: string) => text;

export const noPaint: Paint = { bad: plain, notice: plain, strong: plain };
const ansiPaint: Paint = { bad: sgr(31, 39), notice: sgr(33, 39), strong: sgr(1, 22) };

/** The paint for text written to `stream` (stderr for messages, stdout for reports). */
export function paintFor(stream: Stream, env: NodeJS.ProcessEnv = process.env): Paint {
  return colourWanted(stream, env) ? ansiPaint : noPaint;
}
