#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "sys.h"
#include "tls_session.h"

namespace reactor {

namespace {
// epoll events fetched per wait. More wait in the kernel for the next turn,
// which is fine: a turn's work is bounded anyway, per socket by the read
// budget and in all by the unconsumed-bytes caps.
constexpr int kMaxEventsPerWait = 1024;
// Connections accepted per listener per accept pass before reads get a go.
constexpr int kMaxAcceptsPerTurn = 512;
// A turn stops between sockets for another accept pass once the millisecond
// clock has moved this far past the last one (Loop::AcceptDuringLongTurn),
// looking at the clock once per this many sockets.
constexpr uint64_t kMidTurnAcceptMs = 1;
constexpr uint32_t kSocketsBetweenClockChecks = 8;
// After a transient accept error (ENOBUFS, ENOMEM, EPERM...) the listener is
// tried again this much later: soon enough that a backlog is not left waiting
// for another client's edge, seldom enough that a lasting error costs one
// failed accept4 (and one report) per interval, not a spinning loop.
constexpr uint64_t kAcceptRetryMs = 50;
// Due timer entries looked at per turn, fired or re-armed (an entry whose
// socket was active since it was armed only moves): a turn's work stays
// bounded however many come due, and re-arms do not use up the slice of
// timeouts JS may hold (Loop::kMaxTimeoutsAwaitingJs).
constexpr size_t kMaxTimerEntriesPerTurn = 256;

// Every socket is registered once for reading and writing, edge-triggered.
// EPOLLOUT only raises an edge after a send found the buffer full, so it costs
// nothing while writes succeed and needs no epoll_ctl per write. EPOLLPRI says
// a TCP urgent mark arrived: recv() stops short at the mark with bytes still
// queued, so that socket must be read to EAGAIN (Connection::urgentMark).
// Level-triggered mode leaves EPOLLPRI out: it stays raised until the urgent
// byte is read with MSG_OOB, which would spin, and EPOLLIN is reported again
// anyway while bytes remain.
constexpr uint32_t kConnectionEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
// TLS handshake steps per turn. A step can cost a private-key operation
// (about a millisecond for RSA-2048); past this many, handshaking connections
// wait for the next turn, so a flood of new clients delays established
// connections by at most this many steps per turn (uSockets' ssl_is_low_prio).
constexpr int kMaxHandshakeStepsPerTurn = 16;
}  // namespace

Loop::Loop(LoopOptions options, Deliver deliver, TimeoutsAwaitingJs timeoutsAwaitingJs)
    : options_(options),
      deliver_(std::move(deliver)),
      askTimeoutsAwaitingJs_(std::move(timeoutsAwaitingJs)),
      flow_(connections_, options.unackedCapPerSocket, options.unackedCapTotal),
      batch_(std::make_unique<Batch>()) {
  arena_.SetLender(lender_.get());
}

Loop::~Loop() { Stop(); }

int Loop::Start(const char** failedCall, bool ownThread) {
  events_.resize(kMaxEventsPerWait);
  *failedCall = "epoll_create1";
  epollFd_ = sys::EpollCreate();
  if (epollFd_ < 0) return epollFd_;
  *failedCall = "eventfd";
  wakeFd_ = sys::EventFdCreate();
  if (wakeFd_ < 0) {
    int error = wakeFd_;
    sys::Close(epollFd_);
    epollFd_ = -1;
    return error;
  }
  *failedCall = "epoll_ctl";
  int added = sys::EpollAdd(epollFd_, wakeFd_, EPOLLIN | EPOLLET, &wakeTag_);
  if (added < 0) {
    sys::Close(wakeFd_);
    sys::Close(epollFd_);
    wakeFd_ = epollFd_ = -1;
    return added;
  }
  spareFd_ = sys::OpenSpareFd();
  fdTable_.Configure(epollFd_, sys::OpenFileLimit());
  acceptGate_->SetWakeFd(wakeFd_);
  acceptGate_->SetFdLimit(sys::OpenFileLimit());
  if (!ownThread) {
    inline_ = true;
    nowMs_ = MonotonicMs();
    return 0;
  }
  // The thread starts with every signal blocked: process signals go to
  // Node's threads, syscalls here see no EINTR from them, and a SIGPIPE from
  // splice() into a reset peer stays pending on this thread, harmless.
  // pthread_create, not std::thread: built without exceptions, a failed
  // std::thread aborts the process, and the JS thread's mask must be restored
  // on every path.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  int created = pthread_create(&thread_, nullptr, &Loop::ThreadMain, this);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (created != 0) {
    // The gate must not keep a number that is closed below and may be reused.
    acceptGate_->SetWakeFd(-1);
    if (spareFd_ >= 0) sys::Close(spareFd_);
    sys::Close(wakeFd_);
    sys::Close(epollFd_);
    spareFd_ = wakeFd_ = epollFd_ = -1;
    *failedCall = "pthread_create";
    return -created;
  }
  started_ = true;
  return 0;
}

void* Loop::ThreadMain(void* self) {
  auto* loop = static_cast<Loop*>(self);
  loop->Run();
  // Ended (stopped, or a turn failed): no id that could name another thread later.
  loop->threadId_.store(0, std::memory_order_release);
  return nullptr;
}

void Loop::Stop() {
  {
    std::lock_guard<std::mutex> lock(commandsMutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  stopRequested_.store(true, std::memory_order_release);
  inlineEnded_ = true;  // same-thread mode: this is the only thread, no lock needed
  // From here the JS thread must not signal the eventfd: it is closed below.
  acceptGate_->SetWakeFd(-1);
  if (started_) {
    sys::EventFdSignal(wakeFd_);
    pthread_join(thread_, nullptr);
    started_ = false;
  }
  RunLastCommands();
  // Before the epoll fd it duplicates is closed below.
  fdTable_.Stop();
  std::vector<Command> leftover;
  {
    std::lock_guard<std::mutex> lock(commandsMutex_);
    leftover.swap(commands_);
    commandsWaiting_.store(false, std::memory_order_seq_cst);
  }
  for (Command& command : leftover) {
    if (command.fd >= 0) sys::Close(command.fd);
  }
  CloseEverything();
  // Spare pipes are fds too; an environment torn down (a Worker terminated)
  // must not leave them behind even if the Reactor object is never finalized.
  pipes_.Clear();
  if (spareFd_ >= 0) sys::Close(spareFd_);
  if (wakeFd_ >= 0) sys::Close(wakeFd_);
  if (epollFd_ >= 0) sys::Close(epollFd_);
  spareFd_ = wakeFd_ = epollFd_ = -1;
}

void Loop::RunOnCallerFromNow() {
  {
    std::lock_guard<std::mutex> lock(commandsMutex_);
    if (stopping_ || runsOnCaller_) return;
  }
  stopRequested_.store(true, std::memory_order_release);
  inlineEnded_ = true;  // same-thread mode: no more turns from libuv either
  if (started_) {
    sys::EventFdSignal(wakeFd_);
    pthread_join(thread_, nullptr);
    started_ = false;
  }
  // No thread of ours may be left running into exit(); nothing from here
  // needs the grower (lastPass_ adds no listener and accepts nothing).
  fdTable_.Stop();
  runsOnCaller_ = true;
  RunLastCommands();
}

void Loop::RunLastCommands() {
  // A failed loop answered every command at Submit. (Never inside a turn:
  // a turn calls no JS, and only JS calls Stop(), and Submit() after
  // RunOnCallerFromNow().)
  if (failedError_ != 0) return;
  lastPass_ = true;
  inTurn_ = true;
  nowMs_ = MonotonicMs();
  RunCommands();
  FlushWrites();
  inTurn_ = false;
}

void Loop::Submit(std::vector<Command>& commands) {
  if (commands.empty()) return;
  // Acknowledgements alone need not wake the reactor: they only lower byte
  // totals, which matter to a connection stopped at a cap (acksAwaited_).
  // Otherwise they wait for the reactor's next turn, which I/O or any other
  // command brings.
  bool urgent = false;
  {
    std::unique_lock<std::mutex> lock(commandsMutex_);
    if (stopping_) {
      for (Command& command : commands) {
        if (command.fd >= 0) sys::Close(command.fd);
      }
      commands.clear();
      return;
    }
    if (failedError_ != 0) {
      int error = failedError_;
      lock.unlock();
      // No thread will run these: answer them from here. deliver_ is safe to
      // call from any thread (a mutex and a uv_async_send).
      auto batch = std::make_unique<Batch>();
      for (Command& command : commands) RejectCommand(command, error, *batch);
      commands.clear();
      if (!batch->Empty()) {
        deliver_(batch);
        // Same-thread mode: the caller's next turn hands it to JS.
        if (inlineWake_) inlineWake_();
      }
      return;
    }
    for (const Command& command : commands) {
      if (command.kind != Command::Kind::kAcks) urgent = true;
      if (command.kind == Command::Kind::kCloseListener || command.kind == Command::Kind::kSetMaxConnections) {
        listenerCommandsWaiting_.store(true, std::memory_order_relaxed);
      }
    }
    // Bounded: JS reading a paused socket a chunk per tick acknowledges
    // every tick, and a sleeping reactor must not collect them without end.
    if (commands_.size() + commands.size() >= kMaxWaitingAcks) urgent = true;
    if (commands_.empty()) {
      commands_.swap(commands);
    } else {
      for (Command& command : commands) commands_.push_back(std::move(command));
      commands.clear();
    }
    commandsWaiting_.store(true, std::memory_order_seq_cst);
  }
  if (runsOnCaller_) {
    // At process exit, with no thread left to take them: now, on this one.
    RunLastCommands();
    return;
  }
  // Only a reactor asleep in epoll_wait needs the eventfd; one in a turn
  // sees commandsWaiting_ before it waits again (Run). Both sides store
  // their flag, then load the other's, all sequentially consistent: in that
  // single order one of the two loads comes after the other side's store,
  // so either this thread sees the reactor asleep and writes the eventfd, or
  // the reactor sees the commands and does not block. A reactor that has
  // woken since it set sleeping_ is in a turn whose RunCommands takes these.
  // acksAwaited_ is stored before sleeping_, so a reactor seen asleep is
  // seen with the acksAwaited_ it went to sleep with, or a later one; then it
  // has woken since, and its next wait sees commandsWaiting_.
  if (inline_) {
    // Same-thread mode: this is the thread that runs the turns, and it is
    // not in one (JS never is). No syscall: the caller schedules a turn.
    if (urgent || flow_.AwaitsAcks()) WantInlineTurn();
    return;
  }
  if (sleeping_.load(std::memory_order_seq_cst) && (urgent || acksAwaited_.load(std::memory_order_seq_cst))) {
    sys::EventFdSignal(wakeFd_);
  }
}

void Loop::WantInlineTurn() {
  inlineTurnWanted_ = true;
  if (inlineWake_) inlineWake_();
}

void Loop::WakeForWaitingCommands() {
  if (!commandsWaiting_.load(std::memory_order_seq_cst)) return;
  if (inline_) {
    WantInlineTurn();
  } else if (sleeping_.load(std::memory_order_seq_cst)) {
    sys::EventFdSignal(wakeFd_);
  }
}

void Loop::SubmitOwned(Command command) {
  std::vector<Command> one;
  one.push_back(std::move(command));
  Submit(one);
}

void Loop::CloseListenerNow(uint64_t id) {
  Command command(Command::Kind::kCloseListener);
  command.id = id;
  command.flags = 1;  // report completion
  SubmitOwned(std::move(command));
  TurnForWaitingCaller();
  std::unique_lock<std::mutex> lock(commandsMutex_);
  // Bounded: if the reactor thread were wedged, close() must still return.
  listenerClosed_.wait_for(lock, std::chrono::seconds(1), [&] {
    for (auto it = listenersClosedNow_.begin(); it != listenersClosedNow_.end(); ++it) {
      if (*it == id) {
        listenersClosedNow_.erase(it);
        return true;
      }
    }
    // After a failure, only once FailEverything has closed every listener:
    // close() returning means the port is free, as it does otherwise.
    return stopping_ || failedListenersClosed_;
  });
}

Loop::QueryOutcome Loop::QueryTls(uint64_t id, std::unique_ptr<TlsQuery> query, TlsAnswer* answer) {
  Command command(Command::Kind::kTlsQuery);
  command.id = id;
  command.tlsQuery = std::move(query);
  return Ask(std::move(command), answer);
}

Loop::QueryOutcome Loop::SocketOption(uint64_t id, sys::SocketOption option, int value, int* result) {
  Command command(Command::Kind::kSocketOption);
  command.id = id;
  command.flags = static_cast<uint32_t>(option);
  command.extra = value;
  TlsAnswer answer;
  QueryOutcome outcome = Ask(std::move(command), &answer);
  if (outcome == QueryOutcome::kAnswered) *result = static_cast<int>(answer.number);
  return outcome;
}

Loop::QueryOutcome Loop::Ask(Command command, TlsAnswer* answer) {
  uint64_t number = 0;
  {
    std::lock_guard<std::mutex> lock(commandsMutex_);
    if (stopping_ || failedError_ != 0) return QueryOutcome::kNoSession;
    number = nextQuery_++;
    answers_.emplace(number, PendingAnswer());
  }
  command.amount = number;
  SubmitOwned(std::move(command));
  TurnForWaitingCaller();
  std::unique_lock<std::mutex> lock(commandsMutex_);
  auto found = answers_.find(number);  // only this thread erases it
  // Bounded, as CloseListenerNow: a wedged reactor thread must not hang JS.
  bool ended = answered_.wait_for(lock, std::chrono::milliseconds(kQueryWaitMs), [&] {
    return found->second.done || stopping_ || failedError_ != 0;
  });
  QueryOutcome outcome = QueryOutcome::kNoSession;
  if (!ended) {
    outcome = QueryOutcome::kTimedOut;
  } else if (found->second.done && found->second.answer.answered) {
    *answer = std::move(found->second.answer);
    outcome = QueryOutcome::kAnswered;
  }
  answers_.erase(found);
  return outcome;
}

void Loop::Answer(uint64_t number, TlsAnswer answer) {
  {
    std::lock_guard<std::mutex> lock(commandsMutex_);
    auto found = answers_.find(number);
    if (found == answers_.end()) return;  // JS stopped waiting
    found->second.answer = std::move(answer);
    found->second.done = true;
  }
  answered_.notify_all();
}

void Loop::AnswerQuery(Command& command) {
  TlsAnswer answer;
  Connection* connection = FindConnection(command.id);
  if (command.kind == Command::Kind::kSocketOption) {
    if (connection != nullptr && !connection->closed) {
      auto option = static_cast<sys::SocketOption>(command.flags);
      answer.answered = true;
      answer.number = command.extra < 0 ? sys::GetSocketOption(connection->fd, option)
                      : option == sys::SocketOption::kTypeOfService ? sys::SetTypeOfService(connection->fd, command.extra)
                                                                    : -EINVAL;
    }
  } else if (connection != nullptr && connection->tls != nullptr && command.tlsQuery != nullptr) {
    connection->tls->Answer(*command.tlsQuery, &answer);
  }
  Answer(command.amount, std::move(answer));
}

void Loop::RejectCommand(Command& command, int error, Batch& batch) {
  if (command.fd >= 0) {
    sys::Close(command.fd);
    command.fd = -1;
  }
  if (command.pin != 0) batch.unpinned.push_back(command.pin);
  if (command.kind == Command::Kind::kAddListener) {
    batch.Add(EventKind::kListenerError, command.id, static_cast<double>(error),
              static_cast<double>(Syscall::kEpollWait));
  } else if (command.kind == Command::Kind::kAddConnection) {
    batch.Add(EventKind::kError, command.id, static_cast<double>(error),
              static_cast<double>(Syscall::kEpollWait));
  } else if (command.kind == Command::Kind::kForward || command.kind == Command::Kind::kForwardTo) {
    batch.Add(EventKind::kForwardDone, command.id, 0, 0,
              error * 16.0 + static_cast<double>(Syscall::kEpollWait));
  }
}

void Loop::FailEverything(int error) {
  std::vector<Command> commands;
  {
    std::lock_guard<std::mutex> lock(commandsMutex_);
    failedError_ = error;
    commands.swap(commands_);
    commandsWaiting_.store(false, std::memory_order_seq_cst);
  }
  // First, so that handlers of the errors below that start a server or a
  // connection get a new reactor, not this one.
  batch_->Add(EventKind::kReactorFailed, 0, static_cast<double>(error),
              static_cast<double>(Syscall::kEpollWait));
  for (Command& command : commands) RejectCommand(command, error, *batch_);
  std::vector<uint64_t> ids;
  for (auto& entry : forwarders_) ids.push_back(entry.first);
  for (uint64_t id : ids) {
    auto found = forwarders_.find(id);
    if (found == forwarders_.end()) continue;
    found->second->Cancel(error, Syscall::kEpollWait);
    FinishForward(found->second.get());
  }
  ids.clear();
  for (auto& entry : listeners_) ids.push_back(entry.first);
  for (uint64_t id : ids) {
    batch_->Add(EventKind::kListenerError, id, static_cast<double>(error),
                static_cast<double>(Syscall::kEpollWait));
    CloseListener(listeners_.at(id).get());
  }
  {
    std::lock_guard<std::mutex> lock(commandsMutex_);
    failedListenersClosed_ = true;
  }
  // A JS thread waiting in CloseListenerNow() must not wait for this thread
  // any longer: its listener is closed now (or was before).
  listenerClosed_.notify_all();
  answered_.notify_all();
  ids.clear();
  connections_.ForEach([&ids](uint64_t id, Connection*) { ids.push_back(id); });
  for (uint64_t id : ids) {
    Connection* connection = FindConnection(id);
    if (connection == nullptr) continue;
    batch_->Add(EventKind::kError, id, static_cast<double>(error),
                static_cast<double>(Syscall::kEpollWait));
    CloseConnection(connection);
  }
  DeliverTurn();
  // Nothing runs these again. The queues hold ids (flow_control.h), so only
  // interestDirty_, which holds pointers, must be emptied before what it
  // points at is freed; the rest are emptied so nothing is left behind.
  writeQueue_.clear();
  acceptQueue_.clear();
  retryListeners_.clear();
  forwardQueue_.clear();
  interestDirty_.clear();
  finishedForwarders_.clear();
  closedConnections_.clear();
  closedListeners_.clear();
}

void Loop::Run() {
  // A name operators see in top -H and /proc/<pid>/task/*/comm, and that
  // tests use to find this thread (its CPU time, faults injected only here).
  pthread_setname_np(pthread_self(), "epoll-reactor");
  threadId_.store(static_cast<int>(syscall(SYS_gettid)), std::memory_order_release);
  nowMs_ = MonotonicMs();
  while (!stopRequested_.load(std::memory_order_acquire)) {
    if (!Turn(PrepareToWait())) return;
  }
}

int Loop::PrepareToWait() {
  // Announce the sleep before looking for commands (see Submit), and
  // whether acknowledgements alone must wake it: a connection waits for
  // them at a cap (FlowControl::AwaitsAcks, changed only in a turn).
  acksAwaited_.store(flow_.AwaitsAcks(), std::memory_order_seq_cst);
  sleeping_.store(true, std::memory_order_seq_cst);
  return commandsWaiting_.load(std::memory_order_seq_cst) ? 0 : WaitTimeout();
}

bool Loop::TurnInline() {
  if (!inline_ || inlineEnded_ || inTurn_) return false;
  if (!Turn(0)) inlineEnded_ = true;
  return !inlineEnded_;
}

int Loop::InlineWaitMs() {
  if (!inline_ || inlineEnded_) return -1;
  // Commands that only acknowledge wait for the next turn, as Submit lets
  // them wait on the reactor thread.
  return inlineTurnWanted_ ? 0 : WaitTimeout();
}

void Loop::TurnForWaitingCaller() {
  if (!inline_ || inTurn_) return;
  TurnInline();
  // What the turn delivered reaches JS after the caller's next turn.
  WantInlineTurn();
}

bool Loop::Turn(int timeoutMs) {
  // A member, not 12 KiB of stack: in same-thread mode a turn can run under
  // JS frames (TurnForWaitingCaller), on a Worker's smaller stack.
  epoll_event* events = events_.data();
  int ready = sys::EpollWait(epollFd_, events, kMaxEventsPerWait, timeoutMs);
  sleeping_.store(false, std::memory_order_relaxed);
  inTurn_ = true;
  if (ready < 0) {
    // EBADF/EINVAL/EFAULT/ENOMEM (EINTR is retried in sys.cc): the epoll
    // set itself is broken and no socket can be served any more.
    FailEverything(static_cast<int>(-ready));
    inTurn_ = false;
    return false;
  }
  inlineTurnWanted_ = false;  // this turn runs what was submitted
  nowMs_ = MonotonicMs();

  for (int i = 0; i < ready; ++i) {
    auto* tag = static_cast<Pollable*>(events[i].data.ptr);
    uint32_t mask = events[i].events;
    if (tag->kind == Pollable::Kind::kWake) {
      // Not read: the eventfd is edge-triggered, and every write to an
      // eventfd wakes its epoll waiters whatever the counter holds, so an
      // unread counter loses no wakeup. It grows by one per write and would
      // saturate (EAGAIN, no wakeup) only after 2^64 - 2 of them.
      continue;
    } else if (tag->kind == Pollable::Kind::kListener) {
      auto* listener = static_cast<Listener*>(tag);
      if (!listener->closed) QueueAccept(listener);
    } else {
      auto* connection = static_cast<Connection*>(tag);
      if (connection->closed || connection->failed) continue;
      if (connection->connecting) {
        if (!(mask & (EPOLLOUT | EPOLLERR | EPOLLHUP))) continue;
        FinishConnect(connection);
        if (connection->failed || connection->closed) continue;
      }
      if (connection->forwarder != nullptr) {
        // Its bytes go to the other side on this thread, not to JS.
        if (mask & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) connection->readable = true;
        if (mask & (EPOLLRDHUP | EPOLLHUP)) connection->peerClosing = true;
        if (mask & (EPOLLERR | EPOLLHUP)) connection->errorSeen = true;
        // Kept for the client of a forward to an address that is handed back
        // (FailForwardConnect): its reads end as they would have.
        if ((mask & EPOLLHUP) && options_.hangupEndsShortRead) connection->hangup.seen = true;
        if (mask & EPOLLPRI) connection->urgentMark = true;
        if (mask & EPOLLOUT) connection->waitingWritable = false;
        Forwarder* forwarder = connection->forwarder;
        if ((mask & (EPOLLERR | EPOLLHUP)) && !forwarder->started && forwarder->Second()->connecting &&
            connection == forwarder->First() && CancelForResetClient(forwarder)) {
          continue;
        }
        QueueForward(forwarder);
        continue;
      }
      if (mask & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        connection->readable = true;
        if (mask & (EPOLLRDHUP | EPOLLHUP)) connection->peerClosing = true;
        if ((mask & EPOLLHUP) && options_.hangupEndsShortRead) connection->hangup.seen = true;
        if (mask & EPOLLPRI) connection->urgentMark = true;
        // A paused socket is not read, so a reset on it surfaces on resume()
        // or on the next write, as with net. Edge triggering reports the
        // error once; nothing spins meanwhile.
        flow_.MarkReady(*connection);
      }
      // A TLS read that had to send first goes on once the socket takes bytes.
      if ((mask & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && connection->tls != nullptr &&
          connection->tls->readWantsWrite) {
        connection->readable = true;
        flow_.MarkReady(*connection);
      }
      // An error or hangup also ends the wait: the send then reports it.
      if ((mask & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && connection->waitingWritable) {
        connection->waitingWritable = false;
        QueueWrite(connection);
      }
    }
  }

  RunCommands();
  AcceptReady();
  lastAcceptPassMs_ = nowMs_;
  ReadReady();
  PumpForwards();
  FlushWrites();
  ExpireIdle();
  SyncInterestAll();
  DeliverTurn();
  PublishStats();
  finishedForwarders_.clear();
  closedConnections_.clear();
  closedListeners_.clear();
  inTurn_ = false;
  return true;
}

int Loop::WaitTimeout() {
  // Sockets on the ready lists have data waiting that no edge will announce.
  if (flow_.HasReady() || flow_.LineMayMove() || !acceptQueue_.empty() || !forwardQueue_.empty()) return 0;
  // JS made room in the AcceptGate after this turn's AcceptReady looked, or
  // reported handlers done since this turn's RunCommands, which the next
  // turn releases. Admit() first: under the gate's mutex it sets the hold
  // that makes every report after it wake us, so a report missed by the
  // load that follows cannot exist.
  if (!heldListeners_.empty() && (acceptGate_->Admit() || acceptGate_->HandlersDonePending())) return 0;
  uint64_t nowMs = MonotonicMs();
  int untilTimer = timers_.MillisecondsUntilNext(nowMs);
  // Due timeouts held back while JS holds a full slice wait for JS to take
  // it, which wakes the loop (DeliverToJs): no polling meanwhile.
  if (untilTimer == 0 && timeoutsAwaitingJs_ >= kMaxTimeoutsAwaitingJs) untilTimer = kHeldTimeoutsWaitMs;
  int untilRetry = MillisecondsUntilRetry(nowMs);
  if (untilRetry >= 0 && (untilTimer < 0 || untilRetry < untilTimer)) untilTimer = untilRetry;
  return untilTimer;
}

void Loop::RunCommands() {
  // The vectors trade places: JS's staged vector becomes commands_ in
  // Submit(), and the one emptied here goes back through commands_ to JS, so
  // neither side allocates a vector per flush.
  std::vector<Command>& commands = commandsRunning_;
  // First: JS flushed the commands of these handlers before it said they
  // ran, so all of them are among the commands taken below.
  uint64_t handlersDone = acceptGate_->TakeHandlersDone();
  {
    std::lock_guard<std::mutex> lock(commandsMutex_);
    commands.swap(commands_);
    commandsWaiting_.store(false, std::memory_order_relaxed);
    listenerCommandsWaiting_.store(false, std::memory_order_relaxed);
  }
  for (Command& command : commands) {
    Apply(command);
    // Acks, and writes that were dropped, leave their pooled buffer here;
    // a secret is cleansed before it is freed or pooled.
    command.CleanseSecret();
    if (command.bytes) batch_->ReturnBuffer(command.bytesPool, std::move(command.bytes));
  }
  commands.clear();
  if (handlersDone != 0) acceptGate_->ReleaseHandlers(handlersDone);
}

void Command::CleanseSecret() {
  if (kind == Kind::kTlsAnswerPsk && bytes) sys::Cleanse(bytes.get(), length);
}

Command::~Command() { CleanseSecret(); }

void Loop::Apply(Command& command) {
  if (lastPass_) {
    // Stop() closes whatever these would start at once: a listener's fd
    // goes now (not into the fd table, which would start its grower
    // thread), and a forward is not begun (its queued bytes are its own
    // to send, and no turn pumps it).
    if (command.kind == Command::Kind::kAddListener) {
      sys::Close(command.fd);
      command.fd = -1;
      return;
    }
    if (command.kind == Command::Kind::kForward || command.kind == Command::Kind::kForwardStart ||
        command.kind == Command::Kind::kForwardTo) {
      return;
    }
  }
  if (command.kind == Command::Kind::kAddListener) {
    auto listener = std::make_unique<Listener>(command.id, command.fd);
    listener->defaults.paused = command.flags & Command::kPauseOnConnect;
    listener->defaults.noDelay = command.flags & Command::kNoDelay;
    listener->defaults.keepAlive = command.flags & Command::kKeepAlive;
    listener->defaults.keepAliveSeconds = command.extra;
    listener->tls = std::move(command.tlsContext);
    int added = sys::EpollAdd(epollFd_, command.fd, EPOLLIN | EPOLLET, listener.get());
    if (added < 0) {
      sys::Close(command.fd);
      batch_->Add(EventKind::kListenerError, command.id, static_cast<double>(-added),
                  static_cast<double>(Syscall::kAccept));
      return;
    }
    listener->acceptRoom = AcceptGate::RoomFor(
        static_cast<int>(std::min<uint64_t>(command.amount, INT32_MAX)), sys::MaxListenBacklog());
    acceptGate_->AddRoom(listener->acceptRoom);
    fdTable_.Prepare();
    // Connections may already be queued; with edge triggering no edge comes
    // for them, so look now.
    QueueAccept(listener.get());
    listeners_.emplace(command.id, std::move(listener));
    return;
  }
  if (command.kind == Command::Kind::kAddConnection) {
    AddConnection(command);
    return;
  }
  if (command.kind == Command::Kind::kForward) {
    StartForward(command);
    return;
  }
  if (command.kind == Command::Kind::kForwardTo) {
    StartForwardTo(command);
    return;
  }
  if (command.kind == Command::Kind::kForwardStart) {
    auto found = forwarders_.find(command.id);
    if (found == forwarders_.end()) return;
    Forwarder* forwarder = found->second.get();
    // Only after kForwardReady, which a forward to an address sends once connected.
    if (forwarder->First()->connecting || forwarder->Second()->connecting) return;
    forwarder->started = true;
    // Bytes may be waiting already, and edge triggering will not say so again.
    forwarder->First()->readable = forwarder->Second()->readable = true;
    QueueForward(forwarder);
    return;
  }
  if (command.kind == Command::Kind::kAcks) {
    ApplyAcks(command);
    return;
  }
  if (command.kind == Command::Kind::kTlsQuery || command.kind == Command::Kind::kSocketOption) {
    AnswerQuery(command);  // answered whether or not the connection is there
    return;
  }
  if (command.kind == Command::Kind::kTlsListenWith) {
    Listener* listener = FindListener(command.id);
    // A plain listener stays plain: only a TLS one changes its context.
    if (listener != nullptr && listener->tls != nullptr && command.tlsContext != nullptr) {
      listener->tls = std::move(command.tlsContext);
    }
    return;
  }
  if (command.kind == Command::Kind::kSetMaxConnections) {
    Listener* listener = FindListener(command.id);
    if (listener != nullptr) listener->maxConnections = command.amount;
    return;
  }
  if (command.kind == Command::Kind::kCloseListener) {
    auto found = listeners_.find(command.id);
    if (found != listeners_.end()) CloseListener(found->second.get());
    if (command.flags == 1) {
      {
        std::lock_guard<std::mutex> lock(commandsMutex_);
        listenersClosedNow_.push_back(command.id);
      }
      listenerClosed_.notify_all();
    }
    return;
  }

  Connection* connection = FindConnection(command.id);
  if (connection == nullptr) {
    // Already closed: the command is moot, but a pinned Buffer must go back.
    if (command.pin != 0) batch_->unpinned.push_back(command.pin);
    return;
  }
  MarkInterestDirty(connection);
  switch (command.kind) {
    case Command::Kind::kWrite: {
      if (connection->shutdownRequested && connection->forwarder != nullptr) {
        // Bytes a forward was handed (read for JS before it began) for a
        // side JS had ended: they cannot be sent, and dropping them would
        // report them forwarded. The forward fails, as a write after
        // shutdown(SHUT_WR) fails: EPIPE.
        if (command.pin != 0) batch_->unpinned.push_back(command.pin);
        connection->forwarder->Cancel(EPIPE, Syscall::kWrite);
        FinishForward(connection->forwarder);
        return;
      }
      if (connection->failed || connection->shutdownRequested) {
        if (command.pin != 0) batch_->unpinned.push_back(command.pin);
        return;
      }
      WriteChunk chunk;
      chunk.owned = std::move(command.bytes);
      chunk.pool = command.bytesPool;
      chunk.data = command.pin != 0 ? command.pinnedBytes : chunk.owned.get();
      chunk.length = command.length;
      chunk.pin = command.pin;
      connection->writeQueue.push_back(std::move(chunk));
      connection->unsentBytes += command.length;
      // JS waits for this write's callback: the kWritten event that
      // reports its last byte sent wakes JS (Connection::notifyAt). Not for
      // one handed over behind it: JS still waits for the earlier point,
      // and says when it waits for this one (kAwaitWritten).
      if ((command.flags & Command::kWriteBehind) == 0) connection->AwaitQueueEnd();
      // A forwarding connection's queue is sent by its forwarder, before
      // the forwarded bytes.
      if (connection->forwarder != nullptr) {
        QueueForward(connection->forwarder);
      } else if (!connection->waitingWritable) {
        QueueWrite(connection);
      }
      Touch(connection);  // as in net, a write counts as activity at once
      return;
    }
    case Command::Kind::kShutdown:
      connection->shutdownRequested = true;
      // A forwarding connection's queue and FIN are its forwarder's to send
      // (issue 12 item 7: `end(); forward()` never sent the FIN).
      if (connection->forwarder != nullptr) {
        QueueForward(connection->forwarder);
      } else if (!connection->waitingWritable) {
        QueueWrite(connection);
      }
      return;
    case Command::Kind::kClose:
      SendBeforeClosing(connection, false);
      // A server's failed handshake: the alert JS's 'tlsClientError' came before.
      if (connection->tls != nullptr) connection->tls->SendHeldAlert(*connection);
      CloseConnection(connection);
      return;
    case Command::Kind::kReset:
      // The bytes go before the RST, as net's (the peer reads them, then
      // meets the reset).
      SendBeforeClosing(connection, true);
      sys::SetLingerZero(connection->fd);
      CloseConnection(connection);
      return;
    case Command::Kind::kSetTimeout:
      // Moves (or removes) the connection's one timer entry: re-arming never
      // adds a second one.
      connection->timeoutMs = command.amount;
      ++connection->timeoutsSet;
      connection->lastActivityMs = nowMs_;
      if (connection->timeoutMs > 0) {
        ArmTimer(connection, DeadlineAfter(nowMs_, connection->timeoutMs));
      } else {
        timers_.Cancel(connection->id);
        connection->timerArmed = false;
      }
      return;
    case Command::Kind::kAwaitWritten:
      if ((command.flags & Command::kReportAttempt) != 0) {
        // Answered after this turn's FlushWrites tries the queued writes;
        // at once when none waits for it (the kernel is full, nothing is
        // queued, or a forwarder sends the queue).
        connection->attemptAwaited = true;
        if (!connection->queuedForWrite) AnswerWriteAttempt(connection);
      }
      // JS waits for one write callback at a time; this is its point now.
      // Reached already (JS learns of progress only from batches that wake
      // it): said at once.
      if (command.amount == 0) return;
      connection->notifyAt = command.amount;
      // JS's write is passed on now, as its kWrite was before it went ahead:
      // activity, as in net, which a 'timeout' JS deferred counts on.
      Touch(connection);
      if (connection->tls != nullptr) {
        // Again: a report of this total may have gone in a batch that did
        // not wake JS, before JS waited for it.
        connection->tls->ReportWritten(*connection, *batch_, true);
      } else {
        connection->ReportWritten(*batch_);
      }
      return;
    case Command::Kind::kSetNoDelay:
      sys::SetNoDelay(connection->fd, command.amount != 0);
      return;
    case Command::Kind::kSetKeepAlive:
      sys::SetKeepAlive(connection->fd, command.amount != 0, command.extra, static_cast<int>(command.other),
                        static_cast<int>(command.flags));
      return;
    case Command::Kind::kPause:
      connection->wantsData = false;
      return;
    case Command::Kind::kTlsAllowWrites:
      // A verdict is about a finished handshake's certificate: one that comes
      // before this connection's handshake ended was about another one.
      if (connection->tls != nullptr && connection->tls->handshakeDone() && !connection->tls->writesAllowed()) {
        connection->tls->AllowWrites();
        // Writes queued behind the verdict (and an end()) go now.
        if (!connection->waitingWritable && !connection->failed) QueueWrite(connection);
      }
      return;
    case Command::Kind::kTlsResumeSession:
      if (connection->tls != nullptr && !connection->failed &&
          connection->tls->ResumeSession(std::string(command.bytes.get(), command.bytes ? command.length : 0))) {
        // As kTlsUseContext below.
        connection->readable = true;
        flow_.MarkReady(*connection);
      }
      return;
    case Command::Kind::kTlsAnswerPsk:
      if (connection->tls != nullptr && !connection->failed &&
          connection->tls->AnswerPsk(command.amount, command.bytes.get(), command.bytes ? command.length : 0)) {
        // As kTlsUseContext below.
        connection->readable = true;
        flow_.MarkReady(*connection);
      }
      return;
    case Command::Kind::kTlsChooseAlpn:
      if (connection->tls != nullptr && !connection->failed &&
          connection->tls->ChooseAlpn(command.amount, std::move(command.tlsContext))) {
        // As kTlsUseContext below.
        connection->readable = true;
        flow_.MarkReady(*connection);
      }
      return;
    case Command::Kind::kTlsSessionStored:
      if (connection->tls != nullptr && !connection->failed && connection->tls->SessionStored()) {
        SendHeldOutput(connection);
      }
      return;
    case Command::Kind::kTlsVerdictGiven:
      if (connection->tls != nullptr && !connection->failed && connection->tls->VerdictGiven()) {
        SendHeldOutput(connection);
      }
      return;
    case Command::Kind::kTlsUseContext:
      if (connection->tls != nullptr && !connection->failed &&
          connection->tls->UseContext(std::move(command.tlsContext),
                                      std::string(command.bytes.get(), command.bytes ? command.length : 0))) {
        // The handshake goes on from the ClientHello OpenSSL has read: no
        // edge will say so, and the client may have sent more meanwhile.
        connection->readable = true;
        flow_.MarkReady(*connection);
      }
      return;
    case Command::Kind::kTlsLogKeys:
      if (connection->tls != nullptr) connection->tls->LogKeys();
      return;
    case Command::Kind::kTlsTrace:
      if (connection->tls != nullptr) connection->tls->EnableTrace();
      return;
    case Command::Kind::kTlsMaxSendFragment:
      if (connection->tls != nullptr) connection->tls->SetMaxSendFragment(command.amount);
      return;
    case Command::Kind::kResume:
      connection->wantsData = true;
      // No new edge comes for bytes that arrived while paused.
      if (connection->readable) flow_.MarkReady(*connection);
      return;
    default:
      return;
  }
}

void Loop::ApplyAcks(const Command& command) {
  const auto* pairs = reinterpret_cast<const double*>(command.bytes.get());
  size_t count = command.length / (2 * sizeof(double));
  for (size_t i = 0; i < count; ++i) {
    // Ids are whole numbers below 2^53 (reactor.cc); anything else names no
    // connection rather than reaching an undefined conversion.
    double id = pairs[2 * i];
    Connection* connection =
        id >= 1 && id <= 9007199254740991.0 ? FindConnection(static_cast<uint64_t>(id)) : nullptr;
    if (connection == nullptr) continue;  // closed since: its bytes left the totals then
    double given = pairs[2 * i + 1];
    if (!(given > 0)) continue;  // NaN, zero or negative: nothing consumed
    flow_.OnAck(*connection, given >= 9007199254740992.0 ? UINT64_MAX : static_cast<uint64_t>(given));
    MarkInterestDirty(connection);
    if (connection->readable && connection->wantsData) flow_.MarkReady(*connection);
  }
}

void Loop::NoteHangupOutsideEpoll(Connection* connection) {
  // Level triggering takes a paused or capped connection out of the epoll
  // set (InterestFor), so a reset meanwhile raised no EPOLLHUP: ask, so that
  // the read about to run sees it as an edge-triggered one would. Only then:
  // a connection in the set had its hangup reported with its readiness.
  if (!options_.hangupEndsShortRead || options_.edgeTriggered || connection->hangup.seen || connection->interest != 0) {
    return;
  }
  if (sys::HungUp(connection->fd)) {
    connection->hangup.seen = true;
    connection->peerClosing = true;
  }
}

void Loop::ReopenHeldListeners() {
  if (heldListeners_.empty() || !acceptGate_->Admit()) return;
  for (uint64_t id : heldListeners_) {
    Listener* listener = FindListener(id);
    if (listener == nullptr) continue;  // closed while held
    listener->heldByGate = false;
    // No edge comes for connections already in the backlog.
    QueueAccept(listener);
  }
  heldListeners_.clear();
}

void Loop::AcceptDuringLongTurn() {
  // Clients accepted now would only be closed by Stop() after it.
  if (lastPass_) return;
  if (++socketsSinceClockCheck_ < kSocketsBetweenClockChecks) return;
  socketsSinceClockCheck_ = 0;
  if (listeners_.empty() || listenerCommandsWaiting_.load(std::memory_order_relaxed)) return;
  uint64_t now = MonotonicMs();
  if (now < lastAcceptPassMs_ + kMidTurnAcceptMs) return;
  lastAcceptPassMs_ = now;
  nowMs_ = now;
  // Listeners the gate holds, that wait to retry or that ran out of fds have
  // their own way back; the others are tried (EAGAIN when nothing waits).
  for (auto& entry : listeners_) {
    Listener* listener = entry.second.get();
    if (!listener->closed && !listener->heldByGate && listener->retryAtMs == 0 && !listener->starved) {
      QueueAccept(listener);
    }
  }
  AcceptReady();
}

void Loop::CountAcceptEvent() {
  acceptGate_->Add();
  ++batch_->acceptEvents;
}

void Loop::RetryListeners() {
  if (retryListeners_.empty()) return;
  size_t kept = 0;
  for (uint64_t id : retryListeners_) {
    Listener* listener = FindListener(id);
    if (listener == nullptr) continue;  // closed since
    if (listener->retryAtMs > nowMs_) {
      retryListeners_[kept++] = id;
      continue;
    }
    listener->retryAtMs = 0;
    QueueAccept(listener);
  }
  retryListeners_.resize(kept);
}

int Loop::MillisecondsUntilRetry(uint64_t nowMs) const {
  int nearest = -1;
  for (uint64_t id : retryListeners_) {
    auto found = listeners_.find(id);
    if (found == listeners_.end()) return 0;  // closed: drop it next turn
    uint64_t at = found->second->retryAtMs;
    int wait = at <= nowMs ? 0 : static_cast<int>(std::min<uint64_t>(at - nowMs, kAcceptRetryMs));
    if (nearest < 0 || wait < nearest) nearest = wait;
  }
  return nearest;
}

void Loop::AcceptReady() {
  ReopenHeldListeners();
  RetryListeners();
  std::vector<uint64_t>& ids = acceptScratch_;
  ids.clear();
  ids.swap(acceptQueue_);
  for (uint64_t listenerId : ids) {
    Listener* listener = FindListener(listenerId);
    if (listener == nullptr) continue;  // closed since it was queued
    listener->queuedForAccept = false;
    int shed = 0;
    int accepted = 0;
    for (;;) {
      if (accepted == kMaxAcceptsPerTurn) {
        QueueAccept(listener);
        break;
      }
      if (!acceptGate_->Admit()) {
        // JS has not taken the connections accepted so far: leave the rest
        // in the kernel backlog. Taken() wakes the loop when there is room.
        if (!listener->heldByGate) {
          listener->heldByGate = true;
          heldListeners_.push_back(listener->id);
        }
        break;
      }
      sys::SocketAddress peer;
      int fd = listener->AcceptOne(&peer, &spareFd_, &shed);
      if (fd == -EAGAIN) break;
      if (fd < 0) {
        if ((fd == -EMFILE || fd == -ENFILE) && spareFd_ < 0) {
          listener->starved = true;  // a connection closing retries it
        } else if (listener->retryAtMs == 0) {
          listener->retryAtMs = DeadlineAfter(nowMs_, kAcceptRetryMs);
          retryListeners_.push_back(listener->id);
        }
        batch_->AddListenerError(listener->id, static_cast<double>(-fd),
                                 static_cast<double>(Syscall::kAccept), shed);
        break;
      }
      ++accepted;
      fdTable_.Note(fd);
      if (!acceptGate_->NoteAcceptedFd(fd)) {
        acceptGate_->SetFdLimit(sys::OpenFileLimit());
        acceptGate_->NoteAcceptedFd(fd);
      }
      if (listener->maxConnections != 0 && listener->open >= listener->maxConnections) {
        // As net's onconnection: past maxConnections a connection is accepted
        // and closed at once, and the server emits 'drop' with its addresses.
        double ports = 0;
        size_t stringIndex = AddAddresses(fd, &peer, &ports);
        sys::Close(fd);
        batch_->Add(EventKind::kDrop, listener->id, 0, static_cast<double>(stringIndex), ports);
        CountAcceptEvent();
        continue;
      }
      uint64_t id = NextId();
      auto connection = std::make_unique<Connection>(id, fd);
      const ConnectionDefaults& defaults = listener->defaults;
      connection->wantsData = !defaults.paused;
      connection->lastActivityMs = nowMs_;
      // TCP's options, for TCP connections only: node's Pipe has neither.
      bool tcp = peer.storage.ss_family != AF_UNIX;
      if (defaults.noDelay && tcp) sys::SetNoDelay(fd, true);
      if (defaults.keepAlive && tcp) {
        sys::SetKeepAlive(fd, true, defaults.keepAliveSeconds, sys::kKeepAliveIntervalDefault,
                          sys::kKeepAliveCountDefault);
      }
      if (listener->tls != nullptr) {
        connection->tls = TlsSession::Accept(listener->tls, fd, id, tlsServerSessions_);
        if (connection->tls == nullptr) {
          sys::Close(fd);
          batch_->AddListenerError(listener->id, ENOMEM, static_cast<double>(Syscall::kAccept), shed);
          shed = 0;
          continue;
        }
      }
      int added = Register(connection.get());
      if (added < 0) {
        sys::Close(fd);
        // Merged with others of its kind (batch.h); the connections shed so
        // far are counted in it, once.
        batch_->AddListenerError(listener->id, static_cast<double>(-added),
                                 static_cast<double>(Syscall::kAccept), shed);
        shed = 0;
        continue;
      }
      double ports = 0;
      size_t stringIndex = AddAddresses(fd, &peer, &ports);
      batch_->Add(EventKind::kConnection, id, static_cast<double>(listener->id),
                  static_cast<double>(stringIndex), ports);
      CountAcceptEvent();
      connection->listenerId = listener->id;
      ++listener->open;
      connections_.Insert(id, std::move(connection));
    }
  }
}

size_t Loop::AddAddresses(int fd, const sys::SocketAddress* knownPeer, double* ports) {
  sys::SocketAddress peer;
  if (knownPeer != nullptr) {
    peer = *knownPeer;
  } else {
    sys::PeerAddress(fd, &peer);
  }
  sys::SocketAddress local;
  sys::LocalAddress(fd, &local);
  size_t index = batch_->strings.size();
  batch_->strings.push_back(sys::AddressText(peer));
  batch_->strings.push_back(sys::AddressText(local));
  *ports = sys::AddressPort(peer) * 65536.0 + sys::AddressPort(local);
  return index;
}

void Loop::AddConnection(Command& command) {
  int fd = command.fd;
  command.fd = -1;  // ours now, whatever happens below
  auto connection = std::make_unique<Connection>(command.id, fd);
  connection->connecting = command.flags & Command::kConnecting;
  connection->lastActivityMs = nowMs_;
  if (command.tlsContext != nullptr) {
    // Only a connect in progress may carry a client session: its handshake
    // is started by FinishConnect, and nothing else would start it.
    static const TlsClientStart kNoClientStart;
    if (connection->connecting) {
      connection->tls = TlsSession::Connect(std::move(command.tlsContext), fd,
                                            command.tlsClient != nullptr ? *command.tlsClient : kNoClientStart);
    }
    if (connection->tls == nullptr) {
      batch_->Add(EventKind::kError, command.id, static_cast<double>(connection->connecting ? ENOMEM : EINVAL),
                  static_cast<double>(Syscall::kConnect));
      sys::Close(fd);
      return;
    }
  }
  int added = Register(connection.get());
  if (added < 0) {
    sys::Close(fd);
    batch_->Add(EventKind::kError, command.id, static_cast<double>(-added),
                static_cast<double>(connection->connecting ? Syscall::kConnect : Syscall::kRead));
    return;
  }
  // A taken-over socket may hold data already; registration reports it (the
  // kernel checks readiness on EPOLL_CTL_ADD), so no read is queued here.
  connections_.Insert(command.id, std::move(connection));
}

void Loop::FinishConnect(Connection* connection) {
  if (connection->forwarder != nullptr) {
    FinishForwardConnect(connection);
    return;
  }
  connection->connecting = false;
  MarkInterestDirty(connection);
  int error = sys::PendingSocketError(connection->fd);
  if (error < 0) {
    connection->failed = true;
    batch_->Add(EventKind::kError, connection->id, static_cast<double>(-error),
                static_cast<double>(Syscall::kConnect));
    return;
  }
  double ports = 0;
  size_t stringIndex = AddAddresses(connection->fd, nullptr, &ports);
  batch_->Add(EventKind::kConnect, connection->id, 0, static_cast<double>(stringIndex), ports);
  Touch(connection);
  if (connection->tls != nullptr) {
    // A client speaks first: its first read sends the ClientHello, and the
    // server's answer raises the next edge.
    connection->readable = true;
    flow_.MarkReady(*connection);
  }
}

void Loop::ReadReady() {
  int handshakeSteps = 0;
  // Taken first, so that what the reads below put on the ready list (a spent
  // budget, a deferred handshake step) waits for the next turn. Only the
  // connections still open; valid until the end of this turn (nothing here
  // closes one).
  std::vector<Connection*>& connections = readScratch_;
  flow_.TakeReady(&connections);
  // Connections waiting for room under the total cap first, oldest first,
  // as long as there is room (flow_control.h, invariant 6).
  while (Connection* connection = flow_.NextInLine()) {
    ReadConnection(connection, &handshakeSteps);
    AcceptDuringLongTurn();
  }
  for (Connection* connection : connections) {
    ReadConnection(connection, &handshakeSteps);
    AcceptDuringLongTurn();
  }
  connections.clear();
}

void Loop::ReadConnection(Connection* connection, int* handshakeSteps) {
  MarkInterestDirty(connection);
  // A TLS handshake goes on while JS has the socket paused (pauseOnConnect):
  // it hands JS no bytes, and 'secureConnection' is what JS waits for to resume.
  if (connection->closed || connection->failed || !connection->readable || !WantsToRead(connection) ||
      connection->forwarder != nullptr)
    return;
  bool handshaking = connection->tls != nullptr && !connection->tls->handshakeDone();
  if (!flow_.Admit(*connection)) return;  // parked until JS consumes bytes
  if (handshaking && (*handshakeSteps)++ >= kMaxHandshakeStepsPerTurn) {
    flow_.MarkReady(*connection);  // next turn, after the events that came meanwhile
    return;
  }
  NoteHangupOutsideEpoll(connection);
  uint64_t readBefore = connection->bytesRead;
  ReadOutcome outcome = connection->Read(arena_, *batch_, options_.readBudgetPerTurn,
                                         flow_.Room(*connection), options_.shortReadDrains);
  if (connection->bytesRead != readBefore) {
    flow_.OnRead(*connection, connection->bytesRead - readBefore);
    Touch(connection);
  }
  ChargeTlsReports(connection);
  if (outcome == ReadOutcome::kBudgetSpent) flow_.MarkReady(*connection);
  if (outcome == ReadOutcome::kStopped) flow_.Block(*connection);
  // The handshake ended, or a read let a write that waited for it go on.
  if (connection->tls != nullptr && connection->tls->TakeFlushWanted() && !connection->failed &&
      !connection->waitingWritable) {
    QueueWrite(connection);
  }
}

void Loop::FlushWrites() {
  std::vector<uint64_t>& ids = writeScratch_;
  ids.clear();
  ids.swap(writeQueue_);
  for (uint64_t id : ids) {
    Connection* connection = FindConnection(id);
    if (connection == nullptr) continue;  // closed since it was queued
    AcceptDuringLongTurn();
    connection->queuedForWrite = false;
    MarkInterestDirty(connection);
    if (connection->closed) continue;
    if (connection->forwarder == nullptr) FlushConnection(connection);
    if (connection->attemptAwaited) AnswerWriteAttempt(connection);
  }
}

void Loop::AnswerWriteAttempt(Connection* connection) {
  connection->attemptAwaited = false;
  if (connection->tls != nullptr) {
    connection->tls->ReportWritten(*connection, *batch_, false, true);
  } else {
    connection->ReportWrittenUpTo(*batch_, connection->bytesWritten, true);
  }
}

void Loop::FlushConnection(Connection* connection) {
  uint64_t writtenBefore = connection->bytesWritten;
  connection->Flush(*batch_);
  if (connection->bytesWritten != writtenBefore) Touch(connection);
  ChargeTlsReports(connection);
  // A TLS read that waited for room goes on once this flush made some: no
  // EPOLLOUT edge is owed when the send went through (an end that let held
  // output go, a flush that emptied the overflow before the edge came).
  TlsSession* tls = connection->tls.get();
  if (tls != nullptr && tls->readWantsWrite && !connection->waitingWritable && !tls->outputHeld() &&
      !connection->failed && WantsToRead(connection)) {
    connection->readable = true;
    flow_.MarkReady(*connection);
  }
}

void Loop::ChargeTlsReports(Connection* connection) {
  if (connection->tls == nullptr) return;
  uint64_t bytes = connection->tls->TakeReportedBytes();
  if (bytes > 0) flow_.OnRead(*connection, bytes);
}

void Loop::Touch(Connection* connection) {
  connection->lastActivityMs = nowMs_;
  if (connection->timeoutMs > 0 && !connection->timerArmed) {
    ArmTimer(connection, DeadlineAfter(nowMs_, connection->timeoutMs));
  }
}

void Loop::ArmTimer(Connection* connection, uint64_t dueMs) {
  connection->timerArmed = true;
  timers_.Set(connection->id, dueMs);
}

void Loop::ExpireIdle() {
  std::vector<uint64_t>& due = dueScratch_;
  size_t examined = 0;
  // The turn JS's taking woke must see that it took them.
  if (timeoutsAwaitingJs_ != 0) timeoutsAwaitingJs_ = askTimeoutsAwaitingJs_();
  // Fired timeouts count against what JS may hold; re-armed entries only
  // against the turn's work. A re-armed entry is due later, so not seen again.
  while (timeoutsAwaitingJs_ + batch_->timeouts < kMaxTimeoutsAwaitingJs && examined < kMaxTimerEntriesPerTurn) {
    size_t room = std::min(kMaxTimeoutsAwaitingJs - timeoutsAwaitingJs_ - batch_->timeouts,
                           kMaxTimerEntriesPerTurn - examined);
    due.clear();
    timers_.TakeDue(nowMs_, room, &due);
    if (due.empty()) return;
    examined += due.size();
    for (uint64_t id : due) {
      // Close cancels a connection's entry, so every due id is open.
      Connection* connection = FindConnection(id);
      if (connection == nullptr) continue;
      connection->timerArmed = false;
      if (connection->connecting && connection->forwarder != nullptr) {
        // A kForwardTo's connect timeout (its only timer while connecting).
        FailForwardConnect(connection->forwarder, ETIMEDOUT);
        continue;
      }
      uint64_t idleDue = DeadlineAfter(connection->lastActivityMs, connection->timeoutMs);
      if (idleDue > nowMs_) {
        // Active since this entry was armed: look again when it could be idle.
        ArmTimer(connection, idleDue);
      } else {
        // Fires once; the next activity arms it again, as net's refreshed timer does.
        // Says where JS's writes ended, and which setTimeout() it was timed
        // under, as this thread knew them: a write or setTimeout() JS made
        // since arms the timer again here (or cancels it), so JS drops this one.
        batch_->Add(EventKind::kTimeout, connection->id,
                    static_cast<double>(connection->bytesWritten + connection->unsentBytes),
                    static_cast<double>(connection->timeoutsSet));
        ++batch_->timeouts;
      }
    }
  }
}

void Loop::DeliverTurn() {
  if (batch_->Empty()) return;
  arena_.Seal(*batch_);
  timeoutsAwaitingJs_ = deliver_(batch_);
  if (!batch_) batch_ = std::make_unique<Batch>();
}

void Loop::PublishStats() {
  stats_.connections.store(connections_.size(), std::memory_order_relaxed);
  stats_.timerEntries.store(timers_.Size(), std::memory_order_relaxed);
  stats_.unconsumedBytes.store(flow_.total(), std::memory_order_relaxed);
  stats_.blockedConnections.store(flow_.BlockedCount(), std::memory_order_relaxed);
  stats_.capParks.store(flow_.ParkCount(), std::memory_order_relaxed);
  stats_.heldListeners.store(heldListeners_.size(), std::memory_order_relaxed);
}

int Loop::Register(Connection* connection) {
  if (options_.edgeTriggered) return sys::EpollAdd(epollFd_, connection->fd, kConnectionEvents, connection);
  uint32_t wanted = InterestFor(connection);
  // Nothing wanted yet (paused on connect, or the total cap reached): stay
  // out of the set, so that a hangup, which epoll reports whatever the mask,
  // cannot spin the loop. One that would read but for the total must wait in
  // the line, which brings it back, and its interest with it, once the total
  // falls: nothing else looks at a socket outside the set. SyncInterest parks
  // it at the end of the turn, once the caller has it among connections_
  // (the line holds ids, and drops those it cannot find).
  if (wanted == 0) {
    if (WantsToRead(connection) && flow_.OverTotal()) MarkInterestDirty(connection);
    return 0;
  }
  int added = sys::EpollAdd(epollFd_, connection->fd, wanted, connection);
  if (added == 0) connection->interest = wanted;
  return added;
}

uint32_t Loop::InterestFor(const Connection* connection) const {
  if (connection->forwarder != nullptr) return kConnectionEvents;
  if (connection->closed || connection->failed) return 0;
  if (connection->connecting) return EPOLLOUT;
  uint32_t wanted = 0;
  // A handshake waiting for JS's choice of context or ALPN name reads
  // nothing meanwhile: level triggering would report the client's next bytes
  // every turn. Only a hangup is watched (it fails the handshake); the
  // answer (kTlsUseContext, kTlsChooseAlpn, kTlsResumeSession, kTlsAnswerPsk)
  // brings EPOLLIN back. Not even the hangup while a TLS 1.2 PSK identity
  // waits: the client's FIN does not end that handshake (its flight may be
  // queued), and level triggering would report it every turn. With no
  // interest the connection leaves the epoll set until the answer; a reset
  // meanwhile is seen then (NoteHangupOutsideEpoll).
  if (connection->tls != nullptr && connection->tls->awaitingJs()) {
    uint32_t hangup = connection->tls->awaitingPskAtKeyExchange() ? 0u : static_cast<uint32_t>(EPOLLRDHUP);
    return hangup | (connection->waitingWritable ? EPOLLOUT : 0u);
  }
  // A TLS read held back until EPOLLOUT (TlsSession::OverflowFull), or
  // until held output may go, asks for no EPOLLIN meanwhile: level
  // triggering would report it every turn.
  bool readWaitsForRoom = connection->tls != nullptr && connection->tls->readWantsWrite &&
                          (connection->waitingWritable || connection->tls->outputHeld());
  bool reads = WantsToRead(connection) && flow_.UnderCaps(*connection);
  if (reads && !readWaitsForRoom) wanted |= EPOLLIN | EPOLLRDHUP;
  // Held output owes no EPOLLOUT: the peer's hangup is watched instead, since
  // it ends the cache's hold (TlsSession::EndHoldForGonePeer), but only while
  // the connection reads: a paused or capped one would not, and level
  // triggering would report the hangup every turn. Not for a verdict hold,
  // which the hangup does not end: JS's verdict, which follows the report
  // of the handshake's end, does.
  if (reads && readWaitsForRoom && connection->tls->holdEndsAtPeersEnd()) wanted |= EPOLLRDHUP;
  if (connection->waitingWritable) wanted |= EPOLLOUT;
  return wanted;
}

bool Loop::WantsToRead(const Connection* connection) const {
  // A TLS handshake goes on while JS has the socket paused (pauseOnConnect).
  bool handshaking = connection->tls != nullptr && !connection->tls->handshakeDone();
  return (connection->wantsData || handshaking) && !connection->ended;
}

void Loop::MarkInterestDirty(Connection* connection) {
  if (options_.edgeTriggered || connection->interestDirty) return;
  connection->interestDirty = true;
  interestDirty_.push_back(connection);
}

void Loop::SyncInterestAll() {
  if (interestDirty_.empty()) return;
  for (Connection* connection : interestDirty_) {
    connection->interestDirty = false;
    if (!connection->closed) SyncInterest(connection);
  }
  interestDirty_.clear();
}

void Loop::SyncInterest(Connection* connection) {
  if (WantsToRead(connection) && flow_.OverTotal()) {
    // Out of reading for the total cap (InterestFor leaves EPOLLIN out): the
    // line brings it back when the total falls under the cap (flow_control.h,
    // invariants 5 and 6). The same predicate as InterestFor's, so that no
    // connection loses EPOLLIN to the total without being parked.
    flow_.Block(*connection);
    // Out of the set it hears of no bytes, so the line's release reads it
    // (one recv, EAGAIN at worst) rather than waiting for a report that would
    // need EPOLLIN back first: parked again at once after every release, a
    // new connection would otherwise wait as long as others keep the total up.
    connection->readable = true;
  }
  uint32_t wanted = InterestFor(connection);
  if (wanted == connection->interest) return;
  int result;
  if (wanted == 0) {
    // Out of the set entirely: see Register().
    result = sys::EpollDelete(epollFd_, connection->fd);
  } else if (connection->interest == 0) {
    result = sys::EpollAdd(epollFd_, connection->fd, wanted, connection);
  } else {
    result = sys::EpollModify(epollFd_, connection->fd, wanted, connection);
  }
  if (result < 0 && wanted != 0) {
    // Without its registration the socket would hang silently; fail it.
    connection->failed = true;
    batch_->Add(EventKind::kError, connection->id, static_cast<double>(-result),
                static_cast<double>(Syscall::kRead));
    return;
  }
  connection->interest = wanted;
}

void Loop::QueueWrite(Connection* connection) {
  if (connection->queuedForWrite) return;
  connection->queuedForWrite = true;
  writeQueue_.push_back(connection->id);
}

void Loop::QueueAccept(Listener* listener) {
  if (listener->queuedForAccept) return;
  listener->queuedForAccept = true;
  acceptQueue_.push_back(listener->id);
}

Connection* Loop::FindConnection(uint64_t id) {
  return connections_.Find(id);
}

Listener* Loop::FindListener(uint64_t id) {
  auto found = listeners_.find(id);
  return found == listeners_.end() ? nullptr : found->second.get();
}

Forwarder* Loop::FindForwarder(uint64_t id) {
  auto found = forwarders_.find(id);
  return found == forwarders_.end() ? nullptr : found->second.get();
}

void Loop::StartForward(const Command& command) {
  // An id in use names a forward already running: neither answered (that
  // would end the live one in JS) nor started (it would replace it under
  // the connections that point at it). lib takes ids from nextId().
  if (command.id == 0 || forwarders_.count(command.id) != 0) return;
  Connection* first = FindConnection(command.amount);
  Connection* second = FindConnection(command.other);
  if (first == nullptr || second == nullptr || first == second || first->failed ||
      second->failed || first->forwarder != nullptr || second->forwarder != nullptr ||
      first->connecting || second->connecting) {
    batch_->Add(EventKind::kForwardDone, command.id, 0, 0, EBADF * 16.0);
    return;
  }
  if ((first->tls != nullptr && !first->tls->plaintextReady()) ||
      (second->tls != nullptr && !second->tls->plaintextReady())) {
    // A TLS side forwards plaintext, so its handshake must be over (and a
    // client's server accepted): lib/forward.ts refuses a socket before
    // 'secureConnection' / 'secureConnect', and JS sees those only after it.
    batch_->Add(EventKind::kForwardDone, command.id, 0, 0, EOPNOTSUPP * 16.0);
    return;
  }
  auto forwarder = std::make_unique<Forwarder>(command.id, first, second,
                                               static_cast<ForwardMode>(command.flags), pipes_);
  first->forwarder = second->forwarder = forwarder.get();
  MarkInterestDirty(first);
  MarkInterestDirty(second);
  // JS passes on the bytes it holds unconsumed (forward.ts writes them to the
  // other side) and sends no acknowledgement for them: they leave the caps
  // here, or they would hold the reactor's total cap for as long as the
  // forward lives (issue 12 item 11).
  flow_.Settle(*first);
  flow_.Settle(*second);
  // Neither is read for JS from here on. Data read earlier sits in batches
  // ahead of this event, so when JS sees it, JS holds every such byte and can
  // pass them on before the forward starts moving newer ones.
  batch_->Add(EventKind::kForwardReady, command.id);
  forwarders_.emplace(command.id, std::move(forwarder));
}

void Loop::StartForwardTo(const Command& command) {
  if (command.id == 0 || forwarders_.count(command.id) != 0) return;  // as StartForward
  Connection* client = FindConnection(command.amount);
  if (client == nullptr || client->failed || client->forwarder != nullptr || client->connecting) {
    batch_->Add(EventKind::kForwardDone, command.id, 0, 0, EBADF * 16.0);
    return;
  }
  if (client->tls != nullptr && !client->tls->plaintextReady()) {
    batch_->Add(EventKind::kForwardDone, command.id, 0, 0, EOPNOTSUPP * 16.0);
    return;
  }
  // A reset whose edge came before the command (the client was JS's then)
  // raises no new one: look now, not when the connect ends.
  if (client->peerClosing) {
    int error = sys::PendingSocketError(client->fd);
    if (error < 0) {
      batch_->Add(EventKind::kForwardDone, command.id, 0, 0, -error * 16.0 + static_cast<double>(Syscall::kRead));
      return;
    }
  }
  const char* failedCall = "connect";
  std::string address(command.bytes.get(), command.bytes ? command.length : 0);
  int fd = sys::ConnectSocket(static_cast<int>(command.flags >> 8), address, command.extra, std::string(), 0,
                              &failedCall);
  if (fd < 0) {
    // As net reports a socket() that fails inside connect: syscall 'connect'.
    batch_->Add(EventKind::kForwardDone, command.id, 0, 0,
                -fd * 16.0 + static_cast<double>(Syscall::kConnect));
    return;
  }
  fdTable_.Note(fd);
  // The upstream is the forward's alone: JS never sees its id as a socket,
  // it is never read for JS, and it closes with the forward (or alone, in
  // FailForwardConnect).
  auto upstream = std::make_unique<Connection>(NextId(), fd);
  upstream->connecting = true;
  upstream->wantsData = false;
  upstream->lastActivityMs = nowMs_;
  if (command.flags & Command::kForwardNoDelay) sys::SetNoDelay(fd, true);
  auto mode = static_cast<ForwardMode>(command.flags & 3u);
  auto forwarder = std::make_unique<Forwarder>(command.id, client, upstream.get(), mode, pipes_);
  if (command.forwardHeld != nullptr) {
    forwarder->receivedByJs = command.forwardHeld->received;
    forwarder->heldByJs = std::move(command.forwardHeld->bytes);
    forwarder->heldLength = command.forwardHeld->length;
  }
  client->forwarder = upstream->forwarder = forwarder.get();
  // With its forwarder set, it is registered for every event (InterestFor):
  // EPOLLOUT ends the connect (FinishForwardConnect).
  int added = Register(upstream.get());
  if (added < 0) {
    client->forwarder = nullptr;
    sys::Close(fd);
    batch_->Add(EventKind::kForwardDone, command.id, 0, 0,
                -added * 16.0 + static_cast<double>(Syscall::kConnect));
    return;
  }
  MarkInterestDirty(client);
  // The client's unconsumed bytes stay in the caps until the upstream
  // connects (FinishForwardConnect settles them): if it does not, JS keeps
  // them, and acknowledges them as it reads, as before.
  if (command.other > 0) {
    upstream->timeoutMs = command.other;
    ArmTimer(upstream.get(), DeadlineAfter(nowMs_, command.other));
  }
  uint64_t upstreamId = upstream->id;
  connections_.Insert(upstreamId, std::move(upstream));
  forwarders_.emplace(command.id, std::move(forwarder));
}

bool Loop::CancelForResetClient(Forwarder* forwarder) {
  // Only an error ends it: a hangup alone (a Unix peer that wrote and
  // closed, a FIN after JS's own end()) leaves bytes to pass on, as a
  // running forward would.
  int error = sys::PendingSocketError(forwarder->First()->fd);
  if (error >= 0) return false;
  forwarder->Cancel(-error, Syscall::kRead);
  FinishForward(forwarder);
  return true;
}

void Loop::FinishForwardConnect(Connection* upstream) {
  Forwarder* forwarder = upstream->forwarder;
  upstream->connecting = false;
  // The connect timeout is over; the upstream has no idle timer of its own.
  timers_.Cancel(upstream->id);
  upstream->timerArmed = false;
  upstream->timeoutMs = 0;
  int error = sys::PendingSocketError(upstream->fd);
  if (error < 0) {
    FailForwardConnect(forwarder, -error);
    return;
  }
  Connection* client = forwarder->First();
  // Either side may hold bytes that came before this turn: no edge says so again.
  client->readable = upstream->readable = true;
  // As StartForward: what JS holds unconsumed leaves the caps; JS passes it
  // on and forgets it too (Socket.settleForwarded, on kForwardReady).
  flow_.Settle(*client);
  std::unique_ptr<char[]> held = std::move(forwarder->heldByJs);
  size_t heldLength = std::exchange(forwarder->heldLength, 0);
  if (client->bytesRead == forwarder->receivedByJs) {
    // JS had every byte read from the client for it when it asked (the client
    // is not read for JS since), so the copy it sent is all it holds: it goes
    // first, as a write queued before the forward, with no round trip
    // through JS. JS drops its own bytes on kForwardReady.
    if (heldLength > 0) QueueHeldBytes(upstream, std::move(held), heldLength);
    forwarder->started = true;
    QueueForward(forwarder);
    batch_->Add(EventKind::kForwardReady, forwarder->id, 1, static_cast<double>(upstream->id));
  } else {
    // Bytes read for JS were on their way to it: JS writes what it holds
    // now to the upstream (by this id), then sends kForwardStart.
    batch_->Add(EventKind::kForwardReady, forwarder->id, 0, static_cast<double>(upstream->id));
  }
}

void Loop::QueueHeldBytes(Connection* upstream, std::unique_ptr<char[]> held, size_t length) {
  WriteChunk chunk;
  chunk.owned = std::move(held);
  chunk.data = chunk.owned.get();
  chunk.length = length;
  upstream->writeQueue.push_back(std::move(chunk));
  upstream->unsentBytes += length;
}

void Loop::FailForwardConnect(Forwarder* forwarder, int error) {
  Connection* client = forwarder->First();
  Connection* upstream = forwarder->Second();
  client->forwarder = upstream->forwarder = nullptr;
  upstream->failed = true;
  // The client is JS's again, as it was: it reads for JS if JS wanted it to,
  // and bytes that came meanwhile raised their edge already.
  MarkInterestDirty(client);
  if (client->readable && client->wantsData) flow_.MarkReady(*client);
  // Writes and an end() JS queued meanwhile, and a TLS client's records
  // held for room, waited for the forwarder, and an EPOLLOUT that came
  // meanwhile was taken by it: send now (this may run from ExpireIdle, after
  // the turn's FlushWrites). A full socket says EAGAIN and waits for its next edge.
  if (!client->failed) {
    client->waitingWritable = false;
    FlushConnection(client);
  }
  // Syscall kConnect tells JS the client is still open (lib/forward.ts).
  batch_->Add(EventKind::kForwardDone, forwarder->id, 0, 0, error * 16.0 + static_cast<double>(Syscall::kConnect));
  auto found = forwarders_.find(forwarder->id);
  finishedForwarders_.push_back(std::move(found->second));
  forwarders_.erase(found);
  CloseConnection(upstream);
}

void Loop::QueueForward(Forwarder* forwarder) {
  if (forwarder->queued) return;
  forwarder->queued = true;
  forwardQueue_.push_back(forwarder->id);
}

void Loop::PumpForwards() {
  std::vector<uint64_t>& ids = forwardScratch_;
  ids.clear();
  ids.swap(forwardQueue_);
  // splice() into a reset socket raises SIGPIPE in the calling thread. The
  // reactor thread blocks every signal; the JS thread (same-thread mode) does
  // not, and once a 'SIGPIPE' listener has come and gone its action is the
  // default, which ends the process.
  sys::SigpipeGuard sigpipe(inline_ && !ids.empty());
  for (uint64_t id : ids) {
    Forwarder* forwarder = FindForwarder(id);
    if (forwarder == nullptr) continue;  // finished since it was queued
    AcceptDuringLongTurn();
    forwarder->queued = false;
    if (forwarder->Finished()) continue;
    uint64_t before = forwarder->BytesFirstToSecond() + forwarder->BytesSecondToFirst();
    bool more = forwarder->Pump(*batch_);
    if (forwarder->BytesFirstToSecond() + forwarder->BytesSecondToFirst() != before) {
      Touch(forwarder->First());
      Touch(forwarder->Second());
    }
    if (forwarder->Finished()) {
      FinishForward(forwarder);
    } else if (more) {
      QueueForward(forwarder);
    }
  }
}

void Loop::FinishForward(Forwarder* forwarder, Connection* closing) {
  Connection* first = forwarder->First();
  Connection* second = forwarder->Second();
  double outcome = forwarder->Error() == 0
                       ? 0
                       : forwarder->Error() * 16.0 + static_cast<double>(forwarder->FailedCall());
  if (forwarder->FailedInTls()) {
    // OpenSSL's words for JS's error, ahead of the outcome they explain.
    const TlsFailure& failure = forwarder->TlsError();
    size_t firstString = batch_->strings.size();
    batch_->strings.push_back(failure.message);
    batch_->strings.push_back(failure.library);
    batch_->strings.push_back(failure.reason);
    batch_->Add(EventKind::kForwardTlsError, forwarder->id, 0, static_cast<double>(firstString));
  }
  batch_->Add(EventKind::kForwardDone, forwarder->id,
              static_cast<double>(forwarder->BytesFirstToSecond()),
              static_cast<double>(forwarder->BytesSecondToFirst()), outcome);
  first->forwarder = second->forwarder = nullptr;
  if (forwarder->Error() != 0 && forwarder->Error() != ECANCELED) {
    // A failed forward (a reset, a cut or bad TLS record, a refused write)
    // resets both sides: a FIN would let a peer take the failure for a clean
    // end, a truncated download for a whole one. Not a side whose end was
    // passed on already: its peer has the whole stream, and a reset would
    // discard the tail still in its send buffer. JS's destroy() of one side
    // (ECANCELED) closes the other with a FIN, as net's destroy() does.
    for (Connection* side : {first, second}) {
      if (side != closing && !side->closed && !forwarder->EndPassedTo(side)) sys::SetLingerZero(side->fd);
    }
  }
  auto found = forwarders_.find(forwarder->id);
  finishedForwarders_.push_back(std::move(found->second));
  forwarders_.erase(found);
  if (first != closing && !first->closed) CloseConnection(first);
  if (second != closing && !second->closed) CloseConnection(second);
}

void Loop::SendHeldOutput(Connection* connection) {
  // What was held goes now (no edge says so), and a read held back for room
  // goes on. A forward sends a side's held records first and reads it again.
  if (connection->forwarder != nullptr) {
    QueueForward(connection->forwarder);  // started or not (Forwarder::Pump)
    return;
  }
  if (!connection->waitingWritable) QueueWrite(connection);
  if (connection->tls->readWantsWrite) {
    connection->readable = true;
    flow_.MarkReady(*connection);
  }
}

void Loop::SendBeforeClosing(Connection* connection, bool reset) {
  // With nothing queued, a TLS connection still sends an end() asked for
  // (node's SSL_shutdown has written the close_notify) and records held
  // until this turn's commands let them go (a verdict or a stored session
  // just before the close: node had written them by then).
  bool tlsToSend = connection->tls != nullptr &&
                   ((!reset && connection->shutdownRequested && !connection->shutdownDone) ||
                    connection->tls->releasedOutputWaiting());
  if (connection->forwarder != nullptr && tlsToSend && !connection->failed && !connection->waitingWritable) {
    // A forwarded side's queue is its forwarder's, but released records
    // are the session's own and go before the close all the same (what the
    // socket refuses goes with it).
    connection->tls->FlushOverflow(*connection);
    return;
  }
  if (connection->forwarder != nullptr || connection->failed || connection->connecting ||
      connection->waitingWritable || (connection->writeQueue.empty() && !tlsToSend)) {
    return;
  }
  // A reset sends no FIN: an end() JS asked for (an 'exit' listener's
  // write(); end(); resetAndDestroy()) goes with the connection, or the
  // queue's last send would end it before the RST.
  if (reset) connection->shutdownRequested = false;
  connection->Flush(*batch_);
}

void Loop::CloseConnection(Connection* connection) {
  if (connection->forwarder != nullptr) {
    // Closing one side from JS ends the forward, and with it the other side.
    Forwarder* forwarder = connection->forwarder;
    forwarder->Cancel(ECANCELED);
    FinishForward(forwarder, connection);
  }
  // EPOLL_CTL_DEL before close(): the fd number is free for reuse the moment
  // close() returns, and the next accept may be given it.
  if (options_.edgeTriggered || connection->interest != 0) sys::EpollDelete(epollFd_, connection->fd);
  sys::Close(connection->fd);
  connection->DropWrites(*batch_);
  connection->closed = true;
  // The one place a connection leaves every queue and timer: flow control
  // (ready list, blocked set, byte totals), the idle timers, and the table
  // that every id queue is looked up in again. It stays allocated until the
  // end of the turn for epoll events already fetched.
  flow_.Forget(*connection);
  timers_.Cancel(connection->id);
  connection->timerArmed = false;
  if (Listener* listener = FindListener(connection->listenerId)) {
    if (listener->open > 0) --listener->open;
  }
  closedConnections_.push_back(connections_.Remove(connection->id));
  // A listener starved of fds can accept again now.
  for (auto& entry : listeners_) {
    Listener* listener = entry.second.get();
    if (listener->starved) {
      listener->starved = false;
      QueueAccept(listener);
    }
  }
}

void Loop::CloseListener(Listener* listener) {
  acceptGate_->RemoveRoom(listener->acceptRoom);
  sys::EpollDelete(epollFd_, listener->fd);
  sys::Close(listener->fd);
  listener->closed = true;
  auto found = listeners_.find(listener->id);
  closedListeners_.push_back(std::move(found->second));
  listeners_.erase(found);
}

void Loop::CloseEverything() {
  interestDirty_.clear();
  forwarders_.clear();
  forwardQueue_.clear();
  timers_ = IdleTimers();
  finishedForwarders_.clear();
  connections_.ForEach([](uint64_t, Connection* connection) { sys::Close(connection->fd); });
  for (auto& entry : listeners_) {
    acceptGate_->RemoveRoom(entry.second->acceptRoom);
    sys::Close(entry.second->fd);
  }
  connections_.Clear();
  listeners_.clear();
  writeQueue_.clear();
  acceptQueue_.clear();
  heldListeners_.clear();
  retryListeners_.clear();
  closedConnections_.clear();
  closedListeners_.clear();
}

}  // namespace reactor
