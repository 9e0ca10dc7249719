// Encoder details: variable byte integers, size-first contract, and the fan-out PUBLISH head
// (head | forwarded properties | payload) matching a fully encoded PUBLISH.
#include "protocol/encoder.h"

#include <doctest/doctest.h>

#include "codec_test_util.h"

using namespace protocol;
using namespace wisp_test;

TEST_CASE("variable byte integers at every size boundary") {
  struct Case {
    std::uint32_t value;
    Bytes wire;
  };
  const Case cases[] = {
      {0, {0x00}},
      {127, {0x7F}},
      {128, {0x80, 0x01}},
      {16383, {0xFF, 0x7F}},
      {16384, {0x80, 0x80, 0x01}},
      {2097151, {0xFF, 0xFF, 0x7F}},
      {2097152, {0x80, 0x80, 0x80, 0x01}},
      {268435455, {0xFF, 0xFF, 0xFF, 0x7F}},
  };
  for (const Case& c : cases) {
    Bytes out;
    ByteWriter w(out);
    w.varint(c.value);
    CHECK(out == c.wire);
    CHECK(varint_size(c.value) == c.wire.size());
  }
}

TEST_CASE("encode appends to a reused buffer without touching what is already there") {
  Bytes buf = {0xAB};
  ByteWriter w(buf);
  encode(PingReq{}, ProtocolVersion::v311, w);
  encode(PubAck{3, ReasonCode::success, {}}, ProtocolVersion::v311, w);
  CHECK(buf == bytes({0xAB, 0xC0, 0x00, 0x40, 0x02, 0x00, 0x03}));
  CHECK(w.size() == 7);
}

TEST_CASE("a large PUBLISH uses a multi-byte remaining length") {
  Bytes payload(200000, 0x01);
  Publish p;
  p.topic = "t";
  p.payload = payload;
  const Bytes wire = encode_to_vector(p, ProtocolVersion::v311);
  CHECK(wire.size() == 1 + 3 + 3 + 200000);
  CHECK(wire[1] == (0x80 | (200003 & 0x7F)));
  const Owned o = decode_one(wire, ProtocolVersion::v311);
  CHECK(o.packet == Packet{p});
}

namespace {

// Head + forwarded block + payload, as the write pump assembles them.
Bytes fan_out(const PublishHead& h, ByteSpan forwarded, ByteSpan payload, ProtocolVersion v) {
  Bytes out;
  ByteWriter w(out);
  encode_publish_head(h, v, w);
  CHECK(out.size() == publish_head_size(h, v));
  if (v == ProtocolVersion::v5) w.bytes(forwarded);
  w.bytes(payload);
  CHECK(out.size() == publish_packet_size(h, v));
  return out;
}

}  // namespace

TEST_CASE("the fan-out PUBLISH head plus shared tail decodes to the full message") {
  const std::uint8_t payload_bytes[] = {'h', 'e', 'l', 'l', 'o'};
  const ByteSpan payload(payload_bytes);
  // Forwarded properties, encoded once on receipt.
  Properties fwd;
  fwd.content_type = "text/plain";
  fwd.user_properties = {{"a", "1"}, {"b", "2"}};
  Bytes fwd_block;
  ByteWriter fw(fwd_block);
  encode_properties_body(fwd, fw);
  REQUIRE(fwd_block.size() == properties_body_size(fwd));

  const std::uint32_t sub_ids[] = {7, 300};
  for (auto v : {ProtocolVersion::v311, ProtocolVersion::v5}) {
    for (QoS q : {QoS::at_most_once, QoS::at_least_once, QoS::exactly_once}) {
      for (bool alias : {false, true}) {
        CAPTURE(static_cast<int>(v));
        CAPTURE(static_cast<int>(q));
        CAPTURE(alias);
        PublishHead h;
        h.topic = alias && v == ProtocolVersion::v5 ? std::string_view{} : "s/t";
        h.qos = q;
        h.retain = true;
        h.dup = q != QoS::at_most_once;
        h.id = q == QoS::at_most_once ? 0 : 513;
        h.topic_alias = alias ? 4 : 0;
        h.message_expiry_s = 99;
        h.subscription_ids = sub_ids;
        h.forwarded_props_len = fwd_block.size();
        h.payload_len = payload.size();
        const Bytes wire = fan_out(h, fwd_block, payload, v);

        Publish expect;
        expect.topic = h.topic;
        expect.qos = q;
        expect.retain = true;
        expect.dup = h.dup;
        expect.id = h.id;
        expect.payload = payload;
        if (v == ProtocolVersion::v5) {
          expect.properties = fwd;
          expect.properties.message_expiry_interval = 99;
          if (alias) expect.properties.topic_alias = 4;
          expect.properties.subscription_identifiers = {7, 300};
        }
        const Owned o = decode_one(wire, v);
        CHECK(o.packet == Packet{expect});
      }
    }
  }
}

TEST_CASE("the fan-out head without per-subscriber properties matches encode(Publish)") {
  const std::uint8_t payload_bytes[] = {1, 2, 3};
  PublishHead h;
  h.topic = "x/y";
  h.qos = QoS::at_least_once;
  h.id = 5;
  h.payload_len = 3;
  Publish p;
  p.topic = "x/y";
  p.qos = QoS::at_least_once;
  p.id = 5;
  p.payload = payload_bytes;
  for (auto v : {ProtocolVersion::v311, ProtocolVersion::v5}) {
    CHECK(fan_out(h, {}, p.payload, v) == encode_to_vector(p, v));
  }
}

TEST_CASE("SUBACK in 3.1.1 encodes every v5 error reason as 0x80 failure") {
  const SubAck a{3,
                 {ReasonCode::granted_qos_1, ReasonCode::not_authorized,
                  ReasonCode::topic_filter_invalid, ReasonCode::granted_qos_0},
                 {}};
  CHECK(encode_to_vector(a, ProtocolVersion::v311) ==
        bytes({0x90, 0x06, 0x00, 0x03, 0x01, 0x80, 0x80, 0x00}));
  CHECK(encode_to_vector(a, ProtocolVersion::v5) ==
        bytes({0x90, 0x07, 0x00, 0x03, 0x00, 0x01, 0x87, 0x8F, 0x00}));
}

TEST_CASE("every reason code has a name") {
  for (int i = 0; i < 256; ++i) {
    const auto r = static_cast<ReasonCode>(i);
    const std::string_view name = to_string(r);
    const bool known = name != "unknown reason code";
    const bool defined = i <= 0x02 || i == 0x04 || i == 0x10 || i == 0x11 || i == 0x18 ||
                         i == 0x19 || (i >= 0x80 && i <= 0xA2);
    CHECK_MESSAGE(known == defined, i);
  }
}

// [MQTT-3.14.2.1] A server DISCONNECT only carries codes from its own list; CONNACK-only
// authentication failures become 0x87, everything else outside the list 0x80.
TEST_CASE("disconnect_for keeps DISCONNECT codes and maps the others") {
  using protocol::disconnect_for;
  using protocol::ReasonCode;
  CHECK(disconnect_for(ReasonCode::normal_disconnection) == ReasonCode::normal_disconnection);
  CHECK(disconnect_for(ReasonCode::session_taken_over) == ReasonCode::session_taken_over);
  CHECK(disconnect_for(ReasonCode::receive_maximum_exceeded) ==
        ReasonCode::receive_maximum_exceeded);
  CHECK(disconnect_for(ReasonCode::maximum_connect_time) == ReasonCode::maximum_connect_time);
  CHECK(disconnect_for(ReasonCode::bad_user_name_or_password) == ReasonCode::not_authorized);
  CHECK(disconnect_for(ReasonCode::bad_authentication_method) == ReasonCode::not_authorized);
  CHECK(disconnect_for(ReasonCode::client_identifier_not_valid) == ReasonCode::not_authorized);
  CHECK(disconnect_for(ReasonCode::packet_identifier_in_use) == ReasonCode::unspecified_error);
  CHECK(disconnect_for(ReasonCode::no_matching_subscribers) == ReasonCode::unspecified_error);
  // Every code it returns decodes in a DISCONNECT.
  for (int v = 0; v < 256; ++v) {
    const auto out = disconnect_for(static_cast<ReasonCode>(v));
    const auto bytes =
        protocol::encode_to_vector(protocol::Disconnect{out, {}}, protocol::ProtocolVersion::v5);
    protocol::Decoder d;
    d.set_version(protocol::ProtocolVersion::v5);
    protocol::ByteSpan in(bytes);
    CHECK(std::holds_alternative<protocol::Packet>(d.next(in)));
  }
}
