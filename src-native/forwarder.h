// Native forwarding: two reactor connections joined so that bytes flow both
// ways on the reactor thread and never enter JS. Each direction moves bytes
// with splice(2) through a pipe (no copy into user space), or, when no pipe
// can be had (EMFILE), with recv/send through a buffer. Backpressure is the
// kernel's: a direction stops reading its source while its destination is
// full. A FIN on one side becomes shutdown(SHUT_WR) on the other once the
// bytes before it are through, while the other direction keeps flowing.
//
// A TLS side (its handshake done) always copies: its source direction reads
// plaintext through TlsSession::ReadPlain, its destination direction
// encrypts through WritePlain, and the end passed on to it is close_notify,
// then the FIN (EndWrites). OpenSSL is called only in tls_session.cc.
// Under edge triggering OpenSSL may hold decrypted plaintext the kernel no
// longer reports, so a TLS source leaves `readable` set unless the socket
// itself said EAGAIN: a direction stopped by its budget comes back through
// Pump() returning true, one stopped by a full destination on that side's
// EPOLLOUT, and neither waits for a new edge on the source.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "batch.h"
#include "connection.h"
#include "tls_context.h"

namespace reactor {

struct Pipe {
  int readFd = -1;
  int writeFd = -1;
  bool Valid() const { return readFd >= 0; }
};

// Spare pipes for the next forward: creating a pipe costs two fds and a
// syscall, and a proxy with churning connections would otherwise pay it twice
// per connection.
class PipePool {
 public:
  // Pipes kept for reuse; beyond this, released pipes are closed.
  static constexpr size_t kMaxSpare = 64;

  PipePool() = default;
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;
  ~PipePool();

  // A pipe, or an invalid one if none can be created (the caller copies instead).
  Pipe Acquire();
  // Takes back an empty pipe; a pipe that may hold bytes must be closed instead.
  void Release(Pipe pipe);
  static void Close(Pipe pipe);
  // Closes every spare pipe (the loop is stopping).
  void Clear();
  size_t Spare() const { return spare_.size(); }

 private:
  std::vector<Pipe> spare_;
};

enum class ForwardMode : uint8_t { kAuto = 0, kSplice = 1, kCopy = 2 };

// One direction of a forward: from `source` to `destination`.
struct ForwardDirection {
  Connection* source = nullptr;
  Connection* destination = nullptr;
  Pipe pipe;                            // splice mode
  std::unique_ptr<char[]> buffer;       // copy mode
  size_t pending = 0;                   // bytes read, not yet written on
  size_t pendingOffset = 0;             // copy mode: where `pending` starts
  uint64_t bytes = 0;                   // delivered to the destination
  bool sourceEnded = false;             // FIN read from the source
  bool sourceEndedUnclean = false;      // a TLS source's FIN without close_notify
  bool done = false;                    // FIN passed on (shutdown sent)

  bool UsesSplice() const { return pipe.Valid(); }
};

class Forwarder {
 public:
  // Bytes moved per direction per loop turn before other work gets a go.
  static constexpr size_t kBudgetPerTurn = 256 * 1024;
  // Copy-mode buffer, and the most one splice moves into a pipe (a pipe's
  // default capacity on Linux).
  static constexpr size_t kChunk = 64 * 1024;
  // Splice mode reads past an urgent mark with recv() through a stack buffer
  // this big: one page, the least a pipe holds, so the write into the (empty)
  // pipe always fits.
  static constexpr size_t kMarkStep = 4096;
  // SSL_read calls per direction per turn (each returns at most one record).
  static constexpr size_t kTlsReadsPerTurn = 1024;

  Forwarder(uint64_t forwardId, Connection* a, Connection* b, ForwardMode mode, PipePool& pipes);
  ~Forwarder();

  const uint64_t id;

  // Moves what it can in both directions. Returns true when more may be
  // waiting (budget spent), so the loop should pump again next turn.
  bool Pump(Batch& batch);
  // Finished: both directions done, or one failed.
  bool Finished() const { return finished_; }
  int Error() const { return error_; }
  Syscall FailedCall() const { return failedCall_; }
  // Whether OpenSSL failed on a TLS side; then TlsError() says how (Error()
  // is EPROTO).
  bool FailedInTls() const { return failedInTls_; }
  const TlsFailure& TlsError() const { return tlsError_; }
  Connection* First() const { return directions_[0].source; }
  Connection* Second() const { return directions_[1].source; }
  uint64_t BytesFirstToSecond() const { return directions_[0].bytes; }
  uint64_t BytesSecondToFirst() const { return directions_[1].bytes; }
  // Ends the forward early (a side was closed from JS, or the loop failed).
  void Cancel(int error, Syscall call = Syscall::kRead);
  // Whether the direction toward `side` is done: its peer was sent the end.
  bool EndPassedTo(const Connection* side) const;

  bool queued = false;
  // Set by kForwardStart: until then JS may still hold bytes that must go first.
  bool started = false;
  // A forward to an address: what JS held of the client when it asked
  // (ForwardHeld). Sent ahead of the forward when the upstream connects, if
  // the reactor read nothing for JS since (Loop::FinishForwardConnect).
  uint64_t receivedByJs = 0;
  std::unique_ptr<char[]> heldByJs;
  size_t heldLength = 0;

 private:
  // Returns true when the direction stopped with its budget spent.
  bool PumpDirection(ForwardDirection& direction, Batch& batch);
  // Sends what each TLS side's overflow holds (not held, not sent). False,
  // with the forward failed, when a send failed. (No TLS side connects: a
  // forward to an address has a plain upstream, and a forward takes no
  // socket still connecting.)
  bool FlushTlsOverflows(Batch& batch);
  bool Drain(ForwardDirection& direction);
  ssize_t StepOverMark(ForwardDirection& direction);
  // The direction that reads from `direction`'s destination.
  ForwardDirection& Reverse(const ForwardDirection& direction);
  void Fail(int error, Syscall call);
  // Fails with what the TLS session of `side` recorded for its failed call.
  void FailTls(const Connection& side, Syscall call);

  ForwardDirection directions_[2];
  PipePool& pipes_;
  bool finished_ = false;
  int error_ = 0;
  Syscall failedCall_ = Syscall::kRead;
  bool failedInTls_ = false;
  TlsFailure tlsError_;
};

}  // namespace reactor
