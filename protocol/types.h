// Basic MQTT vocabulary shared by the whole codec: versions, QoS, packet ids and types.
#pragma once

#include <cstdint>
#include <span>

namespace protocol {

using ByteSpan = std::span<const std::uint8_t>;

// The CONNECT protocol level. Bridges (Mosquitto try_private) set bit 0x80 on top of it;
// the decoder strips that bit into Connect::bridge.
enum class ProtocolVersion : std::uint8_t { v31 = 3, v311 = 4, v5 = 5 };

enum class QoS : std::uint8_t { at_most_once = 0, at_least_once = 1, exactly_once = 2 };

using PacketId = std::uint16_t;  // 0 = none (QoS 0); never 0 where the spec requires an id

enum class PacketType : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15,
};

// Largest remaining length the 4-byte varint can express [MQTT-1.5.5].
inline constexpr std::uint32_t kMaxRemainingLength = 268'435'455;

}  // namespace protocol
