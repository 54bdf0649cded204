// Fault injection for the reliability tests, loaded with LD_PRELOAD into a
// child process (test/fault/build.ts compiles it). Everything is driven by
// environment variables, so a test states the fault it wants:
//
//   FAULT_<CALL>_AFTER=N    let N calls of CALL succeed, then fail the next ones
//   FAULT_<CALL>_COUNT=K    how many calls fail after that (default 1; -1 = all)
//   FAULT_<CALL>_ERRNO=E    the errno they fail with (default: see kCalls)
//     CALL is ACCEPT4, EPOLL_CTL (EPOLL_CTL_ADD only), PIPE2, SOCKET, MALLOC,
//     EPOLL_WAIT or PTHREAD_CREATE. SOCKET's default errno is EMFILE: a
//     connect's socket (made on the JS thread: FAULT_ANY_THREAD=1) finds the
//     process out of fds. PTHREAD_CREATE counts, on any thread, only the calls
//     that start a function of the addon (epoll_reactor.node, or the prebuild
//     epoll-reactor.glibc.node): the reactor's thread and, once a server
//     listens, its fd-table grower (src-native/fd_table.h).
//   FAULT_MALLOC_MIN_SIZE=B only allocations of at least B bytes count for MALLOC.
//   FAULT_ARM_ON_SIGUSR2=1  count and fail nothing until the process gets SIGUSR2
//                           (the test's arm point: after startup, say).
//   FAULT_ANY_THREAD=1      count and fail calls on every thread; by default
//                           only on the reactor thread (named "epoll-reactor"),
//                           so Node's own allocations and accepts are left alone.
//   FAULT_EINTR_EVERY=K     on the reactor thread, every K-th recv, send, sendmsg,
//                           accept4, epoll_wait, splice and read fails with EINTR
//                           before doing anything, as an interrupted call would.
//   FAULT_SIGNAL_STORM_US=U once the reactor runs, a SIGALRM every U µs
//                           (setitimer), handled without SA_RESTART, so every
//                           blocking call on a thread that takes it sees EINTR.
//   FAULT_RECV_DELAY_US=U   on the reactor thread, every recv first sleeps U µs:
//                           a turn over many sockets then runs long.
//   FAULT_WAKE_DELAY_US=U   on the reactor thread, every 8-byte write() (libuv's
//                           uv_async_send, which wakes the JS thread) returns only
//                           U µs after it: JS runs while the turn that woke it
//                           has not ended.
//   FAULT_RCVBUF=B          every TCP socket this process creates gets SO_RCVBUF B
//                           (before it connects, so the window stays that small).
//   FAULT_CLOSE_LOG=1       count, per fd number, the calls that created it and
//                           the close()s of it (and which thread closed it), and
//                           every close() that failed with EBADF.
//   FAULT_REPORT=path       at exit, write what happened there as one JSON object.
//
// The reactor thread is recognised by name, which it sets first thing; a
// thread is checked when it first calls epoll_wait, so the check costs nothing
// per malloc.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

extern void* __libc_malloc(size_t size);

enum Call { kAccept4, kEpollCtl, kPipe2, kSocket, kMalloc, kEpollWait, kPthreadCreate, kCallCount };

struct Fault {
  const char* name;
  int defaultErrno;
  long after;  // -1: no fault configured
  long count;
  int error;
  atomic_long calls;
  atomic_long failed;
};

static struct Fault faults[kCallCount] = {
    [kAccept4] = {"ACCEPT4", ENOBUFS, -1, 1, 0, 0, 0},
    [kEpollCtl] = {"EPOLL_CTL", ENOMEM, -1, 1, 0, 0, 0},
    [kPipe2] = {"PIPE2", EMFILE, -1, 1, 0, 0, 0},
    [kSocket] = {"SOCKET", EMFILE, -1, 1, 0, 0, 0},
    [kMalloc] = {"MALLOC", ENOMEM, -1, 1, 0, 0, 0},
    [kEpollWait] = {"EPOLL_WAIT", EINVAL, -1, 1, 0, 0, 0},
    [kPthreadCreate] = {"PTHREAD_CREATE", EAGAIN, -1, 1, 0, 0, 0},
};

static int configured;
static atomic_int armed = 1;
static int armOnSignal;
static int anyThread;
static long mallocMinSize;
static long eintrEvery;
static atomic_long eintrCalls;
static atomic_long eintrInjected;
static long stormMicros;
static atomic_int stormStarted;
static atomic_long signalsHandled;
static atomic_long wakesDelayed;
static int closeLog;
static long receiveBuffer;
static long recvDelayMicros;
static long wakeDelayMicros;
static const char* reportPath;

// Per-thread: 0 unknown, 1 the reactor thread, 2 another thread.
static __thread int threadKind __attribute__((tls_model("initial-exec")));

#define kMaxFd 65536
struct FdRecord {
  atomic_int created;
  atomic_int closed;
  atomic_int closedByReactor;
  atomic_int ebadf;
};
static struct FdRecord* fdRecords;
static atomic_long ebadfTotal;

static long EnvLong(const char* name, long fallback) {
  const char* text = getenv(name);
  return text != NULL && *text != '\0' ? strtol(text, NULL, 10) : fallback;
}

__attribute__((constructor)) static void Configure(void) {
  char name[64];
  for (int i = 0; i < kCallCount; i++) {
    snprintf(name, sizeof name, "FAULT_%s_AFTER", faults[i].name);
    faults[i].after = EnvLong(name, -1);
    snprintf(name, sizeof name, "FAULT_%s_COUNT", faults[i].name);
    faults[i].count = EnvLong(name, 1);
    snprintf(name, sizeof name, "FAULT_%s_ERRNO", faults[i].name);
    faults[i].error = (int)EnvLong(name, faults[i].defaultErrno);
  }
  anyThread = EnvLong("FAULT_ANY_THREAD", 0) != 0;
  armOnSignal = EnvLong("FAULT_ARM_ON_SIGUSR2", 0) != 0;
  if (armOnSignal) atomic_store(&armed, 0);
  mallocMinSize = EnvLong("FAULT_MALLOC_MIN_SIZE", 0);
  eintrEvery = EnvLong("FAULT_EINTR_EVERY", 0);
  stormMicros = EnvLong("FAULT_SIGNAL_STORM_US", 0);
  closeLog = EnvLong("FAULT_CLOSE_LOG", 0) != 0;
  receiveBuffer = EnvLong("FAULT_RCVBUF", 0);
  recvDelayMicros = EnvLong("FAULT_RECV_DELAY_US", 0);
  wakeDelayMicros = EnvLong("FAULT_WAKE_DELAY_US", 0);
  reportPath = getenv("FAULT_REPORT");
  if (closeLog) fdRecords = calloc(kMaxFd, sizeof *fdRecords);
  configured = 1;
}

static int OnReactorThread(void) { return threadKind == 1; }

static void IdentifyThread(void) {
  if (threadKind != 0) return;
  char name[16] = {0};
  prctl(PR_GET_NAME, name, 0, 0, 0);
  threadKind = strcmp(name, "epoll-reactor") == 0 ? 1 : 2;
}

// Whether this call of `call` fails, counting it if `counts` (it is on a
// thread faults apply to).
static int ShouldFailIf(enum Call call, int counts) {
  struct Fault* fault = &faults[call];
  if (!configured || fault->after < 0 || !atomic_load(&armed)) return 0;
  if (!counts) return 0;
  long index = atomic_fetch_add(&fault->calls, 1);
  if (index < fault->after) return 0;
  if (fault->count >= 0 && index >= fault->after + fault->count) return 0;
  atomic_fetch_add(&fault->failed, 1);
  return 1;
}

static int ShouldFail(enum Call call) { return ShouldFailIf(call, anyThread || OnReactorThread()); }

static int InjectEintr(void) {
  if (eintrEvery <= 0 || !OnReactorThread()) return 0;
  if (atomic_fetch_add(&eintrCalls, 1) % eintrEvery != eintrEvery - 1) return 0;
  atomic_fetch_add(&eintrInjected, 1);
  errno = EINTR;
  return 1;
}

static void OnAlarm(int signal) {
  (void)signal;
  atomic_fetch_add(&signalsHandled, 1);
}

static void OnArm(int signal) {
  (void)signal;
  atomic_store(&armed, 1);
}

// Installed from the reactor thread's first epoll_wait, as the storm is.
static void InstallArmHandler(void) {
  static atomic_int installed;
  if (!armOnSignal || atomic_exchange(&installed, 1)) return;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = OnArm;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGUSR2, &action, NULL);
}

// Started from the reactor thread's first epoll_wait: by then Node has reset
// every signal disposition at startup, so this handler stays.
static void StartSignalStorm(void) {
  if (stormMicros <= 0 || atomic_exchange(&stormStarted, 1)) return;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = OnAlarm;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: interrupted calls return EINTR
  sigaction(SIGALRM, &action, NULL);
  struct itimerval every;
  every.it_interval.tv_sec = stormMicros / 1000000;
  every.it_interval.tv_usec = stormMicros % 1000000;
  every.it_value = every.it_interval;
  setitimer(ITIMER_REAL, &every, NULL);
}

static void NoteCreated(int fd) {
  if (fdRecords != NULL && fd >= 0 && fd < kMaxFd) atomic_fetch_add(&fdRecords[fd].created, 1);
}

#define REAL(name) \
  static __typeof__(name)* real_##name; \
  if (real_##name == NULL) real_##name = (__typeof__(name)*)dlsym(RTLD_NEXT, #name)

void* malloc(size_t size) {
  if (threadKind == 1 && (long)size >= mallocMinSize && ShouldFail(kMalloc)) {
    errno = ENOMEM;
    return NULL;
  }
  return __libc_malloc(size);
}

int accept4(int fd, struct sockaddr* address, socklen_t* length, int flags) {
  REAL(accept4);
  if (InjectEintr()) return -1;
  if (ShouldFail(kAccept4)) {
    errno = faults[kAccept4].error;
    return -1;
  }
  int result = real_accept4(fd, address, length, flags);
  NoteCreated(result);
  return result;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) {
  REAL(epoll_ctl);
  if (op == EPOLL_CTL_ADD && ShouldFail(kEpollCtl)) {
    errno = faults[kEpollCtl].error;
    return -1;
  }
  return real_epoll_ctl(epfd, op, fd, event);
}

int epoll_wait(int epfd, struct epoll_event* events, int capacity, int timeout) {
  REAL(epoll_wait);
  IdentifyThread();
  if (OnReactorThread()) {
    InstallArmHandler();
    StartSignalStorm();
  }
  if (InjectEintr()) return -1;
  if (ShouldFail(kEpollWait)) {
    errno = faults[kEpollWait].error;
    return -1;
  }
  return real_epoll_wait(epfd, events, capacity, timeout);
}

static int IsAddonFile(const char* path) {
  const char* slash = strrchr(path, '/');
  const char* name = slash != NULL ? slash + 1 : path;
  size_t length = strlen(name);
  return (strncmp(name, "epoll_reactor", 13) == 0 || strncmp(name, "epoll-reactor", 13) == 0) &&
         length > 5 && strcmp(name + length - 5, ".node") == 0;
}

int pthread_create(pthread_t* thread, const pthread_attr_t* attributes, void* (*start)(void*),
                   void* argument) {
  REAL(pthread_create);
  // Only the addon's threads count: Node starts threads of its own. The
  // addon is build/Release/epoll_reactor.node, or the prebuild
  // epoll-reactor.glibc.node; a folder's name says nothing (Node's own
  // binary may sit under ~/.cache/epoll-reactor).
  Dl_info info;
  int addonThread = dladdr((void*)start, &info) != 0 && info.dli_fname != NULL && IsAddonFile(info.dli_fname);
  if (ShouldFailIf(kPthreadCreate, addonThread)) return faults[kPthreadCreate].error;
  return real_pthread_create(thread, attributes, start, argument);
}

int pipe2(int fds[2], int flags) {
  REAL(pipe2);
  if (ShouldFail(kPipe2)) {
    errno = faults[kPipe2].error;
    return -1;
  }
  int result = real_pipe2(fds, flags);
  if (result == 0) {
    NoteCreated(fds[0]);
    NoteCreated(fds[1]);
  }
  return result;
}

ssize_t recv(int fd, void* into, size_t length, int flags) {
  REAL(recv);
  if (InjectEintr()) return -1;
  if (recvDelayMicros > 0 && OnReactorThread()) usleep((useconds_t)recvDelayMicros);
  return real_recv(fd, into, length, flags);
}

ssize_t send(int fd, const void* bytes, size_t length, int flags) {
  REAL(send);
  if (InjectEintr()) return -1;
  return real_send(fd, bytes, length, flags);
}

ssize_t sendmsg(int fd, const struct msghdr* message, int flags) {
  REAL(sendmsg);
  if (InjectEintr()) return -1;
  return real_sendmsg(fd, message, flags);
}

ssize_t splice(int in, loff_t* inOffset, int out, loff_t* outOffset, size_t length, unsigned flags) {
  REAL(splice);
  if (InjectEintr()) return -1;
  return real_splice(in, inOffset, out, outOffset, length, flags);
}

ssize_t read(int fd, void* into, size_t length) {
  REAL(read);
  if (InjectEintr()) return -1;
  return real_read(fd, into, length);
}

ssize_t write(int fd, const void* bytes, size_t length) {
  REAL(write);
  ssize_t written = real_write(fd, bytes, length);
  if (wakeDelayMicros > 0 && length == 8 && OnReactorThread()) {
    int savedErrno = errno;
    atomic_fetch_add(&wakesDelayed, 1);
    usleep((useconds_t)wakeDelayMicros);
    errno = savedErrno;
  }
  return written;
}

static void NoteClose(int fd, int result) {
  if (fdRecords != NULL && fd >= 0 && fd < kMaxFd) {
    int savedErrno = errno;
    if (result < 0 && savedErrno == EBADF) {
      atomic_fetch_add(&fdRecords[fd].ebadf, 1);
      atomic_fetch_add(&ebadfTotal, 1);
    } else {
      atomic_fetch_add(&fdRecords[fd].closed, 1);
      if (OnReactorThread()) atomic_fetch_add(&fdRecords[fd].closedByReactor, 1);
    }
    errno = savedErrno;
  }
}

int close(int fd) {
  REAL(close);
  int result = real_close(fd);
  NoteClose(fd, result);
  return result;
}

// libuv closes with syscall(SYS_close, fd) on Linux, not close(): count those
// too. From Node 24 on, libuv also sets up an io_uring per loop (the main
// loop's, and the one of each thread that runs a loop, such as V8's delayed
// task scheduler) with syscall(SYS_io_uring_setup): there is no glibc wrapper
// to intercept, so its fd's creation is noted here, or its close would look
// like a close of an fd never handed out.
long syscall(long number, ...) {
  REAL(syscall);
  va_list arguments;
  va_start(arguments, number);
  long a = va_arg(arguments, long), b = va_arg(arguments, long), c = va_arg(arguments, long);
  long d = va_arg(arguments, long), e = va_arg(arguments, long), f = va_arg(arguments, long);
  va_end(arguments);
  long result = real_syscall(number, a, b, c, d, e, f);
  if (number == SYS_close) NoteClose((int)a, (int)result);
#ifdef SYS_io_uring_setup
  if (number == SYS_io_uring_setup) NoteCreated((int)result);
#endif
  return result;
}

// The calls that hand out an fd number, so that a reused number starts a new
// lifetime in the log: closes can then be compared with creations per fd.
int socket(int domain, int type, int protocol) {
  REAL(socket);
  if (ShouldFail(kSocket)) {
    errno = faults[kSocket].error;
    return -1;
  }
  int result = real_socket(domain, type, protocol);
  NoteCreated(result);
  if (result >= 0 && receiveBuffer > 0 && (domain == AF_INET || domain == AF_INET6) &&
      (type & 0xf) == SOCK_STREAM) {
    int size = (int)receiveBuffer;
    setsockopt(result, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  return result;
}

int dup(int fd) {
  REAL(dup);
  int result = real_dup(fd);
  NoteCreated(result);
  return result;
}

int dup2(int fd, int target) {
  REAL(dup2);
  int result = real_dup2(fd, target);
  if (result >= 0 && fd != target) NoteCreated(result);
  return result;
}

int dup3(int fd, int target, int flags) {
  REAL(dup3);
  int result = real_dup3(fd, target, flags);
  NoteCreated(result);
  return result;
}

int fcntl(int fd, int command, ...) {
  REAL(fcntl);
  va_list arguments;
  va_start(arguments, command);
  void* argument = va_arg(arguments, void*);
  va_end(arguments);
  int result = real_fcntl(fd, command, argument);
  if (command == F_DUPFD || command == F_DUPFD_CLOEXEC) NoteCreated(result);
  return result;
}

// Built with _FILE_OFFSET_BITS=64 (as Node and the addon are), calls to
// fcntl, open and openat link to these names.
int fcntl64(int fd, int command, ...) {
  REAL(fcntl64);
  va_list arguments;
  va_start(arguments, command);
  void* argument = va_arg(arguments, void*);
  va_end(arguments);
  int result = real_fcntl64(fd, command, argument);
  if (command == F_DUPFD || command == F_DUPFD_CLOEXEC) NoteCreated(result);
  return result;
}

int open64(const char* path, int flags, ...) {
  REAL(open64);
  va_list arguments;
  va_start(arguments, flags);
  mode_t mode = (mode_t)va_arg(arguments, int);
  va_end(arguments);
  int result = real_open64(path, flags, mode);
  NoteCreated(result);
  return result;
}

int openat64(int directory, const char* path, int flags, ...) {
  REAL(openat64);
  va_list arguments;
  va_start(arguments, flags);
  mode_t mode = (mode_t)va_arg(arguments, int);
  va_end(arguments);
  int result = real_openat64(directory, path, flags, mode);
  NoteCreated(result);
  return result;
}

int open(const char* path, int flags, ...) {
  REAL(open);
  va_list arguments;
  va_start(arguments, flags);
  mode_t mode = (mode_t)va_arg(arguments, int);
  va_end(arguments);
  int result = real_open(path, flags, mode);
  NoteCreated(result);
  return result;
}

int openat(int directory, const char* path, int flags, ...) {
  REAL(openat);
  va_list arguments;
  va_start(arguments, flags);
  mode_t mode = (mode_t)va_arg(arguments, int);
  va_end(arguments);
  int result = real_openat(directory, path, flags, mode);
  NoteCreated(result);
  return result;
}

int epoll_create1(int flags) {
  REAL(epoll_create1);
  int result = real_epoll_create1(flags);
  NoteCreated(result);
  return result;
}

int eventfd(unsigned int initial, int flags) {
  REAL(eventfd);
  int result = real_eventfd(initial, flags);
  NoteCreated(result);
  return result;
}

int socketpair(int domain, int type, int protocol, int fds[2]) {
  REAL(socketpair);
  int result = real_socketpair(domain, type, protocol, fds);
  if (result == 0) {
    NoteCreated(fds[0]);
    NoteCreated(fds[1]);
  }
  return result;
}

__attribute__((destructor)) static void Report(void) {
  if (reportPath == NULL) return;
  // Stop the storm before writing: the report must not be interrupted.
  struct itimerval off;
  memset(&off, 0, sizeof off);
  setitimer(ITIMER_REAL, &off, NULL);
  FILE* out = fopen(reportPath, "w");
  if (out == NULL) return;
  fprintf(out, "{\"calls\":{");
  for (int i = 0; i < kCallCount; i++) {
    fprintf(out, "%s\"%s\":{\"counted\":%ld,\"failed\":%ld}", i ? "," : "", faults[i].name,
            atomic_load(&faults[i].calls), atomic_load(&faults[i].failed));
  }
  fprintf(out, "},\"eintrInjected\":%ld,\"signalsHandled\":%ld,\"wakesDelayed\":%ld,\"ebadf\":%ld,\"fds\":{",
          atomic_load(&eintrInjected), atomic_load(&signalsHandled), atomic_load(&wakesDelayed),
          atomic_load(&ebadfTotal));
  int first = 1;
  for (int fd = 0; fdRecords != NULL && fd < kMaxFd; fd++) {
    struct FdRecord* record = &fdRecords[fd];
    if (record->created == 0 && record->closed == 0 && record->ebadf == 0) continue;
    fprintf(out, "%s\"%d\":{\"created\":%d,\"closed\":%d,\"closedByReactor\":%d,\"ebadf\":%d}",
            first ? "" : ",", fd, atomic_load(&record->created), atomic_load(&record->closed),
            atomic_load(&record->closedByReactor), atomic_load(&record->ebadf));
    first = 0;
  }
  fprintf(out, "}}\n");
  fclose(out);
}
