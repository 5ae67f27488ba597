// wasi:http (types, outgoing-handler) for `replicode serve`: the resources a handler sees, built
// from a request the driver (serve.ts) parsed out of recorded network bytes, and the response it
// builds, held in memory until the driver writes it. Nothing here reads the host: a request's
// body is bytes already received, a response's body bytes not yet sent. Outgoing HTTP is refused
// (HTTP-request-denied): a handler that fetches would need the host's network, unrecorded.
import { Errno } from '../errno.js';
import type { KernelCalls } from './calls.js';
import { ResultError } from './errors.js';
import type { HeaderList, WireRequest } from './http-wire.js';
import { InputStream, IoError, OutputStream, Pollable } from './streams.js';

/** The most bytes a handler may write into one response body; past it a write fails. */
export const maxResponseBodyBytes = 16 * 1024 * 1024;
/** The most bytes (names and values) one fields resource holds; more is a trap, as wasi:http's header-error has no case for it. */
export const maxFieldsBytes = 1024 * 1024;
/** What check-write grants at a time (a guest writes at most this much per write). */
const writeGrantBytes = 64 * 1024;

const fieldName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Headers a handler may not set: hop-by-hop ones, which RepliCode writes itself (as wasmtime forbids them). */
const forbidden = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'http2-settings']);
const validValue = (value: Uint8Array) => value.every((b) => b !== 0 && b !== 10 && b !== 13);

type Method = { tag: string; val?: string };
const methods = ['get', 'head', 'post', 'put', 'delete', 'connect', 'options', 'trace', 'patch'];
const methodOf = (name: string): Method => (methods.includes(name.toLowerCase()) && name === name.toUpperCase() ? { tag: name.toLowerCase() } : { tag: 'other', val: name });

const streamClosed = () => ({ payload: { tag: 'closed' } });

/** wasi:http/types's fields: names lower-cased, in insertion order; immutable when a request's. */
export class Fields {
  private list: HeaderList = [];
  immutable = false;

  static fromList(entries: HeaderList): Fields {
    const fields = new Fields();
    for (const [name, value] of entries) fields.append(name, value);
    return fields;
  }
  /** Fields RepliCode builds (a request's headers): not checked, and immutable. */
  static frozen(entries: HeaderList): Fields {
    const fields = new Fields();
    fields.list = entries.map(([n, v]) => [n, v]);
    fields.immutable = true;
    return fields;
  }
  get(name: string): Uint8Array[] { const n = name.toLowerCase(); return this.list.filter(([k]) => k === n).map(([, v]) => v); }
  has(name: string): boolean { const n = name.toLowerCase(); return this.list.some(([k]) => k === n); }
  set(name: string, values: Uint8Array[]): void {
    const n = this.checked(name, values);
    this.list = this.list.filter(([k]) => k !== n);
    for (const v of values) this.push(n, v);
  }
  delete(name: string): void { const n = this.checked(name, []); this.list = this.list.filter(([k]) => k !== n); }
  append(name: string, value: Uint8Array): void { this.push(this.checked(name, [value]), value); }
  entries(): HeaderList { return this.list.map(([n, v]) => [n, v]); }
  clone(): Fields { const copy = new Fields(); copy.list = this.entries(); return copy; }

  private push(name: string, value: Uint8Array): void {
    const bytes = this.list.reduce((sum, [k, v]) => sum + k.length + v.length, name.length + value.length);
    if (bytes > maxFieldsBytes) throw new WebAssembly.RuntimeError(`fields of more than ${maxFieldsBytes} bytes`);
    this.list.push([name, value.slice()]);
  }

  /** The lower-cased name, or a header-error (as the call's err). */
  private checked(name: string, values: Uint8Array[]): string {
    if (this.immutable) throw new ResultError({ tag: 'immutable' });
    if (!fieldName.test(name) || !values.every(validValue)) throw new ResultError({ tag: 'invalid-syntax' });
    const n = name.toLowerCase();
    if (forbidden.has(n)) throw new ResultError({ tag: 'forbidden' });
    return n;
  }
}

/** A body already received: a stream over its bytes, then closed. */
class BodyInputStream extends InputStream {
  private at = 0;
  constructor(calls: KernelCalls, private readonly bytes: Uint8Array) { super(calls, { fd: -1, offset: null }); }
  override read(len: bigint): Uint8Array {
    if (this.at >= this.bytes.length) throw streamClosed();
    const n = Math.min(Number(len), this.bytes.length - this.at);
    this.at += n;
    return this.bytes.slice(this.at - n, this.at);
  }
  override blockingRead(len: bigint): Uint8Array { return this.read(len); }
  override skip(len: bigint): bigint { return BigInt(this.read(len).length); }
  override blockingSkip(len: bigint): bigint { return this.skip(len); }
  override subscribe(): Pollable { return new Pollable(this.calls, { kind: 'ready' }); }
}

/** A body being built: its writes kept in memory, at most maxResponseBodyBytes. */
class BodyOutputStream extends OutputStream {
  constructor(calls: KernelCalls, private readonly sink: OutgoingBodyState) { super(calls, { fd: -1, offset: null }); }
  override checkWrite(): bigint {
    if (this.sink.finished) throw streamClosed();
    return BigInt(writeGrantBytes);
  }
  override write(contents: Uint8Array): void {
    if (this.sink.finished) throw streamClosed();
    if (this.sink.length + contents.length > maxResponseBodyBytes) throw { payload: { tag: 'last-operation-failed', val: new IoError(Errno.FBIG) } };
    this.sink.chunks.push(contents.slice());
    this.sink.length += contents.length;
  }
  override blockingWriteAndFlush(contents: Uint8Array): void { this.write(contents); }
  override flush(): void { /* kept until the handler returns */ }
  override blockingFlush(): void { /* kept until the handler returns */ }
  override writeZeroes(len: bigint): void { this.write(new Uint8Array(Math.min(Number(len), maxResponseBodyBytes + 1))); }
  override blockingWriteZeroesAndFlush(len: bigint): void { this.writeZeroes(len); }
  override splice(src: InputStream, len: bigint): bigint { const bytes = src.read(len); this.write(bytes); return BigInt(bytes.length); }
  override blockingSplice(src: InputStream, len: bigint): bigint { return this.splice(src, len); }
  override subscribe(): Pollable { return new Pollable(this.calls, { kind: 'ready' }); }
}

interface OutgoingBodyState { chunks: Uint8Array[]; length: number; finished: boolean }

/** A response the handler gave: what the driver writes. */
export interface HandlerResponse { status: number; headers: HeaderList; body: Uint8Array }

/** The outcome of one handle call, as the response-outparam holds it (the body may be written after set). */
export type Outparam = { kind: 'unset' } | { kind: 'ok'; response: { toResponse(): HandlerResponse } } | { kind: 'error'; code: string };

/** The two resources the driver (serve.ts) makes for each request. */
export interface HttpDriverTypes {
  readonly IncomingRequest: new (request: WireRequest) => object;
  readonly ResponseOutparam: new () => { readonly outcome: Outparam };
}

/** What httpHost serves: wasi:http/types (with the driver's two classes) and wasi:http/outgoing-handler. */
export interface HttpHost {
  readonly types: Record<string, unknown> & HttpDriverTypes;
  readonly outgoingHandler: Record<string, unknown>;
}

/**
 * The wasi:http/types and outgoing-handler imports of one process. Classes per process: the
 * streams and pollables their resources make reach that process's kernel calls.
 */
export function httpHost(calls: KernelCalls): HttpHost {
  const ready = () => new Pollable(calls, { kind: 'ready' });

  class IncomingBody {
    #taken = false;
    readonly #bytes: Uint8Array;
    constructor(bytes: Uint8Array) { this.#bytes = bytes; }
    stream(): InputStream {
      if (this.#taken) throw new ResultError(undefined);
      this.#taken = true;
      return new BodyInputStream(calls, this.#bytes);
    }
    static finish(_body: IncomingBody): FutureTrailers { return new FutureTrailers(); }
  }

  /** A request's trailers: RepliCode reads a chunked body's trailers but passes none on. */
  class FutureTrailers {
    subscribe(): Pollable { return ready(); }
    get() { return { tag: 'ok', val: { tag: 'ok', val: undefined } }; }
  }

  class IncomingRequest {
    #consumed = false;
    readonly #fields: Fields;
    readonly #wire: WireRequest;
    constructor(wire: WireRequest) { this.#wire = wire; this.#fields = Fields.frozen(wire.headers); }
    method(): Method { return methodOf(this.#wire.method); }
    pathWithQuery(): string | undefined {
      const absolute = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(this.#wire.target);
      if (absolute) return absolute[1] || '/';
      return this.#wire.target === '*' ? undefined : this.#wire.target;
    }
    scheme() { return { tag: 'HTTP' }; }
    authority(): string | undefined {
      const host = this.#fields.get('host')[0];
      return host ? new TextDecoder().decode(host) : undefined;
    }
    headers(): Fields { return this.#fields; }
    consume(): IncomingBody {
      if (this.#consumed) throw new ResultError(undefined);
      this.#consumed = true;
      return new IncomingBody(this.#wire.body);
    }
  }

  class OutgoingBody {
    readonly state: OutgoingBodyState = { chunks: [], length: 0, finished: false };
    #written = false;
    write(): OutputStream {
      if (this.#written) throw new ResultError(undefined);
      this.#written = true;
      return new BodyOutputStream(calls, this.state);
    }
    static finish(body: OutgoingBody, _trailers: Fields | undefined): void { body.state.finished = true; }
  }

  class OutgoingResponse {
    #status = 200;
    #outgoing: OutgoingBody | undefined;
    readonly #fields: Fields;
    constructor(fields: Fields) { this.#fields = fields; }
    statusCode(): number { return this.#status; }
    setStatusCode(status: number): void {
      if (status < 100 || status > 999) throw new ResultError(undefined);
      this.#status = status;
    }
    headers(): Fields { return this.#fields; }
    body(): OutgoingBody {
      if (this.#outgoing) throw new ResultError(undefined);
      this.#outgoing = new OutgoingBody();
      return this.#outgoing;
    }
    /** What the driver writes: the body's bytes so far (a body never finished is sent as written). */
    toResponse(): HandlerResponse {
      const state = this.#outgoing?.state ?? { chunks: [], length: 0 };
      const body = new Uint8Array(state.length);
      let at = 0;
      for (const chunk of state.chunks) { body.set(chunk, at); at += chunk.length; }
      return { status: this.#status, headers: this.#fields.entries(), body };
    }
  }

  class ResponseOutparam {
    outcome: Outparam = { kind: 'unset' };
    static set(param: ResponseOutparam, response: { tag: 'ok'; val: OutgoingResponse } | { tag: 'err'; val: { tag: string } }): void {
      if (param.outcome.kind !== 'unset') throw new WebAssembly.RuntimeError('response-outparam set twice');
      param.outcome = response.tag === 'ok' ? { kind: 'ok', response: response.val } : { kind: 'error', code: response.val.tag };
    }
  }

  // The outgoing side exists so that a handler built with fetch links; every request is refused.
  class OutgoingRequest {
    #methodValue: Method = { tag: 'get' };
    #path: string | undefined;
    #schemeValue: unknown;
    #authorityValue: string | undefined;
    #outgoing: OutgoingBody | undefined;
    readonly #fields: Fields;
    constructor(fields: Fields) { this.#fields = fields; }
    body(): OutgoingBody {
      if (this.#outgoing) throw new ResultError(undefined);
      this.#outgoing = new OutgoingBody();
      return this.#outgoing;
    }
    method(): Method { return this.#methodValue; }
    setMethod(method: Method): void { this.#methodValue = method; }
    pathWithQuery(): string | undefined { return this.#path; }
    setPathWithQuery(path: string | undefined): void { this.#path = path; }
    scheme(): unknown { return this.#schemeValue; }
    setScheme(scheme: unknown): void { this.#schemeValue = scheme; }
    authority(): string | undefined { return this.#authorityValue; }
    setAuthority(authority: string | undefined): void { this.#authorityValue = authority; }
    headers(): Fields { return this.#fields; }
  }

  class RequestOptions {
    #timeouts: Record<'connect' | 'firstByte' | 'betweenBytes', bigint | undefined> = { connect: undefined, firstByte: undefined, betweenBytes: undefined };
    connectTimeout(): bigint | undefined { return this.#timeouts.connect; }
    setConnectTimeout(d: bigint | undefined): void { this.#timeouts.connect = d; }
    firstByteTimeout(): bigint | undefined { return this.#timeouts.firstByte; }
    setFirstByteTimeout(d: bigint | undefined): void { this.#timeouts.firstByte = d; }
    betweenBytesTimeout(): bigint | undefined { return this.#timeouts.betweenBytes; }
    setBetweenBytesTimeout(d: bigint | undefined): void { this.#timeouts.betweenBytes = d; }
  }

  /** Never created (no outgoing request succeeds); here so that the interface is complete. */
  class IncomingResponse {
    status(): number { return 0; }
    headers(): Fields { return Fields.frozen([]); }
    consume(): IncomingBody { throw new ResultError(undefined); }
  }
  class FutureIncomingResponse {
    subscribe(): Pollable { return ready(); }
    get(): undefined { return undefined; }
  }

  return {
    types: {
      Fields, IncomingRequest, OutgoingRequest, RequestOptions, ResponseOutparam, IncomingResponse,
      IncomingBody, FutureTrailers, OutgoingResponse, OutgoingBody, FutureIncomingResponse,
      httpErrorCode: (_err: IoError) => undefined,
    },
    outgoingHandler: {
      handle: (_request: OutgoingRequest, _options: RequestOptions | undefined): never => { throw new ResultError({ tag: 'HTTP-request-denied' }); },
    },
  };
}
