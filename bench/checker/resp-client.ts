// A minimal RESP client for the checker: one request at a time on a connection, each waiting for
// exactly one reply (or its timeout); bytes that come with no request waiting, or past the one
// reply, are a reply nobody asked for and are recorded as such.
import { connect, type Socket } from 'node:net';

export type Reply = { kind: 'ok' } | { kind: 'bulk'; value: string | null } | { kind: 'int'; value: number } | { kind: 'error'; message: string };
export type Outcome = { kind: 'reply'; reply: Reply } | { kind: 'timeout' } | { kind: 'closed' };

export function encodeCommand(args: string[]): Buffer {
  return Buffer.from(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
}

/** One reply at the front of `buf` and its length, or undefined if it is not all there yet. */
export function parseReply(buf: Buffer): { reply: Reply; length: number } | undefined {
  const eol = buf.indexOf('\r\n');
  if (eol < 0) return undefined;
  const line = buf.subarray(1, eol).toString('latin1');
  switch (buf[0]) {
    case 0x2b: return { reply: line === 'OK' ? { kind: 'ok' } : { kind: 'bulk', value: line }, length: eol + 2 }; // +
    case 0x2d: return { reply: { kind: 'error', message: line }, length: eol + 2 }; // -
    case 0x3a: return { reply: { kind: 'int', value: Number(line) }, length: eol + 2 }; // :
    case 0x24: { // $
      const n = Number(line);
      if (n < 0) return { reply: { kind: 'bulk', value: null }, length: eol + 2 };
      if (buf.length < eol + 2 + n + 2) return undefined;
      return { reply: { kind: 'bulk', value: buf.subarray(eol + 2, eol + 2 + n).toString('latin1') }, length: eol + 2 + n + 2 };
    }
    default: return { reply: { kind: 'error', message: `not RESP: ${JSON.stringify(buf.subarray(0, 40).toString('latin1'))}` }, length: buf.length };
  }
}

export class RespConnection {
  private buf = Buffer.alloc(0);
  private waiting: ((o: Outcome) => void) | undefined;
  private closed = false;

  private constructor(private readonly socket: Socket, private readonly onExtra: (bytes: string) => void) {
    socket.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.take(); });
    socket.on('close', () => { this.closed = true; this.settle({ kind: 'closed' }); });
    socket.on('error', () => {});
  }

  static open(port: number, timeoutMs: number, onExtra: (bytes: string) => void): Promise<RespConnection | undefined> {
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      const timer = setTimeout(() => { socket.destroy(); resolve(undefined); }, timeoutMs);
      socket.once('connect', () => { clearTimeout(timer); resolve(new RespConnection(socket, onExtra)); });
      socket.once('error', () => { clearTimeout(timer); resolve(undefined); });
    });
  }

  request(args: string[], timeoutMs: number): Promise<Outcome> {
    if (this.closed) return Promise.resolve({ kind: 'closed' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle({ kind: 'timeout' }), timeoutMs);
      this.waiting = (o) => { clearTimeout(timer); resolve(o); };
      this.socket.write(encodeCommand(args));
    });
  }

  close(): void { this.socket.destroy(); }

  private settle(o: Outcome): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.(o);
  }

  private take(): void {
    if (!this.waiting) {
      this.onExtra(this.buf.toString('latin1'));
      this.buf = Buffer.alloc(0);
      return;
    }
    const parsed = parseReply(this.buf);
    if (!parsed) return;
    this.buf = this.buf.subarray(parsed.length);
    this.settle({ kind: 'reply', reply: parsed.reply });
    if (this.buf.length > 0) { this.onExtra(this.buf.toString('latin1')); this.buf = Buffer.alloc(0); }
  }
}
