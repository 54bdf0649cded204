#include "tls_session.h"

#include <errno.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string>

#include "sys.h"
#include "tls_openssl.h"

namespace reactor {

namespace {

// Handshake messages and alerts go to the socket at once, or to the overflow
// (Transport::buffers), which the call's end sends: OpenSSL has nothing to
// flush. BIO_CTRL_EOF must stay 0: the end is judged from
// Transport::peerEnded (ReadPlain), and an EOF OpenSSL could see would let
// SSL_OP_IGNORE_UNEXPECTED_EOF pass a bare FIN off as close_notify.
long TransportControl(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }

// Transport::sendsBeforeRead: a server's handshake flight leaves before
// OpenSSL reads what answers it, as TransportWrite sends at once elsewhere.
// A send that meets the peer's reset takes the socket's error and is
// dropped (Transport::dropWritesToGonePeer), so the read meets the end, as
// node's; EAGAIN or a short send leaves the rest to the call's end
// (OverflowSettle), which asks for EPOLLOUT. False for another error, then the transport's, as a failed
// TransportWrite's.
bool SendBeforeRead(TlsSession::Transport* transport) {
  ssize_t n = transport->SendUnsent();
  if (n == 0 || n == -EAGAIN) return true;
  if (transport->dropWritesToGonePeer && (n == -ECONNRESET || n == -EPIPE || n == -ETIMEDOUT)) {
    transport->overflowSent = transport->overflow.size();
    return true;
  }
  transport->error = static_cast<int>(-n);
  transport->errorOnWrite = true;
  return false;
}

int TransportRead(BIO* bio, char* into, size_t capacity, size_t* received) {
  auto* transport = static_cast<TlsSession::Transport*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (transport->sendsBeforeRead && !transport->overflow.empty() && !SendBeforeRead(transport)) return 0;
  if (transport->pskServer != nullptr && transport->pskServer->HoldForPskIdentity()) {
    // Reading a TLS 1.2 PSK identity, or stopped for JS's key (kTlsPsk),
    // whose answer reads again.
    BIO_set_retry_read(bio);
    return 0;
  }
  if (transport->pskClient != nullptr && transport->pskClient->HoldForPskHint()) {
    // Reading the server's next record whole, or stopped for JS's key.
    BIO_set_retry_read(bio);
    return 0;
  }
  if (!transport->held.empty()) {
    size_t given = std::min(capacity, transport->held.size());
    std::memcpy(into, transport->held.data(), given);
    transport->held.erase(0, given);
    *received = given;
    return 1;
  }
  HangupReading* hangup = transport->hangup;
  ssize_t n = 0;
  if (transport->hasTakenResult) {
    // The PSK look's recv() met this after the bytes just given.
    transport->hasTakenResult = false;
    n = transport->takenResult;
  } else {
    if (hangup != nullptr && hangup->emptied) {
      // The last read emptied the queue at a hangup: libuv's EOF, not the
      // reset a recv() would now return. First: no edge comes after a
      // hangup, so it must never read as "would block".
      transport->peerEnded = true;
      return 0;
    }
    if (transport->kernelEmpty) {
      // A short read found the queue empty earlier in this Read(): the recv()
      // that would say EAGAIN is skipped, as Connection::Read skips it.
      transport->wouldBlock = true;
      BIO_set_retry_read(bio);
      return 0;
    }
    n = sys::Receive(transport->fd, into, capacity);
  }
  if (n > 0) {
    *received = static_cast<size_t>(n);
    if (hangup != nullptr) hangup->TookLast(transport->fd);
    if (transport->stopAtShortRead && static_cast<size_t>(n) < capacity) transport->kernelEmpty = true;
    return 1;
  }
  if (n == 0 || (hangup != nullptr && hangup->ErrorIsEnd(n))) {
    transport->peerEnded = true;
  } else if (hangup != nullptr && hangup->AgainIsRetry(n)) {
    // Not wouldBlock: no edge would come again, so the read is retried next
    // turn (ReadFailed: "more may wait").
    BIO_set_retry_read(bio);
  } else if (n == -EAGAIN) {
    transport->wouldBlock = true;
    BIO_set_retry_read(bio);
  } else {
    transport->error = static_cast<int>(-n);
    transport->errorOnWrite = false;
  }
  return 0;
}

int TransportWrite(BIO* bio, const char* from, size_t length, size_t* sent) {
  auto* transport = static_cast<TlsSession::Transport*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (transport->writesEnded) {
    // After our FIN nothing can be sent (a key update a read answers, an
    // alert): dropped, as the kernel would refuse it with EPIPE.
    *sent = length;
    return 1;
  }
  size_t taken = 0;
  // Behind bytes already waiting, nothing may overtake them.
  if (transport->overflow.empty() && !transport->buffers) {
    iovec chunk{const_cast<char*>(from), length};
    ssize_t n = sys::SendVector(transport->fd, &chunk, 1);
    if (n < 0 && n != -EAGAIN) {
      if (transport->dropWritesToGonePeer && (n == -ECONNRESET || n == -EPIPE || n == -ETIMEDOUT)) {
        *sent = length;
        return 1;
      }
      transport->error = static_cast<int>(-n);
      transport->errorOnWrite = true;
      return 0;
    }
    if (n > 0) taken = static_cast<size_t>(n);
  }
  // Never a retry (Transport::overflow): the rest waits for EPOLLOUT.
  if (taken < length) transport->overflow.append(from + taken, length - taken);
  *sent = length;
  return 1;
}

// One method table for the process; each connection's BIO has its own data.
BIO_METHOD* TransportMethod() {
  static std::once_flag once;
  static BIO_METHOD* method = nullptr;
  std::call_once(once, [] {
    method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "epoll-reactor socket");
    if (method == nullptr) return;
    BIO_meth_set_read_ex(method, TransportRead);
    BIO_meth_set_write_ex(method, TransportWrite);
    BIO_meth_set_ctrl(method, TransportControl);
  });
  return method;
}

std::string Fingerprint256(X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &length) != 1) return "";
  static const char kHex[] = "0123456789ABCDEF";
  std::string text;
  for (unsigned int i = 0; i < length; ++i) {
    if (i != 0) text += ':';
    text += kHex[digest[i] >> 4];
    text += kHex[digest[i] & 15];
  }
  return text;
}

// DER bytes as base64 (batch strings are text); frees `der`.
std::string Base64(unsigned char* der, int length) {
  if (length <= 0) return "";
  std::string text(4 * ((static_cast<size_t>(length) + 2) / 3) + 1, '\0');
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(&text[0]), der, length);
  OPENSSL_free(der);
  text.resize(written > 0 ? static_cast<size_t>(written) : 0);
  return text;
}

std::string DerBase64(X509* cert) {
  unsigned char* der = nullptr;
  int length = i2d_X509(cert, &der);
  return Base64(der, length);
}

// A Finished message of the handshake (ours: SSL_get_finished; the peer's:
// SSL_get_peer_finished) in base64, '' when there is none. At most 64 bytes
// (a TLS 1.3 Finished is a hash: 48 for SHA-384).
std::string FinishedBase64(const SSL* ssl, size_t (*finished)(const SSL*, void*, size_t)) {
  unsigned char message[EVP_MAX_MD_SIZE];
  size_t length = finished(ssl, message, sizeof(message));
  if (length == 0 || length > sizeof(message)) return "";
  std::string text(4 * ((length + 2) / 3) + 1, '\0');
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(&text[0]), message, static_cast<int>(length));
  text.resize(written > 0 ? static_cast<size_t>(written) : 0);
  return text;
}

// A session as node's getSession() gives it (i2d_SSL_SESSION), in base64.
std::string DerBase64(SSL_SESSION* session) {
  unsigned char* der = nullptr;
  int length = i2d_SSL_SESSION(session, &der);
  return Base64(der, length);
}

// Bits of a kTlsSecure event's `a`.
constexpr double kSecureHasPeerCert = 1;
constexpr double kSecureSessionReused = 2;
constexpr double kSecureVerdictHeld = 4;  // its last flight waits for JS's verdict (VerdictGiven)

// What a failed read drops of the peer's queued bytes: what one read of
// libuv's (64 KiB) would have taken in before node's TLS failed. Past that,
// node's close resets too.
constexpr size_t kDiscardOnFailure = 64 * 1024;

// A kTlsError of kind kLibrary: OpenSSL's error, as node's error object is made of it.
// `when`: kTlsError's a (batch.h).
enum class TlsErrorWhen { kAfterHandshake = 0, kDuringHandshake = 1, kAfterHandshakeLeftOpen = 2 };
void AddLibraryError(Batch& batch, uint64_t connectionId, TlsErrorWhen when, const TlsFailure& failure) {
  size_t first = batch.strings.size();
  batch.strings.push_back(failure.message);
  batch.strings.push_back(failure.library);
  batch.strings.push_back(failure.reason);
  batch.Add(EventKind::kTlsError, connectionId, static_cast<double>(when), static_cast<double>(first),
            static_cast<double>(TlsErrorKind::kLibrary));
}

// The verdict on a peer that sent no certificate, as node's gives it: none
// is needed with a PSK cipher (TLS 1.2), or in a resumed TLS 1.3 session,
// which an external PSK looks like (and node takes one resumed without a
// certificate as authorized too); otherwise
// X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, what node's server reports as the
// authorization error of a client that sent none.
long VerdictWithoutCertificate(SSL* ssl) {
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  SSL_SESSION* session = SSL_get_session(ssl);
  if ((cipher != nullptr && SSL_CIPHER_get_auth_nid(cipher) == NID_auth_psk) ||
      (session != nullptr && SSL_SESSION_get_protocol_version(session) == TLS1_3_VERSION &&
       SSL_session_reused(ssl) == 1)) {
    return X509_V_OK;
  }
  return X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
}

// Bytes for JS in hex: strings reach JS as UTF-8, and these are any bytes.
std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char byte : bytes) {
    hex.push_back(kDigits[byte >> 4]);
    hex.push_back(kDigits[byte & 15]);
  }
  return hex;
}

// Strings reach JS as UTF-8; a host name is any bytes, which node reads as
// Latin-1 (getServername's OneByteString). Each byte becomes its code point.
std::string Latin1ToUtf8(const char* bytes, size_t length) {
  std::string text;
  text.reserve(length);
  for (size_t i = 0; i < length; ++i) {
    unsigned char byte = static_cast<unsigned char>(bytes[i]);
    if (byte < 0x80) {
      text.push_back(static_cast<char>(byte));
    } else {
      text.push_back(static_cast<char>(0xC0 | (byte >> 6)));
      text.push_back(static_cast<char>(0x80 | (byte & 0x3F)));
    }
  }
  return text;
}

}  // namespace

std::unique_ptr<TlsSession> TlsSession::Create(std::shared_ptr<TlsContext> context, int fd) {
  BIO_METHOD* method = TransportMethod();
  if (method == nullptr) return nullptr;
  std::unique_ptr<TlsSession> session(new TlsSession());
  session->transport_.fd = fd;
  session->ssl_ = SSL_new(context->ctx());
  if (session->ssl_ == nullptr) {
    ERR_clear_error();
    return nullptr;
  }
  BIO* bio = BIO_new(method);
  if (bio == nullptr) {
    ERR_clear_error();
    return nullptr;  // the destructor frees ssl_
  }
  BIO_set_data(bio, &session->transport_);
  BIO_set_init(bio, 1);
  SSL_set_bio(session->ssl_, bio, bio);  // the SSL owns the BIO now
  // For the callbacks (TlsSession::Of); the SSL never outlives the session.
  SSL_set_app_data(session->ssl_, session.get());
  session->context_ = std::move(context);
  return session;
}

std::unique_ptr<TlsSession> TlsSession::Accept(std::shared_ptr<TlsContext> context, int fd, uint64_t connectionId,
                                               std::shared_ptr<TlsServerSessions> serverSessions) {
  std::unique_ptr<TlsSession> session = Create(std::move(context), fd);
  if (session == nullptr) return nullptr;
  SSL_set_accept_state(session->ssl_);
  session->connectionId_ = connectionId;
  session->serverSessions_ = std::move(serverSessions);
  // As node decides for each connection it accepts: one accepted before the
  // server's first 'keylog' listener logs nothing, even of later secrets.
  session->logsKeys_ = session->context_->logsKeys();
  session->asksOcsp_ = session->context_->asksOcsp();  // as node's listenerCount at accept
  session->bindsSessionsToServername_ = SessionsBoundToServername();
  session->sessionCallbacks_ = session->context_->asksSessions() != 0;
  // The handshake's writes wait in the overflow: they leave before OpenSSL
  // reads again, or at the call's end; a failed one's alert waits for JS
  // (sendsBeforeRead, SendHeldAlert).
  session->transport_.buffers = session->transport_.sendsBeforeRead = true;
  if (session->context_->asksPsk()) session->transport_.pskServer = session.get();
  // From the ClientHello on, as node's server socket traces.
  if (session->context_->traces()) session->EnableTrace();
  return session;
}

namespace {

// OpenSSL's PSK callback on a client with a pskCallback: JS's answer, asked
// before OpenSSL got here (TlsSession::OnPskClient). The hint is the one JS
// was given, read off the server's flight.
unsigned int PskClientRead(SSL* ssl, const char*, char* identity, unsigned int maxIdentity, unsigned char* psk,
                           unsigned int maxPsk) {
  TlsSession* session = TlsSession::Of(ssl);
  return session == nullptr ? 0 : session->OnPskClient(identity, maxIdentity, psk, maxPsk);
}

// Whether `cipher` is in the list `ssl` offers: OpenSSL refuses a
// ServerHello that chose another.
bool Offered(SSL* ssl, const SSL_CIPHER* cipher) {
  STACK_OF(SSL_CIPHER)* ciphers = SSL_get_ciphers(ssl);
  for (int i = 0; ciphers != nullptr && i < sk_SSL_CIPHER_num(ciphers); ++i) {
    if (SSL_CIPHER_get_id(sk_SSL_CIPHER_value(ciphers, i)) == SSL_CIPHER_get_id(cipher)) return true;
  }
  return false;
}

bool IsPskExchange(int exchange) {
  return exchange == NID_kx_psk || exchange == NID_kx_dhe_psk || exchange == NID_kx_ecdhe_psk ||
         exchange == NID_kx_rsa_psk;
}

// Whether `ssl` may negotiate a TLS 1.2 (or older) PSK cipher: one is in
// its list and its versions reach below TLS 1.3.
bool MayNegotiateTls12Psk(SSL* ssl) {
  if (SSL_get_min_proto_version(ssl) >= TLS1_3_VERSION) return false;
  STACK_OF(SSL_CIPHER)* ciphers = SSL_get_ciphers(ssl);
  for (int i = 0; ciphers != nullptr && i < sk_SSL_CIPHER_num(ciphers); ++i) {
    if (IsPskExchange(SSL_CIPHER_get_kx_nid(sk_SSL_CIPHER_value(ciphers, i)))) return true;
  }
  return false;
}

}  // namespace

std::unique_ptr<TlsSession> TlsSession::Connect(std::shared_ptr<TlsContext> context, int fd,
                                                const TlsClientStart& start) {
  std::unique_ptr<TlsSession> session = Create(std::move(context), fd);
  if (session == nullptr) return nullptr;
  SSL_set_connect_state(session->ssl_);
  if (start.asksPsk) {
    SSL* ssl = session->ssl_;
    SSL_set_psk_client_callback(ssl, PskClientRead);
    long maxVersion = SSL_get_max_proto_version(ssl);
    session->pskTls13_ = (maxVersion == 0 || maxVersion >= TLS1_3_VERSION) &&
                         (SSL_get_options(ssl) & SSL_OP_NO_TLSv1_3) == 0;
    session->pskAtClientHello_ = session->pskTls13_;
    // The server's flight is read before OpenSSL reads it where OpenSSL may
    // ask again: for a TLS 1.2 ClientKeyExchange, or a second ClientHello
    // after a HelloRetryRequest.
    if (session->pskAtClientHello_ || MayNegotiateTls12Psk(ssl)) {
      session->pskFlight_ = std::make_unique<ServerFlightReader>();
      session->transport_.pskClient = session.get();
    }
  }
  if (start.traces) session->EnableTrace();
  if (start.logsKeys) session->LogKeys();
  if (start.maxSendFragment != 0) session->SetMaxSendFragment(start.maxSendFragment);
  if (start.requestsOcsp && SSL_set_tlsext_status_type(session->ssl_, TLSEXT_STATUSTYPE_ocsp) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  session->writesAllowed_ = false;  // until JS has accepted the server
  session->keepsNewSessions_ = true;
  if (!start.servername.empty() && SSL_set_tlsext_host_name(session->ssl_, start.servername.c_str()) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  if (!start.session.empty()) {
    const auto* der = reinterpret_cast<const unsigned char*>(start.session.data());
    SSL_SESSION* offered = d2i_SSL_SESSION(nullptr, &der, static_cast<long>(start.session.size()));
    // Bytes that are no session are ignored, as node's setSession ignores
    // them: a full handshake follows. The SSL holds its own reference.
    if (offered != nullptr) {
      SSL_set_session(session->ssl_, offered);
      SSL_SESSION_free(offered);
    }
    ERR_clear_error();
  }
  return session;
}

TlsSession::~TlsSession() {
  ForgetPskKey();
  if (serverSessionKept_) serverSessions_->Forget(connectionId_);
  for (SSL_SESSION* kept : newSessions_) SSL_SESSION_free(kept);
  if (resumedSession_ != nullptr) SSL_SESSION_free(resumedSession_);
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (traceBio_ != nullptr) BIO_free(traceBio_);
}

namespace {
// How long one record's trace may wait for a full stderr to take it, at
// most, before the rest of it is dropped: a debugging aid must not stop
// the reactor for good behind a reader that went away.
constexpr int kTraceWriteWaitMs = 1000;
// Set when a record's trace gave up waiting, cleared when one is written
// whole: while a reader stays away, records are dropped at once instead of
// costing each its own wait (every reactor thread of the process shares fd 2).
std::atomic<bool> stderrStalled{false};

// Writes all of `text` to fd 2, waiting for room when it is full. Node makes
// fd 2 non-blocking when it is a pipe, and a stdio FILE would drop what
// meets EAGAIN (records went missing from the middle of traces). A blocking
// fd 2 (a file, a terminal) blocks here as node's own trace blocks.
void WriteToStderr(const char* text, size_t length) {
  int waitedMs = stderrStalled.load(std::memory_order_relaxed) ? kTraceWriteWaitMs : 0;
  while (length > 0) {
    ssize_t written = write(STDERR_FILENO, text, length);
    if (written > 0) {
      text += written;
      length -= static_cast<size_t>(written);
      continue;
    }
    if (written < 0 && errno == EINTR) continue;
    if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && waitedMs < kTraceWriteWaitMs) {
      pollfd wanted{STDERR_FILENO, POLLOUT, 0};
      poll(&wanted, 1, 10);
      waitedMs += 10;
      continue;
    }
    // Closed, broken (EPIPE: the reactor thread blocks SIGPIPE), or stuck
    // past the wait: the rest of this record is dropped.
    if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) stderrStalled.store(true, std::memory_order_relaxed);
    return;
  }
  stderrStalled.store(false, std::memory_order_relaxed);
}

// OpenSSL's message callback: its own trace of the record, made in the
// session's memory BIO and written out in one write where the fd takes it
// (a pipe keeps up to 4 KiB together), so that other writers to stderr
// split a record less often. Tracing must not leave an error behind for
// the handshake's next SSL_get_error, nor take away one the handshake left
// (node marks and pops too).
void TraceRecord(int writing, int version, int contentType, const void* bytes, size_t length, SSL* ssl,
                 void* arg) {
  BIO* bio = static_cast<BIO*>(arg);
  ERR_set_mark();
  SSL_trace(writing, version, contentType, bytes, length, ssl, bio);
  char* text = nullptr;
  long traced = BIO_get_mem_data(bio, &text);
  if (traced > 0 && text != nullptr) WriteToStderr(text, static_cast<size_t>(traced));
  (void)BIO_reset(bio);
  ERR_pop_to_mark();
}
}  // namespace

void TlsSession::EnableTrace() {
  if (traceBio_ != nullptr || ssl_ == nullptr || !TlsTraceAvailable()) return;
  traceBio_ = BIO_new(BIO_s_mem());
  if (traceBio_ == nullptr) {
    ERR_clear_error();
    return;
  }
  SSL_set_msg_callback(ssl_, TraceRecord);
  SSL_set_msg_callback_arg(ssl_, traceBio_);
}

TlsSession* TlsSession::Of(const SSL* ssl) { return static_cast<TlsSession*>(SSL_get_app_data(ssl)); }

int TlsSession::OnCertificateWanted() {
  if (keyCertFailed_) return 0;
  switch (servername_) {
    case ServernameState::kAsked:
      return -1;
    case ServernameState::kAnswered:
      return 1;
    case ServernameState::kFailed:
      return 0;
    case ServernameState::kNotAsked:
      break;
  }
  // node asks its SNICallback only about a name, and emits 'OCSPRequest'
  // only for a client that asked for a staple (its oncertcb).
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  bool asksName = context_->asksServername() && name != nullptr && name[0] != '\0';
  bool asksOcsp = asksOcsp_ && SSL_get_tlsext_status_type(ssl_) == TLSEXT_STATUSTYPE_ocsp;
  if (!asksName && !asksOcsp) return 1;
  servername_ = ServernameState::kAsked;
  askedServername_ = asksName ? Latin1ToUtf8(name, std::strlen(name)) : std::string();
  askedFlags_ = (asksName ? kAskedName : 0) | (asksOcsp ? kAskedOcsp : 0);
  return -1;
}

int TlsSession::StapleOcsp() {
  if (stapledOcsp_.empty()) return SSL_TLSEXT_ERR_NOACK;
  // OpenSSL takes the copy and frees it with the SSL.
  auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(stapledOcsp_.size()));
  if (copy == nullptr) return SSL_TLSEXT_ERR_NOACK;
  std::memcpy(copy, stapledOcsp_.data(), stapledOcsp_.size());
  if (SSL_set_tlsext_status_ocsp_resp(ssl_, copy, static_cast<long>(stapledOcsp_.size())) != 1) {
    OPENSSL_free(copy);
    ERR_clear_error();
    return SSL_TLSEXT_ERR_NOACK;
  }
  // Kept until the handshake's end: a second ClientHello (after a
  // HelloRetryRequest) asks again, and OpenSSL frees the first copy.
  return SSL_TLSEXT_ERR_OK;
}

namespace {

// Whether `data` is a well-formed ALPN list (RFC 7301: a 2-byte length, then
// names of 1 to 255 bytes, each behind its length); `names` is then the
// list without its own length.
bool ParseAlpnExtension(const unsigned char* data, size_t length, std::string* names) {
  if (length < 3 || ((size_t{data[0]} << 8) | data[1]) != length - 2) return false;
  for (size_t at = 2; at < length; at += 1 + size_t{data[at]}) {
    if (data[at] == 0 || at + 1 + data[at] > length) return false;
  }
  names->assign(reinterpret_cast<const char*>(data + 2), length - 2);
  return true;
}

// The host name of a server_name extension that has OpenSSL's shape (one
// host_name, its length prefixes consistent); false otherwise. What the
// name holds (empty, NUL, over 255 bytes) OpenSSL judges afterwards, and
// accepts in places (an empty name; any on a TLS 1.2 resumption).
bool ParseServernameExtension(const unsigned char* data, size_t length, std::string* name) {
  if (length < 5 || ((size_t{data[0]} << 8) | data[1]) != length - 2 || data[2] != TLSEXT_NAMETYPE_host_name) {
    return false;
  }
  size_t nameLength = (size_t{data[3]} << 8) | data[4];
  if (nameLength != length - 5) return false;
  name->assign(reinterpret_cast<const char*>(data + 5), nameLength);
  return true;
}

// Whether `bytes` are UTF-8 as V8 decodes it without replacing anything
// (RFC 3629: shortest forms, no surrogates, at most U+10FFFF). node's PSK
// lookup gives no key, without asking JS, for an identity that is not.
bool IsUtf8(const std::string& bytes) {
  const auto* at = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned char* end = at + bytes.size();
  while (at < end) {
    unsigned char lead = *at++;
    if (lead < 0x80) continue;
    size_t more = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
    if (more == 0 || lead > 0xF4 || lead == 0xC0 || lead == 0xC1 || static_cast<size_t>(end - at) < more) return false;
    unsigned char second = at[0];
    // The second byte's range rules out overlong forms, surrogates and
    // code points past U+10FFFF.
    unsigned char low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
    unsigned char high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
    if (second < low || second > high) return false;
    for (size_t i = 1; i < more; ++i) {
      if ((at[i] & 0xC0) != 0x80) return false;
    }
    at += more;
  }
  return true;
}

// An identity as OpenSSL's lookup names it: the bytes up to a NUL
// (PACKET_strndup).
std::string PskIdentityName(const unsigned char* bytes, size_t length) {
  const void* nul = std::memchr(bytes, 0, length);
  size_t named = nul == nullptr ? length : static_cast<size_t>(static_cast<const unsigned char*>(nul) - bytes);
  return std::string(reinterpret_cast<const char*>(bytes), named);
}

// The identities of a pre_shared_key extension (RFC 8446 4.2.11: a 2-byte
// length, then each identity behind its 2-byte length with a 4-byte ticket
// age), in order, at most `limit`; those longer than OpenSSL looks up
// (PSK_MAX_IDENTITY_LEN) are left out, as OpenSSL passes them by. False if
// the list is malformed: OpenSSL refuses the hello with its own alert.
bool ParsePskIdentities(const unsigned char* data, size_t length, size_t limit, std::vector<std::string>* names) {
  if (length < 2) return false;
  size_t end = 2 + ((size_t{data[0]} << 8) | data[1]);
  if (end > length) return false;
  for (size_t at = 2; at < end;) {
    if (at + 2 > end) return false;
    size_t identityLength = (size_t{data[at]} << 8) | data[at + 1];
    at += 2;
    // An empty identity is looked up too, as OpenSSL does.
    if (at + identityLength + 4 > end) return false;
    if (identityLength <= PSK_MAX_IDENTITY_LEN && names->size() < limit) {
      // One node would not ask about (not UTF-8: a session ticket's, most
      // often) is left out: its lookup finds no key.
      std::string name = PskIdentityName(data + at, identityLength);
      if (IsUtf8(name)) names->push_back(std::move(name));
    }
    at += identityLength + 4;
  }
  return true;
}

// Whether a psk_key_exchange_modes extension allows a mode OpenSSL's server
// takes: psk_dhe_ke, or psk_ke when it allows no DHE (SSL_OP_ALLOW_NO_DHE_KEX);
// without one, OpenSSL looks no identity up.
bool OffersPskMode(const unsigned char* data, size_t length, bool allowsNoDhe) {
  constexpr unsigned char kPskKe = 0, kPskDheKe = 1;  // RFC 8446 4.2.9
  if (length < 1 || size_t{data[0]} != length - 1) return false;
  for (size_t at = 1; at < length; ++at) {
    if (data[at] == kPskDheKe || (data[at] == kPskKe && allowsNoDhe)) return true;
  }
  return false;
}

}  // namespace

bool TlsSession::BindSessionsToServername() {
  // From the accepting context's id, not the SSL's: this callback runs
  // again for the same hello (each retry) and after a HelloRetryRequest.
  std::string input = context_->sessionIdContext();
  input.push_back('\0');
  const unsigned char* data = nullptr;
  size_t length = 0;
  std::string name;
  if (SSL_client_hello_get0_ext(ssl_, TLSEXT_TYPE_server_name, &data, &length) == 1 &&
      ParseServernameExtension(data, length, &name)) {
    input += name;  // a malformed one OpenSSL refuses after this callback
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digestLength = 0;
  return EVP_Digest(input.data(), input.size(), digest, &digestLength, EVP_sha256(), nullptr) == 1 &&
         SSL_set_session_id_context(ssl_, digest, digestLength) == 1;
}

int TlsSession::OnClientHello() {
  if (bindsSessionsToServername_ && !BindSessionsToServername()) return SSL_CLIENT_HELLO_ERROR;
  switch (resume_) {
    case ResumeState::kAsked:
      return SSL_CLIENT_HELLO_RETRY;
    case ResumeState::kNotAsked: {
      resume_ = ResumeState::kDone;
      if (!sessionCallbacks_ || (context_->asksSessions() & TlsContext::kAsksResumeSession) == 0) break;
      // As node's loadSession: a hello without a session id cannot resume
      // from a cache, and one with a ticket resumes from the ticket.
      const unsigned char* id = nullptr;
      size_t idLength = SSL_client_hello_get0_session_id(ssl_, &id);
      const unsigned char* ticket = nullptr;
      size_t ticketLength = 0;
      bool hasTicket = SSL_client_hello_get0_ext(ssl_, TLSEXT_TYPE_session_ticket, &ticket, &ticketLength) == 1 &&
                       ticketLength > 0;
      if (idLength == 0 || hasTicket) break;
      resume_ = ResumeState::kAsked;
      resumeId_.assign(reinterpret_cast<const char*>(id), idLength);
      return SSL_CLIENT_HELLO_RETRY;
    }
    case ResumeState::kDone:
    case ResumeState::kFailed:
      break;
  }
  // PSK before ALPN, as OpenSSL looks identities up before it selects a name.
  if (psk_ == PskState::kAsked) return SSL_CLIENT_HELLO_RETRY;
  if (psk_ == PskState::kNotAsked && context_->asksPsk() && AskTls13PskIdentities()) return SSL_CLIENT_HELLO_RETRY;
  switch (alpn_) {
    case AlpnState::kAsked:
      return SSL_CLIENT_HELLO_RETRY;
    case AlpnState::kAnswered:  // a second ClientHello (after a HelloRetryRequest) keeps the answer
      // Failed here, not only in the certificate callback, which a
      // resumption skips: a setKeyCert() that could not be applied fails
      // every handshake, as node's throw from it does (internal_error).
      return keyCertFailed_ ? SSL_CLIENT_HELLO_ERROR : SSL_CLIENT_HELLO_SUCCESS;
    case AlpnState::kFailed:
      return SSL_CLIENT_HELLO_SUCCESS;
    case AlpnState::kNotAsked:
      break;
  }
  if (!context_->asksAlpn()) return SSL_CLIENT_HELLO_SUCCESS;
  const unsigned char* data = nullptr;
  size_t length = 0;
  if (SSL_client_hello_get0_ext(ssl_, TLSEXT_TYPE_application_layer_protocol_negotiation, &data, &length) != 1) {
    return SSL_CLIENT_HELLO_SUCCESS;  // no ALPN offered: nothing to ask, and none selected
  }
  // A malformed list or name is OpenSSL's to refuse, with its own alert,
  // before anything reaches JS; the selection then never runs.
  std::string names;
  if (!ParseAlpnExtension(data, length, &names)) return SSL_CLIENT_HELLO_SUCCESS;
  std::string servername;
  bool hasServername = SSL_client_hello_get0_ext(ssl_, TLSEXT_TYPE_server_name, &data, &length) == 1;
  if (hasServername && !ParseServernameExtension(data, length, &servername)) return SSL_CLIENT_HELLO_SUCCESS;
  alpn_ = AlpnState::kAsked;
  offeredAlpn_ = std::move(names);
  alpnServername_ = std::move(servername);
  alpnHasServername_ = hasServername;
  return SSL_CLIENT_HELLO_RETRY;
}

void TlsSession::ReportAlpn(Connection& connection, Batch& batch) {
  if (alpnReported_) return;
  alpnReported_ = true;
  size_t first = batch.strings.size();
  batch.strings.push_back(Latin1ToUtf8(alpnServername_.data(), alpnServername_.size()));
  // In hex: names are any bytes, and the strings reach JS as UTF-8.
  batch.strings.push_back(Hex(offeredAlpn_));
  alpnServername_.clear();
  batch.Add(EventKind::kTlsAlpn, connection.id, alpnHasServername_ ? 1 : 0, static_cast<double>(first));
}

bool TlsSession::AskTls13PskIdentities() {
  // The extension is TLS 1.3's; a server that stops below it negotiates an
  // older version, where the identity comes later (HoldForPskIdentity).
  long maxVersion = SSL_get_max_proto_version(ssl_);
  uint64_t options = SSL_get_options(ssl_);
  if ((maxVersion != 0 && maxVersion < TLS1_3_VERSION) || (options & SSL_OP_NO_TLSv1_3) != 0) return false;
  const unsigned char* data = nullptr;
  size_t length = 0;
  if (SSL_client_hello_get0_ext(ssl_, TLSEXT_TYPE_psk_kex_modes, &data, &length) != 1 ||
      !OffersPskMode(data, length, (options & SSL_OP_ALLOW_NO_DHE_KEX) != 0)) {
    return false;
  }
  if (SSL_client_hello_get0_ext(ssl_, TLSEXT_TYPE_psk, &data, &length) != 1) return false;
  std::vector<std::string> identities;
  if (!ParsePskIdentities(data, length, kMaxPskIdentities, &identities) || identities.empty()) return false;
  psk_ = PskState::kAsked;
  pskIdentities_ = std::move(identities);
  return true;
}

bool TlsSession::HoldForPskIdentity() {
  if (psk_ == PskState::kAsked) return true;
  if (pskLook_ == PskLook::kDone) return false;
  if (pskLook_ == PskLook::kNotStarted) {
    // Once the server's flight has ended with ServerHelloDone, for a PSK
    // cipher, the client's next message is its ClientKeyExchange, which
    // begins with the identity (RFC 4279). Asked by name ("TWSD": TLS
    // write server done), not by SSL_get_state's number: OpenSSL 3.2 put new
    // states in the middle of that enum, so TLS_ST_SW_SRVR_DONE is 26 in the
    // 3.0 headers an addon may be built with and 29 in the 3.5 that Node 22,
    // 24 and 26 run.
    if (handshakeDone_ || std::strcmp(SSL_state_string(ssl_), "TWSD") != 0) return false;
    // OpenSSL already holds bytes it read ahead (a client that sent on
    // before the server's flight): the look would start mid-record.
    if (SSL_has_pending(ssl_) == 1) {
      pskLook_ = PskLook::kDone;
      return false;
    }
    const SSL_CIPHER* cipher = SSL_get_pending_cipher(ssl_);
    int exchange = cipher == nullptr ? NID_undef : SSL_CIPHER_get_kx_nid(cipher);
    if (exchange != NID_kx_psk && exchange != NID_kx_dhe_psk && exchange != NID_kx_ecdhe_psk &&
        exchange != NID_kx_rsa_psk) {
      pskLook_ = PskLook::kDone;
      return false;
    }
    pskLook_ = PskLook::kReading;
  }
  // Read the record and handshake headers, then the identity, and no
  // further: the rest stays queued, where the read after JS's answer finds
  // it with no new edge. Held here, a message split across reads is waited
  // for as any read is, and level triggering sees an empty queue meanwhile.
  constexpr size_t kHeaders = 5 + 4 + 2;  // record, handshake message, identity length
  std::string& held = transport_.held;
  for (;;) {
    size_t wanted = kHeaders;
    const auto* head = reinterpret_cast<const unsigned char*>(held.data());
    // Judged as the bytes come, so that a short record of another kind (an
    // alert, a ChangeCipherSpec) goes to OpenSSL at once, not held waiting
    // for bytes that will not come.
    if ((held.size() >= 1 && head[0] != SSL3_RT_HANDSHAKE) ||
        (held.size() >= 5 && ((size_t{head[3]} << 8) | head[4]) < 4 + 2) ||
        (held.size() >= 6 && head[5] != SSL3_MT_CLIENT_KEY_EXCHANGE)) {
      pskLook_ = PskLook::kDone;
      return false;
    }
    if (held.size() >= kHeaders) {
      size_t recordLength = (size_t{head[3]} << 8) | head[4];
      size_t messageLength = (size_t{head[6]} << 16) | (size_t{head[7]} << 8) | head[8];
      size_t identityLength = (size_t{head[9]} << 8) | head[10];
      // Not of that shape (another message first, the identity split across
      // records, or longer than OpenSSL looks up): OpenSSL's to judge, and
      // its lookup then finds no key.
      if (identityLength > PSK_MAX_IDENTITY_LEN || 2 + identityLength > messageLength ||
          4 + 2 + identityLength > recordLength) {
        pskLook_ = PskLook::kDone;
        return false;
      }
      wanted = kHeaders + identityLength;
      if (held.size() >= wanted) {
        pskLook_ = PskLook::kDone;
        std::string name = PskIdentityName(head + kHeaders, identityLength);
        if (!IsUtf8(name)) return false;  // not asked, as node's: no key
        psk_ = PskState::kAsked;
        pskAskedAtKeyExchange_ = true;
        pskReported_ = false;
        pskIdentities_.assign(1, std::move(name));
        return true;
      }
    }
    switch (ReadAhead(&held, wanted - held.size())) {
      case AheadRead::kRead:
        continue;
      case AheadRead::kWouldBlock:
        return true;
      case AheadRead::kEnded:
        pskLook_ = PskLook::kDone;  // OpenSSL meets the end after the bytes held
        return false;
    }
  }
}

void TlsSession::ReportPsk(Connection& connection, Batch& batch) {
  if (pskReported_) return;
  pskReported_ = true;
  size_t first = batch.strings.size();
  // In hex: identities are any bytes, and the strings reach JS as UTF-8.
  for (const std::string& identity : pskIdentities_) batch.strings.push_back(Hex(identity));
  // c: 1 for a client's question for its ClientKeyExchange, which JS
  // answers only after 'connect', as node's comes a round trip after it.
  batch.Add(EventKind::kTlsPsk, connection.id, static_cast<double>(pskIdentities_.size()), static_cast<double>(first),
            SSL_is_server(ssl_) == 0 && pskAskedAtKeyExchange_ ? 1 : 0);
}

bool TlsSession::AnswerPsk(uint64_t index, const char* key, size_t keyLength) {
  if (psk_ != PskState::kAsked) return false;
  psk_ = PskState::kAnswered;
  ForgetPskKey();
  if (SSL_is_server(ssl_) == 0) {
    // A client's: `index` bytes of identity, then the key.
    if (index <= PSK_MAX_IDENTITY_LEN && index < keyLength) {
      pskIdentity_.assign(key, index);
      pskKey_.assign(key + index, keyLength - index);
    }
  } else if (index < pskIdentities_.size() && keyLength > 0) {
    pskIdentity_ = std::move(pskIdentities_[index]);
    pskKey_.assign(key, keyLength);
  }
  pskIdentities_.clear();
  return true;
}

unsigned int TlsSession::OnPskIdentity(const char* identity, unsigned char* psk, unsigned int maxLength) {
  if (psk_ != PskState::kAnswered || pskKey_.empty() || identity == nullptr || pskIdentity_ != identity ||
      pskKey_.size() > maxLength) {
    return 0;
  }
  std::memcpy(psk, pskKey_.data(), pskKey_.size());
  return static_cast<unsigned int>(pskKey_.size());
}

unsigned int TlsSession::OnPskClient(char* identity, unsigned int maxIdentity, unsigned char* psk,
                                     unsigned int maxPsk) {
  // The stage OpenSSL is at: after a ServerHello that chose a TLS 1.2 PSK
  // cipher it writes the ClientKeyExchange; before, or after a
  // HelloRetryRequest (a TLS 1.3 cipher), a ClientHello. An answer is only
  // for the stage JS was asked about: a ClientKeyExchange whose question
  // was never asked (a flight the look could not read) gets no key, and
  // OpenSSL fails it (psk identity not found).
  const SSL_CIPHER* cipher = SSL_get_pending_cipher(ssl_);
  bool atKeyExchange = cipher != nullptr && IsPskExchange(SSL_CIPHER_get_kx_nid(cipher));
  if (psk_ != PskState::kAnswered || atKeyExchange != pskAskedAtKeyExchange_ || pskKey_.empty() ||
      pskIdentity_.size() > maxIdentity || pskKey_.size() > maxPsk) {
    return 0;
  }
  // OpenSSL's buffer has room for maxIdentity bytes and a NUL.
  std::memcpy(identity, pskIdentity_.data(), pskIdentity_.size());
  identity[pskIdentity_.size()] = '\0';
  std::memcpy(psk, pskKey_.data(), pskKey_.size());
  return static_cast<unsigned int>(pskKey_.size());
}

bool TlsSession::HoldForPskHint() {
  if (psk_ == PskState::kAsked) return true;
  // What was read and judged goes to OpenSSL first, as it is.
  if (pskFlight_ == nullptr || !transport_.held.empty()) return false;
  constexpr size_t kRecordHeader = 5;
  // A TLS 1.2 record's body: 2^14 bytes, and 2,048 more once protected.
  constexpr size_t kMaxRecordBody = 16384 + 2048;
  for (;;) {
    size_t wanted = kRecordHeader;
    const auto* head = reinterpret_cast<const unsigned char*>(pskRecord_.data());
    if (pskRecord_.size() >= kRecordHeader) {
      size_t bodyLength = (size_t{head[3]} << 8) | head[4];
      // Not a handshake record nor an alert (a TLS 1.3 server's
      // ChangeCipherSpec or encrypted flight), or one OpenSSL will refuse:
      // the flight the look reads is over, and OpenSSL reads on from here.
      if ((head[0] != SSL3_RT_HANDSHAKE && head[0] != SSL3_RT_ALERT) || bodyLength > kMaxRecordBody) {
        transport_.held = std::move(pskRecord_);
        EndPskFlightLook();
        return false;
      }
      wanted = kRecordHeader + bodyLength;
      if (pskRecord_.size() == wanted && head[0] == SSL3_RT_ALERT) {
        // A warning (an unrecognized_name) OpenSSL reads past, or a fatal
        // one that ends the handshake: OpenSSL's either way, and the flight
        // goes on after a warning.
        transport_.held = std::move(pskRecord_);
        pskRecord_.clear();
        return false;
      }
      if (pskRecord_.size() == wanted) {
        ServerFlightReader::Stop stop = pskFlight_->Read(head + kRecordHeader, bodyLength);
        transport_.held = std::move(pskRecord_);
        pskRecord_.clear();
        if (stop == ServerFlightReader::Stop::kHelloRetryRequest) {
          // OpenSSL writes a second ClientHello once it has read this, and
          // asks again, as node's callback is asked again: once, and only
          // of a client that may speak TLS 1.3 (OpenSSL refuses the rest).
          if (!pskTls13_ || pskHelloRetried_) return false;
          pskHelloRetried_ = true;
          AskPskForClientHello();
          return true;
        }
        if (stop != ServerFlightReader::Stop::kServerHelloDone) return false;
        // OpenSSL asks for the PSK once it has read this, if the cipher is
        // a PSK one it offered and the ServerKeyExchange parsed; what it
        // refuses (a hint too long or cut short, a cipher not offered)
        // fails the handshake before that, and JS is not asked.
        const SSL_CIPHER* cipher = pskFlight_->hasCipher() ? SSL_CIPHER_find(ssl_, pskFlight_->cipher()) : nullptr;
        bool asks = cipher != nullptr && IsPskExchange(SSL_CIPHER_get_kx_nid(cipher)) && Offered(ssl_, cipher) &&
                    !pskFlight_->hintRefused();
        std::string hint = pskFlight_->hasHint() ? pskFlight_->hint() : std::string();
        bool hasHint = pskFlight_->hasHint();
        EndPskFlightLook();
        if (!asks) return false;
        ForgetPskKey();  // the ClientHello's, if any: this question replaces it
        psk_ = PskState::kAsked;
        pskAskedAtKeyExchange_ = true;
        pskReported_ = false;
        pskIdentities_.clear();
        if (hasHint) pskIdentities_.push_back(std::move(hint));
        return true;
      }
    }
    switch (ReadAhead(&pskRecord_, wanted - pskRecord_.size())) {
      case AheadRead::kRead:
        continue;
      case AheadRead::kWouldBlock:
        return true;
      case AheadRead::kEnded:
        // OpenSSL meets the end after the bytes read.
        transport_.held = std::move(pskRecord_);
        EndPskFlightLook();
        return false;
    }
  }
}

TlsSession::AheadRead TlsSession::ReadAhead(std::string* into, size_t wanted) {
  HangupReading* hangup = transport_.hangup;
  if (hangup != nullptr && hangup->emptied) return AheadRead::kEnded;  // nothing more comes
  char chunk[4096];
  ssize_t n = sys::Receive(transport_.fd, chunk, std::min(sizeof chunk, wanted));
  if (n > 0) {
    into->append(chunk, static_cast<size_t>(n));
    if (hangup != nullptr) hangup->TookLast(transport_.fd);
    return AheadRead::kRead;
  }
  if (n == -EAGAIN) {
    // As the BIO's own read: "would block" waits for the next edge; past
    // a hangup's end no edge comes, and the read is retried next turn.
    if (hangup == nullptr || !hangup->AgainIsRetry(n)) transport_.wouldBlock = true;
    return AheadRead::kWouldBlock;
  }
  // The end or an error: the BIO read after the bytes read ahead takes it.
  transport_.hasTakenResult = true;
  transport_.takenResult = n;
  return AheadRead::kEnded;
}

void TlsSession::AskPskForClientHello() {
  ForgetPskKey();
  psk_ = PskState::kAsked;
  pskAskedAtKeyExchange_ = false;
  pskReported_ = false;
  pskIdentities_.clear();
}

void TlsSession::EndPskFlightLook() {
  pskFlight_.reset();
  pskRecord_.clear();
  pskRecord_.shrink_to_fit();
  transport_.pskClient = nullptr;
}

void TlsSession::ForgetPskKey() {
  if (!pskKey_.empty()) OPENSSL_cleanse(&pskKey_[0], pskKey_.size());
  pskKey_.clear();
  pskIdentity_.clear();
}

void TlsSession::ReportResume(Connection& connection, Batch& batch) {
  if (resumeReported_) return;
  resumeReported_ = true;
  size_t first = batch.strings.size();
  batch.strings.push_back(Hex(resumeId_));
  batch.Add(EventKind::kTlsResumeSession, connection.id, 0, static_cast<double>(first));
}

bool TlsSession::ResumeSession(const std::string& der) {
  if (resume_ != ResumeState::kAsked) return false;
  resume_ = ResumeState::kDone;
  if (der.empty()) return true;
  const auto* bytes = reinterpret_cast<const unsigned char*>(der.data());
  SSL_SESSION* session = d2i_SSL_SESSION(nullptr, &bytes, static_cast<long>(der.size()));
  ERR_clear_error();
  if (session != nullptr) resumedSession_ = session;
  return true;
}

SSL_SESSION* TlsSession::TakeResumedSession(const unsigned char* id, size_t idLength) {
  // Only for the id JS looked up: a TLS 1.3 stateful ticket is looked up
  // by its own identity, and JS's session for the hello's legacy id would
  // fail the binder check there instead of making a full handshake.
  if (resumedSession_ == nullptr || idLength != resumeId_.size() ||
      std::memcmp(id, resumeId_.data(), idLength) != 0) {
    return nullptr;
  }
  SSL_SESSION* session = resumedSession_;
  resumedSession_ = nullptr;
  return session;
}

void TlsSession::OnNewServerSession(SSL_SESSION* session) {
  if (!sessionCallbacks_ || (context_->asksSessions() & TlsContext::kAsksNewSession) == 0) return;
  if (serverNewSessions_.size() >= kMaxNewSessions) return;
  unsigned char* der = nullptr;
  int length = i2d_SSL_SESSION(session, &der);
  if (length <= 0 || length > kMaxCachedSessionBytes) {
    OPENSSL_free(der);
    ERR_clear_error();
    return;
  }
  std::string text = Base64(der, length);  // frees der
  unsigned int idLength = 0;
  const unsigned char* id = SSL_SESSION_get_id(session, &idLength);
  serverNewSessions_.emplace_back(Hex(std::string(reinterpret_cast<const char*>(id), idLength)), std::move(text));
}

void TlsSession::ReportServerNewSessions(Connection& connection, Batch& batch) {
  for (auto& [id, der] : serverNewSessions_) {
    size_t first = batch.strings.size();
    batch.strings.push_back(std::move(id));
    batch.strings.push_back(std::move(der));
    batch.Add(EventKind::kTlsNewSession, connection.id, 0, static_cast<double>(first));
  }
  serverNewSessions_.clear();
}

bool TlsSession::ChooseAlpn(uint64_t index, std::shared_ptr<TlsContext> keyCert) {
  if (alpn_ != AlpnState::kAsked) return false;
  alpn_ = AlpnState::kAnswered;
  if (keyCert != nullptr) {
    keyCertContext_ = std::move(keyCert);
    if (!UseKeyCert()) keyCertFailed_ = true;
  }
  // ParseAlpnExtension checked every length.
  for (size_t at = 0, n = 0; at < offeredAlpn_.size(); at += 1 + static_cast<unsigned char>(offeredAlpn_[at]), ++n) {
    if (n == index) {
      chosenAlpn_ = offeredAlpn_.substr(at + 1, static_cast<unsigned char>(offeredAlpn_[at]));
      break;
    }
  }
  offeredAlpn_.clear();
  offeredAlpn_.shrink_to_fit();
  return true;
}

int TlsSession::SelectChosenAlpn(const unsigned char** out, unsigned char* outLength, const unsigned char* offered,
                                 unsigned int offeredLength) const {
  // Not answered (no question was asked, yet OpenSSL selects) or no name
  // chosen: no_application_protocol, as node's callback returning undefined.
  if (alpn_ != AlpnState::kAnswered || chosenAlpn_.empty()) return SSL_TLSEXT_ERR_ALERT_FATAL;
  // OpenSSL hands over the list it checked; *out must point into it.
  for (unsigned int at = 0; at < offeredLength; at += 1u + offered[at]) {
    unsigned int length = offered[at];
    if (at + 1 + length > offeredLength) break;
    if (length == chosenAlpn_.size() && std::memcmp(offered + at + 1, chosenAlpn_.data(), length) == 0) {
      *out = offered + at + 1;
      *outLength = static_cast<unsigned char>(length);
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;  // a second ClientHello that dropped the name
}

void TlsSession::OnOcspResponse() {
  const unsigned char* response = nullptr;
  long length = SSL_get_tlsext_status_ocsp_resp(ssl_, &response);
  ocspResponse_.clear();
  if (response != nullptr && length > 0) ocspResponse_.assign(reinterpret_cast<const char*>(response), length);
  ocspResponseSeen_ = true;
}

void TlsSession::ReportOcspResponse(Connection& connection, Batch& batch) {
  if (!ocspResponseSeen_) return;
  ocspResponseSeen_ = false;
  bool stapled = !ocspResponse_.empty();
  size_t first = batch.strings.size();
  batch.strings.push_back(Hex(ocspResponse_));
  ocspResponse_.clear();
  ocspResponse_.shrink_to_fit();
  batch.Add(EventKind::kTlsOcspResponse, connection.id, stapled ? 1 : 0, static_cast<double>(first));
}

bool TlsSession::OnNewSession(SSL_SESSION* session) {
  if (!keepsNewSessions_) return false;
  // Encoding waits for the report: a flood of tickets costs a reference each.
  if (newSessions_.size() < kMaxNewSessions) {
    newSessions_.push_back(session);
  } else {
    SSL_SESSION_free(newSessions_.back());
    newSessions_.back() = session;
  }
  return true;
}

void TlsSession::ReportSession(Connection& connection, Batch& batch, std::string der, bool issued) {
  if (der.empty()) {
    ERR_clear_error();  // i2d failed: getSession() keeps what it had
    return;
  }
  reportedBytes_ += der.size();
  size_t first = batch.strings.size();
  batch.strings.push_back(std::move(der));
  batch.Add(EventKind::kTlsSession, connection.id, issued ? 1 : 0, static_cast<double>(first));
}

void TlsSession::ReportNewSessions(Connection& connection, Batch& batch) {
  for (SSL_SESSION* kept : newSessions_) {
    std::string der = DerBase64(kept);
    SSL_SESSION_free(kept);
    ReportSession(connection, batch, std::move(der), true);
  }
  newSessions_.clear();
}

void TlsSession::ReportForwardedSessions(Connection& connection, Batch& batch) {
  // Key updates' lines too (a few per key update, at most kMaxKeyLogLines a report).
  if (!keyLogLines_.empty()) ReportKeyLog(connection, batch);
  if (newSessions_.empty()) return;
  // Past the cap the oldest go unreported: the newest is what resumes.
  while (newSessions_.size() > kMaxNewSessions - forwardedReports_) {
    SSL_SESSION_free(newSessions_.front());
    newSessions_.erase(newSessions_.begin());
  }
  forwardedReports_ += newSessions_.size();
  ReportNewSessions(connection, batch);
  if (forwardedReports_ >= kMaxNewSessions) StopKeepingSessions();
}

void TlsSession::StopKeepingSessions() {
  if (!keepsNewSessions_) return;
  keepsNewSessions_ = false;
  for (SSL_SESSION* kept : newSessions_) SSL_SESSION_free(kept);
  newSessions_.clear();
}

// Reports, when Read() or Flush() returns, the sessions issued meanwhile and
// not reported yet (Read() reports each SSL_read_ex's at once), and the key
// log lines of key updates (a TLS 1.3 KeyUpdate logs the next traffic secret).
class TlsSession::SessionReports {
 public:
  SessionReports(TlsSession& session, Connection& connection, Batch& batch)
      : session_(session), connection_(connection), batch_(batch) {}
  ~SessionReports() {
    // A forwarded connection's go out with the forward's pump, capped there.
    if (!session_.newSessions_.empty() && connection_.forwarder == nullptr) {
      session_.ReportNewSessions(connection_, batch_);
    }
    if (!session_.keyLogLines_.empty()) session_.ReportKeyLog(connection_, batch_);
    // Sessions a server made after its handshake's end (none today: every
    // ticket is written before SSL_do_handshake returns).
    if (session_.handshakeDone_ && !session_.serverNewSessions_.empty()) {
      session_.ReportServerNewSessions(connection_, batch_);
    }
  }
  SessionReports(const SessionReports&) = delete;
  SessionReports& operator=(const SessionReports&) = delete;

 private:
  TlsSession& session_;
  Connection& connection_;
  Batch& batch_;
};

void TlsSession::ReportServername(Connection& connection, Batch& batch) {
  if (askedFlags_ == 0) return;  // reported already
  size_t first = batch.strings.size();
  batch.strings.push_back(std::move(askedServername_));
  askedServername_.clear();
  batch.Add(EventKind::kTlsServername, connection.id, askedFlags_, static_cast<double>(first));
  askedFlags_ = 0;
}

bool TlsSession::UseContext(std::shared_ptr<TlsContext> context, std::string stapledOcsp) {
  if (servername_ != ServernameState::kAsked) return false;
  servername_ = ServernameState::kAnswered;
  askedServername_.clear();
  askedFlags_ = 0;
  stapledOcsp_ = std::move(stapledOcsp);
  if (context == nullptr || context == context_) return true;
  // The chosen context's certificate chain and key, trust store and client
  // CA names apply from here; the accepting context's protocol versions,
  // verify mode, ticket keys and ALPN stay. lib/tls.ts builds a chosen
  // context with the accepting one's ciphers, sigalgs and DH parameters,
  // which the swap would otherwise take too: node's server keeps its own.
  if (SSL_set_SSL_CTX(ssl_, context->ctx()) == nullptr) {
    ERR_clear_error();
    servername_ = ServernameState::kFailed;  // the callback fails the handshake
    return true;
  }
  chosenContext_ = std::move(context);
  // node asks its ALPNCallback after the SNICallback below TLS 1.3, so there
  // setKeyCert()'s certificate, replaced by the swap, applies again; over
  // TLS 1.3 node asks it first, and the SNI choice is what stays.
  if (keyCertContext_ != nullptr && SSL_version(ssl_) < TLS1_3_VERSION && !UseKeyCert()) keyCertFailed_ = true;
  return true;
}

bool TlsSession::UseKeyCert() {
  // In node's steps (setKeyCert's UseSNIContext): the context's current
  // certificate, then its key, then its chain if it has one (none leaves
  // the SSL's for that key type), each taken by reference. Without a key
  // (lib/tls.ts threw, as node's second step fails) the certificate alone
  // is taken: OpenSSL drops the SSL's key if it does not match it.
  SSL_CTX* ctx = keyCertContext_->ctx();
  X509* certificate = SSL_CTX_get0_certificate(ctx);
  EVP_PKEY* key = SSL_CTX_get0_privatekey(ctx);
  STACK_OF(X509)* chain = nullptr;
  bool ok = certificate != nullptr && SSL_CTX_get0_chain_certs(ctx, &chain) == 1 &&
            SSL_use_certificate(ssl_, certificate) == 1;
  if (ok && key != nullptr) ok = SSL_use_PrivateKey(ssl_, key) == 1;
  if (ok && key != nullptr && chain != nullptr) ok = SSL_set1_chain(ssl_, chain) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

void TlsSession::OnKeyLogLine(const char* line) {
  if (!logsKeys_) return;
  if (keyLogLines_.size() < kMaxKeyLogLines) keyLogLines_.emplace_back(line);
}

void TlsSession::ReportKeyLog(Connection& connection, Batch& batch) {
  for (std::string& line : keyLogLines_) {
    size_t index = batch.strings.size();
    batch.strings.push_back(std::move(line));
    batch.Add(EventKind::kTlsKeylog, connection.id, 0, static_cast<double>(index), 0);
  }
  keyLogLines_.clear();
}

bool TlsSession::Handshake(Connection& connection, Batch& batch, ReadOutcome* outcome) {
  if (pskAtClientHello_) {
    // A client with a pskCallback that may speak TLS 1.3: OpenSSL would ask
    // for the PSK while it writes the ClientHello, so JS is asked, with no
    // hint, before anything is written (OnPskClient).
    pskAtClientHello_ = false;
    AskPskForClientHello();
    ReportPsk(connection, batch);
    *outcome = ReadOutcome::kDrained;
    return false;
  }
  BeginCall();
  int result = SSL_do_handshake(ssl_);
  // The secrets this step made, before the handshake's end is reported (as
  // node emits 'keylog' before 'secure').
  if (!keyLogLines_.empty()) ReportKeyLog(connection, batch);
  if (result == 1) {
    handshakeDone_ = true;
    keyCertContext_.reset();  // the SSL holds its own references to what it took
    ForgetPskKey();           // OpenSSL has made the session's secret from it
    pskLook_ = PskLook::kDone;  // the BIO's reads no longer look for an identity
    EndPskFlightLook();         // nor for a server's flight
    // A client's max_fragment_length (RFC 6066), which OpenSSL's server
    // grants by itself: records are that small from here, and so must be
    // what we hand SSL_write_ex, or each queued byte is copied per record.
    if (SSL_SESSION* session = SSL_get_session(ssl_)) {
      uint8_t mode = SSL_SESSION_get_max_fragment_length(session);
      if (mode >= TLSEXT_max_fragment_length_512 && mode <= TLSEXT_max_fragment_length_4096) {
        recordBytes_ = std::min(recordBytes_, size_t{512} << (mode - TLSEXT_max_fragment_length_512));
      }
    }
    flushWanted_ = true;  // writes made while the handshake ran wait for it
    // A session JS gave that OpenSSL did not take (a TLS 1.3 hello, or one
    // it refused) is of no further use.
    if (resumedSession_ != nullptr) {
      SSL_SESSION_free(resumedSession_);
      resumedSession_ = nullptr;
    }
    resumeId_.clear();
    // node's order: a TLS 1.2 session's 'newSession' before the handshake's
    // end, TLS 1.3 tickets' after it.
    bool ticketsFollow = SSL_version(ssl_) == TLS1_3_VERSION;
    // What this handshake wrote waits for the cache to store its sessions;
    // with none offered, it goes when the call ends and nothing waits again.
    awaitingSessionStored_ = !serverNewSessions_.empty();
    // A TLS 1.2 server's full handshake: its last flight (Finished) is what
    // tells the client it was accepted, and node writes it only after JS's
    // verdict and 'secureConnection' listeners (VerdictGiven).
    awaitingVerdict_ = SSL_is_server(ssl_) == 1 && !ticketsFollow && !SSL_session_reused(ssl_);
    transport_.buffers = outputHeld();
    transport_.sendsBeforeRead = false;
    // The handshake's last writes (a TLS 1.2 server's Finished, TLS 1.3
    // tickets) leave before this call reads plaintext, for the same reason,
    // unless they wait for the session cache. What a failed send leaves is
    // sent again by the call's end (OverflowSettle) and, failing that, by the
    // flush flushWanted_ (set above) brings, which reports the error.
    if (!outputHeld() && !transport_.overflow.empty()) SendBeforeRead(&transport_);
    if (!ticketsFollow) ReportServerNewSessions(connection, batch);
    ReportSecure(connection, batch);
    if (ticketsFollow) ReportServerNewSessions(connection, batch);
    return true;
  }
  int error = SSL_get_error(ssl_, result);
  if (error == SSL_ERROR_WANT_CLIENT_HELLO_CB && resume_ == ResumeState::kAsked) {
    // Stopped for JS's lookup of the offered session id (OnClientHello).
    ERR_clear_error();
    ReportResume(connection, batch);
    *outcome = ReadOutcome::kDrained;
    return false;
  }
  if ((error == SSL_ERROR_WANT_CLIENT_HELLO_CB || error == SSL_ERROR_WANT_READ) && psk_ == PskState::kAsked) {
    // Stopped for JS's key: at a TLS 1.3 ClientHello (OnClientHello), or
    // before a ClientKeyExchange the BIO held back (HoldForPskIdentity).
    ERR_clear_error();
    ReportPsk(connection, batch);
    *outcome = ReadOutcome::kDrained;
    return false;
  }
  if (error == SSL_ERROR_WANT_CLIENT_HELLO_CB && alpn_ == AlpnState::kAsked) {
    // Stopped for JS's choice of ALPN name (OnClientHello), as below.
    ERR_clear_error();
    ReportAlpn(connection, batch);
    *outcome = ReadOutcome::kDrained;
    return false;
  }
  if (error == SSL_ERROR_WANT_X509_LOOKUP && servername_ == ServernameState::kAsked) {
    // Stopped for JS's choice (OnCertificateWanted). `readable` is left as
    // it is: UseContext's caller reads again whatever the socket did.
    ERR_clear_error();
    ReportServername(connection, batch);
    *outcome = ReadOutcome::kDrained;
    return false;
  }
  *outcome = ReadFailed(connection, batch, error);
  return false;
}

void TlsSession::SetMaxSendFragment(uint64_t bytes) {
  if (bytes < 512 || bytes > SSL3_RT_MAX_PLAIN_LENGTH) return;
  // OpenSSL splits writes at the smallest size ever set (it lowers its split
  // size with the maximum, and never raises it), so a larger size set later
  // leaves records as they were: recordBytes_ follows what OpenSSL does.
  if (SSL_set_max_send_fragment(ssl_, static_cast<long>(bytes)) == 1) {
    recordBytes_ = std::min(recordBytes_, static_cast<size_t>(bytes));
  }
}

void TlsSession::ReportSecure(Connection& connection, Batch& batch) {
  // node emits 'OCSPResponse' before 'secureConnect'.
  ReportOcspResponse(connection, batch);
  stapledOcsp_.clear();
  stapledOcsp_.shrink_to_fit();
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_);
  const unsigned char* alpn = nullptr;
  unsigned int alpnLength = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpnLength);
  const char* servername = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  X509* peer = SSL_get1_peer_certificate(ssl_);
  long verifyResult = peer != nullptr ? SSL_get_verify_result(ssl_) : VerdictWithoutCertificate(ssl_);
  double flags = (peer != nullptr ? kSecureHasPeerCert : 0) + (SSL_session_reused(ssl_) ? kSecureSessionReused : 0) +
                 (awaitingVerdict_ ? kSecureVerdictHeld : 0);
  size_t first = batch.strings.size();
  // The order lib/tls.ts reads them in.
  batch.strings.push_back(SSL_get_version(ssl_));
  batch.strings.push_back(cipher != nullptr ? SSL_CIPHER_get_name(cipher) : "");
  batch.strings.push_back(cipher != nullptr ? SSL_CIPHER_standard_name(cipher) : "");
  batch.strings.push_back(cipher != nullptr ? SSL_CIPHER_get_version(cipher) : "");
  batch.strings.push_back(alpn != nullptr ? std::string(reinterpret_cast<const char*>(alpn), alpnLength) : "");
  batch.strings.push_back(servername != nullptr ? Latin1ToUtf8(servername, std::strlen(servername)) : "");
  // OpenSSL's text for the verdict, which node's client gives as the message
  // of its verification error ("self-signed certificate").
  batch.strings.push_back(X509_verify_cert_error_string(verifyResult));
  // The Finished messages, for getFinished() and getPeerFinished().
  batch.strings.push_back(FinishedBase64(ssl_, SSL_get_finished));
  batch.strings.push_back(FinishedBase64(ssl_, SSL_get_peer_finished));
  // The peer's certificate: lib/tls.ts makes node's object of it
  // (X509Certificate), remembered by the fingerprint.
  if (peer != nullptr) {
    batch.strings.push_back(Fingerprint256(peer));
    batch.strings.push_back(DerBase64(peer));
    X509_free(peer);
  }
  // A client's getSession() from 'secureConnect' on, reported first so that
  // JS has it when kTlsSecure emits 'secureConnect': the session a TLS 1.2
  // server issued in the handshake, or else the session as the handshake
  // left it (a TLS 1.3 server issues its tickets after it). A server's is
  // kept natively, for JS to encode if it asks (tls_server_sessions.h).
  if (!newSessions_.empty()) {
    ReportNewSessions(connection, batch);
  } else if (context_->client()) {
    if (SSL_SESSION* current = SSL_get_session(ssl_)) ReportSession(connection, batch, DerBase64(current), false);
  } else if (serverSessions_ != nullptr) {
    serverSessions_->Keep(connectionId_, SSL_get1_session(ssl_));
    serverSessionKept_ = true;
  }
  ERR_clear_error();
  batch.Add(EventKind::kTlsSecure, connection.id, flags, static_cast<double>(first),
            static_cast<double>(verifyResult));
}

bool TlsSession::ClosedByPeer(int result) const {
  if (result == SSL_ERROR_ZERO_RETURN) return true;
  // OpenSSL 3.2 and later say SSL_ERROR_SYSCALL, with nothing queued, for a
  // TLS 1.3 close_notify that came after a warning alert (an
  // unrecognized_name before the ServerHello): SSL_get_error compares the
  // last warning with close_notify, and a TLS 1.3 close_notify is no longer
  // recorded as one. node reads SSL_get_shutdown first and ends cleanly.
  return result == SSL_ERROR_SYSCALL && transport_.error == 0 && ERR_peek_error() == 0 &&
         (SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) != 0;
}

ReadOutcome TlsSession::ReadFailed(Connection& connection, Batch& batch, int result) {
  if (result == SSL_ERROR_WANT_READ) {
    if (transport_.wouldBlock) {
      connection.readable = false;
      // Past any mark, as on the plain path (the EAGAIN here is always a
      // real recv(): the short-read rule is off while a mark is pending).
      connection.urgentMark = false;
      return ReadOutcome::kDrained;
    }
    // OpenSSL consumed a record that carried no plaintext (a ticket, a key
    // update) without the socket saying EAGAIN: more may be waiting.
    return ReadOutcome::kBudgetSpent;
  }
  if (result == SSL_ERROR_WANT_WRITE) {
    readWantsWrite = true;
    connection.waitingWritable = true;
    return ReadOutcome::kDrained;
  }
  if (transport_.peerEnded || ClosedByPeer(result)) {
    // A FIN, or the peer's close_notify (which node also treats as the end);
    // or a reset that a send of OpenSSL's own met first (dropped, as node's,
    // Transport::dropWritesToGonePeer), which left the end to read.
    ERR_clear_error();
    connection.readable = false;
    if (!handshakeDone_) {
      connection.failed = true;
      batch.Add(EventKind::kTlsError, connection.id, 1, 0, static_cast<double>(TlsErrorKind::kPeerClosed));
      return ReadOutcome::kFailed;
    }
    connection.ended = true;
    EndHoldForPeersEnd();
    batch.Add(EventKind::kEnd, connection.id);
    return ReadOutcome::kEnded;
  }
  connection.readable = false;
  // A send that failed otherwise (ENOBUFS, EHOSTUNREACH) is named as one;
  // under an alert OpenSSL sent for an error of its own, that error is the
  // report, as node's.
  if (transport_.error != 0 && !(transport_.errorOnWrite && result == SSL_ERROR_SSL)) {
    ERR_clear_error();
    connection.failed = true;
    batch.Add(EventKind::kError, connection.id, static_cast<double>(transport_.error),
              static_cast<double>(transport_.errorOnWrite ? Syscall::kWrite : Syscall::kRead));
    return ReadOutcome::kFailed;
  }
  TlsFailure failure = TakeTlsFailure("TLS read failed");
  AddLibraryError(batch, connection.id,
                  handshakeDone_ ? TlsErrorWhen::kAfterHandshakeLeftOpen : TlsErrorWhen::kDuringHandshake, failure);
  if (handshakeDone_) {
    // After the handshake node's TLSSocket emits the error and stays open
    // (_tls_wrap.js onerror: _emitTLSError): the peer that sent a fatal
    // alert closes, and that FIN is the socket's 'end'. What OpenSSL wrote
    // of its own (its alert for a bad record) goes with the next flush.
    broken_ = true;
    flushWanted_ = true;
    connection.readable = true;  // read on, to the peer's end
    return ReadBroken(connection, batch);
  }
  connection.failed = true;
  // A server's failed handshake: its alert waits for JS (SendHeldAlert).
  if (!context_->client() && !transport_.overflow.empty()) alertHeldForClose_ = true;
  // OpenSSL stops at the first bad record, where node's libuv had read all
  // the peer sent (64 KiB a read): drop the rest, so that the close that
  // follows is a FIN after the alert, as node's, not a reset that can
  // overtake the alert at the peer.
  sys::DiscardQueued(transport_.fd, kDiscardOnFailure);
  return ReadOutcome::kFailed;
}

namespace {

// The rules that hold for the length of one Read() and no longer:
//  - the short-read rule (Transport::stopAtShortRead): BIO reads made by any
//    other call (a forward's ReadPlain, SSL_shutdown) always ask the kernel,
//    so a kernelEmpty left from an earlier Read() can never stand in for a
//    recv();
//  - the hangup rule (Transport::hangup, the connection's own, null outside
//    Read()): a forward reads a hangup its own way;
//  - dropping OpenSSL's own writes to a gone peer
//    (Transport::dropWritesToGonePeer): JS's writes, sent outside Read(),
//    fail with the errno.
class ReadCallRules {
 public:
  ReadCallRules(TlsSession::Transport& transport, bool shortReadDrains, HangupReading& hangup)
      : transport_(transport) {
    transport_.stopAtShortRead = shortReadDrains;
    transport_.kernelEmpty = false;
    transport_.hangup = hangup.seen ? &hangup : nullptr;
    transport_.dropWritesToGonePeer = true;
  }
  ~ReadCallRules() {
    transport_.stopAtShortRead = transport_.kernelEmpty = false;
    transport_.hangup = nullptr;
    transport_.dropWritesToGonePeer = false;
  }
  ReadCallRules(const ReadCallRules&) = delete;
  ReadCallRules& operator=(const ReadCallRules&) = delete;

 private:
  TlsSession::Transport& transport_;
};

}  // namespace

// Reads may make OpenSSL write (alerts, key updates); a read ends by trying
// the overflow once more, so that bytes left there were just refused by the
// socket (Transport::overflow's invariant).
class TlsSession::OverflowSettle {
 public:
  OverflowSettle(TlsSession& session, Connection& connection) : session_(session), connection_(connection) {}
  ~OverflowSettle() {
    if (session_.transport_.overflow.empty() || session_.alertHeldForClose_) return;
    int error = 0;
    // A failure is the socket's, and the next write or flush meets it again.
    session_.SendOverflow(connection_, &error);
  }
  OverflowSettle(const OverflowSettle&) = delete;
  OverflowSettle& operator=(const OverflowSettle&) = delete;

 private:
  TlsSession& session_;
  Connection& connection_;
};

ReadOutcome TlsSession::ReadBroken(Connection& connection, Batch& batch) {
  // Bounded per turn, as a plain read's budget: a peer that goes on sending
  // is read again next turn (kBudgetSpent keeps the connection ready).
  char dropped[16 * 1024];
  for (int reads = 0; reads < 64; ++reads) {
    // After a read that emptied the queue at a hangup, the end, as the BIO
    // and Connection::Read take it (HangupReading).
    ssize_t n = connection.hangup.emptied ? 0 : sys::Receive(connection.fd, dropped, sizeof dropped);
    if (n > 0 && !connection.hangup.TookLast(connection.fd)) continue;
    if (n >= 0 || connection.hangup.ErrorIsEnd(n)) {
      connection.readable = false;
      connection.ended = true;
      batch.Add(EventKind::kEnd, connection.id);
      return ReadOutcome::kEnded;
    }
    if (connection.hangup.AgainIsRetry(n)) return ReadOutcome::kBudgetSpent;
    connection.readable = false;
    if (n == -EAGAIN) {
      connection.urgentMark = false;  // past any mark, as Connection::Read
      return ReadOutcome::kDrained;
    }
    connection.failed = true;
    batch.Add(EventKind::kError, connection.id, static_cast<double>(-n), static_cast<double>(Syscall::kRead));
    return ReadOutcome::kFailed;
  }
  return ReadOutcome::kBudgetSpent;
}

PlainStatus TlsSession::FlushOverflowForJs(Connection& connection, Batch& batch) {
  PlainStatus flushed = FlushOverflow(connection);
  if (flushed == PlainStatus::kFailed) {
    connection.failed = true;
    batch.Add(EventKind::kError, connection.id, static_cast<double>(failure_.error),
              static_cast<double>(Syscall::kWrite));
  }
  return flushed;
}

void TlsSession::FlushBroken(Connection& connection, Batch& batch) {
  // Nothing more is held for the cache; a verdict hold stays (node judges
  // the client before it reads what broke the session), and JS's verdict or
  // destroy() ends it.
  SessionStored();
  if (FlushOverflowForJs(connection, batch) != PlainStatus::kDone) return;
  // Every write queued completes, unsent: node's TLSWrap had encrypted each
  // as it was made, before JS heard of the failure, and the peer, past a
  // fatal alert, drops them. (The record of one that the overflow held went
  // with it.)
  connection.bytesWritten += connection.unsentBytes;
  connection.DropWrites(batch);
  ReportWritten(connection, batch);
  // A bare FIN at end(), as node's: its SSL_shutdown sends nothing after the
  // error (EndWrites sends no close_notify once broken_).
  if (connection.shutdownRequested && !connection.shutdownDone) EndWritesForJs(connection, batch);
}

ReadOutcome TlsSession::Read(Connection& connection, ReadArena& arena, Batch& batch, size_t budget,
                             uint64_t room, bool shortReadDrains) {
  if (broken_) return ReadBroken(connection, batch);
  if (int error = EndHoldForGonePeer(connection)) {
    connection.readable = false;
    connection.failed = true;
    batch.Add(EventKind::kError, connection.id, static_cast<double>(error), static_cast<double>(Syscall::kRead));
    return ReadOutcome::kFailed;
  }
  if (readWantsWrite && (connection.waitingWritable || outputHeld())) return ReadOutcome::kDrained;
  readWantsWrite = false;
  // As the plain path: a short read ends the drain, except with the peer's
  // FIN or an urgent mark behind it (Connection::Read).
  ReadCallRules rules(transport_, shortReadDrains && !connection.peerClosing && !connection.urgentMark,
                      connection.hangup);
  OverflowSettle settle(*this, connection);
  SessionReports sessions(*this, connection, batch);
  if (OverflowFull(connection)) return ReadOutcome::kDrained;
  if (awaitingJs()) {
    // Nothing is read until JS answers. A client that hangs up meanwhile
    // can no longer finish the handshake: it fails now, as at a FIN. So does
    // a socket error, which level triggering would otherwise report every
    // turn (EPOLLERR is always watched).
    // Not at a FIN while a TLS 1.2 PSK identity waits: the client's whole
    // flight may be queued behind it, as node would read it.
    bool finFails = connection.peerClosing && !awaitingPskAtKeyExchange();
    int error = finFails ? 0 : -sys::PendingSocketError(transport_.fd);
    if (!finFails && error <= 0) return ReadOutcome::kDrained;
    // A late answer changes nothing.
    if (awaitingServername()) servername_ = ServernameState::kFailed;
    if (awaitingAlpn()) alpn_ = AlpnState::kFailed;
    if (awaitingResume()) resume_ = ResumeState::kFailed;
    if (awaitingPsk()) psk_ = PskState::kFailed;
    connection.readable = false;
    connection.failed = true;
    if (error > 0) {
      batch.Add(EventKind::kError, connection.id, static_cast<double>(error), static_cast<double>(Syscall::kRead));
    } else {
      batch.Add(EventKind::kTlsError, connection.id, 1, 0, static_cast<double>(TlsErrorKind::kPeerClosed));
    }
    return ReadOutcome::kFailed;
  }
  if (!handshakeDone_) {
    ReadOutcome outcome = ReadOutcome::kDrained;
    if (!Handshake(connection, batch, &outcome)) return outcome;
  }
  if (writeWantsRead_) {
    writeWantsRead_ = false;
    flushWanted_ = true;
  }
  // Paused by JS during the handshake: no plaintext now. `readable` stays
  // set, so resume() brings the connection back (OpenSSL may hold some).
  if (!connection.wantsData) return ReadOutcome::kDrained;
  uint64_t taken = 0;
  while (budget > 0) {
    if (taken >= room) return ReadOutcome::kStopped;
    size_t capacity = 0;
    char* space = arena.Space(batch, &capacity);
    if (space == nullptr) {
      connection.failed = true;
      batch.Add(EventKind::kError, connection.id, ENOMEM, static_cast<double>(Syscall::kRead));
      return ReadOutcome::kFailed;
    }
    size_t wanted = std::min(capacity, budget);
    if (OverflowFull(connection)) return ReadOutcome::kDrained;
    BeginCall();
    size_t received = 0;
    int result = SSL_read_ex(ssl_, space, wanted, &received);
    // Asked first: the report below must not put errors in its queue.
    int error = result == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, result);
    // Tickets this read took come before its data, end or error, as node
    // emits 'session' from inside SSL_read: a client that destroys the
    // socket on 'data' or 'end' has heard of them. Their bytes count as
    // read, so a server that interleaves tickets and data meets the cap.
    if (!newSessions_.empty()) {
      uint64_t reportedBefore = reportedBytes_;
      ReportNewSessions(connection, batch);
      taken += reportedBytes_ - reportedBefore;
    }
    if (result == 1) {
      size_t chunkIndex = batch.chunks.size();
      size_t offset = arena.Commit(received);
      batch.AddData(connection.id, chunkIndex, offset, received);
      taken += received;
      connection.bytesRead += received;
      budget -= received;
      continue;
    }
    return ReadFailed(connection, batch, error);
  }
  return ReadOutcome::kBudgetSpent;
}

const char* TlsSession::NextPlaintext(const Connection& connection, size_t* length) const {
  const WriteChunk& head = connection.writeQueue.front();
  size_t headLeft = head.length - connection.headOffset;
  if (headLeft >= recordBytes_ || connection.writeQueue.size() == 1) {
    *length = headLeft;
    return head.data + connection.headOffset;
  }
  // Only the reactor thread that owns the connection writes it, and the
  // bytes are in the record before SSL_write_ex returns.
  thread_local std::string coalesced;
  coalesced.clear();
  size_t offset = connection.headOffset;
  for (const WriteChunk& chunk : connection.writeQueue) {
    // A large chunk behind the small ones goes in a write of its own rather
    // than being copied record by record.
    if (offset == 0 && !coalesced.empty() && chunk.length >= recordBytes_) break;
    size_t take = std::min(chunk.length - offset, recordBytes_ - coalesced.size());
    coalesced.append(chunk.data + offset, take);
    offset = 0;
    if (coalesced.size() == recordBytes_) break;
  }
  *length = coalesced.size();
  return coalesced.data();
}

void TlsSession::Flush(Connection& connection, Batch& batch) {
  if (connection.failed) return;
  if (broken_) {
    FlushBroken(connection, batch);
    return;
  }
  // A connection JS is ending is not held for the cache: its last bytes and
  // its end must not wait on a callback that may never come. (JS's verdict
  // comes by itself: lib/tls.ts gives it before an end() where node's would
  // send the Finished, and a destroy() drops it.)
  if (connection.shutdownRequested) SessionStored();
  // SSL_write finishes a ticket a read left half-read (OpenSSL runs the
  // handshake state machine from SSL_write while it is in init).
  SessionReports sessions(*this, connection, batch);
  // What the BIO holds goes first, the handshake's own messages included.
  PlainStatus flushed = FlushOverflowForJs(connection, batch);
  if (flushed == PlainStatus::kFailed) return;
  // Nothing of ours before the handshake; a client's nothing before the verdict.
  if (flushed == PlainStatus::kWouldBlock || !handshakeDone_ || !writesAllowed_) return;
  while (!connection.writeQueue.empty() && !connection.failed) {
    WriteChunk& first = connection.writeQueue.front();
    if (first.length == connection.headOffset) {
      // Nothing left of it (an empty chunk; none is queued today): release
      // it here, since the accounting below pops only for bytes written.
      connection.headOffset = 0;
      if (first.pin != 0) batch.unpinned.push_back(first.pin);
      batch.ReturnBuffer(first.pool, std::move(first.owned));
      connection.writeQueue.pop_front();
      continue;
    }
    size_t length = 0;
    const char* plaintext = NextPlaintext(connection, &length);
    PlainResult result = WritePlain(connection, plaintext, length);
    if (result.status == PlainStatus::kDone) {
      size_t written = result.bytes;
      connection.bytesWritten += written;
      connection.unsentBytes -= written;
      // `written` may span several chunks (coalesced) or part of one.
      while (written > 0) {
        WriteChunk& head = connection.writeQueue.front();
        size_t take = std::min(written, head.length - connection.headOffset);
        connection.headOffset += take;
        written -= take;
        if (connection.headOffset == head.length) {
          connection.headOffset = 0;
          if (head.pin != 0) batch.unpinned.push_back(head.pin);
          batch.ReturnBuffer(head.pool, std::move(head.owned));
          connection.writeQueue.pop_front();
        }
      }
      // The socket is full (the rest of the records wait in the overflow).
      if (!transport_.overflow.empty()) break;
      continue;
    }
    if (result.status == PlainStatus::kFailed) {
      connection.failed = true;
      if (failure_.error != 0) {
        batch.Add(EventKind::kError, connection.id, static_cast<double>(failure_.error),
                  static_cast<double>(Syscall::kWrite));
      } else {
        AddLibraryError(batch, connection.id, TlsErrorWhen::kAfterHandshake, failure_.tls);
      }
    }
    break;  // kWouldBlock: WritePlain set what it waits for
  }
  ReportWritten(connection, batch);
  if (connection.writeQueue.empty() && connection.shutdownRequested && !connection.shutdownDone &&
      !connection.failed && !connection.waitingWritable) {
    EndWritesForJs(connection, batch);
  }
}

void TlsSession::EndWritesForJs(Connection& connection, Batch& batch) {
  PlainStatus ended = EndWrites(connection);
  if (ended == PlainStatus::kWouldBlock) return;  // EndWrites set what it waits for
  connection.shutdownDone = true;
  if (ended == PlainStatus::kFailed) {
    connection.failed = true;
    batch.Add(EventKind::kError, connection.id, static_cast<double>(failure_.error),
              static_cast<double>(Syscall::kShutdown));
  } else {
    batch.Add(EventKind::kShutdown, connection.id);
  }
}

void TlsSession::BeginCall() {
  // SSL_get_error() reads the queue, so it must start empty. Every path that
  // leaves an error clears it, so it almost always is: peeking compares the
  // queue's two ends, clearing rewrites all 16 slots (about 1 % of an HTTPS
  // server's samples, bench/https-addon-ab.sh).
  if (ERR_peek_error() != 0) ERR_clear_error();
  transport_.wouldBlock = transport_.peerEnded = transport_.errorOnWrite = false;
  transport_.error = 0;
}

void TlsSession::RecordFailure(const char* fallback) {
  failure_ = TlsIoFailure();
  if (transport_.error != 0) {
    ERR_clear_error();
    failure_.error = transport_.error;
  } else {
    failure_.tls = TakeTlsFailure(fallback);
  }
}

PlainResult TlsSession::ReadPlain(Connection& connection, char* into, size_t capacity) {
  if (int error = EndHoldForGonePeer(connection)) {
    connection.readable = false;
    failure_ = TlsIoFailure();
    failure_.error = error;
    return {PlainStatus::kFailed, 0};
  }
  if (readWantsWrite && (connection.waitingWritable || outputHeld())) return {PlainStatus::kWouldBlock, 0};
  readWantsWrite = false;
  OverflowSettle settle(*this, connection);
  if (OverflowFull(connection)) return {PlainStatus::kWouldBlock, 0};
  if (writeWantsRead_) {
    // This read is what a stalled write waited for: the forward retries it.
    writeWantsRead_ = false;
    flushWanted_ = true;
  }
  BeginCall();
  size_t received = 0;
  int result = SSL_read_ex(ssl_, into, capacity, &received);
  if (result == 1) return {PlainStatus::kDone, received};
  int error = SSL_get_error(ssl_, result);
  if (error == SSL_ERROR_WANT_READ) {
    if (!transport_.wouldBlock) return {PlainStatus::kAgain, 0};
    connection.readable = false;
    return {PlainStatus::kWouldBlock, 0};
  }
  if (error == SSL_ERROR_WANT_WRITE) {
    // `readable` stays set: EPOLLOUT clears waitingWritable and the next
    // pump reads again.
    readWantsWrite = true;
    connection.waitingWritable = true;
    return {PlainStatus::kWouldBlock, 0};
  }
  connection.readable = false;
  bool closed = ClosedByPeer(error);
  if (closed || transport_.peerEnded) EndHoldForPeersEnd();
  if (closed) {
    ERR_clear_error();
    return {PlainStatus::kEnded, 0};
  }
  if (transport_.peerEnded) {
    ERR_clear_error();
    // A FIN with part of a record still buffered: bytes were cut off, which
    // the other side must not take for a clean end.
    if (SSL_has_pending(ssl_)) {
      failure_ = TlsIoFailure();
      failure_.error = ECONNRESET;
      return {PlainStatus::kFailed, 0};
    }
    // A FIN between records and no close_notify: an end, but not a clean
    // one, so the other side gets a FIN and no close_notify.
    return {PlainStatus::kEndedUnclean, 0};
  }
  RecordFailure("TLS read failed");
  return {PlainStatus::kFailed, 0};
}

PlainResult TlsSession::WritePlain(Connection& connection, const char* from, size_t length) {
  writeWantsRead_ = false;  // set again below if this call, too, must read first
  if (writesEnded_ || closeNotifyQueued_ || !writesAllowed_) {
    // As a send after shutdown(SHUT_WR) on a plain socket.
    failure_ = TlsIoFailure();
    failure_.error = EPIPE;
    return {PlainStatus::kFailed, 0};
  }
  PlainStatus flushed = FlushOverflow(connection);
  if (flushed != PlainStatus::kDone) return {flushed, 0};
  BeginCall();
  size_t written = 0;
  // One record per call: partial writes stop SSL_write_ex after each one.
  // (OpenSSL's multiblock path, TLS 1.2 AES-CBC-SHA with AES-NI, starts at
  // four records' worth; at most recordBytes_, one record, never gets there.)
  int result = SSL_write_ex(ssl_, from, std::min(length, recordBytes_), &written);
  if (result == 1) {
    // Taken whole; what the socket did not take (a send just came back
    // short) waits for EPOLLOUT, and the next write waits for it. The
    // overflow was empty before this call, so what it holds now is this
    // record alone, whose plaintext is not written yet (ReportWritten).
    heldPlaintext_ = transport_.overflow.empty() ? 0 : written;
    if (!transport_.overflow.empty()) connection.waitingWritable = true;
    return {PlainStatus::kDone, written};
  }
  int error = SSL_get_error(ssl_, result);
  if (error == SSL_ERROR_WANT_WRITE) {
    connection.waitingWritable = true;
    return {PlainStatus::kWouldBlock, 0};
  }
  if (error == SSL_ERROR_WANT_READ) {
    // The next ReadPlain on this side sets flushWanted_, which makes the
    // forward pump again.
    writeWantsRead_ = true;
    return {PlainStatus::kWouldBlock, 0};
  }
  RecordFailure("TLS write failed");
  return {PlainStatus::kFailed, 0};
}

PlainStatus TlsSession::EndWrites(Connection& connection, bool closeNotify) {
  if (writesEnded_) return PlainStatus::kDone;
  SessionStored();  // as in Flush: an end is not held for the cache
  // A client whose server was not accepted says nothing more to it; nor
  // does a session that failed (OpenSSL: no SSL_shutdown after a fatal error).
  if (!writesAllowed_ || broken_) closeNotify = false;
  // close_notify first, as node's end() does. It goes to the socket or the
  // overflow; any failure to make it still ends with the FIN.
  if (closeNotify && !closeNotifyQueued_) {
    closeNotifyQueued_ = true;
    BeginCall();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  // The FIN goes after every byte the BIO holds.
  PlainStatus flushed = FlushOverflow(connection);
  if (flushed == PlainStatus::kWouldBlock) return PlainStatus::kWouldBlock;
  writesEnded_ = transport_.writesEnded = true;
  if (flushed == PlainStatus::kFailed) {
    // The socket failed (failure_ says how); its FIN is still tried, and
    // its error is the one reported.
    sys::ShutdownWrite(connection.fd);
    return PlainStatus::kFailed;
  }
  int shut = sys::ShutdownWrite(connection.fd);
  // ENOTCONN: the peer already reset the connection; net ignores it too.
  if (shut < 0 && shut != -ENOTCONN) {
    failure_ = TlsIoFailure();
    failure_.error = -shut;
    return PlainStatus::kFailed;
  }
  return PlainStatus::kDone;
}

PlainStatus TlsSession::FlushOverflow(Connection& connection) {
  // Held, even when empty: a record written now must wait with the rest.
  if (outputHeld()) return PlainStatus::kWouldBlock;
  if (transport_.overflow.empty()) return PlainStatus::kDone;
  int error = 0;
  PlainStatus status = SendOverflow(connection, &error);
  if (status == PlainStatus::kFailed) {
    failure_ = TlsIoFailure();
    failure_.error = error;
  }
  return status;
}

int TlsSession::EndHoldForGonePeer(const Connection& connection) {
  // Only while reads wait for room: otherwise the read itself meets the end.
  if (!awaitingSessionStored_ || !readWantsWrite) return 0;
  int error = connection.peerClosing ? 0 : -sys::PendingSocketError(transport_.fd);
  if (!connection.peerClosing && error <= 0) return 0;
  EndHoldForPeersEnd();
  return error > 0 ? error : 0;
}

void TlsSession::EndHoldForPeersEnd() {
  if (SessionStored()) flushWanted_ = true;
}

bool TlsSession::SessionStored() {
  if (!awaitingSessionStored_) return false;
  awaitingSessionStored_ = false;
  return OutputFreed();
}

bool TlsSession::VerdictGiven() {
  if (!awaitingVerdict_) return false;
  awaitingVerdict_ = false;
  return OutputFreed();
}

bool TlsSession::OutputFreed() {
  transport_.buffers = outputHeld();
  return !outputHeld();
}

void TlsSession::SendHeldAlert(Connection& connection) {
  if (!alertHeldForClose_) return;
  alertHeldForClose_ = false;
  int error = 0;
  SendOverflow(connection, &error);  // what the socket does not take now is dropped with it
}

// Sends what the overflow holds unsent, from its front. 0 once all of it is
// sent; -EAGAIN when the socket refused bytes (a short send too: the kernel
// then owes an EPOLLOUT edge); else the send's -errno. The one send loop of
// the overflow: SendBeforeRead and SendOverflow differ only in what they
// make of the result.
ssize_t TlsSession::Transport::SendUnsent() {
  while (overflowSent < overflow.size()) {
    iovec chunk{&overflow[overflowSent], overflow.size() - overflowSent};
    ssize_t n = sys::SendVector(fd, &chunk, 1);
    if (n < 0) return n;
    overflowSent += static_cast<size_t>(n);
    if (overflowSent < overflow.size()) return -EAGAIN;
  }
  return 0;
}

PlainStatus TlsSession::SendOverflow(Connection& connection, int* error) {
  // Held for JS's 'newSession' callback or verdict: no send tried now, so no
  // edge is awaited and waitingWritable stays as it is; the caller of
  // SessionStored or VerdictGiven flushes.
  if (outputHeld()) return PlainStatus::kWouldBlock;
  ssize_t n = transport_.SendUnsent();
  if (n == -EAGAIN) {
    // Refused (EAGAIN or a short send): the kernel owes an EPOLLOUT edge.
    connection.waitingWritable = true;
    return PlainStatus::kWouldBlock;
  }
  if (n < 0) {
    *error = static_cast<int>(-n);
    return PlainStatus::kFailed;
  }
  std::string().swap(transport_.overflow);  // free it: an idle connection holds none
  transport_.overflowSent = 0;
  heldPlaintext_ = 0;
  // Writes reported only once their records left may be reported now, and
  // writes JS queued meanwhile sent (Apply left them to the EPOLLOUT that
  // this send made moot): whoever emptied it, the connection is flushed.
  flushWanted_ = true;
  // Nothing waits for room now. Only the overflow makes a TLS connection
  // wait for EPOLLOUT, so a flag left set would wait for an edge that a
  // socket with room never raises.
  connection.waitingWritable = false;
  return PlainStatus::kDone;
}

void TlsSession::ReportWritten(Connection& connection, Batch& batch, bool again, bool attempted) {
  // Plaintext whose record the socket has not taken whole is not written
  // yet: a write callback that destroy()s must not lose its last record.
  uint64_t total = connection.bytesWritten - heldPlaintext_;
  if (total == reportedWritten_ && !again && !attempted) return;
  reportedWritten_ = total;
  connection.ReportWrittenUpTo(batch, total, attempted);
}

bool TlsSession::OverflowFull(Connection& connection) {
  // The whole buffer, sent part included: it is freed only once empty, so a
  // peer reading slowly while it asks for answers could grow it otherwise.
  if (transport_.overflow.size() <= kOverflowReadLimit) return false;
  // A failed socket: the read goes on to meet the failure itself.
  if (FlushOverflow(connection) != PlainStatus::kWouldBlock) return false;
  // Held, and the peer's end was already reported (its edge came while this
  // read went on, so none will come again): the end lets the hold go now,
  // as EndHoldForGonePeer would on the next read, which nothing would start.
  if (awaitingSessionStored_ && connection.peerClosing) {
    EndHoldForPeersEnd();
    if (FlushOverflow(connection) != PlainStatus::kWouldBlock) return false;
  }
  // A peer that sends but never reads, while its records make OpenSSL
  // answer (key updates), would grow the overflow without bound: reading
  // stops until EPOLLOUT, as a plain read stops for a full destination.
  // `readable` stays set; the loop reads again on EPOLLOUT (readWantsWrite),
  // or, when the overflow is held, once SessionStored or VerdictGiven lets it go.
  readWantsWrite = true;
  return true;
}

}  // namespace reactor
