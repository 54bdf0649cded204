// A TLS configuration: one SSL_CTX built from PEM keys and certificates,
// shared by every connection a listener accepts (a server context) or by the
// outbound connections made with it (a client context, `client` set).
//
// The OpenSSL used is the one inside the node binary (docs/tls.md): the addon
// is compiled against the OpenSSL headers that ship with Node's headers and
// links no libssl of its own; its OpenSSL symbols resolve against the node
// executable when the addon is loaded. TlsAvailable() says whether they did.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct x509_st X509;

namespace reactor {

// Whether every OpenSSL function the addon calls is exported by the running
// node. Checked once; TLS must not be used when false (their addresses are null).
bool TlsAvailable();
// Whether OpenSSL's record trace (SSL_trace, node's enableTrace) is there
// too: not in every OpenSSL build, so not part of TlsAvailable().
bool TlsTraceAvailable();

// The OpenSSL version the running node carries, e.g. "OpenSSL 3.0.19 27 Jan 2026",
// or "" when TlsAvailable() is false.
std::string TlsLibraryVersion();

// Whether servers bind each session to the SNI name it was made under, as
// node's own server does on some releases (Node 22.23 and 24.22, not 20.20
// or 26.12; lib/session-binding.ts finds out which): a session resumes only
// under the same name (the id context is SHA-256 of the accepting context's
// id, a 0 byte and the name), and the name is acknowledged and kept in the
// session. Process-wide, as it is a property of the running node, and read
// by each server connection once, when it is accepted. Set from JS: a
// guess (`probed` false) counts only while nothing was set, so that a
// Worker's guess never undoes the answer node's server gave another thread.
void SetSessionsBoundToServername(bool bound, bool probed);
bool SessionsBoundToServername();

struct TlsKey {
  std::string pem;
  std::string passphrase;
  bool hasPassphrase = false;
};

// A PKCS#12 bundle (node's `pfx`): DER bytes holding a key, its certificate
// and, optionally, the chain.
struct TlsPfx {
  std::string der;
  std::string passphrase;
  bool hasPassphrase = false;
};

// What one client connection's handshake starts with (connect({ tls })).
struct TlsClientStart {
  std::string servername;  // sent as SNI unless empty
  std::string session;     // a session (DER, node's getSession()) offered for
                           // resumption, or empty; one OpenSSL cannot read is
                           // not offered, as node ignores it
  bool traces = false;     // its records are traced from the ClientHello (enableTrace)
  bool requestsOcsp = false;  // asks the server to staple an OCSP response (node's requestOCSP)
  bool logsKeys = false;   // reports its key log lines from the ClientHello ('keylog' listened for)
  uint64_t maxSendFragment = 0;  // plaintext bytes per record from the ClientHello on (setMaxSendFragment), 0: OpenSSL's
  bool asksPsk = false;    // has a pskCallback: JS is asked for the PSK (TlsSession::OnPskClient)
};

// What lib/tls.ts passes, already validated there (and by node:tls's own
// createSecureContext, which sees the same options first).
struct TlsContextOptions {
  // A client context (connect({ tls })): the handshake is started by us, the
  // server's certificate is always asked for and checked against `ca`, and
  // `alpn` is what we offer; the server-only fields below are ignored.
  bool client = false;
  std::vector<TlsKey> keys;
  std::vector<TlsPfx> pfx;          // applied after keys, certs and ca, as node's createSecureContext does
  std::vector<std::string> certs;  // each PEM: a leaf, then its chain
  std::vector<std::string> ca;     // PEM certificates trusted for the peer's certificate
  std::vector<std::string> crls;   // PEM revocation lists (node's crl): with any, the peer's whole
                                   // chain is checked against them, as node does
  std::string cipherList;          // TLSv1.2 and lower (SSL_CTX_set_cipher_list)
  std::string cipherSuites;        // TLSv1.3 (SSL_CTX_set_ciphersuites); empty: OpenSSL's, as node
  std::string ecdhCurve;           // node's ecdhCurve (SSL_CTX_set1_groups_list); empty: OpenSSL's ('auto')
  std::string sigalgs;             // node's sigalgs (SSL_CTX_set1_sigalgs_list); empty: OpenSSL's
  uint64_t secureOptions = 0;      // node's secureOptions: SSL_OP_* bits added to the ones set here
  std::string dhparam;             // node's dhparam: PEM Diffie-Hellman parameters for DHE ciphers; empty: none
  bool dhAuto = false;             // node's dhparam 'auto': OpenSSL's well-known parameters
  bool dhparamDecoded = false;     // read dhparam as Node 24 and later do (UseDhParameters)
  bool partialChain = false;       // node's allowPartialTrustChain: any trusted certificate ends a chain
  int32_t certCompression = -1;    // node's certificateCompression packed as node packs it: bits 0-7 the
                                   // count (0: none, compression off), then one OpenSSL algorithm id per
                                   // byte; -1: the running node has no such option (OpenSSL's default)
  int minVersion = 0;              // TLS1_2_VERSION etc.; 0: OpenSSL's lowest
  int maxVersion = 0;
  std::string alpn;                // wire format: length-prefixed names, server preference first
                                   // (a client's: offered in this order)
  bool requestCert = false;
  bool rejectUnauthorized = true;
  bool serverCipherPreference = true;  // node's honorCipherOrder, true by default for servers
  int sessionTimeout = -1;         // seconds a session stays resumable; -1: OpenSSL's default, as node
  std::string ticketKeys;          // node's 48 bytes (name, HMAC key, AES key), or empty: random keys
  std::string sessionIdContext;    // at most 32 bytes; lib/tls.ts gives node's default when not set
  // A context node made (tls.createSecureContext) that a server's SNI
  // choice answered with: read during Create, on the JS thread that owns
  // it, and not kept. Its certificate with key and chain, its trust store
  // (shared: with its CRLs and flags) and the CA names it asks clients for
  // are taken, as node's server takes them; keys, certs, pfx, ca and crls
  // are not given with it.
  SSL_CTX* nodeContext = nullptr;
  // A server whose connections report the SNI name a client sent and wait
  // for JS to choose a context for it (SNICallback, addContext): TlsSession's
  // server-name state. Can be turned on later (SetAsksServername).
  bool asksServername = false;
  // A server whose connections report the ALPN names a client offers and
  // wait for JS to choose one (node's ALPNCallback): TlsSession's ALPN state.
  bool asksAlpn = false;
  // A server whose connections report the PSK identities a client offers
  // and wait for JS's key (node's pskCallback): TlsSession's PSK state.
  // pskIdentityHint: what a TLS 1.2 server offers clients as the hint
  // (lib/tls.ts refuses one OpenSSL would not take, as node's socket does).
  bool asksPsk = false;
  std::string pskIdentityHint;
  // A server whose connections report a client's request for an OCSP
  // staple and wait for JS's answer (node's 'OCSPRequest'): asked with the
  // SNI question (TlsSession's server-name state). Can be turned on later.
  bool asksOcsp = false;
  // A server with an external session cache (node's 'newSession' and
  // 'resumeSession' listeners): TlsContext::kAsksNewSession and
  // kAsksResumeSession. Can be changed later (SetAsksSessions).
  uint8_t asksSessions = 0;
  // A server whose connections report their secrets as key log lines
  // (node's 'keylog'). Can be turned on later (SetLogsKeys).
  bool logsKeys = false;
  // A server whose connections write OpenSSL's trace to stderr from their
  // first record (node's enableTrace option; TlsSession::EnableTrace).
  bool traces = false;
};

// Session ticket keys in node's layout (tls.Server's ticketKeys): tickets
// are AES-128-CBC with HMAC-SHA256, as node's server makes them.
struct TicketKeys {
  unsigned char name[16];
  unsigned char hmac[16];
  unsigned char aes[16];
};

// Why building a context failed: OpenSSL's error text and its parts, so JS
// can build the same kind of error node:tls gives.
struct TlsFailure {
  std::string message;  // "error:0A00009C:SSL routines::http request"
  std::string library;  // "SSL routines"
  std::string reason;   // "http request"
};

// The DER encoding of `cert`, or empty when it cannot be encoded.
std::string CertificateDer(X509* cert);

// Takes OpenSSL's first queued error on this thread and clears the queue.
// `fallback` names the failure when OpenSSL queued none.
TlsFailure TakeTlsFailure(const char* fallback);

class TlsContext {
 public:
  // Builds the SSL_CTX; null and *failure filled on error. Any thread.
  static std::shared_ptr<TlsContext> Create(const TlsContextOptions& options, TlsFailure* failure);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* ctx() const { return ctx_; }
  bool client() const { return client_; }
  bool rejectUnauthorized() const { return rejectUnauthorized_; }
  bool requestCert() const { return requestCert_; }
  // The ALPN names offered, in wire format (read by the selection callback).
  const std::string& alpn() const { return alpn_; }
  // A copy of the session ticket keys (the ticket callback's, on the reactor
  // thread); SetTicketKeys replaces them from the JS thread (setTicketKeys()).
  TicketKeys ticketKeys() const;
  // `keys`: node's 48 bytes. False, and nothing changed, for any other size.
  bool SetTicketKeys(const std::string& keys);
  // Whether a server's connections ask JS for a context by SNI name. Read on
  // the reactor thread at each handshake; turned on from the JS thread when
  // a listening server gains its first addContext().
  bool asksServername() const { return asksServername_.load(std::memory_order_relaxed); }
  void SetAsksServername() { asksServername_.store(true, std::memory_order_relaxed); }
  bool asksAlpn() const { return asksAlpn_; }
  bool asksPsk() const { return asksPsk_; }
  // Whether a server's connections ask JS for an OCSP staple when a client
  // requests one: read as each is accepted (node decides per socket), set
  // from the JS thread as the server gains its first 'OCSPRequest' listener
  // and loses its last.
  bool asksOcsp() const { return asksOcsp_.load(std::memory_order_relaxed); }
  void SetAsksOcsp(bool asks) { asksOcsp_.store(asks, std::memory_order_relaxed); }
  // An external session cache on a server: its connections report each
  // session the handshake makes (node's 'newSession') and, when a client
  // offers a session id without a ticket, wait for JS to look the id up
  // (node's 'resumeSession'). Read by a connection when it is accepted
  // (either bit: node's enableSessionCallbacks) and again when the
  // ClientHello or a new session comes (which question JS is asked, as node
  // asks only when the event has listeners then); set from the JS thread as
  // listeners come and go.
  static constexpr uint8_t kAsksNewSession = 1;
  static constexpr uint8_t kAsksResumeSession = 2;
  uint8_t asksSessions() const { return asksSessions_.load(std::memory_order_relaxed); }
  void SetAsksSessions(uint8_t asks) { asksSessions_.store(asks, std::memory_order_relaxed); }
  // The id sessions are scoped to (options.sessionIdContext); a server's
  // connections bind it to their SNI name where they bind sessions
  // (TlsSession::bindsSessionsToServername).
  const std::string& sessionIdContext() const { return sessionIdContext_; }
  // node's getCertificate() and getIssuer() of a server context: the DER of
  // its certificate, and of the certificate that issued it (from its chain,
  // else its trust store), found when it was made, as node finds them;
  // empty when it has none.
  const std::string& certificateDer() const { return certificateDer_; }
  const std::string& issuerDer() const { return issuerDer_; }
  // Whether a server's connections report key log lines (a 'keylog'
  // listener): read on the reactor thread as each is accepted, turned on
  // from the JS thread.
  bool logsKeys() const { return logsKeys_.load(std::memory_order_relaxed); }
  void SetLogsKeys() { logsKeys_.store(true, std::memory_order_relaxed); }
  // About how much memory the context holds outside V8 (its certificates and
  // trust store), which the bridge reports to V8 so that garbage collection
  // runs for contexts JS lets go of (an SNICallback making one per handshake).
  size_t externalBytes() const { return externalBytes_; }
  // Whether a server's connections trace their records (options.traces).
  bool traces() const { return traces_; }

 private:
  TlsContext() = default;
  void FindCertificateAndIssuer();
  SSL_CTX* ctx_ = nullptr;  // owned: one reference, released in the destructor
  bool client_ = false;
  bool rejectUnauthorized_ = true;
  bool requestCert_ = false;
  std::string alpn_;
  mutable std::mutex ticketKeysMutex_;  // guards ticketKeys_: read on the reactor thread, set on the JS thread
  TicketKeys ticketKeys_{};
  std::atomic<bool> asksServername_{false};
  bool asksAlpn_ = false;  // fixed at Create
  bool asksPsk_ = false;   // fixed at Create
  std::atomic<bool> asksOcsp_{false};
  std::atomic<uint8_t> asksSessions_{0};
  std::string sessionIdContext_;
  std::string certificateDer_;  // FindCertificateAndIssuer, at Create
  std::string issuerDer_;
  std::atomic<bool> logsKeys_{false};
  bool traces_ = false;
  size_t externalBytes_ = 0;
};

}  // namespace reactor
