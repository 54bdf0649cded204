// Module initialisation. Context-aware: each JS environment (the main thread
// and every Worker) gets its own Reactor class and so its own reactors.
#include <napi.h>

#include "reactor.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Reactor", reactor::Reactor::DefineClass(env));
  exports.Set("available", Napi::Boolean::New(env, true));
  return exports;
}

}  // namespace

NODE_API_MODULE(epoll_reactor, Init)
