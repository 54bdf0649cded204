// Flow control toward JS, on the reactor thread: which connections are read
// again without a new edge (the ready list), which wait for JS to consume
// bytes (the blocked set: those under their own cap wait in the line for room
// under the total), and how many bytes JS holds unconsumed, per connection
// and for the reactor as a whole.
//
// Invariants:
//  1. The ready list and the line hold connection ids, never pointers.
//     Ids are never reused, and an id is looked up again in the connection
//     table whenever it is taken, so an entry for a connection closed since is
//     skipped, never dereferenced; an entry lives at most until the next turn
//     that takes the list (the line: until it is taken or compacted).
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
//     connection leaving the blocked set is read without one: it goes on the
//     ready list when its own acknowledgements bring it under the per-socket
//     cap, and it is read from the line (below) when it waits for the total.
//  6. The line holds, oldest first, the ids of connections parked for the
//     total cap (under their own cap when parked). While the total is under
//     its cap, ReadReady takes them one by one until the total reaches the cap
//     again: the work follows the bytes read, never the number waiting (a
//     release of the whole set, each connection parked again but the few read,
//     made a cap episode over n connections cost O(n²)). An id is in the line
//     at most once (FlowState::inLine); an entry whose connection closed or
//     left the blocked set since is stale and skipped when taken, and stale
//     entries are compacted away before they outnumber the blocked ones.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "id_table.h"

namespace reactor {

struct Connection;

// The part of a connection that only FlowControl changes.
struct FlowState {
  uint64_t unacked = 0;  // bytes handed to JS and not yet consumed
  bool queued = false;   // on the ready list
  bool blocked = false;  // parked: at its own cap, or in the line for the total
  bool inLine = false;   // its id is in FlowControl's line (invariant 6)
};

// Every open connection by id (Loop owns it; FlowControl only looks ids up).
using ConnectionTable = IdTable<Connection>;

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

  // The connection waiting longest for the total cap, no longer parked,
  // while the total is under its cap; null when none (invariant 6). The
  // caller reads it (or skips it, if it no longer wants to read) before
  // asking again.
  Connection* NextInLine();
  // Whether NextInLine() has connections to give this turn.
  bool LineMayMove() const { return !line_.empty() && total_ < capTotal_; }

  // Whether `connection` may read now. If not, it is parked until
  // acknowledgements make room (invariant 5).
  bool Admit(Connection& connection);
  // Bytes `connection` may read before it reaches the per-socket cap.
  uint64_t Room(const Connection& connection) const;
  // Parks `connection` (a read stopped at a cap, or, in level-triggered
  // mode, the total cap took away its EPOLLIN); under its own cap, it goes
  // to the back of the line.
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
  size_t BlockedCount() const { return blockedCount_; }
  // Times a connection was parked, since the loop started: how much work the
  // caps cost, whatever the number of connections they hold.
  uint64_t ParkCount() const { return parks_; }
  // Whether only JS's acknowledgements can let some connection read again:
  // one is at its cap or blocked, or the total is at its cap. (Level
  // triggering takes EPOLLIN away from a connection at its cap without
  // blocking it, so the blocked set alone does not say.)
  bool AwaitsAcks() const { return atCap_ > 0 || total_ >= capTotal_ || blockedCount_ > 0; }

 private:
  // Takes `bytes` off `connection` and the total.
  void Lower(Connection& connection, uint64_t bytes);
  // Takes `connection` out of the blocked count (its line entry, if any,
  // goes stale).
  void Unpark(Connection& connection);
  // Drops the line's stale entries (invariant 6).
  void CompactLine();
  Connection* Find(uint64_t id) const;

  // Stale entries the line may hold beyond the blocked connections before
  // it is compacted: compaction then halves it at least, so it costs O(1)
  // per entry pushed.
  static constexpr size_t kLineSlack = 64;

  const ConnectionTable& connections_;
  const uint64_t capPerSocket_;
  const uint64_t capTotal_;
  uint64_t total_ = 0;
  // Connections whose unacked bytes reached capPerSocket_: changed where
  // unacked crosses it (OnRead, Lower), so it counts every path.
  size_t atCap_ = 0;
  uint64_t parks_ = 0;
  // Added by MarkReady, emptied by TakeReady each turn; entries of connections
  // closed since are dropped there (invariant 1).
  std::vector<uint64_t> ready_;
  // Connections with FlowState::blocked set: changed by Block and Unpark only.
  size_t blockedCount_ = 0;
  // Pushed by Block, popped by NextInLine, filtered by CompactLine.
  std::deque<uint64_t> line_;
};

}  // namespace reactor
