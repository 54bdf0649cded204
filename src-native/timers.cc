#include "timers.h"

#include <time.h>

#include <climits>

namespace reactor {

void IdleTimers::Set(uint64_t connectionId, uint64_t dueMs) {
  auto found = position_.find(connectionId);
  if (found == position_.end()) {
    heap_.push_back(Entry{dueMs, connectionId});
    position_.emplace(connectionId, heap_.size() - 1);
    SiftUp(heap_.size() - 1);
    return;
  }
  size_t index = found->second;
  uint64_t before = heap_[index].dueMs;
  heap_[index].dueMs = dueMs;
  if (dueMs < before) {
    SiftUp(index);
  } else {
    SiftDown(index);
  }
}

void IdleTimers::Cancel(uint64_t connectionId) {
  auto found = position_.find(connectionId);
  if (found == position_.end()) return;
  RemoveAt(found->second);
}

int IdleTimers::MillisecondsUntilNext(uint64_t nowMs) const {
  if (heap_.empty()) return -1;
  uint64_t due = heap_.front().dueMs;
  if (due <= nowMs) return 0;
  uint64_t wait = due - nowMs;
  return wait > INT_MAX ? INT_MAX : static_cast<int>(wait);
}

void IdleTimers::TakeDue(uint64_t nowMs, size_t limit, std::vector<uint64_t>* due) {
  size_t taken = 0;
  while (!heap_.empty() && heap_.front().dueMs <= nowMs && taken < limit) {
    due->push_back(heap_.front().connectionId);
    RemoveAt(0);
    ++taken;
  }
}

void IdleTimers::Place(size_t index, const Entry& entry) {
  heap_[index] = entry;
  position_[entry.connectionId] = index;
}

void IdleTimers::SiftUp(size_t index) {
  Entry moving = heap_[index];
  while (index > 0) {
    size_t parent = (index - 1) / 2;
    if (heap_[parent].dueMs <= moving.dueMs) break;
    Place(index, heap_[parent]);
    index = parent;
  }
  Place(index, moving);
}

void IdleTimers::SiftDown(size_t index) {
  Entry moving = heap_[index];
  size_t size = heap_.size();
  for (;;) {
    size_t child = 2 * index + 1;
    if (child >= size) break;
    if (child + 1 < size && heap_[child + 1].dueMs < heap_[child].dueMs) ++child;
    if (moving.dueMs <= heap_[child].dueMs) break;
    Place(index, heap_[child]);
    index = child;
  }
  Place(index, moving);
}

void IdleTimers::RemoveAt(size_t index) {
  position_.erase(heap_[index].connectionId);
  size_t last = heap_.size() - 1;
  if (index != last) {
    Entry moved = heap_[last];
    heap_.pop_back();
    Place(index, moved);
    // The moved entry may belong above or below its new place.
    if (index > 0 && heap_[(index - 1) / 2].dueMs > moved.dueMs) {
      SiftUp(index);
    } else {
      SiftDown(index);
    }
  } else {
    heap_.pop_back();
  }
}

uint64_t MonotonicMs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000 + static_cast<uint64_t>(now.tv_nsec) / 1000000;
}

}  // namespace reactor
