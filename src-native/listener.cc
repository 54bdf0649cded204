#include "listener.h"

#include <errno.h>

namespace reactor {

int Listener::AcceptOne(sys::SocketAddress* peer, int* spareFd, int* shed) {
  for (;;) {
    int fd = sys::Accept(this->fd, peer);
    if (fd >= 0) return fd;
    // The peer gave up between SYN and accept(); try the next one.
    if (fd == -ECONNABORTED) continue;
    if ((fd != -EMFILE && fd != -ENFILE) || *spareFd < 0) return fd;
    sys::Close(*spareFd);
    *spareFd = -1;
    int victim = sys::Accept(this->fd, peer);
    if (victim >= 0) {
      sys::Close(victim);
      ++*shed;
    }
    int spare = sys::OpenSpareFd();
    *spareFd = spare >= 0 ? spare : -1;
    if (victim < 0) return victim == -EAGAIN ? fd : victim;
    // Report the exhaustion once the queue is shed; keep draining it.
  }
}

}  // namespace reactor
