// TCP flood: for each client in turn, writes BLOCK-byte blocks (default 1 MiB) until the client
// goes away, then serves the next. `flood_server PORT [BLOCK] [nonblock]`: with `nonblock` the
// socket is O_NONBLOCK and the first EAGAIN is reported (with the bytes sent before it), then the
// server polls for POLLOUT and carries on. It shows a guest writing to a client that does not
// read: its sends block (or EAGAIN) once the connection's send buffer is full.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "../include/wasi_socket.h"

static void serve(int client, char *block, size_t size, int nonblock) {
  long long sent = 0;
  int reported = 0;
  if (nonblock) fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK);
  for (;;) {
    ssize_t w = write(client, block, size);
    if (w > 0) { sent += w; continue; }
    if (w < 0 && errno == EAGAIN) {
      if (!reported) { printf("EAGAIN after %lld bytes\n", sent); fflush(stdout); reported = 1; }
      struct pollfd p = { .fd = client, .events = POLLOUT };
      if (poll(&p, 1, -1) < 0) break;
      continue;
    }
    break;
  }
  printf("client gone after %lld bytes (%s)\n", sent, strerror(errno));
  fflush(stdout);
  close(client);
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 9;
  size_t size = argc > 2 ? (size_t)atol(argv[2]) : 1 << 20;
  int nonblock = argc > 3 && strcmp(argv[3], "nonblock") == 0;
  int listener = wasi_tcp_listen(port, 16);
  if (listener < 0) { perror("listen"); return 1; }
  char *block = malloc(size);
  if (!block) { perror("malloc"); return 1; }
  for (size_t i = 0; i < size; i++) block[i] = (char)('a' + i % 26);
  printf("flood server listening on port %d\n", port);
  fflush(stdout);
  for (;;) {
    int client = accept(listener, NULL, NULL);
    if (client < 0) { perror("accept"); return 1; }
    serve(client, block, size, nonblock);
  }
}
