// A key-value server speaking the Redis protocol (RESP), so redis-cli and redis-benchmark work
// against it: PING, ECHO, GET, SET [EX s|PX ms], DEL, EXISTS, INCR, DECR, EXPIRE, TTL, DBSIZE,
// FLUSHALL, plus the CONFIG/COMMAND/INFO/CLIENT replies those tools ask for. Expiry runs on the
// guest's clock (virtual under RepliCode). Listens on argv[1] (default 6379).
//
// Clients are non-blocking and each has a bounded output buffer, as a real server's: once a
// client's unsent replies pass OUT_SOFT, its further commands wait (unread) until they drain,
// so a client that pipelines large GETs without reading holds at most OUT_SOFT plus one reply
// here (its socket's send buffer fills, then its own requests back up) and the others are
// served meanwhile. A reply that cannot be buffered (out of memory) drops that client only.
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "../include/wasi_socket.h"

#define MAX_CLIENTS 1100
#define IN_MAX (128 * 1024)
#define MAX_ARGS 64
#define TABLE_SIZE (1 << 16)
#define OUT_SOFT (256 * 1024)

struct entry { char *key; size_t key_len; char *value; size_t value_len; int64_t expires_ms; struct entry *next; };
static struct entry *table[TABLE_SIZE];
static long entries;

struct client { int fd; size_t used; char *in; char *out; size_t out_len, out_cap; int eof, failed; };
static struct client clients[MAX_CLIENTS + 1];
static struct pollfd fds[MAX_CLIENTS + 1];

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h & (TABLE_SIZE - 1);
}

static struct entry **find_slot(const char *key, size_t len) {
  struct entry **p = &table[hash(key, len)];
  while (*p && !((*p)->key_len == len && memcmp((*p)->key, key, len) == 0)) p = &(*p)->next;
  return p;
}

static void remove_entry(struct entry **p) {
  struct entry *e = *p;
  *p = e->next;
  free(e->key); free(e->value); free(e);
  entries--;
}

/** The live entry for key (expired ones are removed on the way). */
static struct entry **lookup(const char *key, size_t len) {
  struct entry **p = find_slot(key, len);
  if (*p && (*p)->expires_ms >= 0 && (*p)->expires_ms <= now_ms()) remove_entry(p);
  return p;
}

static void put(const char *key, size_t key_len, const char *value, size_t value_len, int64_t expires_ms) {
  struct entry **p = lookup(key, key_len);
  if (!*p) {
    struct entry *e = calloc(1, sizeof *e);
    e->key = malloc(key_len); memcpy(e->key, key, key_len); e->key_len = key_len;
    *p = e;
    entries++;
  }
  free((*p)->value);
  (*p)->value = malloc(value_len ? value_len : 1); memcpy((*p)->value, value, value_len); (*p)->value_len = value_len;
  (*p)->expires_ms = expires_ms;
}

static void out(struct client *c, const char *data, size_t len) {
  if (c->failed) return;
  if (c->out_len + len > c->out_cap) {
    size_t cap = (c->out_len + len) * 2;
    char *grown = realloc(c->out, cap);
    if (!grown) { c->failed = 1; return; }
    c->out = grown;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, data, len);
  c->out_len += len;
}
static void out_str(struct client *c, const char *s) { out(c, s, strlen(s)); }
static void out_int(struct client *c, long long v) { char b[32]; int n = snprintf(b, sizeof b, ":%lld\r\n", v); out(c, b, (size_t)n); }
static void out_bulk(struct client *c, const char *s, size_t len) {
  char b[32]; int n = snprintf(b, sizeof b, "$%zu\r\n", len); out(c, b, (size_t)n); out(c, s, len); out(c, "\r\n", 2);
}
static void out_err(struct client *c, const char *msg) { out_str(c, "-ERR "); out_str(c, msg); out_str(c, "\r\n"); }

static int is(const char *arg, size_t len, const char *name) { return strlen(name) == len && strncasecmp(arg, name, len) == 0; }

static long long parse_ll(const char *s, size_t len, int *ok) {
  char b[32];
  if (len == 0 || len >= sizeof b) { *ok = 0; return 0; }
  memcpy(b, s, len); b[len] = 0;
  char *end; long long v = strtoll(b, &end, 10);
  *ok = *end == 0;
  return v;
}

static void execute(struct client *c, int argc, char **argv, size_t *lens) {
  const char *cmd = argv[0]; size_t n = lens[0];
  int ok = 1;
  if (is(cmd, n, "PING")) { if (argc > 1) out_bulk(c, argv[1], lens[1]); else out_str(c, "+PONG\r\n"); }
  else if (is(cmd, n, "ECHO") && argc == 2) out_bulk(c, argv[1], lens[1]);
  else if (is(cmd, n, "GET") && argc == 2) {
    struct entry **p = lookup(argv[1], lens[1]);
    if (*p) out_bulk(c, (*p)->value, (*p)->value_len); else out_str(c, "$-1\r\n");
  } else if (is(cmd, n, "SET") && argc >= 3) {
    int64_t expires = -1;
    if (argc == 5 && is(argv[3], lens[3], "EX")) expires = now_ms() + parse_ll(argv[4], lens[4], &ok) * 1000;
    else if (argc == 5 && is(argv[3], lens[3], "PX")) expires = now_ms() + parse_ll(argv[4], lens[4], &ok);
    else if (argc != 3) ok = 0;
    if (!ok) { out_err(c, "syntax error"); return; }
    put(argv[1], lens[1], argv[2], lens[2], expires);
    out_str(c, "+OK\r\n");
  } else if ((is(cmd, n, "DEL") || is(cmd, n, "EXISTS")) && argc >= 2) {
    long found = 0;
    for (int i = 1; i < argc; i++) {
      struct entry **p = lookup(argv[i], lens[i]);
      if (*p) { found++; if (is(cmd, n, "DEL")) remove_entry(p); }
    }
    out_int(c, found);
  } else if ((is(cmd, n, "INCR") || is(cmd, n, "DECR")) && argc == 2) {
    struct entry **p = lookup(argv[1], lens[1]);
    long long v = *p ? parse_ll((*p)->value, (*p)->value_len, &ok) : 0;
    if (!ok) { out_err(c, "value is not an integer or out of range"); return; }
    v += is(cmd, n, "INCR") ? 1 : -1;
    char b[32]; int len = snprintf(b, sizeof b, "%lld", v);
    put(argv[1], lens[1], b, (size_t)len, *p ? (*p)->expires_ms : -1);
    out_int(c, v);
  } else if (is(cmd, n, "EXPIRE") && argc == 3) {
    struct entry **p = lookup(argv[1], lens[1]);
    long long s = parse_ll(argv[2], lens[2], &ok);
    if (!ok) { out_err(c, "value is not an integer or out of range"); return; }
    if (*p) (*p)->expires_ms = now_ms() + s * 1000;
    out_int(c, *p ? 1 : 0);
  } else if (is(cmd, n, "TTL") && argc == 2) {
    struct entry **p = lookup(argv[1], lens[1]);
    out_int(c, !*p ? -2 : (*p)->expires_ms < 0 ? -1 : ((*p)->expires_ms - now_ms() + 999) / 1000);
  } else if (is(cmd, n, "DBSIZE")) out_int(c, entries);
  else if (is(cmd, n, "FLUSHALL") || is(cmd, n, "FLUSHDB")) {
    for (int i = 0; i < TABLE_SIZE; i++) while (table[i]) remove_entry(&table[i]);
    out_str(c, "+OK\r\n");
  } else if (is(cmd, n, "CONFIG") && argc == 3 && is(argv[1], lens[1], "GET")) {
    // No configuration to speak of: every parameter asked for is reported empty.
    out_str(c, "*2\r\n"); out_bulk(c, argv[2], lens[2]); out_bulk(c, "", 0);
  } else if (is(cmd, n, "CONFIG")) out_str(c, "+OK\r\n");
  else if (is(cmd, n, "COMMAND")) out_str(c, "*0\r\n");
  else if (is(cmd, n, "CLIENT") || is(cmd, n, "SELECT")) out_str(c, "+OK\r\n");
  else if (is(cmd, n, "INFO")) { const char *info = "# Server\r\nredis_version:7.0.0-replicode\r\n"; out_bulk(c, info, strlen(info)); }
  else { char msg[96]; snprintf(msg, sizeof msg, "unknown command or wrong arguments '%.*s'", (int)(n > 40 ? 40 : n), cmd); out_err(c, msg); }
}

/**
 * Parses and runs the complete commands in the input, until the client's unsent replies reach
 * OUT_SOFT; -1 on a protocol error, a command longer than the input buffer, or a reply that
 * could not be buffered.
 */
static int process_input(struct client *c) {
  size_t pos = 0;
  for (;;) {
    char *argv[MAX_ARGS]; size_t lens[MAX_ARGS]; int argc = 0;
    size_t p = pos;
    if (p >= c->used || c->out_len >= OUT_SOFT) break;
    if (c->in[p] == '*') {
      char *nl = memchr(c->in + p, '\n', c->used - p);
      if (!nl) break;
      long count = atol(c->in + p + 1);
      if (count < 1 || count > MAX_ARGS) return -1;
      p = (size_t)(nl - c->in) + 1;
      int complete = 1;
      for (long i = 0; i < count; i++) {
        if (p >= c->used) { complete = 0; break; }
        if (c->in[p] != '$') return -1;
        char *nl2 = memchr(c->in + p, '\n', c->used - p);
        if (!nl2) { complete = 0; break; }
        long len = atol(c->in + p + 1);
        if (len < 0 || len > IN_MAX) return -1;
        p = (size_t)(nl2 - c->in) + 1;
        if (p + (size_t)len + 2 > c->used) { complete = 0; break; }
        argv[argc] = c->in + p; lens[argc] = (size_t)len; argc++;
        p += (size_t)len + 2;
      }
      if (!complete) break;
    } else {
      // Inline command: words up to the end of the line.
      char *nl = memchr(c->in + p, '\n', c->used - p);
      if (!nl) break;
      char *s = c->in + p, *e = nl;
      if (e > s && e[-1] == '\r') e--;
      while (s < e && argc < MAX_ARGS) {
        while (s < e && isspace((unsigned char)*s)) s++;
        if (s == e) break;
        char *w = s;
        while (s < e && !isspace((unsigned char)*s)) s++;
        argv[argc] = w; lens[argc] = (size_t)(s - w); argc++;
      }
      p = (size_t)(nl - c->in) + 1;
    }
    if (argc > 0) execute(c, argc, argv, lens);
    pos = p;
  }
  memmove(c->in, c->in + pos, c->used - pos);
  c->used -= pos;
  if (c->failed) return -1;
  return c->used >= IN_MAX && c->out_len < OUT_SOFT ? -1 : 0;
}

/** Sends what the socket takes now (it is non-blocking); keeps the rest. -1 if the client is gone. */
static int flush_out(struct client *c) {
  size_t done = 0;
  while (done < c->out_len) {
    ssize_t w = write(c->fd, c->out + done, c->out_len - done);
    if (w < 0 && errno == EAGAIN) break;
    if (w <= 0) return -1;
    done += (size_t)w;
  }
  memmove(c->out, c->out + done, c->out_len - done);
  c->out_len -= done;
  return 0;
}

/** Reads, runs and answers what it can for one client; -1 when it is done (or broken). */
static int serve(struct client *c, short revents) {
  if ((revents & (POLLIN | POLLHUP | POLLERR)) && !c->eof && c->used < IN_MAX && c->out_len < OUT_SOFT) {
    ssize_t n = read(c->fd, c->in + c->used, IN_MAX - c->used);
    if (n > 0) c->used += (size_t)n;
    else if (n == 0) c->eof = 1; // the client sends nothing more; its replies still go out
    else if (errno != EAGAIN) return -1;
  }
  for (;;) {
    size_t before = c->used;
    if (process_input(c) < 0 || flush_out(c) < 0) return -1;
    if (c->used == before || c->out_len >= OUT_SOFT) break; // nothing ran, or replies must drain first
  }
  return c->eof && c->out_len == 0 ? -1 : 0;
}

/** Reads while there is room for input and replies; writes while replies wait. */
static short interest(const struct client *c) {
  return (short)((!c->eof && c->used < IN_MAX && c->out_len < OUT_SOFT ? POLLIN : 0) | (c->out_len ? POLLOUT : 0));
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 6379;
  int listener = wasi_tcp_listen(port, 1024);
  if (listener < 0) { perror("listen"); return 1; }
  printf("resp server listening on port %d\n", port);
  fflush(stdout);
  int count = 1;
  fds[0] = (struct pollfd){ .fd = listener, .events = POLLIN };
  for (;;) {
    if (poll(fds, count, -1) < 0) { perror("poll"); return 1; }
    for (int i = count - 1; i >= 1; i--) {
      if (!fds[i].revents) continue;
      struct client *c = &clients[i];
      if (serve(c, fds[i].revents) == 0) {
        fds[i].events = interest(c);
      } else {
        close(c->fd);
        free(c->in); free(c->out);
        count--;
        fds[i] = fds[count];
        clients[i] = clients[count];
        memset(&clients[count], 0, sizeof clients[count]);
      }
    }
    if (fds[0].revents & POLLIN) {
      int fd = accept(listener, NULL, NULL);
      if (fd >= 0 && count <= MAX_CLIENTS) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fds[count] = (struct pollfd){ .fd = fd, .events = POLLIN };
        clients[count] = (struct client){ .fd = fd, .in = malloc(IN_MAX) };
        count++;
      } else if (fd >= 0) {
        close(fd);
      }
    }
  }
}
