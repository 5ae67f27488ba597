// WasmEdge's socket extension (imported from wasi_snapshot_preview1): sock_open, sock_bind,
// sock_listen, sock_connect, sock_getlocaladdr/getpeeraddr, sock_setsockopt/getsockopt. The
// V1 and V2 forms share names; where their arity differs the missing argument tells them apart.
// Layouts: ../shared/reference/wasi-sockets-abi.md.
import type { KernelContext, SyscallTable } from '../context.js';
import { Errno, WasiError, check } from '../errno.js';
import { readIovecs, type GuestMemory } from '../memory.js';
import { SocketHandle } from './socket.js';
import { DatagramSocket } from './datagram.js';
import { resolveAddrinfo } from './getaddrinfo.js';
import type { NetStack } from './stack.js';
import type { Endpoint } from './types.js';

const AddressFamily = { UNSPEC: 0, INET4: 1, INET6: 2, UNIX: 3 } as const;
const SockType = { ANY: 0, DGRAM: 1, STREAM: 2 } as const;
const SockOpt = { REUSEADDR: 0, TYPE: 1, ERROR: 2, ACCEPTCONN: 13 } as const;
const maxSockOpt = 14;

/** __wasi_address_t { buf u32 @0, buf_len u32 @4 }: 4 bytes IPv4, 16 IPv6, or 128 (V2: family u16 @0, address @2). */
function readAddress(mem: GuestMemory, addrPtr: number): Endpoint['ip'] {
  mem.checkRange(addrPtr, 8);
  const buf = mem.u32(addrPtr);
  const len = mem.u32(addrPtr + 4);
  if (len === 4) {
    const b = mem.bytes(buf, 4);
    return [b[0]!, b[1]!, b[2]!, b[3]!];
  }
  if (len === 128) {
    const family = mem.u16(buf);
    if (family === AddressFamily.INET4) {
      const b = mem.bytes(buf + 2, 4);
      return [b[0]!, b[1]!, b[2]!, b[3]!];
    }
    throw new WasiError(family === AddressFamily.INET6 ? Errno.AFNOSUPPORT : Errno.INVAL, `address family ${family}`);
  }
  if (len === 16) throw new WasiError(Errno.AFNOSUPPORT, 'IPv6 is not on the virtual network');
  throw new WasiError(Errno.INVAL, `address length ${len}`);
}

function writeAddress(mem: GuestMemory, addrPtr: number, ip: Endpoint['ip'], v2: boolean): void {
  mem.checkRange(addrPtr, 8);
  const buf = mem.u32(addrPtr);
  const len = mem.u32(addrPtr + 4);
  if (v2) {
    check(len === 128, Errno.INVAL, `address buffer of ${len} bytes (V2 wants 128)`);
    mem.bytes(buf, 128).fill(0);
    mem.setU16(buf, AddressFamily.INET4);
    mem.write(buf + 2, new Uint8Array(ip));
  } else {
    check(len === 4 || len === 16, Errno.INVAL, `address buffer of ${len} bytes`);
    mem.bytes(buf, len).fill(0);
    mem.write(buf, new Uint8Array(ip));
  }
}

export function netSyscalls(ctx: KernelContext, stack: NetStack): SyscallTable {
  const socket = (fd: number): SocketHandle | DatagramSocket => {
    const h = ctx.fds.get(fd);
    if (!(h instanceof SocketHandle) && !(h instanceof DatagramSocket)) throw new WasiError(Errno.NOTSOCK);
    return h;
  };

  function localOrPeer(which: 'local' | 'peer') {
    return (fd: number, addrPtr: number, a: number, b?: number) => {
      const s = socket(fd);
      const endpoint = which === 'local' ? s.local : s.peer;
      if (!endpoint) throw new WasiError(which === 'local' ? Errno.INVAL : Errno.NOTCONN);
      if (b === undefined) { // V2: (fd, addr_ptr, ro_port_ptr)
        ctx.memory.checkRange(a, 4);
        writeAddress(ctx.memory, addrPtr, endpoint.ip, true);
        ctx.memory.setU32(a, endpoint.port);
      } else { // V1: (fd, addr_ptr, ro_addr_type_ptr, ro_port_ptr); type is 4 or 6
        ctx.memory.checkRange(a, 4);
        ctx.memory.checkRange(b, 4);
        writeAddress(ctx.memory, addrPtr, endpoint.ip, false);
        ctx.memory.setU32(a, 4);
        ctx.memory.setU32(b, endpoint.port);
      }
    };
  }

  return {
    sock_open(af: number, type: number, fdPtr: number) {
      ctx.memory.checkRange(fdPtr, 4);
      if (af === AddressFamily.UNIX) throw new WasiError(Errno.NOSYS, 'AF_UNIX');
      check(af === AddressFamily.INET4 || af === AddressFamily.INET6, Errno.INVAL, `address family ${af}`);
      if (af === AddressFamily.INET6) throw new WasiError(Errno.AFNOSUPPORT, 'IPv6 is not on the virtual network');
      check(type === SockType.STREAM || type === SockType.DGRAM, Errno.INVAL, `socket type ${type}`);
      ctx.memory.setU32(fdPtr, ctx.fds.allocate(type === SockType.DGRAM ? new DatagramSocket(stack) : new SocketHandle(stack)));
    },
    sock_bind(fd: number, addrPtr: number, port: number) {
      check(port >= 0 && port < 65536, Errno.INVAL, `port ${port}`);
      socket(fd).bind(readAddress(ctx.memory, addrPtr), port);
    },
    sock_listen(fd: number, backlog: number) {
      const s = socket(fd);
      if (s instanceof DatagramSocket) throw new WasiError(Errno.NOTSUP, 'listen on a UDP socket');
      s.listen(backlog);
    },
    sock_connect(fd: number, addrPtr: number, port: number) {
      socket(fd).connect(readAddress(ctx.memory, addrPtr), port);
    },
    sock_getlocaladdr: localOrPeer('local'),
    sock_getpeeraddr: localOrPeer('peer'),
    // On a UDP socket: the next datagram and its sender. On a stream socket: recv, and the peer.
    sock_recv_from(fd: number, iovsPtr: number, iovsLen: number, addrPtr: number, riflags: number, a: number, b: number, c?: number) {
      const s = socket(fd);
      const [portPtr, lenPtr, roflagsPtr] = c === undefined ? [undefined, a, b] : [a, b, c];
      ctx.memory.checkRange(lenPtr, 4);
      ctx.memory.checkRange(roflagsPtr, 2);
      if (portPtr !== undefined) ctx.memory.checkRange(portPtr, 2);
      const buffers = readIovecs(ctx.memory, iovsPtr, iovsLen);
      const { bytes, roflags, from } = s instanceof DatagramSocket ? s.recvFrom(buffers, riflags) : { ...s.sockRecv(buffers, riflags), from: s.peer };
      if (from) writeAddress(ctx.memory, addrPtr, from.ip, c !== undefined);
      if (portPtr !== undefined) ctx.memory.setU16(portPtr, from?.port ?? 0);
      ctx.memory.setU32(lenPtr, bytes);
      ctx.memory.setU16(roflagsPtr, roflags);
    },
    // On a UDP socket: one datagram to the address given. On a stream socket the address is ignored (send).
    sock_send_to(fd: number, iovsPtr: number, iovsLen: number, addrPtr: number, port: number, siflags: number, lenPtr: number) {
      const s = socket(fd);
      ctx.memory.checkRange(lenPtr, 4);
      const buffers = readIovecs(ctx.memory, iovsPtr, iovsLen);
      const sent = s instanceof DatagramSocket ? s.sendTo(buffers, { ip: readAddress(ctx.memory, addrPtr), port }, siflags) : s.sockSend(buffers, siflags);
      ctx.memory.setU32(lenPtr, sent);
    },
    sock_getaddrinfo(nodePtr: number, nodeLen: number, servicePtr: number, serviceLen: number, hintsPtr: number, resPtr: number, maxResLen: number, resLenPtr: number) {
      resolveAddrinfo(ctx, { nodePtr, nodeLen, servicePtr, serviceLen, hintsPtr, resPtr, maxResLen, resLenPtr });
    },
    sock_setsockopt(fd: number, level: number, name: number, valuePtr: number, valueLen: number) {
      const s = socket(fd);
      check(level === 0, Errno.NOPROTOOPT, `level ${level}`);
      check(name >= 0 && name <= maxSockOpt, Errno.NOPROTOOPT, `option ${name}`);
      check(valueLen >>> 0 >= 4, Errno.INVAL);
      // Options are kept (and read back) but change nothing on the virtual network.
      s.options.set(name, ctx.memory.u32(valuePtr));
    },
    sock_getsockopt(fd: number, level: number, name: number, valuePtr: number, valueLenPtr: number) {
      const s = socket(fd);
      check(level === 0, Errno.NOPROTOOPT, `level ${level}`);
      check(name >= 0 && name <= maxSockOpt, Errno.NOPROTOOPT, `option ${name}`);
      check(ctx.memory.u32(valueLenPtr) >= 4, Errno.INVAL);
      const datagram = s instanceof DatagramSocket;
      const value = name === SockOpt.TYPE ? (datagram ? SockType.DGRAM : SockType.STREAM)
        : name === SockOpt.ERROR ? (datagram ? 0 : s.takeError())
        : name === SockOpt.ACCEPTCONN ? (s.state === 'listening' ? 1 : 0)
        : s.options.get(name) ?? 0;
      ctx.memory.setU32(valuePtr, value);
      ctx.memory.setU32(valueLenPtr, 4);
    },
  };
}

