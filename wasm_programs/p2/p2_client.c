// A wasi:sockets client, in C against WASI 0.2 directly (no libc, no adapter; the canonical ABI
// lowered by hand as in p2_echo_server.c): `p2_client HOST PORT MESSAGE` looks HOST up, connects
// (start-connect, then finish-connect until it stops saying would-block), sends MESSAGE, shuts
// its side down and prints the reply; connects to PORT+1 (no one listens: connection-refused);
// then a UDP round trip inside the process: a socket on UDP port 9 answers `pong` to a `ping`
// from a second, connected socket, then a burst of 70 datagrams (RepliCode sends and receives at
// most 64 per call). Built by `make -C wasm_programs p2-components`.
#include <stddef.h>
#include <stdint.h>

#define V "@0.2.12"
#define IMPORT(module, name) __attribute__((import_module(module V), import_name(name)))

typedef int32_t handle;
typedef struct { const uint8_t *ptr; uint32_t len; } string;
typedef struct { uint8_t tag; uint8_t code; } unit_result;                 // result<_, error-code>
typedef struct { uint8_t tag; handle val; } handle_result;                 // result<own<T>, error-code>
typedef struct { uint8_t tag; handle a, b; } pair_result;                  // result<tuple<own, own>, error-code>
typedef struct { uint8_t tag; uint8_t *ptr; uint32_t len; } bytes_result;  // result<list<u8>, stream-error>
typedef struct { uint8_t tag; uint64_t val; } u64_result;                  // result<u64, error-code>: the u64 @8
// result<option<ip-address>, error-code>: the option's case @2, the address's case @4, an ipv4 address @6.
typedef struct { uint8_t tag, pad, some, pad2, kind, pad3; uint8_t ip[4]; uint8_t rest[12]; } next_address_result;
// ip-socket-address, 32 bytes: its case @0; an ipv4 port @4 and address @6.
typedef struct { uint8_t kind, pad[3]; uint16_t port; uint8_t ip[4]; uint8_t rest[22]; } socket_address;
// outgoing-datagram, 44 bytes: data @0, option<ip-socket-address> (case @8, address @12).
typedef struct { const uint8_t *data; uint32_t len; uint8_t some, pad[3]; socket_address to; } outgoing_datagram;
// incoming-datagram, 40 bytes: data @0, its sender @8.
typedef struct { uint8_t *data; uint32_t len; socket_address from; } incoming_datagram;

#define ADDRESS_SLOTS int32_t kind, int32_t port, int32_t a0, int32_t a1, int32_t a2, int32_t a3, \
  int32_t p6, int32_t p7, int32_t p8, int32_t p9, int32_t p10, int32_t p11
#define IPV4(ip, port) 0, (int32_t)(port), ip[0], ip[1], ip[2], ip[3], 0, 0, 0, 0, 0, 0

IMPORT("wasi:sockets/instance-network", "instance-network") handle instance_network(void);
IMPORT("wasi:sockets/network", "[resource-drop]network") void drop_network(handle self);
IMPORT("wasi:sockets/ip-name-lookup", "resolve-addresses") void resolve_addresses(handle network, const uint8_t *name, uint32_t len, handle_result *ret);
IMPORT("wasi:sockets/ip-name-lookup", "[method]resolve-address-stream.resolve-next-address") void resolve_next_address(handle self, next_address_result *ret);
IMPORT("wasi:sockets/ip-name-lookup", "[resource-drop]resolve-address-stream") void drop_resolve_stream(handle self);
IMPORT("wasi:sockets/tcp-create-socket", "create-tcp-socket") void create_tcp_socket(int32_t family, handle_result *ret);
IMPORT("wasi:sockets/tcp", "[method]tcp-socket.start-connect") void start_connect(handle self, handle network, ADDRESS_SLOTS, unit_result *ret);
IMPORT("wasi:sockets/tcp", "[method]tcp-socket.finish-connect") void finish_connect(handle self, pair_result *ret);
IMPORT("wasi:sockets/tcp", "[method]tcp-socket.shutdown") void shutdown(handle self, int32_t how, unit_result *ret);
IMPORT("wasi:sockets/tcp", "[method]tcp-socket.subscribe") handle tcp_subscribe(handle self);
IMPORT("wasi:sockets/tcp", "[resource-drop]tcp-socket") void drop_tcp_socket(handle self);
IMPORT("wasi:sockets/udp-create-socket", "create-udp-socket") void create_udp_socket(int32_t family, handle_result *ret);
IMPORT("wasi:sockets/udp", "[method]udp-socket.start-bind") void udp_start_bind(handle self, handle network, ADDRESS_SLOTS, unit_result *ret);
IMPORT("wasi:sockets/udp", "[method]udp-socket.finish-bind") void udp_finish_bind(handle self, unit_result *ret);
// stream's option<ip-socket-address> flattens to its case, then the address's 12 slots.
IMPORT("wasi:sockets/udp", "[method]udp-socket.stream") void udp_stream(handle self, int32_t some, ADDRESS_SLOTS, pair_result *ret);
IMPORT("wasi:sockets/udp", "[method]incoming-datagram-stream.receive") void udp_receive(handle self, int64_t max, bytes_result *ret);
IMPORT("wasi:sockets/udp", "[method]incoming-datagram-stream.subscribe") handle udp_subscribe(handle self);
IMPORT("wasi:sockets/udp", "[method]outgoing-datagram-stream.check-send") void udp_check_send(handle self, u64_result *ret);
IMPORT("wasi:sockets/udp", "[method]outgoing-datagram-stream.send") void udp_send(handle self, const outgoing_datagram *list, uint32_t len, u64_result *ret);
IMPORT("wasi:sockets/udp", "[resource-drop]udp-socket") void drop_udp_socket(handle self);
IMPORT("wasi:sockets/udp", "[resource-drop]incoming-datagram-stream") void drop_incoming(handle self);
IMPORT("wasi:sockets/udp", "[resource-drop]outgoing-datagram-stream") void drop_outgoing(handle self);
IMPORT("wasi:io/poll", "[method]pollable.block") void block(handle self);
IMPORT("wasi:io/poll", "[resource-drop]pollable") void drop_pollable(handle self);
IMPORT("wasi:io/streams", "[method]input-stream.blocking-read") void blocking_read(handle self, int64_t len, bytes_result *ret);
IMPORT("wasi:io/streams", "[method]output-stream.blocking-write-and-flush") void write_and_flush(handle self, const uint8_t *ptr, uint32_t len, bytes_result *ret);
IMPORT("wasi:io/streams", "[resource-drop]input-stream") void drop_input_stream(handle self);
IMPORT("wasi:io/streams", "[resource-drop]output-stream") void drop_output_stream(handle self);
IMPORT("wasi:io/error", "[resource-drop]error") void drop_error(handle self);
IMPORT("wasi:cli/stdout", "get-stdout") handle get_stdout(void);
IMPORT("wasi:cli/environment", "get-arguments") void get_arguments(string *ret);

static uint8_t arena[256 * 1024];
static size_t used;

__attribute__((export_name("cabi_realloc")))
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t size) {
  size_t at = (used + align - 1) & ~(align - 1);
  if (at + size > sizeof arena) __builtin_trap();
  uint8_t *p = arena + at;
  for (size_t i = 0; old && i < old_size && i < size; i++) p[i] = ((uint8_t *)old)[i];
  used = at + size;
  return p;
}

static handle out;
static char line[512];
static uint32_t n;

static void text(const char *s) { while (*s && n < sizeof line - 1) line[n++] = *s++; }
static void bytes(const uint8_t *p, uint32_t len) { for (uint32_t i = 0; i < len && n < sizeof line - 1; i++) line[n++] = (char)p[i]; }
static void number(long v) {
  char digits[24];
  uint32_t k = 0;
  do { digits[k++] = (char)('0' + v % 10); v /= 10; } while (v > 0);
  while (k && n < sizeof line - 1) line[n++] = digits[--k];
}
static void address(const uint8_t ip[4], long port) {
  for (int b = 0; b < 4; b++) { number(ip[b]); if (b < 3) text("."); }
  text(":");
  number(port);
}
static void flush_line(void) {
  line[n++] = '\n';
  bytes_result r;
  write_and_flush(out, (const uint8_t *)line, n, &r);
  if (r.tag) __builtin_trap();
  n = 0;
}

static long parse(string s) {
  long v = 0;
  for (uint32_t i = 0; i < s.len; i++) v = v * 10 + (s.ptr[i] - '0');
  return v;
}

/** Connects to ip:port: 0 and the streams, or the error-code (+1). */
static int connect_to(handle network, const uint8_t ip[4], long port, handle *sock, pair_result *streams) {
  handle_result created;
  create_tcp_socket(0, &created);
  if (created.tag) return 1 + (uint8_t)created.val;
  *sock = created.val;
  unit_result r;
  start_connect(*sock, network, IPV4(ip, port), &r);
  if (r.tag) return 1 + r.code;
  for (;;) {
    finish_connect(*sock, streams);
    if (!streams->tag) return 0;
    if ((uint8_t)streams->a != 8 /* would-block */) return 1 + (uint8_t)streams->a;
    handle ready = tcp_subscribe(*sock);
    block(ready);
    drop_pollable(ready);
  }
}

static void tcp(handle network, const uint8_t ip[4], long port, string message) {
  handle sock;
  pair_result streams;
  int failed = connect_to(network, ip, port, &sock, &streams);
  if (failed) { text("connect failed: error-code "); number(failed - 1); flush_line(); return; }
  text("connected to ");
  address(ip, port);
  flush_line();
  bytes_result w;
  write_and_flush(streams.b, message.ptr, message.len, &w);
  unit_result r;
  shutdown(sock, 1 /* send */, &r);
  text("reply: ");
  for (;;) {
    bytes_result got;
    blocking_read(streams.a, 4096, &got);
    if (got.tag) {
      if ((uint8_t)(uintptr_t)got.ptr == 0) drop_error((handle)got.len);
      break;
    }
    bytes(got.ptr, got.len);
  }
  flush_line();
  drop_input_stream(streams.a);
  drop_output_stream(streams.b);
  drop_tcp_socket(sock);

  failed = connect_to(network, ip, port + 1, &sock, &streams);
  text("port ");
  number(port + 1);
  text(failed ? ": error-code " : ": connected");
  if (failed) number(failed - 1);
  flush_line();
  drop_tcp_socket(sock);
}

/** A UDP socket bound to 0.0.0.0:port, and its streams (connected to `to` when given). */
static handle udp_socket(handle network, long port, const uint8_t *to, long to_port, pair_result *streams) {
  static const uint8_t any[4] = { 0, 0, 0, 0 };
  handle_result created;
  create_udp_socket(0, &created);
  if (created.tag) __builtin_trap();
  unit_result r;
  udp_start_bind(created.val, network, IPV4(any, port), &r);
  if (!r.tag) udp_finish_bind(created.val, &r);
  if (r.tag) __builtin_trap();
  if (to) udp_stream(created.val, 1, IPV4(to, to_port), streams);
  else udp_stream(created.val, 0, IPV4(any, 0), streams);
  if (streams->tag) __builtin_trap();
  return created.val;
}

/** Waits for one datagram on `incoming` and prints it. */
static incoming_datagram *receive_one(handle incoming, const char *who) {
  bytes_result got;
  for (;;) {
    udp_receive(incoming, 4, &got);
    if (got.tag) __builtin_trap();
    if (got.len > 0) break;
    handle ready = udp_subscribe(incoming);
    block(ready);
    drop_pollable(ready);
  }
  incoming_datagram *d = (incoming_datagram *)got.ptr;
  text(who);
  text(" got \"");
  bytes(d->data, d->len);
  text("\" from ");
  address(d->from.ip, d->from.port);
  flush_line();
  return d;
}

static void udp(handle network) {
  static const uint8_t loopback[4] = { 127, 0, 0, 1 };
  pair_result server, client;
  handle a = udp_socket(network, 9, 0, 0, &server);
  handle b = udp_socket(network, 0, loopback, 9, &client);
  u64_result permit;
  udp_check_send(client.b, &permit);
  outgoing_datagram ping = { (const uint8_t *)"ping", 4, 0, { 0 }, { 0 } };
  u64_result sent;
  udp_send(client.b, &ping, 1, &sent);
  text("udp: check-send ");
  number((long)permit.val);
  text(", sent ");
  number(sent.tag ? -1 : (long)sent.val);
  flush_line();
  incoming_datagram *d = receive_one(server.a, "port 9");
  outgoing_datagram pong = { (const uint8_t *)"pong", 4, 1, { 0 }, { 0 } };
  pong.to = d->from;
  udp_send(server.b, &pong, 1, &sent);
  receive_one(client.a, "client");

  // RepliCode's bound, 64 datagrams per send and per receive: 70 go as 64 + 6, and 64 come back first.
  static outgoing_datagram burst[70];
  for (int i = 0; i < 70; i++) burst[i] = (outgoing_datagram){ (const uint8_t *)"x", 1, 0, { 0 }, { 0 } };
  u64_result first, rest;
  udp_send(client.b, burst, 70, &first);
  udp_send(client.b, burst, 70 - (uint32_t)first.val, &rest);
  handle ready = udp_subscribe(server.a);
  block(ready);
  drop_pollable(ready);
  bytes_result got;
  udp_receive(server.a, 1000, &got);
  text("udp: 70 datagrams sent as ");
  number((long)first.val);
  text(" + ");
  number((long)rest.val);
  text(", received ");
  number(got.tag ? -1 : (long)got.len);
  text(" by one receive");
  flush_line();
  drop_incoming(server.a); drop_outgoing(server.b); drop_udp_socket(a);
  drop_incoming(client.a); drop_outgoing(client.b); drop_udp_socket(b);
}

__attribute__((export_name("wasi:cli/run" V "#run")))
int32_t run(void) {
  out = get_stdout();
  string args;
  get_arguments(&args);
  const string *argv = (const string *)args.ptr;
  if (args.len < 4) { text("usage: p2_client HOST PORT MESSAGE"); flush_line(); return 1; }
  handle network = instance_network();
  handle_result r;
  resolve_addresses(network, argv[1].ptr, argv[1].len, &r);
  next_address_result next = { 0 };
  if (!r.tag) { resolve_next_address(r.val, &next); drop_resolve_stream(r.val); }
  if (r.tag || next.tag || !next.some) { text("cannot resolve "); bytes(argv[1].ptr, argv[1].len); flush_line(); return 1; }
  tcp(network, next.ip, parse(argv[2]), argv[3]);
  udp(network);
  drop_network(network);
  drop_output_stream(out);
  return 0;
}
