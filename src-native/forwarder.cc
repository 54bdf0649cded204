#include "forwarder.h"

#include <errno.h>

#include <new>

#include "sys.h"
#include "tls_session.h"

namespace reactor {

PipePool::~PipePool() { Clear(); }

void PipePool::Clear() {
  for (Pipe pipe : spare_) Close(pipe);
  spare_.clear();
}

Pipe PipePool::Acquire() {
  if (!spare_.empty()) {
    Pipe pipe = spare_.back();
    spare_.pop_back();
    return pipe;
  }
  Pipe pipe;
  int fds[2];
  if (sys::CreatePipe(fds) == 0) {
    pipe.readFd = fds[0];
    pipe.writeFd = fds[1];
  }
  return pipe;
}

void PipePool::Release(Pipe pipe) {
  if (!pipe.Valid()) return;
  if (spare_.size() < kMaxSpare) {
    spare_.push_back(pipe);
  } else {
    Close(pipe);
  }
}

void PipePool::Close(Pipe pipe) {
  if (pipe.readFd >= 0) sys::Close(pipe.readFd);
  if (pipe.writeFd >= 0) sys::Close(pipe.writeFd);
}

Forwarder::Forwarder(uint64_t forwardId, Connection* a, Connection* b, ForwardMode mode,
                     PipePool& pipes)
    : id(forwardId), pipes_(pipes) {
  directions_[0].source = a;
  directions_[0].destination = b;
  directions_[1].source = b;
  directions_[1].destination = a;
  // TLS moves plaintext through OpenSSL, which splice cannot reach.
  bool tls = a->tls != nullptr || b->tls != nullptr;
  for (ForwardDirection& direction : directions_) {
    // kAuto copies: on this project's measurements (docs/benchmarks.md) recv/
    // send through a buffer was as fast as splice or faster for 64 B to 64 KiB
    // payloads, and it costs no pipe fds. splice is there when asked for.
    if (mode == ForwardMode::kSplice && !tls) direction.pipe = pipes_.Acquire();
    // No pipe (EMFILE, or copy asked for): fall back to copying.
    // nothrow: out of memory fails this forward (see PumpDirection), not the process.
    if (!direction.pipe.Valid()) direction.buffer.reset(new (std::nothrow) char[kChunk]);
    // A side that had already seen FIN under JS passes it on at once.
    direction.sourceEnded = direction.source->ended;
  }
}

Forwarder::~Forwarder() {
  for (ForwardDirection& direction : directions_) {
    // A pipe that still holds bytes cannot be handed to the next forward.
    if (direction.pending == 0) {
      pipes_.Release(direction.pipe);
    } else {
      PipePool::Close(direction.pipe);
    }
  }
}

void Forwarder::Fail(int error, Syscall call) {
  if (finished_) return;
  finished_ = true;
  error_ = error;
  failedCall_ = call;
}

void Forwarder::FailTls(const Connection& side, Syscall call) {
  const TlsIoFailure& failure = side.tls->failure();
  if (failure.error != 0 || failure.tls.message.empty()) {
    // The socket's errno; or none recorded, where a failed side is a reset one.
    Fail(failure.error != 0 ? failure.error : ECONNRESET, call);
    return;
  }
  if (finished_) return;
  Fail(EPROTO, call);
  failedInTls_ = true;
  tlsError_ = failure.tls;
}

void Forwarder::Cancel(int error, Syscall call) { Fail(error, call); }

bool Forwarder::FlushTlsOverflows(Batch& batch) {
  for (ForwardDirection& direction : directions_) {
    Connection* side = direction.source;
    if (side->tls == nullptr) continue;
    PlainStatus flushed = side->tls->FlushOverflow(*side);
    if (flushed == PlainStatus::kFailed) {
      FailTls(*side, Syscall::kWrite);
      return false;
    }
    // A write JS made before the forward, whose record just left, is done.
    if (flushed == PlainStatus::kDone && side->notifyAt != 0) side->tls->ReportWritten(*side, batch);
  }
  return true;
}

bool Forwarder::EndPassedTo(const Connection* side) const {
  for (const ForwardDirection& direction : directions_) {
    if (direction.destination == side && direction.done) return true;
  }
  return false;
}

ForwardDirection& Forwarder::Reverse(const ForwardDirection& direction) {
  return &direction == &directions_[0] ? directions_[1] : directions_[0];
}

bool Forwarder::Pump(Batch& batch) {
  if (!started) {
    // Nothing moves yet (the upstream connects, or JS has still to say go),
    // but records a side's session let go since (a TLS 1.2 handshake's end,
    // released by JS's verdict) leave now, as they would without a forward,
    // not once the upstream connects. A failed send ends the forward, as a
    // reset does mid-connect.
    FlushTlsOverflows(batch);
    return false;
  }
  // A reset side must end the forward now: a direction blocked on a full
  // destination does not read its source, so it would never see the error.
  for (ForwardDirection& direction : directions_) {
    Connection* side = direction.source;
    if (!side->errorSeen) continue;
    side->errorSeen = false;
    int error = sys::PendingSocketError(side->fd);
    if (error < 0) {
      Fail(-error, Syscall::kRead);
      return false;
    }
  }
  // Records a side's reads made OpenSSL write (alerts, tickets) and the
  // socket did not take go out first, on that side's EPOLLOUT.
  if (!FlushTlsOverflows(batch)) return false;
  bool more = false;
  for (ForwardDirection& direction : directions_) {
    if (finished_) break;
    if (!direction.done && PumpDirection(direction, batch)) more = true;
  }
  // A TLS write that had to read first (WANT_READ) goes on once its side
  // was read, which may have happened after its direction ran this pump.
  // A TLS client side's new sessions (its reads took the tickets), and any
  // side's key log lines (key updates), go to JS.
  for (ForwardDirection& direction : directions_) {
    if (direction.source->tls == nullptr) continue;
    if (direction.source->tls->TakeFlushWanted()) more = true;
    direction.source->tls->ReportForwardedSessions(*direction.source, batch);
  }
  if (!finished_ && directions_[0].done && directions_[1].done) finished_ = true;
  return more && !finished_;
}

// Splice mode at an urgent mark: one recv() skips the urgent byte (it is out
// of band: SO_OOBINLINE is off) and reads up to the next mark; the bytes go
// into the pipe, which Drain() splices on as usual. Returns what recv()
// returned: 0 for the FIN, -EAGAIN when only the urgent byte was queued.
ssize_t Forwarder::StepOverMark(ForwardDirection& direction) {
  // Drain() emptied the pipe before this read, and an empty pipe holds at
  // least one page, so a write of at most a page cannot come back short.
  char step[kMarkStep];
  ssize_t n = sys::Receive(direction.source->fd, step, sizeof step);
  if (n <= 0) return n;
  ssize_t written = sys::Write(direction.pipe.writeFd, step, static_cast<size_t>(n));
  if (written < 0) return written;
  // Cannot happen (see above); failing beats dropping bytes silently.
  if (written != n) return -EIO;
  return n;
}

// Writes out what the direction holds. Returns true when all of it went.
bool Forwarder::Drain(ForwardDirection& direction) {
  Connection* destination = direction.destination;
  while (direction.pending > 0) {
    ssize_t n;
    if (destination->tls != nullptr) {
      PlainResult result =
          destination->tls->WritePlain(*destination, direction.buffer.get() + direction.pendingOffset,
                                       direction.pending);
      // Full (waitingWritable set), it must read first, or its output is
      // held (whoever ends the hold pumps again): the source is not read
      // meanwhile, as below. A read that can no longer come (that
      // side has ended) would leave it waiting for good: fail instead.
      if (result.status == PlainStatus::kWouldBlock) {
        if (destination->tls->writeWantsRead() && Reverse(direction).sourceEnded) Fail(EPROTO, Syscall::kWrite);
        return false;
      }
      if (result.status == PlainStatus::kFailed) {
        FailTls(*destination, Syscall::kWrite);
        return false;
      }
      n = static_cast<ssize_t>(result.bytes);
    } else if (direction.UsesSplice()) {
      n = sys::SpliceOut(direction.pipe.readFd, destination->fd, direction.pending);
    } else {
      iovec chunk{direction.buffer.get() + direction.pendingOffset, direction.pending};
      n = sys::SendVector(destination->fd, &chunk, 1);
    }
    if (n > 0) {
      direction.pending -= static_cast<size_t>(n);
      direction.pendingOffset += static_cast<size_t>(n);
      direction.bytes += static_cast<uint64_t>(n);
      destination->bytesWritten += static_cast<uint64_t>(n);
      continue;
    }
    if (n == -EAGAIN) {
      // Full: wait for the destination's EPOLLOUT; the source is not read
      // meanwhile, so the kernel pushes back on the sender.
      destination->waitingWritable = true;
      return false;
    }
    Fail(static_cast<int>(-n), Syscall::kWrite);
    return false;
  }
  direction.pendingOffset = 0;
  return true;
}

bool Forwarder::PumpDirection(ForwardDirection& direction, Batch& batch) {
  Connection* source = direction.source;
  Connection* destination = direction.destination;
  if (!direction.UsesSplice() && direction.buffer == nullptr) {
    Fail(ENOMEM, Syscall::kRead);  // neither a pipe nor a copy buffer could be had
    return false;
  }
  // Writes JS queued before forwarding began go first, and an end() JS
  // asked for before (or while) forwarding: Flush() sends the FIN once the
  // queue is empty and tells JS, whose 'finish' waits for it. The direction
  // goes on: the source's FIN ends it cleanly, while bytes for the ended side
  // fail the forward with the kernel's EPIPE, as a write after end() fails.
  // On a TLS destination a record may be half sent, and OpenSSL must finish
  // it with the same bytes: the pending ones go out before anything else.
  if (destination->tls != nullptr && direction.pending > 0 && !Drain(direction)) return false;
  if (!destination->writeQueue.empty() ||
      (destination->shutdownRequested && !destination->shutdownDone)) {
    destination->Flush(batch);
    if (destination->failed) {
      // A TLS side says what failed (OpenSSL's error, or the socket's errno).
      if (destination->tls != nullptr) {
        FailTls(*destination, Syscall::kWrite);
      } else {
        Fail(ECONNRESET, Syscall::kWrite);
      }
      return false;
    }
    // Not past queued bytes, nor past a close_notify still waiting for room.
    if (!destination->writeQueue.empty()) return false;
    if (destination->shutdownRequested && !destination->shutdownDone) return false;
  }
  size_t budget = kBudgetPerTurn;
  size_t tlsReadsLeft = kTlsReadsPerTurn;
  for (;;) {
    if (!Drain(direction)) return false;
    if (direction.sourceEnded) {
      if (destination->tls != nullptr) {
        // close_notify, then the FIN; a full socket retries on its EPOLLOUT.
        // A failure means the destination is gone already, as below. An
        // unclean end (a TLS source's FIN without close_notify) is passed on
        // as a FIN alone, so the far peer can tell it from a clean one.
        PlainStatus ended = destination->tls->EndWrites(*destination, !direction.sourceEndedUnclean);
        if (ended == PlainStatus::kWouldBlock) return false;
        if (ended == PlainStatus::kFailed) {
          // The close_notify or bytes before it never left: not a clean end.
          FailTls(*destination, Syscall::kWrite);
          return false;
        }
      } else if (sys::ShutdownWrite(destination->fd) < 0) {
        // The destination is gone already; nothing more can flow this way.
      }
      direction.done = true;
      return false;
    }
    if (budget == 0) return true;
    if (!source->readable) return false;
    size_t wanted = budget < kChunk ? budget : kChunk;
    ssize_t n;
    if (source->tls != nullptr) {
      // Records are gathered until the buffer is full, the socket is drained
      // or the source ended, so that many small records leave in one send
      // (and one record when re-encrypted) rather than one each. Reads are
      // counted too: a peer sending 1-byte records must not hold the turn
      // for the whole byte budget's worth of SSL_read calls.
      size_t gathered = 0;
      PlainStatus status = PlainStatus::kDone;
      while (gathered < wanted) {
        if (tlsReadsLeft == 0) {
          status = PlainStatus::kAgain;
          break;
        }
        tlsReadsLeft--;
        PlainResult result = source->tls->ReadPlain(*source, direction.buffer.get() + gathered, wanted - gathered);
        status = result.status;
        if (status == PlainStatus::kDone) {
          gathered += result.bytes;
          continue;
        }
        // A record without plaintext (a ticket, a key update) was consumed
        // and the socket may hold more: read on.
        if (status == PlainStatus::kAgain) continue;
        break;
      }
      if (status == PlainStatus::kFailed) {
        FailTls(*source, Syscall::kRead);
        return false;
      }
      if (status == PlainStatus::kEnded || status == PlainStatus::kEndedUnclean) {
        direction.sourceEnded = true;
        direction.sourceEndedUnclean = status == PlainStatus::kEndedUnclean;
      }
      if (gathered > 0) {
        direction.pending = gathered;
        source->bytesRead += gathered;
        budget -= gathered;
        // Out of reads for this turn: send what was gathered, come back next turn.
        if (status == PlainStatus::kAgain) budget = 0;
        continue;
      }
      if (direction.sourceEnded) continue;
      // No plaintext and no reads left: come back next turn, like a spent budget.
      if (status == PlainStatus::kAgain) return true;
      // Drained (readable cleared), or it must send first (EPOLLOUT resumes it).
      return false;
    } else if (direction.UsesSplice()) {
      n = sys::SpliceIn(source->fd, direction.pipe.writeFd, wanted);
      // The kernel's splice read path stops at a TCP urgent mark and never
      // steps over the urgent byte (only recv() does): there splice() returns
      // EAGAIN with bytes queued behind the mark, or 0 once a FIN is queued
      // too. Neither means drained or ended while the socket is at the mark.
      if ((n == 0 || n == -EAGAIN) && sys::AtUrgentMark(source->fd) == 1) {
        n = StepOverMark(direction);
      }
    } else {
      n = sys::Receive(source->fd, direction.buffer.get(), wanted);
    }
    if (n > 0) {
      direction.pending = static_cast<size_t>(n);
      source->bytesRead += static_cast<uint64_t>(n);
      budget -= static_cast<size_t>(n);
      // Copy mode: a short recv means the socket's queue was empty (see
      // Connection::Read), so wait for the next edge rather than spend a recv
      // on EAGAIN. Not so for splice: a pipe has 16 slots and each queued
      // segment takes one, so splice stops short while the socket still holds
      // bytes; only EAGAIN means drained. Nor at an urgent mark, where recv
      // stops short too. After EPOLLRDHUP, read on to the 0 that is the FIN.
      // Nor for TLS, where a read ends at a record's end (ReadPlain clears
      // `readable` itself when the socket says EAGAIN).
      if (source->tls == nullptr && !direction.UsesSplice() && static_cast<size_t>(n) < wanted &&
          !source->peerClosing && !source->urgentMark) {
        source->readable = false;
      }
      continue;
    }
    if (n == 0) {
      source->readable = false;
      direction.sourceEnded = true;
      continue;
    }
    if (n == -EAGAIN) {
      source->readable = false;
      source->urgentMark = false;
      return false;
    }
    Fail(static_cast<int>(-n), Syscall::kRead);
    return false;
  }
}

}  // namespace reactor
