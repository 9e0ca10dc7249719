// The client connection's receive path without sockets: WebSocket + MQTT decode, per-stream
// accounting, and the acknowledgements it writes back (QoS 1 and 2).
#include <doctest/doctest.h>

#include <vector>

#include "payload.h"
#include "protocol/decoder.h"
#include "protocol/encoder.h"
#include "worker.h"
#include "ws_frame.h"

using namespace wisp_bench;
using Bytes = std::vector<std::uint8_t>;

namespace {

struct Fixture {
  Shared sh;
  std::unique_ptr<Worker> w;
  Conn* c = nullptr;
  Fixture(Transport t, protocol::ProtocolVersion v) {
    sh.opt.transport = t;
    sh.opt.version = v;
    sh.opt.size = 32;
    sh.npubs = 2;
    sh.nsubs = 1;
    sh.sent = std::make_unique<std::atomic<std::uint64_t>[]>(2);
    sh.progress = std::make_unique<std::atomic<std::uint64_t>[]>(2);
    for (int i = 0; i < 2; ++i) sh.sent[i] = sh.progress[i] = 0;
    w = std::make_unique<Worker>(sh, 0);
    w->add({Role::subscriber, 0, "s0", "t", {}, {0, 1}});
    c = w->conns()[0].get();
    c->make_detached_ready(true);
  }
};

void add_publish(Bytes& out, protocol::ProtocolVersion v, std::uint32_t pub, std::uint64_t seq,
                 protocol::QoS qos, protocol::PacketId id, bool ours = true) {
  Bytes payload(32, 'x');
  if (ours) write_payload_header(payload.data(), PayloadHeader{pub, seq, 1});
  protocol::Publish p;
  p.topic = "t";
  p.qos = qos;
  p.id = id;
  p.payload = payload;
  const Bytes enc = protocol::encode_to_vector(p, v);
  out.insert(out.end(), enc.begin(), enc.end());
}

// Server -> client WebSocket stream: the MQTT bytes cut into 7-byte fragments of one
// message, with a ping in the middle.
Bytes as_ws(const Bytes& mqtt) {
  Bytes wire;
  for (std::size_t at = 0; at < mqtt.size(); at += 7) {
    const std::size_t n = std::min<std::size_t>(7, mqtt.size() - at);
    const bool last = at + n == mqtt.size();
    ws_append_frame(wire, at == 0 ? WsOpcode::binary : WsOpcode::continuation, last,
                    ByteSpan(mqtt.data() + at, n), std::nullopt);
    if (at == 14) ws_append_frame(wire, WsOpcode::ping, true, Bytes{'h', 'i'}, std::nullopt);
  }
  return wire;
}

struct Controls : WsHandler {
  Bytes data;
  std::vector<WsOpcode> ops;
  void on_ws_data(ByteSpan b) override { data.insert(data.end(), b.begin(), b.end()); }
  void on_ws_control(WsOpcode op, ByteSpan) override { ops.push_back(op); }
};

// Decodes what the client wrote (unmasking WebSocket frames first).
std::vector<protocol::Packet> client_output(const Fixture& f, std::vector<WsOpcode>* ops) {
  Bytes mqtt = f.c->detached_output();
  if (f.sh.opt.transport == Transport::ws) {
    WsFrameDecoder d(true);
    Controls ctl;
    REQUIRE(d.feed(mqtt, ctl) == WsError::none);
    mqtt = ctl.data;
    if (ops) *ops = ctl.ops;
  }
  std::vector<protocol::Packet> out;
  protocol::Decoder dec;
  dec.set_version(f.sh.opt.version);
  ByteSpan in(mqtt);
  for (;;) {
    auto step = dec.next(in);
    if (std::holds_alternative<protocol::NeedMore>(step)) break;
    REQUIRE(std::holds_alternative<protocol::Packet>(step));
    out.push_back(std::get<protocol::Packet>(step));
  }
  return out;
}

}  // namespace

TEST_CASE("subscriber counts, detects loss and duplicates, and acknowledges QoS 1") {
  for (auto t : {Transport::tcp, Transport::ws}) {
    for (auto v : {protocol::ProtocolVersion::v311, protocol::ProtocolVersion::v5}) {
      CAPTURE(static_cast<int>(t));
      CAPTURE(static_cast<int>(v));
      Fixture f(t, v);
      Bytes mqtt;
      const protocol::QoS q1 = protocol::QoS::at_least_once;
      std::uint16_t id = 1;
      for (std::uint64_t seq : {0, 1, 2, 2, 4}) add_publish(mqtt, v, 0, seq, q1, id++);
      for (std::uint64_t seq : {0, 1}) add_publish(mqtt, v, 1, seq, q1, id++);
      add_publish(mqtt, v, 0, 0, q1, id++, /*ours=*/false);
      const Bytes wire = t == Transport::ws ? as_ws(mqtt) : mqtt;
      for (std::size_t at = 0; at < wire.size(); at += 3) {
        f.c->on_bytes(ByteSpan(wire.data() + at, std::min<std::size_t>(3, wire.size() - at)));
      }
      f.c->flush();  // as after each read
      REQUIRE(f.c->state() == Conn::State::ready);
      const auto& tr = f.c->trackers();
      CHECK(tr[0].unique() == 4);
      CHECK(tr[0].duplicates() == 1);
      CHECK(tr[0].lost(5) == 1);
      CHECK(tr[1].unique() == 2);
      CHECK(tr[1].lost(2) == 0);
      CHECK(f.w->stats().foreign == 1);
      CHECK(f.w->stats().received == 7);
      CHECK(f.w->stats().unique == 6);
      CHECK(f.sh.progress[0].load() == 5);
      CHECK(f.sh.progress[1].load() == 2);
      std::vector<WsOpcode> ops;
      const auto out = client_output(f, &ops);
      REQUIRE(out.size() == 8);
      for (std::size_t i = 0; i < out.size(); ++i) {
        const auto* ack = std::get_if<protocol::PubAck>(&out[i]);
        REQUIRE(ack != nullptr);
        CHECK(ack->id == i + 1);
      }
      if (t == Transport::ws) CHECK(ops == std::vector<WsOpcode>{WsOpcode::pong});
    }
  }
}

TEST_CASE("QoS 2 delivery: PUBREC, then PUBCOMP for PUBREL") {
  Fixture f(Transport::tcp, protocol::ProtocolVersion::v5);
  Bytes mqtt;
  add_publish(mqtt, protocol::ProtocolVersion::v5, 0, 0, protocol::QoS::exactly_once, 9);
  const Bytes rel =
      protocol::encode_to_vector(protocol::PubRel{9, {}, {}}, protocol::ProtocolVersion::v5);
  mqtt.insert(mqtt.end(), rel.begin(), rel.end());
  f.c->on_bytes(mqtt);
  f.c->flush();
  const auto out = client_output(f, nullptr);
  REQUIRE(out.size() == 2);
  REQUIRE(std::holds_alternative<protocol::PubRec>(out[0]));
  CHECK(std::get<protocol::PubRec>(out[0]).id == 9);
  REQUIRE(std::holds_alternative<protocol::PubComp>(out[1]));
  CHECK(std::get<protocol::PubComp>(out[1]).id == 9);
  CHECK(f.c->trackers()[0].unique() == 1);
}

TEST_CASE("malformed input from the broker fails the connection, it does not crash") {
  for (auto t : {Transport::tcp, Transport::ws}) {
    Fixture f(t, protocol::ProtocolVersion::v311);
    const Bytes bad{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};  // 5-byte remaining length
    f.c->on_bytes(t == Transport::ws ? as_ws(bad) : bad);
    CHECK(f.c->state() == Conn::State::failed);
    CHECK(f.w->stats().error_count == 1);
  }
  Fixture f(Transport::ws, protocol::ProtocolVersion::v311);
  f.c->on_bytes(Bytes{0x81, 0x00});  // text frame
  CHECK(f.c->state() == Conn::State::failed);
}
