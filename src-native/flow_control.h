// Flow control toward JS, on the reactor thread: which connections are read
// again without a new edge (the ready list), which wait for JS to consume
// bytes (the blocked set), and how many bytes JS holds unconsumed, per
// connection and for the reactor as a whole.
//
// Invariants:
//  1. The ready list and the blocked set hold connection ids, never pointers.
//     Ids are never reused, and an id is looked up again in the connection
//     table whenever it is taken, so an entry for a connection closed since is
//     skipped, never dereferenced; an entry lives at most until the next turn
//     that takes the list.
//  2. Forget() is the one place a closing connection leaves flow control: it
//     leaves the blocked set and its unconsumed bytes leave the total.
//     Loop::CloseConnection calls it on every path, together with the timers'
//     Cancel(), before the connection leaves the table.
//  3. total() is the sum of FlowState::unacked over the connections in the
//     table. Bytes enter it only through OnRead() and leave it only through
//     OnAck(), Settle() and Forget(), each clamped to what the connection holds.
//  4. A connection is on the ready list at most once (FlowState::queued) and in
//     the blocked set at most once (FlowState::blocked).
//  5. No edge comes again for bytes already waiting in a kernel queue, so a
//     connection leaving the blocked set goes on the ready list: when its own
//     acknowledgements bring it under the per-socket cap, or when the total
//     falls under the total cap (then every blocked connection goes).
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace reactor {

struct Connection;

// The part of a connection that only FlowControl changes.
struct FlowState {
  uint64_t unacked = 0;  // bytes handed to JS and not yet consumed
  bool queued = false;   // on the ready list
  bool blocked = false;  // in the blocked set
};

// Every open connection by id (Loop owns it; FlowControl only looks ids up).
using ConnectionTable = std::unordered_map<uint64_t, std::unique_ptr<Connection>>;

class FlowControl {
 public:
  // A cap of 0 is taken as 1: atCap_ counts crossings of the cap, and with 0
  // every connection would be at it before any read.
  FlowControl(const ConnectionTable& connections, uint64_t capPerSocket, uint64_t capTotal)
      : connections_(connections), capPerSocket_(capPerSocket == 0 ? 1 : capPerSocket), capTotal_(capTotal) {}
  FlowControl(const FlowControl&) = delete;
  FlowControl& operator=(const FlowControl&) = delete;

  // Reads `connection` in the next ReadReady pass, with or without an edge.
  void MarkReady(Connection& connection);
  bool HasReady() const { return !ready_.empty(); }
  // Empties the ready list into `into` as the connections still open, in the
  // order they were marked. The pointers are valid until the end of the turn
  // (closed connections live until then); callers check `closed`.
  void TakeReady(std::vector<Connection*>* into);

  // Whether `connection` may read now. If not, it is parked in the blocked
  // set until acknowledgements make room (invariant 5).
  bool Admit(Connection& connection);
  // Bytes `connection` may read before it reaches the per-socket cap.
  uint64_t Room(const Connection& connection) const;
  // Parks `connection` in the blocked set (a read stopped at the cap, or, in
  // level-triggered mode, the total cap took away its EPOLLIN).
  void Block(Connection& connection);

  // `bytes` were read from `connection` and handed to JS.
  void OnRead(Connection& connection, uint64_t bytes);
  // JS consumed `bytes` of `connection` (clamped to what it holds).
  void OnAck(Connection& connection, uint64_t bytes);
  // `connection`'s unconsumed bytes left JS's care without an acknowledgement
  // (forward() took them over and passes them on): they leave the totals.
  void Settle(Connection& connection);
  // `connection` is closing: it leaves the blocked set and the totals.
  void Forget(Connection& connection);

  bool UnderCaps(const Connection& connection) const;
  bool OverTotal() const { return total_ >= capTotal_; }
  uint64_t total() const { return total_; }
  size_t BlockedCount() const { return blocked_.size(); }
  // Whether only JS's acknowledgements can let some connection read again:
  // one is at its cap or blocked, or the total is at its cap. (Level
  // triggering takes EPOLLIN away from a connection at its cap without
  // blocking it, so the blocked set alone does not say.)
  bool AwaitsAcks() const { return atCap_ > 0 || total_ >= capTotal_ || !blocked_.empty(); }

 private:
  // Takes `bytes` off `connection` and the total; releases the blocked set if
  // the total fell under its cap.
  void Lower(Connection& connection, uint64_t bytes);
  void Unblock(Connection& connection);
  void ReleaseBlocked();
  Connection* Find(uint64_t id) const;

  const ConnectionTable& connections_;
  const uint64_t capPerSocket_;
  const uint64_t capTotal_;
  uint64_t total_ = 0;
  // Connections whose unacked bytes reached capPerSocket_: changed where
  // unacked crosses it (OnRead, Lower), so it counts every path.
  size_t atCap_ = 0;
  // Added by MarkReady, emptied by TakeReady each turn; entries of connections
  // closed since are dropped there (invariant 1).
  std::vector<uint64_t> ready_;
  // Added by Admit/Block, removed by Unblock, ReleaseBlocked and Forget.
  std::unordered_set<uint64_t> blocked_;
  std::vector<uint64_t> releaseScratch_;
};

}  // namespace reactor
