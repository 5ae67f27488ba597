// Many tiny syscalls: each iteration reads the monotonic clock and writes one byte to stdout
// with a raw write(). Measures the cost of crossing into the runtime, not computation.
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 200000;
  uint32_t checksum = 0;
  int64_t last = -1;
  long backwards = 0;
  for (long i = 0; i < iterations; i++) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (t < last) backwards++;
    last = t;
    char c = (char)('a' + i % 26);
    if (write(1, &c, 1) != 1) return 1;
    checksum = checksum * 31 + (uint8_t)c;
  }
  printf("\niterations=%ld checksum=%u clock_backwards=%ld\n", iterations, checksum, backwards);
  return 0;
}
