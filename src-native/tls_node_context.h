// What reactor TLS takes from an SSL_CTX node made (tls.createSecureContext):
// read on the JS thread that owns it, while one of our contexts is built,
// and never kept. No connection of ours runs on node's context: node sets
// callbacks on its contexts (new sessions, keylog, OCSP, ALPN) that cast
// the SSL's app data to node's TLSWrap. Only a throwaway client's first
// flight is made on it, in memory, which none of them is called for.
#pragma once

#include <string>

#include "tls_openssl.h"

namespace reactor {

// A server's SNI choice: the current certificate with its key and chain, the
// trust store (shared, with its CRLs and flags) and the CA names asked of
// clients, as node's UseSNIContext takes them. False when `theirs` has no
// certificate with its key (OpenSSL's error queue says why).
bool TakeNodeServerContext(SSL_CTX* ours, SSL_CTX* theirs);

// connect({ tls: { secureContext } }) with one node made, as tls.connect
// uses it: its certificate with key and chain (when it has both), its trust
// store, versions, options, security level and ciphers; and, read off the
// ClientHello a client on it sends, as OpenSSL has no getter for them, its
// groups, signature algorithms and certificate compression (set in
// `certCompression`, packed as TlsContextOptions::certCompression, for the
// caller to apply). `theirHello` gets that ClientHello, for
// ClientHelloDifference. False when OpenSSL refuses one of the first.
bool TakeNodeClientContext(SSL_CTX* ours, SSL_CTX* theirs, int* certCompression, std::string* theirHello);

// Whether a client built on `ours` says what one built on node's context
// said in `theirHello` (TakeNodeClientContext's): the same versions, cipher suites and extensions (groups,
// signature algorithms, certificate compression...), ALPN, SNI, padding and
// the key shares' bytes aside. Empty when it does; otherwise what differs, in
// node's option names ("sigalgs", "ecdhCurve", ...), for the error that
// refuses a context whose settings have no getter in OpenSSL.
std::string ClientHelloDifference(SSL_CTX* ours, const std::string& theirHello);

}  // namespace reactor
