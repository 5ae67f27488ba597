// A threaded C guest against the raw wasi-threads import (Debian's wasi-libc of 2022 has no
// pthreads): _start spawns 4 threads; each adds 1 to a shared counter 20,000 times under a futex
// mutex (memory.atomic.wait32/notify) and prints a line under the same mutex every 5,000; the
// last thread to finish wakes _start, which prints the total (80000). Each line is one fd_write,
// a switch point: the lines interleave the same way in every run under RepliCode's scheduler,
// and differently with another --quantum.
//
// Lines go out with snprintf and write, not printf: wasm-ld 14 wraps every export of a command
// module, wasi_thread_start included, as `f(); __wasm_call_dtors();`, and wasi-libc's dtors flush
// stdout. A thread ending while another is inside printf (paused in its fd_write) would write
// the other's buffered line a second time; with stdout's buffer never used, the flush is empty.
// Build: make -C wasm_programs build/mutex_counter.wasm (the flags are in the Makefile).
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define THREADS 4
#define ADDS 20000
#define PRINT_EVERY 5000
#define STACK_BYTES 16384

__attribute__((import_module("wasi"), import_name("thread-spawn")))
int32_t wasi_thread_spawn(int32_t start_arg);

/** What a thread starts with: the start routine (below, in assembly) sets __stack_pointer to stack_top first. */
struct thread_start {
  void *stack_top;
  int index;
};

static _Alignas(16) unsigned char stacks[THREADS][STACK_BYTES];
static struct thread_start starts[THREADS];
static int32_t mutex;
static int32_t done;
static long counter;

// Drepper's futex mutex ("Futexes Are Tricky"): 0 free, 1 held, 2 held with waiters. Only a
// contended unlock notifies, so a thread that runs alone makes no switch point but its lines.
static void lock(int32_t *m) {
  int32_t c = 0;
  if (__atomic_compare_exchange_n(m, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
  if (c != 2) c = __atomic_exchange_n(m, 2, __ATOMIC_ACQUIRE);
  while (c != 0) {
    // Sleep while another thread holds it; the scheduler runs the holder meanwhile.
    __builtin_wasm_memory_atomic_wait32(m, 2, -1);
    c = __atomic_exchange_n(m, 2, __ATOMIC_ACQUIRE);
  }
}

/** printf as one write(1, ...), bypassing stdout's buffer (see the top). */
__attribute__((format(printf, 1, 2))) static void say(const char *format, ...) {
  char line[128];
  va_list ap;
  va_start(ap, format);
  int n = vsnprintf(line, sizeof line, format, ap);
  va_end(ap);
  if (n > 0) write(1, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void unlock(int32_t *m) {
  if (__atomic_fetch_sub(m, 1, __ATOMIC_RELEASE) != 1) {
    __atomic_store_n(m, 0, __ATOMIC_RELEASE);
    __builtin_wasm_memory_atomic_notify(m, 1);
  }
}

// Called by wasi_thread_start once this thread has its own stack.
void thread_main(int tid, struct thread_start *start) {
  for (int i = 1; i <= ADDS; i++) {
    lock(&mutex);
    counter++;
    if (i % PRINT_EVERY == 0) say("thread %d (tid %d): %d adds, counter %ld\n", start->index, tid, i, counter);
    unlock(&mutex);
  }
  __atomic_fetch_add(&done, 1, __ATOMIC_SEQ_CST);
  __builtin_wasm_memory_atomic_notify(&done, THREADS);
}

// wasi_thread_start(tid, arg) is in thread_start.s: it sets this thread's __stack_pointer, then calls thread_main.

int main(void) {
  for (int i = 0; i < THREADS; i++) {
    starts[i] = (struct thread_start){ .stack_top = stacks[i] + STACK_BYTES, .index = i };
    int32_t tid = wasi_thread_spawn((int32_t)(intptr_t)&starts[i]);
    if (tid < 0) {
      fprintf(stderr, "thread-spawn failed: %d\n", (int)tid);
      return 1;
    }
  }
  for (int32_t d; (d = __atomic_load_n(&done, __ATOMIC_SEQ_CST)) < THREADS;) __builtin_wasm_memory_atomic_wait32(&done, d, -1);
  lock(&mutex);
  say("total %ld (expected %d)\n", counter, THREADS * ADDS);
  unlock(&mutex);
  return counter == THREADS * ADDS ? 0 : 1;
}
