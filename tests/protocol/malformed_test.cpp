// Each malformation as its own case, with the reason code the spec assigns (MQTT 5: 0x81
// malformed packet for encoding errors, 0x82 protocol error for rule violations). Every input is
// also fed split at every byte boundary (expect_error uses for_each_split).
#include <doctest/doctest.h>

#include "codec_test_util.h"

using namespace protocol;
using namespace wisp_test;

namespace {

constexpr auto v311 = ProtocolVersion::v311;
constexpr auto v5 = ProtocolVersion::v5;
constexpr auto kMalformed = ReasonCode::malformed_packet;
constexpr auto kProtocol = ReasonCode::protocol_error;

// Fixed header byte + one-byte remaining length + body (bodies here are < 128 bytes).
Bytes pkt(std::uint8_t first, Bytes body) {
  Bytes out{first, static_cast<std::uint8_t>(body.size())};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// A v5 CONNECT body with the given property bytes (length prefix added here) and client "c".
Bytes connect_v5_with_props(Bytes props) {
  Bytes b = {0x00,
             0x04,
             'M',
             'Q',
             'T',
             'T',
             0x05,
             0x02,
             0x00,
             0x00,
             static_cast<std::uint8_t>(props.size())};
  b.insert(b.end(), props.begin(), props.end());
  b.insert(b.end(), {0x00, 0x01, 'c'});
  return pkt(0x10, b);
}

// A v5 PUBLISH QoS 0 to "t" with the given properties and payload "x".
Bytes publish_v5_with_props(Bytes props) {
  Bytes b = {0x00, 0x01, 't', static_cast<std::uint8_t>(props.size())};
  b.insert(b.end(), props.begin(), props.end());
  b.push_back('x');
  return pkt(0x30, b);
}

// A v5 CONNACK (success) with the given properties.
Bytes connack_v5_with_props(Bytes props) {
  Bytes b = {0x00, 0x00, static_cast<std::uint8_t>(props.size())};
  b.insert(b.end(), props.begin(), props.end());
  return pkt(0x20, b);
}

// A v3.1.1 CONNECT with the given flags, keep alive 0, client "c", then `tail`.
Bytes connect_v311(std::uint8_t flags, Bytes tail = {}) {
  Bytes b = {0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, flags, 0x00, 0x00, 0x00, 0x01, 'c'};
  b.insert(b.end(), tail.begin(), tail.end());
  return pkt(0x10, b);
}

}  // namespace

// ---- framer -------------------------------------------------------------------------------

TEST_CASE("remaining length longer than 4 bytes is malformed") {
  expect_error(bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), v311, kMalformed);
}

TEST_CASE("remaining length not minimally encoded is malformed") {
  expect_error(bytes({0xC0, 0x80, 0x00}), v311, kMalformed);  // 0 in two bytes [MQTT-1.5.5-1]
}

TEST_CASE("reserved packet type 0 is malformed") {
  expect_error(bytes({0x00, 0x00}), v311, kMalformed);
}

TEST_CASE("AUTH in MQTT 3.1.1 is malformed (reserved type 15)") {
  expect_error(bytes({0xF0, 0x00}), v311, kMalformed);
}

TEST_CASE("trailing bytes after a complete body are malformed") {
  expect_error(pkt(0xC0, {0x00}), v311, kMalformed);              // PINGREQ with a body
  expect_error(pkt(0xD0, {0x00}), v5, kMalformed);                // PINGRESP with a body
  expect_error(pkt(0xE0, {0x00}), v311, kMalformed);              // 3.1.1 DISCONNECT body
  expect_error(pkt(0x40, {0x00, 0x01, 0x00}), v311, kMalformed);  // 3.1.1 PUBACK, 3 bytes
  expect_error(pkt(0xB0, {0x00, 0x01, 0x00}), v311, kMalformed);  // 3.1.1 UNSUBACK, 3 bytes
  expect_error(connect_v311(0x02, {0x00}), v311, kMalformed);     // CONNECT + 1 byte
}

TEST_CASE("short bodies are malformed") {
  expect_error(pkt(0x40, {0x00}), v311, kMalformed);                   // PUBACK, 1-byte id
  expect_error(pkt(0x30, {0x00, 0x05, 'a'}), v311, kMalformed);        // topic longer than body
  expect_error(pkt(0x32, {0x00, 0x01, 'a', 0x00}), v311, kMalformed);  // QoS 1, 1-byte id
  expect_error(pkt(0x20, {0x00}), v311, kMalformed);                   // CONNACK, 1 byte
  expect_error(pkt(0x10, {0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02}), v311,
               kMalformed);  // CONNECT without keep alive / client id
}

// ---- fixed header flags [MQTT-2.2.2-1], [MQTT-2.2.2-2] -----------------------------------

TEST_CASE("reserved flag bits set on CONNECT are malformed") {
  Bytes c = connect_v311(0x02);
  c[0] = 0x11;
  expect_error(c, std::nullopt, kMalformed);
}

TEST_CASE("reserved flag bits set on PUBACK, PUBREC, PUBCOMP are malformed") {
  expect_error(pkt(0x41, {0x00, 0x01}), v311, kMalformed);
  expect_error(pkt(0x58, {0x00, 0x01}), v5, kMalformed);
  expect_error(pkt(0x72, {0x00, 0x01}), v311, kMalformed);
}

TEST_CASE("PUBREL without flags 0b0010 is malformed") {
  expect_error(pkt(0x60, {0x00, 0x01}), v311, kMalformed);
  expect_error(pkt(0x63, {0x00, 0x01}), v5, kMalformed);
}

TEST_CASE("SUBSCRIBE without flags 0b0010 is malformed") {
  expect_error(pkt(0x80, {0x00, 0x01, 0x00, 0x01, 'a', 0x00}), v311, kMalformed);
}

TEST_CASE("UNSUBSCRIBE without flags 0b0010 is malformed") {
  expect_error(pkt(0xA0, {0x00, 0x01, 0x00, 0x01, 'a'}), v311, kMalformed);
}

TEST_CASE("reserved flag bits on PINGREQ, CONNACK, SUBACK, DISCONNECT are malformed") {
  expect_error(pkt(0xC1, {}), v311, kMalformed);
  expect_error(pkt(0x28, {0x00, 0x00}), v311, kMalformed);
  expect_error(pkt(0x94, {0x00, 0x01, 0x00}), v311, kMalformed);
  expect_error(pkt(0xE2, {}), v5, kMalformed);
}

// ---- PUBLISH --------------------------------------------------------------------------------

TEST_CASE("PUBLISH with QoS 3 is malformed") {
  expect_error(pkt(0x36, {0x00, 0x01, 'a', 0x00, 0x01}), v311, kMalformed);  // [MQTT-3.3.1-4]
}

TEST_CASE("PUBLISH QoS 0 with DUP set is malformed") {
  expect_error(pkt(0x38, {0x00, 0x01, 'a'}), v311, kMalformed);  // [MQTT-3.3.1-2]
}

TEST_CASE("PUBLISH QoS 1 and 2 with packet id 0 are protocol errors") {
  expect_error(pkt(0x32, {0x00, 0x01, 'a', 0x00, 0x00}), v311, kProtocol);  // [MQTT-2.2.1-3]
  expect_error(pkt(0x34, {0x00, 0x01, 'a', 0x00, 0x00, 0x00}), v5, kProtocol);
}

TEST_CASE("PUBLISH topic with wildcards is topic name invalid") {
  expect_error(pkt(0x30, {0x00, 0x03, 'a', '/', '+'}), v311, ReasonCode::topic_name_invalid);
  expect_error(pkt(0x30, {0x00, 0x01, '#', 0x00}), v5, ReasonCode::topic_name_invalid);
}

TEST_CASE("PUBLISH with an empty topic") {
  // 3.1.1: a topic name has at least one character [MQTT-4.7.3-1].
  expect_error(pkt(0x30, {0x00, 0x00, 'x'}), v311, ReasonCode::topic_name_invalid);
  // 5.0: only allowed together with a topic alias.
  expect_error(pkt(0x30, {0x00, 0x00, 0x00, 'x'}), v5, kProtocol);
  const Owned o = decode_one(pkt(0x30, {0x00, 0x00, 0x03, 0x23, 0x00, 0x01, 'x'}), v5);
  CHECK(std::get<Publish>(o.packet).properties.topic_alias == 1);
}

TEST_CASE("PUBLISH topic with invalid UTF-8 is malformed") {
  expect_error(pkt(0x30, {0x00, 0x02, 0xC0, 0x80}), v311, kMalformed);        // overlong U+0000
  expect_error(pkt(0x30, {0x00, 0x03, 0xED, 0xA0, 0x80}), v311, kMalformed);  // surrogate
  expect_error(pkt(0x30, {0x00, 0x01, 0x00}), v311, kMalformed);              // U+0000
  expect_error(pkt(0x30, {0x00, 0x01, 0xFF}), v5, kMalformed);                // invalid byte
  expect_error(pkt(0x30, {0x00, 0x02, 'a', 0xC3}), v311, kMalformed);         // truncated
}

TEST_CASE("PUBLISH payload with payload format indicator 1 is not checked for UTF-8") {
  // The engine may check it and answer 0x99; the codec hands it over untouched.
  const Owned o = decode_one(publish_v5_with_props({0x01, 0x01}), v5);
  Bytes bad = publish_v5_with_props({0x01, 0x01});
  bad.back() = 0xFF;
  const Owned o2 = decode_one(bad, v5);
  CHECK(std::get<Publish>(o2.packet).payload[0] == 0xFF);
}

TEST_CASE("PUBLISH property length beyond the packet is malformed") {
  expect_error(pkt(0x30, {0x00, 0x01, 't', 0x05, 0x01, 0x00}), v5, kMalformed);
}

// ---- acknowledgements -------------------------------------------------------------------------

TEST_CASE("PUBACK, PUBREC, PUBREL, PUBCOMP with packet id 0 are protocol errors") {
  expect_error(pkt(0x40, {0x00, 0x00}), v311, kProtocol);
  expect_error(pkt(0x50, {0x00, 0x00}), v5, kProtocol);
  expect_error(pkt(0x62, {0x00, 0x00}), v311, kProtocol);
  expect_error(pkt(0x70, {0x00, 0x00}), v5, kProtocol);
}

TEST_CASE("PUBACK v5 with a reason code not allowed for it is a protocol error") {
  expect_error(pkt(0x40, {0x00, 0x01, 0x05}), v5, kProtocol);
  expect_error(pkt(0x62, {0x00, 0x01, 0x10}), v5, kProtocol);  // PUBREL: only 0x00 / 0x92
}

TEST_CASE("PUBACK v5 with a property not allowed in it is malformed") {
  expect_error(pkt(0x40, {0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01}), v5, kMalformed);
}

TEST_CASE("CONNACK with reserved acknowledge flags is malformed") {
  expect_error(pkt(0x20, {0x02, 0x00}), v311, kMalformed);  // [MQTT-3.2.2-1]
}

TEST_CASE("CONNACK with an unknown return code") {
  expect_error(pkt(0x20, {0x00, 0x06}), v311, kMalformed);
  expect_error(pkt(0x20, {0x00, 0x01, 0x00}), v5, kProtocol);  // 0x01 is not a CONNACK reason
}

TEST_CASE("CONNACK with session present and an error is a protocol error") {
  expect_error(pkt(0x20, {0x01, 0x05}), v311, kProtocol);  // [MQTT-3.2.2-4]
}

TEST_CASE("SUBACK with an unknown return code") {
  expect_error(pkt(0x90, {0x00, 0x01, 0x03}), v311, kMalformed);
  expect_error(pkt(0x90, {0x00, 0x01, 0x00, 0x10}), v5, kProtocol);
}

TEST_CASE("SUBACK and UNSUBACK v5 without reason codes are protocol errors") {
  expect_error(pkt(0x90, {0x00, 0x01}), v311, kProtocol);
  expect_error(pkt(0xB0, {0x00, 0x01, 0x00}), v5, kProtocol);
}

TEST_CASE("DISCONNECT and AUTH v5 with unknown reason codes are protocol errors") {
  expect_error(pkt(0xE0, {0x01}), v5, kProtocol);
  expect_error(pkt(0xF0, {0x80}), v5, kProtocol);
}

// ---- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------------------------------

TEST_CASE("SUBSCRIBE with no topic filters is a protocol error") {
  expect_error(pkt(0x82, {0x00, 0x01}), v311, kProtocol);  // [MQTT-3.8.3-3]
  expect_error(pkt(0x82, {0x00, 0x01, 0x00}), v5, kProtocol);
}

TEST_CASE("UNSUBSCRIBE with no topic filters is a protocol error") {
  expect_error(pkt(0xA2, {0x00, 0x01}), v311, kProtocol);  // [MQTT-3.10.3-2]
  expect_error(pkt(0xA2, {0x00, 0x01, 0x00}), v5, kProtocol);
}

TEST_CASE("SUBSCRIBE and UNSUBSCRIBE with packet id 0 are protocol errors") {
  expect_error(pkt(0x82, {0x00, 0x00, 0x00, 0x01, 'a', 0x00}), v311, kProtocol);
  expect_error(pkt(0xA2, {0x00, 0x00, 0x00, 0x01, 'a'}), v311, kProtocol);
}

TEST_CASE("SUBSCRIBE requesting QoS 3 is malformed") {
  expect_error(pkt(0x82, {0x00, 0x01, 0x00, 0x01, 'a', 0x03}), v311, kMalformed);
  expect_error(pkt(0x82, {0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x03}), v5, kMalformed);
}

TEST_CASE("SUBSCRIBE v3.1.1 with reserved option bits is malformed") {
  expect_error(pkt(0x82, {0x00, 0x01, 0x00, 0x01, 'a', 0x04}), v311, kMalformed);
}

TEST_CASE("SUBSCRIBE v5 with reserved option bits 6-7 is malformed") {
  expect_error(pkt(0x82, {0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x40}), v5, kMalformed);
}

TEST_CASE("SUBSCRIBE v5 with retain handling 3 is a protocol error") {
  expect_error(pkt(0x82, {0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x30}), v5, kProtocol);
}

TEST_CASE("SUBSCRIBE v5 with no local on a shared subscription is a protocol error") {
  expect_error(pkt(0x82, {0x00, 0x01, 0x00, 0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/',
                          'a', 0x04}),
               v5, kProtocol);  // [MQTT-3.8.3-4]
}

TEST_CASE("SUBSCRIBE filter with invalid UTF-8 is malformed") {
  expect_error(pkt(0x82, {0x00, 0x01, 0x00, 0x01, 0x80, 0x00}), v311, kMalformed);
  expect_error(pkt(0xA2, {0x00, 0x01, 0x00, 0x01, 0x80}), v311, kMalformed);
}

TEST_CASE("SUBSCRIBE with two subscription identifiers is a protocol error") {
  expect_error(pkt(0x82, {0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, 'a', 0x00}), v5,
               kProtocol);
}

// ---- CONNECT --------------------------------------------------------------------------------

TEST_CASE("CONNECT with the reserved flag set is malformed") {
  expect_error(connect_v311(0x03), std::nullopt, kMalformed);  // [MQTT-3.1.2-3]
}

TEST_CASE("CONNECT with will QoS but no will flag is malformed") {
  expect_error(connect_v311(0x0A), std::nullopt, kMalformed);  // [MQTT-3.1.2-13]
}

TEST_CASE("CONNECT with will retain but no will flag is malformed") {
  expect_error(connect_v311(0x22), std::nullopt, kMalformed);  // [MQTT-3.1.2-15]
}

TEST_CASE("CONNECT with will QoS 3 is malformed") {
  expect_error(connect_v311(0x1E, {0x00, 0x01, 'w', 0x00, 0x00}), std::nullopt,
               kMalformed);  // [MQTT-3.1.2-14]
}

TEST_CASE("CONNECT v3.1.1 with a password but no user name is malformed") {
  expect_error(connect_v311(0x42, {0x00, 0x01, 'p'}), std::nullopt, kMalformed);  // 3.1.2-22
}

TEST_CASE("CONNECT v5 with a password but no user name is accepted") {
  const Bytes wire = pkt(0x10, {0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x42, 0x00, 0x00, 0x00, 0x00,
                                0x01, 'c', 0x00, 0x01, 'p'});
  const Owned o = decode_one(wire, ProtocolVersion::v311);  // version comes from CONNECT
  const auto& c = std::get<Connect>(o.packet);
  CHECK(!c.username);
  REQUIRE(c.password);
  CHECK(c.password->size() == 1);
}

TEST_CASE("CONNECT with an unknown protocol name is a protocol error") {
  Bytes c = connect_v311(0x02);
  c[7] = 'X';  // "MQTX"
  expect_error(c, std::nullopt, kProtocol);
}

TEST_CASE("CONNECT with an unknown protocol level is unsupported protocol version") {
  for (int level : {0x00, 0x03, 0x06, 0x7F, 0x83}) {
    Bytes c = connect_v311(0x02);
    c[8] = static_cast<std::uint8_t>(level);
    expect_error(c, std::nullopt, ReasonCode::unsupported_protocol_version);
  }
  // "MQIsdp" is only level 3.
  const Bytes mqisdp = pkt(
      0x10, {0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x04, 0x02, 0x00, 0x00, 0x00, 0x01, 'c'});
  expect_error(mqisdp, std::nullopt, ReasonCode::unsupported_protocol_version);
}

TEST_CASE("CONNECT will topic with wildcards is topic name invalid") {
  expect_error(connect_v311(0x06, {0x00, 0x01, '#', 0x00, 0x00}), std::nullopt,
               ReasonCode::topic_name_invalid);
}

TEST_CASE("CONNECT client id with invalid UTF-8 is malformed") {
  Bytes c = connect_v311(0x02);
  c.back() = 0xC3;
  expect_error(c, std::nullopt, kMalformed);
}

TEST_CASE("CONNECT user name with U+0000 is malformed") {
  expect_error(connect_v311(0x82, {0x00, 0x02, 'u', 0x00}), std::nullopt, kMalformed);
}

// ---- properties -------------------------------------------------------------------------------

TEST_CASE("a property included twice is a protocol error") {
  expect_error(connect_v5_with_props({0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2}), std::nullopt,
               kProtocol);
  expect_error(publish_v5_with_props({0x23, 0x00, 0x01, 0x23, 0x00, 0x02}), v5, kProtocol);
  expect_error(publish_v5_with_props({0x01, 0x00, 0x01, 0x00}), v5, kProtocol);
}

TEST_CASE("user properties and PUBLISH subscription identifiers may repeat") {
  const Owned o =
      decode_one(publish_v5_with_props({0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', 0x26, 0x00, 0x01,
                                        'k', 0x00, 0x00, 0x0B, 0x01, 0x0B, 0x02}),
                 v5);
  const auto& p = std::get<Publish>(o.packet);
  CHECK(p.properties.user_properties.size() == 2);
  CHECK(p.properties.subscription_identifiers == std::vector<std::uint32_t>{1, 2});
}

TEST_CASE("a property not allowed in the packet is malformed") {
  // topic alias in CONNECT, session expiry in PUBLISH, reason string in UNSUBSCRIBE.
  expect_error(connect_v5_with_props({0x23, 0x00, 0x01}), std::nullopt, kMalformed);
  expect_error(publish_v5_with_props({0x11, 0, 0, 0, 1}), v5, kMalformed);
  expect_error(pkt(0xA2, {0x00, 0x01, 0x04, 0x1F, 0x00, 0x01, 'r', 0x00, 0x01, 'a'}), v5,
               kMalformed);
}

TEST_CASE("an unknown property identifier is malformed") {
  expect_error(publish_v5_with_props({0x05, 0x00}), v5, kMalformed);
  expect_error(publish_v5_with_props({0x80, 0x01, 0x00}), v5, kMalformed);
}

TEST_CASE("receive maximum 0 is a protocol error") {
  expect_error(connect_v5_with_props({0x21, 0x00, 0x00}), std::nullopt, kProtocol);
}

TEST_CASE("maximum packet size 0 is a protocol error") {
  expect_error(connect_v5_with_props({0x27, 0, 0, 0, 0}), std::nullopt, kProtocol);
}

TEST_CASE("topic alias 0 is invalid (0x94)") {
  // [MQTT-3.3.2-8]; section 3.3.2.3.4: the receiver disconnects with 0x94 Topic Alias invalid.
  expect_error(publish_v5_with_props({0x23, 0x00, 0x00}), v5, ReasonCode::topic_alias_invalid);
}

TEST_CASE("subscription identifier 0 is a protocol error") {
  expect_error(publish_v5_with_props({0x0B, 0x00}), v5, kProtocol);
  expect_error(pkt(0x82, {0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, 'a', 0x00}), v5, kProtocol);
}

TEST_CASE("subscription identifier longer than 4 bytes is malformed") {
  expect_error(publish_v5_with_props({0x0B, 0x80, 0x80, 0x80, 0x80, 0x01}), v5, kMalformed);
}

TEST_CASE("byte properties other than 0 or 1 are protocol errors") {
  expect_error(publish_v5_with_props({0x01, 0x02}), v5, kProtocol);            // payload format
  expect_error(connect_v5_with_props({0x17, 0x02}), std::nullopt, kProtocol);  // req. problem
  expect_error(connect_v5_with_props({0x19, 0x02}), std::nullopt, kProtocol);  // req. response
  expect_error(connack_v5_with_props({0x24, 0x02}), v5, kProtocol);            // maximum QoS
  expect_error(connack_v5_with_props({0x25, 0x02}), v5, kProtocol);            // retain avail.
  expect_error(connack_v5_with_props({0x28, 0x02}), v5, kProtocol);            // wildcard avail.
  expect_error(connack_v5_with_props({0x29, 0x02}), v5, kProtocol);            // sub id avail.
  expect_error(connack_v5_with_props({0x2A, 0x02}), v5, kProtocol);            // shared avail.
}

TEST_CASE("authentication data without authentication method is a protocol error") {
  expect_error(connect_v5_with_props({0x16, 0x00, 0x01, 0xAA}), std::nullopt, kProtocol);
}

TEST_CASE("response topic with wildcards is a protocol error") {
  expect_error(publish_v5_with_props({0x08, 0x00, 0x01, '+'}), v5, kProtocol);
}

TEST_CASE("a truncated property value is malformed") {
  expect_error(publish_v5_with_props({0x02, 0x00, 0x00}), v5, kMalformed);  // 4-byte int in 2
  expect_error(publish_v5_with_props({0x03, 0x00, 0x05, 'a'}), v5, kMalformed);
}

TEST_CASE("a user property with invalid UTF-8 is malformed") {
  expect_error(publish_v5_with_props({0x26, 0x00, 0x01, 0xFE, 0x00, 0x00}), v5, kMalformed);
}
