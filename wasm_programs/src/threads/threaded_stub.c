// Links a single-threaded program (sha256.c) as a wasi-threads module, for bench/threads.ts: the
// module imports wasi.thread-spawn and exports wasi_thread_start, so RepliCode runs it under the
// scheduler with the quantum's hooks (one thread: every quantum's yield keeps the turn). Never
// called with -1, so never spawns.
#include <stdint.h>

__attribute__((import_module("wasi"), import_name("thread-spawn")))
int32_t wasi_thread_spawn(int32_t start_arg);

void wasi_thread_start(int32_t tid, int32_t arg) {
  if (arg == -1) wasi_thread_spawn(tid);
}
