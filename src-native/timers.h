// Idle timeouts for connections, on the reactor thread.
//
// The lecture this project grew from shows why an epoll_wait timeout alone is
// wrong (one idle socket among busy ones never times out). Here every armed
// connection has exactly one entry in an indexed min-heap keyed by when it
// would expire. Activity does not touch the heap: it only stamps the
// connection's last-activity time. When an entry comes due, the connection is
// checked; if it was active since, its entry is set again to lastActivity +
// timeout. A busy socket therefore costs one heap operation per timeout
// period, not one per read or write, and the nearest entry gives epoll_wait
// its timeout.
//
// The heap is indexed by connection id, so setTimeout() again moves the one
// entry and a close removes it: the heap holds at most one entry per open
// connection with a timeout, whatever the number of re-arms (issue 12 item 14:
// node:http re-arms on every keep-alive request), and no stale entry is left
// to use up the per-turn expiry budget.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace reactor {

// now + timeout for a deadline, saturating at UINT64_MAX (never due) rather
// than wrapping into the past and coming due at once.
inline uint64_t DeadlineAfter(uint64_t fromMs, uint64_t timeoutMs) {
  return timeoutMs > UINT64_MAX - fromMs ? UINT64_MAX : fromMs + timeoutMs;
}

class IdleTimers {
 public:
  // Sets connection `connectionId` to come due at `dueMs`, moving its entry
  // if it has one. O(log n).
  void Set(uint64_t connectionId, uint64_t dueMs);
  // Removes the connection's entry, if any. O(log n).
  void Cancel(uint64_t connectionId);
  // Milliseconds until the nearest entry is due (0 if overdue), or -1 if none.
  int MillisecondsUntilNext(uint64_t nowMs) const;
  // Removes up to `limit` of the entries due at `nowMs`, earliest first, and
  // appends their connection ids to `due`.
  void TakeDue(uint64_t nowMs, size_t limit, std::vector<uint64_t>* due);
  size_t Size() const { return heap_.size(); }

 private:
  struct Entry {
    uint64_t dueMs;
    uint64_t connectionId;
  };
  // Puts `entry` at heap index `index` and records where it is.
  void Place(size_t index, const Entry& entry);
  void SiftUp(size_t index);
  void SiftDown(size_t index);
  void RemoveAt(size_t index);

  std::vector<Entry> heap_;
  // Heap index of each connection's entry; exactly the ids in heap_.
  std::unordered_map<uint64_t, size_t> position_;
};

// CLOCK_MONOTONIC in milliseconds.
uint64_t MonotonicMs();

}  // namespace reactor
