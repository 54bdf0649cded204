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

// The pool is kept only while it has a user: a live ReadArena (a running
// reactor) or a block still out. When the last of both is gone, the spare
// blocks are freed. Node unloads the addon when the last environment that
// loaded it ends (a Worker, with nothing on the main thread), and a pool
// that outlived its users then leaked 2 MiB per Worker that carried traffic.
struct BlockPool {
  std::mutex mutex;
  std::vector<ReadBlock*> blocks;  // guarded by mutex
  size_t arenas = 0;               // guarded by mutex: live ReadArenas
  size_t outstanding = 0;          // guarded by mutex: blocks handed out, not yet back
};

BlockPool& Pool() {
  // Never destroyed (a few bytes): finalizers of ArrayBuffers may run during
  // exit, after static destructors would have run.
  static BlockPool* pool = new BlockPool();
  return *pool;
}

void FreeBlock(ReadBlock* block) {
  block->~ReadBlock();
  std::free(block);
}

// Takes the spare blocks out of the pool if nobody can use them any more;
// the caller frees them outside the lock.
std::vector<ReadBlock*> TakeUnusedLocked(BlockPool& pool) {
  std::vector<ReadBlock*> unused;
  if (pool.arenas == 0 && pool.outstanding == 0) unused.swap(pool.blocks);
  return unused;
}

}  // namespace

void RegisterReadArena() {
  BlockPool& pool = Pool();
  std::lock_guard<std::mutex> lock(pool.mutex);
  ++pool.arenas;
}

void UnregisterReadArena() {
  BlockPool& pool = Pool();
  std::vector<ReadBlock*> unused;
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    --pool.arenas;
    unused = TakeUnusedLocked(pool);
  }
  for (ReadBlock* block : unused) FreeBlock(block);
}

ReadBlock* AcquireReadBlock() {
  BlockPool& pool = Pool();
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    ++pool.outstanding;
    if (!pool.blocks.empty()) {
      ReadBlock* block = pool.blocks.back();
      pool.blocks.pop_back();
      block->references.store(1, std::memory_order_relaxed);
      return block;
    }
  }
  void* memory = std::malloc(sizeof(ReadBlock));
  if (memory == nullptr) {
    std::lock_guard<std::mutex> lock(pool.mutex);
    --pool.outstanding;
    return nullptr;
  }
  // Default-initialized: `ReadBlock()` would zero the 64 KiB the kernel is
  // about to overwrite.
  return new (memory) ReadBlock;
}

void ReleaseReadBlock(ReadBlock* block) {
  if (block->references.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  BlockPool& pool = Pool();
  std::vector<ReadBlock*> unused;
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    --pool.outstanding;
    if (pool.blocks.size() < kMaxPooledBlocks) {
      pool.blocks.push_back(block);
      block = nullptr;
    }
    unused = TakeUnusedLocked(pool);
  }
  if (block != nullptr) FreeBlock(block);
  for (ReadBlock* spare : unused) FreeBlock(spare);
}

}  // namespace reactor
