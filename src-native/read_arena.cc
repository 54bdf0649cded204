#include "read_arena.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace reactor {

namespace {
// Free blocks kept for reuse, shared by every reactor in the process: 2 MiB
// at most stays allocated once JS has let go of the bytes.
constexpr size_t kMaxPooledBlocks = 32;

struct BlockPool {
  std::mutex mutex;
  std::vector<ReadBlock*> blocks;
};

BlockPool& Pool() {
  // Never destroyed: finalizers of ArrayBuffers may run during exit, after
  // static destructors would have run.
  static BlockPool* pool = new BlockPool();
  return *pool;
}
}  // namespace

ReadBlock* AcquireReadBlock() {
  BlockPool& pool = Pool();
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    if (!pool.blocks.empty()) {
      ReadBlock* block = pool.blocks.back();
      pool.blocks.pop_back();
      block->references.store(1, std::memory_order_relaxed);
      return block;
    }
  }
  void* memory = std::malloc(sizeof(ReadBlock));
  // Default-initialized: `ReadBlock()` would zero the 64 KiB the kernel is
  // about to overwrite.
  return memory == nullptr ? nullptr : new (memory) ReadBlock;
}

void ReleaseReadBlock(ReadBlock* block) {
  if (block->references.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  BlockPool& pool = Pool();
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    if (pool.blocks.size() < kMaxPooledBlocks) {
      pool.blocks.push_back(block);
      return;
    }
  }
  block->~ReadBlock();
  std::free(block);
}

}  // namespace reactor
