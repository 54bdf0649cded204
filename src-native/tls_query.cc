#include "tls_query.h"

#include <new>

#include "tls_context.h"
#include "tls_openssl.h"

namespace reactor {

namespace {

// The trust store's issuer of `cert` (a reference of the caller's), or null:
// node's SSL_CTX_get_issuer, on the context the handshake ended with.
X509* StoreIssuer(SSL* ssl, X509* cert) {
  X509_STORE_CTX* storeContext = X509_STORE_CTX_new();
  if (storeContext == nullptr) return nullptr;
  X509* issuer = nullptr;
  if (X509_STORE_CTX_init(storeContext, SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl)), nullptr, nullptr) != 1 ||
      X509_STORE_CTX_get1_issuer(&issuer, storeContext, cert) != 1) {
    issuer = nullptr;
  }
  X509_STORE_CTX_free(storeContext);
  return issuer;
}

// At most this many issuers come from the trust store: two CAs that
// certify each other (a bridge) would otherwise be walked for ever.
constexpr int kMaxStoreIssuers = 32;

// node's getPeerCertificate(true) (GetPeerCert, AddIssuerChainToObject and
// GetLastIssuedCert in its crypto code), step for step, so the chain links
// the same certificates: the leaf, then from what the peer sent the one that
// issued it, and so on; then issuers from the trust store; a last one that
// issued itself is marked so JS links it to itself.
void AnswerPeerChain(SSL* ssl, bool server, TlsAnswer* answer) {
  // A client's chain includes the leaf; a server's does not (OpenSSL's way).
  std::vector<X509*> sent;  // references of ours
  if (server) {
    if (X509* leaf = SSL_get1_peer_certificate(ssl)) sent.push_back(leaf);
  }
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      X509* cert = sk_X509_value(chain, i);
      if (X509_up_ref(cert) == 1) sent.push_back(cert);
    }
  }
  if (sent.empty()) return;
  X509* cert = sent.front();
  sent.erase(sent.begin());
  answer->strings.push_back(CertificateDer(cert));
  for (;;) {
    size_t i = 0;
    while (i < sent.size() && X509_check_issued(sent[i], cert) != X509_V_OK) ++i;
    if (i == sent.size()) break;
    answer->strings.push_back(CertificateDer(sent[i]));
    X509_free(cert);
    cert = sent[i];
    sent.erase(sent.begin() + static_cast<std::ptrdiff_t>(i));
    // node tests "not found" after taking the issuer out, so an issuer that
    // was the last one left ends the links from the sent certificates even
    // when others remain ([leaf, root, intermediate] stops at the
    // intermediate, whose issuer then comes from the store, if at all).
    if (i == sent.size()) break;
  }
  for (X509* unused : sent) X509_free(unused);
  for (int fromStore = 0; fromStore < kMaxStoreIssuers && X509_check_issued(cert, cert) != X509_V_OK; ++fromStore) {
    X509* issuer = StoreIssuer(ssl, cert);
    if (issuer == nullptr) break;
    answer->strings.push_back(CertificateDer(issuer));
    // A self-signed certificate without keyCertSign is not its own issuer
    // to X509_check_issued, but the store finds it for itself: stop there.
    bool same = issuer == cert;
    X509_free(cert);
    cert = issuer;
    if (same) break;
  }
  answer->number = X509_check_issued(cert, cert) == X509_V_OK ? 1 : 0;
  X509_free(cert);
}

void AnswerEphemeralKey(SSL* ssl, TlsAnswer* answer) {
  answer->answered = true;
  // A KEM group (the hybrid X25519MLKEM768) leaves a client no peer key,
  // only the group: node 24 names it.
  const char* group = SSL_group_to_name(ssl, static_cast<int>(SSL_get_negotiated_group(ssl)));
  std::string type;
  std::string name;
  EVP_PKEY* key = nullptr;
  if (SSL_get_peer_tmp_key(ssl, &key) == 1 && key != nullptr) {
    int id = EVP_PKEY_get_id(key);
    if (id == EVP_PKEY_DH) {
      type = "DH";
    } else if (id == EVP_PKEY_EC) {
      type = "ECDH";
      char curve[80];
      size_t length = 0;
      if (EVP_PKEY_get_group_name(key, curve, sizeof(curve), &length) == 1) name.assign(curve, length);
    } else if (id == EVP_PKEY_X25519 || id == EVP_PKEY_X448) {
      type = "ECDH";
      const char* shortName = OBJ_nid2sn(id);
      if (shortName != nullptr) name = shortName;
    }
    answer->number = EVP_PKEY_get_bits(key);
    EVP_PKEY_free(key);
  } else if (group == nullptr) {
    return;  // no key exchange yet
  }
  answer->strings = {type, name, group != nullptr ? group : ""};
}

// node's names: "ECDSA+SHA256", "RSA-PSS+SHA384", "Ed25519+UNDEF"...
void AnswerSharedSigalgs(SSL* ssl, TlsAnswer* answer) {
  answer->answered = true;
  int count = SSL_get_shared_sigalgs(ssl, 0, nullptr, nullptr, nullptr, nullptr, nullptr);
  for (int i = 0; i < count; ++i) {
    int sign = 0;
    int hash = 0;
    SSL_get_shared_sigalgs(ssl, i, &sign, &hash, nullptr, nullptr, nullptr);
    std::string name;
    switch (sign) {
      case EVP_PKEY_RSA: name = "RSA"; break;
      case EVP_PKEY_RSA_PSS: name = "RSA-PSS"; break;
      case EVP_PKEY_DSA: name = "DSA"; break;
      case EVP_PKEY_EC: name = "ECDSA"; break;
      case NID_ED25519: name = "Ed25519"; break;
      case NID_ED448: name = "Ed448"; break;
      default: {
        const char* shortName = OBJ_nid2sn(sign);
        name = shortName != nullptr ? shortName : "UNDEF";
      }
    }
    const char* hashName = OBJ_nid2sn(hash);
    name += '+';
    name += hashName != nullptr ? hashName : "UNDEF";
    answer->strings.push_back(std::move(name));
  }
  ERR_clear_error();
}

void AnswerExport(SSL* ssl, const TlsQuery& query, TlsAnswer* answer) {
  answer->answered = true;
  answer->failed = true;
  // lib/tls.ts refuses more (kMaxExportBytes): a longer TLS 1.2 export would
  // hold the reactor thread for a long time (TLS 1.3 allows 255 hashes' worth).
  if (query.length == 0 || query.length > kMaxExportBytes) {
    answer->strings = {"Invalid length", "", ""};
    return;
  }
  answer->bytes.reset(new (std::nothrow) unsigned char[query.length]);
  if (answer->bytes == nullptr) {
    answer->strings = {"Out of memory", "", ""};
    return;
  }
  ERR_clear_error();
  if (SSL_export_keying_material(ssl, answer->bytes.get(), query.length, query.label.data(), query.label.size(),
                                 reinterpret_cast<const unsigned char*>(query.context.data()),
                                 query.context.size(), query.useContext ? 1 : 0) != 1) {
    answer->bytes.reset();
    TlsFailure failure = TakeTlsFailure("SSL_export_keying_material");
    answer->strings = {failure.message, failure.library, failure.reason};
    return;
  }
  answer->failed = false;
  answer->bytesLength = query.length;
}

void AnswerOn(SSL* ssl, bool server, const TlsQuery& query, TlsAnswer* answer) {
  switch (query.kind) {
    case TlsQueryKind::kCertificate:
      answer->answered = true;
      if (X509* cert = SSL_get_certificate(ssl)) answer->strings.push_back(CertificateDer(cert));
      return;
    case TlsQueryKind::kPeerChain:
      answer->answered = true;
      AnswerPeerChain(ssl, server, answer);
      return;
    case TlsQueryKind::kEphemeralKey:
      AnswerEphemeralKey(ssl, answer);
      return;
    case TlsQueryKind::kSharedSigalgs:
      AnswerSharedSigalgs(ssl, answer);
      return;
    case TlsQueryKind::kTicket: {
      answer->answered = true;
      const unsigned char* ticket = nullptr;
      size_t length = 0;
      if (SSL_SESSION* session = SSL_get_session(ssl)) SSL_SESSION_get0_ticket(session, &ticket, &length);
      if (ticket != nullptr) answer->strings.emplace_back(reinterpret_cast<const char*>(ticket), length);
      return;
    }
    case TlsQueryKind::kExportKeyingMaterial:
      AnswerExport(ssl, query, answer);
      return;
  }
}

}  // namespace

void AnswerTlsQuery(SSL* ssl, bool server, const TlsQuery& query, TlsAnswer* answer) {
  AnswerOn(ssl, server, query, answer);
  // Nothing a question leaves in OpenSSL's queue may reach a later call (as node's ClearErrorOnReturn).
  ERR_clear_error();
}

}  // namespace reactor
