// The JS-facing reactor: owns one Loop (and so one native thread), the
// Delivery that carries batches to JS, and the commands staged by
// JS during the current tick. One per JS environment (main thread or Worker).
#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "batch.h"
#include "loop.h"
#include "tls_context.h"

namespace reactor {

// The version of what crosses the bridge: the event records (batch.h), the
// commands and the methods lib/binding.ts declares. Bumped, with
// BRIDGE_PROTOCOL in lib/binding.ts, by every change to them, so that lib
// refuses an addon built from other sources (a stale build/) instead of
// misreading it. 1: kTimeout carries where JS's writes ended, and its
// setTimeout count. 2: adoptFd takes wasConnected. 3: tlsChooseAlpn takes
// the context setKeyCert() gave. 4: kTlsPsk and tlsAnswerPsk.
// 5: tlsBindSessionsToServername. 6: which takes `probed`. 7: hold(open),
// without which the dispatch function is held weakly. 8: stats().threadId.
// 9: runOnCallerFromNow(). 10: write(id, data, behind), awaitWritten().
// 11: connect()'s asksPsk; kTlsPsk and tlsAnswerPsk for clients. 12: forwardTo().
// 13: forwardTo() takes the bytes JS received and a copy of those it holds.
// 14: awaitWritten(id, total, reportAttempt); kWritten's b marks its answer.
// 15: kTlsError's a is 2 for a session that failed after its handshake and stays open.
// 16: such a session completes every write that reaches it; JS fails later ones.
constexpr int kBridgeProtocol = 17;

// What the reactor thread shares with the JS thread for delivery. While a
// batch waits for the JS thread, later turns append to it instead of queueing
// another call, so a slow JS thread gets bigger batches, not a longer queue.
//
// The reactor thread wakes the JS thread with `wake`, a uv_async_t on the
// environment's loop, after letting go of `mutex`. (A threadsafe function did
// it before, and its call wakes the JS thread while holding the lock that
// thread's callback takes first: on one core the woken JS thread preempted
// the reactor thread and blocked on that lock, which doubled the thread
// switches per batch; docs/benchmarks.md, session 29.)
//
// Owned by `wake`: closing it (CloseDelivery, once the reactor thread has
// stopped) deletes it in the close callback with its references, freeing any
// batch that never reached JS. An async cleanup hook closes it when the
// environment goes away, and holds the environment open until then.
struct Delivery {
  uv_async_t wake;
  napi_env env = nullptr;
  // The JS function each batch is given to. Strong only while JS has
  // something open (Reactor::Hold), as a libuv handle keeps its object alive
  // only while open: the function holds the JS Reactor, so an idle reactor
  // nothing else reaches is collected (~Reactor stops its thread) instead of
  // being kept forever by this reference; a dropped module registry (jest's,
  // per test file) goes with it.
  napi_ref dispatch = nullptr;
  bool dispatchHeld = false;     // JS thread only
  napi_ref resource = nullptr;   // the async resource its calls run in
  napi_async_context asyncContext = nullptr;
  napi_async_cleanup_hook_handle closeHook = nullptr;
  bool closing = false;          // CloseDelivery ran (JS thread only)
  std::mutex mutex;
  std::unique_ptr<Batch> pending;  // guarded by mutex
  bool callScheduled = false;      // guarded by mutex
  // A batch JS has finished with, emptied, for the reactor thread to fill
  // next (guarded by mutex): batches and their vectors are reused instead of
  // allocated every turn. Put back by DeliverToJs, taken by the next delivery.
  std::unique_ptr<Batch> spare;
  // JS Buffers the reactor thread is sending from without a copy, by pin.
  // JS thread only: pinned in write(), let go when a batch says so.
  std::unordered_map<uint64_t, napi_ref> pins;
  uint64_t nextPin = 1;
  // The Float64Array each batch's records are copied into for JS (JS thread
  // only): JS reads it before DeliverToJs returns and keeps no view of it,
  // so one array, made once and grown when a batch needs more, serves every
  // batch instead of a new ArrayBuffer per batch. Released by OnDeliveryClosed.
  napi_ref records = nullptr;
  double* recordsData = nullptr;
  size_t recordsCapacity = 0;  // doubles
  // The inbox (JS thread only): a Uint8Array a batch's reads are copied into
  // side by side, for lib/reactor.ts to copy each into a Buffer of its own
  // before DeliverToJs returns. Made in JS, a small read's Buffer lives on
  // V8's heap, where one made here costs a backing store, a finalizer record
  // and a sweep. Made once, grown to kMaxInbox at most; released by OnDeliveryClosed.
  napi_ref inbox = nullptr;
  char* inboxData = nullptr;
  size_t inboxCapacity = 0;
  // The write log (JS thread only): one ArrayBuffer, viewed by JS as an
  // index (Float64Array: record count, bytes used, then an (id, length) pair
  // per record) and the bytes of those writes side by side. lib/socket.ts
  // appends small writes to it without a native call; Reactor::Staged()
  // turns them into commands before anything else is staged, so every
  // socket's commands keep their order. Only the ArrayBuffer is kept: its
  // memory is looked up at each use. Released by OnDeliveryClosed.
  napi_ref writeLog = nullptr;
  // Pooled buffers (batch.h) back from the reactor thread, by pool (index
  // pool - 1), for the next small writes and acks (JS thread only). At most
  // MaxReturnedBuffers(pool) each: what one batch brings back, enough for
  // one batch's replies at 1,000 connections (at 256, each reply past the
  // 256th was a malloc here and a free on the reactor thread).
  std::array<std::vector<std::unique_ptr<char[]>>, kBufferPools> freeBuffers;
  // A buffer of pool `pool` (1 to kBufferPools), reused if one is free.
  std::unique_ptr<char[]> TakeBuffer(uint8_t pool) {
    auto& free = freeBuffers[pool - 1];
    if (free.empty()) return std::unique_ptr<char[]>(new char[PooledBufferSize(pool)]);
    std::unique_ptr<char[]> buffer = std::move(free.back());
    free.pop_back();
    return buffer;
  }
  // Keeps a buffer of pool `pool` for reuse, or frees it when the list is full.
  void KeepBuffer(uint8_t pool, std::unique_ptr<char[]> buffer) {
    if (pool == 0 || pool > kBufferPools || !buffer) return;
    auto& free = freeBuffers[pool - 1];
    if (free.size() < MaxReturnedBuffers(pool)) free.push_back(std::move(buffer));
  }
  // Told how many accept events each batch carried to JS (listener.h).
  std::shared_ptr<AcceptGate> acceptGate;
  // Buffers lent to the reactor for bulk reads (read_lender.h): the lender's
  // free list, and the reference keeping each one's memory alive, by id, until
  // JS owns the Buffer or OnDeliveryClosed runs (JS thread only).
  std::shared_ptr<ReadLender> lender;
  std::unordered_map<uint64_t, napi_ref> lent;
  uint64_t nextLent = 1;
  uint64_t lentHandedOver = 0;  // full reads JS got without a copy (stats())
  bool reactorStopped = false;  // Reactor::Teardown ran (JS thread only)

  // Same-thread mode (Loop::TurnInline; configure's thread: 'js',
  // lib/configure.ts): the loop runs its turns on this thread, when
  // libuv finds its epoll fd readable (`poll`) or `turnTimer` comes due (an
  // idle timeout, an accept retry, a command JS submitted), and each turn's
  // batch reaches JS by a direct call after the turn, not through `wake`.
  // Both handles are unref'd: `wake`'s ref alone says whether the reactor
  // keeps the process alive, in both modes. `inlineLoop` is null outside this
  // mode and from Reactor::Teardown on, which stops both handles before the
  // loop closes the epoll fd (JS thread only).
  bool inlineMode = false;
  Loop* inlineLoop = nullptr;
  uv_poll_t poll;
  uv_timer_t turnTimer;
  bool inlineHandlesOpen = false;
  // Handles not yet closed; the last close callback frees the Delivery.
  int handlesOpen = 0;
};


class Reactor : public Napi::ObjectWrap<Reactor> {
 public:
  static Napi::Function DefineClass(Napi::Env env);

  explicit Reactor(const Napi::CallbackInfo& info);
  ~Reactor() override;

 private:
  // listen(family: 4|6|0, address, port, backlog, listenFlags, connectionFlags,
  //        keepAliveSeconds) -> [id, boundAddress, boundPort] or [-errno, failedCall]
  Napi::Value Listen(const Napi::CallbackInfo& info);
  // listenFd(fd, backlog, connectionFlags, keepAliveSeconds, duplicate)
  //   -> [id, boundAddress, boundPort, family] or [-errno, failedCall]
  Napi::Value ListenFd(const Napi::CallbackInfo& info);
  Napi::Value CloseListener(const Napi::CallbackInfo& info);
  // connect(family: 4|6|0, address, port, localAddress, localPort[, tlsContext, servername, session]):
  // with a client TLS context, the connection handshakes once connected
  //   -> [id] or [-errno, failedCall]; the outcome arrives as a connect or error event
  Napi::Value Connect(const Napi::CallbackInfo& info);
  // adoptFd(fd[, wasConnected]) -> [id, remoteAddress, remotePort, localAddress, localPort]
  //   or [-errno, failedCall]. Duplicates fd; the caller still owns (and closes) fd.
  //   wasConnected: a socket libuv had connected, taken even if its connection
  //   has closed both ways since (its addresses are then '' and 0).
  Napi::Value AdoptFd(const Napi::CallbackInfo& info);
  // write(id, Buffer | string[, behind]) -> bytes queued. JS waits for every
  // write to be sent (its callback, as net's, means the kernel has the
  // bytes), so the kWritten event that reaches the end of it wakes JS; one
  // written `behind` the write JS waits for leaves that point where it is
  // (the write log marks them with a negative id).
  Napi::Value Write(const Napi::CallbackInfo& info);
  // awaitWritten(id, total): the kWritten event that reports `total` sent
  // wakes JS (or one now, if it is): for writes made `behind`.
  Napi::Value AwaitWritten(const Napi::CallbackInfo& info);
  // writeLog() -> [index: Float64Array, bytes: Uint8Array], the two views of
  // the write log (Delivery::writeLog), made once per reactor; undefined
  // once torn down or if it cannot be made.
  Napi::Value WriteLog(const Napi::CallbackInfo& info);
  // drainWriteLog(): stages the logged writes now (JS's log is full).
  Napi::Value DrainWriteLog(const Napi::CallbackInfo& info);
  Napi::Value Shutdown(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Pause(const Napi::CallbackInfo& info);
  // tlsAllowWrites(id): JS accepted a TLS client's server; its queued writes may go.
  Napi::Value TlsAllowWrites(const Napi::CallbackInfo& info);
  // tlsSessionStored(id): a TLS server connection's 'newSession' callback
  // was called; what its handshake wrote may go.
  Napi::Value TlsSessionStored(const Napi::CallbackInfo& info);
  // tlsVerdictGiven(id): JS judged a TLS 1.2 server connection's client and
  // ran its 'secureConnection' listeners; the handshake's end may go.
  Napi::Value TlsVerdictGiven(const Napi::CallbackInfo& info);
  Napi::Value TlsUseContext(const Napi::CallbackInfo& info);
  Napi::Value TlsChooseAlpn(const Napi::CallbackInfo& info);
  Napi::Value TlsSetMaxSendFragment(const Napi::CallbackInfo& info);
  // tlsServerSession(connectionId) -> Buffer (the session a server
  // connection's handshake made, as DER) or undefined
  Napi::Value TlsServerSession(const Napi::CallbackInfo& info);
  // tlsQuery(connectionId, kind[, length, label, context]) -> undefined when
  // the connection has no TLS session (or the loop is gone), null when the
  // reactor thread did not answer within Loop::kQueryWaitMs, else
  // [number, ...Buffers]: the answer of tls_query.h, which waits for the
  // reactor thread (number -1: the export failed, Buffers are OpenSSL's
  // message, library and reason).
  Napi::Value TlsQuery(const Napi::CallbackInfo& info);
  Napi::Value TlsAskServernames(const Napi::CallbackInfo& info);
  Napi::Value TlsListenWith(const Napi::CallbackInfo& info);
  Napi::Value TlsAskOcsp(const Napi::CallbackInfo& info);
  Napi::Value TlsAskSessions(const Napi::CallbackInfo& info);
  Napi::Value TlsResumeSession(const Napi::CallbackInfo& info);
  Napi::Value TlsAnswerPsk(const Napi::CallbackInfo& info);
  Napi::Value TlsContextCertificates(const Napi::CallbackInfo& info);
  Napi::Value TlsLogKeys(const Napi::CallbackInfo& info);
  Napi::Value TlsTrace(const Napi::CallbackInfo& info);
  Napi::Value TlsLogServerKeys(const Napi::CallbackInfo& info);
  Napi::Value Resume(const Napi::CallbackInfo& info);
  Napi::Value SetTimeout(const Napi::CallbackInfo& info);
  // setMaxConnections(listenerId, limit): 0 for none; lib/server.ts validates.
  Napi::Value SetMaxConnections(const Napi::CallbackInfo& info);
  Napi::Value SetNoDelay(const Napi::CallbackInfo& info);
  Napi::Value TypeOfService(const Napi::CallbackInfo& info);
  Napi::Value SocketOption(const Napi::CallbackInfo& info);
  Napi::Value SetKeepAlive(const Napi::CallbackInfo& info);
  Napi::Value Reset(const Napi::CallbackInfo& info);
  // forward(forwardId, firstId, secondId, mode); forwardId from nextId()
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value ForwardStart(const Napi::CallbackInfo& info);
  Napi::Value ForwardTo(const Napi::CallbackInfo& info);
  Napi::Value NextId(const Napi::CallbackInfo& info);
  // stats() -> { connections, timerEntries, unconsumedBytes, blockedConnections, capParks, ... },
  // as of the reactor thread's last turn.
  Napi::Value Stats(const Napi::CallbackInfo& info);
  // Hands this tick's staged commands to the reactor thread in one go.
  Napi::Value Flush(const Napi::CallbackInfo& info);
  // destroy(): Teardown now. For a reactor whose thread has failed, once JS
  // holds none of its endpoints (lib/reactor.ts releaseIfFailedAndIdle).
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  // runOnCallerFromNow(): at process exit, the staged commands and every
  // later flush run at once on the JS thread (Loop::RunOnCallerFromNow).
  Napi::Value RunOnCallerFromNow(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  // hold(open) -> done: whether JS has endpoints open; the dispatch
  // reference is strong exactly then (Delivery::dispatch). False if N-API
  // refused the change, which JS then asks for again.
  Napi::Value Hold(const Napi::CallbackInfo& info);
  // createTlsContext({ keys: [{ pem, passphrase? }], certs, ca, cipherList,
  //   cipherSuites, minVersion, maxVersion, alpn: Buffer, requestCert,
  //   rejectUnauthorized, honorCipherOrder, client, ... }) -> [id] or [message, library, reason].
  // lib/tls.ts validates first; a server context's id is passed as listen()'s
  // last argument, a client context's (client: true) to connect().
  Napi::Value CreateTlsContext(const Napi::CallbackInfo& info);
  // releaseTlsContext(id): listeners and connections already using it keep their own reference.
  Napi::Value ReleaseTlsContext(const Napi::CallbackInfo& info);
  Napi::Value SetTlsTicketKeys(const Napi::CallbackInfo& info);

  void Stage(Command::Kind kind, const Napi::CallbackInfo& info, uint64_t amount = 0,
             int32_t extra = 0);
  // The commands staged this tick, after the writes JS has logged since the
  // last call: the only way to staged_, so nothing overtakes a logged write.
  // A refused log (StageWriteLog) is noted in writeLogRefused_, and the next
  // write() or drainWriteLog() throws for it; the caller's command is staged.
  std::vector<Command>& Staged();
  // Stages the write log's records as kWrite commands and empties it. False,
  // staging none, if the index is not one lib/socket.ts could have written,
  // or the log's ArrayBuffer was detached (the log is then dropped for good).
  // The writes in a refused log are lost and their sockets' callbacks never
  // run: only JS that corrupted or detached lib's private log gets there.
  bool StageWriteLog();
  // StageWriteLog, with a TypeError thrown (unless one is pending) if it or
  // an earlier Staged() refused the log: for write() and drainWriteLog(),
  // whose JS callers count a write's bytes only once they return.
  bool StageWriteLogOrThrow();
  // Gives the command `bytes` of at least `room` bytes: the smallest pooled
  // buffer that holds them, reused if one is free (batch.h), or one of its
  // own (past 8 KiB, or once the reactor is released).
  void GiveBuffer(Command& command, size_t room);
  // Copies `length` bytes into the command, into a buffer from GiveBuffer.
  void CopyBytes(Command& command, const char* bytes, size_t length);
  // A string's UTF-8 bytes into command.bytes and command.length; false if V8 cannot read it.
  bool CopyString(napi_env env, napi_value string, Command& command);
  // The TLS context info[index] names: null for no argument or 0 (a plain
  // listener); false if it names no live context, so the caller fails before
  // any side effect instead of listening without TLS.
  bool TlsContextArgument(const Napi::CallbackInfo& info, size_t index, std::shared_ptr<TlsContext>* context);
  // Hands a listening fd to the loop; returns its id. info[flagsIndex] and
  // the next are connectionFlags and keepAliveSeconds.
  uint64_t AddListener(int fd, int backlog, const Napi::CallbackInfo& info, size_t flagsIndex,
                       std::shared_ptr<TlsContext> tlsContext);
  // Stops the thread, closes every fd and closes the delivery's wake handle.
  // Runs from the environment's cleanup hook or the destructor, whichever is first.
  void Teardown();
  // Environment cleanup: submits what JS staged and logged this tick, for
  // Teardown's Loop::Stop to run; then Teardown.
  static void OnEnvironmentCleanup(void* self);
  void SubmitStaged();

 public:
  // Node runs environment cleanup hooks last-registered first, and each
  // external ArrayBuffer (another addon's Buffer, say) registers one that
  // frees its memory. The reactor thread may still be sending from a pinned
  // write's memory, so its hook must run before theirs: it is moved behind
  // every pinned write. (The reactor itself makes no external ArrayBuffers.)
  void MoveCleanupHookLast();

 private:

  std::unique_ptr<Loop> loop_;
  bool released_ = true;
  bool cleanupHookAdded_ = false;
  napi_env env_ = nullptr;
  bool writeLogRefused_ = false;  // a Staged() refused the log; write() says so
  std::vector<Command> staged_;  // only through Staged(), but for StageWriteLog and Teardown
  // TLS contexts JS has made and not released, by id (JS thread only).
  std::unordered_map<uint64_t, std::shared_ptr<TlsContext>> tlsContexts_;
  Delivery* delivery_ = nullptr;  // owned by its wake handle; valid until released_
};

}  // namespace reactor
