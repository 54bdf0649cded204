// Where received bytes land. The reactor reads straight into a chunk that will
// be handed to JS whole at the end of the loop turn (see batch.h), so bytes are
// copied once, by the kernel.
#pragma once

#include <cstdlib>
#include <new>

#include "batch.h"

namespace reactor {

class ReadArena {
 public:
  // Chunks are below glibc's mmap threshold (128 KiB) so that allocating one
  // per busy loop turn stays a cheap heap operation, not an mmap/munmap pair.
  static constexpr size_t kChunkSize = 64 * 1024;
  // A read into less room than this is not worth a syscall; start a new chunk.
  static constexpr size_t kMinReadSpace = 4 * 1024;

  ReadArena() = default;
  ReadArena(const ReadArena&) = delete;
  ReadArena& operator=(const ReadArena&) = delete;
  ~ReadArena() { std::free(chunk_); }

  // Room to receive into, at least kMinReadSpace bytes; null if out of memory.
  // Sealing a nearly full chunk into `batch` makes room.
  char* Space(Batch& batch, size_t* capacity) {
    if (chunk_ != nullptr && kChunkSize - used_ < kMinReadSpace) Seal(batch);
    if (chunk_ == nullptr) {
      chunk_ = static_cast<char*>(std::malloc(kChunkSize));
      used_ = 0;
      if (chunk_ == nullptr) return nullptr;
    }
    *capacity = kChunkSize - used_;
    return chunk_ + used_;
  }

  // Records that `length` bytes were received into Space(); returns their
  // offset. The chunk's index in `batch` is batch.chunks.size() until sealed.
  size_t Commit(size_t length) {
    size_t offset = used_;
    used_ += length;
    return offset;
  }

  // Hands the current chunk, trimmed to what it holds, to `batch`. An empty
  // chunk is kept for the next turn.
  void Seal(Batch& batch) {
    if (chunk_ == nullptr || used_ == 0) return;
    char* trimmed = static_cast<char*>(std::realloc(chunk_, used_));
    batch.chunks.push_back(ReadChunk{trimmed != nullptr ? trimmed : chunk_, used_});
    chunk_ = nullptr;
    used_ = 0;
  }

 private:
  char* chunk_ = nullptr;
  size_t used_ = 0;
};

}  // namespace reactor
