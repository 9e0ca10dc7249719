// In-memory harness for the session engine: a manual clock, a fake transport (TestPeer) and a
// TestClient that encodes packets with the protocol encoder, feeds them to a Connection and
// decodes what the write pump produces. No sockets, no sleeps.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/core/broker.h"
#include "broker/core/clock.h"
#include "broker/core/connection.h"
#include "broker/core/peer.h"
#include "protocol/decoder.h"
#include "protocol/encoder.h"
#include "protocol/packets.h"

namespace wisp_test {

using namespace broker::core;
using protocol::ProtocolVersion;
using protocol::QoS;
using protocol::ReasonCode;
using Bytes = std::vector<std::uint8_t>;

class ManualClock final : public Clock {
 public:
  TimePoint now() const noexcept override { return now_; }
  void advance(std::chrono::milliseconds d) { now_ += d; }
  TimePoint now_ = TimePoint{} + std::chrono::hours(24 * 365 * 50);
};

class TestPeer final : public Peer {
 public:
  void want_write() noexcept override { ++want_write_calls; }
  void close(ReasonCode why) noexcept override { close_reason = why; }
  void pause_reading(bool p) noexcept override { paused = p; }
  int want_write_calls = 0;
  std::optional<ReasonCode> close_reason;
  bool paused = false;
};

inline Bytes as_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline std::string as_string(protocol::ByteSpan b) { return std::string(b.begin(), b.end()); }

struct ConnectOptions {
  ProtocolVersion version = ProtocolVersion::v311;
  std::string client_id;
  bool clean = true;
  std::uint16_t keep_alive = 0;
  std::optional<std::string> username;
  std::optional<protocol::Will> will;
  protocol::Properties props;
  bool bridge = false;
};

class TestClient {
 public:
  TestClient(Broker& broker, ProtocolVersion v, std::string remote = "127.0.0.1:5000",
             const ListenerPolicy* listener = nullptr)
      : version_(v) {
    ConnectionInfo info;
    info.remote_address = std::move(remote);
    info.listener = listener;
    conn_ = std::make_unique<Connection>(broker, peer_, std::move(info));
  }
  ~TestClient() {
    if (conn_ && !closed_) conn_->on_closed();
  }

  ProtocolVersion version() const { return version_; }
  TestPeer& peer() { return peer_; }
  Connection& conn() { return *conn_; }

  void send_raw(const Bytes& b) { conn_->on_bytes(b); }
  void send(const protocol::Packet& p) { send_raw(protocol::encode_to_vector(p, version_)); }

  // CONNECT and expect CONNACK success. Returns the CONNACK.
  protocol::ConnAck connect(ConnectOptions o = {}) {
    o.version = version_;
    send_connect(o);
    auto ack = expect<protocol::ConnAck>();
    CHECK(ack.reason == ReasonCode::success);
    return ack;
  }
  void send_connect(const ConnectOptions& o) {
    protocol::Connect c;
    c.version = version_;
    c.client_id = o.client_id;
    c.clean_start = o.clean;
    c.keep_alive_s = o.keep_alive;
    c.bridge = o.bridge;
    if (o.username) c.username = *o.username;
    c.will = o.will;
    c.properties = o.props;
    send(c);
  }

  void subscribe(std::string_view filter, QoS qos, protocol::PacketId id = 1,
                 protocol::SubscribeOptions opts = {}, std::uint32_t sub_id = 0) {
    protocol::Subscribe s;
    s.id = id;
    opts.qos = qos;
    s.subscriptions.push_back({filter, opts});
    if (sub_id != 0) s.properties.subscription_identifiers.push_back(sub_id);
    send(s);
  }
  // Subscribe and consume the SUBACK; returns its reasons.
  std::vector<ReasonCode> sub(std::string_view filter, QoS qos, protocol::SubscribeOptions o = {},
                              std::uint32_t sub_id = 0) {
    subscribe(filter, qos, 77, o, sub_id);
    auto ack = expect<protocol::SubAck>();
    CHECK(ack.id == 77);
    return ack.reasons;
  }
  void publish(std::string_view topic, std::string_view payload, QoS qos = QoS::at_most_once,
               bool retain = false, protocol::PacketId id = 0, protocol::Properties props = {}) {
    protocol::Publish p;
    p.topic = topic;
    Bytes pl = as_bytes(payload);
    p.payload = pl;
    p.qos = qos;
    p.retain = retain;
    p.id = qos == QoS::at_most_once ? 0 : (id == 0 ? next_id_++ : id);
    p.properties = std::move(props);
    send(p);
  }

  // Pulls everything queued (through a small buffer, so packets are sliced) and decodes it.
  void pump(std::size_t chunk = 7) {
    std::vector<std::uint8_t> buf(chunk);
    for (int guard = 0; guard < 1000000 && conn_->has_output(); ++guard) {
      const std::size_t n = conn_->fill_output(buf);
      if (n == 0) break;
      raw_.insert(raw_.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    }
    split();
  }
  // Next packet, or nullopt. Views stay valid while the client lives.
  std::optional<protocol::Packet> next() {
    pump();
    if (ready_ == packets_.size()) return std::nullopt;
    return packets_[ready_++];
  }
  template <class T>
  T expect() {
    auto p = next();
    REQUIRE_MESSAGE(p.has_value(), "expected a packet, got nothing");
    if (!std::holds_alternative<T>(*p)) {
      FAIL("unexpected packet type " << protocol::to_string(protocol::type_of(*p)));
    }
    return std::get<T>(*p);
  }
  // Raw bytes of the last packet returned by next()/expect().
  const Bytes& last_raw() const { return frames_[ready_ - 1]; }
  bool nothing_more() {
    pump();
    return ready_ == packets_.size();
  }
  std::size_t pending() {
    pump();
    return packets_.size() - ready_;
  }
  // Reads every pending PUBLISH (acknowledging nothing).
  std::vector<protocol::Publish> publishes() {
    std::vector<protocol::Publish> out;
    while (auto p = next()) {
      if (auto* pub = std::get_if<protocol::Publish>(&*p)) out.push_back(*pub);
    }
    return out;
  }

  bool close_requested() const { return peer_.close_reason.has_value(); }
  // The transport finished closing (after close() or a socket loss).
  void closed() {
    if (closed_) return;
    pump();
    closed_ = true;
    conn_->on_closed();
  }

 private:
  void split() {
    for (;;) {
      if (raw_.size() - pos_ < 2) return;
      std::size_t i = pos_ + 1;
      std::uint32_t len = 0;
      std::uint32_t mul = 1;
      for (;;) {
        if (i >= raw_.size()) return;
        len += (raw_[i] & 0x7Fu) * mul;
        mul *= 128;
        if ((raw_[i++] & 0x80) == 0) break;
      }
      if (raw_.size() - i < len) return;
      Bytes frame(raw_.begin() + static_cast<std::ptrdiff_t>(pos_),
                  raw_.begin() + static_cast<std::ptrdiff_t>(i + len));
      pos_ = i + len;
      frames_.push_back(std::move(frame));
      const Bytes& f = frames_.back();
      protocol::FixedHeader h;
      h.type = static_cast<protocol::PacketType>(f[0] >> 4);
      h.flags = f[0] & 0x0F;
      h.remaining_length = len;
      const std::size_t body_at = f.size() - len;
      auto r = protocol::decode_body(h, protocol::ByteSpan(f).subspan(body_at), version_);
      if (auto* e = std::get_if<protocol::DecodeError>(&r)) {
        FAIL("broker sent an undecodable packet: " << e->detail);
      }
      packets_.push_back(std::get<protocol::Packet>(r));
    }
  }

  ProtocolVersion version_;
  TestPeer peer_;
  std::unique_ptr<Connection> conn_;
  bool closed_ = false;
  Bytes raw_;
  std::size_t pos_ = 0;
  std::deque<Bytes> frames_;
  std::deque<protocol::Packet> packets_;
  std::size_t ready_ = 0;
  protocol::PacketId next_id_ = 1;
};

inline BrokerConfig test_config() {
  BrokerConfig c;
  c.sys_interval = std::chrono::seconds(0);
  return c;
}

struct Fixture {
  explicit Fixture(BrokerConfig c = test_config()) : broker(std::move(c), clock) {}
  std::unique_ptr<TestClient> client(ProtocolVersion v, std::string id, ConnectOptions o = {},
                                     const ListenerPolicy* listener = nullptr) {
    auto c = std::make_unique<TestClient>(broker, v, "127.0.0.1:5000", listener);
    o.client_id = std::move(id);
    c->connect(o);
    return c;
  }
  ManualClock clock;
  Broker broker;
};

inline const ProtocolVersion kBoth[] = {ProtocolVersion::v311, ProtocolVersion::v5};

}  // namespace wisp_test
