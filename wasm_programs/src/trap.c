// Traps three calls deep, so the runtime's report can show the guest's wasm stack by name.
#include <stdio.h>

__attribute__((noinline)) static void crash_here(int depth) {
  if (depth >= 0) __builtin_trap();
}

__attribute__((noinline)) static void level_two(int depth) {
  crash_here(depth + 1);
  puts("not reached");
}

__attribute__((noinline)) static void level_one(int depth) {
  level_two(depth + 1);
  puts("not reached");
}

int main(int argc, char **argv) {
  (void)argv;
  puts("about to trap");
  fflush(stdout);
  level_one(argc);
  return 0;
}
