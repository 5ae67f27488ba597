// poll_oneoff: fd readiness now, else virtual time jumps to the earliest clock deadline, else
// block on the one kind of handle that can make the guest wait (stdin, later sockets).
import { EventLayout, EventRwFlags, EventType, SubscriptionLayout, SubclockFlags, Rights, type PollEvent, type Subscription } from '../abi.js';
import type { KernelContext, SyscallTable } from '../context.js';
import { Errno, WasiError, check, toErrno } from '../errno.js';
import type { Handle } from '../handle.js';
import { StdinHandle } from '../stdio.js';
import { SnapshotRequest } from '../snapshot/abi.js';

/** Bound on subscriptions per call (the array must also fit in guest memory). */
export const maxPollSubscriptions = 4096;
/** Bound on block-and-recheck rounds; each round waits for stdin to change state. */
const maxBlockingRounds = 1_000_000;

export function pollSyscalls(ctx: KernelContext): SyscallTable {
  return {
    poll_oneoff(inPtr: number, outPtr: number, nsubscriptions: number, neventsPtr: number) {
      const count = nsubscriptions >>> 0;
      check(count > 0 && count <= maxPollSubscriptions, Errno.INVAL, `${count} subscriptions`);
      ctx.memory.checkRange(inPtr, count * SubscriptionLayout.size);
      ctx.memory.checkRange(outPtr, count * EventLayout.size);
      ctx.memory.checkRange(neventsPtr, 4);
      const subs = Array.from({ length: count }, (_, i) => SubscriptionLayout.read(ctx.memory, inPtr + i * SubscriptionLayout.size));
      const events = pollUntilEvents(ctx, subs);
      events.forEach((event, i) => EventLayout.write(ctx.memory, outPtr + i * EventLayout.size, event));
      ctx.memory.setU32(neventsPtr, events.length);
    },
  };
}

type AnySubscription = ReturnType<typeof SubscriptionLayout.read>;

function pollUntilEvents(ctx: KernelContext, subs: AnySubscription[]): PollEvent[] {
  // Relative timeouts count from the call, so deadlines are fixed once, before time moves (and a
  // poll resumed after a snapshot taken while it waited keeps them: NetStack.resuming).
  const resumed = ctx.net.resuming && ctx.net.pollDeadlines !== undefined;
  const deadlines = resumed ? ctx.net.pollDeadlines as ClockDeadline[] : clockDeadlines(ctx, subs);
  ctx.net.pollDeadlines = deadlines;
  try {
    const events = pollLoop(ctx, subs, deadlines);
    ctx.net.pollDeadlines = undefined;
    return events;
  } catch (err) {
    if (!(err instanceof SnapshotRequest)) ctx.net.pollDeadlines = undefined;
    throw err;
  }
}

function pollLoop(ctx: KernelContext, subs: AnySubscription[], deadlines: ClockDeadline[]): PollEvent[] {
  const onNetwork = waitsOnNetwork(ctx, subs);
  for (let round = 0; round < maxBlockingRounds; round++) {
    const ready = fdEvents(ctx, subs);
    if (ready.length > 0) return ready.concat(expiredClocks(ctx, deadlines));
    const expired = expiredClocks(ctx, deadlines);
    if (expired.length > 0) return expired;
    const deadline = earliestDeadline(deadlines);
    if (onNetwork) {
      // Sockets change only when the machine delivers; it wakes us by the deadline at the latest.
      ctx.net.wait(deadline ?? null);
      continue;
    }
    if (deadline !== undefined) {
      ctx.clock.advanceTo(deadline);
      return expiredClocks(ctx, deadlines);
    }
    waitForAnyFd(ctx, subs);
  }
  throw new WasiError(Errno.INTR, 'poll_oneoff woke too many times');
}

function fdEvents(ctx: KernelContext, subs: AnySubscription[]): PollEvent[] {
  const events: PollEvent[] = [];
  for (const sub of subs) {
    if ('invalid' in sub) {
      events.push({ userdata: sub.userdata, error: Errno.INVAL, type: sub.type, nbytes: 0n, flags: 0 });
      continue;
    }
    if (sub.type === EventType.CLOCK) continue;
    const event = fdEvent(ctx, sub);
    if (event) events.push(event);
  }
  return events;
}

function fdEvent(ctx: KernelContext, sub: Extract<Subscription, { fd: number }>): PollEvent | undefined {
  let handle: Handle;
  try {
    handle = ctx.fds.get(sub.fd, Rights.POLL_FD_READWRITE);
  } catch (err) {
    return { userdata: sub.userdata, error: toErrno(err), type: sub.type, nbytes: 0n, flags: 0 };
  }
  const readiness = sub.type === EventType.FD_READ ? handle.pollRead() : handle.pollWrite();
  if (!readiness.ready) return undefined;
  return {
    userdata: sub.userdata, error: Errno.SUCCESS, type: sub.type, nbytes: readiness.nbytes,
    flags: readiness.hangup ? EventRwFlags.HANGUP : 0,
  };
}

/** A clock subscription's monotonic deadline, or the errno its clock id earns. */
type ClockDeadline = { userdata: bigint; deadline: bigint } | { userdata: bigint; error: number };

function clockDeadlines(ctx: KernelContext, subs: AnySubscription[]): ClockDeadline[] {
  const out: ClockDeadline[] = [];
  for (const sub of subs) {
    if ('invalid' in sub || sub.type !== EventType.CLOCK) continue;
    try {
      const absolute = (sub.flags & SubclockFlags.ABSTIME) !== 0;
      out.push({ userdata: sub.userdata, deadline: ctx.clock.deadline(sub.clockId, sub.timeout, absolute) });
    } catch (err) {
      out.push({ userdata: sub.userdata, error: toErrno(err) });
    }
  }
  return out;
}

function earliestDeadline(deadlines: ClockDeadline[]): bigint | undefined {
  let earliest: bigint | undefined;
  for (const d of deadlines) {
    if ('error' in d) return 0n; // a bad clock id is reported at once
    if (earliest === undefined || d.deadline < earliest) earliest = d.deadline;
  }
  return earliest;
}

function expiredClocks(ctx: KernelContext, deadlines: ClockDeadline[]): PollEvent[] {
  const events: PollEvent[] = [];
  for (const d of deadlines) {
    if ('deadline' in d && d.deadline > ctx.clock.monotonicNs) continue;
    events.push({ userdata: d.userdata, error: 'error' in d ? d.error : Errno.SUCCESS, type: EventType.CLOCK, nbytes: 0n, flags: 0 });
  }
  return events;
}

/** Does any subscription watch a socket or the machine's stdin (which only the machine's deliveries change)? */
function waitsOnNetwork(ctx: KernelContext, subs: AnySubscription[]): boolean {
  return subs.some((sub) => !('invalid' in sub) && sub.type !== EventType.CLOCK && ctx.fds.has(sub.fd) && ctx.fds.get(sub.fd).waitsOnNetwork);
}

/** Nothing ready and no clock: block until a waitable fd (stdin) changes state. */
function waitForAnyFd(ctx: KernelContext, subs: AnySubscription[]): void {
  for (const sub of subs) {
    if ('invalid' in sub || sub.type !== EventType.FD_READ) continue;
    const handle = ctx.fds.get(sub.fd);
    if (handle instanceof StdinHandle) {
      handle.waitReadable();
      return;
    }
  }
  // Nothing that can ever become ready: waiting would hang the guest forever.
  throw new WasiError(Errno.INVAL, 'poll_oneoff would wait forever');
}
