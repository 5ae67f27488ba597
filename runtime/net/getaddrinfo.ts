// sock_getaddrinfo (WasmEdge) answered from a fixed table, never the host's resolver: numeric
// IPv4 addresses, `localhost`, and the names given with `--host NAME=IP` (kept in the process's
// config, and so in its trace). The same name resolves the same way on every replica and in
// every replay. Layouts: ../shared/reference/wasi-sockets-abi.md (addrinfo, sockaddr).
import type { KernelContext } from '../context.js';
import { Errno, WasiError, check } from '../errno.js';
import type { Endpoint } from './types.js';

const Family = { UNSPEC: 0, INET4: 1, INET6: 2 } as const;
const SockType = { ANY: 0, DGRAM: 1, STREAM: 2 } as const;
const Protocol = { IP: 0, TCP: 1, UDP: 2 } as const;
const AiFlags = { PASSIVE: 0x1, CANONNAME: 0x2, NUMERICHOST: 0x4, NUMERICSERV: 0x8, ALL_KNOWN: 0x7f } as const;
/** Well-known services by name; anything else must be a number. */
const services: Record<string, number> = { http: 80, https: 443, domain: 53, redis: 6379, echo: 7 };
/** Longest node or service name read from the guest. */
const maxNameBytes = 1024;

/** __wasi_addrinfo_t, 28 bytes: flags u16 @0, family u8 @2, socktype u8 @3, protocol u8 @4, addrlen u32 @8, addr @12, canonname @16, canonname_len @20, next @24. */
export const Ai = { flags: 0, family: 2, socktype: 3, protocol: 4, addrlen: 8, addr: 12, canonname: 16, canonnameLen: 20, next: 24, size: 28 } as const;
/** __wasi_sockaddr_t, 12 bytes: family u8 @0, sa_data_len u32 @4, sa_data @8. */
export const Sa = { family: 0, dataLen: 4, data: 8 } as const;

export interface AddrinfoCall {
  nodePtr: number; nodeLen: number; servicePtr: number; serviceLen: number;
  hintsPtr: number; resPtr: number; maxResLen: number; resLenPtr: number;
}

/** What a name means here (pure: the table and the name). */
export function resolveName(name: string, hosts: readonly (readonly [string, string])[], numericOnly: boolean): Endpoint['ip'] | undefined {
  const numeric = parseIpv4(name);
  if (numeric || numericOnly) return numeric;
  const lower = name.toLowerCase();
  if (lower === 'localhost') return [127, 0, 0, 1];
  const entry = hosts.find(([n]) => n.toLowerCase() === lower);
  return entry ? parseIpv4(entry[1]) : undefined;
}

export function parseIpv4(text: string): Endpoint['ip'] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? (parts as Endpoint['ip']) : undefined;
}

export function resolveAddrinfo(ctx: KernelContext, call: AddrinfoCall): void {
  const mem = ctx.memory;
  mem.checkRange(call.resLenPtr, 4);
  mem.checkRange(call.resPtr, 4);
  const node = readName(ctx, call.nodePtr, call.nodeLen);
  const service = readName(ctx, call.servicePtr, call.serviceLen);
  if (node === '' && service === '') throw new WasiError(Errno.AI_NONAME, 'neither node nor service');
  check(call.maxResLen >>> 0 >= 1, Errno.AI_MEMORY, 'no room for a result');

  mem.checkRange(call.hintsPtr, Ai.size);
  const flags = mem.u16(call.hintsPtr + Ai.flags);
  const family = mem.u8(call.hintsPtr + Ai.family);
  const socktype = mem.u8(call.hintsPtr + Ai.socktype);
  const protocol = mem.u8(call.hintsPtr + Ai.protocol);
  check((flags & ~AiFlags.ALL_KNOWN) === 0, Errno.AI_BADFLAG, `flags ${flags}`);
  check(family === Family.UNSPEC || family === Family.INET4 || family === Family.INET6, Errno.AI_FAMILY, `family ${family}`);
  if (family === Family.INET6) throw new WasiError(Errno.AI_ADDRFAMILY, 'IPv6 is not on the virtual network');
  check(socktype === SockType.ANY || socktype === SockType.DGRAM || socktype === SockType.STREAM, Errno.AI_SOCKTYPE, `socktype ${socktype}`);

  const port = servicePort(service, (flags & AiFlags.NUMERICSERV) !== 0);
  const ip = node === ''
    ? ((flags & AiFlags.PASSIVE) !== 0 ? [0, 0, 0, 0] as Endpoint['ip'] : [127, 0, 0, 1] as Endpoint['ip'])
    : resolveName(node, ctx.hosts, (flags & AiFlags.NUMERICHOST) !== 0);
  if (!ip) throw new WasiError(Errno.AI_NONAME, node);

  // One answer per socket type asked for (both when ANY), as a resolver does.
  const kinds = (socktype === SockType.ANY ? [SockType.STREAM, SockType.DGRAM] : [socktype])
    .filter((t) => protocol === Protocol.IP || protocol === (t === SockType.STREAM ? Protocol.TCP : Protocol.UDP));
  check(kinds.length > 0, Errno.AI_SOCKTYPE, `protocol ${protocol} with socktype ${socktype}`);
  const count = Math.min(kinds.length, call.maxResLen >>> 0);
  let record = mem.u32(call.resPtr);
  for (let i = 0; i < count; i++) {
    mem.checkRange(record, Ai.size);
    const type = kinds[i]!;
    mem.setU16(record + Ai.flags, flags);
    mem.setU8(record + Ai.family, Family.INET4);
    mem.setU8(record + Ai.socktype, type);
    mem.setU8(record + Ai.protocol, type === SockType.STREAM ? Protocol.TCP : Protocol.UDP);
    writeSockaddr(ctx, mem.u32(record + Ai.addr), ip, port);
    mem.setU32(record + Ai.addrlen, 16);
    if (flags & AiFlags.CANONNAME) writeCanonicalName(ctx, record, node);
    if (i + 1 < count) record = mem.u32(record + Ai.next);
  }
  mem.setU32(call.resLenPtr, count);
}

function readName(ctx: KernelContext, ptr: number, len: number): string {
  check(len >>> 0 <= maxNameBytes, Errno.AI_NONAME, `a name of ${len >>> 0} bytes`);
  // The wasmedge_wasi_socket crate counts a terminating NUL in the length.
  return ctx.memory.readString(ptr, len).replace(/\0+$/, '');
}

function servicePort(service: string, numericOnly: boolean): number {
  if (service === '') return 0;
  if (/^\d{1,5}$/.test(service) && Number(service) < 65536) return Number(service);
  const known = numericOnly ? undefined : services[service.toLowerCase()];
  if (known === undefined) throw new WasiError(Errno.AI_SERVICE, service);
  return known;
}

/** sa_data gets the port (big-endian) then the IPv4 address, as the host's sockaddr_in has them. */
function writeSockaddr(ctx: KernelContext, sockaddr: number, ip: Endpoint['ip'], port: number): void {
  const mem = ctx.memory;
  mem.checkRange(sockaddr, 12);
  mem.setU8(sockaddr + Sa.family, Family.INET4);
  const data = mem.u32(sockaddr + Sa.data);
  const room = mem.u32(sockaddr + Sa.dataLen);
  check(room >= 6, Errno.AI_MEMORY, `sa_data of ${room} bytes`);
  const bytes = mem.bytes(data, Math.min(room, 14));
  bytes.fill(0);
  bytes[0] = port >> 8;
  bytes[1] = port & 0xff;
  bytes.set(ip, 2);
}

function writeCanonicalName(ctx: KernelContext, record: number, name: string): void {
  const mem = ctx.memory;
  const room = mem.u32(record + Ai.canonnameLen);
  if (room === 0) return; // no buffer: not even the terminating NUL may be written
  const encoded = new TextEncoder().encode(name);
  const n = Math.min(encoded.length, Math.max(0, room - 1));
  const target = mem.bytes(mem.u32(record + Ai.canonname), n + 1);
  target.set(encoded.subarray(0, n));
  target[n] = 0;
}
