// Idle timeouts for connections, on the reactor thread.
//
// The lecture this project grew from shows why an epoll_wait timeout alone is
// wrong (one idle socket among busy ones never times out). Here every armed
// connection has one entry in a min-heap keyed by when it would expire. Activity
// does not touch the heap: it only stamps the connection's last-activity time.
// When an entry comes due, the connection is checked; if it was active since,
// the entry is pushed back to lastActivity + timeout. A busy socket therefore
// costs one heap operation per timeout period, not one per read or write, and
// the nearest entry gives epoll_wait its timeout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace reactor {

class IdleTimers {
 public:
  struct Entry {
    uint64_t dueMs;
    uint64_t connectionId;
    uint64_t generation;  // the connection's timer generation when armed
  };

  void Arm(uint64_t dueMs, uint64_t connectionId, uint64_t generation);
  // Milliseconds until the nearest entry is due (0 if overdue), or -1 if none.
  int MillisecondsUntilNext(uint64_t nowMs) const;
  // Removes and returns up to `limit` of the entries due at `nowMs`.
  void TakeDue(uint64_t nowMs, size_t limit, std::vector<Entry>* due);
  size_t Size() const { return heap_.size(); }

 private:
  std::vector<Entry> heap_;
};

// CLOCK_MONOTONIC in milliseconds.
uint64_t MonotonicMs();

}  // namespace reactor
