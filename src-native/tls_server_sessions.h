// The sessions server handshakes made, by connection id, for getSession() on
// the JS thread (node's server TLSSocket encodes its session when asked).
// Kept here rather than reported with every handshake: a session holds the
// connection's master or resumption secret, which should not sit in the JS
// heap (and in every heap snapshot) for each live connection, and most
// servers never ask.
//
// Threads: the reactor thread keeps and forgets; the JS thread encodes. Each
// entry is a reference this registry owns (SSL_get1_session), released by
// Forget (when the connection's TlsSession is freed) or by the destructor.
// Encoding on the JS thread while the reactor goes on using the SSL is safe
// because nothing the encoding reads is written once a server's handshake
// is done (OpenSSL's session-cache removal on a fatal alert, or on SSL_free
// without close_notify, sets only not_resumable, which i2d does not read,
// and Forget runs before SSL_free):
//  - TLS 1.3 tickets are all written before SSL_do_handshake returns 1 (only
//    the first changes the session in place; later ones copy it first), and
//    nothing calls SSL_new_session_ticket to send more later;
//  - the server contexts keep no session cache of their own (no internal
//    store or lookup, tls_context.cc), and a session resumed from JS's
//    external cache is decoded for that connection alone, so no session
//    object is shared with another connection's resumption;
//  - no renegotiation, post-handshake authentication or early data;
//  - KeyUpdate changes the SSL's traffic secrets, not the session.
// Change any of those and this must encode on the reactor thread instead.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

typedef struct ssl_session_st SSL_SESSION;

namespace reactor {

class TlsServerSessions {
 public:
  TlsServerSessions() = default;
  ~TlsServerSessions();
  TlsServerSessions(const TlsServerSessions&) = delete;
  TlsServerSessions& operator=(const TlsServerSessions&) = delete;

  // Reactor thread: takes `session` (a reference of its own) as connection
  // `id`'s, releasing any it replaces.
  void Keep(uint64_t id, SSL_SESSION* session);
  // Reactor thread: releases connection `id`'s session, if any.
  void Forget(uint64_t id);
  // JS thread: connection `id`'s session as DER into *der; false when it has none.
  bool Encode(uint64_t id, std::string* der) const;
  // Any thread: how many are kept (for stats()).
  size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<uint64_t, SSL_SESSION*> sessions_;  // guarded by mutex_
};

}  // namespace reactor
