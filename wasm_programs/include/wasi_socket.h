// The socket calls wasi-libc lacks for preview1 (socket, bind, listen, connect), imported from
// WasmEdge's socket extension as RepliCode provides them. accept, recv, send, shutdown, poll,
// read and write come from wasi-libc itself. Addresses are IPv4 only.
#ifndef WASI_SOCKET_H
#define WASI_SOCKET_H
#include <errno.h>
#include <stdint.h>

#ifdef __wasi__
#define WASI_SOCKET_IMPORT(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))

typedef struct { uint8_t *buf; uint32_t buf_len; } wasi_address_t;

WASI_SOCKET_IMPORT(sock_open) int32_t wasi_sock_open(int32_t address_family, int32_t socket_type, int32_t *fd);
WASI_SOCKET_IMPORT(sock_bind) int32_t wasi_sock_bind(int32_t fd, wasi_address_t *address, int32_t port);
WASI_SOCKET_IMPORT(sock_listen) int32_t wasi_sock_listen(int32_t fd, int32_t backlog);
WASI_SOCKET_IMPORT(sock_connect) int32_t wasi_sock_connect(int32_t fd, wasi_address_t *address, int32_t port);
WASI_SOCKET_IMPORT(sock_getpeeraddr) int32_t wasi_sock_getpeeraddr(int32_t fd, wasi_address_t *address, uint32_t *address_type, uint32_t *port);

enum { WASI_AF_INET4 = 1, WASI_SOCK_STREAM = 2 };

/** A listening TCP socket on 0.0.0.0:port, or -1 with errno set. */
static inline int wasi_tcp_listen(int port, int backlog) {
  int32_t fd;
  uint8_t any[4] = {0, 0, 0, 0};
  wasi_address_t address = {any, 4};
  int32_t err = wasi_sock_open(WASI_AF_INET4, WASI_SOCK_STREAM, &fd);
  if (err == 0) err = wasi_sock_bind(fd, &address, port);
  if (err == 0) err = wasi_sock_listen(fd, backlog);
  if (err != 0) { errno = err; return -1; }
  return fd;
}

/** A TCP connection to a.b.c.d:port, or -1 with errno set. */
static inline int wasi_tcp_connect(uint8_t a, uint8_t b, uint8_t c, uint8_t d, int port) {
  int32_t fd;
  uint8_t ip[4] = {a, b, c, d};
  wasi_address_t address = {ip, 4};
  int32_t err = wasi_sock_open(WASI_AF_INET4, WASI_SOCK_STREAM, &fd);
  if (err == 0) err = wasi_sock_connect(fd, &address, port);
  if (err != 0) { errno = err; return -1; }
  return fd;
}
#else
// Built natively (gcc, for the benchmarks' baseline): the same helpers over POSIX sockets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static inline int wasi_tcp_listen(int port, int backlog) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_ANY)};
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, backlog) < 0) return -1;
  return fd;
}

static inline int wasi_tcp_connect(uint8_t a, uint8_t b, uint8_t c, uint8_t d, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl((uint32_t)a << 24 | (uint32_t)b << 16 | (uint32_t)c << 8 | d)};
  if (fd < 0 || connect(fd, (struct sockaddr *)&s, sizeof s) < 0) return -1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}
#endif
#endif
