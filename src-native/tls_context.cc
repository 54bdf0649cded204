#include "tls_context.h"

#include <dlfcn.h>

#include <cstring>
#include <mutex>

#include "tls_node_context.h"
#include "tls_openssl.h"
#include "tls_session.h"

namespace reactor {

namespace {

// Bytes of certificate list a client may send in its handshake. OpenSSL's
// default, written out because it bounds the memory a handshake can take.
constexpr long kMaxCertListBytes = 100 * 1024;


int PassphraseCallback(char* buffer, int size, int, void* user) {
  const auto* key = static_cast<const TlsKey*>(user);
  if (!key->hasPassphrase) return -1;
  size_t length = key->passphrase.size();
  if (length > static_cast<size_t>(size)) return -1;
  std::memcpy(buffer, key->passphrase.data(), length);
  return static_cast<int>(length);
}

// The handshake continues whatever the verdict; the session reads it
// afterwards (SSL_get_verify_result), as node's server does, and closes an
// unauthorized connection when rejectUnauthorized is set.
int AcceptAnyPeer(int, X509_STORE_CTX*) { return 1; }

// For certificates and CRLs, which are never encrypted: a block that says
// it is fails to parse instead of reaching OpenSSL's default callback, which
// would prompt on the terminal and block (node passes the same refusal).
int NoPassword(char*, int, int, void*) { return -1; }

// Installed on every server context, so that a context chosen by SNI name
// before OpenSSL selects (TLS 1.2) still gives JS's choice.
int SelectAlpn(SSL* ssl, const unsigned char** out, unsigned char* outLength, const unsigned char* offered,
               unsigned int offeredLength, void* self) {
  TlsSession* session = TlsSession::Of(ssl);
  if (session != nullptr && session->acceptingContext().asksAlpn()) {
    return session->SelectChosenAlpn(out, outLength, offered, offeredLength);
  }
  const std::string& ours = static_cast<TlsContext*>(self)->alpn();
  if (ours.empty()) return SSL_TLSEXT_ERR_NOACK;  // as with no callback: no ALPN
  unsigned char* chosen = nullptr;
  unsigned char chosenLength = 0;
  // Server preference, as node: our list first.
  int status = SSL_select_next_proto(&chosen, &chosenLength,
                                     reinterpret_cast<const unsigned char*>(ours.data()),
                                     static_cast<unsigned int>(ours.size()), offered, offeredLength);
  if (status != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = chosen;
  *outLength = chosenLength;
  return SSL_TLSEXT_ERR_OK;
}

// Encrypts a new ticket or opens a presented one with options.ticketKeys,
// as node's server does (AES-128-CBC, HMAC-SHA256), so that servers given
// the same keys resume each other's sessions. 0 for a ticket under another
// key name: a full handshake, not an error. The keys are those of the
// context the connection was accepted with: a context chosen by SNI name
// (SSL_set_SSL_CTX) has none, and OpenSSL calls the accepting context's
// callback for every ticket.
int TicketKeyCallback(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                      int encrypt) {
  const TlsSession* session = TlsSession::Of(ssl);
  if (session == nullptr) return -1;
  const TicketKeys keys = session->acceptingContext().ticketKeys();
  if (encrypt) {
    std::memcpy(name, keys.name, sizeof keys.name);
    if (RAND_bytes(iv, 16) != 1) return -1;
  } else if (std::memcmp(name, keys.name, sizeof keys.name) != 0) {
    return 0;
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      // OSSL_PARAM only reads through the pointer; its type is not const.
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(keys.hmac), sizeof keys.hmac),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  int ready = encrypt ? EVP_EncryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, keys.aes, iv)
                      : EVP_DecryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, keys.aes, iv);
  return ready == 1 ? 1 : -1;
}

// A session the server made resumable, for the client connection's JS
// ('session', getSession()). 1: the connection took OpenSSL's reference.
int NewClientSession(SSL* ssl, SSL_SESSION* session) {
  TlsSession* owner = TlsSession::Of(ssl);
  return owner != nullptr && owner->OnNewSession(session) ? 1 : 0;
}

// A session a server's handshake made (TLS 1.2 at its end, each TLS 1.3
// ticket), for node's 'newSession'. 0: OpenSSL keeps its reference; the
// session is encoded before this returns.
int NewServerSession(SSL* ssl, SSL_SESSION* session) {
  if (TlsSession* owner = TlsSession::Of(ssl)) owner->OnNewServerSession(session);
  return 0;
}

// A server's lookup of the session id a ClientHello offered: the session
// JS gave for it ('resumeSession'), if any. *copy 0: OpenSSL takes the
// reference TakeResumedSession hands over.
SSL_SESSION* GetServerSession(SSL* ssl, const unsigned char* id, int idLength, int* copy) {
  *copy = 0;
  TlsSession* owner = TlsSession::Of(ssl);
  if (owner == nullptr || idLength < 0) return nullptr;
  return owner->TakeResumedSession(id, static_cast<size_t>(idLength));
}

// A client's status callback: the server's OCSP response, stapled or not,
// for JS ('OCSPResponse'). 1: the handshake goes on, as node's client lets
// it whatever the response says.
int OcspResponseRead(SSL* ssl, void*) {
  TlsSession* session = TlsSession::Of(ssl);
  if (session != nullptr) session->OnOcspResponse();
  return 1;
}

// A server's status callback, for a client that asked for a staple: the
// response JS gave ('OCSPRequest'), or none (SSL_TLSEXT_ERR_NOACK).
int OcspStapleWanted(SSL* ssl, void*) {
  TlsSession* session = TlsSession::Of(ssl);
  return session == nullptr ? SSL_TLSEXT_ERR_NOACK : session->StapleOcsp();
}

// OpenSSL's servername callback, on every server context: acknowledges
// the SNI name where the connection binds sessions to it, so that OpenSSL
// keeps it in the session (a resumed TLS 1.2 connection then reports it as
// its servername), as node's server does there; elsewhere it is not
// acknowledged, as node's is not.
int ServernameRead(SSL* ssl, int*, void*) {
  const TlsSession* session = TlsSession::Of(ssl);
  return session != nullptr && session->bindsSessionsToServername() ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_NOACK;
}

// OpenSSL's client-hello callback (every server context): the first point
// of every handshake, resumed ones included, where it can stop for JS.
int ClientHelloRead(SSL* ssl, int*, void*) {
  TlsSession* session = TlsSession::Of(ssl);
  return session == nullptr ? SSL_CLIENT_HELLO_SUCCESS : session->OnClientHello();
}

// OpenSSL's PSK lookup on a server that asks: the key JS gave for
// `identity` (TlsSession::OnPskIdentity), or 0 for none.
unsigned int PskIdentityRead(SSL* ssl, const char* identity, unsigned char* psk, unsigned int maxLength) {
  TlsSession* session = TlsSession::Of(ssl);
  return session == nullptr ? 0 : session->OnPskIdentity(identity, psk, maxLength);
}

// Called once the ClientHello is read, before the certificate is chosen:
// where a server that asks stops for JS's choice of context by SNI name.
int CertificateWanted(SSL* ssl, void*) {
  TlsSession* session = TlsSession::Of(ssl);
  return session == nullptr ? 1 : session->OnCertificateWanted();
}

void KeyLogLine(const SSL* ssl, const char* line) {
  if (TlsSession* session = TlsSession::Of(ssl)) session->OnKeyLogLine(line);
}

bool UseCertificates(SSL_CTX* ctx, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return false;
  X509* leaf = PEM_read_bio_X509_AUX(bio, nullptr, NoPassword, nullptr);
  bool ok = leaf != nullptr && SSL_CTX_use_certificate(ctx, leaf) == 1;
  X509_free(leaf);
  while (ok) {
    X509* next = PEM_read_bio_X509(bio, nullptr, NoPassword, nullptr);
    if (next == nullptr) {
      // The end of the PEM text leaves a "no start line" error queued.
      ERR_clear_error();
      break;
    }
    ok = SSL_CTX_add1_chain_cert(ctx, next) == 1;
    X509_free(next);
  }
  BIO_free(bio);
  return ok;
}

bool UsePrivateKey(SSL_CTX* ctx, const TlsKey& key) {
  BIO* bio = BIO_new_mem_buf(key.pem.data(), static_cast<int>(key.pem.size()));
  if (bio == nullptr) return false;
  EVP_PKEY* parsed = PEM_read_bio_PrivateKey(bio, nullptr, PassphraseCallback, const_cast<TlsKey*>(&key));
  BIO_free(bio);
  bool ok = parsed != nullptr && SSL_CTX_use_PrivateKey(ctx, parsed) == 1;
  EVP_PKEY_free(parsed);
  return ok;
}

// Loads a PKCS#12 bundle as node's SecureContext::LoadPKCS12 does: its
// certificate and key, and every extra certificate both as the chain sent
// (after any chain `cert` gave the same key type, as node) and as a trusted
// issuer (a server names them to clients as acceptable issuers too).
bool UsePkcs12(SSL_CTX* ctx, const TlsPfx& pfx, bool server) {
  BIO* bio = BIO_new_mem_buf(pfx.der.data(), static_cast<int>(pfx.der.size()));
  if (bio == nullptr) return false;
  PKCS12* bundle = d2i_PKCS12_bio(bio, nullptr);
  BIO_free(bio);
  if (bundle == nullptr) return false;
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* extra = nullptr;
  // No passphrase is NULL, as node passes none: OpenSSL then tries none and "".
  bool ok = PKCS12_parse(bundle, pfx.hasPassphrase ? pfx.passphrase.c_str() : nullptr, &key, &cert, &extra) == 1 &&
            cert != nullptr && key != nullptr;
  PKCS12_free(bundle);
  ok = ok && SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_clear_extra_chain_certs(ctx) == 1;
  for (int i = 0; ok && i < sk_X509_num(extra); ++i) ok = SSL_CTX_add1_chain_cert(ctx, sk_X509_value(extra, i)) == 1;
  ok = ok && SSL_CTX_use_PrivateKey(ctx, key) == 1;
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (int i = 0; ok && i < sk_X509_num(extra); ++i) {
    X509* issuer = sk_X509_value(extra, i);
    ok = X509_STORE_add_cert(store, issuer) == 1 && (!server || SSL_CTX_add_client_CA(ctx, issuer) == 1);
  }
  sk_X509_pop_free(extra, X509_free);
  X509_free(cert);
  EVP_PKEY_free(key);
  return ok;
}

// Adds the certificates of `pem` to the verification store; a server also
// names them to clients as acceptable issuers (SSL_CTX_add_client_CA).
bool TrustCertificates(SSL_CTX* ctx, const std::string& pem, bool server) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return false;
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  bool ok = true;
  while (ok) {
    X509* cert = PEM_read_bio_X509_AUX(bio, nullptr, NoPassword, nullptr);
    if (cert == nullptr) break;
    ok = X509_STORE_add_cert(store, cert) == 1 && (!server || SSL_CTX_add_client_CA(ctx, cert) == 1);
    X509_free(cert);
  }
  BIO_free(bio);
  // The end-of-text error. Text with no certificate in it trusts nothing
  // more and is no error, as in node's AddCACert (tls.connect with such a
  // `ca` fails verification, it does not throw).
  if (ok) ERR_clear_error();
  return ok;
}

// Adds the revocation list of `pem` to the verification store, as node's
// AddCRL: one list per text, and from then on every certificate of the
// peer's chain must be covered by a list of its issuer (CRL_CHECK_ALL).
bool AddRevocationList(SSL_CTX* ctx, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return false;
  X509_CRL* crl = PEM_read_bio_X509_CRL(bio, nullptr, NoPassword, nullptr);
  BIO_free(bio);
  if (crl == nullptr) return false;
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  bool ok = X509_STORE_add_crl(store, crl) == 1 &&
            X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL) == 1;
  X509_CRL_free(crl);
  return ok;
}

// The first "DH PARAMETERS" or "X9.42 DH PARAMETERS" block, as Node 20 and
// 22 read dhparam (PEM_read_bio_DHparams): other blocks are skipped, and
// when that block does not parse there are no parameters.
EVP_PKEY* FirstDhBlock(BIO* bio) {
  unsigned char* der = nullptr;
  long length = 0;
  char* name = nullptr;
  EVP_PKEY* parameters = nullptr;
  if (PEM_bytes_read_bio(&der, &length, &name, PEM_STRING_DHPARAMS, bio, NoPassword, nullptr) == 1) {
    const unsigned char* cursor = der;
    int type = std::strcmp(name, PEM_STRING_DHXPARAMS) == 0 ? EVP_PKEY_DHX : EVP_PKEY_DH;
    parameters = d2i_KeyParams(type, nullptr, &cursor, length);
  }
  OPENSSL_free(der);
  OPENSSL_free(name);
  return parameters;
}

// The first parameters block of any kind that decodes, which must be
// PKCS#3 DH, as Node 24 and later read dhparam (OpenSSL's decoders): blocks
// that do not decode are skipped, and EC, DSA or X9.42 parameters first
// mean none.
EVP_PKEY* FirstDecodedParameters(BIO* bio) {
  EVP_PKEY* parameters = PEM_read_bio_Parameters(bio, nullptr);
  if (parameters != nullptr && EVP_PKEY_get_base_id(parameters) != EVP_PKEY_DH) {
    EVP_PKEY_free(parameters);
    return nullptr;
  }
  return parameters;
}

// Diffie-Hellman parameters for the DHE ciphers, as node's SetDHParam: when
// there are none (see above), nothing is set and no error raised, and DHE is
// not offered. node's createSecureContext has already refused fewer than
// 1,024 bits in the same parameters.
bool UseDhParameters(SSL_CTX* ctx, const std::string& pem, bool decoded) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return false;
  EVP_PKEY* parameters = decoded ? FirstDecodedParameters(bio) : FirstDhBlock(bio);
  BIO_free(bio);
  if (parameters == nullptr) {
    ERR_clear_error();
    return true;
  }
  // On success the context owns the parameters; on failure (too weak for
  // the security level) OpenSSL's error says why.
  if (SSL_CTX_set0_tmp_dh_pkey(ctx, parameters) != 1) {
    EVP_PKEY_free(parameters);
    return false;
  }
  return true;
}

// Certificate compression (RFC 8879, node's certificateCompression) exists
// from OpenSSL 3.2. Its functions are looked up here, not listed in
// tls_symbols.h, so that reactor TLS stays available on a node with OpenSSL
// 3.0 (Node 20). OpenSSL offers, asks for and accepts compressed
// certificates unless told otherwise; on a node that has the option (24 and
// later) its contexts do none of that until it is given, so `packed` 0
// turns it off (a client still compresses its own certificate for a server
// that asks, as node's does). Given, as node: the algorithms in order of
// preference, then the certificates loaded so far compressed once (0 when
// nothing is saved: not an error).
bool UseCertificateCompression(SSL_CTX* ctx, uint32_t packed) {
  using SetPreference = int (*)(SSL_CTX*, int*, size_t);
  using CompressCertificates = int (*)(SSL_CTX*, int);
  static const auto setPreference =
      reinterpret_cast<SetPreference>(dlsym(RTLD_DEFAULT, "SSL_CTX_set1_cert_comp_preference"));
  static const auto compressCertificates =
      reinterpret_cast<CompressCertificates>(dlsym(RTLD_DEFAULT, "SSL_CTX_compress_certs"));
  size_t count = packed & 0xff;
  if (setPreference == nullptr || compressCertificates == nullptr) return count == 0;
  if (count > 3) return false;
  int algorithms[3] = {0, 0, 0};
  for (size_t i = 0; i < count; ++i) algorithms[i] = static_cast<int>((packed >> (8 * (i + 1))) & 0xff);
  // Turning it off fails where OpenSSL was built without any algorithm
  // (Node 22's): then there is nothing to turn off.
  if (setPreference(ctx, count == 0 ? nullptr : algorithms, count) != 1 && count > 0) return false;
  if (count > 0) compressCertificates(ctx, 0);
  ERR_clear_error();
  return true;
}

}  // namespace

bool TlsTraceAvailable() {
  static std::once_flag once;
  static bool available = false;
  std::call_once(once, [] {
    available = TlsAvailable();
#define REACTOR_TLS_PRESENT(name) \
  if (dlsym(RTLD_DEFAULT, #name) == nullptr) available = false;
    REACTOR_TLS_OPTIONAL_SYMBOLS(REACTOR_TLS_PRESENT)
#undef REACTOR_TLS_PRESENT
  });
  return available;
}

bool TlsAvailable() {
  static std::once_flag once;
  static bool available = false;
  std::call_once(once, [] {
    available = true;
#define REACTOR_TLS_PRESENT(name) \
  if (dlsym(RTLD_DEFAULT, #name) == nullptr) available = false;
    REACTOR_TLS_SYMBOLS(REACTOR_TLS_PRESENT)
#undef REACTOR_TLS_PRESENT
  });
  return available;
}

namespace {
// kNotSet, or kGuessed or kProbed with the answer in kBound.
constexpr int kNotSet = 0;
constexpr int kBound = 1;
constexpr int kGuessed = 2;
constexpr int kProbed = 4;
std::atomic<int> sessionBinding{kNotSet};
}  // namespace

void SetSessionsBoundToServername(bool bound, bool probed) {
  int value = (probed ? kProbed : kGuessed) | (bound ? kBound : 0);
  if (probed) {
    sessionBinding.store(value, std::memory_order_relaxed);
    return;
  }
  int expected = kNotSet;
  sessionBinding.compare_exchange_strong(expected, value, std::memory_order_relaxed);
}

bool SessionsBoundToServername() { return (sessionBinding.load(std::memory_order_relaxed) & kBound) != 0; }

std::string TlsLibraryVersion() {
  if (!TlsAvailable()) return "";
  return OpenSSL_version(OPENSSL_VERSION);
}

TlsFailure TakeTlsFailure(const char* fallback) {
  TlsFailure failure;
  unsigned long code = ERR_get_error();
  if (code == 0) {
    failure.message = fallback;
    failure.reason = fallback;
    return failure;
  }
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  failure.message = text;
  if (const char* library = ERR_lib_error_string(code)) failure.library = library;
  if (const char* reason = ERR_reason_error_string(code)) failure.reason = reason;
  ERR_clear_error();
  return failure;
}

std::shared_ptr<TlsContext> TlsContext::Create(const TlsContextOptions& options, TlsFailure* failure) {
  ERR_clear_error();
  std::shared_ptr<TlsContext> context(new TlsContext());
  context->ctx_ = SSL_CTX_new(options.client ? TLS_client_method() : TLS_server_method());
  if (context->ctx_ == nullptr) {
    *failure = TakeTlsFailure("SSL_CTX_new failed");
    return nullptr;
  }
  SSL_CTX* ctx = context->ctx_;
  context->client_ = options.client;
  context->rejectUnauthorized_ = options.rejectUnauthorized;
  context->requestCert_ = options.requestCert;
  context->alpn_ = options.alpn;
  if (options.asksServername) context->SetAsksServername();
  context->asksAlpn_ = options.asksAlpn && !options.client;
  context->asksPsk_ = options.asksPsk && !options.client;
  if (options.asksOcsp && !options.client) context->SetAsksOcsp(true);
  if (!options.client) context->SetAsksSessions(options.asksSessions);
  if (options.logsKeys) context->SetLogsKeys();
  context->traces_ = options.traces;
  context->sessionIdContext_ = options.sessionIdContext;
  // On every context, so that one chosen by SNI name (OpenSSL asks the
  // SSL's current one) logs too; the session decides whether anyone
  // listens. OpenSSL formats each secret's line only where it is set: about
  // five short lines per handshake.
  SSL_CTX_set_keylog_callback(ctx, KeyLogLine);
  // The context itself, plus its certificates parsed (of the order of their PEM text).
  context->externalBytes_ = 64 * 1024;
  for (const std::string& pem : options.ca) context->externalBytes_ += pem.size();
  for (const std::string& pem : options.certs) context->externalBytes_ += pem.size();
  // A parsed CRL keeps its DER and an entry per revoked certificate: about
  // three times its text.
  for (const std::string& pem : options.crls) context->externalBytes_ += 3 * pem.size();
  // No renegotiation (a client could make the server redo expensive
  // handshakes at will); node rate-limits it instead, we refuse it.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  if (options.serverCipherPreference && !options.client) SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  // As node's setOptions: the user's bits are added, never take ours away.
  // Not SSL_OP_IGNORE_UNEXPECTED_EOF: a FIN without close_notify stays an
  // unclean end (see TransportControl in tls_session.cc).
  uint64_t secureOptions = options.secureOptions & ~static_cast<uint64_t>(SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (secureOptions != 0) SSL_CTX_set_options(ctx, secureOptions);
  // Partial writes: SSL_write_ex reports each record the socket took, so
  // bytesWritten counts plaintext sent. Moving buffer: a retried write may
  // come from a pinned Buffer or a copy. Release buffers: an idle connection
  // holds no 34 KiB of record buffers.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // Read ahead: OpenSSL asks the BIO for as much as its buffer holds, not a
  // record header and then its body, so a request costs one recv(), not two.
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_max_cert_list(ctx, kMaxCertListBytes);
  // No server-side session cache: node's server keeps none of its own (it
  // only emits 'newSession'), and OpenSSL's default one holds up to 20,480
  // sessions, each with the client's certificate chain. Tickets still resume.
  // A client's sessions go to JS (TlsSession::OnNewSession), which keeps
  // them, as node's: OpenSSL's own client cache is not used.
  if (options.client) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE |
                                            SSL_SESS_CACHE_NO_AUTO_CLEAR);
    SSL_CTX_sess_set_new_cb(ctx, NewClientSession);
    // Called only for a connection that asked for a staple (requestsOcsp).
    SSL_CTX_set_tlsext_status_cb(ctx, OcspResponseRead);
  } else {
    // As node's: a server cache that OpenSSL never stores in nor looks up
    // in, so that a TLS 1.2 server gives its sessions ids and calls the
    // callbacks of an external cache ('newSession', 'resumeSession'). Each
    // resumption builds a session of its own, or decodes JS's copy for that
    // connection alone, never shared with another connection
    // (TlsServerSessions relies on it: tls_server_sessions.h).
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL |
                                            SSL_SESS_CACHE_NO_AUTO_CLEAR);
    SSL_CTX_sess_set_new_cb(ctx, NewServerSession);
    SSL_CTX_sess_set_get_cb(ctx, GetServerSession);
  }
  // Sessions are scoped to this id (node's default, or options.sessionIdContext):
  // only a context with the same id resumes them.
  bool ok = options.client ||
            SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char*>(options.sessionIdContext.data()),
                                           static_cast<unsigned int>(options.sessionIdContext.size())) == 1;
  ok = ok && SSL_CTX_set_min_proto_version(ctx, options.minVersion) == 1 &&
            SSL_CTX_set_max_proto_version(ctx, options.maxVersion) == 1;
  if (ok && !options.cipherList.empty()) ok = SSL_CTX_set_cipher_list(ctx, options.cipherList.c_str()) == 1;
  // As node: ciphers without TLSv1.3 names leave OpenSSL's TLSv1.3 suites.
  if (ok && !options.cipherSuites.empty()) ok = SSL_CTX_set_ciphersuites(ctx, options.cipherSuites.c_str()) == 1;
  if (ok && !options.ecdhCurve.empty()) ok = SSL_CTX_set1_groups_list(ctx, options.ecdhCurve.c_str()) == 1;
  if (ok && !options.sigalgs.empty()) ok = SSL_CTX_set1_sigalgs_list(ctx, options.sigalgs.c_str()) == 1;
  for (size_t i = 0; ok && i < options.certs.size(); ++i) ok = UseCertificates(ctx, options.certs[i]);
  for (size_t i = 0; ok && i < options.keys.size(); ++i) ok = UsePrivateKey(ctx, options.keys[i]);
  if (ok && !options.keys.empty() && !options.certs.empty()) ok = SSL_CTX_check_private_key(ctx) == 1;
  // A client's node context may offer compression of its own (below).
  int certCompression = options.certCompression;
  std::string nodeClientHello;
  if (ok && options.nodeContext != nullptr) {
    // Its store may be node's process-wide root store, which nothing here
    // may add to: a node context comes without keys or trust of its own.
    if (!options.keys.empty() || !options.certs.empty() || !options.pfx.empty() || !options.ca.empty() ||
        !options.crls.empty() || options.partialChain) {
      *failure = TlsFailure{"a context node made comes without keys, certificates or trust of its own", "", ""};
      return nullptr;
    }
    if (options.client ? !TakeNodeClientContext(ctx, options.nodeContext, &certCompression, &nodeClientHello)
                       : !TakeNodeServerContext(ctx, options.nodeContext)) {
      *failure = TakeTlsFailure(options.client ? "the secureContext's settings could not be taken"
                                               : "the SNI context has no certificate with its key");
      return nullptr;
    }
  }
  // After the key, as node (and so before pfx's certificates); left to
  // OpenSSL where node has no such option, as node leaves it.
  if (ok && certCompression >= 0) {
    ok = UseCertificateCompression(ctx, static_cast<uint32_t>(certCompression));
    if (!ok) {
      *failure = TakeTlsFailure("certificate compression is not available in this OpenSSL");
      return nullptr;
    }
  }
  for (size_t i = 0; ok && i < options.ca.size(); ++i) ok = TrustCertificates(ctx, options.ca[i], !options.client);
  for (size_t i = 0; ok && i < options.crls.size(); ++i) ok = AddRevocationList(ctx, options.crls[i]);
  // As node's setAllowPartialTrustChain.
  if (ok && options.partialChain) ok = X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx), X509_V_FLAG_PARTIAL_CHAIN) == 1;
  if (ok && options.dhAuto) ok = SSL_CTX_set_dh_auto(ctx, 1) == 1;
  if (ok && !options.dhparam.empty()) ok = UseDhParameters(ctx, options.dhparam, options.dhparamDecoded);
  for (size_t i = 0; ok && i < options.pfx.size(); ++i) ok = UsePkcs12(ctx, options.pfx[i], !options.client);
  if (!ok) {
    *failure = TakeTlsFailure("invalid TLS options");
    return nullptr;
  }
  if (options.client) {
    // As node's client: the handshake goes on whatever the verdict, and
    // lib/tls.ts reads it (SSL_get_verify_result) with the server's identity
    // once the handshake is done, failing the connection when rejectUnauthorized.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, AcceptAnyPeer);
  } else if (options.requestCert) {
    int mode = SSL_VERIFY_PEER | (options.rejectUnauthorized ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    SSL_CTX_set_verify(ctx, mode, AcceptAnyPeer);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!context->alpn_.empty() && options.client) {
    // The names a client offers; 0 is success here.
    if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(context->alpn_.data()),
                                static_cast<unsigned int>(context->alpn_.size())) != 0) {
      *failure = TakeTlsFailure("invalid ALPN protocols");
      return nullptr;
    }
  } else if (!options.client) {
    SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, context.get());
  }
  // As node: the lifetime is set only when given (OpenSSL's default otherwise).
  if (options.sessionTimeout >= 0) SSL_CTX_set_timeout(ctx, options.sessionTimeout);
  if (options.client && options.nodeContext != nullptr) {
    // What OpenSSL has no getter for (groups, signature algorithms,
    // certificate compression) is compared, not copied: a context whose
    // client would say something else is refused rather than used unlike
    // node would use it.
    std::string difference = ClientHelloDifference(ctx, nodeClientHello);
    if (!difference.empty()) {
      *failure = TlsFailure{difference, "", "ERR_EPOLL_REACTOR_TLS_UNSUPPORTED"};
      return nullptr;
    }
  }
  if (options.client) return context;  // ticket keys and SNI: node's server options only
  // Every server context has it, so a context chosen by name goes on too.
  SSL_CTX_set_cert_cb(ctx, CertificateWanted, nullptr);
  // On every server context, so that a context chosen by SNI name staples too.
  SSL_CTX_set_tlsext_status_cb(ctx, OcspStapleWanted);
  // On every server context: 'resumeSession' listeners may come later.
  SSL_CTX_set_client_hello_cb(ctx, ClientHelloRead, nullptr);
  SSL_CTX_set_tlsext_servername_callback(ctx, ServernameRead);
  if (context->asksPsk_) {
    SSL_CTX_set_psk_server_callback(ctx, PskIdentityRead);
    if (!options.pskIdentityHint.empty() &&
        SSL_CTX_use_psk_identity_hint(ctx, options.pskIdentityHint.c_str()) != 1) {
      *failure = TakeTlsFailure("cannot set the PSK identity hint");
      return nullptr;
    }
  }
  if (!options.ticketKeys.empty()) {
    // lib/tls.ts passes node's checked 48 bytes; anything else is refused.
    if (!context->SetTicketKeys(options.ticketKeys)) {
      *failure = TlsFailure{"ticket keys must be 48 bytes", "", ""};
      return nullptr;
    }
    if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, TicketKeyCallback) != 1) {
      *failure = TakeTlsFailure("cannot set the ticket keys");
      return nullptr;
    }
  }
  // Once, here: they never change, and 'OCSPRequest' is given them per handshake.
  context->FindCertificateAndIssuer();
  return context;
}

void TlsContext::FindCertificateAndIssuer() {
  std::string* issuer = &issuerDer_;
  X509* leaf = SSL_CTX_get0_certificate(ctx_);
  if (leaf == nullptr) return;
  certificateDer_ = CertificateDer(leaf);
  // As node's SSL_CTX_use_certificate_chain: the chain given with the
  // certificate first, then the trust store.
  STACK_OF(X509)* chain = nullptr;
  if (SSL_CTX_get0_chain_certs(ctx_, &chain) == 1 && chain != nullptr) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      X509* candidate = sk_X509_value(chain, i);
      if (X509_check_issued(candidate, leaf) == X509_V_OK) {
        *issuer = CertificateDer(candidate);
        ERR_clear_error();
        return;
      }
    }
  }
  X509_STORE_CTX* storeContext = X509_STORE_CTX_new();
  if (storeContext == nullptr) {
    ERR_clear_error();
    return;
  }
  X509* found = nullptr;
  if (X509_STORE_CTX_init(storeContext, SSL_CTX_get_cert_store(ctx_), nullptr, nullptr) == 1 &&
      X509_STORE_CTX_get1_issuer(&found, storeContext, leaf) == 1 && found != nullptr) {
    *issuer = CertificateDer(found);
    X509_free(found);
  }
  X509_STORE_CTX_free(storeContext);
  ERR_clear_error();
}

std::string CertificateDer(X509* cert) {
  unsigned char* der = nullptr;
  int length = i2d_X509(cert, &der);
  if (length <= 0) {
    ERR_clear_error();
    return std::string();
  }
  std::string bytes(reinterpret_cast<const char*>(der), static_cast<size_t>(length));
  OPENSSL_free(der);
  return bytes;
}

TicketKeys TlsContext::ticketKeys() const {
  std::lock_guard<std::mutex> lock(ticketKeysMutex_);
  return ticketKeys_;
}

bool TlsContext::SetTicketKeys(const std::string& keys) {
  if (keys.size() != sizeof(TicketKeys)) return false;
  std::lock_guard<std::mutex> lock(ticketKeysMutex_);
  std::memcpy(ticketKeys_.name, keys.data(), 16);
  std::memcpy(ticketKeys_.hmac, keys.data() + 16, 16);
  std::memcpy(ticketKeys_.aes, keys.data() + 32, 16);
  return true;
}

TlsContext::~TlsContext() {
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

}  // namespace reactor
