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
  // tlsBindSessionsToServername(bound, probed): what lib/session-binding.ts
  // found (probed) or guessed the running node's server to do.
  exports.Set("tlsBindSessionsToServername", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    if (info.Length() < 2 || !info[0].IsBoolean() || !info[1].IsBoolean()) {
      Napi::TypeError::New(info.Env(), "tlsBindSessionsToServername(bound, probed)").ThrowAsJavaScriptException();
      return;
    }
    reactor::SetSessionsBoundToServername(info[0].As<Napi::Boolean>().Value(), info[1].As<Napi::Boolean>().Value());
  }));
  return exports;
}

}  // namespace

NODE_API_MODULE(epoll_reactor, Init)
