#include "listener.h"

#include <errno.h>

namespace reactor {

namespace {
bool IsPerConnectionError(int error) {
  switch (-error) {
    case ECONNABORTED:
    case ENETDOWN:
    case EPROTO:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
      return true;
    default:
      return false;
  }
}
}  // namespace

void AcceptGate::Taken(uint64_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  waiting_ = count < waiting_ ? waiting_ - count : 0;
  handlersRunning_ += count;
  WakeIfRoom();
}

void AcceptGate::HandlersRan(uint64_t count) {
  handlersDone_.fetch_add(count, std::memory_order_release);
  std::lock_guard<std::mutex> lock(mutex_);
  // The reactor releases them in its next turn (ReleaseHandlers): a reactor
  // that waits for room must have one.
  if (held_ && wakeFd_ >= 0) sys::EventFdSignal(wakeFd_);
}

void AcceptGate::WakeIfRoom() {
  if (held_ && waiting_ < Bound()) {
    held_ = false;
    if (wakeFd_ >= 0) sys::EventFdSignal(wakeFd_);
  }
}

void AcceptGate::WakeLoop() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (wakeFd_ >= 0) sys::EventFdSignal(wakeFd_);
}

int Listener::AcceptOne(sys::SocketAddress* peer, int* spareFd, int* shed) {
  for (;;) {
    int fd = sys::Accept(this->fd, peer);
    if (fd >= 0) return fd;
    // The peer gave up between SYN and accept(), or (accept(2), Linux notes)
    // the connection carried a network error that accept4 passes on: either
    // way it is that connection's failure, consumed; try the next one. Ending
    // the drain here would leave the connections queued behind it waiting for
    // another client's edge.
    if (IsPerConnectionError(fd)) continue;
    if ((fd != -EMFILE && fd != -ENFILE) || *spareFd < 0) return fd;
    sys::Close(*spareFd);
    *spareFd = -1;
    int victim = sys::Accept(this->fd, peer);
    if (victim >= 0) {
      sys::Close(victim);
      ++*shed;
    }
    int spare = sys::OpenSpareFd();
    *spareFd = spare >= 0 ? spare : -1;
    // The victim itself failed as one connection can (it gave up meanwhile):
    // consumed like any other; shed on.
    if (victim < 0 && IsPerConnectionError(victim)) continue;
    if (victim < 0) return victim == -EAGAIN ? fd : victim;
    // Report the exhaustion once the queue is shed; keep draining it.
  }
}

}  // namespace reactor
