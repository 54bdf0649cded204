#include "tls_server_flight.h"

#include <algorithm>

namespace reactor {

namespace {

// RFC 5246's handshake message types this reads.
constexpr unsigned char kServerHello = 2;
constexpr unsigned char kServerKeyExchange = 12;
constexpr unsigned char kServerHelloDone = 14;
// OpenSSL's PSK_MAX_IDENTITY_LEN: a longer hint fails the handshake there.
constexpr size_t kMaxHint = 256;
// A ServerHello up to its cipher: version, random, session id (at most 32).
constexpr size_t kServerHelloPrefix = 2 + 32 + 1 + 32 + 2;
// A HelloRetryRequest is a ServerHello with this random (RFC 8446 4.1.3).
constexpr unsigned char kHelloRetryRandom[32] = {
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};

}  // namespace

ServerFlightReader::Stop ServerFlightReader::Read(const unsigned char* body, size_t length) {
  bool helloRetry = false;
  while (length > 0) {
    if (headerHave_ < 4) {
      size_t taken = std::min(length, 4 - headerHave_);
      std::copy(body, body + taken, header_ + headerHave_);
      headerHave_ += taken;
      body += taken;
      length -= taken;
      if (headerHave_ < 4) break;
      if (header_[0] == kServerHelloDone) return Stop::kServerHelloDone;
      bodyLeft_ = (size_t{header_[1]} << 16) | (size_t{header_[2]} << 8) | header_[3];
      prefix_.clear();
      prefixWanted_ = header_[0] == kServerHello        ? std::min(bodyLeft_, kServerHelloPrefix)
                      : header_[0] == kServerKeyExchange ? std::min(bodyLeft_, 2 + kMaxHint + 1)
                                                         : 0;
      if (bodyLeft_ == 0) helloRetry |= MessageRead();
      continue;
    }
    size_t taken = std::min(length, bodyLeft_);
    if (prefix_.size() < prefixWanted_) {
      prefix_.append(reinterpret_cast<const char*>(body), std::min(taken, prefixWanted_ - prefix_.size()));
    }
    bodyLeft_ -= taken;
    body += taken;
    length -= taken;
    if (bodyLeft_ == 0) helloRetry |= MessageRead();
  }
  return helloRetry ? Stop::kHelloRetryRequest : Stop::kNone;
}

bool ServerFlightReader::MessageRead() {
  headerHave_ = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(prefix_.data());
  bool helloRetry = false;
  if (header_[0] == kServerHello && prefix_.size() >= 2 + 32) {
    helloRetry = std::equal(kHelloRetryRandom, kHelloRetryRandom + 32, bytes + 2);
  }
  if (header_[0] == kServerHello && prefix_.size() >= 2 + 32 + 1) {
    size_t cipherAt = 2 + 32 + 1 + size_t{bytes[2 + 32]};
    if (prefix_.size() >= cipherAt + 2) {
      hasCipher_ = true;
      cipher_[0] = bytes[cipherAt];
      cipher_[1] = bytes[cipherAt + 1];
    }
  } else if (header_[0] == kServerKeyExchange) {
    // The prefix holds the whole hint when it fits in the message.
    size_t hintLength = prefix_.size() >= 2 ? (size_t{bytes[0]} << 8) | bytes[1] : 0;
    hintRefused_ = prefix_.size() < 2 || hintLength > kMaxHint || prefix_.size() < 2 + hintLength;
    hasHint_ = false;
    hint_.clear();
    if (!hintRefused_ && hintLength > 0) {
      hasHint_ = true;
      // OpenSSL keeps it with strndup: up to a NUL.
      hint_.assign(prefix_, 2, hintLength);
      hint_.resize(hint_.find('\0') == std::string::npos ? hint_.size() : hint_.find('\0'));
    }
  }
  prefix_.clear();
  return helloRetry;
}

}  // namespace reactor
