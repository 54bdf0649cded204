// A listening socket and its accept logic.
#pragma once

#include <algorithm>
#include <atomic>
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
// (reactor thread: Admit, Add, AddRoom, RemoveRoom, SetFdLimit; and the JS
// thread's Stop() after the join) and the delivery (JS thread: Taken).
//
// The bound is the sum of the open listeners' backlogs (as the kernel clamps
// them): as many connections as the kernel's queues hold for a stalled JS
// thread, here as fds. At least kMinWaitingForJs; at most
// kMaxWaitingForJs and a quarter of the fd limit, so that a stall cannot
// bring the process near EMFILE (where the spare-fd trick would shed what
// waits). A bound of 64 let a busy JS thread take 64 connections per turn
// while the kernel queue overflowed behind them (10,000 connections opened
// under load: a third to a half of their connects timed out;
// docs/benchmarks.md).
class AcceptGate {
 public:
  static constexpr uint64_t kMinWaitingForJs = 64;
  static constexpr uint64_t kMaxWaitingForJs = 4096;

  // The room a listener listening with `backlog` adds to the bound.
  static uint64_t RoomFor(int backlog, int maxBacklog) {
    return static_cast<uint64_t>(std::max(0, std::min(backlog, maxBacklog)));
  }

  // Reactor thread: whether another connection may be accepted now. When not,
  // the gate remembers that the reactor waits, and Taken() wakes it. Asked
  // again for held listeners every turn: the bound can shrink (RemoveRoom)
  // after a Taken() that found room and so stopped waiting to wake.
  bool Admit() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (waiting_ < Bound()) {
      held_ = false;  // not waiting: no wake is owed
      return true;
    }
    held_ = true;
    return false;
  }
  // Reactor thread, at start and when an accepted fd shows it was raised:
  // the process's fd limit (RLIMIT_NOFILE's soft value, which Node raises to
  // the hard one).
  void SetFdLimit(uint64_t limit) {
    std::lock_guard<std::mutex> lock(mutex_);
    fdLimit_ = limit;
    fdCap_ = limit / 4;
    // headroom_ is left as the last accept made it: the next NoteAcceptedFd
    // sets it, and a batch taken meanwhile must not see the whole limit free.
  }
  // Reactor thread: accept4 returned `fd`. The kernel gives the lowest free
  // number, so every fd below it is open: at most fdLimit - fd - 1 are free.
  // False when `fd` is past the limit known: it was raised since (prlimit),
  // and SetFdLimit should be given the new one.
  bool NoteAcceptedFd(int fd) {
    std::lock_guard<std::mutex> lock(mutex_);
    uint64_t next = static_cast<uint64_t>(fd) + 1;
    headroom_ = next < fdLimit_ ? fdLimit_ - next : 0;
    return next <= fdLimit_;
  }
  // Reactor thread: a listener opened or closed. A bound that shrinks below
  // what waits holds accepting until JS takes enough (see Admit).
  void AddRoom(uint64_t room) {
    std::lock_guard<std::mutex> lock(mutex_);
    room_ += room;
  }
  void RemoveRoom(uint64_t room) {
    std::lock_guard<std::mutex> lock(mutex_);
    room_ = room < room_ ? room_ - room : 0;
  }
  // Reactor thread: one more connection or drop event is on its way to JS.
  void Add() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++waiting_;
  }
  // JS thread: `count` such events reached JS, whose handlers are about to
  // run; each keeps an fd of the headroom for them until HandlersRan() (a
  // proxy's upstream connect). Wakes the reactor if it stopped accepting;
  // under the same lock as Admit(), so the wake cannot be lost. Taken as the
  // batch arrives, so that the reactor accepts during a long batch and a
  // connect burst is not left to the kernel's backlog alone.
  void Taken(uint64_t count);
  // JS thread: the handlers of `count` events Taken() have run, and the
  // commands they staged are flushed. Their fds are kept until the reactor
  // has run those commands (a connect makes its socket there): see
  // TakeHandlersDone. Wakes a reactor that stopped accepting, to get there.
  void HandlersRan(uint64_t count);
  // Reactor thread, before it takes JS's commands: the handlers done so far,
  // whose commands are all among those it is about to run.
  // Lock-free, as it runs every turn: acquire pairs with HandlersRan's
  // release, which follows the flush of those handlers' commands, so the
  // command queue taken after this holds them.
  uint64_t TakeHandlersDone() {
    if (handlersDone_.load(std::memory_order_relaxed) == 0) return 0;
    return handlersDone_.exchange(0, std::memory_order_acquire);
  }
  // Reactor thread: handlers reported done since the last TakeHandlersDone.
  // Asked after an Admit() that held: a report that came in between woke
  // nothing (held_ was not yet set), and the reactor must take it before it
  // sleeps.
  bool HandlersDonePending() const { return handlersDone_.load(std::memory_order_relaxed) != 0; }
  // Reactor thread, after it ran them: their fds are in the fd table now,
  // for the next accepted fd to show, and are no longer kept.
  void ReleaseHandlers(uint64_t done) {
    std::lock_guard<std::mutex> lock(mutex_);
    handlersRunning_ = done < handlersRunning_ ? handlersRunning_ - done : 0;
  }
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
  // Near the fd limit, at most half the fds that may still be free and are
  // not kept for handlers running (handlersRunning_) wait for JS: each
  // connection accepted wants one more for its own handler (a proxy
  // connects an upstream per client). So every accepted connection's
  // handler finds an fd, where the reactor once accepted a burst of clients
  // into every free fd and each upstream connect then failed with EMFILE.
  // At least one, so that accepting goes on (one at a time, as libuv's
  // handler-per-accept) and corrects a stale headroom.
  uint64_t Bound() const {
    uint64_t free = headroom_ > handlersRunning_ ? headroom_ - handlersRunning_ : 0;
    return std::max<uint64_t>(1, std::min(BoundByListeners(), free / 2));
  }
  // Under mutex_: wakes the reactor if it stopped accepting and may now.
  void WakeIfRoom();
  uint64_t BoundByListeners() const {
    return std::max(kMinWaitingForJs, std::min({room_, kMaxWaitingForJs, fdCap_}));
  }

  std::mutex mutex_;
  uint64_t waiting_ = 0;
  uint64_t room_ = 0;  // the open listeners' RoomFor, summed
  uint64_t fdCap_ = kMaxWaitingForJs;
  uint64_t fdLimit_ = UINT64_MAX;
  // Fds that may still be free after the last accept (NoteAcceptedFd).
  uint64_t headroom_ = UINT64_MAX;
  // Events Taken() whose handlers' commands the reactor has not yet run
  // (ReleaseHandlers); handlersDone_ of them have run in JS (HandlersRan).
  uint64_t handlersRunning_ = 0;
  std::atomic<uint64_t> handlersDone_{0};  // not under mutex_
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
  // What this listener adds to the AcceptGate's bound while it is open.
  uint64_t acceptRoom = 0;

  // Accepts one connection. Returns its fd, -EAGAIN when the queue is empty,
  // or another -errno. On EMFILE/ENFILE it uses `spareFd` as libuv's
  // uv__emfile_trick does: release the spare, accept the connection and close
  // it at once so the peer is told instead of left hanging, and take the
  // spare back; *shed counts those connections.
  int AcceptOne(sys::SocketAddress* peer, int* spareFd, int* shed);
};

}  // namespace reactor
