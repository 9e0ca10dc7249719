// Golden byte vectors: exact encodings (one comment per field), decoded back at every split.
#include <doctest/doctest.h>

#include <string>

#include "codec_test_util.h"
#include "protocol/encoder.h"

using namespace protocol;
using namespace wisp_test;

namespace {

template <std::size_t N>
void check_golden(const Packet& p, const std::uint8_t (&wire)[N], ProtocolVersion v) {
  CHECK(encode_to_vector(p, v) == bytes(ByteSpan(wire)));
  CHECK(encoded_size(p, v) == N);
  for_each_split(wire, [&](const Chunks& chunks) {
    const DecodeResult r = decode_all(chunks, v);
    REQUIRE_MESSAGE(!r.error, std::string(r.error ? r.error->detail : ""));
    REQUIRE(r.size() == 1);
    CHECK(r.packets[0].packet == p);
  });
}

const std::uint8_t kHi[] = {'h', 'i'};
const std::uint8_t kP[] = {'p'};
const std::uint8_t kHey[] = {'h', 'e', 'y'};
const std::uint8_t kX[] = {'x'};
const std::uint8_t kAA[] = {0xAA};

}  // namespace

TEST_CASE("CONNECT v3.1.1 minimal encodes and decodes") {
  const std::uint8_t wire[] = {
      0x10,                            // CONNECT
      0x0C,                            // remaining length 12
      0x00, 0x04, 'M', 'Q', 'T', 'T',  // protocol name "MQTT"
      0x04,                            // protocol level 4 (3.1.1)
      0x02,                            // flags: clean session
      0x00, 0x3C,                      // keep alive 60 s
      0x00, 0x00,                      // client id "" (empty)
  };
  Connect c;
  c.version = ProtocolVersion::v311;
  c.keep_alive_s = 60;
  check_golden(c, wire, ProtocolVersion::v311);
}

TEST_CASE("CONNECT v3.1 (MQIsdp) encodes and decodes") {
  const std::uint8_t wire[] = {
      0x10,                                      // CONNECT
      0x11,                                      // remaining length 17
      0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p',  // protocol name "MQIsdp"
      0x03,                                      // protocol level 3 (3.1)
      0x00,                                      // flags: none (persistent session)
      0x00, 0x00,                                // keep alive 0 (off)
      0x00, 0x03, 'a', 'b', 'c',                 // client id "abc"
  };
  Connect c;
  c.version = ProtocolVersion::v31;
  c.clean_start = false;
  c.client_id = "abc";
  check_golden(c, wire, ProtocolVersion::v31);
}

TEST_CASE("CONNECT v5 with will, user name, password and properties encodes and decodes") {
  const std::uint8_t wire[] = {
      0x10,                            // CONNECT
      0x24,                            // remaining length 36
      0x00, 0x04, 'M', 'Q', 'T', 'T',  // protocol name "MQTT"
      0x05,                            // protocol level 5
      0xEE,                            // flags: user, password, will retain, will QoS 1,
                                       //        will, clean start
      0x00, 0x0A,                      // keep alive 10 s
      0x05,                            // property length 5
      0x11, 0x00, 0x00, 0x00, 0x3C,    //   session expiry interval 60
      0x00, 0x02, 'c', 'i',            // client id "ci"
      0x02,                            // will property length 2
      0x01, 0x01,                      //   payload format indicator 1 (UTF-8)
      0x00, 0x01, 'w',                 // will topic "w"
      0x00, 0x02, 'h', 'i',            // will payload "hi"
      0x00, 0x01, 'u',                 // user name "u"
      0x00, 0x01, 'p',                 // password "p"
  };
  Connect c;
  c.version = ProtocolVersion::v5;
  c.keep_alive_s = 10;
  c.properties.session_expiry_interval = 60;
  c.client_id = "ci";
  Will w;
  w.topic = "w";
  w.payload = kHi;
  w.qos = QoS::at_least_once;
  w.retain = true;
  w.properties.payload_format_indicator = 1;
  c.will = w;
  c.username = "u";
  c.password = ByteSpan(kP);
  check_golden(c, wire, ProtocolVersion::v5);
}

TEST_CASE("CONNECT with the bridge bit decodes into Connect::bridge") {
  const std::uint8_t wire[] = {
      0x10,                            // CONNECT
      0x0D,                            // remaining length 13
      0x00, 0x04, 'M', 'Q', 'T', 'T',  // protocol name "MQTT"
      0x84,                            // protocol level 4 | 0x80 (bridge)
      0x02,                            // flags: clean session
      0x00, 0x3C,                      // keep alive 60 s
      0x00, 0x01, 'b',                 // client id "b"
  };
  Connect c;
  c.version = ProtocolVersion::v311;
  c.bridge = true;
  c.keep_alive_s = 60;
  c.client_id = "b";
  check_golden(c, wire, ProtocolVersion::v311);
}

TEST_CASE("CONNACK v3.1.1 encodes and decodes") {
  const std::uint8_t accepted[] = {
      0x20,  // CONNACK
      0x02,  // remaining length
      0x01,  // session present
      0x00,  // return code 0: accepted
  };
  check_golden(ConnAck{true, ReasonCode::success, {}}, accepted, ProtocolVersion::v311);
  const std::uint8_t refused[] = {
      0x20,  // CONNACK
      0x02,  // remaining length
      0x00,  // no session
      0x05,  // return code 5: not authorized
  };
  check_golden(ConnAck{false, ReasonCode::not_authorized, {}}, refused, ProtocolVersion::v311);
}

TEST_CASE("CONNACK v3.1.1 maps v5 reasons to return codes") {
  // 0x84 -> 1, 0x85 -> 2, 0x86 -> 4, 0x87 -> 5, other errors -> 3 (server unavailable).
  CHECK(encode_to_vector(ConnAck{false, ReasonCode::unsupported_protocol_version, {}},
                         ProtocolVersion::v311) == bytes({0x20, 0x02, 0x00, 0x01}));
  CHECK(encode_to_vector(ConnAck{false, ReasonCode::client_identifier_not_valid, {}},
                         ProtocolVersion::v311) == bytes({0x20, 0x02, 0x00, 0x02}));
  CHECK(encode_to_vector(ConnAck{false, ReasonCode::bad_user_name_or_password, {}},
                         ProtocolVersion::v311) == bytes({0x20, 0x02, 0x00, 0x04}));
  CHECK(encode_to_vector(ConnAck{false, ReasonCode::server_busy, {}}, ProtocolVersion::v311) ==
        bytes({0x20, 0x02, 0x00, 0x03}));
  CHECK(to_connack_v311(ReasonCode::banned) == ConnackV311::not_authorized);
  CHECK(from_connack_v311(ConnackV311::identifier_rejected) ==
        ReasonCode::client_identifier_not_valid);
}

TEST_CASE("CONNACK v5 with properties encodes and decodes") {
  const std::uint8_t wire[] = {
      0x20,              // CONNACK
      0x08,              // remaining length 8
      0x00,              // no session
      0x00,              // reason: success
      0x05,              // property length 5
      0x21, 0x00, 0x0A,  //   receive maximum 10
      0x24, 0x01,        //   maximum QoS 1
  };
  ConnAck a;
  a.properties.receive_maximum = 10;
  a.properties.maximum_qos = 1;
  check_golden(a, wire, ProtocolVersion::v5);
}

TEST_CASE("PUBLISH v3.1.1 QoS 1 encodes and decodes") {
  const std::uint8_t wire[] = {
      0x32,                       // PUBLISH, QoS 1
      0x0A,                       // remaining length 10
      0x00, 0x03, 'a', '/', 'b',  // topic "a/b"
      0x00, 0x07,                 // packet id 7
      'h',  'e',  'y',            // payload "hey"
  };
  Publish p;
  p.topic = "a/b";
  p.qos = QoS::at_least_once;
  p.id = 7;
  p.payload = kHey;
  check_golden(p, wire, ProtocolVersion::v311);
}

TEST_CASE("PUBLISH v5 retained with topic alias and subscription id encodes and decodes") {
  const std::uint8_t wire[] = {
      0x31,              // PUBLISH, QoS 0, retain
      0x0B,              // remaining length 11
      0x00, 0x01, 't',   // topic "t"
      0x06,              // property length 6
      0x0B, 0x81, 0x01,  //   subscription identifier 129 (varint)
      0x23, 0x00, 0x05,  //   topic alias 5
      'x',               // payload "x"
  };
  Publish p;
  p.topic = "t";
  p.retain = true;
  p.properties.subscription_identifiers = {129};
  p.properties.topic_alias = 5;
  p.payload = kX;
  check_golden(p, wire, ProtocolVersion::v5);
}

TEST_CASE("PUBLISH v5 QoS 2 with DUP and empty payload encodes and decodes") {
  const std::uint8_t wire[] = {
      0x3C,             // PUBLISH, DUP, QoS 2
      0x06,             // remaining length 6
      0x00, 0x01, 'q',  // topic "q"
      0xFF, 0xFF,       // packet id 65535
      0x00,             // property length 0
  };
  Publish p;
  p.topic = "q";
  p.qos = QoS::exactly_once;
  p.dup = true;
  p.id = 0xFFFF;
  check_golden(p, wire, ProtocolVersion::v5);
}

TEST_CASE("PUBACK v3.1.1 encodes and decodes") {
  const std::uint8_t wire[] = {
      0x40,        // PUBACK
      0x02,        // remaining length
      0x00, 0x07,  // packet id 7
  };
  check_golden(PubAck{7, ReasonCode::success, {}}, wire, ProtocolVersion::v311);
}

TEST_CASE("PUBACK v5 with reason code encodes and decodes") {
  const std::uint8_t wire[] = {
      0x40,        // PUBACK
      0x03,        // remaining length
      0x00, 0x07,  // packet id 7
      0x10,        // reason: no matching subscribers
  };
  check_golden(PubAck{7, ReasonCode::no_matching_subscribers, {}}, wire, ProtocolVersion::v5);
}

TEST_CASE("PUBACK v5 success omits reason and properties") {
  const std::uint8_t wire[] = {
      0x40,        // PUBACK
      0x02,        // remaining length: reason and properties omitted [MQTT-3.4.2.1]
      0x00, 0x01,  // packet id 1
  };
  check_golden(PubAck{1, ReasonCode::success, {}}, wire, ProtocolVersion::v5);
}

TEST_CASE("PUBREC v5 with reason string encodes and decodes") {
  const std::uint8_t wire[] = {
      0x50,                   // PUBREC
      0x08,                   // remaining length 8
      0x00, 0x02,             // packet id 2
      0x97,                   // reason: quota exceeded
      0x04,                   // property length 4
      0x1F, 0x00, 0x01, 'q',  //   reason string "q"
  };
  PubRec r{2, ReasonCode::quota_exceeded, {}};
  r.properties.reason_string = "q";
  check_golden(r, wire, ProtocolVersion::v5);
}

TEST_CASE("PUBREL v3.1.1 encodes and decodes") {
  const std::uint8_t wire[] = {
      0x62,        // PUBREL, fixed flags 0b0010
      0x02,        // remaining length
      0x00, 0x01,  // packet id 1
  };
  check_golden(PubRel{1, ReasonCode::success, {}}, wire, ProtocolVersion::v311);
}

TEST_CASE("PUBCOMP v5 with packet identifier not found encodes and decodes") {
  const std::uint8_t wire[] = {
      0x70,        // PUBCOMP
      0x03,        // remaining length
      0x00, 0x01,  // packet id 1
      0x92,        // reason: packet identifier not found
  };
  check_golden(PubComp{1, ReasonCode::packet_identifier_not_found, {}}, wire, ProtocolVersion::v5);
}

TEST_CASE("SUBSCRIBE v3.1.1 with two filters encodes and decodes") {
  const std::uint8_t wire[] = {
      0x82,                       // SUBSCRIBE, fixed flags 0b0010
      0x0E,                       // remaining length 14
      0x00, 0x0A,                 // packet id 10
      0x00, 0x03, 'a', '/', '#',  // filter "a/#"
      0x01,                       //   requested QoS 1
      0x00, 0x03, '+', '/', 'b',  // filter "+/b"
      0x02,                       //   requested QoS 2
  };
  Subscribe s;
  s.id = 10;
  s.subscriptions = {{"a/#", {QoS::at_least_once}}, {"+/b", {QoS::exactly_once}}};
  check_golden(s, wire, ProtocolVersion::v311);
}

TEST_CASE("SUBSCRIBE v5 with options and subscription identifier encodes and decodes") {
  const std::uint8_t wire[] = {
      0x82,             // SUBSCRIBE
      0x09,             // remaining length 9
      0x00, 0x01,       // packet id 1
      0x02,             // property length 2
      0x0B, 0x05,       //   subscription identifier 5
      0x00, 0x01, 'x',  // filter "x"
      0x2E,             //   options: retain handling 2, retain as published, no local, QoS 2
  };
  Subscribe s;
  s.id = 1;
  s.properties.subscription_identifiers = {5};
  s.subscriptions = {{"x", {QoS::exactly_once, true, true, 2}}};
  check_golden(s, wire, ProtocolVersion::v5);
}

TEST_CASE("SUBACK v3.1.1 encodes and decodes") {
  const std::uint8_t wire[] = {
      0x90,        // SUBACK
      0x05,        // remaining length
      0x00, 0x0A,  // packet id 10
      0x01,        // granted QoS 1
      0x02,        // granted QoS 2
      0x80,        // failure
  };
  check_golden(
      SubAck{10,
             {ReasonCode::granted_qos_1, ReasonCode::granted_qos_2, ReasonCode::unspecified_error},
             {}},
      wire, ProtocolVersion::v311);
}

TEST_CASE("SUBACK v5 encodes and decodes") {
  const std::uint8_t wire[] = {
      0x90,        // SUBACK
      0x05,        // remaining length
      0x00, 0x0A,  // packet id 10
      0x00,        // property length 0
      0x01,        // granted QoS 1
      0xA2,        // wildcard subscriptions not supported
  };
  check_golden(
      SubAck{10, {ReasonCode::granted_qos_1, ReasonCode::wildcard_subscriptions_not_supported}, {}},
      wire, ProtocolVersion::v5);
}

TEST_CASE("UNSUBSCRIBE v3.1.1 and v5 encode and decode") {
  const std::uint8_t v311[] = {
      0xA2,             // UNSUBSCRIBE, fixed flags 0b0010
      0x05,             // remaining length
      0x00, 0x02,       // packet id 2
      0x00, 0x01, 'a',  // filter "a"
  };
  check_golden(Unsubscribe{2, {"a"}, {}}, v311, ProtocolVersion::v311);
  const std::uint8_t v5[] = {
      0xA2,             // UNSUBSCRIBE
      0x06,             // remaining length
      0x00, 0x02,       // packet id 2
      0x00,             // property length 0
      0x00, 0x01, 'a',  // filter "a"
  };
  check_golden(Unsubscribe{2, {"a"}, {}}, v5, ProtocolVersion::v5);
}

TEST_CASE("UNSUBACK v3.1.1 and v5 encode and decode") {
  const std::uint8_t v311[] = {
      0xB0,        // UNSUBACK
      0x02,        // remaining length
      0x00, 0x02,  // packet id 2
  };
  check_golden(UnsubAck{2, {}, {}}, v311, ProtocolVersion::v311);
  const std::uint8_t v5[] = {
      0xB0,        // UNSUBACK
      0x05,        // remaining length
      0x00, 0x02,  // packet id 2
      0x00,        // property length 0
      0x00,        // success
      0x11,        // no subscription existed
  };
  check_golden(UnsubAck{2, {ReasonCode::success, ReasonCode::no_subscription_existed}, {}}, v5,
               ProtocolVersion::v5);
}

TEST_CASE("PINGREQ and PINGRESP encode and decode") {
  const std::uint8_t req[] = {
      0xC0,  // PINGREQ
      0x00,  // remaining length
  };
  const std::uint8_t resp[] = {
      0xD0,  // PINGRESP
      0x00,  // remaining length
  };
  for (auto v : {ProtocolVersion::v311, ProtocolVersion::v5}) {
    check_golden(PingReq{}, req, v);
    check_golden(PingResp{}, resp, v);
  }
}

TEST_CASE("DISCONNECT encodes and decodes") {
  const std::uint8_t empty[] = {
      0xE0,  // DISCONNECT
      0x00,  // remaining length: normal disconnection, no properties
  };
  check_golden(Disconnect{}, empty, ProtocolVersion::v311);
  check_golden(Disconnect{}, empty, ProtocolVersion::v5);
  const std::uint8_t with_reason[] = {
      0xE0,                             // DISCONNECT
      0x08,                             // remaining length 8
      0x8B,                             // reason: server shutting down
      0x06,                             // property length 6
      0x1F, 0x00, 0x03, 'b', 'y', 'e',  //   reason string "bye"
  };
  Disconnect d{ReasonCode::server_shutting_down, {}};
  d.properties.reason_string = "bye";
  check_golden(d, with_reason, ProtocolVersion::v5);
}

TEST_CASE("AUTH encodes and decodes") {
  const std::uint8_t success[] = {
      0xF0,  // AUTH
      0x01,  // remaining length
      0x00,  // reason: success (always written: MQTT.js rejects the empty form)
  };
  check_golden(Auth{}, success, ProtocolVersion::v5);
  // The empty form [MQTT-3.15.2.1] still decodes as success.
  CHECK(decode_one(bytes({0xF0, 0x00}), ProtocolVersion::v5).packet == Packet{Auth{}});
  const std::uint8_t wire[] = {
      0xF0,                    // AUTH
      0x0A,                    // remaining length 10
      0x18,                    // reason: continue authentication
      0x08,                    // property length 8
      0x15, 0x00, 0x01, 'S',   //   authentication method "S"
      0x16, 0x00, 0x01, 0xAA,  //   authentication data {0xAA}
  };
  Auth a{ReasonCode::continue_authentication, {}};
  a.properties.authentication_method = "S";
  a.properties.authentication_data = ByteSpan(kAA);
  check_golden(a, wire, ProtocolVersion::v5);
}
