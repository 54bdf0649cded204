#include "connection.h"

#include <errno.h>
#include <limits.h>
#include <sys/uio.h>

#include <algorithm>

#include "sys.h"
#include "tls_session.h"

namespace reactor {

namespace {
// Chunks per sendmsg. IOV_MAX is 1024 on Linux; 64 keeps the iovec array on the
// stack small while still coalescing a tick's worth of small writes.
constexpr int kMaxChunksPerSend = 64;
}  // namespace

bool HangupReading::TookLast(int fd) {
  if (!seen) return false;
  // Bytes still queued stand behind an urgent mark (or a Unix message with
  // descriptors): libuv would drop them; they are read on here.
  if (sys::MoreQueued(fd)) {
    pastEnd = true;
    return false;
  }
  emptied = true;
  return true;
}

bool HangupReading::ErrorIsEnd(ssize_t result) const { return pastEnd && result != -EAGAIN; }

bool HangupReading::AgainIsRetry(ssize_t result) const { return pastEnd && result == -EAGAIN; }

Connection::Connection(uint64_t connectionId, int socketFd)
    : Pollable(Kind::kConnection), id(connectionId), fd(socketFd) {}

Connection::~Connection() = default;

ReadOutcome Connection::Read(ReadArena& arena, Batch& batch, size_t budget, uint64_t room,
                             bool shortReadDrains) {
  if (tls) return tls->Read(*this, arena, batch, budget, room, shortReadDrains);
  uint64_t taken = 0;
  while (budget > 0) {
    if (taken >= room) return ReadOutcome::kStopped;
    size_t capacity = 0;
    char* space = nullptr;
    // A whole lent buffer's worth of budget, or a short read would be copied
    // out of it anyway; and of room, so a lent read never crosses the cap
    // (an arena read may, by less than a block, as any read that starts
    // below it).
    LentBuffer lent;
    bool intoLent = bulkReads && budget >= ReadLender::kSize && room - taken >= ReadLender::kSize &&
                    arena.Lend(batch, &lent);
    if (intoLent) {
      space = lent.data;
      capacity = ReadLender::kSize;
    } else {
      space = arena.Space(batch, &capacity);
    }
    if (space == nullptr) {
      failed = true;
      batch.Add(EventKind::kError, id, ENOMEM, static_cast<double>(Syscall::kRead));
      return ReadOutcome::kFailed;
    }
    size_t wanted = std::min(capacity, budget);
    ssize_t n = sys::Receive(fd, space, wanted);
    if (intoLent) arena.CommitLent(batch, lent, n > 0 ? static_cast<size_t>(n) : 0);
    if (n > 0) {
      size_t received = static_cast<size_t>(n);
      // Bulk is a read of at least a whole arena block (filling a block's
      // remainder or the budget's says nothing about it), so the next read
      // goes to a lent buffer four blocks long; EAGAIN and the end leave it
      // as it was, as they say nothing about the next edge's size.
      bulkReads = received >= ReadBlock::kSize;
      // A lent chunk was just pushed at the index before the end; an arena
      // region gets the next index when it is sealed.
      size_t chunkIndex = intoLent ? batch.chunks.size() - 1 : batch.chunks.size();
      size_t offset = intoLent ? 0 : arena.Commit(received);
      batch.AddData(id, chunkIndex, offset, received);
      taken += received;
      bytesRead += received;
      budget -= received;
      // A read that empties the queue at a hangup is the end, not a read of
      // the reset (HangupReading). Not only a short read: one the budget or
      // the room cut to exactly what was left (a queue of whole budgets,
      // read in level mode) is the read libuv's larger buffer would have
      // seen short.
      if (hangup.TookLast(fd)) {
        readable = false;
        ended = true;
        batch.Add(EventKind::kEnd, id);
        return ReadOutcome::kEnded;
      }
      // On Linux a stream socket returns less than asked only when its queue
      // is empty at that moment, and any later arrival raises a new edge; so a
      // short read ends the drain without the extra recv() that sees EAGAIN.
      // Not at an urgent mark: recv() stops short there with bytes behind it.
      if (received < wanted && shortReadDrains && !peerClosing && !urgentMark) {
        readable = false;
        return ReadOutcome::kDrained;
      }
      continue;
    }
    if (n == 0 || hangup.ErrorIsEnd(n)) {
      readable = false;
      ended = true;
      batch.Add(EventKind::kEnd, id);
      return ReadOutcome::kEnded;
    }
    if (hangup.AgainIsRetry(n)) {
      // Not "drained": no edge would come again (HangupReading::AgainIsRetry).
      return ReadOutcome::kBudgetSpent;
    }
    if (n == -EAGAIN) {
      readable = false;
      urgentMark = false;  // past any mark; a new one raises EPOLLPRI again
      return ReadOutcome::kDrained;
    }
    readable = false;
    failed = true;
    batch.Add(EventKind::kError, id, static_cast<double>(-n),
              static_cast<double>(Syscall::kRead));
    return ReadOutcome::kFailed;
  }
  return ReadOutcome::kBudgetSpent;
}

void Connection::Flush(Batch& batch) {
  if (tls) {
    tls->Flush(*this, batch);
    return;
  }
  bool progressed = false;
  while (!writeQueue.empty() && !failed) {
    iovec chunks[kMaxChunksPerSend];
    int count = 0;
    size_t offered = 0;
    for (auto it = writeQueue.begin(); it != writeQueue.end() && count < kMaxChunksPerSend;
         ++it, ++count) {
      size_t skip = count == 0 ? headOffset : 0;
      chunks[count].iov_base = const_cast<char*>(it->data) + skip;
      chunks[count].iov_len = it->length - skip;
      offered += it->length - skip;
    }
    ssize_t n = sys::SendVector(fd, chunks, count);
    if (n < 0) {
      if (n == -EAGAIN) {
        waitingWritable = true;
      } else {
        failed = true;
        batch.Add(EventKind::kError, id, static_cast<double>(-n),
                  static_cast<double>(Syscall::kWrite));
      }
      break;
    }
    size_t sent = static_cast<size_t>(n);
    bytesWritten += sent;
    unsentBytes -= sent;
    progressed = progressed || sent > 0;
    while (sent > 0) {
      WriteChunk& head = writeQueue.front();
      size_t rest = head.length - headOffset;
      if (sent >= rest) {
        sent -= rest;
        headOffset = 0;
        if (head.pin != 0) batch.unpinned.push_back(head.pin);
        batch.ReturnBuffer(head.pool, std::move(head.owned));
        writeQueue.pop_front();
      } else {
        headOffset += sent;
        sent = 0;
      }
    }
    if (static_cast<size_t>(n) < offered) {
      // A short send means the socket buffer is full; EPOLLOUT will follow.
      waitingWritable = true;
      break;
    }
  }
  if (progressed) ReportWritten(batch);
  if (writeQueue.empty() && shutdownRequested && !shutdownDone && !failed) {
    shutdownDone = true;
    int result = sys::ShutdownWrite(fd);
    // ENOTCONN: the peer already reset the connection; net ignores it too.
    if (result < 0 && result != -ENOTCONN) {
      failed = true;
      batch.Add(EventKind::kError, id, static_cast<double>(-result),
                static_cast<double>(Syscall::kShutdown));
    } else {
      batch.Add(EventKind::kShutdown, id);
    }
  }
}

void Connection::ReportWrittenUpTo(Batch& batch, uint64_t total, bool attempted) {
  bool awaited = notifyAt != 0 && total >= notifyAt;
  if (awaited) notifyAt = 0;
  batch.AddWritten(id, total, awaited, attempted);
}

void Connection::DropWrites(Batch& batch) {
  for (WriteChunk& chunk : writeQueue) {
    if (chunk.pin != 0) batch.unpinned.push_back(chunk.pin);
    batch.ReturnBuffer(chunk.pool, std::move(chunk.owned));
  }
  writeQueue.clear();
  headOffset = 0;
  unsentBytes = 0;
}

}  // namespace reactor
