#include "tls_server_sessions.h"

#include "tls_openssl.h"

namespace reactor {

TlsServerSessions::~TlsServerSessions() {
  for (auto& entry : sessions_) SSL_SESSION_free(entry.second);
}

void TlsServerSessions::Keep(uint64_t id, SSL_SESSION* session) {
  if (session == nullptr) return;
  SSL_SESSION* replaced = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    SSL_SESSION*& slot = sessions_[id];
    replaced = slot;
    slot = session;
  }
  if (replaced != nullptr) SSL_SESSION_free(replaced);
}

void TlsServerSessions::Forget(uint64_t id) {
  SSL_SESSION* released = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = sessions_.find(id);
    if (found == sessions_.end()) return;
    released = found->second;
    sessions_.erase(found);
  }
  // Unreachable from the JS thread now: freed outside the lock.
  SSL_SESSION_free(released);
}

size_t TlsServerSessions::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return sessions_.size();
}

bool TlsServerSessions::Encode(uint64_t id, std::string* der) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = sessions_.find(id);
  if (found == sessions_.end()) return false;
  int length = i2d_SSL_SESSION(found->second, nullptr);
  if (length <= 0) {
    ERR_clear_error();
    return false;
  }
  der->resize(static_cast<size_t>(length));
  auto* out = reinterpret_cast<unsigned char*>(&(*der)[0]);
  if (i2d_SSL_SESSION(found->second, &out) != length) {
    ERR_clear_error();
    return false;
  }
  return true;
}

}  // namespace reactor
