// A TCP echo server written against WASI 0.2 directly (wasi:sockets, wasi:io, wasi:cli), with no
// libc and no preview1 adapter: the canonical ABI lowered by hand (layouts below, from the
// component model's flattening rules). Listens on argv[1] (default 7), serves many clients at
// once with wasi:io/poll, says who connected, and stops after argv[2] closed connections if
// given. First it looks up argv[3] (default localhost) with wasi:sockets/ip-name-lookup, and asks
// for an ipv6 socket (RepliCode answers not-supported). Built by `make -C wasm_programs p2_echo_server` into build/p2_echo_server.component.wasm.
#include <stddef.h>
#include <stdint.h>

#define V "@0.2.12"
#define IMPORT(module, name) __attribute__((import_module(module V), import_name(name)))

typedef int32_t handle;

// Results come back through a pointer: a u8 tag, then the payload at its alignment.
typedef struct { uint8_t tag; uint8_t code; } unit_result;                     // result<_, error-code>
typedef struct { uint8_t tag; handle val; } handle_result;                     // result<own<T>, error-code>
typedef struct { uint8_t tag; handle sock, in, out; } accept_result;           // result<tuple<own x3>, error-code>
// result<ip-socket-address, error-code>: the variant's case @4, an ipv4 port @8 and address @10.
typedef struct { uint8_t tag, pad[3], kind, pad2[3]; uint16_t port; uint8_t ip[4]; uint8_t rest[22]; } address_result;
typedef struct { uint8_t tag; uint8_t *ptr; uint32_t len; } bytes_result;      // result<list<u8>, stream-error>: err is {u8 kind @4, own<error> @8}
typedef struct { const uint8_t *ptr; uint32_t len; } string;

IMPORT("wasi:sockets/instance-network", "instance-network") handle instance_network(void);
IMPORT("wasi:sockets/tcp-create-socket", "create-tcp-socket") void create_tcp_socket(int32_t family, handle_result *ret);
// start-bind's ip-socket-address flattens to a discriminant and the 11 slots of its widest case (ipv6).
IMPORT("wasi:sockets/tcp", "[method]tcp-socket.start-bind") void start_bind(handle self, handle network, int32_t kind,
  int32_t port, int32_t a0, int32_t a1, int32_t a2, int32_t a3, int32_t p6, int32_t p7, int32_t p8, int32_t p9, int32_t p10, int32_t p11,
  unit_result *ret);
IMPORT("wasi:sockets/tcp", "[method]tcp-socket.finish-bind") void finish_bind(handle self, unit_result *ret);
IMPORT("wasi:sockets/tcp", "[method]tcp-socket.start-listen") void start_listen(handle self, unit_result *ret);
IMPORT("wasi:sockets/tcp", "[method]tcp-socket.finish-listen") void finish_listen(handle self, unit_result *ret);
IMPORT("wasi:sockets/tcp", "[method]tcp-socket.set-listen-backlog-size") void set_backlog(handle self, int64_t size, unit_result *ret);
IMPORT("wasi:sockets/tcp", "[method]tcp-socket.accept") void accept(handle self, accept_result *ret);
IMPORT("wasi:sockets/tcp", "[method]tcp-socket.remote-address") void remote_address(handle self, address_result *ret);
IMPORT("wasi:sockets/tcp", "[method]tcp-socket.subscribe") handle tcp_subscribe(handle self);
IMPORT("wasi:sockets/tcp", "[resource-drop]tcp-socket") void drop_tcp_socket(handle self);
IMPORT("wasi:sockets/network", "[resource-drop]network") void drop_network(handle self);
// result<option<ip-address>, error-code>: the option's case @2, the address's case @4, an ipv4 address @6.
typedef struct { uint8_t tag, pad, some, pad2, kind, pad3; uint8_t ip[4]; uint8_t rest[12]; } next_address_result;
IMPORT("wasi:sockets/ip-name-lookup", "resolve-addresses") void resolve_addresses(handle network, const uint8_t *name, uint32_t len, handle_result *ret);
IMPORT("wasi:sockets/ip-name-lookup", "[method]resolve-address-stream.resolve-next-address") void resolve_next_address(handle self, next_address_result *ret);
IMPORT("wasi:sockets/ip-name-lookup", "[resource-drop]resolve-address-stream") void drop_resolve_stream(handle self);
IMPORT("wasi:io/poll", "poll") void poll(const handle *list, uint32_t len, string *ret);
IMPORT("wasi:io/poll", "[resource-drop]pollable") void drop_pollable(handle self);
IMPORT("wasi:io/streams", "[method]input-stream.read") void stream_read(handle self, int64_t len, bytes_result *ret);
IMPORT("wasi:io/streams", "[method]input-stream.subscribe") handle input_subscribe(handle self);
IMPORT("wasi:io/streams", "[method]output-stream.blocking-write-and-flush") void write_and_flush(handle self, const uint8_t *ptr, uint32_t len, bytes_result *ret);
IMPORT("wasi:io/streams", "[resource-drop]input-stream") void drop_input_stream(handle self);
IMPORT("wasi:io/streams", "[resource-drop]output-stream") void drop_output_stream(handle self);
IMPORT("wasi:io/error", "[resource-drop]error") void drop_error(handle self);
IMPORT("wasi:cli/stdout", "get-stdout") handle get_stdout(void);
IMPORT("wasi:cli/environment", "get-arguments") void get_arguments(string *ret);

// Lists the host returns are allocated here; the arena is emptied once per turn of the loop.
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

static void say(const char *text, uint32_t len) {
  bytes_result r;
  write_and_flush(out, (const uint8_t *)text, len, &r);
  if (r.tag) __builtin_trap();
}

static uint32_t format(char *to, long n) {
  char digits[24];
  uint32_t k = 0, len = 0;
  do { digits[k++] = (char)('0' + n % 10); n /= 10; } while (n > 0);
  while (k) to[len++] = digits[--k];
  return len;
}

static uint32_t append(char *to, uint32_t at, const char *text) {
  while (*text) to[at++] = *text++;
  return at;
}

static long number(string s, long fallback) {
  if (s.len == 0) return fallback;
  long n = 0;
  for (uint32_t i = 0; i < s.len; i++) {
    if (s.ptr[i] < '0' || s.ptr[i] > '9') return fallback;
    n = n * 10 + (s.ptr[i] - '0');
  }
  return n;
}

#define MAX_CLIENTS 64

struct client { handle sock, in, out, ready; };

static int fail(const char *what, uint8_t code) {
  char line[96];
  uint32_t n = append(line, 0, "echo: ");
  n = append(line, n, what);
  n = append(line, n, " failed: error-code ");
  n += format(line + n, code);
  line[n++] = '\n';
  say(line, n);
  return 1;
}

static void close_client(struct client *c) {
  drop_pollable(c->ready);
  drop_input_stream(c->in);
  drop_output_stream(c->out);
  drop_tcp_socket(c->sock);
}

/** Prints NAME's first address, or the error-code of its lookup. */
static void lookup(handle network, string name) {
  char line[160];
  uint32_t n = 0;
  for (uint32_t i = 0; i < name.len && i < 64; i++) line[n++] = (char)name.ptr[i];
  handle_result r;
  resolve_addresses(network, name.ptr, name.len, &r);
  next_address_result next = { 0 };
  if (!r.tag) {
    resolve_next_address(r.val, &next);
    drop_resolve_stream(r.val);
  }
  if (r.tag || next.tag) {
    n = append(line, n, " does not resolve: error-code ");
    n += format(line + n, r.tag ? (uint8_t)r.val : next.some);
  } else if (next.some && next.kind == 0) {
    n = append(line, n, " is ");
    for (int b = 0; b < 4; b++) { n += format(line + n, next.ip[b]); if (b < 3) line[n++] = '.'; }
  } else {
    n = append(line, n, " has no ipv4 address");
  }
  line[n++] = '\n';
  say(line, n);
}

static int serve(long port, long limit, string name) {
  handle network = instance_network();
  lookup(network, name);
  handle_result created;
  create_tcp_socket(1 /* ipv6 */, &created);
  if (created.tag) fail("create-tcp-socket(ipv6)", (uint8_t)created.val);
  else drop_tcp_socket(created.val);
  create_tcp_socket(0 /* ipv4 */, &created);
  if (created.tag) return fail("create-tcp-socket", (uint8_t)created.val);
  handle listener = created.val;
  unit_result r;
  start_bind(listener, network, 0, (int32_t)port, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, &r);
  if (!r.tag) finish_bind(listener, &r);
  if (r.tag) return fail("bind", r.code);
  set_backlog(listener, 128, &r);
  start_listen(listener, &r);
  if (!r.tag) finish_listen(listener, &r);
  if (r.tag) return fail("listen", r.code);
  char line[128];
  uint32_t n = append(line, 0, "echo server listening on port ");
  n += format(line + n, port);
  line[n++] = '\n';
  say(line, n);

  static struct client clients[MAX_CLIENTS];
  static handle waits[MAX_CLIENTS + 1];
  int count = 0;
  long accepted = 0, closed = 0, bytes = 0;
  handle incoming = tcp_subscribe(listener);
  while (limit < 0 || closed < limit) {
    used = 0;
    waits[0] = incoming;
    for (int i = 0; i < count; i++) waits[i + 1] = clients[i].ready;
    string ready;
    poll(waits, (uint32_t)count + 1, &ready);
    const uint32_t *which = (const uint32_t *)ready.ptr;
    // Highest index first: closing a client moves the last one into its slot.
    for (uint32_t k = ready.len; k-- > 0;) {
      uint32_t i = which[k];
      if (i == 0) continue;
      struct client *c = &clients[i - 1];
      bytes_result got;
      stream_read(c->in, 16384, &got);
      if (!got.tag && got.len > 0) {
        bytes_result w;
        write_and_flush(c->out, got.ptr, got.len, &w);
        if (!w.tag) bytes += got.len;
        continue;
      }
      if (!got.tag) continue; // nothing yet
      if ((uint8_t)(uintptr_t)got.ptr == 0) drop_error((handle)got.len); // last-operation-failed: case 0 @4 (a u8), its error @8
      close_client(c);
      clients[i - 1] = clients[--count];
      closed++;
    }
    if (ready.len > 0 && which[0] == 0) {
      accept_result a;
      accept(listener, &a);
      if (a.tag) continue; // would-block: another poll
      address_result from;
      remote_address(a.sock, &from);
      n = append(line, 0, "connection ");
      n += format(line + n, ++accepted);
      n = append(line, n, " from ");
      for (int b = 0; b < 4; b++) { n += format(line + n, from.ip[b]); line[n++] = b < 3 ? '.' : ':'; }
      n += format(line + n, from.port);
      line[n++] = '\n';
      if (!from.tag && from.kind == 0) say(line, n);
      struct client c = { a.sock, a.in, a.out, input_subscribe(a.in) };
      if (count < MAX_CLIENTS) clients[count++] = c;
      else { close_client(&c); closed++; }
    }
  }
  n = append(line, 0, "served ");
  n += format(line + n, accepted);
  n = append(line, n, " connections, echoed ");
  n += format(line + n, bytes);
  n = append(line, n, " bytes\n");
  say(line, n);
  drop_pollable(incoming);
  drop_tcp_socket(listener);
  drop_network(network);
  return 0;
}

__attribute__((export_name("wasi:cli/run" V "#run")))
int32_t run(void) {
  out = get_stdout();
  string args;
  get_arguments(&args);
  const string *argv = (const string *)args.ptr;
  long port = args.len > 1 ? number(argv[1], 7) : 7;
  long limit = args.len > 2 ? number(argv[2], -1) : -1;
  string name = args.len > 3 ? argv[3] : (string){ (const uint8_t *)"localhost", 9 };
  int status = serve(port, limit, name);
  drop_output_stream(out);
  return status;
}
