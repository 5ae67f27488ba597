// The socket calls wasi-libc lacks for preview1 (socket, bind, listen, connect), imported from
// WasmEdge's socket extension as RepliCode provides them. accept, recv, send, shutdown, poll,
// read and write come from wasi-libc itself. Addresses are IPv4 only.
#ifndef WASI_SOCKET_H
#define WASI_SOCKET_H
#include <errno.h>
#include <stdint.h>

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
#endif
