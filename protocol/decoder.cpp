// Incremental MQTT decoder. The framer reads the fixed header byte by byte, checks the maximum
// packet size against the remaining length before buffering anything, and decodes straight
// from the caller's span when a whole body is present (copying into partial_ only when a body
// is split across reads). decode_body() is a pure function of one complete body.
#include "protocol/decoder.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string_view>

#include "protocol/topic.h"

namespace protocol {
namespace {

constexpr ReasonCode kMalformed = ReasonCode::malformed_packet;
constexpr ReasonCode kProtocol = ReasonCode::protocol_error;
constexpr DecodeError kOk{ReasonCode::success, nullptr};

// Bounds-checked reader over one packet body; the only place bytes are read. The first
// failure sticks: later reads return zero/empty values and left() becomes 0, so loops end.
class Reader {
 public:
  explicit Reader(ByteSpan b) noexcept : b_(b) {}

  bool ok() const noexcept { return err_.detail == nullptr; }
  const DecodeError& error() const noexcept { return err_; }
  std::size_t left() const noexcept { return b_.size() - pos_; }

  void fail(ReasonCode r, const char* detail) noexcept {
    if (ok()) err_ = DecodeError{r, detail};
    pos_ = b_.size();
  }
  void fail(const DecodeError& e) noexcept { fail(e.reason, e.detail); }

  std::uint8_t u8() noexcept {
    if (left() < 1) return short_read(), 0;
    return b_[pos_++];
  }
  std::uint16_t u16() noexcept {
    if (left() < 2) return short_read(), 0;
    const auto v = static_cast<std::uint16_t>((b_[pos_] << 8) | b_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::uint32_t u32() noexcept {
    if (left() < 4) return short_read(), 0;
    const std::uint32_t v = (std::uint32_t{b_[pos_]} << 24) | (std::uint32_t{b_[pos_ + 1]} << 16) |
                            (std::uint32_t{b_[pos_ + 2]} << 8) | std::uint32_t{b_[pos_ + 3]};
    pos_ += 4;
    return v;
  }
  // Variable byte integer [MQTT-1.5.5]: at most 4 bytes, minimal encoding [MQTT-1.5.5-1].
  std::uint32_t varint() noexcept {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      if (left() < 1) return short_read(), 0;
      const std::uint8_t b = b_[pos_++];
      v |= std::uint32_t{b & 0x7Fu} << (7 * i);
      if ((b & 0x80) == 0) {
        if (i > 0 && b == 0) return fail(kMalformed, "variable byte integer not minimal"), 0;
        return v;
      }
    }
    return fail(kMalformed, "variable byte integer longer than 4 bytes"), 0;
  }
  ByteSpan take(std::size_t n) noexcept {
    if (left() < n) return short_read(), ByteSpan{};
    const ByteSpan s = b_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  ByteSpan rest() noexcept { return take(left()); }
  // Binary data: two-byte length + bytes [MQTT-1.5.6].
  ByteSpan binary() noexcept {
    const std::uint16_t n = u16();
    return take(n);
  }
  // UTF-8 encoded string [MQTT-1.5.4]; ill-formed UTF-8 is a malformed packet [MQTT-1.5.4-1].
  std::string_view utf8() noexcept {
    const ByteSpan s = binary();
    const std::string_view v(reinterpret_cast<const char*>(s.data()), s.size());
    if (!valid_utf8(v)) fail(kMalformed, "invalid UTF-8 string");
    return v;
  }

 private:
  void short_read() noexcept { fail(kMalformed, "packet shorter than its fields"); }

  ByteSpan b_;
  std::size_t pos_ = 0;
  DecodeError err_{ReasonCode::success, nullptr};  // detail == nullptr: no error
};

bool has_wildcard(std::string_view s) noexcept {
  if (s.empty()) return false;  // memchr() wants a non-null pointer
  return std::memchr(s.data(), '+', s.size()) != nullptr ||
         std::memchr(s.data(), '#', s.size()) != nullptr;
}

bool in(std::uint8_t v, std::initializer_list<std::uint8_t> set) noexcept {
  return std::find(set.begin(), set.end(), v) != set.end();
}

// ---- properties -------------------------------------------------------------------------

// Which packet a property list belongs to; selects the allowed set [MQTT-2.2.2.2].
enum class PropCtx : std::uint8_t {
  connect,
  will,
  connack,
  publish,
  ack,  // PUBACK, PUBREC, PUBREL, PUBCOMP
  subscribe,
  suback,
  unsubscribe,
  unsuback,
  disconnect,
  auth,
};

constexpr std::uint64_t bit(PropertyId id) noexcept {
  return std::uint64_t{1} << static_cast<std::uint8_t>(id);
}
template <class... Ids>
constexpr std::uint64_t bits(Ids... ids) noexcept {
  return (bit(ids) | ...);
}

using P = PropertyId;
constexpr std::uint64_t allowed_properties(PropCtx c) noexcept {
  switch (c) {
    case PropCtx::connect:
      return bits(P::session_expiry_interval, P::receive_maximum, P::maximum_packet_size,
                  P::topic_alias_maximum, P::request_response_information,
                  P::request_problem_information, P::user_property, P::authentication_method,
                  P::authentication_data);
    case PropCtx::will:
      return bits(P::will_delay_interval, P::payload_format_indicator, P::message_expiry_interval,
                  P::content_type, P::response_topic, P::correlation_data, P::user_property);
    case PropCtx::connack:
      return bits(P::session_expiry_interval, P::receive_maximum, P::maximum_qos,
                  P::retain_available, P::maximum_packet_size, P::assigned_client_identifier,
                  P::topic_alias_maximum, P::reason_string, P::user_property,
                  P::wildcard_subscription_available, P::subscription_identifier_available,
                  P::shared_subscription_available, P::server_keep_alive, P::response_information,
                  P::server_reference, P::authentication_method, P::authentication_data);
    case PropCtx::publish:
      return bits(P::payload_format_indicator, P::message_expiry_interval, P::topic_alias,
                  P::response_topic, P::correlation_data, P::user_property,
                  P::subscription_identifier, P::content_type);
    case PropCtx::ack:
    case PropCtx::suback:
    case PropCtx::unsuback: return bits(P::reason_string, P::user_property);
    case PropCtx::subscribe: return bits(P::subscription_identifier, P::user_property);
    case PropCtx::unsubscribe: return bits(P::user_property);
    case PropCtx::disconnect:
      return bits(P::session_expiry_interval, P::reason_string, P::user_property,
                  P::server_reference);
    case PropCtx::auth:
      return bits(P::authentication_method, P::authentication_data, P::reason_string,
                  P::user_property);
  }
  return 0;
}

// A byte property that may only be 0 or 1.
void read_flag(Reader& r, std::optional<std::uint8_t>& out, const char* detail) {
  out = r.u8();
  if (*out > 1) r.fail(kProtocol, detail);
}

void read_one_property(Reader& r, PropertyId id, Properties& p) {
  switch (id) {
    case P::payload_format_indicator:
      read_flag(r, p.payload_format_indicator, "payload format indicator not 0 or 1");
      return;
    case P::message_expiry_interval: p.message_expiry_interval = r.u32(); return;
    case P::content_type: p.content_type = r.utf8(); return;
    case P::response_topic: {
      p.response_topic = r.utf8();
      // [MQTT-3.3.2-14] a Topic Name: no wildcards.
      if (r.ok() && !valid_topic_name(*p.response_topic)) {
        r.fail(kProtocol, "response topic is not a valid topic name");
      }
      return;
    }
    case P::correlation_data: p.correlation_data = r.binary(); return;
    case P::subscription_identifier: {
      const std::uint32_t v = r.varint();
      if (r.ok() && v == 0) r.fail(kProtocol, "subscription identifier 0");
      p.subscription_identifiers.push_back(v);
      return;
    }
    case P::session_expiry_interval: p.session_expiry_interval = r.u32(); return;
    case P::assigned_client_identifier: p.assigned_client_identifier = r.utf8(); return;
    case P::server_keep_alive: p.server_keep_alive = r.u16(); return;
    case P::authentication_method: p.authentication_method = r.utf8(); return;
    case P::authentication_data: p.authentication_data = r.binary(); return;
    case P::request_problem_information:
      read_flag(r, p.request_problem_information, "request problem information not 0 or 1");
      return;
    case P::will_delay_interval: p.will_delay_interval = r.u32(); return;
    case P::request_response_information:
      read_flag(r, p.request_response_information, "request response information not 0 or 1");
      return;
    case P::response_information: p.response_information = r.utf8(); return;
    case P::server_reference: p.server_reference = r.utf8(); return;
    case P::reason_string: p.reason_string = r.utf8(); return;
    case P::receive_maximum:
      p.receive_maximum = r.u16();
      if (r.ok() && *p.receive_maximum == 0) r.fail(kProtocol, "receive maximum 0");
      return;
    case P::topic_alias_maximum: p.topic_alias_maximum = r.u16(); return;
    case P::topic_alias:
      p.topic_alias = r.u16();
      // [MQTT-3.3.2-8] alias 0 is a protocol error answered with 0x94 (section 3.3.2.3.4).
      if (r.ok() && *p.topic_alias == 0) r.fail(ReasonCode::topic_alias_invalid, "topic alias 0");
      return;
    case P::maximum_qos: read_flag(r, p.maximum_qos, "maximum QoS not 0 or 1"); return;
    case P::retain_available:
      read_flag(r, p.retain_available, "retain available not 0 or 1");
      return;
    case P::user_property: {
      UserProperty u;
      u.key = r.utf8();
      u.value = r.utf8();
      p.user_properties.push_back(u);
      return;
    }
    case P::maximum_packet_size:
      p.maximum_packet_size = r.u32();
      if (r.ok() && *p.maximum_packet_size == 0) r.fail(kProtocol, "maximum packet size 0");
      return;
    case P::wildcard_subscription_available:
      read_flag(r, p.wildcard_subscription_available, "wildcard subscription available not 0 or 1");
      return;
    case P::subscription_identifier_available:
      read_flag(r, p.subscription_identifier_available,
                "subscription identifier available not 0 or 1");
      return;
    case P::shared_subscription_available:
      read_flag(r, p.shared_subscription_available, "shared subscription available not 0 or 1");
      return;
  }
}

// Property length + property list [MQTT-2.2.2]. Cheap when absent (one zero byte).
void read_properties(Reader& r, PropCtx ctx, Properties& p) {
  const std::uint32_t len = r.varint();
  if (!r.ok() || len == 0) return;
  if (len > r.left()) return r.fail(kMalformed, "property length exceeds packet");
  Reader pr(r.take(len));
  const std::uint64_t allowed = allowed_properties(ctx);
  std::uint64_t seen = 0;
  while (pr.ok() && pr.left() > 0) {
    // The identifier is a variable byte integer; every defined one fits in a single byte.
    const std::uint8_t raw = pr.u8();
    if (raw >= 64 || (allowed & (std::uint64_t{1} << raw)) == 0) {
      // [MQTT-2.2.2-2] an identifier not valid for the packet type is a malformed packet.
      pr.fail(kMalformed, "property not allowed in this packet");
      break;
    }
    const auto id = static_cast<PropertyId>(raw);
    const std::uint64_t b = bit(id);
    const bool may_repeat =
        id == P::user_property || (id == P::subscription_identifier && ctx == PropCtx::publish);
    if ((seen & b) != 0 && !may_repeat) {
      pr.fail(kProtocol, "property included more than once");
      break;
    }
    seen |= b;
    read_one_property(pr, id, p);
  }
  if (!pr.ok()) return r.fail(pr.error());
  // [MQTT-3.1.2.11.10] Authentication Data without Authentication Method: protocol error.
  if (p.authentication_data && !p.authentication_method) {
    r.fail(kProtocol, "authentication data without authentication method");
  }
}

// ---- fixed header -----------------------------------------------------------------------

// An error with detail == nullptr means the header is fine.
DecodeError check_fixed_header(std::uint8_t type, std::uint8_t flags, ProtocolVersion v) noexcept {
  if (type == 0) return DecodeError{kMalformed, "reserved packet type 0"};
  if (type == static_cast<std::uint8_t>(PacketType::auth) && v != ProtocolVersion::v5) {
    return DecodeError{kMalformed, "AUTH packet before MQTT 5"};
  }
  const auto t = static_cast<PacketType>(type);
  if (t == PacketType::publish) {
    // [MQTT-3.3.1-4] both QoS bits set -> malformed.
    if ((flags & 0x06) == 0x06) return DecodeError{kMalformed, "QoS 3 in PUBLISH"};
    return kOk;
  }
  // [MQTT-2.2.2-1/2]: fixed flags; 0b0010 for PUBREL, SUBSCRIBE, UNSUBSCRIBE.
  const bool two =
      t == PacketType::pubrel || t == PacketType::subscribe || t == PacketType::unsubscribe;
  if (flags != (two ? 0x02 : 0x00)) return DecodeError{kMalformed, "reserved flag bits"};
  return kOk;
}

// ---- packets ------------------------------------------------------------------------------

bool is_v5(ProtocolVersion v) noexcept { return v == ProtocolVersion::v5; }

PacketId read_id(Reader& r) {
  const PacketId id = r.u16();
  // [MQTT-2.2.1-3] SUBSCRIBE, UNSUBSCRIBE and PUBLISH QoS>0 need a non-zero identifier.
  if (r.ok() && id == 0) r.fail(kProtocol, "packet identifier 0");
  return id;
}

void decode_connect(Reader& r, Connect& p) {
  const ByteSpan name_bytes = r.binary();
  const std::uint8_t level = r.u8();
  if (!r.ok()) return;
  const std::string_view name(reinterpret_cast<const char*>(name_bytes.data()), name_bytes.size());
  p.bridge = (level & 0x80) != 0;
  const std::uint8_t lvl = level & 0x7F;
  if (name == "MQTT") {
    // [MQTT-3.1.2-2] unsupported level -> CONNACK 0x84 / return code 1.
    if (lvl != 4 && lvl != 5) return r.fail(ReasonCode::unsupported_protocol_version, "level");
    p.version = static_cast<ProtocolVersion>(lvl);
  } else if (name == "MQIsdp") {
    if (lvl != 3) return r.fail(ReasonCode::unsupported_protocol_version, "MQIsdp level");
    p.version = ProtocolVersion::v31;
  } else {
    return r.fail(kProtocol, "unknown protocol name");  // [MQTT-3.1.2-1]
  }
  const bool v5 = is_v5(p.version);
  const std::uint8_t flags = r.u8();
  if (!r.ok()) return;
  // [MQTT-3.1.2-3] reserved flag must be 0.
  if ((flags & 0x01) != 0) return r.fail(kMalformed, "CONNECT reserved flag set");
  p.clean_start = (flags & 0x02) != 0;
  const bool will = (flags & 0x04) != 0;
  const auto will_qos = static_cast<std::uint8_t>((flags >> 3) & 0x03);
  const bool will_retain = (flags & 0x20) != 0;
  const bool has_password = (flags & 0x40) != 0;
  const bool has_username = (flags & 0x80) != 0;
  // [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]: no will -> will QoS 0, will retain 0.
  if (!will && will_qos != 0) return r.fail(kMalformed, "will QoS without will flag");
  if (!will && will_retain) return r.fail(kMalformed, "will retain without will flag");
  // [MQTT-3.1.2-14] will QoS 3.
  if (will_qos == 3) return r.fail(kMalformed, "will QoS 3");
  // [MQTT-3.1.2-22] v3.1.1: password flag needs the user name flag (v5 allows it).
  if (!v5 && has_password && !has_username) {
    return r.fail(kMalformed, "password without user name");
  }
  p.keep_alive_s = r.u16();
  if (v5) read_properties(r, PropCtx::connect, p.properties);
  p.client_id = r.utf8();
  if (will) {
    Will& w = p.will.emplace();
    w.qos = static_cast<QoS>(will_qos);
    w.retain = will_retain;
    if (v5) read_properties(r, PropCtx::will, w.properties);
    w.topic = r.utf8();
    if (r.ok() && !valid_topic_name(w.topic)) {
      return r.fail(ReasonCode::topic_name_invalid, "will topic is not a valid topic name");
    }
    w.payload = r.binary();
  }
  if (has_username) p.username = r.utf8();
  if (has_password) p.password = r.binary();
}

void decode_connack(Reader& r, ProtocolVersion v, ConnAck& p) {
  const std::uint8_t flags = r.u8();
  const std::uint8_t code = r.u8();
  if (!r.ok()) return;
  // [MQTT-3.2.2-1] bits 7-1 reserved.
  if ((flags & 0xFE) != 0) return r.fail(kMalformed, "CONNACK reserved flag bits");
  p.session_present = (flags & 0x01) != 0;
  if (is_v5(v)) {
    if (!in(code, {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                   0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F})) {
      return r.fail(kProtocol, "invalid CONNACK reason code");
    }
    p.reason = static_cast<ReasonCode>(code);
    read_properties(r, PropCtx::connack, p.properties);
  } else {
    if (code > 5) return r.fail(kMalformed, "invalid CONNACK return code");
    p.reason = from_connack_v311(static_cast<ConnackV311>(code));
  }
  // [MQTT-3.2.2-4], [MQTT-3.2.2-6]: session present only with success.
  if (p.session_present && p.reason != ReasonCode::success) {
    r.fail(kProtocol, "session present with an error reason");
  }
}

void decode_publish(Reader& r, std::uint8_t flags, ProtocolVersion v, Publish& p) {
  p.retain = (flags & 0x01) != 0;
  p.qos = static_cast<QoS>((flags >> 1) & 0x03);  // QoS 3 rejected by check_fixed_header
  p.dup = (flags & 0x08) != 0;
  // [MQTT-3.3.1-2] DUP must be 0 for QoS 0.
  if (p.dup && p.qos == QoS::at_most_once) return r.fail(kMalformed, "DUP set on QoS 0");
  p.topic = r.utf8();
  if (r.ok() && has_wildcard(p.topic)) {
    return r.fail(ReasonCode::topic_name_invalid, "wildcard in PUBLISH topic");  // [MQTT-3.3.2-2]
  }
  if (p.qos != QoS::at_most_once) p.id = read_id(r);
  if (is_v5(v)) read_properties(r, PropCtx::publish, p.properties);
  p.payload = r.rest();  // a view; payload format is not checked here (the engine may)
  if (r.ok() && p.topic.empty()) {
    if (!is_v5(v)) return r.fail(ReasonCode::topic_name_invalid, "empty topic name");
    // [MQTT-3.3.2.3.4] v5: a zero-length topic is allowed only with a Topic Alias.
    if (!p.properties.topic_alias) return r.fail(kProtocol, "empty topic without topic alias");
  }
}

template <class Ack>
void decode_ack(Reader& r, ProtocolVersion v, std::initializer_list<std::uint8_t> reasons, Ack& p) {
  p.id = read_id(r);
  if (!is_v5(v) || r.left() == 0) return;  // v5: reason and properties may be omitted
  const std::uint8_t code = r.u8();
  if (!in(code, reasons)) return r.fail(kProtocol, "invalid reason code for this packet");
  p.reason = static_cast<ReasonCode>(code);
  if (r.left() > 0) read_properties(r, PropCtx::ack, p.properties);
}

constexpr std::initializer_list<std::uint8_t> kPubAckReasons = {0x00, 0x10, 0x80, 0x83, 0x87,
                                                                0x90, 0x91, 0x97, 0x99};
constexpr std::initializer_list<std::uint8_t> kPubRelReasons = {0x00, 0x92};

void decode_subscribe(Reader& r, ProtocolVersion v, Subscribe& p) {
  p.id = read_id(r);
  if (is_v5(v)) read_properties(r, PropCtx::subscribe, p.properties);
  // [MQTT-3.8.3-3] at least one topic filter.
  if (r.ok() && r.left() == 0) return r.fail(kProtocol, "SUBSCRIBE without topic filters");
  while (r.left() > 0) {
    TopicSubscription s;
    s.filter = r.utf8();
    const std::uint8_t o = r.u8();
    if (!r.ok()) return;
    if ((o & 0x03) == 0x03) return r.fail(kMalformed, "subscription QoS 3");
    s.options.qos = static_cast<QoS>(o & 0x03);
    if (is_v5(v)) {
      // [MQTT-3.8.3-5] bits 6-7 reserved.
      if ((o & 0xC0) != 0) return r.fail(kMalformed, "subscription options reserved bits");
      s.options.no_local = (o & 0x04) != 0;
      s.options.retain_as_published = (o & 0x08) != 0;
      s.options.retain_handling = static_cast<std::uint8_t>((o >> 4) & 0x03);
      if (s.options.retain_handling == 3) return r.fail(kProtocol, "retain handling 3");
      // [MQTT-3.8.3-4] No Local on a shared subscription.
      if (s.options.no_local && is_shared(s.filter)) {
        return r.fail(kProtocol, "no local on a shared subscription");
      }
    } else if ((o & 0xFC) != 0) {
      return r.fail(kMalformed, "requested QoS reserved bits");  // [MQTT-3.8.3-4] (3.1.1)
    }
    p.subscriptions.push_back(s);
  }
}

void decode_suback(Reader& r, ProtocolVersion v, SubAck& p) {
  p.id = read_id(r);
  if (is_v5(v)) read_properties(r, PropCtx::suback, p.properties);
  if (r.ok() && r.left() == 0) return r.fail(kProtocol, "SUBACK without reason codes");
  p.reasons.reserve(r.left());
  while (r.left() > 0) {
    const std::uint8_t code = r.u8();
    if (is_v5(v)) {
      if (!in(code, {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2})) {
        return r.fail(kProtocol, "invalid SUBACK reason code");
      }
    } else if (!in(code, {0x00, 0x01, 0x02, 0x80})) {
      return r.fail(kMalformed, "invalid SUBACK return code");
    }
    p.reasons.push_back(static_cast<ReasonCode>(code));
  }
}

void decode_unsubscribe(Reader& r, ProtocolVersion v, Unsubscribe& p) {
  p.id = read_id(r);
  if (is_v5(v)) read_properties(r, PropCtx::unsubscribe, p.properties);
  // [MQTT-3.10.3-2] at least one topic filter.
  if (r.ok() && r.left() == 0) return r.fail(kProtocol, "UNSUBSCRIBE without topic filters");
  while (r.left() > 0) p.filters.push_back(r.utf8());
}

void decode_unsuback(Reader& r, ProtocolVersion v, UnsubAck& p) {
  p.id = read_id(r);
  if (!is_v5(v)) return;
  read_properties(r, PropCtx::unsuback, p.properties);
  if (r.ok() && r.left() == 0) return r.fail(kProtocol, "UNSUBACK without reason codes");
  p.reasons.reserve(r.left());
  while (r.left() > 0) {
    const std::uint8_t code = r.u8();
    if (!in(code, {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91})) {
      return r.fail(kProtocol, "invalid UNSUBACK reason code");
    }
    p.reasons.push_back(static_cast<ReasonCode>(code));
  }
}

void decode_disconnect(Reader& r, ProtocolVersion v, Disconnect& p) {
  if (!is_v5(v) || r.left() == 0) return;  // [MQTT-3.14.2.1] empty body = normal
  const std::uint8_t code = r.u8();
  if (!in(code,
          {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
           0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2})) {
    return r.fail(kProtocol, "invalid DISCONNECT reason code");
  }
  p.reason = static_cast<ReasonCode>(code);
  if (r.left() > 0) read_properties(r, PropCtx::disconnect, p.properties);
}

void decode_auth(Reader& r, Auth& p) {
  if (r.left() == 0) return;  // [MQTT-3.15.2.1] empty body = success
  const std::uint8_t code = r.u8();
  if (!in(code, {0x00, 0x18, 0x19})) return r.fail(kProtocol, "invalid AUTH reason code");
  p.reason = static_cast<ReasonCode>(code);
  if (r.left() > 0) read_properties(r, PropCtx::auth, p.properties);
}

// The version a CONNECT body claims (protocol name + level), if it is one we speak.
std::optional<ProtocolVersion> claimed_version(ByteSpan body) noexcept {
  Reader r(body);
  const ByteSpan name = r.binary();
  const auto level = static_cast<std::uint8_t>(r.u8() & 0x7F);
  if (!r.ok()) return std::nullopt;
  const std::string_view n(reinterpret_cast<const char*>(name.data()), name.size());
  if (n == "MQTT" && (level == 4 || level == 5)) return static_cast<ProtocolVersion>(level);
  if (n == "MQIsdp" && level == 3) return ProtocolVersion::v31;
  return std::nullopt;
}

// Decodes into `out` (emplacing the right alternative); returns the error if any.
DecodeError decode_into(const FixedHeader& h, ByteSpan body, ProtocolVersion v, Packet& out) {
  if (auto e = check_fixed_header(static_cast<std::uint8_t>(h.type), h.flags, v); e.detail) {
    return e;
  }
  Reader r(body);
  switch (h.type) {
    case PacketType::connect: decode_connect(r, out.emplace<Connect>()); break;
    case PacketType::connack: decode_connack(r, v, out.emplace<ConnAck>()); break;
    case PacketType::publish: decode_publish(r, h.flags, v, out.emplace<Publish>()); break;
    case PacketType::puback: decode_ack(r, v, kPubAckReasons, out.emplace<PubAck>()); break;
    case PacketType::pubrec: decode_ack(r, v, kPubAckReasons, out.emplace<PubRec>()); break;
    case PacketType::pubrel: decode_ack(r, v, kPubRelReasons, out.emplace<PubRel>()); break;
    case PacketType::pubcomp: decode_ack(r, v, kPubRelReasons, out.emplace<PubComp>()); break;
    case PacketType::subscribe: decode_subscribe(r, v, out.emplace<Subscribe>()); break;
    case PacketType::suback: decode_suback(r, v, out.emplace<SubAck>()); break;
    case PacketType::unsubscribe: decode_unsubscribe(r, v, out.emplace<Unsubscribe>()); break;
    case PacketType::unsuback: decode_unsuback(r, v, out.emplace<UnsubAck>()); break;
    case PacketType::pingreq: out.emplace<PingReq>(); break;
    case PacketType::pingresp: out.emplace<PingResp>(); break;
    case PacketType::disconnect: decode_disconnect(r, v, out.emplace<Disconnect>()); break;
    case PacketType::auth: decode_auth(r, out.emplace<Auth>()); break;
    default: return DecodeError{kMalformed, "reserved packet type"};
  }
  if (!r.ok()) return r.error();
  if (r.left() != 0) return DecodeError{kMalformed, "bytes after the end of the packet"};
  return kOk;
}

}  // namespace

std::variant<Packet, DecodeError> decode_body(const FixedHeader& header, ByteSpan body,
                                              ProtocolVersion version) {
  std::variant<Packet, DecodeError> out{std::in_place_type<Packet>, std::in_place_type<PingReq>};
  const DecodeError e = decode_into(header, body, version, std::get<Packet>(out));
  if (e.detail != nullptr) out = e;
  return out;
}

// ---- Decoder (framer) -------------------------------------------------------------------

Decoder::Decoder(Limits limits) noexcept : limits_(limits) {}

void Decoder::fail(DecodeError e) noexcept {
  failed_ = true;
  error_ = e;
  // A failed decoder holds nothing: the connection is about to be closed.
  header_len_ = 0;
  header_done_ = false;
  partial_handed_out_ = false;
  std::vector<std::uint8_t>().swap(partial_);
}

bool Decoder::frame(ByteSpan& in, ByteSpan& body) {
  if (partial_handed_out_) {
    // The previous packet's views pointed into partial_; they are now invalid by contract.
    partial_handed_out_ = false;
    partial_.clear();
    // Do not let one large packet pin its buffer for the connection's lifetime.
    if (partial_.capacity() > (std::size_t{256} << 10)) std::vector<std::uint8_t>().swap(partial_);
  }

  while (!header_done_) {
    if (in.empty()) return false;
    const std::uint8_t b = in.front();
    in = in.subspan(1);
    header_[header_len_++] = b;
    if (header_len_ == 1) {
      // Reject a bad first byte before buffering anything of its body.
      const DecodeError e = check_fixed_header(static_cast<std::uint8_t>(b >> 4),
                                               static_cast<std::uint8_t>(b & 0x0F), version_);
      if (e.detail != nullptr) {
        fail(e);
        return false;
      }
      continue;
    }
    if ((b & 0x80) != 0) {
      // [MQTT-1.5.5] at most 4 bytes of remaining length.
      if (header_len_ == 5) {
        fail({kMalformed, "remaining length longer than 4 bytes"});
        return false;
      }
      continue;
    }
    if (header_len_ > 2 && b == 0) {
      fail({kMalformed, "remaining length not minimal"});
      return false;
    }
    std::uint32_t rl = 0;
    for (std::size_t i = 1; i < header_len_; ++i) {
      rl |= std::uint32_t{header_[i] & 0x7Fu} << (7 * (i - 1));
    }
    // The size limit is checked before a single body byte is buffered [MQTT-3.1.2-24].
    if (std::uint64_t{header_len_} + rl > limits_.max_packet_bytes) {
      fail({ReasonCode::packet_too_large, "packet larger than the maximum packet size"});
      return false;
    }
    fixed_.type = static_cast<PacketType>(header_[0] >> 4);
    fixed_.flags = static_cast<std::uint8_t>(header_[0] & 0x0F);
    fixed_.remaining_length = rl;
    header_done_ = true;
  }

  const std::size_t rl = fixed_.remaining_length;
  if (partial_.empty() && in.size() >= rl) {
    body = in.first(rl);  // whole body present: decode in place, no copy
    in = in.subspan(rl);
  } else {
    if (partial_.empty()) partial_.reserve(std::min<std::size_t>(rl, std::size_t{1} << 20));
    const std::size_t take = std::min(in.size(), rl - partial_.size());
    partial_.insert(partial_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(take));
    in = in.subspan(take);
    if (partial_.size() < rl) return false;
    body = partial_;
    partial_handed_out_ = true;
  }
  header_done_ = false;
  header_len_ = 0;
  return true;
}

DecodeStep Decoder::next(ByteSpan& in) {
  // Every path returns `step`, so it is constructed in the caller's slot (no Packet moves).
  DecodeStep step;  // NeedMore
  ByteSpan body;
  if (failed_ || !frame(in, body)) {
    if (failed_) step = error_;
    return step;
  }
  // Start from the trivial alternative; decode_into() emplaces the real one in place.
  Packet& packet = step.emplace<Packet>(std::in_place_type<PingReq>);
  const DecodeError e = decode_into(fixed_, body, version_, packet);
  if (e.detail != nullptr) {
    // A rejected first CONNECT still tells which version to answer in (CONNACK 0x81/0x82...).
    if (!version_known_ && fixed_.type == PacketType::connect) {
      if (auto v = claimed_version(body)) version_ = *v;
    }
    fail(e);
    step = e;
    return step;
  }
  if (!version_known_) {
    if (const auto* c = std::get_if<Connect>(&packet)) {
      version_ = c->version;
      version_known_ = true;
    }
  }
  return step;
}

}  // namespace protocol
