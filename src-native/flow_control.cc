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
  blocked_.insert(connection.id);
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
  // is still over, Admit parks it again).
  if (connection.flow.blocked && connection.flow.unacked < capPerSocket_) Unblock(connection);
}

void FlowControl::Settle(Connection& connection) {
  Lower(connection, connection.flow.unacked);
  if (connection.flow.blocked) {
    connection.flow.blocked = false;
    blocked_.erase(connection.id);
  }
}

void FlowControl::Forget(Connection& connection) {
  if (connection.flow.blocked) {
    connection.flow.blocked = false;
    blocked_.erase(connection.id);
  }
  Lower(connection, connection.flow.unacked);
}

bool FlowControl::UnderCaps(const Connection& connection) const {
  return connection.flow.unacked < capPerSocket_ && total_ < capTotal_;
}

void FlowControl::Lower(Connection& connection, uint64_t bytes) {
  if (bytes > connection.flow.unacked) bytes = connection.flow.unacked;
  bool wasOver = total_ >= capTotal_;
  bool wasAtCap = connection.flow.unacked >= capPerSocket_;
  connection.flow.unacked -= bytes;
  total_ -= bytes;
  if (wasAtCap && connection.flow.unacked < capPerSocket_) --atCap_;
  if (wasOver && total_ < capTotal_) ReleaseBlocked();
}

void FlowControl::Unblock(Connection& connection) {
  connection.flow.blocked = false;
  blocked_.erase(connection.id);
  MarkReady(connection);
}

void FlowControl::ReleaseBlocked() {
  // Copied out first: MarkReady does not touch the set, but Unblock does.
  releaseScratch_.assign(blocked_.begin(), blocked_.end());
  blocked_.clear();
  for (uint64_t id : releaseScratch_) {
    Connection* connection = Find(id);
    if (connection == nullptr) continue;
    connection->flow.blocked = false;
    MarkReady(*connection);
  }
  releaseScratch_.clear();
}

Connection* FlowControl::Find(uint64_t id) const {
  auto found = connections_.find(id);
  return found == connections_.end() ? nullptr : found->second.get();
}

}  // namespace reactor
