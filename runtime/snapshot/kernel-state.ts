// A kernel's state as bytes and back (graph.ts over the kernel's parts). The roots are restored in
// place because the syscall tables' closures hold them; the environment (effects, memory, the
// configuration, the directory trees as loaded) is the new run's own.
import type { Kernel } from '../kernel.js';
import type { FaultInjector } from '../trace/faults.js';
import { kernelClasses } from './classes.js';
import { captureGraph, restoreGraph } from './graph.js';

function roots(kernel: Kernel, faults: FaultInjector): Record<string, object> {
  const parts = kernel.snapshotParts();
  return { fds: parts.fds, clock: parts.clock, virtualClock: parts.virtualClock, random: parts.random, fs: parts.fs, net: parts.net, mounts: parts.mounts, faults };
}

function environment(kernel: Kernel): [object, string][] {
  const parts = kernel.snapshotParts();
  return [
    [kernel, 'kernel'], [kernel.effects, 'effects'], [kernel.config, 'config'], ...(parts.memory ? [[parts.memory, 'memory'] as [object, string]] : []),
    ...parts.mounts.map((m, i): [object, string] => [m.snapshot, `tree ${i}`]),
  ];
}

export function captureKernel(kernel: Kernel, faults: FaultInjector): Uint8Array {
  return captureGraph(roots(kernel, faults), new Map(environment(kernel)), kernelClasses);
}

export function restoreKernel(bytes: Uint8Array, kernel: Kernel, faults: FaultInjector): void {
  restoreGraph(bytes, roots(kernel, faults), new Map(environment(kernel).map(([o, n]) => [n, o])), kernelClasses);
}
