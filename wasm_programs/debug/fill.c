// Two builds of one program for diff's instruction search in source terms (docs/divergence.md):
// built with -DCHANGED, square() is off by one at i = 37, and no call shows it, only memory.
#include <time.h>

static int table[100];

__attribute__((noinline)) static int square(int i) {
#ifdef CHANGED
  return i * i + (i == 37);
#else
  return i * i;
#endif
}

__attribute__((noinline)) static void fill(void) {
  for (int i = 0; i < 100; i++) {
    table[i] = square(i);
  }
}

int main(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  fill();
  clock_gettime(CLOCK_MONOTONIC, &t);
  return table[99] == 9801 ? 0 : 1;
}
