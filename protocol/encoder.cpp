// MQTT encoder: exact sizes first, then appends into a caller-owned buffer. Every encode()
// checks in debug builds that it wrote exactly encoded_size() bytes.
#include "protocol/encoder.h"

#include <cassert>
#include <variant>

#include "protocol/properties.h"

namespace protocol {

// ---- ByteWriter -------------------------------------------------------------------------

void ByteWriter::u16(std::uint16_t v) {
  out_.push_back(static_cast<std::uint8_t>(v >> 8));
  out_.push_back(static_cast<std::uint8_t>(v));
}

void ByteWriter::u32(std::uint32_t v) {
  const std::uint8_t b[4] = {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
                             static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
  out_.insert(out_.end(), b, b + 4);
}

void ByteWriter::varint(std::uint32_t v) {
  assert(v <= kMaxRemainingLength);
  do {
    auto byte = static_cast<std::uint8_t>(v & 0x7Fu);
    v >>= 7;
    if (v != 0) byte = static_cast<std::uint8_t>(byte | 0x80u);
    out_.push_back(byte);
  } while (v != 0);
}

void ByteWriter::bytes(ByteSpan b) { out_.insert(out_.end(), b.begin(), b.end()); }

void ByteWriter::string(std::string_view s) {
  assert(s.size() <= 0xFFFF);
  u16(static_cast<std::uint16_t>(s.size()));
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  out_.insert(out_.end(), p, p + s.size());
}

void ByteWriter::binary(ByteSpan b) {
  assert(b.size() <= 0xFFFF);
  u16(static_cast<std::uint16_t>(b.size()));
  bytes(b);
}

std::size_t varint_size(std::uint32_t v) noexcept {
  if (v < 128u) return 1;
  if (v < 16'384u) return 2;
  if (v < 2'097'152u) return 3;
  return 4;
}

namespace {

constexpr bool is_v5(ProtocolVersion v) noexcept { return v == ProtocolVersion::v5; }

std::size_t str_size(std::string_view s) noexcept { return 2 + s.size(); }

// Property length prefix + property list.
std::size_t props_block_size(const Properties& p) noexcept {
  const std::size_t body = properties_body_size(p);
  return varint_size(static_cast<std::uint32_t>(body)) + body;
}

void write_props_block(const Properties& p, ByteWriter& w) {
  w.varint(static_cast<std::uint32_t>(properties_body_size(p)));
  encode_properties_body(p, w);
}

std::size_t whole(std::size_t remaining) noexcept {
  return 1 + varint_size(static_cast<std::uint32_t>(remaining)) + remaining;
}

void fixed_header(PacketType t, std::uint8_t flags, std::size_t remaining, ByteWriter& w) {
  w.u8(static_cast<std::uint8_t>((static_cast<std::uint8_t>(t) << 4) | flags));
  w.varint(static_cast<std::uint32_t>(remaining));
}

std::uint8_t u8_of(ReasonCode r) noexcept { return static_cast<std::uint8_t>(r); }
std::uint8_t u8_of(QoS q) noexcept { return static_cast<std::uint8_t>(q); }

// ---- remaining lengths ----

std::size_t body_size(const Connect& p, ProtocolVersion) noexcept {
  const ProtocolVersion v = p.version;  // CONNECT carries its own version
  std::size_t n = (v == ProtocolVersion::v31 ? str_size("MQIsdp") : str_size("MQTT")) + 1 + 1 + 2;
  if (is_v5(v)) n += props_block_size(p.properties);
  n += str_size(p.client_id);
  if (p.will) {
    if (is_v5(v)) n += props_block_size(p.will->properties);
    n += str_size(p.will->topic) + 2 + p.will->payload.size();
  }
  if (p.username) n += str_size(*p.username);
  if (p.password) n += 2 + p.password->size();
  return n;
}

std::size_t body_size(const ConnAck& p, ProtocolVersion v) noexcept {
  return 2 + (is_v5(v) ? props_block_size(p.properties) : 0);
}

std::size_t body_size(const Publish& p, ProtocolVersion v) noexcept {
  std::size_t n = str_size(p.topic) + (p.qos != QoS::at_most_once ? 2 : 0) + p.payload.size();
  if (is_v5(v)) n += props_block_size(p.properties);
  return n;
}

// PUBACK/PUBREC/PUBREL/PUBCOMP: reason and properties omitted when they carry nothing
// [MQTT-3.4.2.1], property length omitted when there are no properties [MQTT-3.4.2.2.1].
template <class Ack>
std::size_t ack_body_size(const Ack& p, ProtocolVersion v) noexcept {
  if (!is_v5(v)) return 2;
  if (p.properties.empty()) return p.reason == ReasonCode::success ? 2 : 3;
  return 3 + props_block_size(p.properties);
}
std::size_t body_size(const PubAck& p, ProtocolVersion v) noexcept { return ack_body_size(p, v); }
std::size_t body_size(const PubRec& p, ProtocolVersion v) noexcept { return ack_body_size(p, v); }
std::size_t body_size(const PubRel& p, ProtocolVersion v) noexcept { return ack_body_size(p, v); }
std::size_t body_size(const PubComp& p, ProtocolVersion v) noexcept { return ack_body_size(p, v); }

std::size_t body_size(const Subscribe& p, ProtocolVersion v) noexcept {
  std::size_t n = 2 + (is_v5(v) ? props_block_size(p.properties) : 0);
  for (const TopicSubscription& s : p.subscriptions) n += str_size(s.filter) + 1;
  return n;
}

std::size_t body_size(const SubAck& p, ProtocolVersion v) noexcept {
  return 2 + (is_v5(v) ? props_block_size(p.properties) : 0) + p.reasons.size();
}

std::size_t body_size(const Unsubscribe& p, ProtocolVersion v) noexcept {
  std::size_t n = 2 + (is_v5(v) ? props_block_size(p.properties) : 0);
  for (std::string_view f : p.filters) n += str_size(f);
  return n;
}

std::size_t body_size(const UnsubAck& p, ProtocolVersion v) noexcept {
  if (!is_v5(v)) return 2;
  return 2 + props_block_size(p.properties) + p.reasons.size();
}

std::size_t body_size(const PingReq&, ProtocolVersion) noexcept { return 0; }
std::size_t body_size(const PingResp&, ProtocolVersion) noexcept { return 0; }

// DISCONNECT and AUTH: empty body means success with no properties [MQTT-3.14.2.1].
template <class P>
std::size_t reason_props_body_size(const P& p) noexcept {
  if (p.properties.empty()) return p.reason == ReasonCode::success ? 0 : 1;
  return 1 + props_block_size(p.properties);
}
std::size_t body_size(const Disconnect& p, ProtocolVersion v) noexcept {
  return is_v5(v) ? reason_props_body_size(p) : 0;
}
// AUTH exists only in v5; it is encoded the same whatever `v` says. The reason code is always
// written: the empty form is legal [MQTT-3.15.2.1] but mqtt-packet (MQTT.js) rejects it.
std::size_t body_size(const Auth& p, ProtocolVersion) noexcept {
  return p.properties.empty() ? 1 : 1 + props_block_size(p.properties);
}

// ---- bodies ----

void write_body(const Connect& p, ProtocolVersion, ByteWriter& w) {
  const ProtocolVersion v = p.version;
  w.string(v == ProtocolVersion::v31 ? "MQIsdp" : "MQTT");
  w.u8(static_cast<std::uint8_t>(static_cast<std::uint8_t>(v) | (p.bridge ? 0x80u : 0u)));
  std::uint8_t flags = 0;
  if (p.username) flags |= 0x80;
  if (p.password) flags |= 0x40;
  if (p.will) {
    flags |= 0x04;
    flags = static_cast<std::uint8_t>(flags | (u8_of(p.will->qos) << 3));
    if (p.will->retain) flags |= 0x20;
  }
  if (p.clean_start) flags |= 0x02;
  w.u8(flags);
  w.u16(p.keep_alive_s);
  if (is_v5(v)) write_props_block(p.properties, w);
  w.string(p.client_id);
  if (p.will) {
    if (is_v5(v)) write_props_block(p.will->properties, w);
    w.string(p.will->topic);
    w.binary(p.will->payload);
  }
  if (p.username) w.string(*p.username);
  if (p.password) w.binary(*p.password);
}

void write_body(const ConnAck& p, ProtocolVersion v, ByteWriter& w) {
  w.u8(p.session_present ? 1 : 0);
  if (is_v5(v)) {
    w.u8(u8_of(p.reason));
    write_props_block(p.properties, w);
  } else {
    w.u8(static_cast<std::uint8_t>(to_connack_v311(p.reason)));
  }
}

void write_body(const Publish& p, ProtocolVersion v, ByteWriter& w) {
  w.string(p.topic);
  if (p.qos != QoS::at_most_once) w.u16(p.id);
  if (is_v5(v)) write_props_block(p.properties, w);
  w.bytes(p.payload);
}

template <class Ack>
void write_ack_body(const Ack& p, ProtocolVersion v, ByteWriter& w) {
  w.u16(p.id);
  if (!is_v5(v)) return;
  if (p.properties.empty()) {
    if (p.reason != ReasonCode::success) w.u8(u8_of(p.reason));
    return;
  }
  w.u8(u8_of(p.reason));
  write_props_block(p.properties, w);
}
void write_body(const PubAck& p, ProtocolVersion v, ByteWriter& w) { write_ack_body(p, v, w); }
void write_body(const PubRec& p, ProtocolVersion v, ByteWriter& w) { write_ack_body(p, v, w); }
void write_body(const PubRel& p, ProtocolVersion v, ByteWriter& w) { write_ack_body(p, v, w); }
void write_body(const PubComp& p, ProtocolVersion v, ByteWriter& w) { write_ack_body(p, v, w); }

void write_body(const Subscribe& p, ProtocolVersion v, ByteWriter& w) {
  w.u16(p.id);
  if (is_v5(v)) write_props_block(p.properties, w);
  for (const TopicSubscription& s : p.subscriptions) {
    w.string(s.filter);
    std::uint8_t o = u8_of(s.options.qos);
    if (is_v5(v)) {
      if (s.options.no_local) o |= 0x04;
      if (s.options.retain_as_published) o |= 0x08;
      o = static_cast<std::uint8_t>(o | ((s.options.retain_handling & 0x03u) << 4));
    }
    w.u8(o);
  }
}

void write_body(const SubAck& p, ProtocolVersion v, ByteWriter& w) {
  w.u16(p.id);
  if (is_v5(v)) write_props_block(p.properties, w);
  for (ReasonCode r : p.reasons) {
    // [MQTT-3.9.3] 3.1.1 knows only 0x00-0x02 and 0x80 (failure): every v5 error is 0x80.
    w.u8(!is_v5(v) && is_error(r) ? std::uint8_t{0x80} : u8_of(r));
  }
}

void write_body(const Unsubscribe& p, ProtocolVersion v, ByteWriter& w) {
  w.u16(p.id);
  if (is_v5(v)) write_props_block(p.properties, w);
  for (std::string_view f : p.filters) w.string(f);
}

void write_body(const UnsubAck& p, ProtocolVersion v, ByteWriter& w) {
  w.u16(p.id);
  if (!is_v5(v)) return;
  write_props_block(p.properties, w);
  for (ReasonCode r : p.reasons) w.u8(u8_of(r));
}

void write_body(const PingReq&, ProtocolVersion, ByteWriter&) {}
void write_body(const PingResp&, ProtocolVersion, ByteWriter&) {}

template <class P>
void write_reason_props_body(const P& p, ByteWriter& w) {
  if (p.properties.empty()) {
    if (p.reason != ReasonCode::success) w.u8(u8_of(p.reason));
    return;
  }
  w.u8(u8_of(p.reason));
  write_props_block(p.properties, w);
}
void write_body(const Disconnect& p, ProtocolVersion v, ByteWriter& w) {
  if (is_v5(v)) write_reason_props_body(p, w);
}
void write_body(const Auth& p, ProtocolVersion, ByteWriter& w) {
  w.u8(u8_of(p.reason));
  if (!p.properties.empty()) write_props_block(p.properties, w);
}

// ---- fixed-header type and flags ----

constexpr PacketType type_for(const Connect&) { return PacketType::connect; }
constexpr PacketType type_for(const ConnAck&) { return PacketType::connack; }
constexpr PacketType type_for(const Publish&) { return PacketType::publish; }
constexpr PacketType type_for(const PubAck&) { return PacketType::puback; }
constexpr PacketType type_for(const PubRec&) { return PacketType::pubrec; }
constexpr PacketType type_for(const PubRel&) { return PacketType::pubrel; }
constexpr PacketType type_for(const PubComp&) { return PacketType::pubcomp; }
constexpr PacketType type_for(const Subscribe&) { return PacketType::subscribe; }
constexpr PacketType type_for(const SubAck&) { return PacketType::suback; }
constexpr PacketType type_for(const Unsubscribe&) { return PacketType::unsubscribe; }
constexpr PacketType type_for(const UnsubAck&) { return PacketType::unsuback; }
constexpr PacketType type_for(const PingReq&) { return PacketType::pingreq; }
constexpr PacketType type_for(const PingResp&) { return PacketType::pingresp; }
constexpr PacketType type_for(const Disconnect&) { return PacketType::disconnect; }
constexpr PacketType type_for(const Auth&) { return PacketType::auth; }

template <class T>
std::uint8_t flags_for(const T&) noexcept {
  // [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1]: fixed flags 0b0010.
  if constexpr (std::is_same_v<T, PubRel> || std::is_same_v<T, Subscribe> ||
                std::is_same_v<T, Unsubscribe>) {
    return 0x02;
  } else {
    return 0x00;
  }
}
std::uint8_t flags_for(const Publish& p) noexcept {
  return static_cast<std::uint8_t>((p.dup ? 0x08u : 0u) | (unsigned{u8_of(p.qos)} << 1) |
                                   (p.retain ? 0x01u : 0u));
}

template <class T>
std::size_t size_of(const T& p, ProtocolVersion v) noexcept {
  return whole(body_size(p, v));
}

template <class T>
void encode_any(const T& p, ProtocolVersion v, ByteWriter& w) {
  [[maybe_unused]] const std::size_t start = w.size();
  const std::size_t body = body_size(p, v);
  assert(body <= kMaxRemainingLength);
  fixed_header(type_for(p), flags_for(p), body, w);
  write_body(p, v, w);
  assert(w.size() - start == whole(body));
}

}  // namespace

// ---- public overloads -----------------------------------------------------------------

#define WISP_PROTOCOL_ENCODER_IMPL(T)                                                        \
  std::size_t encoded_size(const T& p, ProtocolVersion v) noexcept { return size_of(p, v); } \
  void encode(const T& p, ProtocolVersion v, ByteWriter& w) { encode_any(p, v, w); }
WISP_PROTOCOL_ENCODER_IMPL(Connect)
WISP_PROTOCOL_ENCODER_IMPL(ConnAck)
WISP_PROTOCOL_ENCODER_IMPL(Publish)
WISP_PROTOCOL_ENCODER_IMPL(PubAck)
WISP_PROTOCOL_ENCODER_IMPL(PubRec)
WISP_PROTOCOL_ENCODER_IMPL(PubRel)
WISP_PROTOCOL_ENCODER_IMPL(PubComp)
WISP_PROTOCOL_ENCODER_IMPL(Subscribe)
WISP_PROTOCOL_ENCODER_IMPL(SubAck)
WISP_PROTOCOL_ENCODER_IMPL(Unsubscribe)
WISP_PROTOCOL_ENCODER_IMPL(UnsubAck)
WISP_PROTOCOL_ENCODER_IMPL(PingReq)
WISP_PROTOCOL_ENCODER_IMPL(PingResp)
WISP_PROTOCOL_ENCODER_IMPL(Disconnect)
WISP_PROTOCOL_ENCODER_IMPL(Auth)
#undef WISP_PROTOCOL_ENCODER_IMPL

std::size_t encoded_size(const Packet& p, ProtocolVersion v) noexcept {
  return std::visit([v](const auto& x) { return size_of(x, v); }, p);
}

void encode(const Packet& p, ProtocolVersion v, ByteWriter& w) {
  std::visit([v, &w](const auto& x) { encode_any(x, v, w); }, p);
}

std::vector<std::uint8_t> encode_to_vector(const Packet& p, ProtocolVersion v) {
  std::vector<std::uint8_t> out;
  out.reserve(encoded_size(p, v));
  ByteWriter w(out);
  encode(p, v, w);
  return out;
}

void encode_properties_body(const Properties& p, ByteWriter& w) {
  auto id = [&w](PropertyId i) { w.u8(static_cast<std::uint8_t>(i)); };
  auto byte = [&](PropertyId i, const std::optional<std::uint8_t>& x) {
    if (x) id(i), w.u8(*x);
  };
  auto two = [&](PropertyId i, const std::optional<std::uint16_t>& x) {
    if (x) id(i), w.u16(*x);
  };
  auto four = [&](PropertyId i, const std::optional<std::uint32_t>& x) {
    if (x) id(i), w.u32(*x);
  };
  auto str = [&](PropertyId i, const std::optional<std::string_view>& x) {
    if (x) id(i), w.string(*x);
  };
  auto bin = [&](PropertyId i, const std::optional<ByteSpan>& x) {
    if (x) id(i), w.binary(*x);
  };
  using P = PropertyId;
  byte(P::payload_format_indicator, p.payload_format_indicator);
  four(P::message_expiry_interval, p.message_expiry_interval);
  str(P::content_type, p.content_type);
  str(P::response_topic, p.response_topic);
  bin(P::correlation_data, p.correlation_data);
  for (std::uint32_t s : p.subscription_identifiers) id(P::subscription_identifier), w.varint(s);
  four(P::session_expiry_interval, p.session_expiry_interval);
  str(P::assigned_client_identifier, p.assigned_client_identifier);
  two(P::server_keep_alive, p.server_keep_alive);
  str(P::authentication_method, p.authentication_method);
  bin(P::authentication_data, p.authentication_data);
  byte(P::request_problem_information, p.request_problem_information);
  four(P::will_delay_interval, p.will_delay_interval);
  byte(P::request_response_information, p.request_response_information);
  str(P::response_information, p.response_information);
  str(P::server_reference, p.server_reference);
  str(P::reason_string, p.reason_string);
  two(P::receive_maximum, p.receive_maximum);
  two(P::topic_alias_maximum, p.topic_alias_maximum);
  two(P::topic_alias, p.topic_alias);
  byte(P::maximum_qos, p.maximum_qos);
  byte(P::retain_available, p.retain_available);
  for (const UserProperty& u : p.user_properties) {
    id(P::user_property);
    w.string(u.key);
    w.string(u.value);
  }
  four(P::maximum_packet_size, p.maximum_packet_size);
  byte(P::wildcard_subscription_available, p.wildcard_subscription_available);
  byte(P::subscription_identifier_available, p.subscription_identifier_available);
  byte(P::shared_subscription_available, p.shared_subscription_available);
}

// ---- fan-out PUBLISH head ---------------------------------------------------------------

namespace {

std::size_t head_props_size(const PublishHead& h) noexcept {
  std::size_t n = 0;
  if (h.message_expiry_s) n += 1 + 4;
  if (h.topic_alias != 0) n += 1 + 2;
  for (std::uint32_t id : h.subscription_ids) n += 1 + varint_size(id);
  return n;
}

// Remaining length of the whole PUBLISH described by `h`.
std::size_t head_remaining(const PublishHead& h, ProtocolVersion v) noexcept {
  std::size_t n = str_size(h.topic) + (h.qos != QoS::at_most_once ? 2 : 0) + h.payload_len;
  if (is_v5(v)) {
    const std::size_t props = head_props_size(h) + h.forwarded_props_len;
    n += varint_size(static_cast<std::uint32_t>(props)) + props;
  }
  return n;
}

}  // namespace

std::size_t publish_packet_size(const PublishHead& h, ProtocolVersion v) noexcept {
  return whole(head_remaining(h, v));
}

std::size_t publish_head_size(const PublishHead& h, ProtocolVersion v) noexcept {
  return publish_packet_size(h, v) - h.payload_len - (is_v5(v) ? h.forwarded_props_len : 0);
}

void encode_publish_head(const PublishHead& h, ProtocolVersion v, ByteWriter& w) {
  [[maybe_unused]] const std::size_t start = w.size();
  const std::uint8_t flags = static_cast<std::uint8_t>(
      (h.dup ? 0x08u : 0u) | (unsigned{u8_of(h.qos)} << 1) | (h.retain ? 0x01u : 0u));
  fixed_header(PacketType::publish, flags, head_remaining(h, v), w);
  w.string(h.topic);
  if (h.qos != QoS::at_most_once) w.u16(h.id);
  if (is_v5(v)) {
    w.varint(static_cast<std::uint32_t>(head_props_size(h) + h.forwarded_props_len));
    if (h.message_expiry_s) {
      w.u8(static_cast<std::uint8_t>(PropertyId::message_expiry_interval));
      w.u32(*h.message_expiry_s);
    }
    if (h.topic_alias != 0) {
      w.u8(static_cast<std::uint8_t>(PropertyId::topic_alias));
      w.u16(h.topic_alias);
    }
    for (std::uint32_t id : h.subscription_ids) {
      w.u8(static_cast<std::uint8_t>(PropertyId::subscription_identifier));
      w.varint(id);
    }
  }
  assert(w.size() - start == publish_head_size(h, v));
}

}  // namespace protocol
