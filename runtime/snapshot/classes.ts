// Every class a guest process's kernel state may hold, by a stable name (see graph.ts). A class
// added to the kernel and missed here makes taking a snapshot fail loudly (tests/snapshot.test.ts
// takes snapshots of every guest program), never a snapshot that restores wrongly.
import { RealClock, VirtualClock } from '../clock.js';
import { FdTable } from '../fdtable.js';
import { DirectoryHandle } from '../fs/dir-handle.js';
import { FileHandle } from '../fs/file-handle.js';
import { Filesystem } from '../fs/filesystem.js';
import { DatagramSocket } from '../net/datagram.js';
import { SocketHandle } from '../net/socket.js';
import { NetStack, PortSpace } from '../net/stack.js';
import { MachineStdin } from '../net/stdin.js';
import { HostRandom, SeededRandom } from '../prng.js';
import { OutputHandle, StdinHandle } from '../stdio.js';
import { FaultInjector } from '../trace/faults.js';
import { ClassRegistry } from './graph.js';

export const kernelClasses = new ClassRegistry({
  VirtualClock, RealClock, FdTable, DirectoryHandle, FileHandle, Filesystem, DatagramSocket, SocketHandle, NetStack, PortSpace,
  MachineStdin, HostRandom, SeededRandom, OutputHandle, StdinHandle, FaultInjector,
});
