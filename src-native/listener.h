// A listening socket and its accept logic.
#pragma once

#include <cstdint>

#include "connection.h"
#include "sys.h"

namespace reactor {

// Settings every connection accepted by a listener starts with
// (net.createServer's pauseOnConnect, noDelay, keepAlive options).
struct ConnectionDefaults {
  bool paused = false;
  bool noDelay = false;
  bool keepAlive = false;
  int keepAliveSeconds = 0;
};

struct Listener : Pollable {
  Listener(uint64_t listenerId, int socketFd)
      : Pollable(Kind::kListener), id(listenerId), fd(socketFd) {}

  const uint64_t id;
  const int fd;
  ConnectionDefaults defaults;
  bool queuedForAccept = false;
  // Accepting stopped at EMFILE/ENFILE without a spare fd to shed with; a
  // connection closing frees an fd and retries.
  bool starved = false;
  bool closed = false;

  // Accepts one connection. Returns its fd, -EAGAIN when the queue is empty,
  // or another -errno. On EMFILE/ENFILE it uses `spareFd` as libuv's
  // uv__emfile_trick does: release the spare, accept the connection and close
  // it at once so the peer is told instead of left hanging, and take the
  // spare back; *shed counts those connections.
  int AcceptOne(sys::SocketAddress* peer, int* spareFd, int* shed);
};

}  // namespace reactor
