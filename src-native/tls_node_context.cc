#include "tls_node_context.h"

#include <cstring>
#include <vector>

namespace reactor {

bool TakeNodeServerContext(SSL_CTX* ours, SSL_CTX* theirs) {
  // Checked here: OpenSSL would take a missing key to be the certificate's
  // public one, and a missing certificate crashes it at security level 0.
  // (lib/tls.ts answers with the server's own context where there is no
  // certificate, as node's server goes on with its own.)
  X509* certificate = SSL_CTX_get0_certificate(theirs);
  EVP_PKEY* key = SSL_CTX_get0_privatekey(theirs);
  STACK_OF(X509)* chain = nullptr;
  if (certificate == nullptr || key == nullptr || SSL_CTX_get0_chain_certs(theirs, &chain) != 1 ||
      SSL_CTX_use_cert_and_key(ours, certificate, key, chain, 1) != 1) {
    return false;
  }
  // Shared by reference (OpenSSL's counts; read-only use from both threads
  // is safe), not copied.
  if (X509_STORE* store = SSL_CTX_get_cert_store(theirs)) SSL_CTX_set1_cert_store(ours, store);
  STACK_OF(X509_NAME)* names = SSL_CTX_get_client_CA_list(theirs);
  if (names != nullptr && sk_X509_NAME_num(names) > 0) {
    STACK_OF(X509_NAME)* copy = SSL_dup_CA_list(names);
    if (copy == nullptr) return false;
    SSL_CTX_set_client_CA_list(ours, copy);  // takes it
  }
  return true;
}

namespace {

// A ClientHello's parts that a context decides.
struct ClientHello {
  bool parsed = false;
  std::string version;
  size_t sessionIdLength = 0;
  std::string ciphers;
  std::string compressionMethods;
  // Extensions in the order sent, with their bytes (key_share's reduced to
  // its groups: the keys are fresh each time).
  std::vector<std::pair<unsigned, std::string>> extensions;
};

constexpr unsigned kServerName = 0;
constexpr unsigned kSupportedGroups = 10;
constexpr unsigned kSignatureAlgorithms = 13;
constexpr unsigned kAlpn = 16;
constexpr unsigned kPadding = 21;
constexpr unsigned kCompressCertificate = 27;
constexpr unsigned kSupportedVersions = 43;
constexpr unsigned kSignatureAlgorithmsCert = 50;
constexpr unsigned kKeyShare = 51;

// Reads big-endian lengths off a byte range, refusing to run past its end.
class Reader {
 public:
  Reader(const unsigned char* data, size_t length) : data_(data), left_(length) {}
  bool Number(size_t bytes, size_t* value) {
    if (left_ < bytes) return false;
    *value = 0;
    for (size_t i = 0; i < bytes; ++i) *value = (*value << 8) | data_[i];
    data_ += bytes;
    left_ -= bytes;
    return true;
  }
  bool Bytes(size_t count, std::string* into) {
    if (left_ < count) return false;
    into->assign(reinterpret_cast<const char*>(data_), count);
    data_ += count;
    left_ -= count;
    return true;
  }
  // A field prefixed by its length in `lengthBytes` bytes.
  bool Field(size_t lengthBytes, std::string* into) {
    size_t length = 0;
    return Number(lengthBytes, &length) && Bytes(length, into);
  }
  size_t left() const { return left_; }

 private:
  const unsigned char* data_;
  size_t left_;
};

ClientHello ParseClientHello(const std::string& handshake) {
  ClientHello hello;
  Reader message(reinterpret_cast<const unsigned char*>(handshake.data()), handshake.size());
  size_t type = 0;
  std::string body;
  if (!message.Number(1, &type) || type != 1 || !message.Field(3, &body)) return hello;
  Reader reader(reinterpret_cast<const unsigned char*>(body.data()), body.size());
  std::string random;
  std::string sessionId;
  std::string extensions;
  if (!reader.Bytes(2, &hello.version) || !reader.Bytes(32, &random) || !reader.Field(1, &sessionId) ||
      !reader.Field(2, &hello.ciphers) || !reader.Field(1, &hello.compressionMethods) ||
      !reader.Field(2, &extensions)) {
    return hello;
  }
  hello.sessionIdLength = sessionId.size();
  Reader list(reinterpret_cast<const unsigned char*>(extensions.data()), extensions.size());
  while (list.left() > 0) {
    size_t extension = 0;
    std::string data;
    if (!list.Number(2, &extension) || !list.Field(2, &data)) return hello;
    if (extension == kKeyShare) {
      Reader shares(reinterpret_cast<const unsigned char*>(data.data()), data.size());
      std::string all;
      std::string groups;
      if (!shares.Field(2, &all)) return hello;
      Reader entries(reinterpret_cast<const unsigned char*>(all.data()), all.size());
      while (entries.left() > 0) {
        std::string group;
        std::string key;
        if (!entries.Bytes(2, &group) || !entries.Field(2, &key)) return hello;
        groups += group;
      }
      data = groups;
    }
    hello.extensions.emplace_back(static_cast<unsigned>(extension), std::move(data));
  }
  hello.parsed = true;
  return hello;
}

// The handshake bytes of the first flight of a client on `ctx`, made into
// memory and thrown away: nothing is connected. Of the callbacks node sets
// on its contexts (sessions, keylog, OCSP status, and servers' SNI, ALPN
// and ticket keys) none runs before a server answers: keylog's first line
// comes with the ServerHello, or with early data, which needs a session.
std::string FirstClientHello(SSL_CTX* ctx) {
  std::string handshake;
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (ssl == nullptr || in == nullptr || out == nullptr) {
    if (in != nullptr) BIO_free(in);
    if (out != nullptr) BIO_free(out);
    if (ssl != nullptr) SSL_free(ssl);
    ERR_clear_error();
    return handshake;
  }
  SSL_set_bio(ssl, in, out);  // the SSL owns both from here
  // Node sets its PSK callbacks per connection, never on the context;
  // should one come from the context all the same, it is not asked here.
  SSL_set_psk_client_callback(ssl, nullptr);
  SSL_set_psk_use_session_callback(ssl, nullptr);
  SSL_set_connect_state(ssl);
  SSL_do_handshake(ssl);  // stops, wanting the server's answer
  char* data = nullptr;
  long length = BIO_get_mem_data(out, &data);
  Reader records(reinterpret_cast<const unsigned char*>(data), length > 0 ? static_cast<size_t>(length) : 0);
  while (records.left() > 0) {
    size_t type = 0;
    size_t version = 0;
    std::string fragment;
    if (!records.Number(1, &type) || !records.Number(2, &version) || !records.Field(2, &fragment)) break;
    if (type == 22) handshake += fragment;  // handshake records
  }
  SSL_free(ssl);
  ERR_clear_error();
  return handshake;
}

// node's option behind a ClientHello extension.
const char* OptionBehind(unsigned extension) {
  switch (extension) {
    case kSupportedGroups:
    case kKeyShare:
      return "ecdhCurve";
    case kSignatureAlgorithms:
    case kSignatureAlgorithmsCert:
      return "sigalgs";
    case kCompressCertificate:
      return "certificateCompression";
    case kSupportedVersions:
      return "minVersion/maxVersion";
    default:
      return nullptr;
  }
}

const std::string* ExtensionOf(const ClientHello& hello, unsigned type) {
  for (const auto& extension : hello.extensions) {
    if (extension.first == type) return &extension.second;
  }
  return nullptr;
}

bool SameExtension(const ClientHello& a, const ClientHello& b, unsigned type) {
  const std::string* x = ExtensionOf(a, type);
  const std::string* y = ExtensionOf(b, type);
  return x == nullptr ? y == nullptr : y != nullptr && *x == *y;
}

// The 2-byte ids of a list prefixed by its length in `lengthBytes` bytes.
std::vector<unsigned> IdsOf(const std::string& data, size_t lengthBytes) {
  std::vector<unsigned> ids;
  Reader reader(reinterpret_cast<const unsigned char*>(data.data()), data.size());
  std::string list;
  if (!reader.Field(lengthBytes, &list)) return ids;
  Reader entries(reinterpret_cast<const unsigned char*>(list.data()), list.size());
  size_t id = 0;
  while (entries.Number(2, &id)) ids.push_back(static_cast<unsigned>(id));
  return ids;
}

// The name SSL_CTX_set1_sigalgs_list takes for a TLS SignatureScheme: RFC
// 8446's and TLSv1.2's. Others (brainpool's, ML-DSA's, GOST's), which only
// some OpenSSL releases know and name, are nullptr: a context offering them
// is refused, not guessed at.
const char* SignatureSchemeName(unsigned scheme) {
  switch (scheme) {
    // TLSv1.2's legacy schemes by key and hash, which every OpenSSL 3 reads.
    case 0x0201: return "RSA+SHA1";
    case 0x0202: return "DSA+SHA1";
    case 0x0203: return "ECDSA+SHA1";
    case 0x0301: return "RSA+SHA224";
    case 0x0302: return "DSA+SHA224";
    case 0x0303: return "ECDSA+SHA224";
    case 0x0402: return "DSA+SHA256";
    case 0x0502: return "DSA+SHA384";
    case 0x0602: return "DSA+SHA512";
    case 0x0401: return "rsa_pkcs1_sha256";
    case 0x0403: return "ecdsa_secp256r1_sha256";
    case 0x0501: return "rsa_pkcs1_sha384";
    case 0x0503: return "ecdsa_secp384r1_sha384";
    case 0x0601: return "rsa_pkcs1_sha512";
    case 0x0603: return "ecdsa_secp521r1_sha512";
    case 0x0804: return "rsa_pss_rsae_sha256";
    case 0x0805: return "rsa_pss_rsae_sha384";
    case 0x0806: return "rsa_pss_rsae_sha512";
    case 0x0807: return "ed25519";
    case 0x0808: return "ed448";
    case 0x0809: return "rsa_pss_pss_sha256";
    case 0x080a: return "rsa_pss_pss_sha384";
    case 0x080b: return "rsa_pss_pss_sha512";
    default: return nullptr;
  }
}

// Sets on `ours` the groups a supported_groups extension lists, by the names
// OpenSSL gives their ids. Left as they are when one has no name: the
// comparison that follows then refuses the context.
void TakeGroups(SSL_CTX* ours, const std::string& extension) {
  SSL* ssl = SSL_new(ours);  // SSL_group_to_name asks an SSL
  if (ssl == nullptr) return;
  std::string names;
  bool named = true;
  for (unsigned id : IdsOf(extension, 2)) {
    const char* name = SSL_group_to_name(ssl, static_cast<int>(TLSEXT_nid_unknown | id));
    named = named && name != nullptr;
    if (name == nullptr) break;
    if (!names.empty()) names += ':';
    names += name;
  }
  SSL_free(ssl);
  if (named && !names.empty()) SSL_CTX_set1_groups_list(ours, names.c_str());
  ERR_clear_error();
}

// As TakeGroups, for a signature_algorithms extension.
void TakeSignatureAlgorithms(SSL_CTX* ours, const std::string& extension) {
  std::string names;
  for (unsigned scheme : IdsOf(extension, 2)) {
    const char* name = SignatureSchemeName(scheme);
    if (name == nullptr) return;
    if (!names.empty()) names += ':';
    names += name;
  }
  if (!names.empty()) SSL_CTX_set1_sigalgs_list(ours, names.c_str());
  ERR_clear_error();
}

// A compress_certificate extension's algorithms, packed as
// TlsContextOptions::certCompression packs them; 0 (none) without one.
int PackedCompression(const std::string* extension) {
  if (extension == nullptr) return 0;
  std::vector<unsigned> ids = IdsOf(*extension, 1);
  if (ids.size() > 3) return -1;
  int packed = static_cast<int>(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] > 0xff) return -1;
    packed |= static_cast<int>(ids[i]) << (8 * (i + 1));
  }
  return packed;
}

}  // namespace

bool TakeNodeClientContext(SSL_CTX* ours, SSL_CTX* theirs, int* certCompression, std::string* theirHello) {
  // Before the certificate, which OpenSSL checks against it.
  SSL_CTX_set_security_level(ours, SSL_CTX_get_security_level(theirs));
  // Every certificate with its key and chain (one per key type: a TLS 1.3
  // client sends the one the server's signature algorithms allow), then
  // node's current one made ours. Walking them moves node's context's
  // current certificate, put back before anything else runs on this thread.
  // One without its key is left out: OpenSSL sends none without both.
  X509* current = SSL_CTX_get0_certificate(theirs);
  bool taken = true;
  for (long more = SSL_CTX_set_current_cert(theirs, SSL_CERT_SET_FIRST); more == 1 && taken;
       more = SSL_CTX_set_current_cert(theirs, SSL_CERT_SET_NEXT)) {
    X509* certificate = SSL_CTX_get0_certificate(theirs);
    EVP_PKEY* key = SSL_CTX_get0_privatekey(theirs);
    STACK_OF(X509)* chain = nullptr;
    if (certificate == nullptr || key == nullptr) continue;
    taken = SSL_CTX_get0_chain_certs(theirs, &chain) == 1 &&
            SSL_CTX_use_cert_and_key(ours, certificate, key, chain, 1) == 1;
  }
  if (current != nullptr) {
    SSL_CTX_select_current_cert(theirs, current);
    if (taken) SSL_CTX_select_current_cert(ours, current);  // fails, harmlessly, for one without its key
  }
  if (!taken) return false;
  ERR_clear_error();
  // node's roots when it was given no `ca`: the store is shared, never added to.
  if (X509_STORE* store = SSL_CTX_get_cert_store(theirs)) SSL_CTX_set1_cert_store(ours, store);
  if (SSL_CTX_set_min_proto_version(ours, SSL_CTX_get_min_proto_version(theirs)) != 1 ||
      SSL_CTX_set_max_proto_version(ours, SSL_CTX_get_max_proto_version(theirs)) != 1) {
    return false;
  }
  // Added to ours (no renegotiation, no compression), as secureOptions are;
  // an unexpected EOF stays an unclean end (tls_context.cc).
  SSL_CTX_set_options(ours, SSL_CTX_get_options(theirs) & ~static_cast<uint64_t>(SSL_OP_IGNORE_UNEXPECTED_EOF));
  // The cipher list, in its order, by name: TLSv1.3 suites (OpenSSL names
  // them TLS_*) and the rest apart, as OpenSSL sets them.
  std::string suites;
  std::string list;
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(theirs);
  for (int i = 0; ciphers != nullptr && i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const char* name = SSL_CIPHER_get_name(sk_SSL_CIPHER_value(ciphers, i));
    if (name == nullptr) continue;
    std::string& into = std::strncmp(name, "TLS_", 4) == 0 ? suites : list;
    if (!into.empty()) into += ':';
    into += name;
  }
  // A list of TLSv1.3 suites alone is node's "TLSv1.3 only": OpenSSL sets
  // the empty TLSv1.2 list and reports that it matched nothing.
  if (SSL_CTX_set_cipher_list(ours, list.c_str()) != 1 && !list.empty()) return false;
  ERR_clear_error();
  if (SSL_CTX_set_ciphersuites(ours, suites.c_str()) != 1) return false;
  // What OpenSSL has no getter for is read off the first flight of a client
  // on each, and taken where they differ: groups, signature algorithms (which
  // also decide which ciphers are offered) and certificate compression.
  // Where they agree nothing is set, so that OpenSSL's own defaults (their
  // key shares, say) stay its defaults.
  *theirHello = FirstClientHello(theirs);
  ClientHello mine = ParseClientHello(FirstClientHello(ours));
  ClientHello node = ParseClientHello(*theirHello);
  if (!mine.parsed || !node.parsed) return true;  // ClientHelloDifference says so
  if (!SameExtension(mine, node, kSupportedGroups)) {
    if (const std::string* groups = ExtensionOf(node, kSupportedGroups)) TakeGroups(ours, *groups);
  }
  if (!SameExtension(mine, node, kSignatureAlgorithms)) {
    if (const std::string* sigalgs = ExtensionOf(node, kSignatureAlgorithms)) TakeSignatureAlgorithms(ours, *sigalgs);
  }
  // Agreeing, ours is left as OpenSSL made it (-1), not as lib/tls.ts's
  // default for node's option asks.
  *certCompression = SameExtension(mine, node, kCompressCertificate)
                         ? -1
                         : PackedCompression(ExtensionOf(node, kCompressCertificate));
  return true;
}

std::string ClientHelloDifference(SSL_CTX* ours, const std::string& theirHello) {
  ClientHello mine = ParseClientHello(FirstClientHello(ours));
  ClientHello node = ParseClientHello(theirHello);
  if (!mine.parsed || !node.parsed) return "ClientHello (which could not be made)";
  // Set per connection, as node sets them, or different every time.
  auto perConnection = [](unsigned type) { return type == kServerName || type == kAlpn || type == kPadding; };
  auto typesOf = [&](const ClientHello& hello) {
    std::vector<unsigned> types;
    for (const auto& extension : hello.extensions) {
      if (!perConnection(extension.first)) types.push_back(extension.first);
    }
    return types;
  };
  for (const ClientHello* hello : {&node, &mine}) {
    for (unsigned type : typesOf(*hello)) {
      if (SameExtension(mine, node, type)) continue;
      const char* option = OptionBehind(type);
      return option != nullptr ? option : "ClientHello extension " + std::to_string(type);
    }
  }
  if (typesOf(mine) != typesOf(node)) return "order of the ClientHello's extensions";
  // After the extensions: the signature algorithms decide which ciphers are offered.
  if (mine.version != node.version) return "minVersion/maxVersion";
  if (mine.ciphers != node.ciphers) return "ciphers";
  if (mine.sessionIdLength != node.sessionIdLength || mine.compressionMethods != node.compressionMethods) {
    return "secureOptions";
  }
  return "";
}

}  // namespace reactor
