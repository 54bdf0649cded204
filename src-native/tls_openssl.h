// The one way TLS code includes OpenSSL: node's headers (include/node/openssl,
// see docs/tls.md), with every function listed in tls_symbols.h referenced
// weakly, so that the addon loads even on a node that exports none of them,
// whether the dynamic linker resolves eagerly (LD_BIND_NOW) or lazily.
// TlsAvailable() checks them before any TLS code runs. Include it in every
// file that calls OpenSSL; test/tls.symbols.test.ts fails on a strong reference.
#pragma once

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls_symbols.h"

// Declared here too: node's headers leave it out when their OpenSSL
// configuration says OPENSSL_NO_SSL_TRACE, though the node may export it.
extern "C" void SSL_trace(int write_p, int version, int content_type, const void* buf, size_t len, SSL* ssl,
                          void* arg);

#define REACTOR_TLS_STRINGIFY(text) #text
#define REACTOR_TLS_WEAK(name) _Pragma(REACTOR_TLS_STRINGIFY(weak name))
REACTOR_TLS_SYMBOLS(REACTOR_TLS_WEAK)
REACTOR_TLS_OPTIONAL_SYMBOLS(REACTOR_TLS_WEAK)
#undef REACTOR_TLS_WEAK
