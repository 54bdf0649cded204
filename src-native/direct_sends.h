// Sends from the JS thread straight to a connection's socket, as libuv's
// uv_try_write does for net: a small write made while nothing of the
// connection waits in the reactor goes to the kernel at once, with no
// command, no wakeup of the reactor thread and no kWritten event back.
//
// The reactor thread owns every fd. This table lends the fd of an open plain
// connection to the JS thread for the length of one send() call, by id, under
// a mutex the reactor thread takes to withdraw it, which it does before it
// closes the fd (Loop::CloseConnection, CloseEverything) or hands the
// connection to a forwarder (Loop::StartForward). So a send can never reach
// an fd number that was closed and given to another socket, whichever path
// closes it. TLS connections and connections still connecting are never in
// the table: their bytes must go through the reactor.
//
// Order is the caller's: JS sends directly only when every byte it queued
// with the reactor has been reported written (lib/socket.ts), so nothing can
// overtake queued bytes. What the kernel does not take at once (EAGAIN, or
// no entry) the caller queues with the reactor, as for any write. An error
// goes back to the caller, as libuv's try-write returns it to net: the
// kernel reports a reset once (ECONNRESET) and EPIPE after, so the send that
// saw it must be the one that tells JS.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace reactor {

class DirectSends {
 public:
  // Reactor thread: connection `id` (open, plain, connected) may be sent to.
  void Open(uint64_t id, int fd);
  // Reactor thread: no send reaches connection `id` once this returns; call
  // before its fd is closed or forwarded.
  void Withdraw(uint64_t id);
  void WithdrawAll();

  // JS thread: sends up to `length` bytes to connection `id` without
  // blocking. Returns how many the kernel took (0 when it took none or the
  // connection takes no direct sends: the caller queues the rest with the
  // reactor), or -errno when the send failed.
  ssize_t Send(uint64_t id, const char* data, size_t length);
  // JS thread: sets TCP_NODELAY on connection `id` now, as net's
  // setNoDelay() does, so that a direct send right after it is not held by
  // Nagle. False when the connection takes no direct sends (the caller asks
  // the reactor, whose sends are ordered after the request).
  bool SetNoDelay(uint64_t id, bool enable);

 private:
  std::mutex mutex_;
  std::unordered_map<uint64_t, int> fds_;  // guarded by mutex_
};

}  // namespace reactor
