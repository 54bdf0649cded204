#include "direct_sends.h"

#include <errno.h>
#include <sys/uio.h>

#include "sys.h"

namespace reactor {

void DirectSends::Open(uint64_t id, int fd) {
  std::lock_guard<std::mutex> lock(mutex_);
  fds_[id] = fd;
}

void DirectSends::Withdraw(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  fds_.erase(id);
}

void DirectSends::WithdrawAll() {
  std::lock_guard<std::mutex> lock(mutex_);
  fds_.clear();
}

ssize_t DirectSends::Send(uint64_t id, const char* data, size_t length) {
  // Held across the send: the reactor thread cannot close the fd meanwhile.
  // It waits at most one non-blocking send() of bytes already in memory.
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = fds_.find(id);
  if (found == fds_.end()) return 0;
  iovec chunk{const_cast<char*>(data), length};
  ssize_t sent = sys::SendVector(found->second, &chunk, 1);
  return sent == -EAGAIN || sent == -EWOULDBLOCK ? 0 : sent;
}

bool DirectSends::SetNoDelay(uint64_t id, bool enable) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = fds_.find(id);
  if (found == fds_.end()) return false;
  sys::SetNoDelay(found->second, enable);
  return true;
}

}  // namespace reactor
