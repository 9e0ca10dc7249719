// The framer: chunking, several packets per read, zero-copy views, the size limit checked
// before buffering, sticky errors, and the protocol version taken from CONNECT.
#include "protocol/decoder.h"

#include <doctest/doctest.h>

#include <algorithm>

#include "codec_test_util.h"
#include "protocol/encoder.h"

using namespace protocol;
using namespace wisp_test;

namespace {

bool inside(ByteSpan inner, ByteSpan outer) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

Bytes publish_bytes(std::size_t payload_size, ProtocolVersion v, QoS qos = QoS::at_least_once) {
  static Bytes payload_store;
  payload_store.assign(payload_size, 0x5A);
  Publish p;
  p.topic = "big/topic";
  p.qos = qos;
  p.id = qos == QoS::at_most_once ? 0 : 42;
  p.payload = payload_store;
  return encode_to_vector(p, v);
}

}  // namespace

TEST_CASE("several packets in one read are returned one by one") {
  const Bytes wire =
      concat({bytes({0xC0, 0x00}), bytes({0x40, 0x02, 0x00, 0x05}), bytes({0xD0, 0x00})});
  Decoder d;
  d.set_version(ProtocolVersion::v311);
  ByteSpan in = wire;
  DecodeStep s1 = d.next(in);
  REQUIRE(std::holds_alternative<Packet>(s1));
  CHECK(std::holds_alternative<PingReq>(std::get<Packet>(s1)));
  CHECK(in.size() == 6);
  DecodeStep s2 = d.next(in);
  REQUIRE(std::holds_alternative<Packet>(s2));
  CHECK(std::get<PubAck>(std::get<Packet>(s2)).id == 5);
  DecodeStep s3 = d.next(in);
  REQUIRE(std::holds_alternative<Packet>(s3));
  CHECK(std::holds_alternative<PingResp>(std::get<Packet>(s3)));
  CHECK(in.empty());
  CHECK(std::holds_alternative<NeedMore>(d.next(in)));
}

TEST_CASE("several packets split at every point decode in order") {
  Publish p;
  p.topic = "a";
  p.qos = QoS::exactly_once;
  p.id = 9;
  const Bytes wire =
      concat({encode_to_vector(p, ProtocolVersion::v5),
              encode_to_vector(PubRel{9, ReasonCode::success, {}}, ProtocolVersion::v5),
              encode_to_vector(Disconnect{}, ProtocolVersion::v5)});
  for_each_split(wire, [&](const Chunks& chunks) {
    const DecodeResult r = decode_all(chunks, ProtocolVersion::v5);
    REQUIRE(!r.error);
    REQUIRE(r.size() == 3);
    CHECK(r.packets[0].packet == Packet{p});
    CHECK(std::get<PubRel>(r.packets[1].packet).id == 9);
    CHECK(std::holds_alternative<Disconnect>(r.packets[2].packet));
  });
}

TEST_CASE("a whole PUBLISH is decoded in place: the payload views the caller's buffer") {
  const Bytes wire = publish_bytes(64, ProtocolVersion::v311);
  Decoder d;
  d.set_version(ProtocolVersion::v311);
  ByteSpan in = wire;
  DecodeStep s = d.next(in);
  REQUIRE(std::holds_alternative<Packet>(s));
  const auto& p = std::get<Publish>(std::get<Packet>(s));
  CHECK(p.payload.size() == 64);
  CHECK(inside(p.payload, wire));
  CHECK(d.buffered_bytes() == 0);
}

TEST_CASE("a split PUBLISH is reassembled and its views stay valid until the next call") {
  const Bytes wire = publish_bytes(20000, ProtocolVersion::v5);
  Decoder d;
  d.set_version(ProtocolVersion::v5);
  std::size_t packets = 0;
  for (std::size_t off = 0; off < wire.size(); off += 1000) {
    ByteSpan in = ByteSpan(wire).subspan(off, std::min<std::size_t>(1000, wire.size() - off));
    DecodeStep s = d.next(in);
    if (auto* pk = std::get_if<Packet>(&s)) {
      const auto& p = std::get<Publish>(*pk);
      CHECK(p.payload.size() == 20000);
      CHECK(!inside(p.payload, wire));  // in the reassembly buffer
      CHECK(std::all_of(p.payload.begin(), p.payload.end(), [](auto b) { return b == 0x5A; }));
      CHECK(p.topic == "big/topic");
      ++packets;
    } else {
      REQUIRE(std::holds_alternative<NeedMore>(s));
      CHECK(d.buffered_bytes() > 0);
    }
  }
  CHECK(packets == 1);
}

TEST_CASE("the maximum packet size is enforced from the remaining length before buffering") {
  Decoder d(Limits{100});
  d.set_version(ProtocolVersion::v5);
  // A PUBLISH claiming 268,435,455 bytes: rejected after the 5 header bytes, nothing buffered.
  const Bytes header = {0x30, 0xFF, 0xFF, 0xFF, 0x7F};
  ByteSpan in = header;
  DecodeStep s = d.next(in);
  REQUIRE(std::holds_alternative<DecodeError>(s));
  CHECK(std::get<DecodeError>(s).reason == ReasonCode::packet_too_large);
  CHECK(d.buffered_bytes() == 0);
}

TEST_CASE("a packet exactly at the maximum size is accepted, one byte more is too large") {
  const Bytes wire = publish_bytes(80, ProtocolVersion::v311);
  const auto n = static_cast<std::uint32_t>(wire.size());
  for_each_split(wire, [&](const Chunks& chunks) {
    CHECK(decode_all(chunks, ProtocolVersion::v311, Limits{n}).size() == 1);
    const DecodeResult r = decode_all(chunks, ProtocolVersion::v311, Limits{n - 1});
    REQUIRE(r.error);
    CHECK(r.error->reason == ReasonCode::packet_too_large);
  });
}

TEST_CASE("a 256 MB claim within the default limit costs only the header until bytes arrive") {
  Decoder d;
  d.set_version(ProtocolVersion::v311);
  const Bytes header = {0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01, 'a'};
  ByteSpan in = header;
  CHECK(std::holds_alternative<NeedMore>(d.next(in)));
  CHECK(d.buffered_bytes() == 8);
}

TEST_CASE("after an error the decoder stays failed") {
  Decoder d;
  d.set_version(ProtocolVersion::v311);
  const Bytes bad = {0xC1, 0x00};
  ByteSpan in = bad;
  DecodeStep s = d.next(in);
  REQUIRE(std::holds_alternative<DecodeError>(s));
  const Bytes good = {0xC0, 0x00};
  ByteSpan in2 = good;
  DecodeStep s2 = d.next(in2);
  REQUIRE(std::holds_alternative<DecodeError>(s2));
  CHECK(std::get<DecodeError>(s2).reason == ReasonCode::malformed_packet);
  CHECK(std::string_view(std::get<DecodeError>(s2).detail) == std::get<DecodeError>(s).detail);
}

TEST_CASE("empty input returns NeedMore") {
  Decoder d;
  ByteSpan in;
  CHECK(std::holds_alternative<NeedMore>(d.next(in)));
}

TEST_CASE("the protocol version is taken from the first CONNECT") {
  Connect c;
  c.version = ProtocolVersion::v5;
  c.client_id = "x";
  Publish p;
  p.topic = "t";
  p.properties.user_properties = {{"k", "v"}};
  // A second CONNECT (3.1.1) does not switch the version back.
  Connect c2;
  c2.version = ProtocolVersion::v311;
  const Bytes wire = concat(
      {encode_to_vector(c, ProtocolVersion::v5), encode_to_vector(p, ProtocolVersion::v5),
       encode_to_vector(c2, ProtocolVersion::v311), encode_to_vector(p, ProtocolVersion::v5)});
  for_each_split(wire, [&](const Chunks& chunks) {
    const DecodeResult r = decode_all(chunks);
    REQUIRE(!r.error);
    REQUIRE(r.size() == 4);
    CHECK(r.packets[1].packet == Packet{p});
    CHECK(r.packets[3].packet == Packet{p});
  });
  Decoder d;
  const Bytes cw = encode_to_vector(c, ProtocolVersion::v5);
  ByteSpan in = cw;
  CHECK(d.version() == ProtocolVersion::v311);
  (void)d.next(in);
  CHECK(d.version() == ProtocolVersion::v5);
}

TEST_CASE("decode_body decodes one complete body without the framer") {
  const std::uint8_t body[] = {0x00, 0x07, 0x10};
  auto r = decode_body(FixedHeader{PacketType::puback, 0, 3}, body, ProtocolVersion::v5);
  REQUIRE(std::holds_alternative<Packet>(r));
  CHECK(std::get<PubAck>(std::get<Packet>(r)) ==
        PubAck{7, ReasonCode::no_matching_subscribers, {}});
  auto bad = decode_body(FixedHeader{PacketType::puback, 1, 3}, body, ProtocolVersion::v5);
  REQUIRE(std::holds_alternative<DecodeError>(bad));
  CHECK(std::get<DecodeError>(bad).reason == ReasonCode::malformed_packet);
}

TEST_CASE("v5 acknowledgements accept the long forms with empty properties") {
  // PUBACK with reason success and an explicit zero property length.
  const Owned o = decode_one(bytes({0x40, 0x04, 0x00, 0x01, 0x00, 0x00}), ProtocolVersion::v5);
  CHECK(std::get<PubAck>(o.packet) == PubAck{1, ReasonCode::success, {}});
  const Owned d = decode_one(bytes({0xE0, 0x02, 0x00, 0x00}), ProtocolVersion::v5);
  CHECK(std::get<Disconnect>(d.packet) == Disconnect{});
}

TEST_CASE("a rejected first CONNECT still sets the version it claims") {
  // v5 CONNECT with receive maximum 0: protocol error, but the CONNACK must be v5.
  const Bytes v5 = {0x10, 0x10, 0x00, 0x04, 'M',  'Q',  'T',  'T',  0x05,
                    0x02, 0x00, 0x00, 0x03, 0x21, 0x00, 0x00, 0x00, 0x00};
  Decoder d;
  ByteSpan in = v5;
  DecodeStep s = d.next(in);
  REQUIRE(std::holds_alternative<DecodeError>(s));
  CHECK(std::get<DecodeError>(s).reason == ReasonCode::protocol_error);
  CHECK(d.version() == ProtocolVersion::v5);
  // An unknown level leaves the default.
  const Bytes bad = {0x10, 0x0C, 0x00, 0x04, 'M',  'Q',  'T',
                     'T',  0x07, 0x02, 0x00, 0x00, 0x00, 0x00};
  Decoder d2;
  ByteSpan in2 = bad;
  DecodeStep s2 = d2.next(in2);
  REQUIRE(std::holds_alternative<DecodeError>(s2));
  CHECK(std::get<DecodeError>(s2).reason == ReasonCode::unsupported_protocol_version);
  CHECK(d2.version() == ProtocolVersion::v311);
}
