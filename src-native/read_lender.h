// Buffers the JS thread lends the reactor to receive bulk reads into. Each is
// memory JS allocated (a Node Buffer the bridge keeps a reference to), so a
// read that fills one is handed to JS as it is, with no copy: the arena's
// blocks are shared by many reads and copied out per read (reactor.cc
// DeliverToJs), which for a 64 KiB stream cost the JS thread a memcpy and
// a malloc per read, about half its time.
//
// One owner at every step: the lender's free list; the reactor thread, from
// Take() to the read; the Batch (a ReadChunk with lentId), until DeliverToJs
// either hands the Buffer to JS (a full read: the bridge drops its
// reference) or copies the bytes out and gives it back. The id names the
// bridge's reference; the pointer travels with it only so the reactor can
// recv() into it. The memory lives as long as that reference, which is
// released only after the reactor thread has stopped or once JS owns the
// Buffer; so the reactor writes into it only between Take() and the Batch,
// and never after.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace reactor {

struct LentBuffer {
  uint64_t id = 0;  // the bridge's name for its reference; 0: none
  char* data = nullptr;
};

class ReadLender {
 public:
  // A lent buffer's size, the most one read takes. 256 KiB, four arena
  // blocks: a bulk stream costs a recv, a batch record and a 'data' event
  // per 256 KiB rather than per 64 KiB (the C reference reads 256 KiB, Bun 512 KiB).
  static constexpr size_t kSize = 256 * 1024;
  // Spare buffers kept at first (1 MiB), doubled each time the reactor finds
  // none between two batches, up to kMaxSpares: the reads of one JS turn, on
  // however many sockets stream at once. kMaxSpares also bounds the buffers
  // lent in all (spare, being read into, or in a batch not yet taken: 8 MiB),
  // counted by the bridge (LendBuffers in reactor.cc).
  static constexpr size_t kFirstSpares = 4;
  static constexpr size_t kMaxSpares = 32;

  // Reactor thread: a spare buffer, or false when there is none (JS makes
  // more at its next batch).
  bool Take(LentBuffer* buffer) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (free_.empty()) {
      if (!ranDry_) spares_ = spares_ == 0 ? kFirstSpares : std::min(kMaxSpares, 2 * spares_);
      ranDry_ = true;
      return false;
    }
    *buffer = free_.back();
    free_.pop_back();
    return true;
  }
  // Either thread: a buffer that received nothing, or whose bytes were
  // copied out, goes back.
  void Give(const LentBuffer& buffer) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(buffer);
  }
  // JS thread: how many buffers to make and Give(): none until a bulk read
  // (one after a read that filled a whole 64 KiB arena block) has found the
  // list empty, so a process whose reads never fill 64 KiB holds none; then
  // as many as keep the spares at their number.
  size_t Missing() {
    std::lock_guard<std::mutex> lock(mutex_);
    ranDry_ = false;
    return free_.size() < spares_ ? spares_ - free_.size() : 0;
  }

 private:
  std::mutex mutex_;
  std::vector<LentBuffer> free_;
  size_t spares_ = 0;    // what Missing() fills up to
  bool ranDry_ = false;  // Take() found none since the last Missing()
};

}  // namespace reactor
