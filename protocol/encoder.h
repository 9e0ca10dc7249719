// MQTT encoder: size first, then write into a caller-owned, reused buffer (no per-packet heap
// churn once the buffer has grown). One overload pair per packet type plus Packet.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "protocol/packets.h"
#include "protocol/types.h"

namespace protocol {

// Appends to a std::vector it does not own. Reserve with encoded_size() first.
class ByteWriter {
 public:
  explicit ByteWriter(std::vector<std::uint8_t>& out) noexcept : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v);
  void u32(std::uint32_t v);
  void varint(std::uint32_t v);     // MQTT variable byte integer, v <= kMaxRemainingLength
  void bytes(ByteSpan b);           // raw, no length prefix
  void string(std::string_view s);  // two-byte length prefix + bytes
  void binary(ByteSpan b);          // two-byte length prefix + bytes
  std::size_t size() const noexcept { return out_.size(); }

 private:
  std::vector<std::uint8_t>& out_;
};

std::size_t varint_size(std::uint32_t v) noexcept;

// Whole-packet size (fixed header + remaining length + body) and encoding, per type.
#define WISP_PROTOCOL_ENCODER(T)                                    \
  std::size_t encoded_size(const T& p, ProtocolVersion v) noexcept; \
  void encode(const T& p, ProtocolVersion v, ByteWriter& w);
WISP_PROTOCOL_ENCODER(Connect)
WISP_PROTOCOL_ENCODER(ConnAck)
WISP_PROTOCOL_ENCODER(Publish)
WISP_PROTOCOL_ENCODER(PubAck)
WISP_PROTOCOL_ENCODER(PubRec)
WISP_PROTOCOL_ENCODER(PubRel)
WISP_PROTOCOL_ENCODER(PubComp)
WISP_PROTOCOL_ENCODER(Subscribe)
WISP_PROTOCOL_ENCODER(SubAck)
WISP_PROTOCOL_ENCODER(Unsubscribe)
WISP_PROTOCOL_ENCODER(UnsubAck)
WISP_PROTOCOL_ENCODER(PingReq)
WISP_PROTOCOL_ENCODER(PingResp)
WISP_PROTOCOL_ENCODER(Disconnect)
WISP_PROTOCOL_ENCODER(Auth)
WISP_PROTOCOL_ENCODER(Packet)
#undef WISP_PROTOCOL_ENCODER

// Convenience for tests and cold paths: a fresh vector holding exactly the packet.
std::vector<std::uint8_t> encode_to_vector(const Packet& p, ProtocolVersion v);

// Encodes a property list body (no length prefix); size is properties_body_size().
void encode_properties_body(const Properties& p, ByteWriter& w);

// ---- Fan-out support --------------------------------------------------------------------
// A forwarded PUBLISH is written as  head | forwarded-properties | payload, where the
// forwarded-properties block (v5 only) was encoded once on receipt with
// encode_properties_body() and is shared by all subscribers. The head holds what differs per
// subscriber. Layout:
//
//   [byte 1][remaining length][topic or empty+alias][packet id if QoS>0]
//   [v5: property length = per-subscriber props + forwarded_props_len]
//   [v5: message expiry (remaining), topic alias, subscription ids...]
//   ...then the caller appends the forwarded block (v5) and the payload.
struct PublishHead {
  std::string_view topic;  // empty when an already-established alias is used (v5)
  QoS qos = QoS::at_most_once;
  bool retain = false;
  bool dup = false;
  PacketId id = 0;
  // v5 only; ignored for 3.1/3.1.1:
  std::uint16_t topic_alias = 0;                    // 0 = none
  std::optional<std::uint32_t> message_expiry_s;    // remaining interval
  std::span<const std::uint32_t> subscription_ids;  // each non-zero
  std::size_t forwarded_props_len = 0;
  std::size_t payload_len = 0;
};
std::size_t publish_head_size(const PublishHead& h, ProtocolVersion v) noexcept;
void encode_publish_head(const PublishHead& h, ProtocolVersion v, ByteWriter& w);
// Whole packet size: head + forwarded block (v5) + payload.
std::size_t publish_packet_size(const PublishHead& h, ProtocolVersion v) noexcept;

}  // namespace protocol
