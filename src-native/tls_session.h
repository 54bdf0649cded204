// One accepted connection's TLS state: its SSL object, reading and writing
// through a BIO of our own over the connection's socket, so every syscall
// stays in sys.h and OpenSSL never sees errno.
//
// Ownership: a Connection owns its session (Connection::tls) and frees it,
// with the SSL and its BIO, when the Connection itself is freed after
// Loop::CloseConnection, the one exit of every connection. The session holds
// its TlsContext, so the context's ALPN list outlives every SSL made from it.
//
// Under edge triggering the rules of the plain path hold for ciphertext and
// plaintext alike: Read() stops only at WANT_READ after the socket said
// EAGAIN or returned less than asked (drained), at the peer's end, at an error, or at a cap or budget,
// and in those last two cases it leaves `readable` set so that the loop
// revisits the connection (OpenSSL may hold decrypted bytes the kernel no
// longer reports). A read that wants to write waits for EPOLLOUT
// (readWantsWrite), a write that wants to read waits for the next read
// (writeWantsRead); each side asks the loop for the other through
// TakeFlushWanted() and readWantsWrite.
#pragma once

#include <cstdint>
#include <memory>

#include "connection.h"
#include "tls_context.h"

typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace reactor {

// Why a kTlsError event was sent (its `c`).
enum class TlsErrorKind : uint8_t {
  kLibrary = 0,      // OpenSSL failed; three strings: message, library, reason
  kPeerClosed = 1,   // the peer closed the TCP connection mid-handshake
};

class TlsSession {
 public:
  // A server-side session on `fd`; null if OpenSSL is out of memory.
  static std::unique_ptr<TlsSession> Accept(std::shared_ptr<TlsContext> context, int fd);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  bool handshakeDone() const { return handshakeDone_; }

  // Connection::Read for a TLS connection: drives the handshake, then reads
  // plaintext into the arena, `budget` and `room` counting plaintext.
  ReadOutcome Read(Connection& connection, ReadArena& arena, Batch& batch, size_t budget,
                   uint64_t room, bool shortReadDrains);
  // Connection::Flush for a TLS connection: encrypts the write queue once the
  // handshake is done, then sends close_notify and the FIN for a requested
  // shutdown. bytesWritten counts plaintext.
  void Flush(Connection& connection, Batch& batch);

  // True once: the handshake finished or a read let a stalled write go on,
  // so the connection's queue should be flushed.
  bool TakeFlushWanted() {
    bool wanted = flushWanted_;
    flushWanted_ = false;
    return wanted;
  }
  // The last read stopped because OpenSSL must send first and the socket was
  // full: EPOLLOUT must resume reading, not only writing.
  bool readWantsWrite = false;

  // What the BIO saw during the current OpenSSL call (tls_session.cc).
  struct Transport {
    int fd = -1;
    bool wouldBlock = false;  // recv or send said EAGAIN
    bool peerEnded = false;   // recv returned 0
    int error = 0;            // errno of a failed recv/send
    // Set for one Read(): a recv() that returns less than asked means the
    // queue is empty, so the next BIO read reports EAGAIN without a syscall
    // (kernelEmpty); any later arrival raises a new edge.
    bool stopAtShortRead = false;
    bool kernelEmpty = false;
  };

 private:
  TlsSession() = default;
  // Runs the handshake; returns kDrained while it waits, or kFailed.
  // Sets handshakeDone_ and reports kTlsSecure when it completes.
  bool Handshake(Connection& connection, Batch& batch, ReadOutcome* outcome);
  void ReportSecure(Connection& connection, Batch& batch);
  // Reports why `result` (an SSL_get_error code) ended reading; returns the outcome.
  ReadOutcome ReadFailed(Connection& connection, Batch& batch, int result);
  // The plaintext for the next SSL_write_ex: the head chunk, or, when it is
  // small and more follow, up to kCoalesceBytes of the queue copied into one
  // buffer per reactor thread (no idle connection holds one), so that an HTTP response's head and body leave as one record
  // and one send. A retry after WANT_WRITE rebuilds the same bytes and maybe
  // more (the queue only grows at its tail), which OpenSSL accepts with
  // SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER.
  const char* NextPlaintext(const Connection& connection, size_t* length) const;

  // One TLS record's most plaintext.
  static constexpr size_t kCoalesceBytes = 16 * 1024;

  std::shared_ptr<TlsContext> context_;
  SSL* ssl_ = nullptr;  // owned; owns its BIO
  Transport transport_;
  bool handshakeDone_ = false;
  bool writeWantsRead_ = false;
  bool flushWanted_ = false;
};

}  // namespace reactor
