// TCP echo server: listens on argv[1] (default 7), echoes every byte back to its sender, serves
// many clients at once with poll(). Stops after argv[2] connections if given (for tests).
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "../include/wasi_socket.h"

#define MAX_CLIENTS 1100

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 7;
  long limit = argc > 2 ? atol(argv[2]) : -1;
  int listener = wasi_tcp_listen(port, 1024);
  if (listener < 0) { perror("listen"); return 1; }
  printf("echo server listening on port %d\n", port);
  fflush(stdout);
  static struct pollfd fds[MAX_CLIENTS + 1];
  int count = 1;
  long accepted = 0, closed = 0, bytes = 0;
  fds[0].fd = listener;
  fds[0].events = POLLIN;
  static char buf[16384];
  while (limit < 0 || closed < limit) {
    if (poll(fds, count, -1) < 0) { perror("poll"); return 1; }
    for (int i = count - 1; i >= 1; i--) {
      if (!fds[i].revents) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        for (ssize_t done = 0; done < n;) {
          ssize_t w = write(fds[i].fd, buf + done, n - done);
          if (w < 0) { n = 0; break; }
          done += w;
        }
        bytes += n;
      }
      if (n <= 0) {
        close(fds[i].fd);
        fds[i] = fds[--count];
        closed++;
      }
    }
    if (fds[0].revents & POLLIN) {
      int client = accept(listener, NULL, NULL);
      if (client >= 0 && count <= MAX_CLIENTS) {
        fds[count].fd = client;
        fds[count].events = POLLIN;
        fds[count].revents = 0;
        count++;
        accepted++;
      } else if (client >= 0) {
        close(client);
      }
    }
  }
  printf("served %ld connections, echoed %ld bytes\n", accepted, bytes);
  return 0;
}
