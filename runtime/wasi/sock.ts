// The standard preview1 socket calls. Socket handles (issue: sockets and NAT) override the
// Handle methods; every other handle answers ENOTSOCK through the Handle defaults.
import { Rights } from '../abi.js';
import type { KernelContext, SyscallTable } from '../context.js';
import { readIovecs } from '../memory.js';

export function socketSyscalls(ctx: KernelContext): SyscallTable {
  const { fds } = ctx;
  return {
    sock_accept(fd: number, flags: number, newFdPtr?: number) {
      // WasmEdge's V1 form is sock_accept(fd, ro_fd_ptr): no flags, the new fd blocks.
      if (newFdPtr === undefined) [flags, newFdPtr] = [0, flags];
      const listener = fds.get(fd, Rights.SOCK_ACCEPT);
      ctx.memory.checkRange(newFdPtr, 4);
      const newFd = fds.allocate(listener.sockAccept(flags));
      ctx.memory.setU32(newFdPtr, newFd);
    },
    sock_recv(fd: number, iovsPtr: number, iovsLen: number, riflags: number, lenPtr: number, roflagsPtr: number) {
      const handle = fds.get(fd, Rights.FD_READ);
      ctx.memory.checkRange(lenPtr, 4);
      ctx.memory.checkRange(roflagsPtr, 2);
      const { bytes, roflags } = handle.sockRecv(readIovecs(ctx.memory, iovsPtr, iovsLen), riflags);
      ctx.memory.setU32(lenPtr, bytes);
      ctx.memory.setU16(roflagsPtr, roflags);
    },
    sock_send(fd: number, iovsPtr: number, iovsLen: number, siflags: number, lenPtr: number) {
      const handle = fds.get(fd, Rights.FD_WRITE);
      ctx.memory.checkRange(lenPtr, 4);
      ctx.memory.setU32(lenPtr, handle.sockSend(readIovecs(ctx.memory, iovsPtr, iovsLen), siflags));
    },
    sock_shutdown(fd: number, how: number) {
      fds.get(fd, Rights.SOCK_SHUTDOWN).sockShutdown(how);
    },
  };
}
