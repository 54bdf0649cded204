// Thin syscall wrappers. Every function returns a result >= 0 or -errno;
// this file is the only place in the reactor that reads errno.
#pragma once

#include <signal.h>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace reactor::sys {

// A socket address big enough for IPv4, IPv6 and Unix paths.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = sizeof(sockaddr_storage);
};

int EpollCreate();
int EpollAdd(int epfd, int fd, uint32_t events, void* tag);
int EpollModify(int epfd, int fd, uint32_t events, void* tag);
int EpollDelete(int epfd, int fd);
int EpollWait(int epfd, epoll_event* events, int capacity, int timeoutMs);

int EventFdCreate();
int EventFdSignal(int fd);

// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC.
int Accept(int listenFd, SocketAddress* peer);
ssize_t Receive(int fd, char* into, size_t capacity);
// Zeroes `length` bytes at `bytes` in a way the compiler may not leave out
// (a key about to be freed).
void Cleanse(void* bytes, size_t length);
// Reads and drops what the socket has queued, up to `limit` bytes, so that a
// close() sends a FIN rather than the reset that unread bytes cause.
void DiscardQueued(int fd, size_t limit);
// sendmsg (send for one chunk) with MSG_NOSIGNAL, so a reset peer yields
// EPIPE and never SIGPIPE.
ssize_t SendVector(int fd, const iovec* chunks, int count);
int ShutdownWrite(int fd);
int Close(int fd);
int PendingSocketError(int fd);
int LocalAddress(int fd, SocketAddress* out);

// Open a spare fd on /dev/null, kept for the EMFILE trick in the listener.
int OpenSpareFd();

// Bind and listen. `family` is AF_INET, AF_INET6 or AF_UNIX; for AF_UNIX the
// address is a filesystem path (or an abstract name starting with '\0').
// On failure returns -errno and names the failing call in *failedCall.
struct ListenFlags {
  bool ipv6Only = false;
  bool reusePort = false;  // SO_REUSEPORT: several sockets share the port
};
int ListenSocket(int family, const std::string& address, int port, int backlog,
                 ListenFlags flags, const char** failedCall);

// RLIMIT_NOFILE's soft value (the fds this process may hold); 1024 when
// getrlimit fails, unlimited as UINT64_MAX.
uint64_t OpenFileLimit();

// The most connections the kernel queues for any listener in this network
// namespace (net.core.somaxconn, to which listen() clamps its backlog), read
// once; 4096, Linux's default since 5.4, when it cannot be read.
int MaxListenBacklog();

// Checks that `fd` is a stream socket, calls listen() on it if it is not yet
// listening (as libuv does for net's listen({ fd })), and makes it non-blocking
// and close-on-exec. Returns its address family or -errno (EBADF, ENOTSOCK,
// EPROTOTYPE when it is not a stream socket). On failure the fd is untouched
// and stays open: it is not ours.
int PrepareListeningFd(int fd, int backlog);

// A non-blocking socket connecting to `address`:`port` (or a Unix path when
// family is AF_UNIX), bound first to `localAddress`:`localPort` if given.
// Returns the fd even while the connect is in progress (EINPROGRESS); the
// reactor learns the outcome from EPOLLOUT and SO_ERROR.
int ConnectSocket(int family, const std::string& address, int port,
                  const std::string& localAddress, int localPort, const char** failedCall);
// As ConnectSocket, from a socket bound already (a net.BoundSocket's, whose
// fd libuv owns): a non-blocking duplicate of `boundFd` connects, and is
// returned; `boundFd` itself is left to its owner.
int ConnectBoundSocket(int boundFd, int family, const std::string& address, int port, const char** failedCall);

// Duplicates a connected stream socket taken over from libuv, as a
// non-blocking, close-on-exec fd. The original is left untouched and open.
// With `mayBeClosed`, a TCP connection already over (closed both ways or
// reset: getpeername says ENOTCONN) is duplicated too, if it was once made:
// what it still has to read, and its EOF or error, are the new owner's. A
// socket that never connected is still refused.
int DuplicateConnectedFd(int fd, bool mayBeClosed, const char** failedCall);

int PeerAddress(int fd, SocketAddress* out);
// F_DUPFD_CLOEXEC.
int Duplicate(int fd);
// F_DUPFD_CLOEXEC at the lowest free number at or above `lowest`.
int DuplicateAtOrAbove(int fd, int lowest);

// pipe2 with O_NONBLOCK | O_CLOEXEC; fills fds[0] (read) and fds[1] (write).
int CreatePipe(int fds[2]);
// splice(2) from a socket into a pipe, and from a pipe into a socket, moving
// at most `length` bytes without copying them through user space.
ssize_t SpliceIn(int socketFd, int pipeWriteFd, size_t length);
ssize_t SpliceOut(int pipeReadFd, int socketFd, size_t length);

// While it lives, SIGPIPE raised in the calling thread (by splice() into a
// reset socket, which has no MSG_NOSIGNAL) stays pending instead of reaching
// the process, and is taken on the way out. Inactive: does nothing. (A
// kill(2) of SIGPIPE to the process in that window may be taken too.)
class SigpipeGuard {
 public:
  explicit SigpipeGuard(bool active);
  ~SigpipeGuard();
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  bool active_ = false;
  sigset_t previous_;
};
// 1 when the next byte to read from a TCP socket is at the urgent mark
// (ioctl SIOCATMARK), 0 when not, or -errno.
int AtUrgentMark(int fd);
// Whether bytes are still queued after a read: before more bytes (FIONREAD;
// a Unix socket's recv() stops at a message that carried descriptors), or at
// a TCP urgent mark (SIOCATMARK, where FIONREAD counts nothing). A failed
// ioctl answers true.
bool MoreQueued(int fd);
// Whether the socket has hung up (POLLHUP: reset, or shut both ways), asked
// of poll(2) without waiting; for a socket outside the epoll set.
bool HungUp(int fd);
// write(2), retried on EINTR.
ssize_t Write(int fd, const char* from, size_t length);

int SetNoDelay(int fd, bool enable);
// SO_KEEPALIVE; when enabling with idle, interval and count all >= 1, also
// TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT, as libuv's
// uv_tcp_keepalive_ex (node passes interval 1 and count 10 unless told).
constexpr int kKeepAliveIntervalDefault = 1;
constexpr int kKeepAliveCountDefault = 10;
int SetKeepAlive(int fd, bool enable, int idleSeconds, int intervalSeconds, int count);
// SO_LINGER with a zero timeout: the next close() sends RST, not FIN.
int SetLingerZero(int fd);
// A TCP socket's IP type of service (0-255), as node's TCP handle sets and
// reads it: IPV6_TCLASS when the socket is IPv6, IP_TOS otherwise. So, as
// node's, an IPv6 socket with a v4-mapped peer sets its traffic class, which
// its IPv4 packets do not carry. Set returns 0, Get the value; both -errno on
// failure (-EINVAL for a socket that is not IP).
int SetTypeOfService(int fd, int tos);
int GetTypeOfService(int fd);

// Options a connection's settings can be read back by (Loop::SocketOption).
enum class SocketOption : uint8_t {
  kTypeOfService = 0,      // GetTypeOfService; the only one that may be set
  kKeepAlive = 1,          // SO_KEEPALIVE
  kKeepAliveIdle = 2,      // TCP_KEEPIDLE
  kKeepAliveInterval = 3,  // TCP_KEEPINTVL
  kKeepAliveCount = 4,     // TCP_KEEPCNT
  kNoDelay = 5,            // TCP_NODELAY
};
// `option`'s value on fd, or -errno.
int GetSocketOption(int fd, SocketOption option);

// Text form of an address for JS ("127.0.0.1", "::1", or "" for Unix).
std::string AddressText(const SocketAddress& address);
int AddressPort(const SocketAddress& address);
// The path of a Unix socket address ("" when unnamed).
std::string UnixPath(const SocketAddress& address);

}  // namespace reactor::sys
