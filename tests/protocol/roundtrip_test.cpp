// Round trip of every packet type and every MQTT 5 property, in 3.1.1 and 5.0: encode, then
// decode at every split point and one byte at a time, and compare field by field.
#include <doctest/doctest.h>

#include <string>

#include "codec_test_util.h"
#include "protocol/decoder.h"
#include "protocol/encoder.h"

using namespace protocol;
using namespace wisp_test;

namespace {

const std::uint8_t kBlob[] = {0x00, 0x01, 0xFE, 0xFF, 0x7F};
const ByteSpan kBin(kBlob);

Properties user_props() {
  Properties p;
  p.user_properties = {{"k", "v"}, {"k", "v2"}, {"", ""}, {"ключ", "värde"}};
  return p;
}

// All properties CONNECT may carry.
Properties connect_props() {
  Properties p = user_props();
  p.session_expiry_interval = 0xFFFFFFFF;
  p.receive_maximum = 20;
  p.maximum_packet_size = 1 << 20;
  p.topic_alias_maximum = 10;
  p.request_response_information = 1;
  p.request_problem_information = 0;
  p.authentication_method = "SCRAM-SHA-1";
  p.authentication_data = kBin;
  return p;
}

Properties will_props() {
  Properties p = user_props();
  p.will_delay_interval = 30;
  p.payload_format_indicator = 1;
  p.message_expiry_interval = 3600;
  p.content_type = "text/plain";
  p.response_topic = "reply/here";
  p.correlation_data = kBin;
  return p;
}

Properties connack_props() {
  Properties p = user_props();
  p.session_expiry_interval = 60;
  p.receive_maximum = 65535;
  p.maximum_qos = 1;
  p.retain_available = 0;
  p.maximum_packet_size = 268435460;
  p.assigned_client_identifier = "auto-1234";
  p.topic_alias_maximum = 0;
  p.reason_string = "welcome";
  p.wildcard_subscription_available = 1;
  p.subscription_identifier_available = 0;
  p.shared_subscription_available = 1;
  p.server_keep_alive = 120;
  p.response_information = "resp/";
  p.server_reference = "other:1883";
  p.authentication_method = "SCRAM-SHA-1";
  p.authentication_data = kBin;
  return p;
}

Properties publish_props() {
  Properties p = user_props();
  p.payload_format_indicator = 0;
  p.message_expiry_interval = 0;
  p.topic_alias = 65535;
  p.response_topic = "r";
  p.correlation_data = ByteSpan{};
  p.subscription_identifiers = {1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455};
  p.content_type = "";
  return p;
}

Properties reason_props() {
  Properties p = user_props();
  p.reason_string = "because";
  return p;
}

Properties disconnect_props() {
  Properties p = reason_props();
  p.session_expiry_interval = 0;
  p.server_reference = "elsewhere";
  return p;
}

Properties auth_props() {
  Properties p = reason_props();
  p.authentication_method = "SCRAM-SHA-1";
  p.authentication_data = kBin;
  return p;
}

std::vector<Packet> samples(ProtocolVersion v) {
  const bool v5 = v == ProtocolVersion::v5;
  auto props = [v5](Properties p) { return v5 ? p : Properties{}; };
  std::vector<Packet> out;

  Connect minimal;
  minimal.version = v;
  out.push_back(minimal);
  Connect full;
  full.version = v;
  full.clean_start = false;
  full.keep_alive_s = 65535;
  full.client_id = "client-ü";
  full.will = Will{"will/topic", kBin, QoS::exactly_once, true, props(will_props())};
  full.username = "user";
  full.password = kBin;
  full.properties = props(connect_props());
  out.push_back(full);
  Connect bridge = full;
  bridge.bridge = true;
  bridge.will->qos = QoS::at_least_once;
  bridge.will->retain = false;
  bridge.password.reset();
  out.push_back(bridge);

  out.push_back(ConnAck{});
  out.push_back(ConnAck{true, ReasonCode::success, props(connack_props())});
  out.push_back(ConnAck{false, ReasonCode::not_authorized, {}});

  Publish p0;
  p0.topic = "a/b";
  p0.payload = kBin;
  out.push_back(p0);
  Publish p1;
  p1.topic = "$SYS/x/ü";
  p1.qos = QoS::at_least_once;
  p1.id = 1;
  p1.dup = true;
  p1.retain = true;
  p1.properties = props(publish_props());
  out.push_back(p1);
  Publish p2;
  p2.topic = "t";
  p2.qos = QoS::exactly_once;
  p2.id = 65535;
  out.push_back(p2);
  if (v5) {
    Publish aliased;  // empty topic with an alias
    aliased.properties.topic_alias = 3;
    aliased.payload = kBin;
    out.push_back(aliased);
  }

  out.push_back(PubAck{7, ReasonCode::success, {}});
  out.push_back(PubRec{8, ReasonCode::success, {}});
  out.push_back(PubRel{9, ReasonCode::success, {}});
  out.push_back(PubComp{10, ReasonCode::success, {}});
  if (v5) {
    out.push_back(PubAck{7, ReasonCode::no_matching_subscribers, {}});
    out.push_back(PubAck{7, ReasonCode::quota_exceeded, reason_props()});
    out.push_back(PubAck{7, ReasonCode::success, reason_props()});
    out.push_back(PubRec{8, ReasonCode::payload_format_invalid, reason_props()});
    out.push_back(PubRel{9, ReasonCode::packet_identifier_not_found, reason_props()});
    out.push_back(PubComp{10, ReasonCode::packet_identifier_not_found, {}});
  }

  Subscribe s;
  s.id = 11;
  s.subscriptions.push_back({"a/+/c", {QoS::at_most_once}});
  s.subscriptions.push_back({"#", {QoS::exactly_once}});
  if (v5) {
    s.subscriptions.push_back({"x/#", {QoS::at_least_once, true, true, 2}});
    s.subscriptions.push_back({"$share/g/x", {QoS::at_least_once, false, false, 1}});
    s.properties.subscription_identifiers = {268435455};
    s.properties.user_properties = {{"a", "b"}};
  }
  out.push_back(s);

  SubAck sa;
  sa.id = 11;
  sa.reasons = {ReasonCode::granted_qos_0, ReasonCode::granted_qos_1, ReasonCode::granted_qos_2,
                ReasonCode::unspecified_error};
  if (v5) {
    sa.reasons.push_back(ReasonCode::shared_subscriptions_not_supported);
    sa.properties = reason_props();
  }
  out.push_back(sa);

  Unsubscribe u;
  u.id = 12;
  u.filters = {"a/+", "#", "$share/g/t"};
  u.properties = props(user_props());
  out.push_back(u);

  UnsubAck ua;
  ua.id = 12;
  if (v5) {
    ua.reasons = {ReasonCode::success, ReasonCode::no_subscription_existed,
                  ReasonCode::not_authorized};
    ua.properties = reason_props();
  }
  out.push_back(ua);

  out.push_back(PingReq{});
  out.push_back(PingResp{});
  out.push_back(Disconnect{});
  if (v5) {
    out.push_back(Disconnect{ReasonCode::disconnect_with_will_message, {}});
    out.push_back(Disconnect{ReasonCode::server_shutting_down, disconnect_props()});
    out.push_back(Auth{});
    out.push_back(Auth{ReasonCode::continue_authentication, auth_props()});
    out.push_back(Auth{ReasonCode::re_authenticate, {}});
  }
  return out;
}

void check_round_trip(const Packet& p, ProtocolVersion v) {
  CAPTURE(to_string(type_of(p)));
  const Bytes wire = encode_to_vector(p, v);
  CHECK(wire.size() == encoded_size(p, v));
  for_each_split(wire, [&](const Chunks& chunks) {
    const DecodeResult r = decode_all(chunks, v);
    REQUIRE_MESSAGE(!r.error, std::string(r.error ? r.error->detail : ""));
    REQUIRE(r.size() == 1);
    CHECK(r.packets[0].packet == p);
  });
}

}  // namespace

TEST_CASE("every packet type round trips in MQTT 3.1.1") {
  for (const Packet& p : samples(ProtocolVersion::v311)) check_round_trip(p, ProtocolVersion::v311);
}

TEST_CASE("every packet type and every property round trips in MQTT 5") {
  for (const Packet& p : samples(ProtocolVersion::v5)) check_round_trip(p, ProtocolVersion::v5);
}

TEST_CASE("CONNECT round trips in MQTT 3.1 (MQIsdp)") {
  for (const Packet& p : samples(ProtocolVersion::v31)) {
    if (const auto* c = std::get_if<Connect>(&p)) {
      Connect c31 = *c;
      c31.version = ProtocolVersion::v31;
      check_round_trip(c31, ProtocolVersion::v31);
    }
  }
}

TEST_CASE("the samples cover every MQTT 5 property") {
  std::size_t types_seen = 0;
  bool seen[16] = {};
  for (const Packet& p : samples(ProtocolVersion::v5)) {
    const auto t = static_cast<std::size_t>(type_of(p));
    if (!seen[t]) ++types_seen;
    seen[t] = true;
  }
  CHECK(types_seen == 15);
  // Every identifier appears in at least one encoded sample.
  bool ids[64] = {};
  auto mark = [&ids](const Properties& q) {
    if (q.payload_format_indicator) ids[0x01] = true;
    if (q.message_expiry_interval) ids[0x02] = true;
    if (q.content_type) ids[0x03] = true;
    if (q.response_topic) ids[0x08] = true;
    if (q.correlation_data) ids[0x09] = true;
    if (!q.subscription_identifiers.empty()) ids[0x0B] = true;
    if (q.session_expiry_interval) ids[0x11] = true;
    if (q.assigned_client_identifier) ids[0x12] = true;
    if (q.server_keep_alive) ids[0x13] = true;
    if (q.authentication_method) ids[0x15] = true;
    if (q.authentication_data) ids[0x16] = true;
    if (q.request_problem_information) ids[0x17] = true;
    if (q.will_delay_interval) ids[0x18] = true;
    if (q.request_response_information) ids[0x19] = true;
    if (q.response_information) ids[0x1A] = true;
    if (q.server_reference) ids[0x1C] = true;
    if (q.reason_string) ids[0x1F] = true;
    if (q.receive_maximum) ids[0x21] = true;
    if (q.topic_alias_maximum) ids[0x22] = true;
    if (q.topic_alias) ids[0x23] = true;
    if (q.maximum_qos) ids[0x24] = true;
    if (q.retain_available) ids[0x25] = true;
    if (!q.user_properties.empty()) ids[0x26] = true;
    if (q.maximum_packet_size) ids[0x27] = true;
    if (q.wildcard_subscription_available) ids[0x28] = true;
    if (q.subscription_identifier_available) ids[0x29] = true;
    if (q.shared_subscription_available) ids[0x2A] = true;
  };
  for (const Packet& p : samples(ProtocolVersion::v5)) {
    std::visit(
        [&mark](const auto& x) {
          if constexpr (requires { x.properties; }) mark(x.properties);
          if constexpr (std::is_same_v<std::decay_t<decltype(x)>, Connect>) {
            if (x.will) mark(x.will->properties);
          }
        },
        p);
  }
  int count = 0;
  for (bool b : ids) count += b ? 1 : 0;
  CHECK(count == 27);
}
