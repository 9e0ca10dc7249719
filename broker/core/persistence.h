// Persistence: the engine's durable-state hook. The storage module implements it with SQLite;
// with none installed (Broker::set_persistence(nullptr)) the engine works purely in memory.
// Every call happens on the loop thread; implementations batch writes and commit later.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/message.h"
#include "protocol/packets.h"
#include "protocol/types.h"

namespace broker::core {

struct StoredSubscription {
  std::string filter;  // as subscribed (with "$share/group/" and mount point applied)
  protocol::SubscribeOptions options;
  std::uint32_t subscription_id = 0;  // 0 = none
};

struct StoredWill {
  MessageRef message;         // topic, qos, retain, [properties | payload]
  std::uint32_t delay_s = 0;  // v5 will delay interval
};

// An outbound message owed to a client: queued (id == 0) or in flight (id != 0).
enum class InflightState : std::uint8_t { publish_sent, pubrec_received };
struct StoredOutbound {
  MessageRef message;
  protocol::QoS qos = protocol::QoS::at_most_once;  // granted, after downgrade
  bool retain = false;                              // retain flag as it goes on the wire
  protocol::PacketId id = 0;
  InflightState state = InflightState::publish_sent;
  std::vector<std::uint32_t> subscription_ids;
};

struct StoredSession {
  std::string client_id;
  protocol::ProtocolVersion version = protocol::ProtocolVersion::v311;
  // Seconds the session outlives its connection; nullopt = never expires.
  std::optional<std::uint32_t> expiry_s;
  std::optional<TimePoint> disconnected_at;  // when it went offline (expiry counts from it)
  std::vector<StoredSubscription> subscriptions;
  std::optional<StoredWill> will;
  // Filled by load() only (the engine reports these through the queue/inflight calls):
  std::vector<StoredOutbound> outbound;  // in delivery order: inflight first, then queued
  std::vector<protocol::PacketId> incoming_qos2;
};

struct LoadedState {
  std::vector<MessageRef> retained;
  std::vector<StoredSession> sessions;
};

class Persistence {
 public:
  virtual ~Persistence() = default;

  // Retained messages: set replaces the topic's message; delete removes it.
  virtual void retained_set(const MessageRef& message) = 0;
  virtual void retained_delete(std::string_view topic) = 0;

  // Persistent sessions (expiry != 0). Upsert carries subscriptions and will, not messages.
  virtual void session_upsert(const StoredSession& session) = 0;
  virtual void session_delete(std::string_view client_id) = 0;

  // Offline / over-inflight queue of a persistent session. `seq` orders and identifies.
  virtual void queue_push(std::string_view client_id, std::uint64_t seq,
                          const StoredOutbound& entry) = 0;
  virtual void queue_pop(std::string_view client_id, std::uint64_t seq) = 0;

  // Outbound QoS 1/2 in flight (entry.id, entry.state); set again on state change.
  virtual void inflight_set(std::string_view client_id, const StoredOutbound& entry) = 0;
  virtual void inflight_clear(std::string_view client_id, protocol::PacketId id) = 0;

  // Incoming QoS 2 packet ids received but not yet released (PUBREL).
  virtual void incoming_qos2_add(std::string_view client_id, protocol::PacketId id) = 0;
  virtual void incoming_qos2_remove(std::string_view client_id, protocol::PacketId id) = 0;

  // `callback` runs on the loop thread once everything submitted before this call is
  // committed. The engine defers the PUBACK/PUBREC of a stored QoS 1/2 publish until then.
  virtual void when_durable(std::function<void()> callback) = 0;

  // Startup: everything stored. Called once, from Broker::set_persistence().
  virtual LoadedState load() = 0;
};

}  // namespace broker::core
