#include "reactor.h"

#include <dlfcn.h>
#include <errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "read_arena.h"
#include "sys.h"

namespace reactor {

namespace {

// lib/ sends ids, counts and durations as whole numbers below 2^53. Anything
// else (NaN, negative, fractional below 1, too big) must not reach a
// double-to-integer conversion, which is undefined behaviour out of range.
constexpr double kMaxSafeInteger = 9007199254740991.0;  // Number.MAX_SAFE_INTEGER

// A whole number in [1, 2^53), or 0 (no such id, none) for anything else.
uint64_t WholeNumber(double value) {
  return value >= 1 && value <= kMaxSafeInteger ? static_cast<uint64_t>(value) : 0;
}

uint64_t IdArgument(const Napi::CallbackInfo& info, size_t index) {
  return info[index].IsNumber() ? WholeNumber(info[index].As<Napi::Number>().DoubleValue()) : 0;
}

// info[index] if a number, else `fallback`: never ToNumber(), whose valueOf
// could throw or run JS in the middle of a command.
double NumberArgument(const Napi::CallbackInfo& info, size_t index, double fallback = 0) {
  return info[index].IsNumber() ? info[index].As<Napi::Number>().DoubleValue() : fallback;
}

Napi::Value ThrowTypeError(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

// Writes this large are sent from the JS Buffer's memory instead of a copy.
constexpr size_t kPinnedWriteMin = 8 * 1024;

// kWritten events that wake nobody wait in the pending batch for one that
// does (partial progress of a write JS waits for the end of); past this
// many records the batch goes anyway, so it cannot grow without bound, and
// JS learns the byte counts at least this often.
constexpr size_t kMaxUnwokenRecords = 1024;

// The inbox (Delivery::inbox) starts at 64 KiB and grows with the batches
// to 1 MiB; a batch's reads past that are made into Buffers here, as before.
// Reads longer than kMaxInboxRead are too: for them a second copy costs
// more than the native call saves (measured on the 64 KiB stream).
constexpr size_t kMinInbox = 64 * 1024;
constexpr size_t kMaxInbox = 1024 * 1024;
constexpr size_t kMaxInboxRead = 8 * 1024;

// The write log (Delivery::writeLog): records and bytes. 64 KiB holds a
// turn's replies at 1,000 connections of 64 B; a fuller log is staged and
// emptied by drainWriteLog() (one native call per 1,024 writes at most).
constexpr size_t kWriteLogRecords = 1024;
constexpr size_t kWriteLogIndexDoubles = 2 + 2 * kWriteLogRecords;
constexpr size_t kWriteLogBytes = 64 * 1024;

}  // namespace

namespace {
// Gives a taken batch back to the reactor thread, emptied, when DeliverToJs
// is done with it on any path (Delivery::spare).
class BatchRecycler {
 public:
  BatchRecycler(Delivery* delivery, std::unique_ptr<Batch>& batch) : delivery_(delivery), batch_(batch) {}
  BatchRecycler(const BatchRecycler&) = delete;
  BatchRecycler& operator=(const BatchRecycler&) = delete;
  ~BatchRecycler() {
    if (!batch_ || !batch_->WorthRecycling()) return;
    batch_->Clear();
    std::lock_guard<std::mutex> lock(delivery_->mutex);
    if (!delivery_->spare) delivery_->spare = std::move(batch_);
  }

 private:
  Delivery* delivery_;
  std::unique_ptr<Batch>& batch_;
};

// Tells the accept gate that JS took a batch's connection events as the
// batch arrives, and that their handlers have run when DeliverToJs returns
// on any path: by then the nextTick queue has run too (napi_make_callback),
// and the fds a handler made (a proxy's upstream socket) are in the fd table
// for the next accept to show. Meanwhile the gate keeps an fd of its
// headroom for each handler. While the JS thread stalls nothing is taken,
// and the reactor stops accepting.
class AcceptsTaken {
 public:
  AcceptsTaken(AcceptGate* gate, uint64_t count) : gate_(gate), count_(count) {
    if (gate_ != nullptr && count_ != 0) gate_->Taken(count_);
  }
  AcceptsTaken(const AcceptsTaken&) = delete;
  AcceptsTaken& operator=(const AcceptsTaken&) = delete;
  ~AcceptsTaken() {
    if (gate_ != nullptr && count_ != 0) gate_->HandlersRan(count_);
  }

 private:
  AcceptGate* gate_;
  uint64_t count_;
};
}  // namespace

namespace {
// Keeps the lender's spare buffers topped up, once bulk reads have asked,
// with at most ReadLender::kMaxSpares lent in all (the references, one per
// buffer spare, being read into or in a batch). Node allocates a Buffer's
// memory without zero-filling it; the reactor writes a whole buffer before
// JS can see any of it, or only the bytes it read are copied out.
void LendBuffers(napi_env env, Delivery* delivery) {
  if (delivery->reactorStopped) return;
  size_t room = ReadLender::kMaxSpares - std::min(ReadLender::kMaxSpares, delivery->lent.size());
  for (size_t missing = std::min(room, delivery->lender->Missing()); missing > 0; --missing) {
    void* data = nullptr;
    napi_value buffer;
    napi_ref reference;
    if (napi_create_buffer(env, ReadLender::kSize, &data, &buffer) != napi_ok || data == nullptr) return;
    if (napi_create_reference(env, buffer, 1, &reference) != napi_ok) return;
    uint64_t id = delivery->nextLent++;
    delivery->lent.emplace(id, reference);
    delivery->lender->Give(LentBuffer{id, static_cast<char*>(data)});
  }
}

// When DeliverToJs is done with a batch, on any path: gives back to the
// lender each lent buffer the batch still names (a failed N-API call left it
// unhanded), then tops the spares up, so the ones given back count.
class LentReturner {
 public:
  LentReturner(napi_env env, Delivery* delivery, Batch* batch) : env_(env), delivery_(delivery), batch_(batch) {}
  LentReturner(const LentReturner&) = delete;
  LentReturner& operator=(const LentReturner&) = delete;
  ~LentReturner() {
    for (ReadChunk& chunk : batch_->chunks) {
      if (chunk.lentId == 0) continue;
      delivery_->lender->Give(LentBuffer{chunk.lentId, chunk.data});
      chunk.lentId = 0;
    }
    LendBuffers(env_, delivery_);
  }

 private:
  napi_env env_;
  Delivery* delivery_;
  Batch* batch_;
};

// A lent buffer's read as the Buffer JS gets: the lent Buffer itself when the
// read filled it (the bridge lets go of it; JS owns it now), else a copy of
// the bytes, and the buffer goes back to the lender at once. Either way the
// chunk names it no more.
bool LentReadBuffer(napi_env env, Delivery* delivery, ReadChunk& chunk, size_t length, napi_value* buffer) {
  auto found = delivery->lent.find(chunk.lentId);
  if (found == delivery->lent.end()) {
    // Cannot happen; if it did, no reference keeps that memory alive, and
    // giving it back would let the reactor write into it.
    chunk.lentId = 0;
    return false;
  }
  if (length != ReadLender::kSize) {
    if (napi_create_buffer_copy(env, length, chunk.data, nullptr, buffer) != napi_ok) return false;
    delivery->lender->Give(LentBuffer{chunk.lentId, chunk.data});
    chunk.lentId = 0;
    return true;
  }
  if (napi_get_reference_value(env, found->second, buffer) != napi_ok || *buffer == nullptr) return false;
  napi_delete_reference(env, found->second);
  delivery->lent.erase(found);
  chunk.lentId = 0;
  ++delivery->lentHandedOver;
  return true;
}

// A typed array made once and reused by every batch (Delivery::records,
// Delivery::inbox), with room for `count` elements: the one made before, or
// a new one twice as large (the old one is JS's to collect), at least `minimum`.
// Its memory is V8's: `data` is read from the array again at each reuse, and
// an array some JS has detached (ArrayBuffer#transfer, which
// markAsUntransferable does not refuse on Node 22) is replaced, never written.
template <typename Element>
bool ReusedArray(napi_env env, napi_typedarray_type type, size_t count, size_t minimum, size_t maximum,
                 napi_ref* reference, Element** data, size_t* capacity, napi_value* array) {
  if (*reference != nullptr && count <= *capacity) {
    if (napi_get_reference_value(env, *reference, array) != napi_ok || *array == nullptr) return false;
    size_t length = 0;
    void* memory = nullptr;
    if (napi_get_typedarray_info(env, *array, nullptr, &length, &memory, nullptr, nullptr) != napi_ok) return false;
    if (length == *capacity && memory != nullptr) {
      *data = static_cast<Element*>(memory);
      return true;
    }
    *capacity = 0;  // detached: made anew below
  }
  size_t grown = std::max<size_t>(std::max<size_t>(count, 2 * *capacity), minimum);
  grown = std::min(grown, std::max(count, maximum));
  void* memory = nullptr;
  napi_value buffer;
  napi_ref made;
  if (napi_create_arraybuffer(env, grown * sizeof(Element), &memory, &buffer) != napi_ok ||
      napi_create_typedarray(env, type, grown, buffer, 0, array) != napi_ok ||
      napi_create_reference(env, *array, 1, &made) != napi_ok) {
    return false;
  }
  if (*reference != nullptr) napi_delete_reference(env, *reference);
  *reference = made;
  *data = static_cast<Element*>(memory);
  *capacity = grown;
  return true;
}

bool RecordsArray(napi_env env, Delivery* delivery, size_t count, napi_value* array) {
  return ReusedArray(env, napi_float64_array, count, 256 * kRecordStride, SIZE_MAX, &delivery->records,
                     &delivery->recordsData, &delivery->recordsCapacity, array);
}

bool InboxArray(napi_env env, Delivery* delivery, size_t bytes, napi_value* array) {
  return ReusedArray(env, napi_uint8_array, bytes, kMinInbox, kMaxInbox, &delivery->inbox, &delivery->inboxData,
                     &delivery->inboxCapacity, array);
}
}  // namespace

namespace {
// Hands the pending batch, if any, to JS: dispatch(records, recordCount,
// regions, strings, inbox), called as napi_make_callback calls, with
// `resource` as its receiver (OnWake opens the handle scope).
// With no dispatch function (its reference unreadable) the batch is dropped
// as below.
void DeliverToJs(napi_env env, napi_value dispatch, napi_value resource, Delivery* delivery,
                 std::unique_ptr<Batch> batch) {
  if (!batch) return;
  // The loop held back due timeouts until JS took these: it may go on now.
  if (batch->timeouts >= Loop::kMaxTimeoutsAwaitingJs && delivery->acceptGate) delivery->acceptGate->WakeLoop();
  AcceptsTaken accepts(delivery->acceptGate.get(), batch->acceptEvents);
  BatchRecycler recycler(delivery, batch);
  for (uint8_t pool = 1; pool <= kBufferPools; ++pool) {
    for (auto& buffer : batch->returnedBuffers[pool - 1]) delivery->KeepBuffer(pool, std::move(buffer));
    batch->returnedBuffers[pool - 1].clear();
  }
  for (uint64_t pin : batch->unpinned) {
    auto found = delivery->pins.find(pin);
    if (found == delivery->pins.end()) continue;
    napi_delete_reference(env, found->second);
    delivery->pins.erase(found);
  }
  batch->unpinned.clear();
  LentReturner lentReturner(env, delivery, batch.get());
  if (batch->Empty() || dispatch == nullptr || resource == nullptr) return;

  // Raw N-API calls with their status checked: while Node tears an environment
  // down it may still run the wake callback, but cannot run JS, and every call
  // below may then fail. The batch is dropped then; its destructor frees the
  // chunks that did not reach JS (LentReturner gives back the lent buffers).
  napi_env rawEnv = env;

  // Every data record's bytes reach JS in a Buffer (and ArrayBuffer) of its
  // own, which JS owns: a handler sees only its record's bytes (issue 12 item
  // 24), and the read block goes back with the batch. (A full lent buffer is
  // handed over as it is instead: it holds that read's bytes only;
  // read_lender.h.) Reads were once lent to JS as external ArrayBuffers over
  // the block. Besides six allocations each, that left the block's life to a
  // finalizer, and when a Worker's environment was torn down Node ran those
  // finalizers in its cleanup, freeing blocks while the reactor thread still
  // sent a pinned write from one (a heap-use-after-free under ASan, twice,
  // however the cleanup hooks were ordered). Memory JS owns is freed only
  // after the reactor has stopped.
  // Most reads are copied into the inbox, side by side, and JS makes each
  // one's Buffer from there (record a: -1, b: its offset in the inbox); the
  // rest, past the inbox's bound, get a Buffer made here (a: its index in
  // `regions`, b: 0). Done before the records are copied out, as it
  // renumbers them.
  size_t inboxBytes = 0;
  for (size_t i = 0; i < batch->records.size(); i += kRecordStride) {
    const double* record = &batch->records[i];
    if (record[0] != static_cast<double>(EventKind::kData)) continue;
    if (batch->chunks[static_cast<size_t>(record[2])].lentId != 0) continue;
    if (static_cast<size_t>(record[4]) > kMaxInboxRead) continue;
    inboxBytes += static_cast<size_t>(record[4]);
  }
  napi_value inbox = nullptr;
  if (inboxBytes > 0 && !InboxArray(rawEnv, delivery, std::min(inboxBytes, kMaxInbox), &inbox)) {
    // No larger inbox (out of memory): every read gets a Buffer made here,
    // as before the inbox, rather than the batch being lost.
    inbox = nullptr;
    napi_value ignored;
    bool pending = false;
    if (napi_is_exception_pending(rawEnv, &pending) == napi_ok && pending) {
      napi_get_and_clear_last_exception(rawEnv, &ignored);
    }
  }
  // Every copy into the inbox first: making the other Buffers below sets
  // elements of a JS array, which may run JS (a setter on Array.prototype).
  size_t inboxUsed = 0;
  for (size_t i = 0; inbox != nullptr && i < batch->records.size(); i += kRecordStride) {
    double* record = &batch->records[i];
    if (record[0] != static_cast<double>(EventKind::kData)) continue;
    ReadChunk& chunk = batch->chunks[static_cast<size_t>(record[2])];
    size_t length = static_cast<size_t>(record[4]);
    if (chunk.lentId == 0 && length <= kMaxInboxRead && length <= delivery->inboxCapacity - inboxUsed) {
      std::memcpy(delivery->inboxData + inboxUsed, chunk.data + static_cast<size_t>(record[3]), length);
      record[2] = -1;
      record[3] = static_cast<double>(inboxUsed);
      inboxUsed += length;
    }
  }
  napi_value regions = nullptr;
  uint32_t regionCount = 0;
  for (size_t i = 0; i < batch->records.size(); i += kRecordStride) {
    double* record = &batch->records[i];
    if (record[0] != static_cast<double>(EventKind::kData) || record[2] < 0) continue;
    ReadChunk& chunk = batch->chunks[static_cast<size_t>(record[2])];
    const char* bytes = chunk.data + static_cast<size_t>(record[3]);
    size_t length = static_cast<size_t>(record[4]);
    if (regions == nullptr && napi_create_array(rawEnv, &regions) != napi_ok) return;
    // A Buffer copy rather than napi_create_arraybuffer + memcpy: Node
    // allocates its memory without zero-filling it first (the ArrayBuffer
    // path writes every byte twice), and JS gets the Buffer it hands on.
    napi_value buffer;
    if (chunk.lentId != 0) {
      if (!LentReadBuffer(rawEnv, delivery, chunk, length, &buffer)) return;
    } else if (napi_create_buffer_copy(rawEnv, length, bytes, nullptr, &buffer) != napi_ok) {
      return;
    }
    if (napi_set_element(rawEnv, regions, regionCount, buffer) != napi_ok) return;
    record[2] = static_cast<double>(regionCount++);
    record[3] = 0;
  }

  napi_value strings;
  if (napi_create_array_with_length(rawEnv, batch->strings.size(), &strings) != napi_ok) return;
  for (size_t i = 0; i < batch->strings.size(); ++i) {
    napi_value text;
    const std::string& value = batch->strings[i];
    if (napi_create_string_utf8(rawEnv, value.data(), value.size(), &text) != napi_ok ||
        napi_set_element(rawEnv, strings, static_cast<uint32_t>(i), text) != napi_ok) {
      return;
    }
  }

  // Last, as the inbox's copies came first: nothing that could run JS
  // between looking the array up and writing into it.
  napi_value records;
  if (!RecordsArray(rawEnv, delivery, batch->records.size(), &records)) return;
  std::memcpy(delivery->recordsData, batch->records.data(), batch->records.size() * sizeof(double));
  napi_value recordCount;
  if (napi_create_uint32(rawEnv, static_cast<uint32_t>(batch->records.size()), &recordCount) != napi_ok) return;

  napi_value undefined;
  napi_get_undefined(rawEnv, &undefined);
  napi_value arguments[] = {records, recordCount, regions != nullptr ? regions : undefined, strings,
                            inbox != nullptr ? inbox : undefined};
  // As a libuv callback of node:net's: the nextTick queue and microtasks run
  // when it returns. An exception from JS stays pending; OnWake reports it.
  napi_make_callback(rawEnv, delivery->asyncContext, resource, dispatch, 5, arguments, nullptr);
}

void RunInline(Delivery* delivery);

// The wake callback, on the JS thread.
void OnWake(uv_async_t* handle) {
  auto* delivery = static_cast<Delivery*>(handle->data);
  napi_env env = delivery->env;
  // Taken first, whatever fails later: the next delivery must find
  // callScheduled clear, or it would never wake JS again.
  std::unique_ptr<Batch> batch;
  {
    std::lock_guard<std::mutex> lock(delivery->mutex);
    batch = std::move(delivery->pending);
    delivery->callScheduled = false;
  }
  napi_handle_scope handleScope;
  if (napi_open_handle_scope(env, &handleScope) != napi_ok) return;
  napi_value resource = nullptr;
  napi_value dispatch = nullptr;
  if (napi_get_reference_value(env, delivery->resource, &resource) != napi_ok) resource = nullptr;
  if (napi_get_reference_value(env, delivery->dispatch, &dispatch) != napi_ok) dispatch = nullptr;
  DeliverToJs(env, dispatch, resource, delivery, std::move(batch));
  // dispatchBatch rethrows handlers' errors on a later tick; anything that
  // still escapes is reported as uncaught, as from a node:net callback.
  bool pending = false;
  napi_value error;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &error) == napi_ok) {
    napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, handleScope);
}

void OnDeliveryClosed(uv_handle_t* handle) {
  auto* delivery = static_cast<Delivery*>(handle->data);
  if (--delivery->handlesOpen > 0) return;
  napi_env env = delivery->env;
  // The reactor thread has stopped: nothing sends from pinned Buffers now.
  for (auto& entry : delivery->pins) napi_delete_reference(env, entry.second);
  for (auto& entry : delivery->lent) napi_delete_reference(env, entry.second);
  for (napi_ref reference : {delivery->records, delivery->inbox, delivery->writeLog, delivery->dispatch,
                             delivery->resource}) {
    if (reference != nullptr) napi_delete_reference(env, reference);
  }
  if (delivery->asyncContext != nullptr) napi_async_destroy(env, delivery->asyncContext);
  napi_async_cleanup_hook_handle closeHook = delivery->closeHook;
  delete delivery;
  // Last: removing the hook may let the environment finish going away.
  if (closeHook != nullptr) napi_remove_async_cleanup_hook(closeHook);
}

// Closes the wake handle once: only after the reactor thread has stopped,
// since that thread signals it (Reactor::Teardown stops it first).
void CloseDelivery(Delivery* delivery) {
  if (delivery->closing) return;
  delivery->closing = true;
  delivery->inlineLoop = nullptr;
  // Counted before any close: a callback must not free what the next uses.
  delivery->handlesOpen = delivery->inlineHandlesOpen ? 3 : 1;
  uv_close(reinterpret_cast<uv_handle_t*>(&delivery->wake), OnDeliveryClosed);
  if (delivery->inlineHandlesOpen) {
    uv_close(reinterpret_cast<uv_handle_t*>(&delivery->poll), OnDeliveryClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&delivery->turnTimer), OnDeliveryClosed);
  }
}

// Same-thread mode: turns, each followed by its batch's call into JS, until
// none is due at once, then the timer set for the next that is. At most
// kMaxInlinePasses in a row, so that libuv's other handles get their go
// between (the timer, at 0, brings the rest).
constexpr int kMaxInlinePasses = 8;

// `keepAlive`: commands JS submitted wait for this turn, and hold the process
// open until it has run them, as the reactor thread takes them whatever the
// refs say. Turns for idle timeouts and retries keep nothing alive.
void ArmTurnTimer(Delivery* delivery, int waitMs, bool keepAlive = false) {
  auto* handle = reinterpret_cast<uv_handle_t*>(&delivery->turnTimer);
  if (waitMs < 0) {
    uv_timer_stop(&delivery->turnTimer);
    uv_unref(handle);
    return;
  }
  // The loop's cached time may be a whole JS callback old: without this the
  // timer comes early and its turn finds nothing due.
  if (waitMs > 0) uv_update_time(handle->loop);
  uv_timer_start(&delivery->turnTimer, [](uv_timer_t* timer) { RunInline(static_cast<Delivery*>(timer->data)); },
                 static_cast<uint64_t>(waitMs), 0);
  if (keepAlive) {
    uv_ref(handle);
  } else {
    uv_unref(handle);
  }
}

bool CallScheduled(Delivery* delivery) {
  std::lock_guard<std::mutex> lock(delivery->mutex);
  return delivery->callScheduled;
}

void RunInline(Delivery* delivery) {
  for (int pass = 0; pass < kMaxInlinePasses; ++pass) {
    if (delivery->inlineLoop == nullptr) return;
    bool running = delivery->inlineLoop->TurnInline();
    if (CallScheduled(delivery)) OnWake(&delivery->wake);
    // JS may have torn the reactor down (Reactor::Teardown).
    if (delivery->inlineLoop == nullptr) return;
    // Failed: the epoll set is broken, so stop polling it. The timer still
    // brings the answers to later commands (Loop::Submit delivers them).
    if (!running) uv_poll_stop(&delivery->poll);
    // What JS did while it ran may have delivered again (a turn of its own
    // for close() or a query, a command the failed loop answered): that
    // batch goes at once, whatever the loop's own timing says.
    int waitMs = CallScheduled(delivery) ? 0 : delivery->inlineLoop->InlineWaitMs();
    if (waitMs != 0) {
      ArmTurnTimer(delivery, waitMs);
      return;
    }
  }
  ArmTurnTimer(delivery, 0);
}

// Same-thread mode: starts polling `loop`'s epoll fd from this thread's
// libuv loop. Returns 0 or a libuv error; on failure `delivery` is as before.
int OpenInline(Delivery* delivery, Loop* loop, const char** failedCall) {
  uv_loop_t* uvLoop = nullptr;
  *failedCall = "napi_get_uv_event_loop";
  if (napi_get_uv_event_loop(delivery->env, &uvLoop) != napi_ok) return UV_EINVAL;
  *failedCall = "uv_poll_init";
  int result = uv_poll_init(uvLoop, &delivery->poll, loop->epollFd());
  if (result != 0) return result;
  uv_timer_init(uvLoop, &delivery->turnTimer);  // cannot fail
  delivery->poll.data = delivery;
  delivery->turnTimer.data = delivery;
  delivery->inlineHandlesOpen = true;
  uv_unref(reinterpret_cast<uv_handle_t*>(&delivery->poll));
  uv_unref(reinterpret_cast<uv_handle_t*>(&delivery->turnTimer));
  *failedCall = "uv_poll_start";
  // The status is not looked at: the turn's epoll_wait reports a broken set.
  result = uv_poll_start(&delivery->poll, UV_READABLE, [](uv_poll_t* poll, int, int) {
    RunInline(static_cast<Delivery*>(poll->data));
  });
  if (result != 0) return result;
  delivery->inlineLoop = loop;
  loop->SetInlineWake([delivery] {
    if (delivery->inlineLoop != nullptr) ArmTurnTimer(delivery, 0, true);
  });
  return 0;
}

// Reactor::Teardown, before the loop stops: no more turns from libuv.
void CloseInline(Delivery* delivery) {
  if (delivery == nullptr || delivery->inlineLoop == nullptr) return;
  delivery->inlineLoop->SetInlineWake(nullptr);
  delivery->inlineLoop = nullptr;
  uv_poll_stop(&delivery->poll);
  uv_timer_stop(&delivery->turnTimer);
}

// The environment is going away. Registered before the Reactor's own cleanup
// hook, which Node runs first (last registered, first run), so the thread
// has stopped by now; the close callback ends this hook.
void CloseDeliveryAtCleanup(napi_async_cleanup_hook_handle, void* data) {
  CloseDelivery(static_cast<Delivery*>(data));
}

// Sets up `delivery`'s way to JS: false, with an exception pending, if it
// could not; `delivery` is then still the caller's to delete.
bool OpenDelivery(napi_env env, napi_value dispatch, Delivery* delivery) {
  uv_loop_t* loop = nullptr;
  napi_value resource;
  napi_value name;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_object(env, &resource) != napi_ok ||
      napi_create_string_utf8(env, "epoll-reactor", NAPI_AUTO_LENGTH, &name) != napi_ok) {
    return false;
  }
  int initialized = uv_async_init(loop, &delivery->wake, OnWake);
  if (initialized != 0) {
    napi_throw_error(env, nullptr, uv_strerror(initialized));
    return false;
  }
  delivery->env = env;
  delivery->wake.data = delivery;
  delivery->handlesOpen = 1;
  // From here the handle owns `delivery`: every failure closes it. The hook
  // first, so that the environment waits for the close callback on any path.
  if (napi_add_async_cleanup_hook(env, CloseDeliveryAtCleanup, delivery, &delivery->closeHook) != napi_ok ||
      napi_create_reference(env, dispatch, 0, &delivery->dispatch) != napi_ok ||
      napi_create_reference(env, resource, 1, &delivery->resource) != napi_ok ||
      napi_async_init(env, resource, name, &delivery->asyncContext) != napi_ok) {
    CloseDelivery(delivery);
    return false;
  }
  // Nothing is open yet: the reactor must not keep the process alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(&delivery->wake));
  return true;
}
}  // namespace

Napi::Function Reactor::DefineClass(Napi::Env env) {
  return ObjectWrap<Reactor>::DefineClass(
      env, "Reactor",
      {
          InstanceMethod<&Reactor::Listen>("listen"),
          InstanceMethod<&Reactor::ListenFd>("listenFd"),
          InstanceMethod<&Reactor::Connect>("connect"),
          InstanceMethod<&Reactor::AdoptFd>("adoptFd"),
          InstanceMethod<&Reactor::SetTimeout>("setTimeout"),
          InstanceMethod<&Reactor::SetMaxConnections>("setMaxConnections"),
          InstanceMethod<&Reactor::SetNoDelay>("setNoDelay"),
          InstanceMethod<&Reactor::TypeOfService>("typeOfService"),
          InstanceMethod<&Reactor::SocketOption>("socketOption"),
          InstanceMethod<&Reactor::SetKeepAlive>("setKeepAlive"),
          InstanceMethod<&Reactor::Reset>("reset"),
          InstanceMethod<&Reactor::Forward>("forward"),
          InstanceMethod<&Reactor::ForwardStart>("forwardStart"),
          InstanceMethod<&Reactor::ForwardTo>("forwardTo"),
          InstanceMethod<&Reactor::NextId>("nextId"),
          InstanceMethod<&Reactor::Stats>("stats"),
          InstanceMethod<&Reactor::CloseListener>("closeListener"),
          InstanceMethod<&Reactor::Write>("write"),
          InstanceMethod<&Reactor::WriteLog>("writeLog"),
          InstanceMethod<&Reactor::DrainWriteLog>("drainWriteLog"),
          InstanceMethod<&Reactor::AwaitWritten>("awaitWritten"),
          InstanceMethod<&Reactor::Shutdown>("shutdown"),
          InstanceMethod<&Reactor::Close>("close"),
          InstanceMethod<&Reactor::Pause>("pause"),
          InstanceMethod<&Reactor::TlsAllowWrites>("tlsAllowWrites"),
          InstanceMethod<&Reactor::TlsSessionStored>("tlsSessionStored"),
          InstanceMethod<&Reactor::TlsVerdictGiven>("tlsVerdictGiven"),
          InstanceMethod<&Reactor::TlsUseContext>("tlsUseContext"),
          InstanceMethod<&Reactor::TlsChooseAlpn>("tlsChooseAlpn"),
          InstanceMethod<&Reactor::TlsSetMaxSendFragment>("tlsSetMaxSendFragment"),
          InstanceMethod<&Reactor::TlsServerSession>("tlsServerSession"),
          InstanceMethod<&Reactor::TlsQuery>("tlsQuery"),
          InstanceMethod<&Reactor::TlsAskServernames>("tlsAskServernames"),
          InstanceMethod<&Reactor::TlsListenWith>("tlsListenWith"),
          InstanceMethod<&Reactor::TlsAskOcsp>("tlsAskOcsp"),
          InstanceMethod<&Reactor::TlsAskSessions>("tlsAskSessions"),
          InstanceMethod<&Reactor::TlsResumeSession>("tlsResumeSession"),
          InstanceMethod<&Reactor::TlsAnswerPsk>("tlsAnswerPsk"),
          InstanceMethod<&Reactor::TlsContextCertificates>("tlsContextCertificates"),
          InstanceMethod<&Reactor::TlsLogKeys>("tlsLogKeys"),
          InstanceMethod<&Reactor::TlsTrace>("tlsTrace"),
          InstanceMethod<&Reactor::TlsLogServerKeys>("tlsLogServerKeys"),
          InstanceMethod<&Reactor::Resume>("resume"),
          InstanceMethod<&Reactor::Flush>("flush"),
          InstanceMethod<&Reactor::Destroy>("destroy"),
          InstanceMethod<&Reactor::RunOnCallerFromNow>("runOnCallerFromNow"),
          InstanceMethod<&Reactor::Ref>("ref"),
          InstanceMethod<&Reactor::Unref>("unref"),
          InstanceMethod<&Reactor::Hold>("hold"),
          InstanceMethod<&Reactor::CreateTlsContext>("createTlsContext"),
          InstanceMethod<&Reactor::ReleaseTlsContext>("releaseTlsContext"),
          InstanceMethod<&Reactor::SetTlsTicketKeys>("setTlsTicketKeys"),
      });
}

// new Reactor(dispatch, options?)
Reactor::Reactor(const Napi::CallbackInfo& info) : ObjectWrap<Reactor>(info) {
  Napi::Env env = info.Env();
  env_ = env;
  if (!info[0].IsFunction()) {
    ThrowTypeError(env, "Reactor needs a dispatch function");
    return;
  }
  LoopOptions options;
  bool ownThread = true;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object given = info[1].As<Napi::Object>();
    auto number = [&](const char* name, auto* into) {
      Napi::Value value = given.Get(name);
      if (value.IsNumber()) {
        *into = static_cast<std::remove_pointer_t<decltype(into)>>(
            value.As<Napi::Number>().DoubleValue());
      }
    };
    number("readBudgetPerTurn", &options.readBudgetPerTurn);
    number("unackedCapPerSocket", &options.unackedCapPerSocket);
    number("unackedCapTotal", &options.unackedCapTotal);
    Napi::Value shortRead = given.Get("shortReadDrains");
    if (shortRead.IsBoolean()) options.shortReadDrains = shortRead.As<Napi::Boolean>().Value();
    Napi::Value hangupEnds = given.Get("hangupEndsShortRead");
    if (hangupEnds.IsBoolean()) options.hangupEndsShortRead = hangupEnds.As<Napi::Boolean>().Value();
    Napi::Value edge = given.Get("edgeTriggered");
    if (edge.IsBoolean()) options.edgeTriggered = edge.As<Napi::Boolean>().Value();
    Napi::Value thread = given.Get("ownThread");
    if (thread.IsBoolean()) ownThread = thread.As<Napi::Boolean>().Value();
  }

  auto* delivery = new Delivery();
  if (!OpenDelivery(env, info[0], delivery)) {
    if (!delivery->closing) delete delivery;
    if (!env.IsExceptionPending()) Napi::Error::New(env, "epoll-reactor: no way to deliver to JS").ThrowAsJavaScriptException();
    return;
  }
  released_ = false;
  delivery_ = delivery;
  delivery->inlineMode = !ownThread;

  // Runs on the reactor thread, and on the JS thread when the loop has failed
  // (Loop::Submit); never after Teardown's Loop::Stop, which closes the handle next.
  auto deliver = [delivery](std::unique_ptr<Batch>& batch) -> size_t {
    size_t timeoutsAwaiting;
    {
      std::lock_guard<std::mutex> lock(delivery->mutex);
      if (delivery->pending != nullptr) {
        // Append empties `batch` (its chunks move too): it is filled again.
        delivery->pending->Append(std::move(*batch));
      } else {
        delivery->pending = std::move(batch);
        batch = std::move(delivery->spare);
      }
      timeoutsAwaiting = delivery->pending->timeouts;
      // A batch that only reports sends nobody waits for stays pending
      // until one that wakes JS joins it, or until it grows too long.
      if (delivery->callScheduled) return timeoutsAwaiting;
      if (!delivery->pending->WakesJs() &&
          delivery->pending->records.size() < kMaxUnwokenRecords * kRecordStride) {
        return timeoutsAwaiting;
      }
      delivery->callScheduled = true;
    }
    // Same-thread mode: RunInline calls JS once the turn is over.
    if (delivery->inlineMode) return timeoutsAwaiting;
    // After the lock is let go: the JS thread's callback takes it first.
    uv_async_send(&delivery->wake);
    return timeoutsAwaiting;
  };
  auto timeoutsAwaitingJs = [delivery]() -> size_t {
    std::lock_guard<std::mutex> lock(delivery->mutex);
    return delivery->pending != nullptr ? delivery->pending->timeouts : 0;
  };
  loop_ = std::make_unique<Loop>(options, std::move(deliver), std::move(timeoutsAwaitingJs));

  delivery->acceptGate = loop_->acceptGate();
  delivery->lender = loop_->lender();
  const char* failedCall = "epoll_create1";
  int started = loop_->Start(&failedCall, ownThread);
  if (started == 0 && !ownThread) {
    int opened = OpenInline(delivery, loop_.get(), &failedCall);
    if (opened != 0) started = opened;  // libuv errors are -errno on Linux
  }
  if (started < 0) {
    Teardown();
    // lib/reactor.ts turns errno and syscall into a Node system error.
    Napi::Error error = Napi::Error::New(env, std::strerror(-started));
    error.Set("errno", Napi::Number::New(env, started));
    error.Set("syscall", Napi::String::New(env, failedCall));
    error.ThrowAsJavaScriptException();
    return;
  }
  // Registered after the delivery's close hook, so it runs first: the thread
  // is stopped before its way to JS is gone.
  napi_add_env_cleanup_hook(env, OnEnvironmentCleanup, this);
  cleanupHookAdded_ = true;
}

void Reactor::MoveCleanupHookLast() {
  if (!cleanupHookAdded_) return;
  napi_remove_env_cleanup_hook(env_, OnEnvironmentCleanup, this);
  napi_add_env_cleanup_hook(env_, OnEnvironmentCleanup, this);
}

Reactor::~Reactor() {
  if (cleanupHookAdded_) {
    napi_remove_env_cleanup_hook(env_, OnEnvironmentCleanup, this);
    cleanupHookAdded_ = false;
  }
  Teardown();
}

void Reactor::OnEnvironmentCleanup(void* self) {
  auto* reactor = static_cast<Reactor*>(self);
  reactor->cleanupHookAdded_ = false;
  reactor->SubmitStaged();
  reactor->Teardown();
}

void Reactor::SubmitStaged() {
  if (released_ || !loop_) return;
  // Same-thread mode: Submit would arm libuv's turn timer in an environment
  // being torn down; Loop::Stop runs the commands instead.
  CloseInline(delivery_);
  // JS may have been stopped (worker.terminate()) between a write() and
  // the tick that flushes it; net's try-write had sent those bytes. Reading
  // the write log's ArrayBuffer makes a handle, so a scope of our own.
  napi_handle_scope scope = nullptr;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  loop_->Submit(Staged());
  napi_close_handle_scope(env_, scope);
}

void Reactor::Teardown() {
  // Same-thread mode: before the loop closes the epoll fd libuv polls.
  if (!released_) CloseInline(delivery_);
  if (loop_) loop_->Stop();
  staged_.clear();
  // What the contexts reported to V8 goes back with them (a reactor that
  // failed is torn down while its environment lives on).
  int64_t externalBytes = 0;
  for (const auto& entry : tlsContexts_) externalBytes += static_cast<int64_t>(entry.second->externalBytes());
  tlsContexts_.clear();
  int64_t adjusted = 0;
  if (env_ != nullptr && externalBytes != 0) napi_adjust_external_memory(env_, -externalBytes, &adjusted);
  if (!released_) {
    released_ = true;
    // Calls still queued make no more buffers for a reactor that is gone.
    if (delivery_ != nullptr) delivery_->reactorStopped = true;
    CloseDelivery(delivery_);
    delivery_ = nullptr;  // freed by the close callback
  }
}

bool Reactor::TlsContextArgument(const Napi::CallbackInfo& info, size_t index,
                                 std::shared_ptr<TlsContext>* context) {
  context->reset();
  if (info.Length() <= index || info[index].IsUndefined()) return true;
  if (!info[index].IsNumber()) return false;
  uint64_t id = IdArgument(info, index);
  if (id == 0) return true;
  auto found = tlsContexts_.find(id);
  if (found == tlsContexts_.end()) return false;
  *context = found->second;
  return true;
}

uint64_t Reactor::AddListener(int fd, int backlog, const Napi::CallbackInfo& info, size_t flagsIndex,
                              std::shared_ptr<TlsContext> tlsContext) {
  uint64_t id = loop_->NextId();
  Command command(Command::Kind::kAddListener);
  command.id = id;
  command.fd = fd;
  command.amount = static_cast<uint64_t>(std::max(0, backlog));
  command.flags = info[flagsIndex].IsNumber() ? info[flagsIndex].As<Napi::Number>().Uint32Value() : 0;
  command.extra = info[flagsIndex + 1].IsNumber() ? info[flagsIndex + 1].As<Napi::Number>().Int32Value() : 0;
  command.tlsContext = std::move(tlsContext);
  // Submitted at once, not staged: the fd must have an owner on every path.
  loop_->SubmitOwned(std::move(command));
  return id;
}

namespace {
Napi::Array Failure(Napi::Env env, int error, const char* failedCall) {
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, error));
  result.Set(1u, Napi::String::New(env, failedCall));
  return result;
}
}  // namespace

Napi::Value Reactor::Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Torn down (a failed reactor, once idle): no fd is made that nothing would serve.
  if (released_) return Failure(env, -ECANCELED, "connect");
  if (info.Length() < 5 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber() ||
      !info[3].IsString() || !info[4].IsNumber()) {
    return ThrowTypeError(env,
                          "connect(family, address, port, localAddress, localPort[, tlsContext, servername, session, "
                          "traces, requestsOcsp, boundFd, logsKeys, maxSendFragment, asksPsk])");
  }
  // info[5] to info[9] and info[11] to info[13]: a TLS client's context,
  // SNI name, session to offer (a Buffer), whether it traces, whether it
  // asks for an OCSP staple, whether it logs its keys, its record size and
  // whether it has a pskCallback, checked before the socket exists.
  std::shared_ptr<TlsContext> tlsContext;
  std::unique_ptr<TlsClientStart> tlsClient;
  bool tlsRequested = info.Length() >= 6 && !info[5].IsUndefined();
  if (tlsRequested) {
    tlsClient = std::make_unique<TlsClientStart>();
    // A context that is missing or not a client's, or a name SNI cannot
    // carry (1 to 255 bytes, no NUL), fails the connect: never a plaintext
    // connection where TLS was asked for.
    if (!TlsContextArgument(info, 5, &tlsContext) || tlsContext == nullptr || !tlsContext->client() ||
        info.Length() < 7 || !info[6].IsString()) {
      return Failure(env, -EINVAL, "connect");
    }
    std::string& servername = tlsClient->servername;
    servername = info[6].As<Napi::String>().Utf8Value();
    if (servername.size() > 255 || servername.find('\0') != std::string::npos) return Failure(env, -EINVAL, "connect");
    if (info.Length() >= 8 && info[7].IsBuffer()) {
      Napi::Buffer<char> session = info[7].As<Napi::Buffer<char>>();
      tlsClient->session.assign(session.Data(), session.Length());
    }
    tlsClient->traces = info.Length() >= 9 && info[8].IsBoolean() && info[8].As<Napi::Boolean>().Value();
    tlsClient->requestsOcsp = info.Length() >= 10 && info[9].IsBoolean() && info[9].As<Napi::Boolean>().Value();
    // info[11]: whether it reports its key log lines. In the start, not a
    // later command: both ends may finish the handshake before one arrives.
    tlsClient->logsKeys = info.Length() >= 12 && info[11].IsBoolean() && info[11].As<Napi::Boolean>().Value();
    // info[12]: the record size setMaxSendFragment() set before the connect
    // (512 to 16384; TlsSession::SetMaxSendFragment ignores anything else).
    if (info.Length() >= 13 && info[12].IsNumber()) {
      double bytes = info[12].As<Napi::Number>().DoubleValue();
      if (bytes >= 512 && bytes <= 16384) tlsClient->maxSendFragment = static_cast<uint64_t>(bytes);
    }
    tlsClient->asksPsk = info.Length() >= 14 && info[13].IsBoolean() && info[13].As<Napi::Boolean>().Value();
  }
  int familyCode = info[0].As<Napi::Number>().Int32Value();
  int family = familyCode == 4 ? AF_INET : familyCode == 6 ? AF_INET6 : AF_UNIX;
  const char* failedCall = "connect";
  // info[10]: the fd of a net.BoundSocket JS adopted: a duplicate of it
  // connects, in place of a new socket (lib/bound-socket.ts).
  int fd = info.Length() >= 11 && info[10].IsNumber()
               ? sys::ConnectBoundSocket(info[10].As<Napi::Number>().Int32Value(), family,
                                         info[1].As<Napi::String>().Utf8Value(),
                                         info[2].As<Napi::Number>().Int32Value(), &failedCall)
               : sys::ConnectSocket(family, info[1].As<Napi::String>().Utf8Value(),
                                    info[2].As<Napi::Number>().Int32Value(),
                                    info[3].As<Napi::String>().Utf8Value(),
                                    info[4].As<Napi::Number>().Int32Value(), &failedCall);
  if (fd < 0) return Failure(env, fd, failedCall);
  Command command(Command::Kind::kAddConnection);
  command.id = loop_->NextId();
  command.fd = fd;
  command.flags = Command::kConnecting;
  if (tlsRequested) {
    command.tlsContext = std::move(tlsContext);
    command.tlsClient = std::move(tlsClient);
  }
  uint64_t id = command.id;
  loop_->SubmitOwned(std::move(command));
  Napi::Array result = Napi::Array::New(env, 1);
  result.Set(0u, Napi::Number::New(env, static_cast<double>(id)));
  return result;
}

Napi::Value Reactor::AdoptFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Torn down (a failed reactor, once idle): no fd is made that nothing would serve.
  if (released_) return Failure(env, -ECANCELED, "dup");
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowTypeError(env, "adoptFd(fd[, wasConnected])");
  int original = info[0].As<Napi::Number>().Int32Value();
  bool wasConnected = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  const char* failedCall = "dup";
  int fd = sys::DuplicateConnectedFd(original, wasConnected, &failedCall);
  if (fd < 0) return Failure(env, fd, failedCall);
  sys::SocketAddress peer;
  sys::SocketAddress local;
  sys::PeerAddress(fd, &peer);
  sys::LocalAddress(fd, &local);
  Command command(Command::Kind::kAddConnection);
  command.id = loop_->NextId();
  command.fd = fd;
  uint64_t id = command.id;
  loop_->SubmitOwned(std::move(command));
  Napi::Array result = Napi::Array::New(env, 5);
  result.Set(0u, Napi::Number::New(env, static_cast<double>(id)));
  result.Set(1u, Napi::String::New(env, sys::AddressText(peer)));
  result.Set(2u, Napi::Number::New(env, sys::AddressPort(peer)));
  result.Set(3u, Napi::String::New(env, sys::AddressText(local)));
  result.Set(4u, Napi::Number::New(env, sys::AddressPort(local)));
  return result;
}

Napi::Value Reactor::Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Torn down (a failed reactor, once idle): no fd is made that nothing would serve.
  if (released_) return Failure(env, -ECANCELED, "socket");
  if (info.Length() < 7 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber() ||
      !info[3].IsNumber() || !info[4].IsNumber() || !info[5].IsNumber() || !info[6].IsNumber()) {
    return ThrowTypeError(env, "listen(family, address, port, backlog, listenFlags, connectionFlags, keepAliveSeconds)");
  }
  int familyCode = info[0].As<Napi::Number>().Int32Value();
  int family = familyCode == 4 ? AF_INET : familyCode == 6 ? AF_INET6 : AF_UNIX;
  std::string address = info[1].As<Napi::String>().Utf8Value();
  int port = info[2].As<Napi::Number>().Int32Value();
  int backlog = info[3].As<Napi::Number>().Int32Value();
  uint32_t listenFlags = info[4].As<Napi::Number>().Uint32Value();
  sys::ListenFlags flags;
  flags.ipv6Only = listenFlags & 1;
  flags.reusePort = listenFlags & 2;
  // info[7]: the TLS context, checked before the socket exists.
  std::shared_ptr<TlsContext> tlsContext;
  if (!TlsContextArgument(info, 7, &tlsContext) || (tlsContext != nullptr && tlsContext->client())) {
    return Failure(env, -EINVAL, "listen");
  }

  Napi::Array result = Napi::Array::New(env);
  const char* failedCall = "listen";
  int fd = sys::ListenSocket(family, address, port, backlog, flags, &failedCall);
  if (fd < 0) return Failure(env, fd, failedCall);
  sys::SocketAddress bound;
  sys::LocalAddress(fd, &bound);
  uint64_t id = AddListener(fd, backlog, info, 5, std::move(tlsContext));
  result.Set(0u, Napi::Number::New(env, static_cast<double>(id)));
  result.Set(1u, Napi::String::New(env, family == AF_UNIX ? address : sys::AddressText(bound)));
  result.Set(2u, Napi::Number::New(env, sys::AddressPort(bound)));
  return result;
}

Napi::Value Reactor::ListenFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Torn down (a failed reactor, once idle): no fd is made that nothing would serve.
  if (released_) return Failure(env, -ECANCELED, "listen");
  if (info.Length() < 5 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() ||
      !info[3].IsNumber()) {
    return ThrowTypeError(env, "listenFd(fd, backlog, connectionFlags, keepAliveSeconds, duplicate)");
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  int backlog = info[1].As<Napi::Number>().Int32Value();
  bool duplicate = info[4].ToBoolean().Value();
  // info[5]: the TLS context, checked before the fd is touched.
  std::shared_ptr<TlsContext> tlsContext;
  if (!TlsContextArgument(info, 5, &tlsContext) || (tlsContext != nullptr && tlsContext->client())) {
    return Failure(env, -EINVAL, "listen");
  }
  Napi::Array result = Napi::Array::New(env);
  int family = sys::PrepareListeningFd(fd, backlog);
  if (family < 0) return Failure(env, family, "listen");
  if (duplicate) {
    // Taking a listener over from libuv: keep a copy, libuv closes its own.
    fd = sys::Duplicate(fd);
    if (fd < 0) return Failure(env, fd, "dup");
  }
  sys::SocketAddress bound;
  sys::LocalAddress(fd, &bound);
  uint64_t id = AddListener(fd, backlog, info, 2, std::move(tlsContext));
  result.Set(0u, Napi::Number::New(env, static_cast<double>(id)));
  result.Set(1u, Napi::String::New(env, family == AF_UNIX ? sys::UnixPath(bound)
                                                          : sys::AddressText(bound)));
  result.Set(2u, Napi::Number::New(env, sys::AddressPort(bound)));
  result.Set(3u, Napi::Number::New(env, family == AF_INET ? 4 : family == AF_INET6 ? 6 : 0));
  return result;
}

void Reactor::Stage(Command::Kind kind, const Napi::CallbackInfo& info, uint64_t amount,
                    int32_t extra) {
  Command command(kind);
  command.id = IdArgument(info, 0);
  command.amount = amount;
  command.extra = extra;
  Staged().push_back(std::move(command));
}

Napi::Value Reactor::CloseListener(const Napi::CallbackInfo& info) {
  // Staged commands for the listener go first; then close it synchronously.
  if (loop_) {
    loop_->Submit(Staged());
    loop_->CloseListenerNow(IdArgument(info, 0));
  }
  return info.Env().Undefined();
}

namespace {
// Bytes per element of each TypedArray kind, for napi_get_typedarray_info's
// element count.
size_t ElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      return 1;
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    default:
      return 8;  // float64, bigint64, biguint64
  }
}

// The bytes an ArrayBufferView shows, whatever its buffer: an ArrayBuffer, a
// SharedArrayBuffer (which napi_get_arraybuffer_info refuses: asking the view
// itself for its data is the only way that works for both) or a detached one
// (no data, length 0). Returns false, with nothing set, when N-API fails or
// reports bytes without a pointer; the caller must not send then.
bool ViewBytes(napi_env env, napi_value value, const char** bytes, size_t* length) {
  bool isTypedArray = false;
  bool isDataView = false;
  void* data = nullptr;
  size_t size = 0;
  if (napi_is_typedarray(env, value, &isTypedArray) != napi_ok) return false;
  if (isTypedArray) {
    napi_typedarray_type type;
    size_t elements = 0;
    if (napi_get_typedarray_info(env, value, &type, &elements, &data, nullptr, nullptr) != napi_ok) {
      return false;
    }
    size = elements * ElementSize(type);
  } else {
    if (napi_is_dataview(env, value, &isDataView) != napi_ok || !isDataView) return false;
    if (napi_get_dataview_info(env, value, &size, &data, nullptr, nullptr) != napi_ok) return false;
  }
  if (data == nullptr && size > 0) return false;
  *bytes = static_cast<const char*>(data);
  *length = size;
  return true;
}
}  // namespace

void Reactor::GiveBuffer(Command& command, size_t room) {
  uint8_t pool = released_ ? 0 : BufferPoolFor(room);
  command.bytes = pool != 0 ? delivery_->TakeBuffer(pool) : std::unique_ptr<char[]>(new char[room]);
  command.bytesPool = pool;
}

void Reactor::CopyBytes(Command& command, const char* bytes, size_t length) {
  GiveBuffer(command, length);
  std::memcpy(command.bytes.get(), bytes, length);
}

bool Reactor::CopyString(napi_env env, napi_value string, Command& command) {
  size_t length = 0;
  // UTF-16 units, which V8 knows without a pass: never more than the UTF-8 bytes.
  if (napi_get_value_string_utf16(env, string, nullptr, 0, &length) != napi_ok) return false;
  if (length == 0) {
    command.length = 0;  // nothing to send: Write stages nothing
    return true;
  }
  if (length + 5 <= kSmallBufferSize && !released_) {
    // One pass for the short strings HTTP headers and small replies are: the
    // copy stops at the last whole character that fits, so a copy that left
    // room for the longest one (4 bytes) besides the NUL took the whole string.
    command.bytes = delivery_->TakeBuffer(1);
    command.bytesPool = 1;
    if (napi_get_value_string_utf8(env, string, command.bytes.get(), kSmallBufferSize, &length) != napi_ok) {
      return false;
    }
    if (length + 5 <= kSmallBufferSize) {
      command.length = length;
      return true;
    }
    // Short, but not in UTF-8: the buffer goes back where TakeBuffer found
    // it (so the free list stays within its bound), and the string is
    // measured and copied whole below.
    delivery_->KeepBuffer(1, std::move(command.bytes));
    command.bytesPool = 0;
  }
  if (napi_get_value_string_utf8(env, string, nullptr, 0, &length) != napi_ok) return false;
  GiveBuffer(command, length + 1);
  if (napi_get_value_string_utf8(env, string, command.bytes.get(), length + 1, &length) != napi_ok) return false;
  command.length = length;
  return true;
}

Napi::Value Reactor::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // First, and the whole write refused with the log: JS counts its bytes
  // only once this returns, and a refused write must not pin its Buffer.
  if (!StageWriteLogOrThrow()) return env.Undefined();
  Command command(Command::Kind::kWrite);
  command.id = IdArgument(info, 0);
  if (info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value()) {
    command.flags = Command::kWriteBehind;
  }
  Napi::Value data = info[1];
  if (data.IsTypedArray() || data.IsDataView()) {
    // lib/socket.ts hands over only Uint8Arrays over plain, fixed-length
    // ArrayBuffers (it copies shared and resizable ones first), but the
    // pointer used here must be right for every view regardless.
    const char* bytes = nullptr;
    size_t length = 0;
    if (!ViewBytes(env, data, &bytes, &length)) {
      if (env.IsExceptionPending()) return env.Undefined();
      return ThrowTypeError(env, "write(id, data): cannot read the bytes of this ArrayBufferView");
    }
    napi_ref pinned = nullptr;
    if (length >= kPinnedWriteMin && !released_ &&
        napi_create_reference(env, data, 1, &pinned) == napi_ok) {
      // Sent from the Buffer itself, as libuv does for net: the reference
      // keeps it alive until the reactor reports the bytes sent or dropped.
      command.pin = delivery_->nextPin++;
      delivery_->pins.emplace(command.pin, pinned);
      MoveCleanupHookLast();
      command.pinnedBytes = bytes;
    } else if (length > 0) {
      // Small writes are copied: cheaper than a reference, and JS may reuse the Buffer.
      CopyBytes(command, bytes, length);
    }
    command.length = length;
  } else if (data.IsString()) {
    if (!CopyString(env, data, command)) return ThrowTypeError(env, "write(id, data): cannot read the string");
  } else {
    return ThrowTypeError(env, "write(id, ArrayBufferView | string)");
  }
  size_t length = command.length;
  if (length > 0) Staged().push_back(std::move(command));
  return Napi::Number::New(env, static_cast<double>(length));
}

Napi::Value Reactor::WriteLog(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (released_) return env.Undefined();
  napi_value buffer = nullptr;
  if (delivery_->writeLog == nullptr) {
    void* memory = nullptr;
    napi_ref made = nullptr;
    if (napi_create_arraybuffer(env, kWriteLogIndexDoubles * sizeof(double) + kWriteLogBytes, &memory, &buffer) !=
            napi_ok ||
        napi_create_reference(env, buffer, 1, &made) != napi_ok) {
      // No log (out of memory): lib/socket.ts then hands Buffers to write().
      napi_value ignored;
      if (env.IsExceptionPending()) napi_get_and_clear_last_exception(env, &ignored);
      return env.Undefined();
    }
    // Zero-filled by V8: an empty index.
    delivery_->writeLog = made;
  } else {
    void* memory = nullptr;
    size_t size = 0;
    if (napi_get_reference_value(env, delivery_->writeLog, &buffer) != napi_ok || buffer == nullptr ||
        napi_get_arraybuffer_info(env, buffer, &memory, &size) != napi_ok ||
        size != kWriteLogIndexDoubles * sizeof(double) + kWriteLogBytes) {
      return env.Undefined();  // detached: no log
    }
  }
  napi_value index;
  napi_value bytes;
  if (napi_create_typedarray(env, napi_float64_array, kWriteLogIndexDoubles, buffer, 0, &index) != napi_ok ||
      napi_create_typedarray(env, napi_uint8_array, kWriteLogBytes, buffer, kWriteLogIndexDoubles * sizeof(double),
                             &bytes) != napi_ok) {
    return env.Undefined();
  }
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Value(env, index));
  result.Set(1u, Napi::Value(env, bytes));
  return result;
}

Napi::Value Reactor::DrainWriteLog(const Napi::CallbackInfo& info) {
  StageWriteLogOrThrow();
  return info.Env().Undefined();
}

bool Reactor::StageWriteLogOrThrow() {
  if (StageWriteLog() && !writeLogRefused_) return true;
  writeLogRefused_ = false;
  // Once per call at most: node-addon-api aborts on a throw while one is pending.
  Napi::Env env(env_);
  if (!env.IsExceptionPending()) ThrowTypeError(env, "the write log was corrupt or detached; its writes were dropped");
  return false;
}

std::vector<Command>& Reactor::Staged() {
  // Not thrown here: a close, an ack or a pause JS has already accounted for
  // must go, and JS must not be stopped halfway through releasing a socket.
  if (!StageWriteLog()) writeLogRefused_ = true;
  return staged_;
}

bool Reactor::StageWriteLog() {
  // The log lives until OnDeliveryClosed, which runs only once released_ is set.
  if (released_ || delivery_->writeLog == nullptr) return true;
  // V8's memory: read from the ArrayBuffer each time, in case some JS has
  // detached it (ArrayBuffer#transfer; markAsUntransferable does not refuse
  // it on Node 22), which leaves no log to stage.
  napi_value buffer = nullptr;
  void* memory = nullptr;
  size_t size = 0;
  if (napi_get_reference_value(env_, delivery_->writeLog, &buffer) != napi_ok || buffer == nullptr ||
      napi_get_arraybuffer_info(env_, buffer, &memory, &size) != napi_ok ||
      size != kWriteLogIndexDoubles * sizeof(double) + kWriteLogBytes) {
    // Refused once; JS's views of it are empty now, so JS writes through
    // write() from here on (lib/reactor.ts logBytes).
    napi_delete_reference(env_, delivery_->writeLog);
    delivery_->writeLog = nullptr;
    return false;
  }
  double* index = static_cast<double*>(memory);
  const double count = index[0];
  const double used = index[1];
  if (count == 0 && used == 0) return true;
  index[0] = 0;
  index[1] = 0;
  // All checked before anything is staged: this is JS's memory.
  auto whole = [](double value, size_t most) {
    return value >= 0 && value <= static_cast<double>(most) && value == std::floor(value);
  };
  if (!whole(count, kWriteLogRecords) || !whole(used, kWriteLogBytes)) return false;
  const size_t records = static_cast<size_t>(count);
  size_t total = 0;
  for (size_t i = 0; i < records; i++) {
    const double length = index[3 + 2 * i];
    if (!whole(length, kWriteLogBytes - total)) return false;
    // An id, negative for a write behind (kWriteBehind); not NaN or a fraction.
    const double id = index[2 + 2 * i];
    if (id != std::floor(id)) return false;
    total += static_cast<size_t>(length);
  }
  if (total != static_cast<size_t>(used)) return false;
  const char* bytes = static_cast<const char*>(memory) + kWriteLogIndexDoubles * sizeof(double);
  for (size_t i = 0; i < records; i++) {
    const size_t length = static_cast<size_t>(index[3 + 2 * i]);
    if (length == 0) continue;
    Command command(Command::Kind::kWrite);
    // A negative id: written behind the write JS waits for (kWriteBehind).
    const double id = index[2 + 2 * i];
    command.id = WholeNumber(std::fabs(id));
    if (id < 0) command.flags = Command::kWriteBehind;
    CopyBytes(command, bytes, length);
    command.length = length;
    staged_.push_back(std::move(command));
    bytes += length;
  }
  return true;
}

Napi::Value Reactor::AwaitWritten(const Napi::CallbackInfo& info) {
  uint64_t total = info[1].IsNumber() ? WholeNumber(info[1].As<Napi::Number>().DoubleValue()) : 0;
  Stage(Command::Kind::kAwaitWritten, info, total);
  if (info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value()) {
    Staged().back().flags = Command::kReportAttempt;
  }
  return info.Env().Undefined();
}

Napi::Value Reactor::Shutdown(const Napi::CallbackInfo& info) {
  Stage(Command::Kind::kShutdown, info);
  return info.Env().Undefined();
}

Napi::Value Reactor::Close(const Napi::CallbackInfo& info) {
  Stage(Command::Kind::kClose, info);
  return info.Env().Undefined();
}

Napi::Value Reactor::Pause(const Napi::CallbackInfo& info) {
  Stage(Command::Kind::kPause, info);
  return info.Env().Undefined();
}

Napi::Value Reactor::TlsAllowWrites(const Napi::CallbackInfo& info) {
  Stage(Command::Kind::kTlsAllowWrites, info);
  return info.Env().Undefined();
}

Napi::Value Reactor::TlsSessionStored(const Napi::CallbackInfo& info) {
  Stage(Command::Kind::kTlsSessionStored, info);
  return info.Env().Undefined();
}

Napi::Value Reactor::TlsVerdictGiven(const Napi::CallbackInfo& info) {
  Stage(Command::Kind::kTlsVerdictGiven, info);
  return info.Env().Undefined();
}

Napi::Value Reactor::TlsSetMaxSendFragment(const Napi::CallbackInfo& info) {
  // lib/tls.ts sends 512 to 16384; TlsSession ignores anything else.
  double bytes = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
  Stage(Command::Kind::kTlsMaxSendFragment, info, bytes >= 512 && bytes <= 16384 ? static_cast<uint64_t>(bytes) : 0);
  return info.Env().Undefined();
}

Napi::Value Reactor::TlsServerSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t id = IdArgument(info, 0);
  std::string der;
  if (!loop_ || released_ || !loop_->tlsServerSessions()->Encode(id, &der)) return env.Undefined();
  return Napi::Buffer<char>::Copy(env, der.data(), der.size());
}

Napi::Value Reactor::TlsQuery(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsNumber()) return ThrowTypeError(env, "tlsQuery(id, kind, ...)");
  double kind = info[1].As<Napi::Number>().DoubleValue();
  if (!(kind >= 0 && kind <= static_cast<double>(TlsQueryKind::kExportKeyingMaterial))) {
    return ThrowTypeError(env, "tlsQuery: unknown kind");
  }
  auto query = std::make_unique<reactor::TlsQuery>();
  query->kind = static_cast<TlsQueryKind>(static_cast<int>(kind));
  if (query->kind == TlsQueryKind::kExportKeyingMaterial) {
    // lib/tls.ts validated them as node does: length a positive uint32,
    // label a string, context a Buffer or undefined.
    if (info.Length() < 4 || !info[2].IsNumber() || !info[3].IsString()) {
      return ThrowTypeError(env, "tlsQuery(id, kind, length, label[, context])");
    }
    double length = info[2].As<Napi::Number>().DoubleValue();
    // Beyond kMaxExportBytes (or not a length) the reactor refuses it.
    query->length = length >= 1 && length <= static_cast<double>(kMaxExportBytes) ? static_cast<size_t>(length) : 0;
    query->label = info[3].As<Napi::String>().Utf8Value();
    if (info.Length() > 4 && !info[4].IsUndefined()) {
      // Any view, over a SharedArrayBuffer too (node:tls takes those).
      const char* data = nullptr;
      size_t bytes = 0;
      if (!ViewBytes(env, info[4], &data, &bytes)) {
        return ThrowTypeError(env, "tlsQuery: the context must be an ArrayBufferView");
      }
      query->context.assign(data, bytes);
      query->useContext = true;
    }
  }
  TlsAnswer answer;
  // Commands staged this tick go first: the question is about the connection
  // as JS has left it.
  if (!loop_ || released_) return env.Undefined();
  loop_->Submit(Staged());
  if (env.IsExceptionPending()) return env.Undefined();  // the log was refused
  Loop::QueryOutcome outcome = loop_->QueryTls(IdArgument(info, 0), std::move(query), &answer);
  if (outcome == Loop::QueryOutcome::kTimedOut) return env.Null();
  if (outcome != Loop::QueryOutcome::kAnswered) return env.Undefined();
  Napi::Array result = Napi::Array::New(env);
  result.Set(0u, Napi::Number::New(env, answer.failed ? -1 : answer.number));
  uint32_t index = 1;
  if (answer.bytes != nullptr) {
    result.Set(index++, Napi::Buffer<char>::Copy(env, reinterpret_cast<const char*>(answer.bytes.get()),
                                                 answer.bytesLength));
  }
  for (const std::string& bytes : answer.strings) {
    result.Set(index++, Napi::Buffer<char>::Copy(env, bytes.data(), bytes.size()));
  }
  return result;
}

// typeOfService(id, tos): sets (tos 0-255) or reads (tos -1) a plain TCP
// connection's IP type of service on the reactor thread, where its fd lives,
// and returns 0 once set, the value read, or -errno; undefined when the
// reactor has no such connection, null when it did not answer in time.
Napi::Value Reactor::TypeOfService(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsNumber()) return ThrowTypeError(env, "typeOfService(id, tos)");
  double tos = info[1].As<Napi::Number>().DoubleValue();
  // lib/socket.ts validated it as node does.
  if (!(tos >= -1 && tos <= 255)) return ThrowTypeError(env, "typeOfService: tos out of range");
  if (!loop_ || released_) return env.Undefined();
  // Commands staged this tick go first: the connection as JS has left it.
  loop_->Submit(Staged());
  if (env.IsExceptionPending()) return env.Undefined();  // the log was refused
  int result = 0;
  Loop::QueryOutcome outcome =
      loop_->SocketOption(IdArgument(info, 0), sys::SocketOption::kTypeOfService, static_cast<int>(tos), &result);
  if (outcome == Loop::QueryOutcome::kTimedOut) return env.Null();
  if (outcome != Loop::QueryOutcome::kAnswered) return env.Undefined();
  return Napi::Number::New(env, result);
}

// socketOption(id, option): reads a connection's sys::SocketOption (1 to 4:
// its keep-alive settings; 5: TCP_NODELAY) on the reactor thread, for tests and diagnostics:
// the value, -errno, undefined without such a connection, null when the
// reactor did not answer in time. (The type of service: typeOfService.)
Napi::Value Reactor::SocketOption(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsNumber()) return ThrowTypeError(env, "socketOption(id, option)");
  double option = info[1].As<Napi::Number>().DoubleValue();
  if (!(option >= 1 && option <= static_cast<double>(sys::SocketOption::kNoDelay))) {
    return ThrowTypeError(env, "socketOption: unknown option");
  }
  if (!loop_ || released_) return env.Undefined();
  loop_->Submit(Staged());
  if (env.IsExceptionPending()) return env.Undefined();  // the log was refused
  int result = 0;
  Loop::QueryOutcome outcome = loop_->SocketOption(
      IdArgument(info, 0), static_cast<sys::SocketOption>(static_cast<int>(option)), -1, &result);
  if (outcome == Loop::QueryOutcome::kTimedOut) return env.Null();
  if (outcome != Loop::QueryOutcome::kAnswered) return env.Undefined();
  return Napi::Number::New(env, result);
}

namespace {

// Copies the Buffer at info[index], if one was given and is not empty, into
// `command`'s bytes: the answers that carry bytes (an OCSP staple, a session,
// a PSK key) hand them to the reactor thread this way.
void CopyBufferArgument(const Napi::CallbackInfo& info, size_t index, Command* command) {
  if (info.Length() <= index || !info[index].IsBuffer()) return;
  Napi::Buffer<char> given = info[index].As<Napi::Buffer<char>>();
  if (given.Length() == 0) return;
  command->bytes.reset(new char[given.Length()]);
  std::memcpy(command->bytes.get(), given.Data(), given.Length());
  command->length = given.Length();
}

}  // namespace

// tlsUseContext(connectionId, contextId[, ocspResponse]): JS's answer to
// kTlsServername, a server context for the connection's handshake, or 0 for
// its listener's, and an OCSP response (a Buffer) to staple.
Napi::Value Reactor::TlsUseContext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<TlsContext> context;
  if (info.Length() < 2 || !TlsContextArgument(info, 1, &context) || (context != nullptr && context->client()) ||
      (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsBuffer())) {
    return ThrowTypeError(env, "tlsUseContext(id, serverContextId[, ocspResponse])");
  }
  Command command(Command::Kind::kTlsUseContext);
  command.id = IdArgument(info, 0);
  command.tlsContext = std::move(context);
  // An OCSP response is a few KiB; a staple too big for one handshake
  // message fails the handshake in OpenSSL, as it would in node.
  CopyBufferArgument(info, 2, &command);
  Staged().push_back(std::move(command));
  return env.Undefined();
}

// tlsResumeSession(connectionId[, session]): JS's answer to
// kTlsResumeSession, the session (a Buffer of DER) to resume, or none.
Napi::Value Reactor::TlsResumeSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsBuffer())) {
    return ThrowTypeError(env, "tlsResumeSession(id[, session])");
  }
  Command command(Command::Kind::kTlsResumeSession);
  command.id = IdArgument(info, 0);
  CopyBufferArgument(info, 1, &command);
  Staged().push_back(std::move(command));
  return env.Undefined();
}

// tlsAnswerPsk(connectionId, index[, key]): JS's answer to kTlsPsk, the
// index of the identity the pskCallback gave a key for and the key, or -1
// (and no key) for none. A client's: the identity's length in bytes, and
// the identity followed by the key.
Napi::Value Reactor::TlsAnswerPsk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsNumber() || (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsBuffer())) {
    return ThrowTypeError(env, "tlsAnswerPsk(id, index[, key])");
  }
  double index = info[1].As<Napi::Number>().DoubleValue();
  Command command(Command::Kind::kTlsAnswerPsk);
  command.id = IdArgument(info, 0);
  // At most kMaxPskIdentities are asked about; anything else is none.
  command.amount = index >= 0 && index < 65536 ? static_cast<uint64_t>(index) : 65536;
  CopyBufferArgument(info, 2, &command);  // cleansed by ~Command
  Staged().push_back(std::move(command));
  return env.Undefined();
}

// tlsChooseAlpn(connectionId, index[, keyCertContextId]): JS's answer to
// kTlsAlpn, the index of the chosen name among those offered, or -1 for
// none, and the server context whose certificate and key to use from here
// (setKeyCert), or 0 for none.
Napi::Value Reactor::TlsChooseAlpn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<TlsContext> keyCert;
  if (info.Length() < 2 || !TlsContextArgument(info, 2, &keyCert) || (keyCert != nullptr && keyCert->client())) {
    return ThrowTypeError(env, "tlsChooseAlpn(id, index[, keyCertContextId])");
  }
  double index = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  Command command(Command::Kind::kTlsChooseAlpn);
  command.id = IdArgument(info, 0);
  // An ALPN list holds fewer than 2^15 names; anything else chooses none.
  command.amount = index >= 0 && index < 65536 ? static_cast<uint64_t>(index) : 65536;
  command.tlsContext = std::move(keyCert);
  Staged().push_back(std::move(command));
  return env.Undefined();
}

Napi::Value Reactor::Resume(const Napi::CallbackInfo& info) {
  Stage(Command::Kind::kResume, info);
  return info.Env().Undefined();
}

Napi::Value Reactor::SetTimeout(const Napi::CallbackInfo& info) {
  // A duration beyond 2^53 ms (285,000 years) saturates there rather than
  // meaning "none"; the loop adds it to the clock with a saturating sum.
  double milliseconds = NumberArgument(info, 1);
  Stage(Command::Kind::kSetTimeout, info,
        milliseconds > kMaxSafeInteger ? static_cast<uint64_t>(kMaxSafeInteger)
                                       : WholeNumber(milliseconds));
  return info.Env().Undefined();
}

Napi::Value Reactor::SetMaxConnections(const Napi::CallbackInfo& info) {
  // lib/server.ts sends a whole number >= 0; anything else means no limit
  // here rather than an undefined double-to-integer conversion.
  double limit = NumberArgument(info, 1);
  Stage(Command::Kind::kSetMaxConnections, info,
        WholeNumber(limit));
  return info.Env().Undefined();
}

Napi::Value Reactor::SetNoDelay(const Napi::CallbackInfo& info) {
  Stage(Command::Kind::kSetNoDelay, info, info[1].ToBoolean().Value() ? 1 : 0);
  return info.Env().Undefined();
}

// setKeepAlive(id, enable, idleSeconds[, intervalSeconds, count]): as
// node's TCP handle, interval 1 and count 10 unless given (lib/socket.ts
// reads them as node's net does).
Napi::Value Reactor::SetKeepAlive(const Napi::CallbackInfo& info) {
  Command command(Command::Kind::kSetKeepAlive);
  command.id = IdArgument(info, 0);
  command.amount = info[1].ToBoolean().Value() ? 1 : 0;
  command.extra = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
  // Below 1 means none (sys::SetKeepAlive then sets SO_KEEPALIVE alone).
  int interval = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value()
                                                         : sys::kKeepAliveIntervalDefault;
  int count = info.Length() > 4 && info[4].IsNumber() ? info[4].As<Napi::Number>().Int32Value()
                                                      : sys::kKeepAliveCountDefault;
  command.other = static_cast<uint64_t>(std::max(0, interval));
  command.flags = static_cast<uint32_t>(std::max(0, count));
  Staged().push_back(std::move(command));
  return info.Env().Undefined();
}

Napi::Value Reactor::Forward(const Napi::CallbackInfo& info) {
  Command command(Command::Kind::kForward);
  command.id = IdArgument(info, 0);
  command.amount = IdArgument(info, 1);
  command.other = IdArgument(info, 2);
  command.flags = info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 0;
  Staged().push_back(std::move(command));
  return info.Env().Undefined();
}

Napi::Value Reactor::ForwardStart(const Napi::CallbackInfo& info) {
  Stage(Command::Kind::kForwardStart, info);
  return info.Env().Undefined();
}

Napi::Value Reactor::ForwardTo(const Napi::CallbackInfo& info) {
  if (info.Length() < 10 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsString() ||
      !info[4].IsNumber() || !info[5].IsNumber() || !info[6].IsBoolean() || !info[7].IsNumber() || !info[8].IsNumber() ||
      !info[9].IsBuffer()) {
    return ThrowTypeError(info.Env(),
                          "forwardTo(forwardId, connectionId, family, address, port, mode, noDelay, timeoutMs, received, held)");
  }
  int familyCode = info[2].As<Napi::Number>().Int32Value();
  int family = familyCode == 4 ? AF_INET : familyCode == 6 ? AF_INET6 : AF_UNIX;
  std::string address = info[3].As<Napi::String>().Utf8Value();
  double timeoutMs = info[7].As<Napi::Number>().DoubleValue();
  Command command(Command::Kind::kForwardTo);
  command.id = IdArgument(info, 0);
  command.amount = IdArgument(info, 1);
  command.extra = info[4].As<Napi::Number>().Int32Value();
  command.flags = (info[5].As<Napi::Number>().Uint32Value() & 3u) |
                  (info[6].As<Napi::Boolean>().Value() ? Command::kForwardNoDelay : 0u) |
                  (static_cast<uint32_t>(family) << 8);
  // lib/forward.ts checks the timeout (a whole number of ms); anything else is none.
  command.other = timeoutMs >= 1 && timeoutMs <= 4294967295.0 ? static_cast<uint64_t>(timeoutMs) : 0;
  command.length = address.size();
  command.bytes.reset(new char[address.size() + 1]);
  std::memcpy(command.bytes.get(), address.data(), address.size());
  // Copied now: the Buffer is JS's, and may change or go once this returns.
  auto held = info[9].As<Napi::Buffer<char>>();
  double received = info[8].As<Napi::Number>().DoubleValue();
  command.forwardHeld = std::make_unique<ForwardHeld>();
  // A count that is no count matches no connection: JS is asked (the safe way).
  command.forwardHeld->received =
      received >= 0 && received <= 9007199254740991.0 ? static_cast<uint64_t>(received) : UINT64_MAX;
  // JS sends at most 64 KiB (lib/forward.ts); a detached Buffer is empty.
  if (held.Length() > 0 && held.Data() != nullptr) {
    command.forwardHeld->bytes.reset(new char[held.Length()]);
    std::memcpy(command.forwardHeld->bytes.get(), held.Data(), held.Length());
    command.forwardHeld->length = held.Length();
  }
  Staged().push_back(std::move(command));
  return info.Env().Undefined();
}

Napi::Value Reactor::NextId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(loop_->NextId()));
}

Napi::Value Reactor::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  if (!loop_) return result;
  // Acknowledgements left for the reactor's next turn change these figures:
  // a caller watching them for a change must not wait for unrelated I/O.
  loop_->WakeForWaitingCommands();
  const LoopStats& stats = loop_->stats();
  auto set = [&](const char* name, const std::atomic<uint64_t>& value) {
    result.Set(name, Napi::Number::New(env, static_cast<double>(value.load(std::memory_order_relaxed))));
  };
  set("connections", stats.connections);
  set("timerEntries", stats.timerEntries);
  set("unconsumedBytes", stats.unconsumedBytes);
  set("blockedConnections", stats.blockedConnections);
  set("capParks", stats.capParks);
  set("heldListeners", stats.heldListeners);
  result.Set("tlsServerSessions", Napi::Number::New(env, static_cast<double>(loop_->tlsServerSessions()->size())));
  result.Set("tlsContexts", Napi::Number::New(env, static_cast<double>(tlsContexts_.size())));
  result.Set("threadId", Napi::Number::New(env, loop_->threadId()));
  if (delivery_ != nullptr && !released_) {
    result.Set("lentBuffers", Napi::Number::New(env, static_cast<double>(delivery_->lent.size())));
    result.Set("lentReadsHandedOver", Napi::Number::New(env, static_cast<double>(delivery_->lentHandedOver)));
  }
  return result;
}

Napi::Value Reactor::Reset(const Napi::CallbackInfo& info) {
  Stage(Command::Kind::kReset, info);
  return info.Env().Undefined();
}

// flush(acks?: Float64Array of (id, bytes) pairs): the tick's acknowledgements
// travel as one command instead of one call and one command per 'data' event.
Napi::Value Reactor::Flush(const Napi::CallbackInfo& info) {
  std::vector<Command>& staged = Staged();
  const char* acks = nullptr;
  size_t length = 0;
  if (info.Length() > 0 && info[0].IsTypedArray() &&
      info[0].As<Napi::TypedArray>().TypedArrayType() == napi_float64_array &&
      ViewBytes(info.Env(), info[0], &acks, &length)) {
    length &= ~(2 * sizeof(double) - 1);
    if (length > 0) {
      Command command(Command::Kind::kAcks);
      CopyBytes(command, acks, length);
      command.length = length;
      staged.push_back(std::move(command));
    }
  }
  if (loop_) loop_->Submit(staged);
  return info.Env().Undefined();
}

Napi::Value Reactor::Destroy(const Napi::CallbackInfo& info) {
  Teardown();
  return info.Env().Undefined();
}

Napi::Value Reactor::RunOnCallerFromNow(const Napi::CallbackInfo& info) {
  // Torn down: nothing is left to run, and the loop is stopped.
  if (loop_ && !released_) {
    // Same-thread mode: libuv runs no more turns, nor arms timers for them.
    CloseInline(delivery_);
    loop_->Submit(Staged());
    loop_->RunOnCallerFromNow();
  }
  return info.Env().Undefined();
}

Napi::Value Reactor::Ref(const Napi::CallbackInfo& info) {
  if (!released_) uv_ref(reinterpret_cast<uv_handle_t*>(&delivery_->wake));
  return info.Env().Undefined();
}

Napi::Value Reactor::Unref(const Napi::CallbackInfo& info) {
  if (!released_) uv_unref(reinterpret_cast<uv_handle_t*>(&delivery_->wake));
  return info.Env().Undefined();
}

Napi::Value Reactor::Hold(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBoolean()) return ThrowTypeError(env, "hold(open)");
  bool hold = info[0].As<Napi::Boolean>().Value();
  // A torn-down reactor delivers nothing more: any answer will do.
  if (released_ || delivery_->dispatchHeld == hold) return Napi::Boolean::New(env, true);
  uint32_t count = 0;
  napi_status changed = hold ? napi_reference_ref(env_, delivery_->dispatch, &count)
                             : napi_reference_unref(env_, delivery_->dispatch, &count);
  if (changed != napi_ok) return Napi::Boolean::New(env, false);
  delivery_->dispatchHeld = hold;
  return Napi::Boolean::New(env, true);
}

// tlsLogKeys(connectionId): a TLS client reports its key log lines from now on.
Napi::Value Reactor::TlsLogKeys(const Napi::CallbackInfo& info) {
  Stage(Command::Kind::kTlsLogKeys, info);
  return info.Env().Undefined();
}

// tlsTrace(connectionId): a TLS connection writes OpenSSL's trace of its
// records to stderr from now on (enableTrace()).
Napi::Value Reactor::TlsTrace(const Napi::CallbackInfo& info) {
  Stage(Command::Kind::kTlsTrace, info);
  return info.Env().Undefined();
}

// tlsLogServerKeys(contextId): a server context's connections report their
// key log lines from now on (its first 'keylog' listener).
Napi::Value Reactor::TlsLogServerKeys(const Napi::CallbackInfo& info) {
  auto found = tlsContexts_.find(IdArgument(info, 0));
  if (found != tlsContexts_.end() && !found->second->client()) found->second->SetLogsKeys();
  return info.Env().Undefined();
}

}  // namespace reactor

namespace reactor {

namespace {
// Readers of createTlsContext's options. A getter or Proxy trap may throw:
// each reader stops at a pending exception, and the caller checks for one
// before using what was read, so the exception reaches JS instead of the
// next N-API call aborting the process. Only primitives are read, never
// converted (a conversion could run user code).
std::string StringProperty(Napi::Object object, const char* name) {
  Napi::Value value = object.Get(name);
  if (object.Env().IsExceptionPending()) return std::string();
  return value.IsString() ? value.As<Napi::String>().Utf8Value() : std::string();
}

int32_t IntProperty(Napi::Object object, const char* name) {
  Napi::Value value = object.Get(name);
  if (object.Env().IsExceptionPending()) return 0;
  return value.IsNumber() ? value.As<Napi::Number>().Int32Value() : 0;
}

// node's secureOptions, as node's createSecureContext left it (a client's
// checked as a safe integer; a server's made a 32-bit one by its `|=` with
// the cipher-order flag), taken as node's setOptions takes it: its 64 bits,
// sign-extended, as SSL_OP_* flags.
uint64_t SecureOptionsProperty(Napi::Object object) {
  Napi::Value value = object.Get("secureOptions");
  if (object.Env().IsExceptionPending() || !value.IsNumber()) return 0;
  return static_cast<uint64_t>(value.As<Napi::Number>().Int64Value());
}

bool BoolProperty(Napi::Object object, const char* name) {
  Napi::Value value = object.Get(name);
  if (object.Env().IsExceptionPending()) return false;
  return value.IsBoolean() && value.As<Napi::Boolean>().Value();
}

std::vector<std::string> StringList(Napi::Object object, const char* name) {
  std::vector<std::string> list;
  Napi::Value value = object.Get(name);
  if (object.Env().IsExceptionPending() || !value.IsArray()) return list;
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (object.Env().IsExceptionPending()) return list;
    if (item.IsString()) list.push_back(item.As<Napi::String>().Utf8Value());
  }
  return list;
}

// The pointer a v8::External that node made holds: a SecureContext's
// `_external`, its SSL_CTX (lib/tls.ts). N-API cannot read one:
// napi_get_value_external reads the wrapper N-API puts in externals it made
// itself. So the one V8 call is looked up by the name each node's V8
// exports (Value() on Node 20 to 24, Value(tag) with the default tag 0 from
// Node 26), which keeps the addon one binary for every node. A napi_value
// is the bits of a v8::Local (node's js_native_api_v8.h), whose pointer the
// call takes as `this`. Null when this node exports neither. Only for
// externals node made with the default tag, as its CtxGetter does: an
// external N-API made holds N-API's wrapper, not the pointer.
void* NodeExternalValue(napi_value external) {
  using Untagged = void* (*)(const void*);
  using Tagged = void* (*)(const void*, uint16_t);
  static const auto untagged = reinterpret_cast<Untagged>(dlsym(RTLD_DEFAULT, "_ZNK2v88External5ValueEv"));
  static const auto tagged = reinterpret_cast<Tagged>(dlsym(RTLD_DEFAULT, "_ZNK2v88External5ValueEt"));
  const void* self = reinterpret_cast<const void*>(external);
  if (tagged != nullptr) return tagged(self, 0);
  return untagged != nullptr ? untagged(self) : nullptr;
}
}  // namespace

Napi::Value Reactor::CreateTlsContext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!TlsAvailable()) return ThrowTypeError(env, "TLS is not available: this node exports no OpenSSL");
  if (info.Length() < 1 || !info[0].IsObject()) return ThrowTypeError(env, "createTlsContext(options)");
  Napi::Object given = info[0].As<Napi::Object>();
  TlsContextOptions options;
  Napi::Value keys = given.Get("keys");
  if (env.IsExceptionPending()) return env.Undefined();
  if (keys.IsArray()) {
    Napi::Array array = keys.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); ++i) {
      Napi::Value item = array.Get(i);
      if (env.IsExceptionPending()) return env.Undefined();
      if (!item.IsObject()) continue;
      TlsKey key;
      key.pem = StringProperty(item.As<Napi::Object>(), "pem");
      if (env.IsExceptionPending()) return env.Undefined();
      Napi::Value passphrase = item.As<Napi::Object>().Get("passphrase");
      if (env.IsExceptionPending()) return env.Undefined();
      key.hasPassphrase = passphrase.IsString();
      if (key.hasPassphrase) key.passphrase = passphrase.As<Napi::String>().Utf8Value();
      options.keys.push_back(std::move(key));
    }
  }
  Napi::Value pfx = given.Get("pfx");
  if (env.IsExceptionPending()) return env.Undefined();
  if (pfx.IsArray()) {
    Napi::Array array = pfx.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); ++i) {
      Napi::Value item = array.Get(i);
      if (env.IsExceptionPending()) return env.Undefined();
      if (!item.IsObject()) continue;
      Napi::Value der = item.As<Napi::Object>().Get("der");
      if (env.IsExceptionPending()) return env.Undefined();
      if (!der.IsBuffer()) continue;
      TlsPfx bundle;
      bundle.der.assign(der.As<Napi::Buffer<char>>().Data(), der.As<Napi::Buffer<char>>().Length());
      Napi::Value passphrase = item.As<Napi::Object>().Get("passphrase");
      if (env.IsExceptionPending()) return env.Undefined();
      // Bytes, as node's loadPKCS12 takes them (lib/tls.ts encodes a string as UTF-8).
      bundle.hasPassphrase = passphrase.IsBuffer();
      if (bundle.hasPassphrase) {
        bundle.passphrase.assign(passphrase.As<Napi::Buffer<char>>().Data(), passphrase.As<Napi::Buffer<char>>().Length());
      }
      options.pfx.push_back(std::move(bundle));
    }
  }
  options.certs = StringList(given, "certs");
  options.ca = StringList(given, "ca");
  options.crls = StringList(given, "crls");
  options.cipherList = StringProperty(given, "cipherList");
  options.cipherSuites = StringProperty(given, "cipherSuites");
  options.ecdhCurve = StringProperty(given, "ecdhCurve");
  options.sigalgs = StringProperty(given, "sigalgs");
  options.secureOptions = SecureOptionsProperty(given);
  options.dhparam = StringProperty(given, "dhparam");
  options.dhAuto = BoolProperty(given, "dhAuto");
  options.dhparamDecoded = BoolProperty(given, "dhparamDecoded");
  options.partialChain = BoolProperty(given, "partialChain");
  options.certCompression = IntProperty(given, "certCompression");
  options.minVersion = IntProperty(given, "minVersion");
  options.maxVersion = IntProperty(given, "maxVersion");
  if (env.IsExceptionPending()) return env.Undefined();
  Napi::Value alpn = given.Get("alpn");
  if (env.IsExceptionPending()) return env.Undefined();
  if (alpn.IsBuffer()) {
    Napi::Buffer<char> bytes = alpn.As<Napi::Buffer<char>>();
    options.alpn.assign(bytes.Data(), bytes.Length());
  }
  options.client = BoolProperty(given, "client");
  options.requestCert = BoolProperty(given, "requestCert");
  options.rejectUnauthorized = BoolProperty(given, "rejectUnauthorized");
  options.serverCipherPreference = BoolProperty(given, "honorCipherOrder");
  options.sessionIdContext = StringProperty(given, "sessionIdContext");
  options.asksServername = BoolProperty(given, "asksServername");
  options.asksAlpn = BoolProperty(given, "asksAlpn");
  options.asksPsk = BoolProperty(given, "asksPsk");
  options.pskIdentityHint = StringProperty(given, "pskIdentityHint");
  options.asksOcsp = BoolProperty(given, "asksOcsp");
  {
    Napi::Value asks = given.Get("asksSessions");
    double bits = asks.IsNumber() ? asks.As<Napi::Number>().DoubleValue() : 0;
    options.asksSessions = bits >= 0 && bits <= 3 ? static_cast<uint8_t>(bits) : 0;
  }
  options.logsKeys = BoolProperty(given, "logsKeys");
  options.traces = BoolProperty(given, "traces");
  Napi::Value sessionTimeout = given.Get("sessionTimeout");
  if (env.IsExceptionPending()) return env.Undefined();
  if (sessionTimeout.IsNumber()) options.sessionTimeout = sessionTimeout.As<Napi::Number>().Int32Value();
  Napi::Value ticketKeys = given.Get("ticketKeys");
  if (env.IsExceptionPending()) return env.Undefined();
  if (ticketKeys.IsBuffer()) {
    Napi::Buffer<char> bytes = ticketKeys.As<Napi::Buffer<char>>();
    options.ticketKeys.assign(bytes.Data(), bytes.Length());
  }
  // A context node made, as node's own `_external` getter gives it (lib/tls.ts
  // reads it in this call, from a SecureContext JS holds): used only within Create.
  Napi::Value nodeContext = given.Get("nodeContext");
  if (env.IsExceptionPending()) return env.Undefined();
  if (!nodeContext.IsUndefined()) {
    if (!nodeContext.IsExternal()) {
      return ThrowTypeError(env, "createTlsContext: nodeContext must be a SecureContext's _external");
    }
    options.nodeContext = static_cast<SSL_CTX*>(NodeExternalValue(nodeContext));
    // A SecureContext node has closed, or a node whose V8 exports neither call.
    if (options.nodeContext == nullptr) return ThrowTypeError(env, "the SecureContext has no OpenSSL context");
  }
  TlsFailure failure;
  std::shared_ptr<TlsContext> context = TlsContext::Create(options, &failure);
  if (context == nullptr) {
    Napi::Array result = Napi::Array::New(env, 3);
    result.Set(0u, Napi::String::New(env, failure.message));
    result.Set(1u, Napi::String::New(env, failure.library));
    result.Set(2u, Napi::String::New(env, failure.reason));
    return result;
  }
  uint64_t id = loop_->NextId();
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(context->externalBytes()));
  tlsContexts_.emplace(id, std::move(context));
  Napi::Array result = Napi::Array::New(env, 1);
  result.Set(0u, Napi::Number::New(env, static_cast<double>(id)));
  return result;
}

Napi::Value Reactor::ReleaseTlsContext(const Napi::CallbackInfo& info) {
  auto found = tlsContexts_.find(IdArgument(info, 0));
  if (found == tlsContexts_.end()) return info.Env().Undefined();
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -static_cast<int64_t>(found->second->externalBytes()));
  tlsContexts_.erase(found);
  return info.Env().Undefined();
}

// setTlsTicketKeys(contextId, keys): a server's new ticket keys, for the
// tickets it issues and opens from now on (tls.Server's setTicketKeys()).
Napi::Value Reactor::SetTlsTicketKeys(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsBuffer()) return ThrowTypeError(env, "setTlsTicketKeys(id, keys)");
  auto found = tlsContexts_.find(IdArgument(info, 0));
  if (found == tlsContexts_.end()) return env.Undefined();
  Napi::Buffer<char> bytes = info[1].As<Napi::Buffer<char>>();
  if (!found->second->SetTicketKeys(std::string(bytes.Data(), bytes.Length()))) {
    return ThrowTypeError(env, "ticket keys must be 48 bytes");
  }
  return env.Undefined();
}

// tlsListenWith(listenerId, contextId): the server context a TLS listener's
// connections start with from now on (tls.Server's setSecureContext()).
Napi::Value Reactor::TlsListenWith(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<TlsContext> context;
  if (info.Length() < 2 || !TlsContextArgument(info, 1, &context) || context == nullptr || context->client()) {
    return ThrowTypeError(env, "tlsListenWith(listenerId, serverContextId)");
  }
  Command command(Command::Kind::kTlsListenWith);
  command.id = IdArgument(info, 0);
  command.tlsContext = std::move(context);
  Staged().push_back(std::move(command));
  return env.Undefined();
}

// tlsAskServernames(contextId): a listening server's connections ask JS for
// a context by SNI name from now on (its first addContext()).
Napi::Value Reactor::TlsAskServernames(const Napi::CallbackInfo& info) {
  auto found = tlsContexts_.find(IdArgument(info, 0));
  if (found != tlsContexts_.end() && !found->second->client()) found->second->SetAsksServername();
  return info.Env().Undefined();
}

// tlsAskOcsp(contextId, asks): whether a listening server's connections
// accepted from now on ask JS for a staple when their client asks for one
// (it has 'OCSPRequest' listeners).
Napi::Value Reactor::TlsAskOcsp(const Napi::CallbackInfo& info) {
  auto found = tlsContexts_.find(IdArgument(info, 0));
  bool asks = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  if (found != tlsContexts_.end() && !found->second->client()) found->second->SetAsksOcsp(asks);
  return info.Env().Undefined();
}

// tlsAskSessions(contextId, asks): a listening server's external session
// cache from now on, TlsContext::kAsksNewSession | kAsksResumeSession (its
// 'newSession' and 'resumeSession' listeners).
Napi::Value Reactor::TlsAskSessions(const Napi::CallbackInfo& info) {
  auto found = tlsContexts_.find(IdArgument(info, 0));
  double asks = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
  uint8_t bits = asks >= 0 && asks <= 3 ? static_cast<uint8_t>(asks) : 0;
  if (found != tlsContexts_.end() && !found->second->client()) found->second->SetAsksSessions(bits);
  return info.Env().Undefined();
}

// tlsContextCertificates(contextId): [certificate, issuer] as DER Buffers
// (node's getCertificate() and getIssuer() of a context), each undefined
// when there is none; undefined for an unknown context.
Napi::Value Reactor::TlsContextCertificates(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto found = tlsContexts_.find(IdArgument(info, 0));
  if (found == tlsContexts_.end()) return env.Undefined();
  const std::string& certificate = found->second->certificateDer();
  const std::string& issuer = found->second->issuerDer();
  Napi::Array result = Napi::Array::New(env, 2);
  if (!certificate.empty()) result.Set(0u, Napi::Buffer<char>::Copy(env, certificate.data(), certificate.size()));
  if (!issuer.empty()) result.Set(1u, Napi::Buffer<char>::Copy(env, issuer.data(), issuer.size()));
  return result;
}

}  // namespace reactor
