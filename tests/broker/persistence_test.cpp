// The engine's Persistence calls, with a recording fake: what is submitted, PUBACK/PUBREC held
// back until when_durable() fires, and state restored by load() at startup.
#include "broker/core/persistence.h"

#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "broker/core/log.h"
#include "harness.h"

using namespace wisp_test;

namespace {

struct FakePersistence final : Persistence {
  void retained_set(const MessageRef& m) override { retained[m->topic] = m; }
  void retained_delete(std::string_view topic) override { retained.erase(std::string(topic)); }
  void session_upsert(const StoredSession& s) override { sessions[s.client_id] = s; }
  void session_delete(std::string_view id) override {
    sessions.erase(std::string(id));
    ++deletes;
  }
  void queue_push(std::string_view id, std::uint64_t seq, const StoredOutbound& e) override {
    queues[std::string(id)][seq] = e;
  }
  void queue_pop(std::string_view id, std::uint64_t seq) override {
    queues[std::string(id)].erase(seq);
  }
  void inflight_set(std::string_view id, const StoredOutbound& e) override {
    inflight[std::string(id)][e.id] = e;
  }
  void inflight_clear(std::string_view id, protocol::PacketId pid) override {
    inflight[std::string(id)].erase(pid);
  }
  void incoming_qos2_add(std::string_view id, protocol::PacketId pid) override {
    qos2[std::string(id)].push_back(pid);
  }
  void incoming_qos2_remove(std::string_view id, protocol::PacketId pid) override {
    std::erase(qos2[std::string(id)], pid);
  }
  void when_durable(std::function<void()> cb) override { waiting.push_back(std::move(cb)); }
  LoadedState load() override { return std::move(to_load); }

  void commit() {
    auto cbs = std::move(waiting);
    waiting.clear();
    for (auto& cb : cbs) cb();
  }

  std::map<std::string, MessageRef> retained;
  std::map<std::string, StoredSession> sessions;
  std::map<std::string, std::map<std::uint64_t, StoredOutbound>> queues;
  std::map<std::string, std::map<protocol::PacketId, StoredOutbound>> inflight;
  std::map<std::string, std::vector<protocol::PacketId>> qos2;
  std::vector<std::function<void()>> waiting;
  LoadedState to_load;
  int deletes = 0;
};

struct Lines final : Logger {
  void log(LogLevel, std::string_view line) noexcept override { lines.emplace_back(line); }
  std::vector<std::string> lines;
};

}  // namespace

TEST_CASE("persistence: retained set/delete submitted; QoS 1 PUBACK waits for durability") {
  Fixture f;
  FakePersistence db;
  f.broker.set_persistence(&db);
  auto p = f.client(ProtocolVersion::v311, "p");
  p->publish("r", "keep", QoS::at_least_once, true, 3);
  CHECK(db.retained.contains("r"));
  CHECK(p->nothing_more());  // not yet durable
  db.commit();
  CHECK(p->expect<protocol::PubAck>().id == 3);
  p->publish("r", "", QoS::at_least_once, true, 4);
  CHECK_FALSE(db.retained.contains("r"));
  db.commit();
  CHECK(p->expect<protocol::PubAck>().id == 4);
  p->publish("plain", "x", QoS::at_least_once, false, 5);  // nothing stored: immediate
  CHECK(p->expect<protocol::PubAck>().id == 5);
}

TEST_CASE("persistence: QoS 2 to an offline persistent session: queued, PUBREC after commit") {
  Fixture f;
  FakePersistence db;
  f.broker.set_persistence(&db);
  auto s = f.client(ProtocolVersion::v5, "s", [] {
    ConnectOptions o{.clean = false};
    o.props.session_expiry_interval = 600;
    return o;
  }());
  s->sub("q", QoS::exactly_once);
  REQUIRE(db.sessions.contains("s"));
  CHECK(db.sessions["s"].subscriptions.size() == 1);
  CHECK(db.sessions["s"].subscriptions[0].filter == "q");
  s->closed();
  auto p = f.client(ProtocolVersion::v5, "p");
  p->publish("q", "stored", QoS::exactly_once, false, 8);
  CHECK(db.queues["s"].size() == 1);
  CHECK(db.qos2["p"].empty());  // p is not persistent
  CHECK(p->nothing_more());
  db.commit();
  CHECK(p->expect<protocol::PubRec>().id == 8);
  TestClient s2(f.broker, ProtocolVersion::v5);
  ConnectOptions o{.client_id = "s", .clean = false};
  o.props.session_expiry_interval = 600;
  s2.connect(o);
  auto pub = s2.expect<protocol::Publish>();
  CHECK(db.queues["s"].empty());
  CHECK(db.inflight["s"].contains(pub.id));
  s2.send(protocol::PubRec{pub.id, ReasonCode::success, {}});
  s2.expect<protocol::PubRel>();
  CHECK(db.inflight["s"][pub.id].state == InflightState::pubrec_received);
  s2.send(protocol::PubComp{pub.id, ReasonCode::success, {}});
  CHECK(db.inflight["s"].empty());
}

TEST_CASE("persistence: clean start deletes the stored session") {
  Fixture f;
  FakePersistence db;
  f.broker.set_persistence(&db);
  auto a = f.client(ProtocolVersion::v311, "a", {.clean = false});
  a->closed();
  CHECK(db.sessions.contains("a"));
  auto a2 = f.client(ProtocolVersion::v311, "a", {.clean = true});
  CHECK_FALSE(db.sessions.contains("a"));
}

TEST_CASE("persistence: load() restores retained messages, sessions and their queues") {
  Fixture f;
  FakePersistence db;
  auto r = std::make_shared<Message>();
  r->topic = "r/1";
  r->retain = true;
  r->bytes = as_bytes("retained");
  db.to_load.retained.push_back(r);
  StoredSession st;
  st.client_id = "back";
  st.version = ProtocolVersion::v311;
  st.subscriptions.push_back({"live/#", {.qos = QoS::at_least_once}, 0});
  auto q = std::make_shared<Message>();
  q->topic = "live/x";
  q->qos = QoS::at_least_once;
  q->bytes = as_bytes("queued");
  st.outbound.push_back({q, QoS::at_least_once, false, 0, InflightState::publish_sent, {}});
  db.to_load.sessions.push_back(st);
  f.broker.set_persistence(&db);
  CHECK(f.broker.stats().retained_count == 1);
  CHECK(f.broker.stats().clients_total == 1);

  auto s = f.client(ProtocolVersion::v311, "back", {.clean = false});
  auto pub = s->expect<protocol::Publish>();
  CHECK(as_string(pub.payload) == "queued");
  auto p = f.client(ProtocolVersion::v311, "p");
  p->publish("live/y", "new");
  CHECK(as_string(s->expect<protocol::Publish>().payload) == "new");  // subscription restored
  auto t = f.client(ProtocolVersion::v311, "t");
  t->sub("r/#", QoS::at_most_once);
  CHECK(as_string(t->expect<protocol::Publish>().payload) == "retained");
}

TEST_CASE("logger: one line per connect and disconnect with id, address, transport, version") {
  Fixture f;
  Lines log;
  f.broker.set_logger(&log);
  auto a = f.client(ProtocolVersion::v5, "alpha", {.keep_alive = 30});
  a->closed();
  REQUIRE(log.lines.size() == 2);
  CHECK(log.lines[0].find("alpha") != std::string::npos);
  CHECK(log.lines[0].find("127.0.0.1:5000") != std::string::npos);
  CHECK(log.lines[0].find("tcp") != std::string::npos);
  CHECK(log.lines[0].find("v5.0") != std::string::npos);
  CHECK(log.lines[1].find("connection lost") != std::string::npos);
  auto b = f.client(ProtocolVersion::v311, "beta");
  b->send(protocol::Disconnect{});
  b->closed();
  REQUIRE(log.lines.size() == 4);
  CHECK(log.lines[3].find("beta") != std::string::npos);
  CHECK(log.lines[3].find("disconnected") != std::string::npos);
}
