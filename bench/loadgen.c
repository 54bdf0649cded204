/*
 * loadgen.c: a single-threaded, edge-triggered epoll TCP echo client that
 * drives the echo benchmarks and verifies every echoed byte.
 *
 * Modes
 *   ping-pong (default)  each connection keeps --depth messages of --size
 *                        bytes in flight; depth 1 is strict ping-pong.
 *   --stream             each connection writes --size chunks back to back,
 *                        bounded by --window bytes in flight, and reports
 *                        MB/s of echoed bytes.
 *   --churn              each connection slot connects, sends one message,
 *                        reads the echo, closes and reconnects; messages are
 *                        then completed connections.
 *   --tls                (built with -DLOADGEN_TLS, as bench/.build/loadgen-tls)
 *                        every connection speaks TLS (OpenSSL, no certificate
 *                        check: the server under test is on loopback) and
 *                        messages start once its handshake is done. With
 *                        --churn each message is a new full handshake (no
 *                        session resumption): handshakes per second.
 *
 * Every byte a connection sends is pattern[(base + offset) % PATTERN_PERIOD],
 * where base is derived from the connection and offset is the running byte
 * offset of its stream, so the expected echo is known without keeping copies
 * of what was sent and checking it costs one memcmp per read.
 *
 * Output: one JSON line on stdout. The markers "loadgen: measure-start" and
 * "loadgen: measure-end" go to stderr so a harness can sample the server's
 * CPU counters around exactly the measured window.
 * Exit status: 0 when nothing mismatched, failed or was refused; 1 otherwise;
 * 2 for bad arguments.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
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
#include <time.h>
#include <unistd.h>
#ifdef LOADGEN_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

/* Not a power of two, so an echo that drops or repeats a block of any
 * power-of-two size (a buffer, a chunk, a message) lands on different bytes. */
#define PATTERN_PERIOD 1048573u
/* Largest single read or write; the pattern table is this much longer than
 * its period so any IO_CHUNK_MAX-byte window of the stream is contiguous. */
#define IO_CHUNK_MAX (256u * 1024u)
#define MAX_EPOLL_EVENTS 1024
/* Bytes read from one connection per turn before moving on to the others.
 * A fast server can refill a stream connection faster than we drain it, and
 * reading it "until EAGAIN" would then starve every other connection. */
#define READ_BUDGET_BYTES (1024u * 1024u)
/* Connects in progress at once while opening the initial connections; well
 * under Node's default listen backlog (511), so SYNs are not dropped and
 * retried a second later. */
#define MAX_PENDING_CONNECTS 128
/* How often connecting sockets are checked against the connect timeout and
 * idle churn slots are retried. */
#define HOUSEKEEPING_INTERVAL_NS (50ull * 1000 * 1000)
/* Pause between printing measure-end and closing the connections, so the
 * harness reads the server's CPU counters before the closes cost it CPU. */
#define END_MARKER_PAUSE_NS (20ull * 1000 * 1000)
/* Slack beyond the planned run time before SIGALRM kills a stuck run. */
#define HARD_TIMEOUT_SLACK_S 10
#define MAX_REPORTED_MISMATCHES 5

/* Log-linear latency histogram over nanoseconds: values below 2^SUB_BITS
 * are exact, above that each power of two is split into 2^(SUB_BITS-1)
 * buckets, a relative error under 1%. */
#define HIST_SUB_BITS 7
#define HIST_HALF (1u << (HIST_SUB_BITS - 1))
#define HIST_BUCKETS ((1u << HIST_SUB_BITS) + (64 - HIST_SUB_BITS) * HIST_HALF)

enum mode { MODE_PINGPONG, MODE_STREAM, MODE_CHURN };
enum phase { PHASE_CONNECT, PHASE_WARMUP, PHASE_MEASURE, PHASE_DONE };
/* CONN_HANDSHAKE: TCP is up, the TLS handshake runs (counts as connecting). */
enum conn_state { CONN_IDLE, CONN_CONNECTING, CONN_HANDSHAKE, CONN_OPEN };

struct options {
  const char *host;
  int port;
  uint32_t connections;
  uint64_t size;
  uint32_t depth;
  uint64_t window;
  double duration_s;
  double warmup_s;
  double connect_timeout_s;
  enum mode mode;
  bool tls;
};

struct connection {
  int fd;
  enum conn_state state;
  uint32_t index;
  uint32_t generation; /* reconnects of this slot, so churned streams differ */
  uint64_t pattern_base;
  uint64_t queued_bytes; /* bytes the stream owes the socket: messages * size */
  uint64_t sent_bytes;
  uint64_t received_bytes;
  uint64_t connect_started_ns;
  uint64_t *send_times_ns; /* ring of depth: when message m was queued */
  bool in_ready_list;      /* stopped by READ_BUDGET_BYTES with input left */
#ifdef LOADGEN_TLS
  SSL *ssl; /* with --tls, from the TCP connect until close */
#endif
};

struct totals {
  uint64_t messages;       /* completed inside the measured window */
  uint64_t window_bytes;   /* echoed bytes received inside the window */
  uint64_t mismatches;     /* echoed bytes that differ from what was sent */
  uint64_t errors;
  uint64_t connect_failures;
  uint64_t connects;
  uint64_t histogram[HIST_BUCKETS];
};

static struct options opt = {
    .host = "127.0.0.1",
    .port = 0,
    .connections = 1,
    .size = 0,
    .depth = 1,
    .window = 1u << 20,
    .duration_s = 5.0,
    .warmup_s = 1.0,
    .connect_timeout_s = 5.0,
    .mode = MODE_PINGPONG,
};

static struct totals totals;
#ifdef LOADGEN_TLS
static SSL_CTX *tls_ctx;
#endif
static uint8_t *pattern;
static uint8_t read_buffer[IO_CHUNK_MAX];
static struct sockaddr_storage server_addr;
static socklen_t server_addr_len;
static int epoll_fd;
static enum phase phase = PHASE_CONNECT;
static uint32_t pending_connects;
static uint32_t open_connections;
static uint64_t mismatch_reports;
/* Connections with unread input left by the read budget. They get no new
 * edge for it, so they are read again on the next turn of the loop. */
static struct connection **ready_list, **ready_spare;
static uint32_t ready_count;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void stderr_line(const char *text) {
  /* write(2) directly: the marker must leave before the next syscall. */
  ssize_t ignored = write(STDERR_FILENO, text, strlen(text));
  (void)ignored;
}

static void on_hard_timeout(int sig) {
  (void)sig;
  stderr_line("loadgen: hard timeout, exiting\n");
  _exit(1);
}

/* ---- histogram ---- */

static unsigned histogram_index(uint64_t v) {
  if (v < (1u << HIST_SUB_BITS)) return (unsigned)v;
  unsigned msb = 63u - (unsigned)__builtin_clzll(v);
  unsigned shift = msb - HIST_SUB_BITS + 1;
  return (1u << HIST_SUB_BITS) + (msb - HIST_SUB_BITS) * HIST_HALF +
         (unsigned)((v >> shift) - HIST_HALF);
}

static double histogram_bucket_mid(unsigned index) {
  if (index < (1u << HIST_SUB_BITS)) return (double)index;
  unsigned rel = index - (1u << HIST_SUB_BITS);
  unsigned shift = rel / HIST_HALF + 1;
  uint64_t low = (uint64_t)(rel % HIST_HALF + HIST_HALF) << shift;
  return (double)low + (double)(1ull << shift) / 2.0;
}

/* Latency in microseconds at quantile q, or 0 when nothing was recorded. */
static double histogram_quantile_us(double q) {
  uint64_t total = 0;
  for (unsigned i = 0; i < HIST_BUCKETS; i++) total += totals.histogram[i];
  if (total == 0) return 0;
  uint64_t rank = (uint64_t)ceil(q * (double)total);
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < HIST_BUCKETS; i++) {
    seen += totals.histogram[i];
    if (seen >= rank) return histogram_bucket_mid(i) / 1000.0;
  }
  return 0;
}

/* ---- pattern ---- */

static void build_pattern(void) {
  pattern = malloc(PATTERN_PERIOD + IO_CHUNK_MAX);
  if (!pattern) {
    perror("loadgen: malloc");
    exit(1);
  }
  uint64_t state = 0x9E3779B97F4A7C15ull; /* xorshift64: fixed seed, any run */
  for (uint32_t i = 0; i < PATTERN_PERIOD; i++) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    pattern[i] = (uint8_t)(state >> 32);
  }
  memcpy(pattern + PATTERN_PERIOD, pattern, IO_CHUNK_MAX);
}

static uint64_t pattern_base_for(uint32_t index, uint32_t generation) {
  uint64_t h = (uint64_t)index * 0x9E3779B1u + (uint64_t)generation * 0x85EBCA77u;
  return h % PATTERN_PERIOD;
}

static const uint8_t *pattern_at(const struct connection *c, uint64_t offset) {
  return pattern + (c->pattern_base + offset) % PATTERN_PERIOD;
}

/* ---- connections ---- */

static void close_connection(struct connection *c) {
  if (c->fd < 0) return;
  if ((c->state == CONN_CONNECTING || c->state == CONN_HANDSHAKE) && pending_connects > 0) pending_connects--;
#ifdef LOADGEN_TLS
  if (c->ssl != NULL) {
    SSL_free(c->ssl); /* no close_notify: the close is abrupt, as the plain one */
    c->ssl = NULL;
  }
#endif
  if (c->state == CONN_OPEN) open_connections--;
  close(c->fd); /* also removes it from the epoll set */
  c->fd = -1;
  c->state = CONN_IDLE;
}

static void fail_connection(struct connection *c, const char *what, int err) {
  if (phase != PHASE_DONE) {
    totals.errors++;
    if (totals.errors <= MAX_REPORTED_MISMATCHES)
      fprintf(stderr, "loadgen: connection %u: %s: %s\n", c->index, what,
              err ? strerror(err) : "closed by server");
  }
  close_connection(c);
}

static void fail_connect(struct connection *c, int err) {
  totals.connect_failures++;
  if (totals.connect_failures <= MAX_REPORTED_MISMATCHES)
    fprintf(stderr, "loadgen: connection %u: connect: %s\n", c->index,
            err ? strerror(err) : "timed out");
  close_connection(c);
}

static void start_connect(struct connection *c, uint64_t now) {
  c->connect_started_ns = now;
  c->queued_bytes = c->sent_bytes = c->received_bytes = 0;
  c->pattern_base = pattern_base_for(c->index, c->generation++);
  int fd = socket(server_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail_connect(c, errno);
    return;
  }
  int one = 1;
  /* Pipelined small messages must not wait for ACKs of earlier ones. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  c->state = CONN_CONNECTING;
  pending_connects++;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    fail_connect(c, errno);
    return;
  }
  if (connect(fd, (struct sockaddr *)&server_addr, server_addr_len) < 0 &&
      errno != EINPROGRESS)
    fail_connect(c, errno);
  /* A connect that completes at once still reports EPOLLOUT, so both paths
   * continue in on_connected. */
}

/* Writes queued bytes until they are all sent or the socket is full.
 * Returns false if the connection was closed. */
static bool flush(struct connection *c) {
  while (c->sent_bytes < c->queued_bytes) {
    uint64_t want = c->queued_bytes - c->sent_bytes;
    size_t len = want < IO_CHUNK_MAX ? (size_t)want : IO_CHUNK_MAX;
    ssize_t n;
#ifdef LOADGEN_TLS
    if (c->ssl != NULL) {
      size_t written = 0;
      ERR_clear_error();
      if (SSL_write_ex(c->ssl, pattern_at(c, c->sent_bytes), len, &written) == 1) {
        c->sent_bytes += written;
        continue;
      }
      int error = SSL_get_error(c->ssl, 0);
      /* WANT_READ (a key update) resumes on the next read's edge. */
      if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) return true;
      fail_connection(c, "SSL_write", error == SSL_ERROR_SYSCALL ? errno : 0);
      return false;
    }
#endif
    n = send(c->fd, pattern_at(c, c->sent_bytes), len, MSG_NOSIGNAL);
    if (n > 0) {
      c->sent_bytes += (uint64_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true; /* EPOLLOUT (edge) resumes us when space frees */
    } else {
      fail_connection(c, "send", errno);
      return false;
    }
  }
  return true;
}

static void queue_message(struct connection *c, uint64_t stamp_ns) {
  uint64_t message = c->queued_bytes / opt.size;
  c->send_times_ns[message % opt.depth] = stamp_ns;
  c->queued_bytes += opt.size;
}

static void on_connected(struct connection *c, uint64_t now);

#ifdef LOADGEN_TLS
/* Drives the handshake; on success the connection opens as a plain one does. */
static void continue_handshake(struct connection *c, uint64_t now) {
  ERR_clear_error();
  int result = SSL_do_handshake(c->ssl);
  if (result == 1) {
    c->state = CONN_CONNECTING; /* on_connected's bookkeeping, once */
    on_connected(c, now);
    return;
  }
  int error = SSL_get_error(c->ssl, result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return; /* the next edge */
  unsigned long code = ERR_peek_error();
  if (totals.connect_failures < MAX_REPORTED_MISMATCHES)
    fprintf(stderr, "loadgen: connection %u: TLS handshake: %s\n", c->index,
            code ? ERR_reason_error_string(code) : "closed by server");
  fail_connect(c, error == SSL_ERROR_SYSCALL ? errno : 0);
}
#endif

static void on_connected(struct connection *c, uint64_t now) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err) {
    fail_connect(c, err);
    return;
  }
#ifdef LOADGEN_TLS
  if (opt.tls && c->ssl == NULL) {
    c->ssl = SSL_new(tls_ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
      fail_connect(c, ENOMEM);
      return;
    }
    SSL_set_connect_state(c->ssl);
    c->state = CONN_HANDSHAKE;
    continue_handshake(c, now);
    return;
  }
#endif
  pending_connects--;
  open_connections++;
  totals.connects++;
  c->state = CONN_OPEN;
  if (opt.mode == MODE_CHURN) {
    /* Churn latency covers the whole connect, send, echo cycle. */
    queue_message(c, c->connect_started_ns);
  } else if (phase != PHASE_DONE) {
    for (uint32_t i = 0; i < opt.depth; i++) queue_message(c, now);
  }
  flush(c);
}

static void report_mismatch(const struct connection *c, uint64_t offset) {
  if (++mismatch_reports > MAX_REPORTED_MISMATCHES) return;
  fprintf(stderr, "loadgen: connection %u: echo differs at stream offset %llu\n",
          c->index, (unsigned long long)offset);
}

static uint64_t count_differences(const uint8_t *a, const uint8_t *b, size_t n) {
  uint64_t diff = 0;
  for (size_t i = 0; i < n; i++) diff += a[i] != b[i];
  return diff;
}

/* Verifies n echoed bytes, completes the messages they finish and queues
 * replacements. Returns false if the connection was closed. */
static bool on_echo(struct connection *c, const uint8_t *data, size_t n, uint64_t now) {
  if (c->received_bytes + n > c->sent_bytes) {
    /* The server sent bytes this connection never wrote. */
    uint64_t extra = c->received_bytes + n - c->sent_bytes;
    totals.mismatches += extra;
    report_mismatch(c, c->sent_bytes);
    n -= (size_t)extra;
  }
  if (memcmp(data, pattern_at(c, c->received_bytes), n) != 0) {
    report_mismatch(c, c->received_bytes);
    totals.mismatches += count_differences(data, pattern_at(c, c->received_bytes), n);
  }

  uint64_t first = c->received_bytes / opt.size;
  c->received_bytes += n;
  uint64_t done = c->received_bytes / opt.size;
  bool measuring = phase == PHASE_MEASURE;
  if (measuring) totals.window_bytes += n;

  for (uint64_t m = first; m < done; m++) {
    if (measuring) {
      uint64_t latency = now - c->send_times_ns[m % opt.depth];
      totals.histogram[histogram_index(latency)]++;
      totals.messages++;
    }
    if (opt.mode == MODE_CHURN) {
      close_connection(c);
      if (phase != PHASE_DONE) start_connect(c, now);
      return false;
    }
    if (phase != PHASE_DONE) queue_message(c, now);
  }
  return flush(c);
}

static void on_readable(struct connection *c) {
  size_t budget = READ_BUDGET_BYTES;
  for (;;) {
    if (budget == 0) {
      if (!c->in_ready_list) {
        c->in_ready_list = true;
        ready_list[ready_count++] = c;
      }
      return;
    }
    ssize_t n;
#ifdef LOADGEN_TLS
    if (c->ssl != NULL) {
      size_t got = 0;
      ERR_clear_error();
      if (SSL_read_ex(c->ssl, read_buffer, sizeof read_buffer, &got) == 1) {
        if (!on_echo(c, read_buffer, got, now_ns())) return;
        budget -= got < budget ? got : budget;
        continue; /* OpenSSL may hold more than the kernel reports: read to WANT_READ */
      }
      int error = SSL_get_error(c->ssl, 0);
      if (error == SSL_ERROR_WANT_READ) return;
      if (error == SSL_ERROR_WANT_WRITE) return; /* EPOLLOUT's flush goes on */
      fail_connection(c, "SSL_read", error == SSL_ERROR_SYSCALL ? errno : 0);
      return;
    }
#endif
    n = recv(c->fd, read_buffer, sizeof read_buffer, 0);
    if (n > 0) {
      /* Timestamp each read: the server runs concurrently, so one drain can
       * see the echo of a message queued earlier in the same drain. */
      if (!on_echo(c, read_buffer, (size_t)n, now_ns())) return;
      budget -= (size_t)n < budget ? (size_t)n : budget;
      /* A short read on a stream socket means the receive queue is empty,
       * the same as EAGAIN (epoll(7)); new data raises a new edge. libuv
       * stops reading the same way. */
      if ((size_t)n < sizeof read_buffer) return;
    } else if (n == 0) {
      fail_connection(c, "recv", 0);
      return;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;
    } else {
      fail_connection(c, "recv", errno);
      return;
    }
  }
}

/* Gives each connection left over by the read budget one more turn. */
static void read_ready_connections(void) {
  struct connection **turn = ready_list;
  uint32_t count = ready_count;
  ready_list = ready_spare;
  ready_spare = turn;
  ready_count = 0;
  for (uint32_t i = 0; i < count; i++) {
    turn[i]->in_ready_list = false;
    if (turn[i]->state == CONN_OPEN) on_readable(turn[i]);
  }
}

static void on_event(struct connection *c, uint32_t events, uint64_t now) {
#ifdef LOADGEN_TLS
  if (c->state == CONN_HANDSHAKE) {
    continue_handshake(c, now);
    if (c->state != CONN_OPEN) return;
    events |= EPOLLIN;
  }
#endif
  if (c->state == CONN_CONNECTING) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    on_connected(c, now);
    if (c->state != CONN_OPEN) return;
    events |= EPOLLIN; /* the echo may already be waiting */
  }
  if (c->state != CONN_OPEN) return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    on_readable(c);
    if (c->state != CONN_OPEN) return;
  }
  if (events & EPOLLOUT) flush(c);
}

/* ---- setup ---- */

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --port N [--host 127.0.0.1] [--connections C] [--size S]\n"
          "               [--depth D] [--duration SECONDS] [--warmup SECONDS]\n"
          "               [--connect-timeout SECONDS] [--stream [--window BYTES]]\n"
          "               [--churn] [--verify] [--tls (loadgen-tls only)]\n");
  exit(2);
}

/* Only loopback targets: this tool floods whatever it is pointed at. */
static void resolve_loopback(const char *host, int port) {
  memset(&server_addr, 0, sizeof server_addr);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&server_addr;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&server_addr;
  const char *literal = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
  if (inet_pton(AF_INET, literal, &v4->sin_addr) == 1) {
    if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127) goto refuse;
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    server_addr_len = sizeof *v4;
    return;
  }
  if (inet_pton(AF_INET6, literal, &v6->sin6_addr) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) goto refuse;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    server_addr_len = sizeof *v6;
    return;
  }
refuse:
  fprintf(stderr, "loadgen: refusing host '%s': only 127.x.x.x, ::1 and localhost\n", host);
  exit(2);
}

static double parse_seconds(const char *name, const char *text) {
  char *end;
  double v = strtod(text, &end);
  if (*end || !(v >= 0) || v > 86400) {
    fprintf(stderr, "loadgen: %s expects seconds, got '%s'\n", name, text);
    exit(2);
  }
  return v;
}

static uint64_t parse_count(const char *name, const char *text, uint64_t min, uint64_t max) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno || *end || text[0] == '-' || v < min || v > max) {
    fprintf(stderr, "loadgen: %s expects an integer in [%llu, %llu], got '%s'\n", name,
            (unsigned long long)min, (unsigned long long)max, text);
    exit(2);
  }
  return v;
}

static void parse_options(int argc, char **argv) {
  static const struct option longopts[] = {
      {"host", required_argument, 0, 'h'},
      {"port", required_argument, 0, 'p'},
      {"connections", required_argument, 0, 'c'},
      {"size", required_argument, 0, 's'},
      {"depth", required_argument, 0, 'd'},
      {"window", required_argument, 0, 'W'},
      {"duration", required_argument, 0, 't'},
      {"warmup", required_argument, 0, 'w'},
      {"connect-timeout", required_argument, 0, 'T'},
      {"stream", no_argument, 0, 'S'},
      {"churn", no_argument, 0, 'C'},
      {"verify", no_argument, 0, 'v'},
      {"tls", no_argument, 0, 'L'},
      {0, 0, 0, 0},
  };
  int ch;
  while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (ch) {
      case 'h': opt.host = optarg; break;
      case 'p': opt.port = (int)parse_count("--port", optarg, 1, 65535); break;
      case 'c': opt.connections = (uint32_t)parse_count("--connections", optarg, 1, 1000000); break;
      case 's': opt.size = parse_count("--size", optarg, 1, 64u << 20); break;
      case 'd': opt.depth = (uint32_t)parse_count("--depth", optarg, 1, 65536); break;
      case 'W': opt.window = parse_count("--window", optarg, 1, 1u << 30); break;
      case 't': opt.duration_s = parse_seconds("--duration", optarg); break;
      case 'w': opt.warmup_s = parse_seconds("--warmup", optarg); break;
      case 'T': opt.connect_timeout_s = parse_seconds("--connect-timeout", optarg); break;
      case 'S': opt.mode = MODE_STREAM; break;
      case 'C': opt.mode = MODE_CHURN; break;
      case 'v': break; /* verification is always on; accepted for clarity */
      case 'L':
#ifdef LOADGEN_TLS
        opt.tls = true;
        break;
#else
        fprintf(stderr, "loadgen: --tls needs the TLS build (bench/.build/loadgen-tls)\n");
        exit(2);
#endif
      default: usage();
    }
  }
  if (optind != argc || opt.port == 0) usage();
  if (opt.duration_s <= 0) {
    fprintf(stderr, "loadgen: --duration must be positive\n");
    exit(2);
  }
  if (opt.size == 0) opt.size = opt.mode == MODE_STREAM ? 65536 : 64;
  /* Stream mode is pipelining with the window expressed in bytes; the bound
   * keeps a naive echo server (one that ignores write() backpressure) from
   * buffering without limit, which would measure its memory, not its speed. */
  if (opt.mode == MODE_STREAM) opt.depth = (uint32_t)(opt.window / opt.size > 0 ? opt.window / opt.size : 1);
  if (opt.mode == MODE_CHURN) opt.depth = 1;
  resolve_loopback(opt.host, opt.port);
}

static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opt.connections + 16)
    fprintf(stderr, "loadgen: warning: RLIMIT_NOFILE %llu is below %u connections\n",
            (unsigned long long)rl.rlim_cur, opt.connections);
}

static const char *mode_name(void) {
  return opt.mode == MODE_STREAM ? "stream" : opt.mode == MODE_CHURN ? "churn" : "pingpong";
}

static uint64_t seconds_to_ns(double s) { return (uint64_t)(s * 1e9); }

int main(int argc, char **argv) {
  parse_options(argc, argv);
  raise_fd_limit();
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_hard_timeout);
  alarm((unsigned)ceil(opt.connect_timeout_s + opt.warmup_s + opt.duration_s) +
        HARD_TIMEOUT_SLACK_S);
  build_pattern();
#ifdef LOADGEN_TLS
  if (opt.tls) {
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (tls_ctx == NULL) {
      fprintf(stderr, "loadgen: SSL_CTX_new failed\n");
      return 1;
    }
    /* Partial writes, as send() makes them; a retry may offer more bytes. */
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF); /* every handshake a full one */
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
  }
#endif

  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) {
    perror("loadgen: epoll_create1");
    return 1;
  }
  struct connection *conns = calloc(opt.connections, sizeof *conns);
  uint64_t *rings = calloc((size_t)opt.connections * opt.depth, sizeof *rings);
  ready_list = calloc(opt.connections, sizeof *ready_list);
  ready_spare = calloc(opt.connections, sizeof *ready_spare);
  if (!conns || !rings || !ready_list || !ready_spare) {
    perror("loadgen: calloc");
    return 1;
  }
  for (uint32_t i = 0; i < opt.connections; i++) {
    conns[i].fd = -1;
    conns[i].index = i;
    conns[i].send_times_ns = rings + (size_t)i * opt.depth;
  }

  uint64_t start = now_ns();
  uint64_t connect_deadline = start + seconds_to_ns(opt.connect_timeout_s);
  uint64_t warmup_end = 0, measure_start = 0, measure_end = 0;
  double cpu_at_measure_start = 0, cpu_at_measure_end = 0;
  uint64_t next_housekeeping = start;
  uint32_t next_to_connect = 0;
  struct epoll_event events[MAX_EPOLL_EVENTS];

  if (opt.mode == MODE_CHURN) {
    /* Churn has no separate connect phase: connecting is the workload. */
    phase = PHASE_WARMUP;
    warmup_end = start + seconds_to_ns(opt.warmup_s);
    for (; next_to_connect < opt.connections; next_to_connect++)
      start_connect(&conns[next_to_connect], start);
  }

  while (phase != PHASE_DONE) {
    uint64_t now = now_ns();

    if (phase == PHASE_CONNECT) {
      while (pending_connects < MAX_PENDING_CONNECTS && next_to_connect < opt.connections)
        start_connect(&conns[next_to_connect++], now);
      bool all_started = next_to_connect == opt.connections;
      if ((all_started && pending_connects == 0) || now >= connect_deadline) {
        for (uint32_t i = 0; i < opt.connections; i++) {
          if (conns[i].state == CONN_CONNECTING || conns[i].state == CONN_HANDSHAKE) fail_connect(&conns[i], 0);
          else if (i >= next_to_connect) totals.connect_failures++;
        }
        phase = PHASE_WARMUP;
        warmup_end = now + seconds_to_ns(opt.warmup_s);
        if (open_connections == 0) {
          fprintf(stderr, "loadgen: no connection could be opened\n");
          break;
        }
      }
    }
    if (phase == PHASE_WARMUP && now >= warmup_end) {
      phase = PHASE_MEASURE;
      measure_start = now;
      measure_end = now + seconds_to_ns(opt.duration_s);
      cpu_at_measure_start = cpu_seconds();
      stderr_line("loadgen: measure-start\n");
    }
    if (phase == PHASE_MEASURE && now >= measure_end) {
      measure_end = now;
      cpu_at_measure_end = cpu_seconds();
      phase = PHASE_DONE;
      stderr_line("loadgen: measure-end\n");
      break;
    }
    if (now >= next_housekeeping) {
      next_housekeeping = now + HOUSEKEEPING_INTERVAL_NS;
      for (uint32_t i = 0; i < opt.connections; i++) {
        struct connection *c = &conns[i];
        if (opt.mode == MODE_CHURN) {
          if (c->state == CONN_IDLE) start_connect(c, now);
          else if ((c->state == CONN_CONNECTING || c->state == CONN_HANDSHAKE) &&
                   now - c->connect_started_ns > seconds_to_ns(opt.connect_timeout_s))
            fail_connect(c, 0);
        }
      }
    }

    uint64_t next_deadline = phase == PHASE_WARMUP    ? warmup_end
                             : phase == PHASE_MEASURE ? measure_end
                                                      : connect_deadline;
    if (next_housekeeping < next_deadline) next_deadline = next_housekeeping;
    int timeout_ms = next_deadline > now ? (int)((next_deadline - now + 999999) / 1000000) : 0;
    if (ready_count > 0) timeout_ms = 0;

    int n = epoll_wait(epoll_fd, events, MAX_EPOLL_EVENTS, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("loadgen: epoll_wait");
      totals.errors++;
      break;
    }
    now = now_ns();
    /* Each fd appears at most once per batch, and a connection closed while
     * handling its own event has no other event left in this batch. */
    for (int i = 0; i < n; i++) on_event(events[i].data.ptr, events[i].events, now);
    read_ready_connections();
  }

  if (phase == PHASE_DONE) {
    struct timespec pause = {0, (long)END_MARKER_PAUSE_NS};
    nanosleep(&pause, NULL);
  }
  phase = PHASE_DONE; /* closes below are ours, not errors */
  for (uint32_t i = 0; i < opt.connections; i++) close_connection(&conns[i]);

  double seconds = measure_end > measure_start ? (double)(measure_end - measure_start) / 1e9 : 0;
  if (totals.messages == 0 && totals.errors == 0) {
    fprintf(stderr, "loadgen: no message completed in the measured window\n");
    totals.errors++;
  }
  printf("{\"mode\":\"%s\",\"connections\":%u,\"size\":%llu,\"depth\":%u,"
         "\"seconds\":%.4f,\"messages\":%llu,\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f,"
         "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"mismatches\":%llu,"
         "\"errors\":%llu,\"connect_failures\":%llu,\"connects\":%llu,"
         "\"client_cpu_s\":%.4f}\n",
         mode_name(), opt.connections, (unsigned long long)opt.size, opt.depth, seconds,
         (unsigned long long)totals.messages, seconds > 0 ? totals.messages / seconds : 0.0,
         seconds > 0 ? totals.window_bytes / seconds / 1e6 : 0.0, histogram_quantile_us(0.50),
         histogram_quantile_us(0.99), histogram_quantile_us(0.999),
         (unsigned long long)totals.mismatches, (unsigned long long)totals.errors,
         (unsigned long long)totals.connect_failures, (unsigned long long)totals.connects,
         cpu_at_measure_end - cpu_at_measure_start);
  fflush(stdout);
  return totals.mismatches || totals.errors || totals.connect_failures ? 1 : 0;
}
