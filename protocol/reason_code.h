// MQTT 5 reason codes and their mapping to MQTT 3.1.1 CONNACK return codes.
// The v5 <-> v3.1.1 mapping lives only in reason_code.cpp.
#pragma once

#include <cstdint>

namespace protocol {

enum class ReasonCode : std::uint8_t {
  success = 0x00,
  normal_disconnection = 0x00,
  granted_qos_0 = 0x00,
  granted_qos_1 = 0x01,
  granted_qos_2 = 0x02,
  disconnect_with_will_message = 0x04,
  no_matching_subscribers = 0x10,
  no_subscription_existed = 0x11,
  continue_authentication = 0x18,
  re_authenticate = 0x19,
  unspecified_error = 0x80,
  malformed_packet = 0x81,
  protocol_error = 0x82,
  implementation_specific_error = 0x83,
  unsupported_protocol_version = 0x84,
  client_identifier_not_valid = 0x85,
  bad_user_name_or_password = 0x86,
  not_authorized = 0x87,
  server_unavailable = 0x88,
  server_busy = 0x89,
  banned = 0x8A,
  server_shutting_down = 0x8B,
  bad_authentication_method = 0x8C,
  keep_alive_timeout = 0x8D,
  session_taken_over = 0x8E,
  topic_filter_invalid = 0x8F,
  topic_name_invalid = 0x90,
  packet_identifier_in_use = 0x91,
  packet_identifier_not_found = 0x92,
  receive_maximum_exceeded = 0x93,
  topic_alias_invalid = 0x94,
  packet_too_large = 0x95,
  message_rate_too_high = 0x96,
  quota_exceeded = 0x97,
  administrative_action = 0x98,
  payload_format_invalid = 0x99,
  retain_not_supported = 0x9A,
  qos_not_supported = 0x9B,
  use_another_server = 0x9C,
  server_moved = 0x9D,
  shared_subscriptions_not_supported = 0x9E,
  connection_rate_exceeded = 0x9F,
  maximum_connect_time = 0xA0,
  subscription_identifiers_not_supported = 0xA1,
  wildcard_subscriptions_not_supported = 0xA2,
};

inline constexpr bool is_error(ReasonCode r) noexcept {
  return static_cast<std::uint8_t>(r) >= 0x80;
}

// MQTT 3.1.1 CONNACK return codes [MQTT-3.2.2.3].
enum class ConnackV311 : std::uint8_t {
  accepted = 0,
  unacceptable_protocol_version = 1,
  identifier_rejected = 2,
  server_unavailable = 3,
  bad_user_name_or_password = 4,
  not_authorized = 5,
};

// v5 CONNACK reason -> v3.1.1 return code (e.g. 0x84 -> 1, 0x85 -> 2, 0x86 -> 4, 0x87 -> 5,
// anything else that is an error -> 3).
ConnackV311 to_connack_v311(ReasonCode r) noexcept;
ReasonCode from_connack_v311(ConnackV311 r) noexcept;

// The reason a server-sent v5 DISCONNECT carries for `r` [MQTT-3.14.2.1]: `r` itself where
// DISCONNECT allows it; CONNACK-only authentication codes (0x84-0x86, 0x88, 0x8A, 0x8C) become
// not_authorized (0x87); anything else outside the list becomes unspecified_error (0x80).
ReasonCode disconnect_for(ReasonCode r) noexcept;

// Short spec name, e.g. "packet too large"; for logs and reason strings.
const char* to_string(ReasonCode r) noexcept;

}  // namespace protocol
