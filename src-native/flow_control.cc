#include "flow_control.h"

#include "connection.h"

namespace reactor {

void FlowControl::MarkReady(Connection& connection) {
  if (connection.flow.queued) return;
  connection.flow.queued = true;
  ready_.push_back(connection.id);
}

void FlowControl::TakeReady(std::vector<Connection*>* into) {
  into->clear();
  for (uint64_t id : ready_) {
    Connection* connection = Find(id);
    if (connection == nullptr) continue;  // closed since it was marked
    connection->flow.queued = false;
    into->push_back(connection);
  }
  ready_.clear();
}

Connection* FlowControl::NextInLine() {
  while (LineMayMove()) {
    uint64_t id = line_.front();
    line_.pop_front();
    Connection* connection = Find(id);
    if (connection == nullptr) continue;  // closed since it was parked
    connection->flow.inLine = false;
    if (!connection->flow.blocked) continue;  // unparked since (its own acknowledgements)
    // At its own cap since (a TLS report was charged): its acknowledgements
    // unpark it, not the total.
    if (connection->flow.unacked >= capPerSocket_) continue;
    Unpark(*connection);
    return connection;
  }
  return nullptr;
}

bool FlowControl::Admit(Connection& connection) {
  if (total_ < capTotal_ && connection.flow.unacked < capPerSocket_) return true;
  Block(connection);
  return false;
}

uint64_t FlowControl::Room(const Connection& connection) const {
  return connection.flow.unacked >= capPerSocket_ ? 0 : capPerSocket_ - connection.flow.unacked;
}

void FlowControl::Block(Connection& connection) {
  if (connection.flow.blocked) return;
  connection.flow.blocked = true;
  ++blockedCount_;
  ++parks_;
  // At its own cap, only its own acknowledgements can let it read (OnAck).
  if (connection.flow.unacked >= capPerSocket_ || connection.flow.inLine) return;
  connection.flow.inLine = true;
  line_.push_back(connection.id);
  if (line_.size() > 2 * blockedCount_ + kLineSlack) CompactLine();
}

void FlowControl::OnRead(Connection& connection, uint64_t bytes) {
  bool wasAtCap = connection.flow.unacked >= capPerSocket_;
  connection.flow.unacked += bytes;
  total_ += bytes;
  if (!wasAtCap && connection.flow.unacked >= capPerSocket_) ++atCap_;
}

void FlowControl::OnAck(Connection& connection, uint64_t bytes) {
  Lower(connection, bytes);
  // Under its own cap again: it no longer waits for the total (if the total
  // is still over, Admit parks it again, in the line).
  if (connection.flow.blocked && connection.flow.unacked < capPerSocket_) {
    Unpark(connection);
    MarkReady(connection);
  }
}

void FlowControl::Settle(Connection& connection) {
  Lower(connection, connection.flow.unacked);
  if (connection.flow.blocked) Unpark(connection);
}

void FlowControl::Forget(Connection& connection) {
  if (connection.flow.blocked) Unpark(connection);
  Lower(connection, connection.flow.unacked);
}

bool FlowControl::UnderCaps(const Connection& connection) const {
  return connection.flow.unacked < capPerSocket_ && total_ < capTotal_;
}

void FlowControl::Lower(Connection& connection, uint64_t bytes) {
  if (bytes > connection.flow.unacked) bytes = connection.flow.unacked;
  bool wasAtCap = connection.flow.unacked >= capPerSocket_;
  connection.flow.unacked -= bytes;
  total_ -= bytes;
  if (wasAtCap && connection.flow.unacked < capPerSocket_) --atCap_;
  // Room under the total cap is not handed out here: ReadReady takes the
  // line while there is room (invariant 6).
}

void FlowControl::Unpark(Connection& connection) {
  connection.flow.blocked = false;
  --blockedCount_;
}

void FlowControl::CompactLine() {
  std::deque<uint64_t> kept;
  for (uint64_t id : line_) {
    Connection* connection = Find(id);
    if (connection == nullptr) continue;
    if (connection->flow.blocked && connection->flow.unacked < capPerSocket_) {
      kept.push_back(id);
    } else {
      connection->flow.inLine = false;
    }
  }
  line_.swap(kept);
}

Connection* FlowControl::Find(uint64_t id) const {
  return connections_.Find(id);
}

}  // namespace reactor
