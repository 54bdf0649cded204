// What one thread crossing costs on this host: two threads wake each other
// in turn through eventfds, as the reactor thread and the JS thread do once
// per batch (the threadsafe call one way, the command wakeup the other).
// Reported per round trip (two wakeups, two switches), with both threads on
// one CPU (the pinned benchmarks: the server's two threads share CPU 1) and
// on two CPUs (a wakeup that crosses cores, as unpinned runs often do).
//
// usage: thread-wakeup [round trips per measurement, default 100000]
// Prints one JSON object: microseconds per round trip, median of 5.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static int toOther, toMain;
static long roundTrips = 100000;

static void Pin(pthread_t thread, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(thread, sizeof set, &set) != 0) {
    fprintf(stderr, "thread-wakeup: cannot pin to CPU %d\n", cpu);
    exit(1);
  }
}

static void Wait(int fd) {
  uint64_t value;
  if (read(fd, &value, sizeof value) != sizeof value) exit(1);
}

static void Wake(int fd) {
  uint64_t value = 1;
  if (write(fd, &value, sizeof value) != sizeof value) exit(1);
}

static void* Other(void* cpu) {
  Pin(pthread_self(), (int)(intptr_t)cpu);
  for (long i = 0; i < roundTrips; i++) {
    Wait(toOther);
    Wake(toMain);
  }
  return NULL;
}

// Microseconds per round trip with the main thread on CPU 0 and the other on `cpu`.
static double Measure(int cpu) {
  pthread_t other;
  Pin(pthread_self(), 0);
  if (pthread_create(&other, NULL, Other, (void*)(intptr_t)cpu) != 0) exit(1);
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (long i = 0; i < roundTrips; i++) {
    Wake(toOther);
    Wait(toMain);
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  pthread_join(other, NULL);
  double ns = (end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec);
  return ns / roundTrips / 1000;
}

static int Compare(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double Median(int cpu) {
  double runs[5];
  for (int i = 0; i < 5; i++) runs[i] = Measure(cpu);
  qsort(runs, 5, sizeof runs[0], Compare);
  return runs[2];
}

int main(int argc, char** argv) {
  if (argc > 1) roundTrips = atol(argv[1]);
  if (roundTrips <= 0) {
    fprintf(stderr, "usage: thread-wakeup [round trips > 0]\n");
    return 2;
  }
  toOther = eventfd(0, EFD_CLOEXEC);
  toMain = eventfd(0, EFD_CLOEXEC);
  if (toOther < 0 || toMain < 0) return 1;
  double sameCpu = Median(0);
  double crossCpu = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? Median(1) : -1;
  printf("{\"round_trips\":%ld,\"same_cpu_us\":%.2f,\"cross_cpu_us\":%.2f}\n", roundTrips, sameCpu, crossCpu);
  return 0;
}
