// Public surface of the WASI 0.2 component support: transpile (main thread), start (guest thread).
export { bindingsScript, compileComponent, isComponentProgram, withoutUnusedPromising, type ComponentProgram, type GuestProgram } from './transpile.js';
export { startComponent, type StartedComponent } from './instantiate.js';
export { newestPatch, maxRandomBytes } from './host.js';
export { maxPollables } from './streams.js';
export { maxDatagramsPerCall } from './sockets.js';
export { defaultHttpIdleTimeoutMs, httpGuestPort, httpServeRevision, maxHttpConnections } from './serve.js';
export { maxHeadBytes, maxHeaderCount, maxRequestBodyBytes, parseRequest, serializeResponse } from './http-wire.js';
export { maxResponseBodyBytes, maxFieldsBytes } from './http.js';
export { httpHost, type HttpHost } from './http.js';
export { componentHost } from './host.js';
export { KernelCalls } from './calls.js';
export { bindingsFile, guestFault, unmatchedPatches } from './guard.js';
export { lowerHotImports } from './lowered.js';
