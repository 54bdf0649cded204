// Where received bytes land. The reactor reads straight into a block whose
// regions are handed to JS at the end of each loop turn (see batch.h), so
// bytes are copied once, by the kernel.
#pragma once

#include <atomic>
#include <cstddef>

#include "batch.h"
#include "read_lender.h"

namespace reactor {

// A block of received bytes. The arena holds one reference while it still
// reads into the block; each region handed to a batch holds another while the
// batch lives (JS gets copies, never the block). Small reads from many
// turns share one block, so a busy reactor neither mallocs nor faults in fresh
// pages per turn, and blocks JS lets go of are reused while still warm.
struct ReadBlock {
  static constexpr size_t kSize = 64 * 1024;
  std::atomic<uint32_t> references{1};
  char bytes[kSize];
};

// A block with one reference, recycled if one is free; null if out of memory.
ReadBlock* AcquireReadBlock();
// Drops one reference; the last one recycles or frees the block. Called from
// the reactor thread and from the JS thread (ArrayBuffer finalizers).
void ReleaseReadBlock(ReadBlock* block);
// Every ReadArena counts as a user of the block pool while it lives; with no
// arena and no block out, the pool frees its spare blocks (read_arena.cc).
void RegisterReadArena();
void UnregisterReadArena();

class ReadArena {
 public:
  // A read into less room than this is not worth a syscall; start a new block.
  static constexpr size_t kMinReadSpace = 4 * 1024;

  ReadArena() { RegisterReadArena(); }
  ReadArena(const ReadArena&) = delete;
  ReadArena& operator=(const ReadArena&) = delete;
  ~ReadArena() {
    if (block_ != nullptr) ReleaseReadBlock(block_);
    UnregisterReadArena();
  }

  // Room to receive into, at least kMinReadSpace bytes; null if out of memory.
  // Retiring a nearly full block into `batch` makes room.
  char* Space(Batch& batch, size_t* capacity) {
    if (block_ != nullptr && ReadBlock::kSize - used_ < kMinReadSpace) {
      Seal(batch);
      ReleaseReadBlock(block_);
      block_ = nullptr;
    }
    if (block_ == nullptr) {
      block_ = AcquireReadBlock();
      if (block_ == nullptr) return nullptr;
      used_ = sealed_ = 0;
    }
    *capacity = ReadBlock::kSize - used_;
    return block_->bytes + used_;
  }

  // Records that `length` bytes were received into Space(); returns their
  // offset in the region that the next Seal() hands out, whose index in
  // `batch` is batch.chunks.size() until then.
  size_t Commit(size_t length) {
    size_t offset = used_ - sealed_;
    used_ += length;
    return offset;
  }

  // Reactor thread: a lent buffer (ReadLender::kSize bytes) for a bulk read,
  // or false when none is spare. The arena's own region is sealed first, so
  // that the lent chunk's index (batch.chunks.size() when this returns) and
  // the arena's next region's cannot collide.
  bool Lend(Batch& batch, LentBuffer* buffer) {
    if (lender_ == nullptr || !lender_->Take(buffer)) return false;
    Seal(batch);
    return true;
  }
  // The read into a Lend() buffer took `length` bytes: they become the chunk
  // at index batch.chunks.size(), or the buffer goes back if there are none.
  void CommitLent(Batch& batch, const LentBuffer& buffer, size_t length) {
    if (length == 0) {
      lender_->Give(buffer);
      return;
    }
    batch.chunks.push_back(ReadChunk{buffer.data, length, nullptr, buffer.id});
  }
  void SetLender(ReadLender* lender) { lender_ = lender; }

  // Hands the bytes received since the last Seal() to `batch` as one region.
  void Seal(Batch& batch) {
    if (block_ == nullptr || used_ == sealed_) return;
    block_->references.fetch_add(1, std::memory_order_relaxed);
    batch.chunks.push_back(ReadChunk{block_->bytes + sealed_, used_ - sealed_, block_});
    sealed_ = used_;
  }

 private:
  ReadBlock* block_ = nullptr;
  ReadLender* lender_ = nullptr;  // the loop's; outlives the arena's use
  size_t used_ = 0;    // bytes of block_ received into
  size_t sealed_ = 0;  // bytes of block_ handed to batches
};

}  // namespace reactor
