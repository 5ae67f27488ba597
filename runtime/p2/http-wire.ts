// HTTP/1.1 on the wire for `replicode serve`: requests parsed from the bytes a connection
// delivered, responses written as bytes. Pure functions of their input, run inside the
// deterministic side (the bytes come from the kernel's recorded network input), so a replay
// parses and answers exactly as the recording did.

/** The longest request line and headers, in bytes; a longer head is answered 431 and closed. */
export const maxHeadBytes = 64 * 1024;
/** The most header lines in one request. */
export const maxHeaderCount = 100;
/** The longest request body (Content-Length or chunked), in bytes; a longer one is answered 413. */
export const maxRequestBodyBytes = 8 * 1024 * 1024;
/** The longest chunk-size line of a chunked body (with any extensions). */
const maxChunkLineBytes = 1024;

export type HeaderList = [name: string, value: Uint8Array][];

export interface WireRequest {
  readonly method: string;
  /** The request target as sent: origin form (`/path?q`), absolute form or `*`. */
  readonly target: string;
  readonly version: '1.0' | '1.1';
  /** Header names lower-cased, in the order they came; values as bytes. */
  readonly headers: HeaderList;
  readonly body: Uint8Array;
  /** The connection stays open after the response (HTTP/1.1 unless `Connection: close`). */
  readonly keepAlive: boolean;
}

export type Parsed =
  /** `expectsContinue`: the head is whole and says `Expect: 100-continue` (HTTP/1.1); the body is not. */
  | { kind: 'incomplete'; expectsContinue?: true }
  | { kind: 'request'; request: WireRequest; consumed: number }
  | { kind: 'bad'; status: 400 | 413 | 431 | 501 | 505; reason: string };

const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const latin1 = new TextDecoder('latin1');
const crlfcrlf = [13, 10, 13, 10];
/** Optional whitespace around a header value: spaces and tabs only (not String.trim's set). */
const ows = /^[ \t]+|[ \t]+$/g;

/** The index of `pattern` in `bytes` from `from`, or -1. */
function indexOf(bytes: Uint8Array, pattern: readonly number[], from = 0): number {
  outer: for (let i = from; i + pattern.length <= bytes.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (bytes[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}

/** CR, LF (a bare one: a line end to some parsers, so a way to smuggle a header past them) and NUL. */
const forbiddenInValue = /[\r\n\0]/;

/**
 * The first complete request at the start of `buffer`, what is missing, or why it is refused.
 * `revision`: the serve loop's (serve.ts); from 2 a header value holding CR, LF or NUL and a
 * request with both Content-Length and Transfer-Encoding are refused (RFC 9110 5.5, RFC 9112
 * 6.1: either would let a proxy in front and this server see different requests).
 */
export function parseRequest(buffer: Uint8Array, revision = 2): Parsed {
  const headEnd = indexOf(buffer.subarray(0, maxHeadBytes + 4), crlfcrlf);
  if (headEnd < 0) return buffer.length >= maxHeadBytes ? { kind: 'bad', status: 431, reason: `request head longer than ${maxHeadBytes} bytes` } : { kind: 'incomplete' };
  const lines = latin1.decode(buffer.subarray(0, headEnd)).split('\r\n');
  const start = /^([^ ]+) ([^ ]+) HTTP\/(\d)\.(\d)$/.exec(lines[0]!);
  if (!start || !token.test(start[1]!)) return { kind: 'bad', status: 400, reason: 'malformed request line' };
  if (start[3] !== '1') return { kind: 'bad', status: 505, reason: `HTTP/${start[3]}.${start[4]}` };
  const version = start[4] === '0' ? '1.0' : '1.1';
  if (lines.length - 1 > maxHeaderCount) return { kind: 'bad', status: 431, reason: `more than ${maxHeaderCount} header lines` };
  const headers: HeaderList = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    if (colon <= 0 || !token.test(name)) return { kind: 'bad', status: 400, reason: 'malformed header line' };
    if (revision >= 2 && forbiddenInValue.test(line)) return { kind: 'bad', status: 400, reason: `header ${name}: CR, LF or NUL in its value` };
    headers.push([name, Uint8Array.from(line.slice(colon + 1).replace(ows, ''), (c) => c.charCodeAt(0))]);
  }
  if (revision >= 2 && headers.some(([n]) => n === 'transfer-encoding') && headers.some(([n]) => n === 'content-length')) {
    return { kind: 'bad', status: 400, reason: 'both Content-Length and Transfer-Encoding' };
  }
  const framed = bodyOf(buffer, headEnd + 4, headers);
  if (framed.kind === 'incomplete' && version === '1.1' && headerText(headers, 'expect').toLowerCase() === '100-continue') return { kind: 'incomplete', expectsContinue: true };
  if (framed.kind !== 'body') return framed;
  const connection = headerText(headers, 'connection').toLowerCase().split(',').map((s) => s.trim());
  const keepAlive = version === '1.1' ? !connection.includes('close') : connection.includes('keep-alive');
  return { kind: 'request', request: { method: start[1]!, target: start[2]!, version, headers, body: framed.body, keepAlive }, consumed: framed.end };
}

/** Every value of header `name`, joined by commas. */
export function headerText(headers: HeaderList, name: string): string {
  return headers.filter(([n]) => n === name).map(([, v]) => latin1.decode(v)).join(', ');
}

type Framed = { kind: 'body'; body: Uint8Array; end: number } | Exclude<Parsed, { kind: 'request' }>;

/** The body after the head (at `from`): Transfer-Encoding chunked, Content-Length or none. */
function bodyOf(buffer: Uint8Array, from: number, headers: HeaderList): Framed {
  const encoding = headerText(headers, 'transfer-encoding').toLowerCase();
  if (encoding !== '') {
    if (encoding !== 'chunked') return { kind: 'bad', status: 501, reason: `transfer-encoding ${encoding}` };
    return chunkedBody(buffer, from);
  }
  const lengths = new Set(headers.filter(([n]) => n === 'content-length').map(([, v]) => latin1.decode(v).trim()));
  if (lengths.size === 0) return { kind: 'body', body: new Uint8Array(0), end: from };
  const [text] = [...lengths];
  if (lengths.size > 1 || !/^\d{1,15}$/.test(text!)) return { kind: 'bad', status: 400, reason: 'bad content-length' };
  const length = Number(text);
  if (length > maxRequestBodyBytes) return { kind: 'bad', status: 413, reason: `body of ${length} bytes (at most ${maxRequestBodyBytes})` };
  if (buffer.length < from + length) return { kind: 'incomplete' };
  return { kind: 'body', body: buffer.slice(from, from + length), end: from + length };
}

/** A chunked body: chunks of hex size, then a zero chunk and trailers (read and dropped). */
function chunkedBody(buffer: Uint8Array, from: number): Framed {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let at = from;
  for (;;) {
    const lineEnd = indexOf(buffer.subarray(0, at + maxChunkLineBytes + 2), [13, 10], at);
    if (lineEnd < 0) return buffer.length - at > maxChunkLineBytes ? { kind: 'bad', status: 400, reason: 'chunk size line too long' } : { kind: 'incomplete' };
    const size = /^([0-9a-fA-F]{1,8})(;.*)?$/.exec(latin1.decode(buffer.subarray(at, lineEnd)));
    if (!size) return { kind: 'bad', status: 400, reason: 'malformed chunk size' };
    const n = parseInt(size[1]!, 16);
    at = lineEnd + 2;
    if (n === 0) break;
    total += n;
    if (total > maxRequestBodyBytes) return { kind: 'bad', status: 413, reason: `body of more than ${maxRequestBodyBytes} bytes` };
    if (buffer.length < at + n + 2) return { kind: 'incomplete' };
    if (buffer[at + n] !== 13 || buffer[at + n + 1] !== 10) return { kind: 'bad', status: 400, reason: 'chunk not followed by CRLF' };
    chunks.push(buffer.subarray(at, at + n));
    at += n + 2;
  }
  // Trailers: lines up to an empty one.
  for (;;) {
    const lineEnd = indexOf(buffer.subarray(0, at + maxHeadBytes), [13, 10], at);
    if (lineEnd < 0) return buffer.length - at >= maxHeadBytes ? { kind: 'bad', status: 431, reason: 'trailers too long' } : { kind: 'incomplete' };
    const empty = lineEnd === at;
    at = lineEnd + 2;
    if (empty) break;
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) { body.set(chunk, offset); offset += chunk.length; }
  return { kind: 'body', body, end: at };
}

/** Reason phrases (RFC 9110) for the status lines RepliCode writes; another status gets an empty phrase. */
const reasons: Record<number, string> = {
  100: 'Continue', 101: 'Switching Protocols', 200: 'OK', 201: 'Created', 202: 'Accepted', 203: 'Non-Authoritative Information',
  204: 'No Content', 205: 'Reset Content', 206: 'Partial Content', 300: 'Multiple Choices', 301: 'Moved Permanently',
  302: 'Found', 303: 'See Other', 304: 'Not Modified', 307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 407: 'Proxy Authentication Required', 408: 'Request Timeout',
  409: 'Conflict', 410: 'Gone', 411: 'Length Required', 412: 'Precondition Failed', 413: 'Content Too Large',
  414: 'URI Too Long', 415: 'Unsupported Media Type', 416: 'Range Not Satisfiable', 417: 'Expectation Failed',
  421: 'Misdirected Request', 422: 'Unprocessable Content', 426: 'Upgrade Required', 428: 'Precondition Required',
  429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 501: 'Not Implemented',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout', 505: 'HTTP Version Not Supported',
};

/** Headers RepliCode writes itself: the guest's values for them are dropped (hop-by-hop, framing). */
const ownHeaders = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'proxy-connection']);

/**
 * A response as bytes: status line, the guest's headers in its order, then Content-Length and
 * Connection. `head`: a HEAD request's response, whose body is left out but whose length is said.
 */
export function serializeResponse(status: number, headers: HeaderList, body: Uint8Array, options: { keepAlive: boolean; head: boolean }): Uint8Array {
  let head = `HTTP/1.1 ${status} ${reasons[status] ?? ''}\r\n`;
  for (const [name, value] of headers) if (!ownHeaders.has(name.toLowerCase())) head += `${name}: ${latin1.decode(value)}\r\n`;
  head += `content-length: ${body.length}\r\nconnection: ${options.keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`;
  const headBytes = Uint8Array.from(head, (c) => c.charCodeAt(0) & 0xff);
  if (options.head) return headBytes;
  const out = new Uint8Array(headBytes.length + body.length);
  out.set(headBytes);
  out.set(body, headBytes.length);
  return out;
}

/** The plain-text response RepliCode sends itself: a request it refused, or a handler that gave none. */
export function plainResponse(status: number, text: string, keepAlive: boolean): Uint8Array {
  return serializeResponse(status, [['content-type', Uint8Array.from('text/plain', (c) => c.charCodeAt(0))]], new TextEncoder().encode(`${text}\n`), { keepAlive, head: false });
}
