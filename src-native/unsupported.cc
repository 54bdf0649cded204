// Built instead of the reactor where there is no epoll: the package then falls
// back to node:net (lib/binding.ts reads `available`).
#include <napi.h>

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("available", Napi::Boolean::New(env, false));
  return exports;
}

}  // namespace

NODE_API_MODULE(epoll_reactor, Init)
