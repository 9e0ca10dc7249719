// The 15 MQTT control packets as plain structs, and Packet, the variant of them all.
// Decoded packets borrow: string_view / ByteSpan fields point into the decoder's input or its
// reassembly buffer and are valid until the next Decoder::next() call. Copy what you keep.
#pragma once

#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/properties.h"
#include "protocol/reason_code.h"
#include "protocol/types.h"

namespace protocol {

struct Will {
  std::string_view topic;
  ByteSpan payload;
  QoS qos = QoS::at_most_once;
  bool retain = false;
  Properties properties;  // v5 will properties
};

struct Connect {
  ProtocolVersion version = ProtocolVersion::v311;
  bool bridge = false;      // protocol level had bit 0x80 set (Mosquitto try_private bridge)
  bool clean_start = true;  // "clean session" in 3.1/3.1.1
  std::uint16_t keep_alive_s = 0;
  std::string_view client_id;
  std::optional<Will> will;
  std::optional<std::string_view> username;
  std::optional<ByteSpan> password;
  Properties properties;
};

struct ConnAck {
  bool session_present = false;
  ReasonCode reason = ReasonCode::success;  // v3.1.1: mapped with to_connack_v311()
  Properties properties;
  friend bool operator==(const ConnAck&, const ConnAck&) = default;
};

struct Publish {
  std::string_view topic;  // may be empty in v5 when a topic alias is given
  ByteSpan payload;
  QoS qos = QoS::at_most_once;
  bool retain = false;
  bool dup = false;
  PacketId id = 0;  // only for QoS 1/2
  Properties properties;
};

// PUBACK, PUBREC, PUBREL, PUBCOMP share one shape. In v5 the reason code and properties are
// omitted on the wire when reason is success and there are no properties [MQTT-3.4.2.1].
struct PubAck {
  PacketId id = 0;
  ReasonCode reason = ReasonCode::success;
  Properties properties;
  friend bool operator==(const PubAck&, const PubAck&) = default;
};
struct PubRec {
  PacketId id = 0;
  ReasonCode reason = ReasonCode::success;
  Properties properties;
  friend bool operator==(const PubRec&, const PubRec&) = default;
};
struct PubRel {
  PacketId id = 0;
  ReasonCode reason = ReasonCode::success;
  Properties properties;
  friend bool operator==(const PubRel&, const PubRel&) = default;
};
struct PubComp {
  PacketId id = 0;
  ReasonCode reason = ReasonCode::success;
  Properties properties;
  friend bool operator==(const PubComp&, const PubComp&) = default;
};

struct SubscribeOptions {
  QoS qos = QoS::at_most_once;
  bool no_local = false;             // v5
  bool retain_as_published = false;  // v5
  std::uint8_t retain_handling = 0;  // v5: 0 send, 1 send if new, 2 don't send
  friend bool operator==(const SubscribeOptions&, const SubscribeOptions&) = default;
};

struct TopicSubscription {
  std::string_view filter;
  SubscribeOptions options;
  friend bool operator==(const TopicSubscription&, const TopicSubscription&) = default;
};

struct Subscribe {
  PacketId id = 0;
  std::vector<TopicSubscription> subscriptions;  // never empty [MQTT-3.8.3-3]
  Properties properties;
  friend bool operator==(const Subscribe&, const Subscribe&) = default;
};

struct SubAck {
  PacketId id = 0;
  std::vector<ReasonCode> reasons;  // v3.1.1: 0,1,2 or 0x80 failure
  Properties properties;
  friend bool operator==(const SubAck&, const SubAck&) = default;
};

struct Unsubscribe {
  PacketId id = 0;
  std::vector<std::string_view> filters;  // never empty [MQTT-3.10.3-2]
  Properties properties;
  friend bool operator==(const Unsubscribe&, const Unsubscribe&) = default;
};

struct UnsubAck {
  PacketId id = 0;
  std::vector<ReasonCode> reasons;  // v5 only; empty (and not encoded) for 3.1.1
  Properties properties;
  friend bool operator==(const UnsubAck&, const UnsubAck&) = default;
};

struct PingReq {
  friend bool operator==(const PingReq&, const PingReq&) = default;
};
struct PingResp {
  friend bool operator==(const PingResp&, const PingResp&) = default;
};

struct Disconnect {
  ReasonCode reason = ReasonCode::normal_disconnection;  // v5 only
  Properties properties;
  friend bool operator==(const Disconnect&, const Disconnect&) = default;
};

struct Auth {
  ReasonCode reason = ReasonCode::success;  // v5 only packet
  Properties properties;
  friend bool operator==(const Auth&, const Auth&) = default;
};

using Packet = std::variant<Connect, ConnAck, Publish, PubAck, PubRec, PubRel, PubComp, Subscribe,
                            SubAck, Unsubscribe, UnsubAck, PingReq, PingResp, Disconnect, Auth>;

// Field-wise equality; views (strings, payloads, binary data) compare by content. Useful in
// tests and for the fuzzer's round-trip check.
bool operator==(const Will& a, const Will& b) noexcept;
bool operator==(const Connect& a, const Connect& b) noexcept;
bool operator==(const Publish& a, const Publish& b) noexcept;

PacketType type_of(const Packet& p) noexcept;
const char* to_string(PacketType t) noexcept;

}  // namespace protocol
