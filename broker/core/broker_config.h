// Engine settings (the part of mosquitto.conf that the session engine obeys) and per-listener
// policy. Filled by broker/app/config; defaults follow Mosquitto 2 where it has the setting.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "protocol/types.h"

namespace broker::core {

struct ListenerPolicy {
  std::string name;  // e.g. "tcp:1883" for logs
  bool allow_anonymous = true;
  bool loopback_only = true;
  std::size_t max_connections = 0;         // 0 = unlimited (enforced by the transport)
  std::optional<std::string> mount_point;  // Mosquitto mount_point: prefix for topics
};

struct BrokerConfig {
  std::string version = "wisp";  // $SYS/broker/version
  // Largest packet accepted from clients (also announced as v5 Maximum Packet Size).
  // Mosquitto: max_packet_size / message_size_limit (payload).  0 = protocol maximum.
  std::uint32_t max_packet_bytes = 0;
  std::uint32_t message_size_limit = 0;  // payload bytes, 0 = no limit
  // Receive Maximum the broker announces to v5 clients, and the cap on QoS 1/2 messages in
  // flight to any client (Mosquitto max_inflight_messages, default 20).
  std::uint16_t max_inflight_messages = 20;
  std::size_t max_queued_messages = 1000;  // per session, QoS 1/2 waiting beyond inflight
  std::size_t max_queued_bytes = 0;        // 0 = no byte limit
  bool queue_qos0_messages = false;        // queue QoS 0 for offline persistent sessions
  std::uint16_t max_keepalive = 65535;     // v5: Server Keep Alive if the client asks more
  bool retain_available = true;
  protocol::QoS maximum_qos = protocol::QoS::exactly_once;
  std::uint16_t max_topic_alias = 10;  // Topic Alias Maximum announced to v5 clients
  bool allow_zero_length_clientid = true;
  std::string auto_id_prefix = "auto-";
  std::chrono::seconds sys_interval{10};  // 0 = no $SYS
  // Expiry for 3.1.1 persistent sessions (v5 sessions carry their own). none = never.
  std::optional<std::chrono::seconds> persistent_client_expiration;
  std::chrono::seconds connect_timeout{10};  // CONNECT must arrive within this
  // Output queue of a connection, in encoded bytes: above high water QoS 0 is dropped and
  // the client's reading paused; above hard limit the client is disconnected.
  std::size_t output_high_water_bytes = 4 * 1024 * 1024;
  std::size_t output_low_water_bytes = 1 * 1024 * 1024;
  std::size_t output_hard_limit_bytes = 64 * 1024 * 1024;
};

}  // namespace broker::core
