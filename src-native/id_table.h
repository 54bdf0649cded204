// The objects of one kind that the loop owns (its connections), by id, in one
// flat array probed linearly. Every command, acknowledgement, ready socket
// and queued write is an id looked up here again each turn; std::unordered_map
// made that a walk from its bucket array to a node allocated on its own, two
// dependent cache misses that were most of FlushWrites' time at 1,000
// connections (issue 15, docs/benchmarks.md "Session 37"). Here a lookup is
// a hash and, at the table's load of at most one half, usually one probe.
//
// Invariants: ids are never 0 (Loop::NextId starts at 1), so 0 marks an empty
// slot; at least half the slots are empty, so every probe ends; an entry sits
// at its home slot or after it with no empty slot between (removal shifts
// entries back to keep that). Growing moves the owning pointers, never the
// objects, so a Connection* taken in a turn stays valid until its owner is
// removed.
#ifndef EPOLL_REACTOR_ID_TABLE_H_
#define EPOLL_REACTOR_ID_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace reactor {

template <typename T>
class IdTable {
 public:
  T* Find(uint64_t id) const {
    if (size_ == 0 || id == 0) return nullptr;
    for (size_t i = Home(id);; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.id == id) return slot.value.get();
      if (slot.id == 0) return nullptr;
    }
  }

  // `id` must be new to the table (ids are never reused) and not 0.
  void Insert(uint64_t id, std::unique_ptr<T> value) {
    if ((size_ + 1) * 2 > slots_.size()) Grow();
    size_t i = Home(id);
    while (slots_[i].id != 0) i = (i + 1) & mask_;
    slots_[i].id = id;
    slots_[i].value = std::move(value);
    ++size_;
  }

  // Takes the object out of the table; null if `id` is not in it.
  std::unique_ptr<T> Remove(uint64_t id) {
    if (size_ == 0 || id == 0) return nullptr;
    size_t hole = Home(id);
    while (slots_[hole].id != id) {
      if (slots_[hole].id == 0) return nullptr;
      hole = (hole + 1) & mask_;
    }
    std::unique_ptr<T> taken = std::move(slots_[hole].value);
    slots_[hole].id = 0;
    --size_;
    // Backward-shift deletion: an entry after the hole whose probe passed
    // through it (its home is not between the hole and itself) moves into it,
    // so that no lookup stops early at the new empty slot.
    for (size_t j = (hole + 1) & mask_; slots_[j].id != 0; j = (j + 1) & mask_) {
      size_t fromHome = (j - Home(slots_[j].id)) & mask_;
      size_t fromHole = (j - hole) & mask_;
      if (fromHome >= fromHole) {
        slots_[hole].id = slots_[j].id;
        slots_[hole].value = std::move(slots_[j].value);
        slots_[j].id = 0;
        hole = j;
      }
    }
    return taken;
  }

  size_t size() const { return size_; }

  // Calls f(id, T*) for each entry; f must not change the table.
  template <typename F>
  void ForEach(F f) const {
    for (const Slot& slot : slots_) {
      if (slot.id != 0) f(slot.id, slot.value.get());
    }
  }

  void Clear() {
    std::vector<Slot>().swap(slots_);  // frees the array, as a stopped loop should
    mask_ = 0;
    shift_ = 64;
    size_ = 0;
  }

 private:
  struct Slot {
    uint64_t id = 0;
    std::unique_ptr<T> value;
  };

  // Fibonacci hashing: ids come in sequence, and the multiply spreads
  // neighbours over the table; the top bits are the slot.
  size_t Home(uint64_t id) const { return static_cast<size_t>((id * 0x9E3779B97F4A7C15ull) >> shift_); }

  void Grow() {
    size_t capacity = slots_.empty() ? 16 : slots_.size() * 2;
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.resize(capacity);
    mask_ = capacity - 1;
    shift_ = 64;
    for (size_t c = capacity; c > 1; c >>= 1) --shift_;
    size_ = 0;
    for (Slot& slot : old) {
      if (slot.id != 0) Insert(slot.id, std::move(slot.value));
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  unsigned shift_ = 64;
  size_t size_ = 0;
};

}  // namespace reactor

#endif  // EPOLL_REACTOR_ID_TABLE_H_
