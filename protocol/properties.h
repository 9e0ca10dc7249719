// MQTT 5 properties [MQTT-2.2.2]: one struct holding every property, each field optional.
// Decoded string/binary fields are views into the decoder's input (see decoder.h);
// for encoding, the views only need to live until encode() returns.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "protocol/types.h"

namespace protocol {

enum class PropertyId : std::uint8_t {
  payload_format_indicator = 0x01,           // byte
  message_expiry_interval = 0x02,            // four-byte integer
  content_type = 0x03,                       // UTF-8 string
  response_topic = 0x08,                     // UTF-8 string
  correlation_data = 0x09,                   // binary data
  subscription_identifier = 0x0B,            // variable byte integer
  session_expiry_interval = 0x11,            // four-byte integer
  assigned_client_identifier = 0x12,         // UTF-8 string
  server_keep_alive = 0x13,                  // two-byte integer
  authentication_method = 0x15,              // UTF-8 string
  authentication_data = 0x16,                // binary data
  request_problem_information = 0x17,        // byte
  will_delay_interval = 0x18,                // four-byte integer
  request_response_information = 0x19,       // byte
  response_information = 0x1A,               // UTF-8 string
  server_reference = 0x1C,                   // UTF-8 string
  reason_string = 0x1F,                      // UTF-8 string
  receive_maximum = 0x21,                    // two-byte integer
  topic_alias_maximum = 0x22,                // two-byte integer
  topic_alias = 0x23,                        // two-byte integer
  maximum_qos = 0x24,                        // byte
  retain_available = 0x25,                   // byte
  user_property = 0x26,                      // UTF-8 string pair
  maximum_packet_size = 0x27,                // four-byte integer
  wildcard_subscription_available = 0x28,    // byte
  subscription_identifier_available = 0x29,  // byte
  shared_subscription_available = 0x2A,      // byte
};

struct UserProperty {
  std::string_view key;
  std::string_view value;
  friend bool operator==(const UserProperty&, const UserProperty&) = default;
};

struct Properties {
  std::optional<std::uint8_t> payload_format_indicator;
  std::optional<std::uint32_t> message_expiry_interval;
  std::optional<std::string_view> content_type;
  std::optional<std::string_view> response_topic;
  std::optional<ByteSpan> correlation_data;
  // PUBLISH (server -> client) may carry several; SUBSCRIBE carries at most one.
  std::vector<std::uint32_t> subscription_identifiers;
  std::optional<std::uint32_t> session_expiry_interval;
  std::optional<std::string_view> assigned_client_identifier;
  std::optional<std::uint16_t> server_keep_alive;
  std::optional<std::string_view> authentication_method;
  std::optional<ByteSpan> authentication_data;
  std::optional<std::uint8_t> request_problem_information;
  std::optional<std::uint32_t> will_delay_interval;
  std::optional<std::uint8_t> request_response_information;
  std::optional<std::string_view> response_information;
  std::optional<std::string_view> server_reference;
  std::optional<std::string_view> reason_string;
  std::optional<std::uint16_t> receive_maximum;
  std::optional<std::uint16_t> topic_alias_maximum;
  std::optional<std::uint16_t> topic_alias;
  std::optional<std::uint8_t> maximum_qos;
  std::optional<std::uint8_t> retain_available;
  std::vector<UserProperty> user_properties;  // order preserved [MQTT-3.3.2-18]
  std::optional<std::uint32_t> maximum_packet_size;
  std::optional<std::uint8_t> wildcard_subscription_available;
  std::optional<std::uint8_t> subscription_identifier_available;
  std::optional<std::uint8_t> shared_subscription_available;

  bool empty() const noexcept;
};

// Field-wise equality (binary fields compared by content).
bool operator==(const Properties& a, const Properties& b) noexcept;

// Size of the encoded property list *without* its variable-byte-integer length prefix.
std::size_t properties_body_size(const Properties& p) noexcept;

}  // namespace protocol
