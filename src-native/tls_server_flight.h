// A TLS 1.2 server's first flight, read by a PSK client before OpenSSL reads
// it (TlsSession::HoldForPskHint). OpenSSL asks a client for its PSK while it
// writes the ClientKeyExchange, in the same call that reads the server's
// ServerHelloDone, and its callback must answer at once; JS cannot answer on
// the reactor thread. So the handshake stops before the record that holds
// ServerHelloDone, and JS is asked with the hint the flight carried.
//
// This reads the plaintext handshake messages record by record, as they
// come: a message may span records (a long Certificate) and a record may
// hold several messages (BoringSSL packs its flight; OpenSSL does not). It
// keeps only the ServerHello's cipher and the ServerKeyExchange's hint. It
// also tells a TLS 1.3 HelloRetryRequest, after which OpenSSL writes a
// second ClientHello and asks for the PSK again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace reactor {

class ServerFlightReader {
 public:
  enum class Stop : uint8_t {
    kNone,
    kServerHelloDone,    // OpenSSL asks for the PSK once it has read this record
    kHelloRetryRequest,  // OpenSSL asks again for its second ClientHello
  };
  // Reads one handshake record's body: where OpenSSL, once it has read it,
  // will ask for the PSK.
  Stop Read(const unsigned char* body, size_t length);

  // From the ServerHello: its cipher suite's two bytes (hasCipher first).
  bool hasCipher() const { return hasCipher_; }
  const unsigned char* cipher() const { return cipher_; }
  // From a ServerKeyExchange, as OpenSSL keeps it (psk_identity_hint, RFC
  // 4279): none when it sent none or an empty one, the bytes up to a NUL
  // otherwise. hintRefused: over PSK_MAX_IDENTITY_LEN, or longer than its
  // message, which OpenSSL refuses before it asks for the PSK.
  bool hasHint() const { return hasHint_; }
  const std::string& hint() const { return hint_; }
  bool hintRefused() const { return hintRefused_; }

 private:
  // A message's body is read: keeps what it needs of it; true for a
  // HelloRetryRequest.
  bool MessageRead();

  // The message being read: its 4-byte header as it comes, then its body.
  unsigned char header_[4] = {};
  size_t headerHave_ = 0;
  size_t bodyLeft_ = 0;
  // The first bytes of a ServerHello or ServerKeyExchange body, up to
  // prefixWanted_: enough for the cipher, or the hint.
  std::string prefix_;
  size_t prefixWanted_ = 0;
  bool hasCipher_ = false;
  unsigned char cipher_[2] = {};
  bool hasHint_ = false;
  bool hintRefused_ = false;
  std::string hint_;
};

}  // namespace reactor
