#include "fd_table.h"

#include <algorithm>
#include <climits>

#include "sys.h"

namespace reactor {

namespace {
constexpr const char* kThreadName = "epoll-fdtable";  // 15 characters at most
}  // namespace

void FdTableGrower::Configure(int dupSource, uint64_t fdLimit) {
  dupSource_ = dupSource;
  fdLimit_ = fdLimit;
}

void FdTableGrower::Grow(int fd) {
  // No fd is made at or past the soft limit: one that is shows the limit was
  // raised since it was read (prlimit on a running process), and the table
  // may grow ahead of accepts again.
  if (static_cast<uint64_t>(fd) >= fdLimit_) fdLimit_ = sys::OpenFileLimit();
  // Four times the power of two above `fd`, and asked again when a quarter
  // of it is used: the grower then has three quarters of a table's accepts to
  // finish its grace period in before the reactor could need the room. At
  // least kMinTable, so that the first burst (accepts run at tens of
  // thousands a second, a grace period is 10-20 ms) starts with room.
  uint64_t needed = 64;
  while (needed <= static_cast<uint64_t>(fd)) needed *= 2;
  uint64_t wanted = std::max<uint64_t>(kMinTable, needed * 4);
  uint64_t limit = std::min<uint64_t>(fdLimit_, INT_MAX);
  if (wanted > limit) {
    // No fd can be made past the limit, so neither can the table need to grow
    // there, until one is: the limit was raised.
    wanted = limit;
    threshold_ = std::max(1, static_cast<int>(limit));  // 0 means never asked
  } else {
    threshold_ = static_cast<int>(wanted / 4);
  }
  if (dupSource_ < 0 || wanted <= needed) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (wanted <= requested_) return;
    requested_ = wanted;
  }
  if (!threadStarted_) {
    // Started from the reactor thread, it inherits that thread's mask: every
    // signal blocked. Without it the table grows on demand, as before.
    threadStarted_ = pthread_create(&thread_, nullptr, &FdTableGrower::ThreadMain, this) == 0;
    if (!threadStarted_) {
      threshold_ = INT_MAX;
      return;
    }
    // Named from here too: until the thread names itself it carries this
    // thread's name, which is how tests and tools find the reactor thread.
    pthread_setname_np(thread_, kThreadName);
  }
  wake_.notify_one();
}

void* FdTableGrower::ThreadMain(void* self) {
  static_cast<FdTableGrower*>(self)->Run();
  return nullptr;
}

void FdTableGrower::Run() {
  pthread_setname_np(pthread_self(), kThreadName);
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || requested_ > done_; });
    if (stopping_) return;
    uint64_t wanted = requested_;
    lock.unlock();
    // The lowest free fd at or above wanted - 1: the table grows to hold it
    // (the kernel rounds up to a power of two), then it is closed again.
    int top = sys::DuplicateAtOrAbove(dupSource_, static_cast<int>(wanted - 1));
    if (top >= 0) sys::Close(top);
    lock.lock();
    done_ = wanted;
  }
}

void FdTableGrower::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (threadStarted_) {
    pthread_join(thread_, nullptr);
    threadStarted_ = false;
  }
}

}  // namespace reactor
