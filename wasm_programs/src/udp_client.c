// A UDP client: resolves HOST with sock_getaddrinfo (the machine's fixed table: numbers,
// localhost, --host NAME=IP), sends each MESSAGE as a datagram to HOST:PORT and prints the
// reply. Usage: udp_client HOST PORT MESSAGE...
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../include/wasi_socket.h"

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: udp_client HOST PORT MESSAGE...\n"); return 2; }
  uint8_t ip[4];
  int err = wasi_resolve_ipv4(argv[1], ip);
  if (err != 0) { printf("cannot resolve %s: error %d\n", argv[1], err); return 1; }
  int port = atoi(argv[2]);
  printf("%s is %d.%d.%d.%d\n", argv[1], ip[0], ip[1], ip[2], ip[3]);
  int fd = wasi_udp_bind(0);
  if (fd < 0) { perror("udp_client: bind"); return 1; }
  char buf[1600];
  for (int i = 3; i < argc; i++) {
    if (wasi_udp_send_to(fd, argv[i], strlen(argv[i]), ip, port) < 0) { perror("udp_client: send_to"); return 1; }
    uint8_t from[4];
    int from_port, truncated;
    int len = wasi_udp_recv_from(fd, buf, sizeof buf, from, &from_port, &truncated);
    if (len < 0) { perror("udp_client: recv_from"); return 1; }
    printf("reply from %d.%d.%d.%d:%d: %.*s\n", from[0], from[1], from[2], from[3], from_port, len, buf);
  }
  return 0;
}
