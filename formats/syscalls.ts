// The syscall table of the trace format. A syscall's id is its index here: the list is
// append-only, so ids in old traces keep their meaning. Each parameter is a pointer ('p'),
// a 32-bit value ('i') or a 64-bit value ('I'). Only values go into an event's fingerprint:
// pointers depend on the module's memory layout, values on what the guest asked for.

export const syscallTable: readonly (readonly [name: string, params: string])[] = [
  ['args_get', 'pp'], ['args_sizes_get', 'pp'], ['environ_get', 'pp'], ['environ_sizes_get', 'pp'],
  ['clock_res_get', 'ip'], ['clock_time_get', 'iIp'],
  ['fd_advise', 'iIIi'], ['fd_allocate', 'iII'], ['fd_close', 'i'], ['fd_datasync', 'i'],
  ['fd_fdstat_get', 'ip'], ['fd_fdstat_set_flags', 'ii'], ['fd_fdstat_set_rights', 'iII'],
  ['fd_filestat_get', 'ip'], ['fd_filestat_set_size', 'iI'], ['fd_filestat_set_times', 'iIIi'],
  ['fd_pread', 'ipiIp'], ['fd_prestat_get', 'ip'], ['fd_prestat_dir_name', 'ipi'], ['fd_pwrite', 'ipiIp'],
  ['fd_read', 'ipip'], ['fd_readdir', 'ipiIp'], ['fd_renumber', 'ii'], ['fd_seek', 'iIip'],
  ['fd_sync', 'i'], ['fd_tell', 'ip'], ['fd_write', 'ipip'],
  ['path_create_directory', 'ipi'], ['path_filestat_get', 'iipip'], ['path_filestat_set_times', 'iipiIIi'],
  ['path_link', 'iipiipi'], ['path_open', 'iipiiIIip'], ['path_readlink', 'ipipip'],
  ['path_remove_directory', 'ipi'], ['path_rename', 'ipiipi'], ['path_symlink', 'piipi'],
  ['path_unlink_file', 'ipi'],
  ['poll_oneoff', 'ppip'], ['proc_exit', 'i'], ['proc_raise', 'i'], ['sched_yield', ''], ['random_get', 'pi'],
  ['sock_accept', 'iip'], ['sock_recv', 'ipiipp'], ['sock_send', 'ipiip'], ['sock_shutdown', 'ii'],
  // WasmEdge's socket extension. V1 and V2 forms share a name; the longer form is listed.
  ['sock_open', 'iip'], ['sock_bind', 'ipi'], ['sock_listen', 'ii'], ['sock_connect', 'ipi'],
  ['sock_getlocaladdr', 'ippp'], ['sock_getpeeraddr', 'ippp'], ['sock_setsockopt', 'iiipi'], ['sock_getsockopt', 'iiipp'],
  ['sock_recv_from', 'ipipippp'], ['sock_send_to', 'ipipiip'], ['sock_getaddrinfo', 'pipippip'],
];

const idsByName = new Map(syscallTable.map(([name], id) => [name, id]));

/** Calls that return nothing (proc_exit unwinds); every other call returns its errno as an i32. */
const returnsNothing: ReadonlySet<string> = new Set(['proc_exit']);

/**
 * The shorter forms of WasmEdge socket calls whose V1 and V2 signatures share a name (the
 * table lists the longer one): what the missing trailing argument means is the call's business.
 */
const shorterForms: Readonly<Record<string, readonly string[]>> = {
  sock_accept: ['ip'], // V1: (fd, ro_fd_ptr)
  sock_getlocaladdr: ['ipp'], sock_getpeeraddr: ['ipp'], // V2: (fd, addr_ptr, ro_port_ptr)
  sock_recv_from: ['ipipipp'], // V1: no ro_port_ptr
};

/** A core wasm function type as text, e.g. `(i32, i64) -> (i32)`. */
export type WasmSignature = string;

/** `'iIp'` as a wasm function type: pointers and 32-bit values are i32, 64-bit values i64. */
export function wasmSignature(params: string, returns: boolean): WasmSignature {
  const types = [...params].map((k) => (k === 'I' ? 'i64' : 'i32'));
  return `(${types.join(', ')}) -> (${returns ? 'i32' : ''})`;
}

/** Every wasm type under which a guest may import syscall `name` (undefined: not a syscall). */
export function syscallSignatures(name: string): readonly WasmSignature[] | undefined {
  const id = idsByName.get(name);
  if (id === undefined) return undefined;
  const returns = !returnsNothing.has(name);
  return [syscallTable[id]![1], ...(shorterForms[name] ?? [])].map((params) => wasmSignature(params, returns));
}

export function syscallId(name: string): number {
  const id = idsByName.get(name);
  if (id === undefined) throw new Error(`syscall ${name} is not in the trace format's table`);
  return id;
}

export function syscallName(id: number): string {
  return syscallTable[id]?.[0] ?? `syscall#${id}`;
}

/**
 * A 32-bit fingerprint of a call's value arguments (FNV-1a over 32-bit words), seeded with
 * the syscall id. i64 values contribute both halves.
 */
export function fingerprint(id: number, params: string, args: ArrayLike<number | bigint>): number {
  let h = fingerprintSeed(id);
  for (let i = 0; i < params.length; i++) h = mixArgument(h, params.charCodeAt(i), args[i] ?? 0);
  return h >>> 0;
}

export function fingerprintSeed(id: number): number {
  return Math.imul(0x811c9dc5 ^ id, 0x01000193);
}

/** One step of `fingerprint`: `kind` is the parameter's char code ('p' pointers are skipped). */
export function mixArgument(h: number, kind: number, v: number | bigint): number {
  if (kind === 0x70 /* p */) return h;
  if (typeof v === 'bigint') {
    // One BigInt conversion (they are slow); values past 2^53 lose low bits, which only
    // makes two such values more likely to share a fingerprint.
    const n = Number(v);
    h = Math.imul(h ^ (n | 0), 0x01000193);
    return Math.imul(h ^ ((n / 4294967296) | 0), 0x01000193);
  }
  return Math.imul(h ^ (v | 0), 0x01000193);
}

/** The value arguments of a call, for reports ("fd_write(fd=1, iovs_len=1)"). */
export function describeValueArgs(params: string, args: ArrayLike<number | bigint>): string[] {
  const out: string[] = [];
  for (let i = 0; i < params.length; i++) if (params[i] !== 'p') out.push(String(args[i]));
  return out;
}
