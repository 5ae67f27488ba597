// A linearizability checker for one key's history, as Knossos and Porcupine do it: Wing & Gong's
// search (take the next operation that may go first, one whose call comes before every pending
// return; backtrack when a return is reached with its operation not yet taken) with Lowe's
// memoization (a set of operations taken plus the model's state is never explored twice).
// Operations whose outcome is unknown (a timeout, a dropped connection) return at infinity: they
// may take effect at any point after their call, or never (placed last, they change nothing seen).
// The search is bounded in steps; past the bound the answer is 'unknown', never a silent pass.

/** One request as the client saw it (times on the client's clock, in ms). */
export interface Op {
  /** The client (a connection at a time) that issued it. */
  client: number;
  key: string;
  f: 'set' | 'get' | 'incr';
  /** SET's value. */
  value?: number;
  /** The reply: a GET's value (null: no such key), an INCR's new value; undefined when unknown. */
  result?: number | null;
  call: number;
  /** When the reply came (Infinity: never, its outcome is unknown). */
  ret: number;
  status: 'ok' | 'info' | 'fail';
  /** Why an 'info' op's outcome is unknown. */
  why?: 'timeout' | 'closed';
}

export type State = number | null;

/** The register model (SET/GET), with INCR as a read-modify-write on it: the next state, or undefined if the op cannot happen here. */
export function step(state: State, op: Op): State | undefined {
  switch (op.f) {
    case 'set': return op.value!;
    case 'get': return op.status !== 'ok' || op.result === state ? state : undefined;
    case 'incr': {
      const next = (state ?? 0) + 1;
      return op.status !== 'ok' || op.result === next ? next : undefined;
    }
  }
}

export interface KeyVerdict {
  key: string;
  ops: number;
  result: 'linearizable' | 'not-linearizable' | 'unknown';
  /** Search steps taken. */
  steps: number;
  /** When not linearizable: the operations around the point the search could not pass. */
  excerpt?: Op[];
}

interface Entry { op: number; call: boolean; time: number; match?: Entry; prev?: Entry; next?: Entry }

export const defaultMaxSteps = 2_000_000;

/** Checks one key's operations (failed ones and GETs of unknown outcome are left out: they change nothing). */
export function checkKey(key: string, all: Op[], maxSteps = defaultMaxSteps): KeyVerdict {
  const ops = all.filter((o) => o.status !== 'fail' && !(o.f === 'get' && o.status !== 'ok'));
  const head = buildList(ops);
  const taken = new Uint32Array(Math.ceil(ops.length / 32));
  const seen = new Set<string>();
  const stack: { entry: Entry; state: State }[] = [];
  let state: State = null;
  let entry = head.next;
  let steps = 0;
  let furthest = 0;
  let stuckAt: Entry | undefined;
  while (head.next) {
    if (++steps > maxSteps) return { key, ops: ops.length, result: 'unknown', steps };
    assert(entry, 'the search ran past the last entry with entries left');
    if (entry.call) {
      const next = step(state, ops[entry.op]!);
      if (next !== undefined) {
        taken[entry.op >> 5]! ^= 1 << (entry.op & 31);
        const memo = `${taken.join(',')}|${next}`;
        if (!seen.has(memo)) {
          seen.add(memo);
          stack.push({ entry, state });
          state = next;
          lift(entry);
          entry = head.next;
          continue;
        }
        taken[entry.op >> 5]! ^= 1 << (entry.op & 31);
      }
      entry = entry.next;
      continue;
    }
    // A return whose operation is not taken: what is taken so far cannot be extended; backtrack.
    if (stack.length >= furthest) { furthest = stack.length; stuckAt = entry; }
    const top = stack.pop();
    if (!top) return { key, ops: ops.length, result: 'not-linearizable', steps, excerpt: around(ops, ops[stuckAt!.op]!) };
    state = top.state;
    taken[top.entry.op >> 5]! ^= 1 << (top.entry.op & 31);
    unlift(top.entry);
    entry = top.entry.next;
  }
  return { key, ops: ops.length, result: 'linearizable', steps };
}

/** Calls and returns in time order (a call before a return at the same instant: they overlap). */
function buildList(ops: Op[]): Entry {
  const entries: Entry[] = [];
  ops.forEach((o, i) => {
    const call: Entry = { op: i, call: true, time: o.call };
    const ret: Entry = { op: i, call: false, time: o.ret };
    call.match = ret;
    entries.push(call, ret);
  });
  entries.sort((a, b) => a.time - b.time || Number(b.call) - Number(a.call));
  const head: Entry = { op: -1, call: false, time: -Infinity };
  let prev = head;
  for (const e of entries) { prev.next = e; e.prev = prev; prev = e; }
  return head;
}

/** Takes an operation out of the list (its call and its return). */
function lift(call: Entry): void {
  for (const e of [call, call.match!]) {
    e.prev!.next = e.next;
    if (e.next) e.next.prev = e.prev;
  }
}

function unlift(call: Entry): void {
  for (const e of [call.match!, call]) {
    e.prev!.next = e;
    if (e.next) e.next.prev = e;
  }
}

/** The operations overlapping `op` or within a few before it, for a report. */
function around(ops: Op[], op: Op, most = 12): Op[] {
  const near = ops.filter((o) => o.ret >= op.call - 1 && o.call <= op.ret).sort((a, b) => a.call - b.call);
  const before = ops.filter((o) => o.ret < op.call - 1).sort((a, b) => b.ret - a.ret).slice(0, 4).reverse();
  return [...before, ...near].slice(0, most);
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`internal error: ${message}`);
}
