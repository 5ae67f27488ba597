// args, environment, clocks, randomness, proc_exit/raise, sched_yield.
import type { KernelContext, SyscallTable } from '../context.js';
import { Errno, check } from '../errno.js';
import { ProcessExit } from '../exit.js';
import { utf8Encoder } from '../memory.js';

/** wasi signals whose default action is to be ignored; every other one terminates. */
const ignoredSignals = new Set([16 /* CHLD */, 17 /* CONT */, 18 /* STOP */, 19 /* TSTP */, 20 /* TTIN */, 21 /* TTOU */, 22 /* URG */, 27 /* WINCH */]);
const maxSignal = 30;

export function processSyscalls(ctx: KernelContext): SyscallTable {
  const encodedArgs = ctx.args.map((a) => utf8Encoder.encode(`${a}\0`));
  const encodedEnv = ctx.env.map((e) => utf8Encoder.encode(`${e}\0`));
  return {
    args_sizes_get: (countPtr: number, sizePtr: number) => writeSizes(ctx, encodedArgs, countPtr, sizePtr),
    args_get: (listPtr: number, bufPtr: number) => writeStrings(ctx, encodedArgs, listPtr, bufPtr),
    environ_sizes_get: (countPtr: number, sizePtr: number) => writeSizes(ctx, encodedEnv, countPtr, sizePtr),
    environ_get: (listPtr: number, bufPtr: number) => writeStrings(ctx, encodedEnv, listPtr, bufPtr),
    clock_res_get(clockId: number, resPtr: number) {
      const res = ctx.clock.resolution(clockId);
      ctx.memory.setU64(resPtr, res);
    },
    clock_time_get(clockId: number, _precision: bigint, timePtr: number) {
      ctx.memory.checkRange(timePtr, 8);
      ctx.clock.readInto(clockId, ctx.memory, timePtr);
    },
    random_get(bufPtr: number, bufLen: number) {
      ctx.random.fill(ctx.memory.bytes(bufPtr, bufLen));
    },
    sched_yield() {
      // One process per machine for now: nothing else to run.
    },
    proc_exit(code: number): void {
      throw new ProcessExit(code >>> 0);
    },
    proc_raise(signal: number) {
      check(signal > 0 && signal <= maxSignal, Errno.INVAL, `signal ${signal}`);
      if (ignoredSignals.has(signal)) return;
      // Terminated by a signal: shells report 128 + signal number.
      throw new ProcessExit(128 + signal);
    },
  };
}

function writeSizes(ctx: KernelContext, items: Uint8Array[], countPtr: number, sizePtr: number): void {
  ctx.memory.checkRange(countPtr, 4);
  ctx.memory.checkRange(sizePtr, 4);
  ctx.memory.setU32(countPtr, items.length);
  ctx.memory.setU32(sizePtr, items.reduce((sum, item) => sum + item.length, 0));
}

function writeStrings(ctx: KernelContext, items: Uint8Array[], listPtr: number, bufPtr: number): void {
  ctx.memory.checkRange(listPtr, items.length * 4);
  let at = bufPtr >>> 0;
  items.forEach((item, i) => {
    ctx.memory.write(at, item);
    ctx.memory.setU32(listPtr + i * 4, at);
    at += item.length;
  });
}
