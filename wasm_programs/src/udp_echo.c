// A UDP echo server: answers each datagram on its port with "echo " and the datagram, to its
// sender. Usage: udp_echo [PORT (default 9000)] [COUNT: stop after COUNT datagrams].
#include <stdio.h>
#include <stdlib.h>
#include "../include/wasi_socket.h"

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 9000;
  int count = argc > 2 ? atoi(argv[2]) : -1;
  int fd = wasi_udp_bind(port);
  if (fd < 0) { perror("udp_echo: bind"); return 1; }
  printf("udp echo on port %d\n", port);
  fflush(stdout);
  char buf[1500];
  char reply[1600];
  for (int n = 1; count < 0 || n <= count; n++) {
    uint8_t ip[4];
    int from_port, truncated;
    int len = wasi_udp_recv_from(fd, buf, sizeof buf, ip, &from_port, &truncated);
    if (len < 0) { perror("udp_echo: recv_from"); return 1; }
    printf("datagram %d: %d bytes from %d.%d.%d.%d:%d%s\n", n, len, ip[0], ip[1], ip[2], ip[3], from_port, truncated ? " (truncated)" : "");
    fflush(stdout);
    int rlen = snprintf(reply, sizeof reply, "echo %.*s", len, buf);
    if (wasi_udp_send_to(fd, reply, (size_t)rlen, ip, from_port) < 0) { perror("udp_echo: send_to"); return 1; }
  }
  return 0;
}
