// HTTP/1.1 server with keep-alive: GET / serves a page, GET /counter a JSON counter that every
// request to it increments (so replicas must agree on request order), anything else 404.
// Listens on argv[1] (default 80); serves many connections at once with poll().
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "../include/wasi_socket.h"

#define MAX_CLIENTS 1100
#define REQUEST_MAX 8192

struct client { int fd; size_t used; char buf[REQUEST_MAX]; };
static struct client clients[MAX_CLIENTS];
static struct pollfd fds[MAX_CLIENTS + 1];
static long counter;

static const char page[] =
  "<!doctype html><html><head><title>RepliCode</title></head>"
  "<body><h1>Hello from a deterministic server</h1><p>Try <a href=\"/counter\">/counter</a>.</p></body></html>\n";

static int send_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, data, len);
    if (w <= 0) return -1;
    data += w;
    len -= (size_t)w;
  }
  return 0;
}

/** One write per response: headers and body together (no small-packet stalls, fewer syscalls). */
static int respond(int fd, const char *status, const char *type, const char *body, int keep_alive) {
  char response[1024];
  int n = snprintf(response, sizeof response, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: %s\r\n\r\n%s",
                   status, type, strlen(body), keep_alive ? "keep-alive" : "close", body);
  return send_all(fd, response, (size_t)n < sizeof response ? (size_t)n : sizeof response - 1);
}

/** Handles every complete request in the buffer; returns -1 to close the connection. */
static int serve(struct client *c) {
  for (;;) {
    char *end = memmem(c->buf, c->used, "\r\n\r\n", 4);
    if (!end) return c->used >= REQUEST_MAX ? -1 : 0;
    size_t head_len = (size_t)(end - c->buf) + 4;
    char method[16] = "", path[1024] = "", version[16] = "";
    sscanf(c->buf, "%15s %1023s %15s", method, path, version);
    int keep_alive = strcmp(version, "HTTP/1.0") != 0;
    // Headers are matched case-insensitively by first letters only where it matters.
    for (char *h = c->buf; h < end; h++) {
      if (strncasecmp(h, "\nconnection: close", 18) == 0) keep_alive = 0;
      if (strncasecmp(h, "\nconnection: keep-alive", 23) == 0) keep_alive = 1;
    }
    size_t body_len = 0;
    for (char *h = c->buf; h < end; h++) {
      if (strncasecmp(h, "\ncontent-length:", 16) == 0) body_len = (size_t)atol(h + 16);
    }
    if (head_len + body_len > c->used) return body_len > REQUEST_MAX ? -1 : 0;
    int rc;
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
      rc = respond(c->fd, "405 Method Not Allowed", "text/plain", "method not allowed\n", keep_alive);
    } else if (strcmp(path, "/") == 0) {
      rc = respond(c->fd, "200 OK", "text/html", page, keep_alive);
    } else if (strcmp(path, "/counter") == 0) {
      char body[128];
      struct timespec now;
      clock_gettime(CLOCK_REALTIME, &now);
      snprintf(body, sizeof body, "{\"counter\":%ld,\"time\":%lld}\n", ++counter, (long long)now.tv_sec);
      rc = respond(c->fd, "200 OK", "application/json", body, keep_alive);
    } else {
      rc = respond(c->fd, "404 Not Found", "text/plain", "not found\n", keep_alive);
    }
    memmove(c->buf, c->buf + head_len + body_len, c->used - head_len - body_len);
    c->used -= head_len + body_len;
    if (rc < 0 || !keep_alive) return -1;
  }
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 80;
  int listener = wasi_tcp_listen(port, 1024);
  if (listener < 0) { perror("listen"); return 1; }
  printf("http server listening on port %d\n", port);
  fflush(stdout);
  int count = 1;
  fds[0].fd = listener;
  fds[0].events = POLLIN;
  for (;;) {
    if (poll(fds, count, -1) < 0) { perror("poll"); return 1; }
    for (int i = count - 1; i >= 1; i--) {
      if (!fds[i].revents) continue;
      struct client *c = &clients[i];
      ssize_t n = read(c->fd, c->buf + c->used, REQUEST_MAX - c->used);
      if (n > 0) c->used += (size_t)n;
      if (n <= 0 || serve(c) < 0) {
        close(c->fd);
        count--;
        fds[i] = fds[count];
        clients[i].fd = clients[count].fd;
        clients[i].used = clients[count].used;
        memcpy(clients[i].buf, clients[count].buf, clients[count].used);
      }
    }
    if (fds[0].revents & POLLIN) {
      int fd = accept(listener, NULL, NULL);
      if (fd >= 0 && count <= MAX_CLIENTS) {
        fds[count] = (struct pollfd){ .fd = fd, .events = POLLIN };
        clients[count].fd = fd;
        clients[count].used = 0;
        count++;
      } else if (fd >= 0) {
        close(fd);
      }
    }
  }
}
