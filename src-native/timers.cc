#include "timers.h"

#include <time.h>

#include <algorithm>
#include <climits>

namespace reactor {

namespace {
// std heap functions build a max-heap; this order makes the earliest due first.
bool LaterDue(const IdleTimers::Entry& a, const IdleTimers::Entry& b) { return a.dueMs > b.dueMs; }
}  // namespace

void IdleTimers::Arm(uint64_t dueMs, uint64_t connectionId, uint64_t generation) {
  heap_.push_back(Entry{dueMs, connectionId, generation});
  std::push_heap(heap_.begin(), heap_.end(), LaterDue);
}

int IdleTimers::MillisecondsUntilNext(uint64_t nowMs) const {
  if (heap_.empty()) return -1;
  uint64_t due = heap_.front().dueMs;
  if (due <= nowMs) return 0;
  uint64_t wait = due - nowMs;
  return wait > INT_MAX ? INT_MAX : static_cast<int>(wait);
}

void IdleTimers::TakeDue(uint64_t nowMs, size_t limit, std::vector<Entry>* due) {
  while (!heap_.empty() && heap_.front().dueMs <= nowMs && due->size() < limit) {
    std::pop_heap(heap_.begin(), heap_.end(), LaterDue);
    due->push_back(heap_.back());
    heap_.pop_back();
  }
}

uint64_t MonotonicMs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000 + static_cast<uint64_t>(now.tv_nsec) / 1000000;
}

}  // namespace reactor
