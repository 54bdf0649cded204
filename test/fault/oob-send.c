// Sends urgent (out-of-band) data, which Node cannot: connects to
// 127.0.0.1:<port>, sends in-band bytes around urgent ones for <rounds>
// rounds, waits <hold-ms> with the connection open, ends its side, and prints
// everything it reads back until EOF.
// `oob-send <port> mark <hold-ms>` instead sends "A"x10, "!" urgent, "B"x10
// once, waits <hold-ms>, prints what came back by then and a '|', then ends
// its side and prints the rest: what an echo returns before it sees a FIN.
// Built by test/fault/build.ts; used by the RELIABILITY #30 test.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
  if (strcmp(argv[2], "mark") == 0) {
    if (send(fd, "AAAAAAAAAA", 10, 0) != 10 || send(fd, "!", 1, MSG_OOB) != 1 ||
        send(fd, "BBBBBBBBBB", 10, 0) != 10) {
      perror("send");
      return 1;
    }
    usleep((useconds_t)atoi(argv[3]) * 1000);
    char early[4096];
    ssize_t got = recv(fd, early, sizeof early, MSG_DONTWAIT);
    if (got > 0) fwrite(early, 1, (size_t)got, stdout);
    fputc('|', stdout);
    rounds = 0;
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
  usleep((useconds_t)atoi(argv[3]) * 1000);
  shutdown(fd, SHUT_WR);
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof buffer, 0)) > 0) fwrite(buffer, 1, (size_t)n, stdout);
  close(fd);
  return n < 0 ? 1 : 0;
}
