// Session: the MQTT state of one client id that survives reconnects (subscriptions live in the
// SubscriptionTree under id()); outbound QoS 1/2 in flight, the queue behind them, incoming
// QoS 2 ids awaiting PUBREL, the will and expiry. Owned by the Broker's session registry.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "broker/core/auth.h"
#include "broker/core/connection.h"
#include "broker/core/message.h"
#include "broker/core/persistence.h"
#include "broker/core/subscription_tree.h"
#include "protocol/types.h"

namespace broker::core {

// One message owed to a subscriber. Holds a reference, never bytes (STYLE.md section 3).
struct Outbound {
  MessageRef msg;
  protocol::PacketId id = 0;  // 0 while queued or for QoS 0
  protocol::QoS qos = protocol::QoS::at_most_once;
  bool retain = false;             // RETAIN flag as written on the wire
  bool dup = false;                // already written once: DUP on resend
  bool retained_delivery = false;  // from the retained store on subscribe: paced, never dropped
  InflightState state = InflightState::publish_sent;
  std::uint64_t seq = 0;  // delivery order (queue and inflight)
  std::vector<std::uint32_t> sub_ids;
  std::string share;  // "$share/group/filter" when delivered through a shared subscription
};

class Session {
 public:
  explicit Session(std::string id) : client_id(std::move(id)) {}

  SessionId id() const noexcept { return reinterpret_cast<SessionId>(this); }
  static Session* from_id(SessionId id) noexcept { return reinterpret_cast<Session*>(id); }
  bool online() const noexcept { return conn != nullptr; }
  // Survives its connection (v5 expiry > 0, or a 3.1.1 persistent session).
  bool persistent() const noexcept { return !expiry_s || *expiry_s > 0; }
  std::size_t inflight_limit() const noexcept { return inflight_max; }

  std::string client_id;
  protocol::ProtocolVersion version = protocol::ProtocolVersion::v311;
  bool bridge = false;
  Connection::Impl* conn = nullptr;  // attached connection, nullptr while offline

  std::optional<std::string> username;
  std::shared_ptr<const Grants> grants;

  std::optional<std::uint32_t> expiry_s;  // nullopt = never expires
  std::optional<TimePoint> expires_at;    // set while offline

  // Will: published on abnormal loss after will_delay_s or at session end [MQTT-3.1.3-9].
  MessageRef will;
  std::uint32_t will_delay_s = 0;
  std::optional<std::uint32_t> will_expiry_s;  // message expiry, counted from publication
  std::optional<TimePoint> will_due;           // pending delayed will

  std::unordered_map<protocol::PacketId, Outbound> inflight;
  std::deque<Outbound> queue;
  std::size_t queued_limited = 0;  // queue entries that count against max_queued_messages
  std::size_t queued_bytes = 0;
  std::unordered_set<protocol::PacketId> incoming_qos2;

  protocol::PacketId next_id = 1;
  std::uint64_t next_seq = 1;
  // min(client Receive Maximum, broker max_inflight_messages), from the last CONNECT.
  std::size_t inflight_max = 20;

  // Routing scratch (Broker::Impl::route): merges overlapping subscriptions per message.
  std::uint64_t route_epoch = 0;
  std::size_t route_slot = 0;
};

}  // namespace broker::core
