// The plain data that carries one or more loop turns' events from the reactor
// thread to JS. Nothing here touches N-API: the wake callback (reactor.cc)
// converts a Batch to JS values on the JS thread.
#pragma once

#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace reactor {

// Event kinds; lib/reactor.ts mirrors these numbers.
enum class EventKind : uint8_t {
  kConnection = 1,    // id: new connection, a: listener id, b: string index, c: ports
  kData = 2,          // id, a: chunk index, b: offset in chunk, c: length (JS sees
                      // a: its own ArrayBuffer's index, b: 0; see DeliverToJs)
  kEnd = 3,           // id: peer sent FIN
  kError = 4,         // id, a: errno (positive), b: Syscall
  kWritten = 5,       // id, a: bytes the kernel has taken in total, b: 1 when it
                      // answers kReportAttempt (Batch::AddWritten)
  kShutdown = 6,      // id: shutdown(SHUT_WR) done after the write queue drained
  kListenerError = 7, // id: listener, a: errno, b: Syscall (e.g. EMFILE on accept)
  kTimeout = 8,       // id: idle for the time set with setTimeout; as of then,
                      // a: bytes JS had written, b: setTimeout commands taken
  kConnect = 9,       // id: outbound connect done, b: string index, c: ports
  kForwardDone = 10,  // id: forward, a: bytes first->second, b: second->first,
                      // c: errno * 16 + Syscall (0 when both sides ended cleanly)
  kForwardReady = 11, // id: forward; every byte read for JS precedes this event.
                      // A forward to an address: its upstream connected; a: 1
                      // when it runs already (JS passes on nothing), b: the
                      // upstream's connection id (JS writes what it holds there)
  kDrop = 12,         // id: listener; a connection past maxConnections was accepted
                      // and closed, b: string index, c: ports (as kConnection)
  kReactorFailed = 13, // id 0, a: errno, b: Syscall. The reactor thread has ended;
                       // an error event for every listener and connection follows
  kTlsSecure = 14,    // id: handshake done, a: flags, b: string index (tls_session.cc
                      // ReportSecure lists them), c: X509 verify result
  kTlsError = 15,     // id, a: 1 during the handshake, 2 after it with the socket
                      // left open to the peer's end (TlsSession::broken_), else 0;
                      // b: string index (message, library, reason), c: TlsErrorKind
                      // (tls_session.h)
  kForwardTlsError = 16,  // id: forward, b: string index (message, library, reason);
                          // OpenSSL failed on a TLS side. Its kForwardDone follows.
  kTlsServername = 17,    // id: a server's handshake waits for JS to choose a
                          // context for the SNI name at b (string index; empty
                          // when not asked) and an OCSP staple; a: which
                          // (TlsSession::kAskedName | kAskedOcsp)
  kTlsSession = 18,       // id: a client's session (base64 DER) at b (string
                          // index); a: 1 when the server issued it (node's
                          // 'session'), 0 for the handshake's own (getSession())
  kTlsKeylog = 19,        // id: a line of the NSS key log (node's 'keylog')
                          // at b (string index)
  kTlsAlpn = 20,          // id: a server's handshake waits for JS to choose an
                          // ALPN name; b: string index (the SNI name, then the
                          // names offered in wire format, in hex), a: 1 if SNI was sent
  kTlsOcspResponse = 21,  // id: a client that asked for a staple; a: 1 if the
                          // server stapled one, b: string index (it, in hex).
                          // Comes before the connection's kTlsSecure
  kTlsResumeSession = 22, // id: a server's handshake waits for JS to look up
                          // the session id at b (string index, in hex) in its
                          // external cache (node's 'resumeSession')
  kTlsNewSession = 23,    // id: a session a server's handshake made (node's
                          // 'newSession'); b: string index (its id in hex, then
                          // its DER in base64)
  kTlsPsk = 24,           // id: a server's handshake waits for JS's key for one
                          // of a PSK identities (node's pskCallback); a: how many,
                          // b: string index of the first (each in hex). A client's
                          // waits for its identity and key: a: 1 with the server's
                          // hint, 0 without; c: 1 for its ClientKeyExchange, 0 for
                          // a ClientHello
};

// Whether an event's b is an index into Batch::strings, which Append must
// renumber. Every kind is named, with no default, so that a new kind cannot
// be added without deciding (binding.gyp builds with -Werror=switch):
// kTlsServername was first left out of a list here, and in a merged batch
// pointed at another event's strings. (A kTlsError of kind kPeerClosed has
// no strings; its b, 0, is shifted too and never read.)
constexpr bool CarriesStrings(EventKind kind) {
  switch (kind) {
    case EventKind::kConnection:
    case EventKind::kConnect:
    case EventKind::kDrop:
    case EventKind::kTlsSecure:
    case EventKind::kTlsError:
    case EventKind::kForwardTlsError:
    case EventKind::kTlsServername:
    case EventKind::kTlsKeylog:
    case EventKind::kTlsSession:
    case EventKind::kTlsAlpn:
    case EventKind::kTlsOcspResponse:
    case EventKind::kTlsResumeSession:
    case EventKind::kTlsNewSession:
    case EventKind::kTlsPsk:
      return true;
    case EventKind::kData:
    case EventKind::kEnd:
    case EventKind::kError:
    case EventKind::kWritten:
    case EventKind::kShutdown:
    case EventKind::kListenerError:
    case EventKind::kTimeout:
    case EventKind::kForwardDone:
    case EventKind::kForwardReady:
    case EventKind::kReactorFailed:
      return false;
  }
  return false;
}

// Which call failed, for the `syscall` property of Node-style errors.
enum class Syscall : uint8_t {
  kRead = 1,
  kWrite = 2,
  kAccept = 3,
  kShutdown = 4,
  kConnect = 5,
  kEpollWait = 6,
};

// Each event is kRecordStride doubles: kind, id, a, b, c. Ids are below 2^53,
// so doubles carry them exactly and JS reads the whole batch as one Float64Array.
constexpr size_t kRecordStride = 5;

// A block of received bytes. Several connections' data share one chunk; JS
// gets a copy of each data record's bytes in an ArrayBuffer of its own (so
// chunk.buffer never shows another connection's data), and the block goes
// back to the arena when the batch is done. (A lent buffer's chunk holds one
// read; a full one is handed to JS as it is: read_lender.h.)
struct ReadBlock;
// Releases one reference to a ReadBlock (read_arena.h).
void ReleaseReadBlock(ReadBlock* block);

// A region of a ReadBlock, holding one reference to it for as long as the
// Batch lives; each ArrayBuffer made over part of it holds its own.
// A chunk with a lentId is a lent buffer instead (read_lender.h): no block;
// DeliverToJs hands it to JS or gives it back.
struct ReadChunk {
  char* data = nullptr;
  size_t length = 0;
  ReadBlock* block = nullptr;
  uint64_t lentId = 0;
};

// Bytes JS copies for the reactor thread (a write under 8 KiB, a flush's
// acks) go into pooled buffers, which travel back to the JS thread with the
// batches and are reused, instead of a new[] on the JS thread and a delete[]
// on the reactor thread per write (on the pipelined echo, whose 1 KiB replies
// were past the one 512 B size there was, that free() was 1.1 % of the
// server's samples). Five pools, 512 B to 8 KiB, doubling; a copy takes the smallest
// buffer that holds it, so a queued write over 512 B holds less than twice
// its bytes (a string's NUL counts).
// A buffer's pool is a number, 1 to kBufferPools; 0 is a buffer of its own
// size, from no pool. One owner at every step: the JS thread's free lists
// (Delivery::freeBuffers), a Command, a WriteChunk, a Batch's
// returnedBuffers, a free list again; each frees it with delete[] if it is
// destroyed holding it, so no path depends on a pool outliving it.
constexpr size_t kSmallBufferSize = 512;
constexpr size_t kBufferPools = 5;
constexpr size_t kLargestPooledBuffer = kSmallBufferSize << (kBufferPools - 1);  // 8 KiB
// The size of pool `pool`'s buffers; `pool` is 1 to kBufferPools (callers
// check: 0 would shift by -1).
constexpr size_t PooledBufferSize(uint8_t pool) { return kSmallBufferSize << (pool - 1); }
static_assert(PooledBufferSize(1) == kSmallBufferSize && kLargestPooledBuffer == 8 * 1024,
              "CopyString's one pass fills a pool-1 buffer; every copied write (under 8 KiB) fits a pool");
// The pool whose buffers are the smallest that hold `length` bytes; 0 when
// none does.
inline uint8_t BufferPoolFor(size_t length) {
  for (uint8_t pool = 1; pool <= kBufferPools; ++pool) {
    if (length <= PooledBufferSize(pool)) return pool;
  }
  return 0;
}
// Buffers of one pool a batch carries back at most: 2,048 of 512 B (1 MiB;
// a batch's replies at 1,000 connections), and 512 KiB's worth of each larger
// size (64 of 8 KiB), 3 MiB in all; beyond, the reactor thread frees them (a
// burst of writes must not park unbounded memory in a batch). The JS thread
// keeps as many per pool (Delivery::KeepBuffer in reactor.h).
constexpr size_t MaxReturnedBuffers(uint8_t pool) {
  return pool == 1 ? 2048 : (512 * 1024) / PooledBufferSize(pool);
}

struct Batch {
  std::vector<double> records;
  std::vector<std::string> strings;
  std::vector<ReadChunk> chunks;
  // Pins of JS Buffers the reactor has finished sending (or dropped): the
  // JS thread lets go of them when it takes the batch.
  std::vector<uint64_t> unpinned;
  // Pooled buffers the reactor is done with, by pool (index pool - 1), for
  // the JS thread to reuse; they do not wake JS by themselves.
  std::array<std::vector<std::unique_ptr<char[]>>, kBufferPools> returnedBuffers;
  // kConnection and kDrop events carried, for the AcceptGate (listener.h).
  uint64_t acceptEvents = 0;
  // kTimeout events carried: the loop keeps those JS has not taken bounded
  // (Loop::ExpireIdle), so other events never queue behind a pile of them.
  uint64_t timeouts = 0;
  // Where in `records` the kListenerError records start (AddListenerError).
  std::vector<size_t> listenerErrors;
  // Whether JS must be woken for this batch. Every event wakes JS but a
  // kWritten of partial progress (AddWritten): no callback waits for that
  // count, so it can ride on the next batch that wakes JS. Pins handed back
  // wake JS too (WakesJs).
  bool wakesJs = false;

  Batch() = default;
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;
  ~Batch() { ReleaseChunks(); }

  // Empties the batch for reuse, releasing its chunks' block references but
  // keeping the vectors' capacity, so a recycled batch (Delivery::spare)
  // carries the next turn's events without allocating.
  void Clear() {
    ReleaseChunks();
    records.clear();
    strings.clear();
    chunks.clear();
    unpinned.clear();
    for (auto& returned : returnedBuffers) returned.clear();
    acceptEvents = 0;
    timeouts = 0;
    listenerErrors.clear();
    wakesJs = false;
  }

  bool WakesJs() const { return wakesJs || !unpinned.empty(); }

  // Takes a buffer the reactor is done with: one from pool `pool` goes back
  // to JS, any other (pool 0, or past the bound) is freed here.
  void ReturnBuffer(uint8_t pool, std::unique_ptr<char[]> buffer) {
    if (pool == 0 || pool > kBufferPools || !buffer) return;
    auto& returned = returnedBuffers[pool - 1];
    if (returned.size() < MaxReturnedBuffers(pool)) returned.push_back(std::move(buffer));
  }

  // Whether keeping this batch's vectors for reuse is worth their memory:
  // a batch that grew while JS was stalled is freed instead, so one burst
  // does not pin megabytes for the life of the reactor.
  bool WorthRecycling() const {
    constexpr size_t kMaxRecycledRecords = 16 * 1024 * kRecordStride;
    constexpr size_t kMaxRecycledEntries = 4 * 1024;
    return records.capacity() <= kMaxRecycledRecords && strings.capacity() <= kMaxRecycledEntries &&
           chunks.capacity() <= kMaxRecycledEntries && unpinned.capacity() <= kMaxRecycledEntries;
  }

  bool Empty() const { return records.empty() && unpinned.empty(); }

 private:
  void ReleaseChunks() {
    for (ReadChunk& chunk : chunks) {
      if (chunk.block != nullptr) ReleaseReadBlock(chunk.block);
    }
  }

 public:

  // A listener's error (a: errno, b: Syscall, c: connections shed). While JS
  // is stalled, batches are appended to the one it has not taken yet, and a
  // listener that keeps failing (EMFILE, a retried ENOBUFS) would grow it
  // every turn: a repeat of the same listener, errno and syscall only adds
  // its shed count to the record already waiting.
  void AddListenerError(uint64_t listenerId, double error, double call, double shed) {
    for (size_t at : listenerErrors) {
      double* record = &records[at];
      if (record[1] == static_cast<double>(listenerId) && record[2] == error && record[3] == call) {
        record[4] += shed;
        return;
      }
    }
    listenerErrors.push_back(records.size());
    Add(EventKind::kListenerError, listenerId, error, call, shed);
  }

  void Add(EventKind kind, uint64_t id, double a = 0, double b = 0, double c = 0) {
    records.insert(records.end(),
                   {static_cast<double>(kind), static_cast<double>(id), a, b, c});
    wakesJs = true;
  }

  // kWritten: `total` bytes of `id` taken by the kernel. `awaited`: JS waits
  // for this count (a write callback, a reference to drop), so it wakes JS.
  // `attempted`: the answer to kAwaitWritten's kReportAttempt (b: 1), which
  // JS waits for whatever the total.
  void AddWritten(uint64_t id, uint64_t total, bool awaited, bool attempted = false) {
    records.insert(records.end(), {static_cast<double>(EventKind::kWritten),
                                   static_cast<double>(id), static_cast<double>(total),
                                   attempted ? 1.0 : 0.0, 0});
    if (awaited || attempted) wakesJs = true;
  }

  // Appends data for `id`, extending the previous record when it is the same
  // connection's bytes continuing in the same chunk.
  void AddData(uint64_t id, size_t chunk, size_t offset, size_t length) {
    size_t n = records.size();
    if (n >= kRecordStride) {
      double* last = &records[n - kRecordStride];
      if (last[0] == static_cast<double>(EventKind::kData) &&
          last[1] == static_cast<double>(id) && last[2] == static_cast<double>(chunk) &&
          last[3] + last[4] == static_cast<double>(offset)) {
        last[4] += static_cast<double>(length);
        return;
      }
    }
    Add(EventKind::kData, id, static_cast<double>(chunk), static_cast<double>(offset),
        static_cast<double>(length));
  }

  // Moves `later`'s events after ours, renumbering its chunk and string indices.
  void Append(Batch&& later) {
    const double chunkBase = static_cast<double>(chunks.size());
    const double stringBase = static_cast<double>(strings.size());
    for (size_t i = 0; i < later.records.size(); i += kRecordStride) {
      double* record = &later.records[i];
      EventKind kind = static_cast<EventKind>(static_cast<uint8_t>(record[0]));
      if (kind == EventKind::kData) record[2] += chunkBase;
      if (CarriesStrings(kind)) record[3] += stringBase;
    }
    records.reserve(records.size() + later.records.size());
    for (size_t i = 0; i < later.records.size(); i += kRecordStride) {
      const double* record = &later.records[i];
      if (record[0] == static_cast<double>(EventKind::kListenerError)) {
        AddListenerError(static_cast<uint64_t>(record[1]), record[2], record[3], record[4]);
      } else {
        records.insert(records.end(), record, record + kRecordStride);
      }
    }
    later.listenerErrors.clear();
    for (std::string& s : later.strings) strings.push_back(std::move(s));
    chunks.insert(chunks.end(), later.chunks.begin(), later.chunks.end());
    unpinned.insert(unpinned.end(), later.unpinned.begin(), later.unpinned.end());
    later.unpinned.clear();
    for (uint8_t pool = 1; pool <= kBufferPools; ++pool) {
      for (auto& buffer : later.returnedBuffers[pool - 1]) ReturnBuffer(pool, std::move(buffer));
      later.returnedBuffers[pool - 1].clear();
    }
    acceptEvents += later.acceptEvents;
    later.acceptEvents = 0;
    timeouts += later.timeouts;
    later.timeouts = 0;
    wakesJs = wakesJs || later.wakesJs;
    later.wakesJs = false;
    later.records.clear();
    later.strings.clear();
    later.chunks.clear();  // ownership moved; later's destructor frees nothing
  }
};

}  // namespace reactor
