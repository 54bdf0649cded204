// A listening socket and its accept logic.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "connection.h"
#include "sys.h"
#include "tls_context.h"

namespace reactor {

// Settings every connection accepted by a listener starts with
// (net.createServer's pauseOnConnect, noDelay, keepAlive options).
struct ConnectionDefaults {
  bool paused = false;
  bool noDelay = false;
  bool keepAlive = false;
  int keepAliveSeconds = 0;
};

// Bounds the connections accepted (or dropped at maxConnections) whose event
// the JS thread has not taken yet, as libuv bounds them by accepting only on
// the JS thread: while JS stalls, further connections wait in the kernel's
// backlog instead of becoming fds (issue 12 item 16). Shared by the loop
// (reactor thread: Admit, Add) and the delivery (JS thread: Taken).
class AcceptGate {
 public:
  // Accept events on their way to JS before the reactor stops accepting.
  // Enough for a burst of connections per turn; small enough that a stalled
  // JS thread holds few fds (node:net holds none: it does not accept then).
  static constexpr uint64_t kMaxWaitingForJs = 64;

  // Reactor thread: whether another connection may be accepted now. When not,
  // the gate remembers that the reactor waits, and Taken() wakes it.
  bool Admit() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (waiting_ < kMaxWaitingForJs) return true;
    held_ = true;
    return false;
  }
  bool HasRoom() {
    std::lock_guard<std::mutex> lock(mutex_);
    return waiting_ < kMaxWaitingForJs;
  }
  // Reactor thread: one more connection or drop event is on its way to JS.
  void Add() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++waiting_;
  }
  // JS thread: `count` such events reached JS. Wakes the reactor if it stopped
  // accepting; under the same lock as Admit(), so the wake cannot be lost.
  void Taken(uint64_t count);
  // JS thread: wakes the loop for another reason than accepting (it took a
  // full slice of timeouts: reactor.cc DeliverToJs), through the same fd.
  void WakeLoop();
  // Reactor thread, from Start()/Stop(): the eventfd that wakes the loop, or -1
  // once it is about to be closed (no wake may reach a reused fd number).
  void SetWakeFd(int fd) {
    std::lock_guard<std::mutex> lock(mutex_);
    wakeFd_ = fd;
  }

 private:
  std::mutex mutex_;
  uint64_t waiting_ = 0;
  bool held_ = false;
  int wakeFd_ = -1;
};

struct Listener : Pollable {
  Listener(uint64_t listenerId, int socketFd)
      : Pollable(Kind::kListener), id(listenerId), fd(socketFd) {}

  const uint64_t id;
  const int fd;
  ConnectionDefaults defaults;
  // Set for a TLS listener: every connection it accepts gets a session.
  std::shared_ptr<TlsContext> tls;
  bool queuedForAccept = false;
  // Accepting stopped at EMFILE/ENFILE without a spare fd to shed with; a
  // connection closing frees an fd and retries.
  bool starved = false;
  bool heldByGate = false;  // in Loop::heldListeners_
  // Accepting stopped at a transient error (ENOBUFS, ENOMEM, EPERM...): under
  // edge triggering no edge comes for the connections still in the backlog,
  // so the loop tries again at this time (0: not waiting; in Loop::retryListeners_).
  uint64_t retryAtMs = 0;
  bool closed = false;
  // net's server.maxConnections (0: no limit): connections past it are
  // accepted and closed at once, with a 'drop' event, as net does.
  uint64_t maxConnections = 0;
  uint64_t open = 0;  // connections accepted from here and not closed yet

  // Accepts one connection. Returns its fd, -EAGAIN when the queue is empty,
  // or another -errno. On EMFILE/ENFILE it uses `spareFd` as libuv's
  // uv__emfile_trick does: release the spare, accept the connection and close
  // it at once so the peer is told instead of left hanging, and take the
  // spare back; *shed counts those connections.
  int AcceptOne(sys::SocketAddress* peer, int* spareFd, int* shed);
};

}  // namespace reactor
