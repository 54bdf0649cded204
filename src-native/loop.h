// The reactor thread: epoll_wait, command intake from JS, and dispatch to
// listeners and connections. Only Submit(), Start() and Stop() are called from
// the JS thread; everything else runs on the reactor thread. Or, started
// without a thread of its own (same-thread mode: configure's thread: 'js'),
// the JS thread runs the turns too, one at a time and never inside
// another: TurnInline(), driven by the bridge from libuv.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <sys/epoll.h>
#include <unordered_map>
#include <vector>

#include "batch.h"
#include "connection.h"
#include "fd_table.h"
#include "flow_control.h"
#include "forwarder.h"
#include "listener.h"
#include "read_arena.h"
#include "timers.h"
#include "tls_context.h"
#include "tls_query.h"
#include "tls_server_sessions.h"

namespace reactor {

// What JS held of a connection it forwards to an address (kForwardTo): how
// many of its bytes the reactor had handed JS, and a copy of those JS had
// not consumed. If the reactor read none since, the copy is all JS has, and
// the forward starts at the connect with it (Loop::FinishForwardConnect).
struct ForwardHeld {
  uint64_t received = 0;
  std::unique_ptr<char[]> bytes;  // null when JS held none
  size_t length = 0;
};

// A request from JS. Ids name listeners and connections; fds never cross
// threads as identity (an fd number can be reused the moment it is closed).
struct Command {
  enum class Kind : uint8_t {
    kAddListener,    // id, fd, flags/extra: ConnectionDefaults, amount: backlog;
                     // the loop owns fd now
    kCloseListener,  // id
    kWrite,          // id, bytes; flags: kWriteBehind
    kAwaitWritten,   // id, amount: the total JS's write callback waits for
                     // (Connection::notifyAt), for writes made kWriteBehind;
                     // flags: kReportAttempt
    kShutdown,       // id: shutdown(SHUT_WR) once queued writes are sent
    kClose,          // id
    kPause,          // id: stop reading, so the kernel pushes back on the peer
    kResume,         // id
    kAcks,           // bytes: (id, amount) pairs of doubles, bytes JS has consumed
    kSetTimeout,     // id, amount: idle milliseconds, 0 to cancel
    kSetNoDelay,     // id, amount: 0 or 1
    kSetKeepAlive,   // id, amount: 0 or 1, extra: idle seconds before probes,
                     // other: seconds between probes, flags: probes (sys::SetKeepAlive)
    kReset,          // id: close with RST (SO_LINGER 0)
    kAddConnection,  // id, fd, flags: kConnecting; the loop owns fd now;
                     // tlsContext and tlsClient for a TLS client connection
    kForward,        // id: forward, amount: first connection, other: second,
                     // flags: ForwardMode. Stops reading both for JS; answers kForwardReady
    kForwardStart,   // id: forward. JS has passed on what it held; start moving bytes
    kForwardTo,      // id: forward, amount: the connection to forward, bytes: the
                     // address to connect to (text), extra: its port, flags:
                     // ForwardMode | kForwardNoDelay | family << 8, other: connect
                     // timeout in ms (0: none), forwardHeld: what JS held of the
                     // connection. The loop connects and forwards
                     // (Loop::StartForwardTo); answers kForwardReady or kForwardDone
    kSetMaxConnections,  // id: listener, amount: net's maxConnections (0: no limit)
    kTlsAllowWrites,     // id: a TLS client whose server JS accepted may send
                         // its application data (TlsSession::AllowWrites)
    kTlsUseContext,      // id: a TLS server connection whose handshake waits for
                         // a context by SNI name; tlsContext: JS's choice, or
                         // null for the listener's; bytes: an OCSP response to
                         // staple, or none (TlsSession::UseContext)
    kTlsMaxSendFragment,  // id, amount: plaintext bytes per record from now on,
                          // 512 to 16384 (TlsSession::SetMaxSendFragment)
    kTlsQuery,            // id, amount: the query's number, tlsQuery: what JS
                          // asks (Loop::QueryTls waits for the answer)
    kTlsLogKeys,          // id: a TLS client reports its key log lines (TlsSession::LogKeys)
    kTlsTrace,            // id: a TLS connection traces its records to stderr (TlsSession::EnableTrace)
    kTlsChooseAlpn,       // id: a TLS server connection whose handshake waits for an
                          // ALPN name; amount: the index of JS's choice among those
                          // offered, past them for none; tlsContext: the one whose
                          // certificate to use (setKeyCert), or null (TlsSession::ChooseAlpn)
    kTlsResumeSession,    // id: a TLS server connection whose handshake waits for
                          // JS's lookup of an offered session id; bytes: the
                          // session (DER), or none (TlsSession::ResumeSession)
    kTlsAnswerPsk,        // id: a TLS connection whose handshake waits for a PSK
                          // key; amount: the index of the identity JS found a key
                          // for, past them for none; bytes: the key. A client's:
                          // amount the identity's length, bytes the identity then
                          // the key (TlsSession::AnswerPsk)
    kTlsSessionStored,    // id: a TLS server connection whose output waits for
                          // JS's 'newSession' callback may send (TlsSession::SessionStored)
    kTlsVerdictGiven,     // id: a TLS 1.2 server connection whose handshake's end
                          // waits for JS's verdict may send (TlsSession::VerdictGiven)
    kTlsListenWith,       // id: a TLS listener; tlsContext: the server context the
                          // connections it accepts from now on start with (tls.Server's
                          // setSecureContext); those accepted before keep theirs
    kSocketOption,        // id, amount: the query's number, flags: a sys::SocketOption,
                          // extra: the type of service to set, or -1 to read the
                          // option (Loop::SocketOption waits for the answer)
  };
  // Bits of `flags` for kAddListener.
  static constexpr uint32_t kPauseOnConnect = 1;
  static constexpr uint32_t kNoDelay = 2;
  static constexpr uint32_t kKeepAlive = 4;
  // Bits of `flags` for kAddConnection.
  static constexpr uint32_t kConnecting = 1;
  // Bits of `flags` for kWrite: handed over behind the write JS waits for,
  // so it leaves that write's wake-up point (notifyAt) where it is.
  static constexpr uint32_t kWriteBehind = 1;
  // Bits of `flags` for kAwaitWritten: JS holds a FIN read with the bytes
  // its listeners answered; say (kWritten, `attempted`) once this turn has
  // tried the writes queued before, whatever the kernel took.
  static constexpr uint32_t kReportAttempt = 1;
  // Bits of `flags` for kForwardTo, above the ForwardMode.
  static constexpr uint32_t kForwardNoDelay = 4;

  explicit Command(Kind what) : kind(what) {}
  Command(Command&&) = default;
  Command& operator=(Command&&) = default;
  // Cleanses a kTlsAnswerPsk's key, however the command ends: applied,
  // late, for a connection gone, or dropped at teardown. Every path that
  // lets go of `bytes` (RunCommands returns them to their pool) calls it
  // first: the one place that knows which bytes are secret.
  void CleanseSecret();
  ~Command();
  Kind kind;
  uint64_t id = 0;
  int fd = -1;
  uint64_t amount = 0;
  uint64_t other = 0;
  uint32_t flags = 0;
  int32_t extra = 0;
  std::unique_ptr<char[]> bytes;
  uint8_t bytesPool = 0;  // `bytes` came from this buffer pool (batch.h); 0: none
  size_t length = 0;
  // kWrite of a pinned JS Buffer: its memory, and the pin to hand back.
  const char* pinnedBytes = nullptr;
  uint64_t pin = 0;
  // kAddListener of a TLS listener: the context its connections handshake
  // with; kAddConnection of a TLS client: its (client) context;
  // kTlsUseContext: the server context chosen by SNI name, or null;
  // kTlsChooseAlpn: the server context setKeyCert() gave, or null.
  std::shared_ptr<TlsContext> tlsContext;
  // kAddConnection of a TLS client: what its handshake starts with (a
  // pointer, so that the commands of every other kind stay small).
  std::unique_ptr<TlsClientStart> tlsClient;
  // kTlsQuery: the question.
  std::unique_ptr<TlsQuery> tlsQuery;
  // kForwardTo: what JS held of the connection when it asked.
  std::unique_ptr<ForwardHeld> forwardHeld;
};

struct LoopOptions {
  // Bytes read from one socket per loop turn, so one fast sender cannot starve
  // the rest; a socket cut off here is read again next turn without an edge.
  // 512 KiB: each turn costs a batch and a wakeup, and at 256 KiB a 64 KiB
  // stream paid about 15 % of its rate for them (libuv reads up to 2 MiB).
  size_t readBudgetPerTurn = 512 * 1024;
  // Bytes one socket may have handed to JS but not yet consumed. Stops reading
  // even when a pause from JS arrives a batch late.
  uint64_t unackedCapPerSocket = 1024 * 1024;
  // The same for all sockets together: bounds memory when the JS thread stalls.
  uint64_t unackedCapTotal = 64 * 1024 * 1024;
  // Treat a short read as "queue empty" (saves one recv per wakeup on Linux).
  bool shortReadDrains = true;
  // A short read with a hangup behind it is the end of the stream, not a
  // read on to the reset's error: libuv's reading up to 1.49 (Node 20 and
  // 22); later libuv (Node 24 on) reads on, and so does the reactor then.
  bool hangupEndsShortRead = true;
  // Edge-triggered: every connection is registered once for reading and
  // writing and never modified. Level-triggered: interest follows state
  // (EPOLLIN while JS wants data, EPOLLOUT only while a send is blocked), at
  // the price of an epoll_ctl per change. Forwarded pairs are always edge-triggered.
  bool edgeTriggered = true;
};

// Counters the reactor thread publishes at the end of every turn, for tests
// and diagnostics (the JS `stats()`). Relaxed: each is a snapshot.
struct LoopStats {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> timerEntries{0};
  std::atomic<uint64_t> unconsumedBytes{0};
  std::atomic<uint64_t> blockedConnections{0};
  std::atomic<uint64_t> capParks{0};
  std::atomic<uint64_t> heldListeners{0};
};

class Loop {
 public:
  // Hands `batch` to JS and leaves in it an empty batch to fill next (one
  // JS has finished with, or null). Returns how many kTimeout events are
  // waiting for the JS thread, this batch's included.
  using Deliver = std::function<size_t(std::unique_ptr<Batch>& batch)>;
  // How many kTimeout events handed over are still waiting for the JS thread.
  using TimeoutsAwaitingJs = std::function<size_t()>;

  // Timeouts handed to JS and not taken yet, at most. Thousands of sockets
  // can come due together, and each costs JS a 'timeout' handler (usually a
  // destroy, ~20 us). Had the count been per turn, a JS stall (a 25 ms
  // scavenge) let turn after turn pile theirs into the batch JS had not
  // taken, and a new connection's events then waited behind 800 of them
  // (15 ms of JS, RELIABILITY #21). Bounded by what JS holds, they come in
  // slices of this many whatever JS is doing; the rest stay in the heap, due,
  // and JS taking a full slice wakes the loop for the next (DeliverToJs).
  static constexpr size_t kMaxTimeoutsAwaitingJs = 64;
  // How long the loop sleeps, at most, while due timeouts wait for JS to
  // take a full slice: only a bound in case that wake were lost.
  static constexpr int kHeldTimeoutsWaitMs = 50;

  Loop(LoopOptions options, Deliver deliver, TimeoutsAwaitingJs timeoutsAwaitingJs);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Creates the epoll set and starts the thread, or with `ownThread` false
  // leaves the turns to the caller (TurnInline). Returns 0, or -errno with
  // the failed call named in *failedCall; on failure nothing is left open.
  int Start(const char** failedCall, bool ownThread = true);
  // Same-thread mode, on the JS thread. The epoll fd is readable while a
  // socket or command has news; each time it is, and when InlineWaitMs()
  // says, the caller runs a turn. A turn never blocks and never calls JS: what
  // it delivers waits in the delivery for the caller to hand over.
  int epollFd() const { return epollFd_; }
  // Runs one turn. False once the loop has failed or stopped (nothing more
  // to run; the failure is in the delivery).
  bool TurnInline();
  // After a turn, and after JS had what it delivered: milliseconds until the
  // next turn is due (an idle timeout, an accept retry), 0 for at once (a
  // command waits, or a socket has bytes no edge will announce), -1 for
  // only when the epoll fd or `wake` calls for one.
  int InlineWaitMs();
  // What Submit calls instead of writing the eventfd when commands need a
  // turn. Set once, before the first Submit.
  void SetInlineWake(std::function<void()> wake) { inlineWake_ = std::move(wake); }
  // Stops the thread, joins it, runs the commands submitted before (see
  // RunLastCommands), and closes every fd the loop owns. Idempotent.
  void Stop();
  // JS thread, at process exit (lib/reactor.ts finishAtExit): stops and
  // joins the thread as Stop() does and runs what JS handed over, but
  // closes nothing, and from then on runs every Submit at once on the
  // caller's thread. So what JS writes in 'exit' listeners that come after
  // the package's is sent as net's try-write sends it. Nothing reaches JS
  // any more; Stop() still closes everything. Once only; not after Stop().
  void RunOnCallerFromNow();
  // Hands commands to the reactor thread and wakes it; acknowledgements
  // (kAcks) alone wake it only when a connection waits for them at a cap,
  // and otherwise wait for its next turn. Commands that arrive after Stop()
  // are discarded, closing any fd they carry.
  void Submit(std::vector<Command>& commands);
  // Acknowledgement commands that may wait for the reactor's next turn, at most.
  static constexpr size_t kMaxWaitingAcks = 64;
  // Wakes a sleeping reactor for commands Submit left to its next turn (a
  // caller about to read stats(), which they change).
  void WakeForWaitingCommands();
  // Submits one command of JS's that is not staged: one that hands the loop
  // an fd, which it then owns, or a query JS waits for (Ask).
  void SubmitOwned(Command command);
  // Closes a listener and returns once its fd is closed, so that a connect
  // made after close() returns is refused, as with net. The JS thread waits
  // microseconds: the reactor thread never waits for JS.
  void CloseListenerNow(uint64_t id);
  // Asks connection `id`'s TLS session `query` (tls_query.h) and waits for
  // the reactor thread's answer, as CloseListenerNow waits: the reactor
  // thread never waits for JS.
  enum class QueryOutcome : uint8_t {
    kAnswered,
    kNoSession,  // no such TLS connection (or nothing to say), or the loop is stopped or failed
    kTimedOut,   // the reactor thread did not answer within kQueryWait
  };
  static constexpr int kQueryWaitMs = 5000;
  QueryOutcome QueryTls(uint64_t id, std::unique_ptr<TlsQuery> query, TlsAnswer* answer);
  // Reads (`value` -1) connection `id`'s `option`, or sets its type of
  // service (`value` 0-255; sys::SetTypeOfService), and waits, as QueryTls.
  // *result: 0 once set, the value read, or -errno. kNoSession: no such
  // connection.
  QueryOutcome SocketOption(uint64_t id, sys::SocketOption option, int value, int* result);
  // Ids for listeners and connections: unique for the life of the loop.
  uint64_t NextId() { return nextId_.fetch_add(1, std::memory_order_relaxed); }
  // Any thread.
  const LoopStats& stats() const { return stats_; }
  // The reactor thread's Linux thread id, for tests and tools that read its
  // /proc/self/task entry: 0 until the thread runs, once it has ended, and
  // with no thread of its own.
  int threadId() const { return threadId_.load(std::memory_order_acquire); }
  // Shared with the delivery, which reports accept events JS has taken.
  std::shared_ptr<AcceptGate> acceptGate() const { return acceptGate_; }
  std::shared_ptr<ReadLender> lender() const { return lender_; }
  // Shared with the JS thread, which encodes a server socket's session when asked.
  std::shared_ptr<TlsServerSessions> tlsServerSessions() const { return tlsServerSessions_; }

 private:
  void Run();
  // One turn: waits up to `timeoutMs` for events, then runs every phase.
  // False when epoll_wait failed for good (FailEverything has run).
  bool Turn(int timeoutMs);
  // Announces that the loop is about to wait (Submit reads these) and
  // returns how long it may.
  int PrepareToWait();
  // Same-thread mode: a JS call that waits for the loop (CloseListenerNow,
  // Ask) runs a turn itself, which answers it; JS is never inside a turn.
  void TurnForWaitingCaller();
  // Same-thread mode: asks the caller for a turn as soon as it can.
  void WantInlineTurn();
  void RunCommands();
  // Stop(), once no thread runs turns: what JS submitted that no turn took
  // (the thread looks for the stop only between turns) is done, its writes
  // sent as far as the kernel takes them now, as net's try-write has sent
  // them by the time write() returns. Nothing it reports reaches JS, and
  // nothing new starts: no accept, listener or forward. (Commands JS staged
  // and never flushed stay in the Reactor: a Worker terminated mid-tick
  // drops them. process.exit() runs no cleanup at all: lib/reactor.ts
  // flushes from an 'exit' listener and calls RunOnCallerFromNow(), after
  // which every Submit() runs this.)
  void RunLastCommands();
  void Apply(Command& command);
  void ApplyAcks(const Command& command);
  // Sets hangup.seen from poll(2) for a level-triggered connection about to be
  // read while outside the epoll set (paused, capped, parked in the line).
  void NoteHangupOutsideEpoll(Connection* connection);
  // Submits `command` (a kTlsQuery or kSocketOption) under a new query
  // number and waits for Answer(); the JS thread's side of both.
  QueryOutcome Ask(Command command, TlsAnswer* answer);
  // Reactor thread: hands `answer` to the JS thread waiting on `number`.
  void Answer(uint64_t number, TlsAnswer answer);
  void AnswerQuery(Command& command);
  void AcceptReady();
  // Queues the listeners the AcceptGate stopped, once JS has made room.
  void ReopenHeldListeners();
  // Queues the listeners whose accept retry (Listener::retryAtMs) is due.
  void RetryListeners();
  // Milliseconds until the nearest accept retry, or -1 if none.
  int MillisecondsUntilRetry(uint64_t nowMs) const;
  // A turn over thousands of sockets can run for tens of milliseconds (more
  // where it shares a core with the JS thread), while a connect burst fills
  // the kernel's accept queue (the backlog: 511 by default) in a few and then
  // has SYNs dropped, each costing its client a 1 s retransmit: 10,000
  // connections opened at once saw hundreds to thousands of connects time
  // out. So reads, flushes and forwards call this between sockets; it reads
  // the clock every kSocketsBetweenClockChecks sockets and, once the
  // millisecond clock has moved kMidTurnAcceptMs past the last accept pass,
  // makes another (and refreshes nowMs_, which the new connections' idle
  // clocks start from). Not while a listener command waits: a close() must
  // stop accepting, as net's does, and a turn runs commands only at its start
  // (one flag for every listener: closing one server holds the others' passes
  // back for the rest of that turn).
  void AcceptDuringLongTurn();
  // Records a kConnection or kDrop event for the AcceptGate.
  void CountAcceptEvent();
  void ReadReady();
  // Reads one connection taken from the ready list or the line, if it still
  // wants to read and the caps admit it.
  void ReadConnection(Connection* connection, int* handshakeSteps);
  void FlushWrites();
  // Sends what one connection has queued, as far as the kernel takes it, and
  // what follows from that (activity, a TLS read waiting for room).
  void FlushConnection(Connection* connection);
  // Answers kReportAttempt: a kWritten, marked, of what the kernel has now.
  void AnswerWriteAttempt(Connection* connection);
  void ExpireIdle();
  void DeliverTurn();
  void PublishStats();
  int WaitTimeout();

  // Level-triggered mode: connections whose state changed this turn are
  // re-registered for the events that state calls for, once, at the end of
  // the turn. Edge-triggered mode registers once and skips all of this.
  void MarkInterestDirty(Connection* connection);
  void SyncInterestAll();
  void SyncInterest(Connection* connection);
  uint32_t InterestFor(const Connection* connection) const;
  // Whether `connection` reads when the caps let it: JS wants its bytes, or
  // its TLS handshake goes on. InterestFor and SyncInterest's parking share it.
  bool WantsToRead(const Connection* connection) const;
  // Registers a new connection; returns 0 or -errno.
  int Register(Connection* connection);
  void QueueWrite(Connection* connection);
  void QueueAccept(Listener* listener);
  // Records I/O on `connection` for its idle timeout.
  void Touch(Connection* connection);
  // A TLS client's session reports count as bytes JS holds until it
  // acknowledges them (TlsSession::TakeReportedBytes), under the same caps.
  void ChargeTlsReports(Connection* connection);
  void ArmTimer(Connection* connection, uint64_t dueMs);
  // JS's close or reset of `connection`, before it: `write(x); destroy()` in
  // one tick, and net's libuv has sent x, as it tries every write at once.
  // Sends what the kernel takes now, unless the kernel was full already
  // (libuv would have queued x then, and dropped it). Issue 12 item 8.
  // Before a reset (`reset`), no FIN.
  void SendBeforeClosing(Connection* connection, bool reset);
  // A TLS connection's held output was let go (SessionStored, VerdictGiven):
  // it is sent, or its forward pumped, and a read that waited for room goes on.
  void SendHeldOutput(Connection* connection);
  void CloseConnection(Connection* connection);
  void AddConnection(Command& command);
  void StartForward(const Command& command);
  void StartForwardTo(const Command& command);
  // A kForwardTo's upstream connect ended: the forward starts, or the
  // upstream goes and the connection it was for stays as JS left it.
  void FinishForwardConnect(Connection* upstream);
  void FailForwardConnect(Forwarder* forwarder, int error);
  // The client of a forward whose upstream still connects reported an
  // error: ends the forward now (true), rather than when the connect does.
  bool CancelForResetClient(Forwarder* forwarder);
  void QueueForward(Forwarder* forwarder);
  void PumpForwards();
  // Reports the forward's outcome and closes both of its connections, but
  // for `closing`, which the caller is closing already.
  void FinishForward(Forwarder* forwarder, Connection* closing = nullptr);
  void FinishConnect(Connection* connection);
  // Queues a copy of the bytes JS held of a forward's client on its upstream,
  // to be sent ahead of the forward (no JS write waits for them).
  void QueueHeldBytes(Connection* upstream, std::unique_ptr<char[]> held, size_t length);
  // Appends the two address strings of `fd` to the batch; returns the index
  // of the first and sets *ports to remotePort * 65536 + localPort.
  size_t AddAddresses(int fd, const sys::SocketAddress* knownPeer, double* ports);
  void CloseListener(Listener* listener);
  Connection* FindConnection(uint64_t id);
  Listener* FindListener(uint64_t id);
  Forwarder* FindForwarder(uint64_t id);
  void CloseEverything();
  // epoll_wait failed for good: every listener, forward and connection gets
  // the error and is closed, JS hears kReactorFailed, and the thread ends.
  // Commands submitted from then on are answered with the same error.
  void FailEverything(int error);
  // Answers a command the dead loop cannot run: fds closed, pins handed back,
  // an error event for a new listener or connection so that JS hears of it.
  static void RejectCommand(Command& command, int error, Batch& batch);

  const LoopOptions options_;
  const Deliver deliver_;
  const TimeoutsAwaitingJs askTimeoutsAwaitingJs_;
  std::atomic<uint64_t> nextId_{1};
  LoopStats stats_;

  int epollFd_ = -1;
  int wakeFd_ = -1;
  int spareFd_ = -1;
  // Grows the fd table ahead of accepts, off this thread (fd_table.h).
  FdTableGrower fdTable_;
  Pollable wakeTag_{Pollable::Kind::kWake};
  static void* ThreadMain(void* self);
  pthread_t thread_{};
  bool started_ = false;
  // Same-thread mode (Start without a thread): the JS thread runs the turns.
  bool inline_ = false;
  bool inTurn_ = false;       // same-thread mode: a turn is running
  // RunOnCallerFromNow has run: no thread, every Submit runs its commands
  // (JS thread only).
  bool runsOnCaller_ = false;
  bool lastPass_ = false;     // RunLastCommands is running: nothing new starts
  bool inlineEnded_ = false;  // same-thread mode: failed or stopped; no more turns
  bool inlineTurnWanted_ = false;  // same-thread mode: a command needs the next turn soon
  std::function<void()> inlineWake_;
  std::vector<epoll_event> events_;  // what a turn's epoll_wait fills

  std::mutex commandsMutex_;
  std::vector<Command> commands_;  // guarded by commandsMutex_
  // Reactor thread: the commands of the current turn, emptied after each.
  std::vector<Command> commandsRunning_;
  // Listener closes the JS thread is waiting for, and those done.
  std::condition_variable listenerClosed_;
  std::vector<uint64_t> listenersClosedNow_;  // guarded by commandsMutex_
  // Queries JS waits for, by number (Ask): an entry is made and erased by
  // the waiting JS thread, and filled by the reactor thread only while it is
  // there; an answer that comes after the wait gave up is dropped. A
  // kSocketOption answer is a TlsAnswer's `number`.
  struct PendingAnswer {
    bool done = false;
    TlsAnswer answer;
  };
  std::condition_variable answered_;
  std::unordered_map<uint64_t, PendingAnswer> answers_;  // guarded by commandsMutex_
  uint64_t nextQuery_ = 1;                               // guarded by commandsMutex_
  bool stopping_ = false;          // guarded by commandsMutex_
  int failedError_ = 0;            // guarded by commandsMutex_: errno of FailEverything
  bool failedListenersClosed_ = false;  // guarded by commandsMutex_: FailEverything closed them
  std::atomic<bool> stopRequested_{false};
  std::atomic<int> threadId_{0};  // set by the reactor thread as it starts
  // The eventfd is written only while the reactor is (about to be) blocked
  // in epoll_wait; Submit() explains the ordering that loses no wakeup.
  std::atomic<bool> sleeping_{false};    // set before epoll_wait, cleared after
  std::atomic<bool> commandsWaiting_{false};  // commands_ non-empty; set and cleared under commandsMutex_
  // commands_ holds a kCloseListener or kSetMaxConnections; set and cleared
  // under commandsMutex_. A turn does not accept mid-way past one
  // (AcceptDuringLongTurn): net stops accepting at close().
  std::atomic<bool> listenerCommandsWaiting_{false};
  // Stored before each sleep: a connection is stopped at a cap, so
  // acknowledgements must wake the reactor (Submit).
  std::atomic<bool> acksAwaited_{false};

  // Reactor-thread state.
  ConnectionTable connections_;
  std::unordered_map<uint64_t, std::unique_ptr<Listener>> listeners_;
  // The read side: ready list, cap-blocked set, unconsumed-byte accounting.
  FlowControl flow_;
  // Queues that outlive a callback hold ids, never pointers, and are looked
  // up again when taken (ids are never reused): an entry for an object closed
  // since is skipped. Added by QueueWrite/QueueAccept/QueueForward (each
  // object at most once, by its queued flag), emptied by the phase that takes
  // them every turn.
  std::vector<uint64_t> writeQueue_;
  std::vector<uint64_t> acceptQueue_;
  // Listeners that stopped accepting because the AcceptGate was full; added
  // by AcceptReady, emptied by ReopenHeldListeners.
  std::vector<uint64_t> heldListeners_;
  // Listeners waiting to retry after a transient accept error; added by
  // AcceptReady, emptied by RetryListeners once due.
  std::vector<uint64_t> retryListeners_;
  // When an accept pass last ran (start of turn or AcceptDuringLongTurn),
  // and sockets served since the clock was last read.
  uint64_t lastAcceptPassMs_ = 0;
  uint32_t socketsSinceClockCheck_ = 0;
  const std::shared_ptr<AcceptGate> acceptGate_ = std::make_shared<AcceptGate>();
  // Buffers JS lends for bulk reads (read_lender.h); the arena takes them.
  const std::shared_ptr<ReadLender> lender_ = std::make_shared<ReadLender>();
  const std::shared_ptr<TlsServerSessions> tlsServerSessions_ = std::make_shared<TlsServerSessions>();
  std::vector<uint64_t> forwardQueue_;
  // Each turn swaps a queue with its scratch twin and walks the twin, so the
  // queues keep their capacity instead of allocating every turn.
  std::vector<Connection*> readScratch_;
  std::vector<uint64_t> writeScratch_;
  std::vector<uint64_t> acceptScratch_;
  std::vector<uint64_t> forwardScratch_;
  std::vector<uint64_t> dueScratch_;
  // Pointers, but only within a turn: filled by MarkInterestDirty and emptied
  // by SyncInterestAll before the turn's closed connections are freed.
  std::vector<Connection*> interestDirty_;
  // Closed objects live until the end of the turn: epoll events already
  // fetched in this turn may still point at them.
  std::vector<std::unique_ptr<Connection>> closedConnections_;
  std::vector<std::unique_ptr<Listener>> closedListeners_;
  std::unordered_map<uint64_t, std::unique_ptr<Forwarder>> forwarders_;
  std::vector<std::unique_ptr<Forwarder>> finishedForwarders_;
  PipePool pipes_;
  IdleTimers timers_;
  uint64_t nowMs_ = 0;  // read after epoll_wait, and again by a mid-turn accept pass
  // kTimeout events handed over that JS has not taken yet, as of the last
  // DeliverTurn; ExpireIdle keeps it at most kMaxTimeoutsAwaitingJs.
  size_t timeoutsAwaitingJs_ = 0;
  ReadArena arena_;
  std::unique_ptr<Batch> batch_;
};

}  // namespace reactor
