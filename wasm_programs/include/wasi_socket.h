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

// ---- UDP and name lookup (wasm only: these programs have no native build) ----
#include <stddef.h>
#include <wasi/api.h>

WASI_SOCKET_IMPORT(sock_recv_from) int32_t wasi_sock_recv_from(int32_t fd, __wasi_iovec_t *iovs, size_t iovs_len, wasi_address_t *address, int32_t riflags, uint32_t *port, size_t *nread, uint16_t *roflags);
WASI_SOCKET_IMPORT(sock_send_to) int32_t wasi_sock_send_to(int32_t fd, const __wasi_ciovec_t *iovs, size_t iovs_len, wasi_address_t *address, int32_t port, int32_t siflags, size_t *nwritten);

/** __wasi_sockaddr_t (12 bytes) and __wasi_addrinfo_t (28 bytes), WasmEdge's layouts. */
typedef struct { uint8_t sa_family; uint32_t sa_data_len; uint8_t *sa_data; } wasi_sockaddr_t;
typedef struct wasi_addrinfo {
  uint16_t ai_flags; uint8_t ai_family; uint8_t ai_socktype; uint8_t ai_protocol;
  uint32_t ai_addrlen; wasi_sockaddr_t *ai_addr; char *ai_canonname; uint32_t ai_canonname_len;
  struct wasi_addrinfo *ai_next;
} wasi_addrinfo_t;
WASI_SOCKET_IMPORT(sock_getaddrinfo) int32_t wasi_sock_getaddrinfo(const char *node, uint32_t node_len, const char *service, uint32_t service_len, const wasi_addrinfo_t *hints, wasi_addrinfo_t **res, uint32_t max_res_len, uint32_t *res_len);

enum { WASI_SOCK_DGRAM = 1, WASI_RO_DATA_TRUNCATED = 1 };

/** A UDP socket bound to 0.0.0.0:port (0: an ephemeral port), or -1 with errno set. */
static inline int wasi_udp_bind(int port) {
  int32_t fd;
  uint8_t any[4] = {0, 0, 0, 0};
  wasi_address_t address = {any, 4};
  int32_t err = wasi_sock_open(WASI_AF_INET4, WASI_SOCK_DGRAM, &fd);
  if (err == 0) err = wasi_sock_bind(fd, &address, port);
  if (err != 0) { errno = err; return -1; }
  return fd;
}

/** One datagram into buf (its sender into ip/port; *truncated if it did not fit): its length, or -1. */
static inline int wasi_udp_recv_from(int fd, void *buf, size_t len, uint8_t ip[4], int *port, int *truncated) {
  uint8_t storage[128] = {0}; // the V2 form: family u16 @0, IPv4 @2
  wasi_address_t address = {storage, sizeof storage};
  __wasi_iovec_t iov = {buf, len};
  uint32_t from_port = 0;
  size_t n = 0;
  uint16_t roflags = 0;
  int32_t err = wasi_sock_recv_from(fd, &iov, 1, &address, 0, &from_port, &n, &roflags);
  if (err != 0) { errno = err; return -1; }
  for (int i = 0; i < 4; i++) ip[i] = storage[2 + i];
  *port = (int)(from_port & 0xffff);
  *truncated = (roflags & WASI_RO_DATA_TRUNCATED) != 0;
  return (int)n;
}

/** One datagram to ip:port: bytes sent, or -1. */
static inline int wasi_udp_send_to(int fd, const void *buf, size_t len, const uint8_t ip[4], int port) {
  uint8_t to[4] = {ip[0], ip[1], ip[2], ip[3]};
  wasi_address_t address = {to, 4};
  __wasi_ciovec_t iov = {buf, len};
  size_t n = 0;
  int32_t err = wasi_sock_send_to(fd, &iov, 1, &address, port, 0, &n);
  if (err != 0) { errno = err; return -1; }
  return (int)n;
}

/** The IPv4 address of `name` (sock_getaddrinfo): 0, or the EAI-style code WasmEdge returns. */
static inline int wasi_resolve_ipv4(const char *name, uint8_t ip[4]) {
  uint8_t data[14] = {0};
  wasi_sockaddr_t sockaddr = {0, sizeof data, data};
  char canon[64] = {0};
  wasi_addrinfo_t result = {0, 0, 0, 0, 0, &sockaddr, canon, sizeof canon, NULL};
  wasi_addrinfo_t hints = {0, WASI_AF_INET4, WASI_SOCK_DGRAM, 0, 0, NULL, NULL, 0, NULL};
  wasi_addrinfo_t *res = &result;
  uint32_t count = 0;
  size_t name_len = 0;
  while (name[name_len]) name_len++;
  int32_t err = wasi_sock_getaddrinfo(name, (uint32_t)name_len, "", 0, &hints, &res, 1, &count);
  if (err != 0) return err;
  if (count < 1) return 84; // EAI_NONAME
  for (int i = 0; i < 4; i++) ip[i] = data[2 + i];
  return 0;
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
