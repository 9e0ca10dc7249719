// Randomized long sequences (connect / subscribe / publish / ack late / disconnect / socket loss
// / takeover / clean start / time passing) checked against invariants: nothing delivered twice
// at QoS 2, nothing lost at QoS 1/2 within the queue limits, inflight never above the client's
// receive maximum.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>

#include "harness.h"

using namespace wisp_test;
using namespace std::chrono_literals;

namespace {

constexpr int kClients = 5;
constexpr int kTopics = 4;
constexpr std::uint16_t kBrokerInflight = 4;

struct Model {
  std::string id;
  ProtocolVersion version = ProtocolVersion::v311;
  std::unique_ptr<TestClient> conn;
  std::uint16_t receive_max = kBrokerInflight;
  std::map<int, QoS> subs;                   // topic index -> granted QoS
  std::set<std::string> expected;            // QoS >= 1 payloads owed to this session
  std::set<std::string> received;            // payloads seen
  std::set<std::string> received_qos2;       // payloads handed to the app at QoS 2
  std::set<protocol::PacketId> qos2_open;    // PUBLISH seen, PUBREL not yet
  std::set<protocol::PacketId> outstanding;  // QoS 1/2 not finally acknowledged by us
  std::vector<protocol::Packet> pending_acks;
  bool ends_on_disconnect = false;  // 3.1.1 clean session: the session dies with the socket

  void reset_session() {
    subs.clear();
    expected.clear();
    qos2_open.clear();
    outstanding.clear();
    pending_acks.clear();
  }
};

class Sim {
 public:
  explicit Sim(std::uint32_t seed) : rng_(seed), f_(config()) {
    for (int i = 0; i < kClients; ++i) {
      models_[i].id = "c" + std::to_string(i);
      models_[i].version = i % 2 == 0 ? ProtocolVersion::v5 : ProtocolVersion::v311;
    }
  }

  static BrokerConfig config() {
    BrokerConfig c = test_config();
    c.max_inflight_messages = kBrokerInflight;
    c.max_queued_messages = 1000000;
    return c;
  }

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  void connect(Model& m, bool clean) {
    if (m.conn) {
      m.conn->closed();
      m.conn.reset();
      gone(m);
    }
    // Takeover: sometimes leave the old connection open and let the new one take over.
    auto c = std::make_unique<TestClient>(f_.broker, m.version);
    ConnectOptions o;
    o.client_id = m.id;
    o.clean = clean;
    if (m.version == ProtocolVersion::v5) {
      o.props.session_expiry_interval = 0xFFFFFFFF;
      m.receive_max = static_cast<std::uint16_t>(1 + pick(6));
      o.props.receive_maximum = m.receive_max;
    }
    if (clean) m.reset_session();
    m.ends_on_disconnect = clean && m.version != ProtocolVersion::v5;
    c->connect(o);
    m.conn = std::move(c);
    process(m);
  }

  void takeover(Model& m) {
    auto old = std::move(m.conn);
    auto c = std::make_unique<TestClient>(f_.broker, m.version);
    ConnectOptions o;
    o.client_id = m.id;
    o.clean = false;
    if (m.version == ProtocolVersion::v5) {
      o.props.session_expiry_interval = 0xFFFFFFFF;
      o.props.receive_maximum = m.receive_max;
    }
    m.pending_acks.clear();
    gone(m);
    c->connect(o);
    CHECK(old->close_requested());
    old->closed();
    m.conn = std::move(c);
    process(m);
  }

  // The connection of `m` is gone: a session that ends with it takes its state along.
  void gone(Model& m) {
    m.pending_acks.clear();
    if (m.ends_on_disconnect) {
      m.reset_session();
      m.ends_on_disconnect = false;
    }
  }

  std::size_t inflight_limit(const Model& m) const {
    return m.version == ProtocolVersion::v5 ? std::min<std::size_t>(m.receive_max, kBrokerInflight)
                                            : kBrokerInflight;
  }

  void ack(Model& m, protocol::Packet p, bool late_ok) {
    if (late_ok && chance(0.3)) {
      m.pending_acks.push_back(std::move(p));
      return;
    }
    send_ack(m, p);
  }
  void send_ack(Model& m, const protocol::Packet& p) {
    if (auto* a = std::get_if<protocol::PubAck>(&p)) m.outstanding.erase(a->id);
    m.conn->send(p);
  }

  // Reads and reacts to everything the broker sent to `m`.
  void process(Model& m) {
    for (int guard = 0; guard < 100000 && m.conn; ++guard) {
      auto pkt = m.conn->next();
      if (!pkt) break;
      if (auto* pub = std::get_if<protocol::Publish>(&*pkt)) {
        const std::string payload = as_string(pub->payload);
        if (pub->qos == QoS::at_most_once) {
          m.received.insert(payload);
          continue;
        }
        const bool resend = m.outstanding.contains(pub->id);
        if (!resend) {
          m.outstanding.insert(pub->id);
          CHECK_MESSAGE(m.outstanding.size() <= inflight_limit(m),
                        "inflight above receive maximum for " << m.id);
        }
        if (pub->qos == QoS::at_least_once) {
          m.received.insert(payload);
          ack(m, protocol::PubAck{pub->id, ReasonCode::success, {}}, true);
        } else {
          if (!m.qos2_open.contains(pub->id)) {
            CHECK_MESSAGE(!m.received_qos2.contains(payload), "QoS 2 duplicate " << payload);
            m.received_qos2.insert(payload);
            m.received.insert(payload);
            m.qos2_open.insert(pub->id);
          }
          ack(m, protocol::PubRec{pub->id, ReasonCode::success, {}}, true);
        }
      } else if (auto* rel = std::get_if<protocol::PubRel>(&*pkt)) {
        m.qos2_open.erase(rel->id);
        m.outstanding.erase(rel->id);
        m.conn->send(protocol::PubComp{rel->id, ReasonCode::success, {}});
      } else if (auto* rec = std::get_if<protocol::PubRec>(&*pkt)) {  // our own QoS 2 publish
        m.conn->send(protocol::PubRel{rec->id, ReasonCode::success, {}});
      }
    }
  }

  void publish(Model& m) {
    const int t = pick(kTopics);
    const QoS q = static_cast<QoS>(pick(3));
    const std::string payload = "m" + std::to_string(++msg_counter_);
    for (auto& [i, sub] : models_) {
      auto it = sub.subs.find(t);
      if (it == sub.subs.end()) continue;
      if (std::min(q, it->second) != QoS::at_most_once) sub.expected.insert(payload);
    }
    m.conn->publish("t/" + std::to_string(t), payload, q);
    process(m);
  }

  void step() {
    Model& m = models_[pick(kClients)];
    const int action = pick(100);
    if (!m.conn) {
      connect(m, chance(0.1));
      return;
    }
    if (action < 10) {
      const int t = pick(kTopics);
      const QoS q = static_cast<QoS>(1 + pick(2));
      m.subs[t] = q;
      m.conn->subscribe("t/" + std::to_string(t), q, 1);
    } else if (action < 55) {
      publish(m);
    } else if (action < 70) {
      while (!m.pending_acks.empty()) {
        send_ack(m, m.pending_acks.front());
        m.pending_acks.erase(m.pending_acks.begin());
      }
    } else if (action < 76) {
      m.conn->send(protocol::Disconnect{});
      m.conn->closed();
      m.conn.reset();
      gone(m);
    } else if (action < 82) {
      m.conn->closed();  // socket lost
      m.conn.reset();
      gone(m);
    } else if (action < 86) {
      takeover(m);
    } else if (action < 88) {
      connect(m, true);  // clean start
    } else {
      f_.clock.advance(100ms);
      f_.broker.tick();
    }
    for (auto& [i, other] : models_) {
      if (other.conn) process(other);
    }
  }

  void finish() {
    for (int round = 0; round < 50; ++round) {
      for (auto& [i, m] : models_) {
        if (!m.conn) connect(m, false);
        while (!m.pending_acks.empty()) {
          send_ack(m, m.pending_acks.front());
          m.pending_acks.erase(m.pending_acks.begin());
        }
        process(m);
      }
    }
    for (auto& [i, m] : models_) {
      for (const std::string& p : m.expected) {
        CHECK_MESSAGE(m.received.contains(p), m.id << " never got " << p);
      }
      CHECK(m.outstanding.empty());
    }
    CHECK(f_.broker.stats().publish_dropped == 0);
  }

  std::mt19937 rng_;
  Fixture f_;
  std::map<int, Model> models_;
  int msg_counter_ = 0;
};

}  // namespace

TEST_CASE("randomized: sessions, QoS flows, takeovers keep their invariants") {
  for (std::uint32_t seed = 1; seed <= 12; ++seed) {
    CAPTURE(seed);
    Sim sim(seed);
    for (int i = 0; i < 1500; ++i) sim.step();
    sim.finish();
  }
}
