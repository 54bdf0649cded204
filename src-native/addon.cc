// Module initialisation. Context-aware: each JS environment (the main thread
// and every Worker) gets its own Reactor class and so its own reactors.
#include <napi.h>

#include "reactor.h"
#include "tls_context.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Reactor", reactor::Reactor::DefineClass(env));
  exports.Set("available", Napi::Boolean::New(env, true));
  exports.Set("protocol", Napi::Number::New(env, reactor::kBridgeProtocol));
  // Whether the running node exports the OpenSSL the TLS code calls
  // (tls_context.h); lib/tls.ts refuses TLS servers when it does not.
  exports.Set("tlsAvailable", Napi::Boolean::New(env, reactor::TlsAvailable()));
  exports.Set("tlsVersion", Napi::String::New(env, reactor::TlsLibraryVersion()));
  return exports;
}

}  // namespace

NODE_API_MODULE(epoll_reactor, Init)
