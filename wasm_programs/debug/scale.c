// Two builds of one program whose only difference is one arithmetic line inside a loop (diff's
// instruction range in source lines, tests/diff-source.test.ts): built with -DCHANGED, the store
// in scale()'s loop is off by one at i = 37. No call shows it, only memory; both builds have the
// same line numbers.
#include <time.h>

#ifdef CHANGED
#define BUMP(i) ((i) == 37)
#else
#define BUMP(i) 0
#endif

static int table[100];

__attribute__((noinline)) static void scale(int n) {
  for (int i = 0; i < n; i++) {
    table[i] = i * 3 + BUMP(i);
  }
}

int main(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  scale(100);
  clock_gettime(CLOCK_MONOTONIC, &t);
  return table[99] == 297 ? 0 : 1;
}
