// Keeps the process's fd table ahead of the fds the reactor accepts.
//
// The kernel grows a process's fd table by doubling it when an fd number
// reaches its size, and in a process with more than one thread the grower
// waits out an RCU grace period first (expand_fdtable: synchronize_rcu), in
// uninterruptible sleep: 10–20 ms on these VMs. On the reactor thread that is
// an accept4() that stops the whole loop, and under a connect burst the
// kernel's accept queue fills meanwhile and drops SYNs, each a 1 s
// retransmit for its client: 10,000 connections opened at once lost 128 to
// 640 SYNs a run, at the doublings past 1,024, 2,048, 4,096 and 8,192 fds
// (docs/benchmarks.md, "Session 28"). A single-threaded server never waits.
//
// So a thread of this object's own (named epoll-fdtable) grows the table
// ahead of need (an fcntl(F_DUPFD) at the new top, closed at once): to 4,096
// slots when the first listener opens, and to twice its size each time an fd
// the reactor accepts reaches a quarter of it. That thread waits out the
// grace period; the reactor's accepts keep finding room below. The table is
// at most eight times the highest fd accepted, or 4,096 slots (8 bytes
// each). A size whose grow fails (ENOMEM, a lowered limit) is not asked for
// again: the kernel grows the table to it on demand, as it did before. A
// limit raised while the process runs is read again when an fd passes the
// old one.

#ifndef EPOLL_REACTOR_FD_TABLE_H_
#define EPOLL_REACTOR_FD_TABLE_H_

#include <pthread.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace reactor {

class FdTableGrower {
 public:
  FdTableGrower() = default;
  FdTableGrower(const FdTableGrower&) = delete;
  FdTableGrower& operator=(const FdTableGrower&) = delete;
  ~FdTableGrower() { Stop(); }

  // Before the reactor thread starts. `dupSource` is an fd that stays open
  // until Stop() returns (the loop's epoll fd); `fdLimit` is RLIMIT_NOFILE's
  // soft value, above which no fd can be made.
  void Configure(int dupSource, uint64_t fdLimit);
  // Reactor thread: a listener opened; the table is grown to kMinTable
  // before its first connections come, if it is smaller.
  void Prepare() {
    if (threshold_ == 0) Grow(0);
  }
  // Reactor thread: an fd it accepted (the highest numbers it makes; a
  // forward's pipes take numbers among them).
  void Note(int fd) {
    if (fd >= threshold_) Grow(fd);
  }
  // After the reactor thread has stopped: ends the grower's thread, if it
  // started, and waits for it. Idempotent.
  void Stop();

 private:
  void Grow(int fd);
  static void* ThreadMain(void* self);
  void Run();

  // 32 KiB of table: what a server is given before its first accept.
  static constexpr uint64_t kMinTable = 4096;

  // Reactor thread (threadStarted_ and thread_ also Stop(), once the reactor
  // thread is joined). The fd at which to ask for more (0: never asked; the
  // fd limit when the table reached it; INT_MAX: the thread did not start).
  int threshold_ = 0;
  uint64_t fdLimit_ = 0;  // the soft limit, read again when an fd shows it raised
  bool threadStarted_ = false;
  pthread_t thread_{};
  int dupSource_ = -1;

  // Shared with the grower's thread.
  std::mutex mutex_;
  std::condition_variable wake_;
  uint64_t requested_ = 0;  // the table size wanted (a power of two)
  uint64_t done_ = 0;       // the largest size made so far
  bool stopping_ = false;
};

}  // namespace reactor

#endif  // EPOLL_REACTOR_FD_TABLE_H_
