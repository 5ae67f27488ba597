// The front of a two-process program: accepts clients on argv[1] (default 80) and forwards each
// connection to a back process (argv[2], default 10.77.0.2 = pid 2 on the same machine, port
// argv[3], default 7), relaying bytes both ways through the machine's NAT.
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "../include/wasi_socket.h"

#define MAX_PAIRS 512

static struct pollfd fds[1 + 2 * MAX_PAIRS];

static void relay_close(int *count, int i) {
  // Pairs sit at (2k+1, 2k+2): close both, move the last pair into the hole.
  int first = i % 2 == 1 ? i : i - 1;
  close(fds[first].fd);
  close(fds[first + 1].fd);
  *count -= 2;
  if (first != *count) {
    fds[first] = fds[*count];
    fds[first + 1] = fds[*count + 1];
  }
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 80;
  unsigned a = 10, b = 77, c = 0, d = 2;
  if (argc > 2) sscanf(argv[2], "%u.%u.%u.%u", &a, &b, &c, &d);
  int back_port = argc > 3 ? atoi(argv[3]) : 7;
  int listener = wasi_tcp_listen(port, 1024);
  if (listener < 0) { perror("listen"); return 1; }
  printf("proxy listening on port %d, forwarding to %u.%u.%u.%u:%d\n", port, a, b, c, d, back_port);
  fflush(stdout);
  int count = 1;
  fds[0] = (struct pollfd){ .fd = listener, .events = POLLIN };
  static char buf[16384];
  for (;;) {
    if (poll(fds, count, -1) < 0) { perror("poll"); return 1; }
    for (int i = count - 1; i >= 1; i--) {
      if (!fds[i].revents) continue;
      int peer = i % 2 == 1 ? i + 1 : i - 1;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      ssize_t done = 0;
      while (n > 0 && done < n) {
        ssize_t w = write(fds[peer].fd, buf + done, (size_t)(n - done));
        if (w <= 0) { n = -1; break; }
        done += w;
      }
      if (n <= 0) {
        relay_close(&count, i);
        if (i % 2 == 0) i--; // its partner (at i - 1) is gone too
      }
    }
    if (fds[0].revents & POLLIN) {
      int client = accept(listener, NULL, NULL);
      if (client < 0) continue;
      int back = count + 2 <= 1 + 2 * MAX_PAIRS ? wasi_tcp_connect((uint8_t)a, (uint8_t)b, (uint8_t)c, (uint8_t)d, back_port) : -1;
      if (back < 0) { perror("connect to back"); close(client); continue; }
      fds[count++] = (struct pollfd){ .fd = client, .events = POLLIN };
      fds[count++] = (struct pollfd){ .fd = back, .events = POLLIN };
    }
  }
}
