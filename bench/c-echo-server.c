/*
 * c-echo-server.c: the reference point for the echo benchmarks. One thread,
 * one edge-triggered epoll set, the shape a careful C server takes: accept4
 * until EAGAIN, read until EAGAIN, write straight back, and keep what the
 * socket would not take in a per-connection pending buffer flushed on EPOLLOUT.
 *
 * usage: c-echo-server <port>   (0 picks a free port)
 * Listens on 127.0.0.1, prints "listening <port>" once ready, exits 0 on SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EPOLL_EVENTS 1024
#define READ_BUFFER_SIZE (256 * 1024)
/* Stop reading from a client whose echo the kernel will not take once this
 * much is pending, so a client that writes without reading cannot make the
 * server buffer without bound; reading resumes when the backlog drains. */
#define PENDING_OUTPUT_LIMIT (4 * 1024 * 1024)
/* Bytes read from one connection per turn before serving the others: a
 * client that refills its socket as fast as we drain it would otherwise
 * starve everyone else. Leftovers go on the ready list for the next turn. */
#define READ_BUDGET_BYTES (1024 * 1024)

struct connection {
  int fd;            /* -1 once closed; the struct is freed at the end of the turn */
  bool read_paused; /* stopped at PENDING_OUTPUT_LIMIT with input left unread */
  bool in_ready_list; /* stopped at READ_BUDGET_BYTES with input left unread */
  struct connection *next_closed;
  uint8_t *pending;  /* echo bytes the socket has not accepted yet */
  size_t pending_start, pending_end, pending_capacity;
};

static uint8_t read_buffer[READ_BUFFER_SIZE];
static volatile sig_atomic_t stop_requested;
/* Connections the read budget cut short; edge-triggered epoll will not report
 * their leftover input again, so the loop reads them on its next turn. */
static struct connection **ready_list, **ready_spare;
static size_t ready_count, ready_capacity;
/* Closed connections, freed after the turn so no list holds a dangling one. */
static struct connection *closed_list;
/* epoll_event.data.ptr for the listening socket; connections use their struct. */
static int listener_tag;

static void on_sigterm(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void close_connection(struct connection *c) {
  close(c->fd); /* also removes it from the epoll set */
  c->fd = -1;
  c->next_closed = closed_list;
  closed_list = c;
}

static void free_closed_connections(void) {
  while (closed_list) {
    struct connection *c = closed_list;
    closed_list = c->next_closed;
    free(c->pending);
    free(c);
  }
}

static void add_to_ready_list(struct connection *c) {
  if (c->in_ready_list) return;
  if (ready_count == ready_capacity) {
    size_t capacity = ready_capacity ? ready_capacity * 2 : 1024;
    struct connection **grown = realloc(ready_list, capacity * sizeof *grown);
    struct connection **spare = realloc(ready_spare, capacity * sizeof *spare);
    if (!grown || !spare) {
      perror("c-echo-server: realloc");
      exit(1);
    }
    ready_list = grown;
    ready_spare = spare;
    ready_capacity = capacity;
  }
  c->in_ready_list = true;
  ready_list[ready_count++] = c;
}

static size_t pending_bytes(const struct connection *c) {
  return c->pending_end - c->pending_start;
}

static bool append_pending(struct connection *c, const uint8_t *data, size_t n) {
  if (c->pending_start > 0 && c->pending_start == c->pending_end)
    c->pending_start = c->pending_end = 0;
  if (c->pending_end + n > c->pending_capacity) {
    /* Compact first; grow only when the live bytes themselves need room. */
    size_t live = pending_bytes(c);
    memmove(c->pending, c->pending + c->pending_start, live);
    c->pending_start = 0;
    c->pending_end = live;
    if (live + n > c->pending_capacity) {
      size_t capacity = c->pending_capacity ? c->pending_capacity : 64 * 1024;
      while (capacity < live + n) capacity *= 2;
      uint8_t *grown = realloc(c->pending, capacity);
      if (!grown) return false;
      c->pending = grown;
      c->pending_capacity = capacity;
    }
  }
  memcpy(c->pending + c->pending_end, data, n);
  c->pending_end += n;
  return true;
}

/* Sends pending bytes until done or EAGAIN. Returns false on a fatal error. */
static bool flush_pending(struct connection *c) {
  while (pending_bytes(c) > 0) {
    ssize_t n = send(c->fd, c->pending + c->pending_start, pending_bytes(c), MSG_NOSIGNAL);
    if (n > 0) {
      c->pending_start += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;
    } else {
      return false;
    }
  }
  return true;
}

/* Echoes data: straight to the socket when nothing is queued ahead of it. */
static bool echo(struct connection *c, const uint8_t *data, size_t n) {
  if (pending_bytes(c) == 0) {
    while (n > 0) {
      ssize_t sent = send(c->fd, data, n, MSG_NOSIGNAL);
      if (sent > 0) {
        data += sent;
        n -= (size_t)sent;
      } else if (sent < 0 && errno == EINTR) {
        continue;
      } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        return false;
      }
    }
  }
  return n == 0 || append_pending(c, data, n);
}

/* Reads until the queue is empty, the read budget is spent, or the pending
 * limit pauses us. Returns false if the connection was closed. */
static bool on_readable(struct connection *c) {
  size_t budget = READ_BUDGET_BYTES;
  for (;;) {
    if (pending_bytes(c) >= PENDING_OUTPUT_LIMIT) {
      c->read_paused = true;
      return true;
    }
    if (budget == 0) {
      add_to_ready_list(c);
      return true;
    }
    ssize_t n = recv(c->fd, read_buffer, sizeof read_buffer, 0);
    if (n > 0) {
      if (!echo(c, read_buffer, (size_t)n)) break;
      budget -= (size_t)n < budget ? (size_t)n : budget;
      /* A short read on a stream socket means the receive queue is empty,
       * the same as EAGAIN (epoll(7)); new data raises a new edge, and so
       * does EOF. libuv stops reading the same way. */
      if ((size_t)n < sizeof read_buffer) return true;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;
    } else {
      break; /* EOF or error: nothing more to echo */
    }
  }
  close_connection(c);
  return false;
}

static void read_ready_connections(void) {
  struct connection **turn = ready_list;
  size_t count = ready_count;
  ready_list = ready_spare;
  ready_spare = turn;
  ready_count = 0;
  for (size_t i = 0; i < count; i++) {
    turn[i]->in_ready_list = false;
    if (turn[i]->fd >= 0 && !turn[i]->read_paused) on_readable(turn[i]);
  }
}

static void on_writable(struct connection *c) {
  if (!flush_pending(c)) {
    close_connection(c);
    return;
  }
  if (c->read_paused && pending_bytes(c) < PENDING_OUTPUT_LIMIT) {
    /* No new EPOLLIN edge will come for input that was already there. */
    c->read_paused = false;
    on_readable(c);
  }
}

static void accept_all(int epoll_fd, int listen_fd) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) perror("c-echo-server: accept4");
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct connection *c = calloc(1, sizeof *c);
    if (!c) {
      close(fd);
      continue;
    }
    c->fd = fd;
    /* EPOLLOUT is registered once, edge-triggered, so the interest set never
     * changes: a writable edge with nothing pending costs one empty check. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
      perror("c-echo-server: epoll_ctl");
      close_connection(c);
    }
  }
}

static int listen_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
      listen(fd, SOMAXCONN) < 0) {
    perror("c-echo-server: listen");
    exit(1);
  }
  socklen_t len = sizeof addr;
  getsockname(fd, (struct sockaddr *)&addr, &len);
  printf("listening %d\n", ntohs(addr.sin_port));
  fflush(stdout);
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: c-echo-server <port>\n");
    return 2;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);

  /* SIGTERM stays blocked except inside epoll_pwait, so it cannot land
   * between the stop check and the wait and go unnoticed. */
  sigset_t term, wait_mask;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, &wait_mask);
  sigdelset(&wait_mask, SIGTERM);
  struct sigaction sa = {.sa_handler = on_sigterm};
  sigaction(SIGTERM, &sa, NULL);

  int listen_fd = listen_loopback(atoi(argv[1]));
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = &listener_tag};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev);

  struct epoll_event events[MAX_EPOLL_EVENTS];
  while (!stop_requested) {
    int timeout_ms = ready_count > 0 ? 0 : -1;
    int n = epoll_pwait(epoll_fd, events, MAX_EPOLL_EVENTS, timeout_ms, &wait_mask);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("c-echo-server: epoll_pwait");
      return 1;
    }
    /* Closed connections stay allocated until the end of the turn, so the
     * ready list and this batch never name freed memory; fd < 0 marks them. */
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == &listener_tag) {
        accept_all(epoll_fd, listen_fd);
        continue;
      }
      struct connection *c = events[i].data.ptr;
      uint32_t e = events[i].events;
      if (c->fd < 0) continue;
      if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (!on_readable(c)) continue;
      }
      if (e & EPOLLOUT) on_writable(c);
    }
    read_ready_connections();
    free_closed_connections();
  }
  close(listen_fd);
  close(epoll_fd);
  return 0;
}
