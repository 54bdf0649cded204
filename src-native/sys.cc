#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // splice, pipe2, accept4
#endif
#include "sys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace reactor::sys {

namespace {
inline int Fail() { return -errno; }
}  // namespace

int EpollCreate() {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  return fd < 0 ? Fail() : fd;
}

int EpollAdd(int epfd, int fd, uint32_t events, void* tag) {
  epoll_event event{};
  event.events = events;
  event.data.ptr = tag;
  return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event) < 0 ? Fail() : 0;
}

int EpollModify(int epfd, int fd, uint32_t events, void* tag) {
  epoll_event event{};
  event.events = events;
  event.data.ptr = tag;
  return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &event) < 0 ? Fail() : 0;
}

int EpollDelete(int epfd, int fd) {
  // A non-null event pointer keeps kernels before 2.6.9 happy; harmless now.
  epoll_event unused{};
  return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &unused) < 0 ? Fail() : 0;
}

int EpollWait(int epfd, epoll_event* events, int capacity, int timeoutMs) {
  int ready = epoll_wait(epfd, events, capacity, timeoutMs);
  if (ready < 0) return errno == EINTR ? 0 : Fail();
  return ready;
}

int EventFdCreate() {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  return fd < 0 ? Fail() : fd;
}

int EventFdSignal(int fd) {
  uint64_t one = 1;
  for (;;) {
    if (write(fd, &one, sizeof one) == sizeof one) return 0;
    // EAGAIN: the counter is saturated (2^64 - 2 unread writes; the loop
    // never reads it, see Loop::Run). Nothing more to signal.
    if (errno == EAGAIN) return 0;
    if (errno != EINTR) return Fail();
  }
}

int Accept(int listenFd, SocketAddress* peer) {
  for (;;) {
    peer->length = sizeof peer->storage;
    int fd = accept4(listenFd, reinterpret_cast<sockaddr*>(&peer->storage),
                     &peer->length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    if (errno != EINTR) return Fail();
  }
}

ssize_t Receive(int fd, char* into, size_t capacity) {
  for (;;) {
    ssize_t n = recv(fd, into, capacity, 0);
    if (n >= 0) return n;
    if (errno != EINTR) return Fail();
  }
}

void Cleanse(void* bytes, size_t length) { explicit_bzero(bytes, length); }

void DiscardQueued(int fd, size_t limit) {
  char scratch[4096];
  while (limit > 0) {
    ssize_t n = Receive(fd, scratch, std::min(limit, sizeof scratch));
    if (n <= 0) return;
    limit -= static_cast<size_t>(n);
  }
}

ssize_t SendVector(int fd, const iovec* chunks, int count) {
  msghdr message{};
  message.msg_iov = const_cast<iovec*>(chunks);
  message.msg_iovlen = static_cast<size_t>(count);
  for (;;) {
    // One chunk (a small reply, a TLS record): send() skips the msghdr and
    // iovec copies sendmsg makes the kernel do.
    ssize_t n = count == 1 ? send(fd, chunks[0].iov_base, chunks[0].iov_len, MSG_NOSIGNAL)
                           : sendmsg(fd, &message, MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno != EINTR) return Fail();
  }
}

int ShutdownWrite(int fd) { return shutdown(fd, SHUT_WR) < 0 ? Fail() : 0; }

int Close(int fd) {
  // Linux releases the fd even when close() reports EINTR; retrying could
  // close an fd another thread has just been given.
  return close(fd) < 0 && errno != EINTR ? Fail() : 0;
}

int PendingSocketError(int fd) {
  int error = 0;
  socklen_t length = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) return Fail();
  return -error;
}

int LocalAddress(int fd, SocketAddress* out) {
  out->length = sizeof out->storage;
  return getsockname(fd, reinterpret_cast<sockaddr*>(&out->storage), &out->length) < 0
             ? Fail()
             : 0;
}

int OpenSpareFd() {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd < 0 ? Fail() : fd;
}

// Fills `out` from text; returns 0 or -errno.
static int MakeAddress(int family, const std::string& address, int port, SocketAddress* out) {
  std::memset(&out->storage, 0, sizeof out->storage);
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&out->storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, address.c_str(), &in->sin_addr) != 1) return -EINVAL;
    out->length = sizeof(sockaddr_in);
    return 0;
  }
  if (family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, address.c_str(), &in6->sin6_addr) != 1) return -EINVAL;
    out->length = sizeof(sockaddr_in6);
    return 0;
  }
  if (family == AF_UNIX) {
    auto* un = reinterpret_cast<sockaddr_un*>(&out->storage);
    un->sun_family = AF_UNIX;
    // A path needs room for its terminating NUL; an abstract name has none, and
    // may fill sun_path (libuv before 1.47, so Node 20, pads it to the full size).
    const bool abstract = !address.empty() && address[0] == '\0';
    if (address.size() > sizeof un->sun_path || (!abstract && address.size() == sizeof un->sun_path)) {
      return -ENAMETOOLONG;
    }
    std::memcpy(un->sun_path, address.data(), address.size());
    // A path is NUL-terminated; an abstract name (leading NUL) is not.
    out->length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() +
                                         (address.empty() || address[0] != '\0' ? 1 : 0));
    return 0;
  }
  return -EAFNOSUPPORT;
}

int ListenSocket(int family, const std::string& address, int port, int backlog,
                 ListenFlags flags, const char** failedCall) {
  SocketAddress bindAddress;
  int made = MakeAddress(family, address, port, &bindAddress);
  if (made < 0) {
    *failedCall = "listen";
    return made;
  }

  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *failedCall = "socket";
    return Fail();
  }
  int on = 1;
  if (family != AF_UNIX) {
    // As libuv does for every TCP server: a restarted server may rebind a
    // port whose old connections sit in TIME_WAIT.
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  }
  if (family != AF_UNIX && flags.reusePort &&
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) {
    int error = Fail();
    close(fd);
    *failedCall = "setsockopt";
    return error;
  }
  if (family == AF_INET6) {
    int only = flags.ipv6Only ? 1 : 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof only);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&bindAddress.storage), bindAddress.length) < 0) {
    int error = Fail();
    close(fd);
    *failedCall = "bind";
    return error;
  }
  if (listen(fd, backlog) < 0) {
    int error = Fail();
    close(fd);
    *failedCall = "listen";
    return error;
  }
  return fd;
}

namespace {
// Starts connecting `fd` (non-blocking, owned here) to `target`: returns it
// connected or in progress, or closes it and returns -errno.
int StartConnect(int fd, const SocketAddress& target, const char** failedCall) {
  for (;;) {
    if (connect(fd, reinterpret_cast<const sockaddr*>(&target.storage), target.length) == 0) return fd;
    if (errno == EINTR) continue;
    // EINPROGRESS for TCP; EAGAIN for a Unix socket whose listener's backlog
    // is full is an error, as in libuv.
    if (errno == EINPROGRESS) return fd;
    int error = Fail();
    close(fd);
    *failedCall = "connect";
    return error;
  }
}
}  // namespace

int ConnectSocket(int family, const std::string& address, int port,
                  const std::string& localAddress, int localPort, const char** failedCall) {
  SocketAddress target;
  int made = MakeAddress(family, address, port, &target);
  if (made < 0) {
    *failedCall = "connect";
    return made;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *failedCall = "socket";
    return Fail();
  }
  if (family != AF_UNIX && (!localAddress.empty() || localPort != 0)) {
    SocketAddress local;
    std::string bindTo = localAddress.empty() ? (family == AF_INET6 ? "::" : "0.0.0.0") : localAddress;
    int localMade = MakeAddress(family, bindTo, localPort, &local);
    if (localMade < 0 ||
        bind(fd, reinterpret_cast<sockaddr*>(&local.storage), local.length) < 0) {
      int error = localMade < 0 ? localMade : Fail();
      close(fd);
      *failedCall = "bind";
      return error;
    }
  }
  return StartConnect(fd, target, failedCall);
}

int ConnectBoundSocket(int boundFd, int family, const std::string& address, int port, const char** failedCall) {
  SocketAddress target;
  int made = MakeAddress(family, address, port, &target);
  if (made < 0) {
    *failedCall = "connect";
    return made;
  }
  // A stream socket, before its flags are touched (they are shared).
  int type = 0;
  socklen_t length = sizeof type;
  if (getsockopt(boundFd, SOL_SOCKET, SO_TYPE, &type, &length) < 0) {
    *failedCall = "getsockopt";
    return Fail();
  }
  if (type != SOCK_STREAM) {
    *failedCall = "connect";
    return -EPROTOTYPE;
  }
  int fd = fcntl(boundFd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    *failedCall = "dup";
    return Fail();
  }
  // The duplicate shares the open file and so its flags: libuv's are
  // non-blocking already; set it in case they are not.
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    int error = Fail();
    close(fd);
    *failedCall = "fcntl";
    return error;
  }
  return StartConnect(fd, target, failedCall);
}

// A TCP socket whose connection is over (TCP_CLOSE) after it was made: it
// has heard from a peer (rcv_mss is set by the SYN-ACK), which a socket that
// was only bound, or never connected, has not. getpeername() fails for both.
static bool TcpConnectionOver(int fd) {
  int domain = 0;
  socklen_t length = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) < 0) return false;
  if (domain != AF_INET && domain != AF_INET6) return false;
  tcp_info info{};
  length = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) < 0) return false;
  return info.tcpi_state == TCP_CLOSE && info.tcpi_rcv_mss != 0;
}

int DuplicateConnectedFd(int fd, bool mayBeClosed, const char** failedCall) {
  *failedCall = "getsockopt";
  int type = 0;
  socklen_t length = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) < 0) return Fail();
  if (type != SOCK_STREAM) return -EPROTOTYPE;
  int listening = 0;
  length = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) < 0) return Fail();
  if (listening != 0) return -EINVAL;
  SocketAddress peer;
  *failedCall = "getpeername";
  if (PeerAddress(fd, &peer) < 0 && !(mayBeClosed && TcpConnectionOver(fd))) return -ENOTCONN;
  *failedCall = "dup";
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return Fail();
  // O_NONBLOCK lives on the open file description, which the copy shares with
  // libuv's fd; libuv's is non-blocking already, so this changes nothing there.
  int statusFlags = fcntl(copy, F_GETFL);
  if (statusFlags < 0 || fcntl(copy, F_SETFL, statusFlags | O_NONBLOCK) < 0) {
    int error = Fail();
    close(copy);
    return error;
  }
  return copy;
}

int Duplicate(int fd) { return DuplicateAtOrAbove(fd, 0); }

int DuplicateAtOrAbove(int fd, int lowest) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, lowest);
  return copy < 0 ? Fail() : copy;
}

int PeerAddress(int fd, SocketAddress* out) {
  out->length = sizeof out->storage;
  return getpeername(fd, reinterpret_cast<sockaddr*>(&out->storage), &out->length) < 0 ? Fail()
                                                                                         : 0;
}

uint64_t OpenFileLimit() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  return limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(limit.rlim_cur);
}

int MaxListenBacklog() {
  static const int value = [] {
    int read = 4096;
    int fd = open("/proc/sys/net/core/somaxconn", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char text[32] = {};
      ssize_t n = ::read(fd, text, sizeof text - 1);
      if (n > 0) read = std::max(0, atoi(text));
      close(fd);
    }
    return read;
  }();
  return value;
}

int PrepareListeningFd(int fd, int backlog) {
  int value = 0;
  socklen_t length = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &length) < 0) return Fail();
  if (value != SOCK_STREAM) return -EPROTOTYPE;
  length = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) < 0) return Fail();
  if (value == 0 && listen(fd, backlog) < 0) return Fail();
  length = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &length) < 0) return Fail();
  int family = value;
  int statusFlags = fcntl(fd, F_GETFL);
  if (statusFlags < 0 || fcntl(fd, F_SETFL, statusFlags | O_NONBLOCK) < 0) return Fail();
  int fdFlags = fcntl(fd, F_GETFD);
  if (fdFlags < 0 || fcntl(fd, F_SETFD, fdFlags | FD_CLOEXEC) < 0) return Fail();
  return family;
}

int CreatePipe(int fds[2]) { return pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0 ? Fail() : 0; }

ssize_t SpliceIn(int socketFd, int pipeWriteFd, size_t length) {
  for (;;) {
    ssize_t n = splice(socketFd, nullptr, pipeWriteFd, nullptr, length,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n >= 0) return n;
    if (errno != EINTR) return Fail();
  }
}

ssize_t SpliceOut(int pipeReadFd, int socketFd, size_t length) {
  for (;;) {
    // SPLICE_F_MORE would hold back a partial segment; forwarding passes bytes
    // on as they come. splice() into a reset socket raises SIGPIPE (there is
    // no MSG_NOSIGNAL for it); the reactor thread blocks every signal, so it
    // stays pending there and never reaches the process (loop.cc Start()).
    ssize_t n = splice(pipeReadFd, nullptr, socketFd, nullptr, length,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n >= 0) return n;
    if (errno != EINTR) return Fail();
  }
}

SigpipeGuard::SigpipeGuard(bool active) {
  if (!active) return;
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  if (pthread_sigmask(SIG_BLOCK, &pipe, &previous_) != 0) return;
  // Already blocked (the reactor thread): nothing to take or restore.
  active_ = !sigismember(&previous_, SIGPIPE);
}

SigpipeGuard::~SigpipeGuard() {
  if (!active_) return;
  sigset_t pending;
  if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    const timespec now = {0, 0};
    while (sigtimedwait(&pipe, nullptr, &now) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

int AtUrgentMark(int fd) {
  int atMark = 0;
  if (ioctl(fd, SIOCATMARK, &atMark) < 0) return Fail();
  return atMark != 0 ? 1 : 0;
}

bool MoreQueued(int fd) {
  // FIONREAD counts nothing at an urgent mark, so the mark is asked only
  // then; a failed ioctl says "more", as reading on after a hangup is safe.
  int queued = 0;
  if (ioctl(fd, FIONREAD, &queued) < 0 || queued > 0) return true;
  return AtUrgentMark(fd) == 1;
}

bool HungUp(int fd) {
  pollfd entry{fd, 0, 0};  // POLLHUP is reported whatever is asked
  int ready;
  do {
    ready = poll(&entry, 1, 0);
  } while (ready < 0 && errno == EINTR);
  return ready > 0 && (entry.revents & POLLHUP) != 0;
}

ssize_t Write(int fd, const char* from, size_t length) {
  for (;;) {
    ssize_t n = write(fd, from, length);
    if (n >= 0) return n;
    if (errno != EINTR) return Fail();
  }
}

int SetNoDelay(int fd, bool enable) {
  int value = enable ? 1 : 0;
  return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, sizeof value) < 0 ? Fail() : 0;
}

namespace {
// The level and option that carry fd's type of service, by its own family.
int TypeOfServiceOption(int fd, int* level, int* option) {
  SocketAddress local;
  if (int error = LocalAddress(fd, &local)) return error;
  sa_family_t family = local.storage.ss_family;
  if (family != AF_INET && family != AF_INET6) return -EINVAL;  // as node, for a socket that is not IP
  bool ipv6 = family == AF_INET6;
  *level = ipv6 ? IPPROTO_IPV6 : IPPROTO_IP;
  *option = ipv6 ? IPV6_TCLASS : IP_TOS;
  return 0;
}
}  // namespace

int SetTypeOfService(int fd, int tos) {
  int level = 0, option = 0;
  if (int error = TypeOfServiceOption(fd, &level, &option)) return error;
  return setsockopt(fd, level, option, &tos, sizeof tos) < 0 ? Fail() : 0;
}

int GetTypeOfService(int fd) {
  int level = 0, option = 0;
  if (int error = TypeOfServiceOption(fd, &level, &option)) return error;
  int tos = 0;
  socklen_t length = sizeof tos;
  return getsockopt(fd, level, option, &tos, &length) < 0 ? Fail() : tos;
}

int SetKeepAlive(int fd, bool enable, int idleSeconds, int intervalSeconds, int count) {
  int value = enable ? 1 : 0;
  if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &value, sizeof value) < 0) return Fail();
  // libuv stops here (EINVAL, which node ignores) when any is below 1.
  if (!enable || idleSeconds < 1 || intervalSeconds < 1 || count < 1) return 0;
  if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idleSeconds, sizeof idleSeconds) < 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intervalSeconds, sizeof intervalSeconds) < 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count) < 0) {
    return Fail();
  }
  return 0;
}

int GetSocketOption(int fd, SocketOption option) {
  int level = IPPROTO_TCP;
  int name = 0;
  switch (option) {
    case SocketOption::kTypeOfService: return GetTypeOfService(fd);
    case SocketOption::kKeepAlive: level = SOL_SOCKET; name = SO_KEEPALIVE; break;
    case SocketOption::kKeepAliveIdle: name = TCP_KEEPIDLE; break;
    case SocketOption::kKeepAliveInterval: name = TCP_KEEPINTVL; break;
    case SocketOption::kKeepAliveCount: name = TCP_KEEPCNT; break;
    case SocketOption::kNoDelay: name = TCP_NODELAY; break;
    default: return -EINVAL;
  }
  int value = 0;
  socklen_t length = sizeof value;
  return getsockopt(fd, level, name, &value, &length) < 0 ? Fail() : value;
}

int SetLingerZero(int fd) {
  linger option{1, 0};
  return setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, sizeof option) < 0 ? Fail() : 0;
}

std::string AddressText(const SocketAddress& address) {
  char text[INET6_ADDRSTRLEN] = {0};
  const auto* generic = reinterpret_cast<const sockaddr*>(&address.storage);
  if (generic->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address.storage);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
  } else if (generic->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
  }
  return text;
}

std::string UnixPath(const SocketAddress& address) {
  const auto* un = reinterpret_cast<const sockaddr_un*>(&address.storage);
  if (un->sun_family != AF_UNIX) return "";
  size_t length = address.length > offsetof(sockaddr_un, sun_path)
                      ? address.length - offsetof(sockaddr_un, sun_path)
                      : 0;
  std::string path(un->sun_path, length);
  // A filesystem path is NUL-terminated; an abstract name keeps its leading NUL.
  if (!path.empty() && path[0] != '\0') path = path.c_str();
  return path;
}

int AddressPort(const SocketAddress& address) {
  const auto* generic = reinterpret_cast<const sockaddr*>(&address.storage);
  if (generic->sa_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address.storage)->sin_port);
  if (generic->sa_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address.storage)->sin6_port);
  return 0;
}

}  // namespace reactor::sys
