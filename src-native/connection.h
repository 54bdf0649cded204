// One accepted (or adopted) stream socket: its receive state, its write queue,
// and the read and write logic that runs on the reactor thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <memory>

#include "batch.h"
#include "flow_control.h"
#include "read_arena.h"

namespace reactor {

class Forwarder;
class TlsSession;

// What an epoll event's data.ptr points at.
struct Pollable {
  enum class Kind : uint8_t { kWake, kListener, kConnection };
  explicit Pollable(Kind k) : kind(k) {}
  Kind kind;
};

// Bytes queued for sending: copied from JS, or, for large Buffers, the JS
// Buffer's own memory, which the Reactor keeps alive under `pin` until the
// kernel has every byte (or the connection drops them) and says so in a batch.
struct WriteChunk {
  std::unique_ptr<char[]> owned;  // the copy; null when pinned
  uint8_t pool = 0;               // `owned` came from this pool (batch.h); 0: none
  const char* data = nullptr;
  size_t length = 0;
  uint64_t pin = 0;
};

// How reads meet a hangup (EPOLLHUP: a reset, or both directions shut), as
// libuv reads one (uv__stream_io): the queue is final, and a read that leaves
// nothing queued is the last, so what follows is the end, not the reset a
// recv() would return. net gives a peer that writes and resets at once its
// data, then 'end'. One copy per connection, for the plain read
// (Connection::Read) and the TLS BIO (TransportRead) alike.
struct HangupReading {
  bool seen = false;
  // A read left nothing queued: it was the last. Connection::Read ends
  // there; the TLS BIO gives that read to OpenSSL, and its next is the end.
  bool emptied = false;
  // Read on past a read that left bytes queued behind an urgent mark:
  // libuv would have ended the stream there, so an error now is that end.
  // Kept across reads, as a cap or the budget may stop one between the two.
  bool pastEnd = false;

  // After a recv() on `fd` that returned bytes: true when, with a hangup
  // seen, that read was the last (sets emptied, else pastEnd).
  bool TookLast(int fd);
  // After a recv() that returned `result` < 0 (-errno): the error is the
  // end that libuv would have reported before it.
  bool ErrorIsEnd(ssize_t result) const;
  // EAGAIN past the end: after a hangup the queue is final, and recv() says
  // EAGAIN at an urgent mark only with a signal pending (a stop, a freeze).
  // No edge would come again, so the read is retried next turn.
  bool AgainIsRetry(ssize_t result) const;
};

enum class ReadOutcome {
  kDrained,      // the kernel queue is empty; wait for the next edge
  kBudgetSpent,  // more may be waiting; revisit next turn without an edge
  kStopped,      // stopped at a cap; revisit when JS acknowledges bytes
  kEnded,        // peer sent FIN
  kFailed,       // error reported
};

struct Connection : Pollable {
  // Out of line, where TlsSession is a complete type.
  Connection(uint64_t connectionId, int socketFd);
  ~Connection();

  const uint64_t id;
  const int fd;

  // Receive side.
  bool wantsData = true;    // JS has not paused it
  bool readable = false;    // an edge arrived and the queue was not seen empty since
  bool peerClosing = false; // EPOLLRDHUP seen: read until 0 (or, with hangup.seen, nothing left queued)
  bool errorSeen = false;   // EPOLLERR/EPOLLHUP seen while forwarding: SO_ERROR may say why
  // EPOLLHUP seen, and how reads have met it since.
  HangupReading hangup;
  // EPOLLPRI seen: a TCP urgent mark may stop a recv() short with bytes still
  // queued, so a short read does not mean drained; read to EAGAIN, then clear.
  bool urgentMark = false;
  // The last read took at least a whole arena block (64 KiB): bytes are
  // arriving in bulk, and the next read goes into a 256 KiB lent buffer, which
  // JS gets whole if the read fills it (read_lender.h).
  bool bulkReads = false;
  bool ended = false;       // FIN received
  bool failed = false;      // an error was reported; no more I/O
  FlowState flow;           // changed only by FlowControl (flow_control.h)
  uint64_t bytesRead = 0;

  // Send side.
  std::deque<WriteChunk> writeQueue;
  size_t headOffset = 0;    // bytes of writeQueue.front() already sent
  uint64_t bytesWritten = 0;
  // Bytes in writeQueue not yet sent (less headOffset).
  uint64_t unsentBytes = 0;
  // The bytesWritten JS waits to see in a kWritten event, 0 for none: where
  // the queue ended at JS's latest write (its callback waits for it).
  // Reaching it wakes JS; kWritten events of partial progress wait for the
  // next batch that does (Batch::AddWritten).
  uint64_t notifyAt = 0;
  // Makes the next kWritten that reaches the end of the queue wake JS.
  void AwaitQueueEnd() { notifyAt = bytesWritten + unsentBytes; }
  // Says in `batch` how many bytes the kernel has taken (`total`, which
  // under TLS counts plaintext whose records left whole: TlsSession::Flush);
  // wakes JS if that reaches notifyAt. Flush paths call it after progress,
  // with unsentBytes already lowered.
  void ReportWritten(Batch& batch) { ReportWrittenUpTo(batch, bytesWritten); }
  void ReportWrittenUpTo(Batch& batch, uint64_t total, bool attempted = false);
  // JS asked to hear once this turn's flush has tried the queued writes
  // (Command::kReportAttempt); Loop::AnswerWriteAttempt clears it.
  bool attemptAwaited = false;
  bool waitingWritable = false;  // the kernel buffer was full; wait for EPOLLOUT
  bool queuedForWrite = false;
  bool shutdownRequested = false;
  bool shutdownDone = false;

  // Idle timeout (timers.h): activity only stamps lastActivityMs.
  uint64_t timeoutMs = 0;
  uint64_t lastActivityMs = 0;
  bool timerArmed = false;  // has an entry in IdleTimers (at most one)
  // kSetTimeout commands taken: a kTimeout says which one it was timed under.
  uint64_t timeoutsSet = 0;

  bool connecting = false;  // outbound connect in progress; EPOLLOUT ends it
  Forwarder* forwarder = nullptr;  // joined to another connection (forwarder.h)
  // TLS connections only: reads and writes go through it (tls_session.h).
  std::unique_ptr<TlsSession> tls;
  uint64_t listenerId = 0;  // the listener that accepted it; 0 for connect/adopt
  bool closed = false;
  // Level-triggered mode: the events epoll has for this fd (0: not in the set).
  uint32_t interest = 0;
  bool interestDirty = false;

  // Reads until the queue is empty, `budget` bytes were read, or `room`
  // bytes were (the per-socket cap, FlowControl::Room). Data and end/error
  // events go into `batch`; the caller accounts the bytes read (bytesRead).
  ReadOutcome Read(ReadArena& arena, Batch& batch, size_t budget, uint64_t room,
                   bool shortReadDrains);

  // Sends what the write queue holds with as few sendmsg calls as the kernel
  // allows, then performs a requested shutdown once the queue is empty.
  void Flush(Batch& batch);

  // Drops whatever is still queued, handing its pins back through `batch`.
  void DropWrites(Batch& batch);
};

}  // namespace reactor
