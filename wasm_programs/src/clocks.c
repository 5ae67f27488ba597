// Clocks and sleeping: under RepliCode every value printed here is a pure function of the
// configured epoch, because time is virtual (each read ticks 1 us; sleeps jump to the deadline).
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static int64_t ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(void) {
  struct timespec res, now;
  clock_gettime(CLOCK_REALTIME, &now);
  char when[64];
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime(&now.tv_sec));
  printf("realtime: %s UTC\n", when);
  clock_getres(CLOCK_REALTIME, &res);
  printf("realtime_res_ns: %ld\n", res.tv_nsec);
  clock_getres(CLOCK_MONOTONIC, &res);
  printf("monotonic_res_ns: %ld\n", res.tv_nsec);

  int64_t t0 = ns(CLOCK_MONOTONIC);
  struct timespec nap = {1, 500000000};
  nanosleep(&nap, NULL);
  int64_t t1 = ns(CLOCK_MONOTONIC);
  printf("slept_ms: %lld\n", (long long)((t1 - t0) / 1000000));
  usleep(250000);
  int64_t t2 = ns(CLOCK_MONOTONIC);
  printf("slept_ms: %lld\n", (long long)((t2 - t1) / 1000000));
  printf("elapsed_ns: %lld\n", (long long)(t2 - t0));

  int increasing = 1;
  int64_t last = ns(CLOCK_MONOTONIC);
  for (int i = 0; i < 1000; i++) {
    int64_t t = ns(CLOCK_MONOTONIC);
    if (t <= last) increasing = 0;
    last = t;
  }
  printf("monotonic_increasing: %s\n", increasing ? "yes" : "no");
  clock_gettime(CLOCK_REALTIME, &now);
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime(&now.tv_sec));
  printf("realtime_after: %s UTC\n", when);
  return 0;
}
