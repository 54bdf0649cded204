// What JS asks about one TLS connection, answered on the reactor thread where
// its SSL lives (Loop::QueryTls). node's TLSSocket reads the same things off
// its SSL on the JS thread; ours has one owner, so JS asks and waits. Answers
// are the raw facts node builds its values from; lib/tls.ts shapes them as
// the running node does.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

typedef struct ssl_st SSL;

namespace reactor {

enum class TlsQueryKind : uint8_t {
  kCertificate = 0,     // this end's certificate (SSL_get_certificate): strings[0] its DER
  kPeerChain = 1,       // the peer's certificates as getPeerCertificate(true)
                        // links them: leaf first, each followed by its issuer
                        // (from what the peer sent, then the trust store);
                        // number 1 when the last one issued itself
  kEphemeralKey = 2,    // the key exchange's peer key: strings = [type, name,
                        // group]: type 'DH', 'ECDH' or '' (another kind),
                        // name the curve's, group the negotiated group's;
                        // number its bits. No strings when there was none
  kSharedSigalgs = 3,   // strings: the shared signature algorithms, named as node names them
  kTicket = 4,          // strings[0]: the current session's ticket, when it has one
  kExportKeyingMaterial = 5,  // bytes: `length` bytes of keying material (RFC 5705);
                              // on failure strings = OpenSSL's message, library, reason
};

// The most keying material one export makes. node takes any uint32, but a
// long TLS 1.2 export would hold the reactor thread (and every connection)
// for as long as it runs; keys are tens of bytes. lib/tls.ts refuses more.
constexpr size_t kMaxExportBytes = 64 * 1024;

struct TlsQuery {
  TlsQueryKind kind = TlsQueryKind::kCertificate;
  // kExportKeyingMaterial's arguments.
  size_t length = 0;
  std::string label;
  std::string context;
  bool useContext = false;
};

struct TlsAnswer {
  // Set once the reactor thread answered; false when the connection is gone
  // or has no TLS session.
  bool answered = false;
  std::vector<std::string> strings;
  double number = 0;
  // kExportKeyingMaterial's output, allocated without throwing: a length
  // the process cannot hold fails the call instead of aborting it.
  std::unique_ptr<unsigned char[]> bytes;
  size_t bytesLength = 0;
  bool failed = false;  // kExportKeyingMaterial: OpenSSL refused (strings say why)
};

// Reactor thread: answers `query` about `ssl` (a server's when `server`),
// leaving OpenSSL's error queue empty.
void AnswerTlsQuery(SSL* ssl, bool server, const TlsQuery& query, TlsAnswer* answer);

}  // namespace reactor
