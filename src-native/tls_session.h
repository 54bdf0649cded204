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
//
// A forwarded TLS connection (forwarder.cc) moves plaintext through
// ReadPlain/WritePlain/EndWrites instead of Read/Flush, under the same rules:
// only a read that saw the socket's EAGAIN clears `readable`, so plaintext
// OpenSSL still holds is read on the next pump without an edge.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "connection.h"
#include "tls_context.h"
#include "tls_query.h"
#include "tls_server_flight.h"
#include "tls_server_sessions.h"

typedef struct ssl_st SSL;
typedef struct bio_st BIO;
typedef struct ssl_session_st SSL_SESSION;

namespace reactor {

// Why a kTlsError event was sent (its `c`).
enum class TlsErrorKind : uint8_t {
  kLibrary = 0,      // OpenSSL failed; three strings: message, library, reason
  kPeerClosed = 1,   // the peer closed the TCP connection mid-handshake
};

// What one plaintext call of a forward did (ReadPlain, WritePlain, EndWrites).
enum class PlainStatus : uint8_t {
  kDone,        // `bytes` of plaintext moved (> 0), or the end was sent
  kWouldBlock,  // wait for an edge: the socket is drained or full, or the
                // call must first read (write) and waits for that side
  kAgain,       // ReadPlain only: a record with no plaintext (a ticket, a key
                // update) was consumed and the socket was not drained: call again
  kEnded,       // ReadPlain only: the peer's close_notify
  kEndedUnclean,  // ReadPlain only: the peer's FIN at a record boundary, with no
                  // close_notify (passed on as a FIN alone, never as close_notify)
  kFailed,      // failure() says why
};

struct PlainResult {
  PlainStatus status;
  size_t bytes;
};

// Why a plaintext call failed: the socket's errno, or else OpenSSL's error.
struct TlsIoFailure {
  int error = 0;    // errno of the failed recv/send/shutdown; 0 when OpenSSL failed
  TlsFailure tls;   // OpenSSL's error when `error` is 0
};

class TlsSession {
 public:
  // A server-side session on connection `connectionId`'s `fd`, whose
  // handshake's session goes into `serverSessions` for getSession() (and
  // leaves it with this TlsSession); null if OpenSSL is out of memory.
  static std::unique_ptr<TlsSession> Accept(std::shared_ptr<TlsContext> context, int fd, uint64_t connectionId,
                                            std::shared_ptr<TlsServerSessions> serverSessions);
  // A client-side session on `fd` (a client context), sending
  // start.servername as SNI unless it is empty and offering start.session;
  // null if OpenSSL is out of memory or refused the name. Its first Read()
  // sends the ClientHello: the loop reads it once the TCP connect is done
  // (Loop::FinishConnect).
  static std::unique_ptr<TlsSession> Connect(std::shared_ptr<TlsContext> context, int fd,
                                             const TlsClientStart& start);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // The session whose SSL this is (every SSL we make carries its session).
  static TlsSession* Of(const SSL* ssl);
  // The context the connection was accepted (or made) with: its ticket keys
  // stay in force after an SNI choice swapped the SSL's context.
  const TlsContext& acceptingContext() const { return *context_; }
  // Whether this server connection binds its sessions to its SNI name
  // (SessionsBoundToServername() when it was accepted, fixed for its life so
  // that the id context and the acknowledgement of the name agree).
  bool bindsSessionsToServername() const { return bindsSessionsToServername_; }

  bool handshakeDone() const { return handshakeDone_; }

  // A server's handshake writes go to the overflow and leave when the call
  // that made them ends (Transport::buffers). When OpenSSL fails the
  // handshake, the alert it wrote stays there until JS closes the
  // connection, after its 'tlsClientError': JS hears of the failure before
  // the peer does, as on node's one thread (a client in the same process
  // reads the alert after the server's event). SendHeldAlert sends it, as
  // far as the socket takes it at once; called when JS closes.
  void SendHeldAlert(Connection& connection);

  // SNI and OCSP stapling on a server whose context asks
  // (TlsContextOptions::asksServername, asksOcsp): the handshake stops once
  // the ClientHello is read (OpenSSL's certificate callback), the questions
  // go to JS (kTlsServername: the name, and whether the client asked for a
  // staple), and nothing is read or written until JS answers with
  // UseContext. A client that sent no name is not asked about it, as node
  // asks its SNICallback only about a name; one that asked for no staple is
  // not asked about that. Not asked on a resumption: OpenSSL skips the
  // callback, and node's server staples nothing then either.
  bool awaitingServername() const { return servername_ == ServernameState::kAsked; }
  // JS's answer: `context` (a server context) for this connection's
  // certificate, key, trust and ciphers, or null to keep the accepting one,
  // and the OCSP response to staple, empty for none. False, and nothing
  // changed, unless an answer was awaited. The caller must then read again:
  // the handshake goes on without a new edge.
  bool UseContext(std::shared_ptr<TlsContext> context, std::string stapledOcsp);
  // OpenSSL's status callback on a server context: staples what UseContext
  // was given (SSL_TLSEXT_ERR_OK), or nothing (SSL_TLSEXT_ERR_NOACK).
  int StapleOcsp();
  // kTlsServername's a: which questions JS is asked.
  static constexpr uint8_t kAskedName = 1;
  static constexpr uint8_t kAskedOcsp = 2;
  // ALPN on a server whose context asks (TlsContextOptions::asksAlpn, node's
  // ALPNCallback): a ClientHello that offers ALPN names stops the handshake
  // (OpenSSL's client-hello callback), the names and the SNI name go to JS
  // (kTlsAlpn), and nothing is read or written until JS answers with
  // ChooseAlpn. A ClientHello without ALPN is not asked about, as node's
  // callback is not called then.
  bool awaitingAlpn() const { return alpn_ == AlpnState::kAsked; }
  // An external session cache on a server (TlsContext::asksSessions, node's
  // 'resumeSession'): a ClientHello that offers a session id and no ticket
  // stops the handshake (the client-hello callback), the id goes to JS
  // (kTlsResumeSession), and nothing is read or written until JS answers
  // with ResumeSession. Asked about the first ClientHello only, and before
  // ALPN, as node's ClientHello parser asks before OpenSSL reads the hello.
  bool awaitingResume() const { return resume_ == ResumeState::kAsked; }
  // PSK on a server whose context asks (TlsContext::asksPsk, node's
  // pskCallback). OpenSSL's lookup (OnPskIdentity) cannot wait for JS, so
  // the handshake stops before OpenSSL reads the client's identity: at a
  // ClientHello whose pre_shared_key extension names identities (TLS 1.3,
  // OnClientHello), or, below TLS 1.3, in the ClientKeyExchange that
  // follows the server's flight, whose first bytes up to the identity the
  // BIO reads and holds for OpenSSL (HoldForPskIdentity). The identities go
  // to JS (kTlsPsk), nothing is read until JS answers with AnswerPsk, and
  // the lookup then finds the key.
  bool awaitingPsk() const { return psk_ == PskState::kAsked; }
  // Waiting for JS's key for a TLS 1.2 identity: the client's whole flight
  // may be queued behind it, so its FIN does not end the handshake, and
  // level triggering takes the connection out of the epoll set meanwhile
  // (Loop::InterestFor).
  bool awaitingPskAtKeyExchange() const { return psk_ == PskState::kAsked && pskAskedAtKeyExchange_; }
  // JS's answer: the `index`th identity asked about and its key, or an
  // index past them (or an empty key) for none; OpenSSL then refuses the
  // identity as node's server does when its callback gives nothing. False,
  // and nothing changed, unless an answer was awaited. The caller must then
  // read again, as after UseContext.
  // The key's bytes are copied (the caller cleanses its own).
  bool AnswerPsk(uint64_t index, const char* key, size_t keyLength);
  // OpenSSL's PSK lookup: the length of the key JS gave for `identity`,
  // copied to `psk`, or 0.
  unsigned int OnPskIdentity(const char* identity, unsigned char* psk, unsigned int maxLength);
  // PSK on a client with a pskCallback (TlsClientStart::asksPsk). OpenSSL
  // asks for the identity and key while it writes the ClientHello (TLS 1.3;
  // with no hint) or the ClientKeyExchange (TLS 1.2 PSK ciphers; with the
  // server's hint), and its callback (OnPskClient) cannot wait. So JS is
  // asked first: before the first ClientHello is written, and before
  // OpenSSL reads the record with the server's ServerHelloDone, which the
  // BIO reads the server's flight up to (HoldForPskHint). The question
  // (kTlsPsk) carries the hint, or nothing; AnswerPsk takes the answer, for
  // a client `index` bytes of identity then the key.
  // OpenSSL's client callback: JS's identity (NUL-terminated) and key for
  // the stage OpenSSL is at, or 0 for none.
  unsigned int OnPskClient(char* identity, unsigned int maxIdentity, unsigned char* psk, unsigned int maxPsk);
  // The BIO, before each read on such a client: true (give OpenSSL nothing)
  // while the handshake waits for JS's key, and while the server's next
  // record is read whole; that record is then judged and held for OpenSSL,
  // and JS asked when a ServerHelloDone for a PSK cipher begins in it.
  bool HoldForPskHint();
  // The BIO, before each read: true (give OpenSSL nothing) while the
  // handshake waits for JS's key, and while a TLS 1.2 ClientKeyExchange for
  // a PSK cipher is read up to its identity, which is then asked about;
  // Transport::wouldBlock is set when the socket had no more.
  bool HoldForPskIdentity();
  // Any question: the connection reads nothing until JS answers.
  bool awaitingJs() const { return awaitingServername() || awaitingAlpn() || awaitingResume() || awaitingPsk(); }
  // JS's answer: the session to resume (DER), or empty for none. Bytes that
  // are no session are ignored, as node's loadSession ignores them: a full
  // handshake follows. False, and nothing changed, unless an answer was
  // awaited. The caller must then read again, as after UseContext.
  bool ResumeSession(const std::string& der);
  // OpenSSL's session lookup on a server context, for session `id`: the
  // session ResumeSession decoded when `id` is the one JS was asked about,
  // whose reference the caller takes; null otherwise.
  SSL_SESSION* TakeResumedSession(const unsigned char* id, size_t idLength);
  // OpenSSL's new-session callback on a server context: a session the
  // handshake made, encoded now for 'newSession' when the server had an
  // external cache at accept and still listens for it, and when it takes
  // at most kMaxCachedSessionBytes, as node's. Reported with the
  // handshake's end: before kTlsSecure for TLS 1.2, whose session is the
  // handshake's, and after it for TLS 1.3's tickets, in node's order.
  void OnNewServerSession(SSL_SESSION* session);
  // node's hold on a server with an external session cache: the records a
  // handshake writes wait in the overflow until the call ends (so that its
  // last flight can still be held when OpenSSL offers the session only
  // after writing it), and once the handshake has offered sessions to
  // 'newSession', everything the connection would send waits until JS's
  // callback was called (SessionStored). So a client cannot come back with
  // the session before the cache has it. Reads go on meanwhile, up to
  // kOverflowReadLimit of answers (OverflowFull). An end, the peer's (its
  // FIN, close_notify, or a socket error, seen even while reads wait for
  // room) or ours (a shutdown reaching Flush or EndWrites; an end(data) or a
  // forward's pending bytes wait for the callback first, as their writes
  // must finish before the end), lets everything go: a closing connection
  // does not wait on a callback that may never come. destroy() drops what
  // is held, as node's destroy does.
  // The verdict hold: a TLS 1.2 server's full handshake holds its last
  // flight (Finished, which tells the client it was accepted) the same way
  // until JS has judged the client and run its 'secureConnection' listeners
  // (VerdictGiven), as node writes it only after them. A client rejected,
  // or destroyed by a listener, so never gets 'secureConnect'. Only JS's
  // verdict lets it go (lib/tls.ts gives it from an immediate queued before
  // the listeners, or before a write or end() made in them on the Nodes
  // that send those at once),
  // not the peer's end, an end of ours or a broken session: a client is
  // judged before anything else. destroy() drops it.
  bool outputHeld() const { return awaitingSessionStored_ || awaitingVerdict_; }
  // Output is held for the cache only: the peer's end lets it go.
  bool holdEndsAtPeersEnd() const { return awaitingSessionStored_ && !awaitingVerdict_; }
  // Records not held and not sent yet, with no EPOLLOUT owed for them: what
  // a hold let go this turn (the caller checks waitingWritable).
  bool releasedOutputWaiting() const {
    return !outputHeld() && transport_.overflowSent < transport_.overflow.size();
  }
  // JS's 'newSession' callback was called: the cache's hold ends. True when
  // that let held output go (no verdict holds it too); false, and nothing
  // changed, unless output was held for the cache. On true the caller
  // flushes the connection (and reads again if a read waited for room).
  bool SessionStored();
  // JS judged the client and ran its listeners: the verdict hold ends. As
  // SessionStored.
  bool VerdictGiven();
  // JS's answer: the `index`th of the names offered, or, for an index past
  // them (node's callback returned undefined), none: the handshake then
  // fails with OpenSSL's no_application_protocol alert, as node's. False,
  // and nothing changed, unless an answer was awaited. The caller must then
  // read again, as after UseContext. A non-null `keyCert` (node's
  // setKeyCert() in its ALPNCallback) gives the certificate, key and chain
  // the handshake sends from here, over the accepting context's and over
  // one an SNI choice gives later (node asks SNI first, so there setKeyCert
  // wins); if it cannot be applied, the handshake fails.
  bool ChooseAlpn(uint64_t index, std::shared_ptr<TlsContext> keyCert);
  // OpenSSL's client-hello callback: SSL_CLIENT_HELLO_SUCCESS to go on,
  // SSL_CLIENT_HELLO_RETRY to stop until JS answers.
  int OnClientHello();
  // The ALPN selection callback of a session whose context asks: JS's
  // choice, found in `offered` (OpenSSL's buffer, which *out points into).
  int SelectChosenAlpn(const unsigned char** out, unsigned char* outLength, const unsigned char* offered,
                       unsigned int offeredLength) const;
  // OpenSSL's certificate callback (installed on server contexts): 1 to go
  // on, -1 to stop the handshake until JS answers, 0 to fail it.
  int OnCertificateWanted();
  // OpenSSL's status callback (client contexts, for a connection that asked
  // for a staple): keeps the server's OCSP response, or notes there was
  // none, for the report that comes before kTlsSecure (kTlsOcspResponse).
  void OnOcspResponse();
  // OpenSSL's new-session callback (client contexts): a session the server
  // made resumable (TLS 1.2 at the handshake's end, each TLS 1.3 ticket).
  // True when the session took OpenSSL's reference to keep it for JS: the
  // next Read() or Flush() reports it (kTlsSession), whichever OpenSSL call
  // finished the ticket, or, once the connection is forwarded, the
  // forward's next pump (ReportForwardedSessions).
  bool OnNewSession(SSL_SESSION* session);
  // A forwarded connection's key log lines, and a client's kept sessions, reported after a pump.
  // No flow control applies to a forward, so a forwarded connection reports
  // kMaxNewSessions at most over its life (enough to resume with: a proxy
  // keeps the newest), and keeps none after that.
  void ReportForwardedSessions(Connection& connection, Batch& batch);
  // Bytes of session reports (kTlsSession) made since the last call: the
  // loop charges them to flow control as bytes JS holds, so a server that
  // keeps sending tickets while JS is stalled meets the caps as data does.
  uint64_t TakeReportedBytes() {
    uint64_t bytes = reportedBytes_;
    reportedBytes_ = 0;
    return bytes;
  }

  // A client session sends no application data and no close_notify until JS
  // has checked the server's certificate and accepted it (kTlsAllowWrites):
  // whatever JS queued meanwhile waits, and is dropped if the connection is
  // closed instead. A server session may write from the handshake's end.
  bool writesAllowed() const { return writesAllowed_; }
  void AllowWrites() { writesAllowed_ = true; }
  // node's setMaxSendFragment: records of at most `bytes` of plaintext for
  // what is written from now on (lib/tls.ts checked 512 to 16384, the range
  // OpenSSL takes; anything else leaves the size as it was).
  void SetMaxSendFragment(uint64_t bytes);
  // OpenSSL's key log callback (installed on every context): a line for
  // one of the connection's secrets, kept for the next report when a
  // 'keylog' listener wants it (LogKeys, or for a server's connection its
  // context's logsKeys when it was accepted).
  void OnKeyLogLine(const char* line);
  // A client socket gained a 'keylog' listener: its lines are reported.
  void LogKeys() { logsKeys_ = true; }
  // Writes OpenSSL's trace of every record from now on to stderr, as
  // node's enableTrace() does; nothing where the running node's OpenSSL has
  // no trace (node's own method is then a no-op too). Idempotent. A
  // debugging aid, as node's: the reactor thread writes each record's trace
  // to stderr as it goes. A full non-blocking pipe is waited for up to a
  // second, and after one such timeout records are dropped until one goes
  // through; a blocking stderr blocks the reactor as it blocks node's trace.
  void EnableTrace();

  // JS's question about this connection (Loop::QueryTls). Keying material
  // only once the handshake is done: before, the exporter secret is unset.
  void Answer(const TlsQuery& query, TlsAnswer* answer) const {
    if (query.kind == TlsQueryKind::kExportKeyingMaterial && !handshakeDone_) return;
    AnswerTlsQuery(ssl_, !context_->client(), query, answer);
  }
  // Whether plaintext may move both ways (forwarding).
  bool plaintextReady() const { return handshakeDone_ && writesAllowed_ && !broken_; }

  // Connection::Read for a TLS connection: drives the handshake, then reads
  // plaintext into the arena, `budget` and `room` counting plaintext.
  ReadOutcome Read(Connection& connection, ReadArena& arena, Batch& batch, size_t budget,
                   uint64_t room, bool shortReadDrains);
  // Connection::Flush for a TLS connection: encrypts the write queue once the
  // handshake is done, then sends close_notify and the FIN for a requested
  // shutdown. bytesWritten counts plaintext.
  void Flush(Connection& connection, Batch& batch);

  // Forwarding (forwarder.cc): reads up to `capacity` bytes of plaintext
  // into `into`. Clears connection.readable only when the socket said EAGAIN
  // or the peer ended; a read that must send first sets readWantsWrite and
  // waits for EPOLLOUT (connection.waitingWritable), or, while output is
  // held, for SessionStored or the peer's end.
  PlainResult ReadPlain(Connection& connection, char* into, size_t capacity);
  // Forwarding: encrypts and sends up to `length` bytes; reports the
  // plaintext taken (whole records, SSL_MODE_ENABLE_PARTIAL_WRITE). A retry
  // after kWouldBlock must offer the same bytes again (OpenSSL keeps the
  // record it could not send whole).
  PlainResult WritePlain(Connection& connection, const char* from, size_t length);
  // close_notify (unless `closeNotify` is false: a forward passing on an
  // unclean end), then the FIN: end() on a TLS connection, and a forward
  // passing on its source's end. kWouldBlock: the socket was full, call
  // again on EPOLLOUT. It lets held output go first (outputHeld).
  // Idempotent once kDone or kFailed.
  PlainStatus EndWrites(Connection& connection, bool closeNotify = true);
  // Whether the last WritePlain that said kWouldBlock waits for a read on
  // this connection (OpenSSL's WANT_READ) rather than for EPOLLOUT.
  bool writeWantsRead() const { return writeWantsRead_; }
  // Sends what the write BIO holds (Transport::overflow). kDone once it is
  // empty (waitingWritable cleared: nothing else makes a TLS connection wait
  // for EPOLLOUT); kWouldBlock (waitingWritable set) when the socket refused
  // bytes, or while output is held (no send tried now, no new edge awaited:
  // whoever ends the hold flushes); kFailed with failure() set.
  PlainStatus FlushOverflow(Connection& connection);
  // FlushOverflow for Flush and FlushBroken: a failure fails the connection
  // and is reported to JS as its write error.
  PlainStatus FlushOverflowForJs(Connection& connection, Batch& batch);
  // Why the last call returned kFailed.
  const TlsIoFailure& failure() const { return failure_; }
  // Tells JS (kWritten) how much plaintext the kernel has: what was
  // encrypted, less the record still waiting in the overflow. Once per
  // total, unless `again` (kAwaitWritten: the last report may not have
  // woken JS) or `attempted` (the answer to kReportAttempt).
  void ReportWritten(Connection& connection, Batch& batch, bool again = false, bool attempted = false);

  // True once: the handshake finished, a read let a stalled write go on, or
  // the overflow emptied, so the connection's queue should be flushed.
  bool TakeFlushWanted() {
    bool wanted = flushWanted_;
    flushWanted_ = false;
    return wanted;
  }
  // The last read stopped because OpenSSL must send first and the socket was
  // full (EPOLLOUT must resume reading, not only writing), or output is held
  // (SessionStored or the peer's end resumes it).
  bool readWantsWrite = false;

  // What the BIO saw during the current OpenSSL call (tls_session.cc).
  struct Transport {
    int fd = -1;
    bool wouldBlock = false;  // recv or send said EAGAIN
    bool peerEnded = false;   // recv returned 0
    int error = 0;            // errno of a failed recv/send
    bool errorOnWrite = false;  // `error` is a send's
    // Set for one Read(): a recv() that returns less than asked means the
    // queue is empty, so the next BIO read reports EAGAIN without a syscall
    // (kernelEmpty); any later arrival raises a new edge.
    bool stopAtShortRead = false;
    bool kernelEmpty = false;
    // Set for one Read() when the connection has seen a hangup: the
    // connection's own HangupReading, so the BIO ends the stream where
    // Connection::Read would.
    HangupReading* hangup = nullptr;
    // Set for one Read(): what OpenSSL writes of its own there (a handshake
    // flight, an alert, a key update's answer) and the socket refuses
    // because the peer is gone is dropped, as node's TLSWrap ignores a
    // failed write of its own. The handshake goes on, and the next read
    // meets the end (the send took the socket's error) or OpenSSL's own
    // error is the report. JS's writes (Flush) still fail with the errno.
    // (A server's handshake writes go to the overflow instead (`buffers`)
    // and leave before OpenSSL reads again (SendBeforeRead), which drops
    // them the same way.)
    bool dropWritesToGonePeer = false;
    // A server whose context asks for PSK identities: its BIO reads ask it
    // first (TlsSession::HoldForPskIdentity). Null otherwise.
    TlsSession* pskServer = nullptr;
    // A client with a pskCallback, while it reads the server's first flight
    // (TlsSession::HoldForPskHint). Null otherwise.
    TlsSession* pskClient = nullptr;
    // What that look read of a ClientKeyExchange (at most its headers and
    // the identity), given to OpenSSL before anything else; and, when the
    // look met the socket's end or an error instead, that recv() result,
    // which the BIO read after them takes as its own.
    std::string held;
    bool hasTakenResult = false;
    ssize_t takenResult = 0;
    // What the socket did not take. The write BIO never reports a retry to
    // OpenSSL: a record (or alert) it could not send whole waits here, so
    // OpenSSL never holds a half-sent record that only the same SSL_write
    // may finish (an alert queued by a read would otherwise make the next
    // SSL_write fail with BAD_WRITE_RETRY).
    // Invariants, kept by every call that can append (SSL_write_ex and
    // SSL_shutdown run only after FlushOverflow emptied it; reads end in
    // OverflowSettle):
    //  - Bytes here were refused by the socket at the end of the last call
    //    (EAGAIN or a short send), so the kernel owes an EPOLLOUT edge and
    //    waitingWritable is set until the loop sees it; emptying it clears
    //    waitingWritable. Or they are held: for the session cache or JS's
    //    verdict (outputHeld(); the caller of SessionStored or VerdictGiven
    //    flushes them) or, after a
    //    failed server handshake, an alert for JS's close (SendHeldAlert).
    //    Held bytes wait for no edge; one an earlier send left owed (a
    //    handshake send refused or short, in SendBeforeRead or an earlier
    //    call's OverflowSettle, whose waitingWritable stays set through the
    //    hold) at most brings a turn that finds them still held.
    //  - It holds what one WritePlain wrote (one record; its plaintext is
    //    heldPlaintext_) or one
    //    close_notify, or, while output is held, the handshake's last flight
    //    and tickets (and a close_notify EndWrites queued as the hold ended,
    //    behind them), plus what reads
    //    answer meanwhile (key updates, alerts: OpenSSL allows 32 key updates
    //    between two data records), and reads stop past kOverflowReadLimit.
    //  - Emptying it sets flushWanted_, so writes it held back are reported
    //    and writes queued behind it are sent, whichever call emptied it.
    //  - Freed when empty, so an idle connection holds no buffer.
    std::string overflow;
    size_t overflowSent = 0;  // bytes at the front of `overflow` already sent
    // Sends the unsent part: 0 once all is sent, -EAGAIN when the socket
    // refused bytes (a short send too), or the send's -errno.
    ssize_t SendUnsent();
    bool writesEnded = false;  // our FIN is sent: later BIO writes are dropped
    // Every BIO write goes to the overflow, sent when the call ends
    // (OverflowSettle, Flush): a server's, until its handshake is done
    // (a failed one's alert waits for JS: SendHeldAlert), and with a
    // session cache until the handshake's sessions are stored, and a TLS 1.2
    // server's until JS's verdict (outputHeld).
    bool buffers = false;
    // With `buffers`, during a server's handshake: what waits is sent before
    // OpenSSL reads again (SendBeforeRead), as it went at once before, so
    // that only a failed handshake's alert, which no read follows, waits
    // for the call's end (and then for JS: SendHeldAlert).
    bool sendsBeforeRead = false;
  };

 private:
  TlsSession() = default;
  // The session, its SSL and the BIO over `fd`, for either side.
  static std::unique_ptr<TlsSession> Create(std::shared_ptr<TlsContext> context, int fd);
  // Runs the handshake; returns kDrained while it waits, or kFailed.
  // Sets handshakeDone_ and reports kTlsSecure when it completes.
  bool Handshake(Connection& connection, Batch& batch, ReadOutcome* outcome);
  void ReportSecure(Connection& connection, Batch& batch);
  // Reports why `result` (an SSL_get_error code) ended reading; returns the outcome.
  ReadOutcome ReadFailed(Connection& connection, Batch& batch, int result);
  // Read() once broken_: reads and drops what the peer sends, to its end.
  ReadOutcome ReadBroken(Connection& connection, Batch& batch);
  // Flush() once broken_: what OpenSSL left to send (its alert) goes, then
  // every write queued completes unsent; end() sends the FIN alone.
  void FlushBroken(Connection& connection, Batch& batch);
  // JS's end(), its queue sent: EndWrites, and kShutdown (or the error) to JS.
  void EndWritesForJs(Connection& connection, Batch& batch);
  // The plaintext for the next SSL_write_ex: the head chunk, or, when it is
  // small and more follow, up to recordBytes_ of the queue copied into one
  // buffer per reactor thread (no idle connection holds one), so that an
  // HTTP response's head and body leave as one record and one send. A retry after WANT_WRITE rebuilds the same bytes and maybe
  // more (the queue only grows at its tail), which OpenSSL accepts with
  // SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER.
  const char* NextPlaintext(const Connection& connection, size_t* length) const;

  // One TLS record's most plaintext.
  static constexpr size_t kCoalesceBytes = 16 * 1024;
  // What one record of ours carries at most: kCoalesceBytes, or less after
  // SetMaxSendFragment (the smallest ever set, as OpenSSL splits) or a
  // negotiated max_fragment_length. Writes and coalescing go by it, so that
  // a small fragment size copies each queued byte once, not once per record.
  size_t recordBytes_ = kCoalesceBytes;
  // Unsent bytes past which reads stop until EPOLLOUT: a peer that sends
  // key updates but never reads cannot grow the overflow without bound.
  static constexpr size_t kOverflowReadLimit = 64 * 1024;
  class OverflowSettle;
  // FlushOverflow's sends, leaving failure_ alone (a read's failure stands).
  PlainStatus SendOverflow(Connection& connection, int* error);

  // True when reading must wait for EPOLLOUT: the overflow is past
  // kOverflowReadLimit and the socket refused more, or it is held
  // (readWantsWrite set).
  bool OverflowFull(Connection& connection);
  // While output is held for the cache and reads wait for room: the peer
  // ended (its FIN, a hangup) or the socket failed, so that hold ends (the
  // read then meets the end; a verdict hold stays, and JS's verdict, which
  // follows the handshake's report, lets it go). Returns the socket's
  // errno, which getsockopt has taken and the caller must report, or 0.
  int EndHoldForGonePeer(const Connection& connection);
  // The peer's end (its FIN or close_notify, or a socket error found while
  // reads wait for room: EndHoldForGonePeer) ends the cache's hold
  // (outputHeld), and the connection is flushed if nothing else holds: it
  // is closing, and must not wait on a 'newSession' callback that may never
  // come. A socket error met
  // by a read fails the connection instead, which drops what is held.
  void EndHoldForPeersEnd();
  // After a hold ended: the BIO buffers only while another still holds.
  // True when nothing holds output any more.
  bool OutputFreed();
  // Clears OpenSSL's error queue and the transport's record before a call.
  void BeginCall();
  // Records in failure_ why a call failed: the transport's errno, or OpenSSL's error.
  void RecordFailure(const char* fallback);

  // Reports the key log lines kept (kTlsKeylog), oldest first.
  void ReportKeyLog(Connection& connection, Batch& batch);
  // Lines kept between two reports at most (a TLS 1.3 handshake makes five).
  static constexpr size_t kMaxKeyLogLines = 16;

  // Reports the name JS must choose a context for (kTlsServername).
  void ReportServername(Connection& connection, Batch& batch);
  // Reports `der` (base64) as kTlsSession; `issued` for OnNewSession's.
  void ReportSession(Connection& connection, Batch& batch, std::string der, bool issued);
  // Reports and lets go of every session in newSessions_.
  void ReportNewSessions(Connection& connection, Batch& batch);
  // Lets go of the kept sessions and keeps no more.
  void StopKeepingSessions();
  class SessionReports;
  // Sends JS what OnOcspResponse kept, once (kTlsOcspResponse).
  void ReportOcspResponse(Connection& connection, Batch& batch);
  // Sends JS the ALPN question once (kTlsAlpn).
  void ReportAlpn(Connection& connection, Batch& batch);
  // Sends JS the session id to look up once (kTlsResumeSession).
  void ReportResume(Connection& connection, Batch& batch);
  // Sends JS the PSK identities to find a key for once (kTlsPsk).
  void ReportPsk(Connection& connection, Batch& batch);
  // OnClientHello's part: whether a TLS 1.3 hello names PSK identities,
  // which it then asks about.
  bool AskTls13PskIdentities();
  // OnClientHello's part where bindsSessionsToServername_: scopes the
  // sessions this connection resumes and makes to its SNI name (none: the
  // empty name), before OpenSSL looks the offered one up. False if OpenSSL
  // could not.
  bool BindSessionsToServername();
  // One read for a look ahead of OpenSSL (HoldForPskIdentity,
  // HoldForPskHint): up to `wanted` bytes appended to `into`. kEnded:
  // nothing more will come (a hangup's queue emptied, or the socket's end
  // or error, kept as Transport::takenResult for the BIO read after the
  // bytes the look holds).
  enum class AheadRead : uint8_t { kRead, kWouldBlock, kEnded };
  AheadRead ReadAhead(std::string* into, size_t wanted);
  // The client's look at the server's flight is over (HoldForPskHint).
  void EndPskFlightLook();
  // A client's question for a ClientHello's PSK (no hint), in place of any
  // answer before it.
  void AskPskForClientHello();
  // Forgets the key: at the handshake's end and with the session.
  void ForgetPskKey();
  // Whether a failed read's error (SSL_get_error) is the peer's close_notify.
  bool ClosedByPeer(int result) const;
  // Reports the sessions OnNewServerSession kept (kTlsNewSession).
  void ReportServerNewSessions(Connection& connection, Batch& batch);
  // node's kMaxSessionSize: a larger session is not offered to 'newSession'.
  static constexpr int kMaxCachedSessionBytes = 10 * 1024;
  // Issued sessions kept between two reports at most: a server sending more
  // tickets meanwhile replaces the newest (OpenSSL's servers send two after
  // a TLS 1.3 handshake; nothing resumes with any but the newest).
  static constexpr size_t kMaxNewSessions = 4;

  enum class ServernameState : uint8_t {
    kNotAsked,  // no question yet (or none will be asked)
    kAsked,     // the handshake waits for UseContext
    kAnswered,  // JS chose; the handshake goes on
    kFailed,    // the chosen context could not be applied: the handshake fails
  };

  std::shared_ptr<TlsContext> context_;
  // The context JS chose by SNI name, held for the SSL's life (its ALPN list
  // is read by the selection callback).
  std::shared_ptr<TlsContext> chosenContext_;
  // The context setKeyCert() chose (ChooseAlpn), held to apply again after
  // an SNI choice swaps the SSL's context; keyCertFailed_: it could not be
  // applied, and the certificate callback fails the handshake.
  std::shared_ptr<TlsContext> keyCertContext_;
  bool keyCertFailed_ = false;
  bool bindsSessionsToServername_ = false;  // set at Accept
  bool UseKeyCert();
  SSL* ssl_ = nullptr;  // owned; owns its BIO
  BIO* traceBio_ = nullptr;  // owned: a memory BIO each record's trace is made in (EnableTrace), freed after ssl_
  ServernameState servername_ = ServernameState::kNotAsked;
  std::string askedServername_;  // while kAsked and not yet reported: the name JS is asked about, or empty
  uint8_t askedFlags_ = 0;       // while kAsked and not yet reported: kAskedName | kAskedOcsp
  std::string stapledOcsp_;      // JS's OCSP response, stapled by StapleOcsp, kept until the handshake's end
  bool asksOcsp_ = false;        // a server's: its context asked for staples when it was accepted
  enum class AlpnState : uint8_t {
    kNotAsked,  // no question yet (or none will be asked)
    kAsked,     // the handshake waits for ChooseAlpn
    kAnswered,  // chosenAlpn_ holds JS's choice, empty for none
    kFailed,    // the client left before JS answered: a late answer changes nothing
  };
  AlpnState alpn_ = AlpnState::kNotAsked;
  bool alpnReported_ = false;   // the question went out (ReportAlpn)
  std::string offeredAlpn_;     // while kAsked: the client's names, wire format (length-prefixed)
  std::string alpnServername_;  // while kAsked and not reported: the SNI name the ClientHello carries
  bool alpnHasServername_ = false;
  std::string chosenAlpn_;      // once kAnswered: the name JS chose, empty for none
  enum class ResumeState : uint8_t {
    kNotAsked,  // no ClientHello yet
    kAsked,     // the handshake waits for ResumeSession
    kDone,      // answered, or nothing to ask: later ClientHellos are not asked
    kFailed,    // the client left before JS answered: a late answer changes nothing
  };
  ResumeState resume_ = ResumeState::kNotAsked;
  enum class PskState : uint8_t {
    kNotAsked,  // no question yet (or none will be asked)
    kAsked,     // the handshake waits for AnswerPsk
    kAnswered,  // pskIdentity_ and pskKey_ hold JS's answer (empty: none)
    kFailed,    // the client left before JS answered: a late answer changes nothing
  };
  PskState psk_ = PskState::kNotAsked;
  bool pskReported_ = false;            // the question went out (ReportPsk)
  enum class PskLook : uint8_t {
    kNotStarted,  // no TLS 1.2 PSK ClientKeyExchange awaited yet
    kReading,     // reading it up to the identity (Transport::held)
    kDone,        // asked about, or not of that shape: OpenSSL reads on
  };
  PskLook pskLook_ = PskLook::kNotStarted;
  // The question is a TLS 1.2 identity's (a server's), or the one for the
  // ClientKeyExchange, not the ClientHello (a client's).
  bool pskAskedAtKeyExchange_ = false;
  // While kAsked: the identities, in the client's order, as OpenSSL's
  // lookup will name them (the bytes up to a NUL); at most kMaxPskIdentities.
  // A client's: the server's hint, or none.
  std::vector<std::string> pskIdentities_;
  // A client's: JS is asked before the first ClientHello (TLS 1.3 may be
  // negotiated), and the flight read while a TLS 1.2 PSK cipher may be
  // (null once the look is over: its ServerHelloDone found, or a record
  // that is not a handshake's).
  bool pskAtClientHello_ = false;
  bool pskTls13_ = false;         // it may speak TLS 1.3: a HelloRetryRequest asks again
  bool pskHelloRetried_ = false;  // and it has, once
  std::unique_ptr<ServerFlightReader> pskFlight_;
  std::string pskRecord_;  // the server's record being read whole, header first
  std::string pskIdentity_;  // once kAnswered
  std::string pskKey_;       // once kAnswered, until the handshake's end (cleansed)
  static constexpr size_t kMaxPskIdentities = 16;
  bool resumeReported_ = false;  // the question went out (ReportResume)
  std::string resumeId_;         // from kAsked to the handshake's end: the session id JS looks up
  // JS's session for that id, owned until OpenSSL takes it
  // (TakeResumedSession); freed at the handshake's end or with the session.
  SSL_SESSION* resumedSession_ = nullptr;
  // A server's: its context had an external session cache when it was
  // accepted (node's enableSessionCallbacks, decided per socket).
  bool sessionCallbacks_ = false;
  // The handshake offered sessions to 'newSession' and JS has not called
  // back: nothing is sent (outputHeld).
  bool awaitingSessionStored_ = false;
  // A TLS 1.2 server's full handshake ended and JS has not given its
  // verdict (VerdictGiven): nothing is sent (outputHeld).
  bool awaitingVerdict_ = false;
  bool alertHeldForClose_ = false;  // SendHeldAlert's: set by ReadFailed for a server's failed handshake
  // Sessions for 'newSession' not yet reported, oldest first: the id in hex
  // and the DER in base64; at most kMaxNewSessions (later ones are dropped).
  std::vector<std::pair<std::string, std::string>> serverNewSessions_;
  // A client's OCSP answer from the server (OnOcspResponse), until reported:
  // the stapled response, empty for none.
  bool ocspResponseSeen_ = false;
  std::string ocspResponse_;
  // Client sessions the server issued that JS has not been told of, oldest
  // first; each holds a reference (freed when reported, or with the session).
  std::vector<SSL_SESSION*> newSessions_;
  bool keepsNewSessions_ = false;  // a client connection (until a forward reported its share)
  // A server's: where its handshake's session is kept, under which id, and
  // whether it is there (ReportSecure puts it; the destructor takes it out).
  std::shared_ptr<TlsServerSessions> serverSessions_;
  uint64_t connectionId_ = 0;
  bool serverSessionKept_ = false;
  bool logsKeys_ = false;  // lines are reported: a client's LogKeys, a server's context at Accept
  std::vector<std::string> keyLogLines_;  // not yet reported (ReportKeyLog)
  size_t forwardedReports_ = 0;    // sessions reported while forwarded (ReportForwardedSessions)
  uint64_t reportedBytes_ = 0;     // TakeReportedBytes()
  Transport transport_;
  bool handshakeDone_ = false;
  bool writesAllowed_ = true;  // false for a client until JS accepts the server
  bool writeWantsRead_ = false;
  bool flushWanted_ = false;
  // close_notify and FIN sent (or given up on): SSL_shutdown must not run
  // again, since a second call would read from the socket for the peer's
  // close_notify, taking bytes meant for a forward's other direction.
  bool writesEnded_ = false;
  // SSL_shutdown ran (close_notify is in the socket or in the overflow).
  bool closeNotifyQueued_ = false;
  // Plaintext of the write whose record waits in the overflow: not yet
  // reported written (Flush).
  uint64_t heldPlaintext_ = 0;
  // The bytesWritten last reported to JS.
  uint64_t reportedWritten_ = 0;
  TlsIoFailure failure_;
  // OpenSSL failed after the handshake (an alert from the peer, a bad
  // record): as node's TLSSocket, the socket emits 'error' and stays open
  // until the peer's FIN ('end', then close without error). No OpenSSL call
  // runs on it again: reads are dropped, writes complete unsent, and a
  // forward of it is refused (plaintextReady). Each write that reaches the
  // reactor was made before JS heard of the failure (node's TLSWrap had
  // encrypted and sent it then); JS fails the ones made after (EPROTO,
  // lib/tls.ts opensslFailed).
  bool broken_ = false;
};

}  // namespace reactor
