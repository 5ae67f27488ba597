// A wasi:http/incoming-handler in JavaScript (componentize-js), for `replicode serve`:
//   GET /         a line of text
//   GET /counter  a JSON counter every request to it increments (the instance serves every request,
//                 so replicas must agree on their order), with the virtual clock's time
//   POST /echo    the request's body back, with its content-type
//   GET /unset    returns without setting a response (the server answers 500)
//   GET /error    sets an error instead of a response (the server answers 500)
//   anything else 404
import { Fields, OutgoingBody, OutgoingResponse, ResponseOutparam } from 'wasi:http/types@0.2.12';

const encoder = new TextEncoder();
let counter = 0;

/** The whole body of a request (its stream ends with a closed error). */
function readBody(request) {
  const stream = request.consume().stream();
  const chunks = [];
  let length = 0;
  for (;;) {
    let chunk;
    try {
      chunk = stream.blockingRead(65536n);
    } catch (err) {
      if (err?.payload?.tag === 'closed' || err?.tag === 'closed') break;
      throw err;
    }
    chunks.push(chunk);
    length += chunk.length;
  }
  const body = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) { body.set(chunk, at); at += chunk.length; }
  return body;
}

function respond(responseOut, status, type, bytes) {
  const headers = Fields.fromList([['content-type', encoder.encode(type)], ['x-served-by', encoder.encode('js_http_counter')]]);
  const response = new OutgoingResponse(headers);
  response.setStatusCode(status);
  const body = response.body();
  ResponseOutparam.set(responseOut, { tag: 'ok', val: response });
  const out = body.write();
  out.blockingWriteAndFlush(bytes);
  out[Symbol.dispose]();
  OutgoingBody.finish(body, undefined);
}

export const incomingHandler = {
  handle(request, responseOut) {
    const method = request.method().tag;
    const path = request.pathWithQuery() ?? '/';
    if (method === 'get' && path === '/') {
      respond(responseOut, 200, 'text/plain', encoder.encode('hello from a JavaScript HTTP handler\n'));
    } else if (method === 'get' && path === '/counter') {
      counter += 1;
      respond(responseOut, 200, 'application/json', encoder.encode(`${JSON.stringify({ counter, time: new Date().toISOString() })}\n`));
    } else if (method === 'post' && path === '/echo') {
      const type = request.headers().get('content-type')[0];
      const body = readBody(request);
      respond(responseOut, 200, type ? new TextDecoder().decode(type) : 'application/octet-stream', body);
    } else if (method === 'get' && path === '/unset') {
      // Nothing set: the host says so with a 500.
    } else if (method === 'get' && path === '/error') {
      ResponseOutparam.set(responseOut, { tag: 'err', val: { tag: 'internal-error', val: 'asked for an error' } });
    } else {
      respond(responseOut, 404, 'text/plain', encoder.encode(`not found: ${method.toUpperCase()} ${path}\n`));
    }
  },
};
