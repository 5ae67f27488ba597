// The one table between preview1 errno values (what the kernel answers) and WASI 0.2's
// wasi:filesystem/types error-code, and the shapes jco expects an import to throw for `err`.
import { Errno } from '../errno.js';

/** jco turns a thrown object with a `payload` into the call's `err` value (getErrorPayload). */
export class ResultError {
  constructor(readonly payload: unknown) {}
}

const codes: Record<number, string> = {
  [Errno.ACCES]: 'access', [Errno.AGAIN]: 'would-block', [Errno.ALREADY]: 'already', [Errno.BADF]: 'bad-descriptor',
  [Errno.BUSY]: 'busy', [Errno.DEADLK]: 'deadlock', [Errno.DQUOT]: 'quota', [Errno.EXIST]: 'exist',
  [Errno.FBIG]: 'file-too-large', [Errno.ILSEQ]: 'illegal-byte-sequence', [Errno.INPROGRESS]: 'in-progress',
  [Errno.INTR]: 'interrupted', [Errno.INVAL]: 'invalid', [Errno.IO]: 'io', [Errno.ISDIR]: 'is-directory',
  [Errno.LOOP]: 'loop', [Errno.MLINK]: 'too-many-links', [Errno.MSGSIZE]: 'message-size',
  [Errno.NAMETOOLONG]: 'name-too-long', [Errno.NODEV]: 'no-device', [Errno.NOENT]: 'no-entry',
  [Errno.NOLCK]: 'no-lock', [Errno.NOMEM]: 'insufficient-memory', [Errno.NOSPC]: 'insufficient-space',
  [Errno.NOTDIR]: 'not-directory', [Errno.NOTEMPTY]: 'not-empty', [Errno.NOTRECOVERABLE]: 'not-recoverable',
  [Errno.NOTSUP]: 'unsupported', [Errno.NOSYS]: 'unsupported', [Errno.NOTTY]: 'no-tty', [Errno.NXIO]: 'no-such-device',
  [Errno.OVERFLOW]: 'overflow', [Errno.PERM]: 'not-permitted', [Errno.PIPE]: 'pipe', [Errno.ROFS]: 'read-only',
  [Errno.SPIPE]: 'invalid-seek', [Errno.TXTBSY]: 'text-file-busy', [Errno.XDEV]: 'cross-device',
  // WASI 0.2 has no "capabilities insufficient": a path that leaves its preopen is not permitted.
  [Errno.NOTCAPABLE]: 'not-permitted', [Errno.MFILE]: 'insufficient-memory', [Errno.NFILE]: 'insufficient-memory',
  [Errno.FAULT]: 'invalid', [Errno.TOOBIG]: 'invalid', [Errno.RANGE]: 'invalid',
};

/** The error-code for an errno the kernel returned; an errno outside the table is our bug. */
export function errorCode(errno: number): string {
  const code = codes[errno];
  if (code === undefined) throw new Error(`no wasi:filesystem error-code for errno ${errno}`);
  return code;
}
