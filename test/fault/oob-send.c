// Sends urgent (out-of-band) data, which Node cannot: connects to
// 127.0.0.1:<port>, sends in-band bytes around urgent ones for <rounds>
// rounds, waits <hold-ms> with the connection open, ends its side, and prints
// everything it reads back until EOF.
// `oob-send <port> markreset <hold-ms>` sends "A"x10 and "!" urgent, waits
// <hold-ms>, and resets the connection (SO_LINGER 0).
// `oob-send <port> mark <hold-ms>` instead sends "A"x10, "!" urgent, "B"x10
// once, reads until the 20 in-band bytes are back or <hold-ms> have passed,
// prints what came back by then and a '|', then ends its side and prints the
// rest: what an echo returns before it sees a FIN. Waiting for the bytes
// rather than a fixed time keeps a slow (loaded, sanitized) echo from
// looking like one that holds bytes back until the FIN.
// Built by test/fault/build.ts; used by the RELIABILITY #30 test.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long ElapsedMs(const struct timespec* since) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: oob-send <port> <rounds> <hold-ms>\n");
    return 2;
  }
  int rounds = atoi(argv[2]);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  address.sin_port = htons((unsigned short)atoi(argv[1]));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr*)&address, sizeof address) < 0) {
    perror("connect");
    return 1;
  }
  if (strcmp(argv[2], "markreset") == 0) {
    // "A"x10, "!" urgent, nothing behind it; <hold-ms> later, a reset.
    if (send(fd, "AAAAAAAAAA", 10, 0) != 10 || send(fd, "!", 1, MSG_OOB) != 1) {
      perror("send");
      return 1;
    }
    usleep((useconds_t)atoi(argv[3]) * 1000);
    struct linger reset = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(fd);
    return 0;
  }
  if (strcmp(argv[2], "mark") == 0) {
    if (send(fd, "AAAAAAAAAA", 10, 0) != 10 || send(fd, "!", 1, MSG_OOB) != 1 ||
        send(fd, "BBBBBBBBBB", 10, 0) != 10) {
      perror("send");
      return 1;
    }
    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);
    long holdMs = atol(argv[3]);
    char early[4096];
    size_t have = 0;
    while (have < 20) {
      long left = holdMs - ElapsedMs(&started);
      struct pollfd readable = {fd, POLLIN, 0};
      if (left <= 0 || poll(&readable, 1, (int)left) <= 0) break;
      ssize_t got = recv(fd, early + have, sizeof early - have, MSG_DONTWAIT);
      if (got <= 0) break;
      have += (size_t)got;
    }
    fwrite(early, 1, have, stdout);
    fputc('|', stdout);
  }
  for (int i = 0; i < rounds; i++) {
    char line[32];
    int length = snprintf(line, sizeof line, "in-band %d;", i);
    if (send(fd, line, (size_t)length, 0) != length || send(fd, "!", 1, MSG_OOB) != 1) {
      perror("send");
      return 1;
    }
    usleep(2000);
  }
  if (strcmp(argv[2], "mark") != 0) usleep((useconds_t)atoi(argv[3]) * 1000);
  shutdown(fd, SHUT_WR);
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof buffer, 0)) > 0) fwrite(buffer, 1, (size_t)n, stdout);
  close(fd);
  return n < 0 ? 1 : 0;
}
