// Session engine behaviour, driven through the in-memory harness: CONNECT rules, QoS flows,
// retained, wills, keep alive, limits, MQTT 5 features. 3.1.1 and 5.0 where both apply.
#include "broker/core/engine.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>

#include "harness.h"
#include "protocol/topic.h"

using namespace wisp_test;
using namespace std::chrono_literals;

namespace {

std::string ver(ProtocolVersion v) { return v == ProtocolVersion::v5 ? "v5" : "v3.1.1"; }

}  // namespace

// ---- CONNECT ------------------------------------------------------------------------------

TEST_CASE("connect: CONNACK success, exact bytes") {
  Fixture f;
  TestClient a(f.broker, ProtocolVersion::v311);
  a.send_connect({.client_id = "a"});
  a.expect<protocol::ConnAck>();
  CHECK(a.last_raw() == Bytes{0x20, 0x02, 0x00, 0x00});
  TestClient b(f.broker, ProtocolVersion::v5);
  b.send_connect({.version = ProtocolVersion::v5, .client_id = "b"});
  auto ack = b.expect<protocol::ConnAck>();
  CHECK(ack.reason == ReasonCode::success);
  CHECK(ack.properties.receive_maximum == std::optional<std::uint16_t>(20));
  CHECK(ack.properties.topic_alias_maximum == std::optional<std::uint16_t>(10));
  CHECK(f.broker.stats().clients_connected == 2);
}

TEST_CASE("connect: unsupported protocol version gets CONNACK 0x01 and close") {
  Fixture f;
  TestClient a(f.broker, ProtocolVersion::v311);
  // CONNECT, protocol name MQTT, level 6, flags clean, keep alive 0, client id "x".
  a.send_raw({0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x00, 0x00, 0x01, 'x'});
  a.expect<protocol::ConnAck>();
  CHECK(a.last_raw() == Bytes{0x20, 0x02, 0x00, 0x01});
  CHECK(a.close_requested());
}

TEST_CASE("connect: first packet not CONNECT closes without answer") {
  Fixture f;
  TestClient a(f.broker, ProtocolVersion::v311);
  a.send_raw({0xC0, 0x00});  // PINGREQ
  CHECK(a.nothing_more());
  CHECK(a.close_requested());
}

TEST_CASE("connect: second CONNECT is a protocol error") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto a = f.client(v, "a");
    a->send_connect({.version = v, .client_id = "a"});
    if (v == ProtocolVersion::v5) {
      CHECK(a->expect<protocol::Disconnect>().reason == ReasonCode::protocol_error);
    } else {
      CHECK(a->nothing_more());
    }
    CHECK(a->close_requested());
  }
}

TEST_CASE("connect: empty client id") {
  Fixture f;
  SUBCASE("3.1.1 clean session gets an id") {
    TestClient a(f.broker, ProtocolVersion::v311);
    a.connect({.client_id = ""});
  }
  SUBCASE("3.1.1 persistent session rejected with 0x02") {
    TestClient a(f.broker, ProtocolVersion::v311);
    a.send_connect({.client_id = "", .clean = false});
    a.expect<protocol::ConnAck>();
    CHECK(a.last_raw() == Bytes{0x20, 0x02, 0x00, 0x02});
    CHECK(a.close_requested());
  }
  SUBCASE("v5 gets an assigned client identifier") {
    TestClient a(f.broker, ProtocolVersion::v5);
    auto ack = a.connect({.client_id = "", .clean = false});
    REQUIRE(ack.properties.assigned_client_identifier.has_value());
    CHECK(ack.properties.assigned_client_identifier->substr(0, 5) == "auto-");
  }
}

TEST_CASE("connect: anonymous refused when the listener disallows it") {
  ListenerPolicy pol;
  pol.allow_anonymous = false;
  Fixture f;
  TestClient a(f.broker, ProtocolVersion::v311, "1.2.3.4:1", &pol);
  a.send_connect({.client_id = "a"});
  a.expect<protocol::ConnAck>();
  CHECK(a.last_raw() == Bytes{0x20, 0x02, 0x00, 0x05});
  TestClient b(f.broker, ProtocolVersion::v5, "1.2.3.4:2", &pol);
  b.send_connect({.version = ProtocolVersion::v5, .client_id = "b"});
  CHECK(b.expect<protocol::ConnAck>().reason == ReasonCode::not_authorized);
  TestClient c(f.broker, ProtocolVersion::v311, "1.2.3.4:3", &pol);
  c.connect({.client_id = "c", .username = std::string("user")});
}

namespace {
struct DenyAll final : Authenticator {
  AuthDecision authenticate(const AuthRequest& r) override {
    AuthDecision d;
    last_user = r.username ? std::string(*r.username) : "";
    d.reason = r.username == std::optional<std::string_view>("good")
                   ? ReasonCode::success
                   : ReasonCode::bad_user_name_or_password;
    return d;
  }
  std::string last_user;
};
struct Acl final : Authorizer {
  bool allowed(const ClientIdentity&, std::string_view topic, Access a) override {
    if (a == Access::subscribe) return topic.substr(0, 6) != "secret";
    if (a == Access::write) return topic.substr(0, 8) != "readonly";
    return topic != "hidden";
  }
};
}  // namespace

TEST_CASE("connect: authenticator decides, bad password maps per version") {
  Fixture f;
  DenyAll auth;
  f.broker.set_authenticator(&auth);
  TestClient a(f.broker, ProtocolVersion::v311);
  a.send_connect({.client_id = "a", .username = std::string("bad")});
  a.expect<protocol::ConnAck>();
  CHECK(a.last_raw() == Bytes{0x20, 0x02, 0x00, 0x04});
  TestClient b(f.broker, ProtocolVersion::v5);
  b.send_connect({.version = ProtocolVersion::v5, .client_id = "b", .username = std::string("x")});
  CHECK(b.expect<protocol::ConnAck>().reason == ReasonCode::bad_user_name_or_password);
  TestClient c(f.broker, ProtocolVersion::v5);
  c.connect({.client_id = "c", .username = std::string("good")});
  CHECK(auth.last_user == "good");
}

TEST_CASE("connect: v5 unsupported authentication method gets 0x8C") {
  Fixture f;
  TestClient a(f.broker, ProtocolVersion::v5);
  ConnectOptions o{.version = ProtocolVersion::v5, .client_id = "a"};
  o.props.authentication_method = "SCRAM-SHA-1";
  a.send_connect(o);
  CHECK(a.expect<protocol::ConnAck>().reason == ReasonCode::bad_authentication_method);
  CHECK(a.close_requested());
}

TEST_CASE("connect: server keep alive caps a v5 client's keep alive") {
  auto cfg = test_config();
  cfg.max_keepalive = 60;
  Fixture f(cfg);
  TestClient a(f.broker, ProtocolVersion::v5);
  auto ack = a.connect({.client_id = "a", .keep_alive = 600});
  CHECK(ack.properties.server_keep_alive == std::optional<std::uint16_t>(60));
  f.clock.advance(89s);
  f.broker.tick();
  CHECK_FALSE(a.close_requested());
  f.clock.advance(2s);
  f.broker.tick();
  CHECK(a.expect<protocol::Disconnect>().reason == ReasonCode::keep_alive_timeout);
}

TEST_CASE("keep alive: enforced at 1.5x, activity resets it") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto a = f.client(v, "a", {.keep_alive = 10});
    f.clock.advance(14s);
    f.broker.tick();
    a->send(protocol::PingReq{});
    a->expect<protocol::PingResp>();
    f.clock.advance(14s);
    f.broker.tick();
    CHECK_FALSE(a->close_requested());
    f.clock.advance(2s);
    f.broker.tick();
    CHECK(a->close_requested());
    if (v == ProtocolVersion::v5) {
      CHECK(a->expect<protocol::Disconnect>().reason == ReasonCode::keep_alive_timeout);
    }
  }
}

TEST_CASE("connect deadline: a socket that never sends CONNECT is closed") {
  Fixture f;
  TestClient a(f.broker, ProtocolVersion::v311);
  f.clock.advance(9s);
  f.broker.tick();
  CHECK_FALSE(a.close_requested());
  f.clock.advance(2s);
  f.broker.tick();
  CHECK(a.close_requested());
  CHECK(a.nothing_more());
}

// ---- sessions -----------------------------------------------------------------------------

TEST_CASE("session: takeover closes the old connection (v5 DISCONNECT 0x8E)") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto a1 = f.client(v, "same");
    auto a2 = f.client(v, "same");
    CHECK(a1->close_requested());
    if (v == ProtocolVersion::v5) {
      CHECK(a1->expect<protocol::Disconnect>().reason == ReasonCode::session_taken_over);
    } else {
      CHECK(a1->nothing_more());
    }
    a1->closed();
    CHECK_FALSE(a2->close_requested());
    a2->send(protocol::PingReq{});
    a2->expect<protocol::PingResp>();
  }
}

TEST_CASE("session: persistent session keeps subscriptions and queues QoS 1 while offline") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    ConnectOptions o{.clean = false};
    if (v == ProtocolVersion::v5) o.props.session_expiry_interval = 3600;
    auto s = f.client(v, "sub", o);
    s->sub("t/1", QoS::at_least_once);
    s->send(protocol::Disconnect{});
    s->closed();
    auto p = f.client(v, "pub");
    p->publish("t/1", "offline", QoS::at_least_once);
    p->expect<protocol::PubAck>();
    p->publish("t/1", "q0", QoS::at_most_once);  // QoS 0 not queued for offline sessions
    TestClient s2(f.broker, v);
    auto ack = s2.connect({.client_id = "sub", .clean = false, .props = o.props});
    CHECK(ack.session_present);
    auto pub = s2.expect<protocol::Publish>();
    CHECK(pub.topic == "t/1");
    CHECK(as_string(pub.payload) == "offline");
    CHECK(pub.qos == QoS::at_least_once);
    CHECK(s2.nothing_more());
  }
}

TEST_CASE("session: clean start discards the old session") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    ConnectOptions o{.clean = false};
    if (v == ProtocolVersion::v5) o.props.session_expiry_interval = 3600;
    auto s = f.client(v, "sub", o);
    s->sub("t/1", QoS::at_least_once);
    s->send(protocol::Disconnect{});
    s->closed();
    TestClient s2(f.broker, v);
    CHECK_FALSE(s2.connect({.client_id = "sub", .clean = true}).session_present);
    auto p = f.client(v, "pub");
    p->publish("t/1", "x");
    CHECK(s2.nothing_more());
  }
}

TEST_CASE("session: v5 session expiry ends the session; 3.1.1 persistent never expires") {
  Fixture f;
  ConnectOptions o{.clean = false};
  o.props.session_expiry_interval = 30;
  auto a = f.client(ProtocolVersion::v5, "v5", o);
  a->send(protocol::Disconnect{});
  a->closed();
  auto b = f.client(ProtocolVersion::v311, "v3", {.clean = false});
  b->closed();
  CHECK(f.broker.stats().clients_total == 2);
  f.clock.advance(31s);
  f.broker.tick();
  CHECK(f.broker.stats().clients_total == 1);
  f.clock.advance(std::chrono::hours(24 * 400));
  f.broker.tick();
  CHECK(f.broker.stats().clients_total == 1);
}

TEST_CASE("session: persistent_client_expiration expires 3.1.1 sessions") {
  auto cfg = test_config();
  cfg.persistent_client_expiration = std::chrono::seconds(3600);
  Fixture f(cfg);
  auto b = f.client(ProtocolVersion::v311, "v3", {.clean = false});
  b->closed();
  f.clock.advance(3599s);
  f.broker.tick();
  CHECK(f.broker.stats().clients_total == 1);
  f.clock.advance(2s);
  f.broker.tick();
  CHECK(f.broker.stats().clients_total == 0);
}

TEST_CASE("session: v5 DISCONNECT may not set expiry after CONNECT had 0") {
  Fixture f;
  auto a = f.client(ProtocolVersion::v5, "a");
  protocol::Disconnect d;
  d.properties.session_expiry_interval = 10;
  a->send(d);
  CHECK(a->expect<protocol::Disconnect>().reason == ReasonCode::protocol_error);
}

// ---- QoS flows ----------------------------------------------------------------------------

TEST_CASE("qos 0: publish reaches subscriber, exact bytes") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto s = f.client(v, "s");
    CHECK(s->sub("a/b", QoS::at_most_once) == std::vector<ReasonCode>{ReasonCode::granted_qos_0});
    auto p = f.client(v, "p");
    p->publish("a/b", "hi");
    s->expect<protocol::Publish>();
    if (v == ProtocolVersion::v5) {
      CHECK(s->last_raw() == Bytes{0x30, 0x08, 0x00, 0x03, 'a', '/', 'b', 0x00, 'h', 'i'});
    } else {
      CHECK(s->last_raw() == Bytes{0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i'});
    }
    CHECK(p->nothing_more());
  }
}

TEST_CASE("qos 1: PUBACK to publisher, delivery with packet id, PUBACK frees it") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto s = f.client(v, "s");
    s->sub("a/#", QoS::at_least_once);
    auto p = f.client(v, "p");
    p->publish("a/b", "m", QoS::at_least_once, false, 9);
    auto ack = p->expect<protocol::PubAck>();
    CHECK(ack.id == 9);
    CHECK(ack.reason == ReasonCode::success);
    auto pub = s->expect<protocol::Publish>();
    CHECK(pub.qos == QoS::at_least_once);
    CHECK(pub.id != 0);
    CHECK_FALSE(pub.dup);
    s->send(protocol::PubAck{pub.id, ReasonCode::success, {}});
    CHECK(s->nothing_more());
  }
}

TEST_CASE("qos 2: full flow both ways, duplicate PUBLISH before PUBREL not delivered twice") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto s = f.client(v, "s");
    s->sub("x", QoS::exactly_once);
    auto p = f.client(v, "p");
    p->publish("x", "once", QoS::exactly_once, false, 5);
    CHECK(p->expect<protocol::PubRec>().id == 5);
    p->publish("x", "once", QoS::exactly_once, false, 5);  // resend (DUP) before PUBREL
    CHECK(p->expect<protocol::PubRec>().id == 5);
    p->send(protocol::PubRel{5, ReasonCode::success, {}});
    CHECK(p->expect<protocol::PubComp>().id == 5);
    auto pub = s->expect<protocol::Publish>();
    CHECK(pub.qos == QoS::exactly_once);
    CHECK(s->nothing_more());  // exactly once
    s->send(protocol::PubRec{pub.id, ReasonCode::success, {}});
    CHECK(s->expect<protocol::PubRel>().id == pub.id);
    s->send(protocol::PubComp{pub.id, ReasonCode::success, {}});
    CHECK(s->nothing_more());
    // After PUBREL the id is free: the same id is a new message.
    p->publish("x", "twice", QoS::exactly_once, false, 5);
    p->expect<protocol::PubRec>();
    CHECK(as_string(s->expect<protocol::Publish>().payload) == "twice");
  }
}

TEST_CASE("qos: downgrade to the granted QoS") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto s = f.client(v, "s");
    s->sub("x", QoS::at_least_once);
    auto p = f.client(v, "p");
    p->publish("x", "m", QoS::exactly_once);
    auto pub = s->expect<protocol::Publish>();
    CHECK(pub.qos == QoS::at_least_once);
    s->sub("y", QoS::exactly_once);
    p->publish("y", "m", QoS::at_most_once);
    CHECK(s->expect<protocol::Publish>().qos == QoS::at_most_once);
  }
}

TEST_CASE("qos: unacknowledged messages resent with DUP on resume, PUBREL resent") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    ConnectOptions o{.clean = false};
    if (v == ProtocolVersion::v5) o.props.session_expiry_interval = 100;
    auto s = f.client(v, "s", o);
    s->sub("x", QoS::exactly_once);
    auto p = f.client(v, "p");
    p->publish("x", "one", QoS::at_least_once);
    p->publish("x", "two", QoS::exactly_once);
    auto m1 = s->expect<protocol::Publish>();
    auto m2 = s->expect<protocol::Publish>();
    s->send(protocol::PubRec{m2.id, ReasonCode::success, {}});
    s->expect<protocol::PubRel>();
    s->closed();  // connection lost
    TestClient s2(f.broker, v);
    CHECK(s2.connect({.client_id = "s", .clean = false, .props = o.props}).session_present);
    auto r1 = s2.expect<protocol::Publish>();
    CHECK(r1.dup);
    CHECK(r1.id == m1.id);
    CHECK(as_string(r1.payload) == "one");
    CHECK(s2.expect<protocol::PubRel>().id == m2.id);
    CHECK(s2.nothing_more());
  }
}

TEST_CASE("ordering: messages on a topic arrive in publish order across QoS") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto s = f.client(v, "s");
    s->sub("o", QoS::exactly_once);
    auto p = f.client(v, "p");
    for (int i = 0; i < 30; ++i) {
      p->publish("o", std::to_string(i), static_cast<QoS>(i % 3));
    }
    std::vector<std::string> got;
    for (int guard = 0; guard < 100 && got.size() < 30; ++guard) {
      auto pkt = s->next();
      if (!pkt) break;
      if (auto* rel = std::get_if<protocol::PubRel>(&*pkt)) {
        s->send(protocol::PubComp{rel->id, ReasonCode::success, {}});
        continue;
      }
      auto& pub = std::get<protocol::Publish>(*pkt);
      got.push_back(as_string(pub.payload));
      if (pub.qos == QoS::at_least_once) s->send(protocol::PubAck{pub.id, ReasonCode::success, {}});
      if (pub.qos == QoS::exactly_once) s->send(protocol::PubRec{pub.id, ReasonCode::success, {}});
    }
    REQUIRE(got.size() == 30);
    for (int i = 0; i < 30; ++i) CHECK(got[static_cast<std::size_t>(i)] == std::to_string(i));
  }
}

// ---- flow control -------------------------------------------------------------------------

TEST_CASE("flow: never more than the client's receive maximum in flight") {
  Fixture f;
  ConnectOptions o;
  o.props.receive_maximum = 2;
  auto s = f.client(ProtocolVersion::v5, "s", o);
  s->sub("x", QoS::at_least_once);
  auto p = f.client(ProtocolVersion::v311, "p");
  for (int i = 0; i < 5; ++i) p->publish("x", std::to_string(i), QoS::at_least_once);
  auto first = s->publishes();
  REQUIRE(first.size() == 2);
  s->send(protocol::PubAck{first[0].id, ReasonCode::success, {}});
  auto more = s->publishes();
  REQUIRE(more.size() == 1);
  CHECK(as_string(more[0].payload) == "2");
}

TEST_CASE("flow: broker max_inflight caps v3.1.1 clients too") {
  auto cfg = test_config();
  cfg.max_inflight_messages = 3;
  Fixture f(cfg);
  auto s = f.client(ProtocolVersion::v311, "s");
  s->sub("x", QoS::at_least_once);
  auto p = f.client(ProtocolVersion::v311, "p");
  for (int i = 0; i < 10; ++i) p->publish("x", "m", QoS::at_least_once);
  CHECK(s->publishes().size() == 3);
}

TEST_CASE("flow: a v5 client exceeding our receive maximum gets 0x93") {
  auto cfg = test_config();
  cfg.max_inflight_messages = 2;
  Fixture f(cfg);
  auto p = f.client(ProtocolVersion::v5, "p");
  p->publish("x", "1", QoS::exactly_once);
  p->publish("x", "2", QoS::exactly_once);
  p->publish("x", "3", QoS::exactly_once);
  p->expect<protocol::PubRec>();
  p->expect<protocol::PubRec>();
  CHECK(p->expect<protocol::Disconnect>().reason == ReasonCode::receive_maximum_exceeded);
}

TEST_CASE("flow: bounded queue drops and counts") {
  auto cfg = test_config();
  cfg.max_queued_messages = 3;
  Fixture f(cfg);
  auto s = f.client(ProtocolVersion::v311, "s", {.clean = false});
  s->sub("x", QoS::at_least_once);
  s->closed();
  auto p = f.client(ProtocolVersion::v311, "p");
  for (int i = 0; i < 5; ++i) p->publish("x", std::to_string(i), QoS::at_least_once);
  CHECK(f.broker.stats().publish_dropped == 2);
  TestClient s2(f.broker, ProtocolVersion::v311);
  s2.connect({.client_id = "s", .clean = false});
  auto got = s2.publishes();
  REQUIRE(got.size() == 3);
  CHECK(as_string(got[2].payload) == "2");
}

TEST_CASE("flow: client maximum packet size honoured (message skipped for that client)") {
  Fixture f;
  ConnectOptions o;
  o.props.maximum_packet_size = 20;
  auto small = f.client(ProtocolVersion::v5, "small", o);
  small->sub("x", QoS::at_least_once);
  auto big = f.client(ProtocolVersion::v5, "big");
  big->sub("x", QoS::at_least_once);
  auto p = f.client(ProtocolVersion::v5, "p");
  p->publish("x", std::string(50, 'z'), QoS::at_least_once);
  p->publish("x", "tiny", QoS::at_least_once);
  auto got = small->publishes();
  REQUIRE(got.size() == 1);
  CHECK(as_string(got[0].payload) == "tiny");
  CHECK(big->publishes().size() == 2);
}

TEST_CASE("flow: slow reader pauses reading above high water, resumes below low water") {
  auto cfg = test_config();
  cfg.output_high_water_bytes = 1000;
  cfg.output_low_water_bytes = 100;
  Fixture f(cfg);
  auto s = f.client(ProtocolVersion::v311, "s");
  s->sub("x", QoS::at_most_once);
  auto p = f.client(ProtocolVersion::v311, "p");
  for (int i = 0; i < 30; ++i) p->publish("x", std::string(100, 'a'));
  CHECK(s->peer().paused);
  CHECK(f.broker.stats().publish_dropped > 0);
  CHECK(s->publishes().size() < 30);
  CHECK_FALSE(s->peer().paused);
}

// ---- retained -----------------------------------------------------------------------------

TEST_CASE("retained: set, replace, delete; delivered on subscribe with RETAIN") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto p = f.client(v, "p");
    p->publish("r/1", "old", QoS::at_most_once, true);
    p->publish("r/1", "new", QoS::at_least_once, true);
    p->expect<protocol::PubAck>();
    p->publish("r/2", "two", QoS::at_most_once, true);
    p->publish("r/2", "", QoS::at_most_once, true);  // delete
    auto s = f.client(v, "s");
    s->sub("r/#", QoS::exactly_once);
    auto got = s->publishes();
    REQUIRE(got.size() == 1);
    CHECK(got[0].topic == "r/1");
    CHECK(as_string(got[0].payload) == "new");
    CHECK(got[0].retain);
    CHECK(got[0].qos == QoS::at_least_once);
    CHECK(f.broker.stats().retained_count == 1);
  }
}

TEST_CASE("retained: live forwarding clears RETAIN unless retain-as-published") {
  Fixture f;
  auto s3 = f.client(ProtocolVersion::v311, "s3");
  s3->sub("t", QoS::at_most_once);
  auto s5 = f.client(ProtocolVersion::v5, "s5");
  s5->sub("t", QoS::at_most_once, {.retain_as_published = true});
  auto p = f.client(ProtocolVersion::v5, "p");
  p->publish("t", "v", QoS::at_most_once, true);
  CHECK_FALSE(s3->expect<protocol::Publish>().retain);  // [MQTT-3.3.1-9]
  CHECK(s5->expect<protocol::Publish>().retain);
}

TEST_CASE("retained: retain handling 0/1/2") {
  Fixture f;
  auto p = f.client(ProtocolVersion::v5, "p");
  p->publish("r", "x", QoS::at_most_once, true);
  auto s = f.client(ProtocolVersion::v5, "s");
  s->sub("r", QoS::at_most_once, {.retain_handling = 1});
  CHECK(s->publishes().size() == 1);
  s->sub("r", QoS::at_most_once, {.retain_handling = 1});  // exists: not again
  CHECK(s->publishes().empty());
  s->sub("r", QoS::at_most_once, {.retain_handling = 0});
  CHECK(s->publishes().size() == 1);
  s->sub("r", QoS::at_most_once, {.retain_handling = 2});
  CHECK(s->publishes().empty());
}

TEST_CASE("retained: many retained messages to a wildcard subscriber are paced, not dropped") {
  auto cfg = test_config();
  cfg.max_queued_messages = 5;
  cfg.output_high_water_bytes = 500;
  cfg.output_low_water_bytes = 100;
  Fixture f(cfg);
  auto p = f.client(ProtocolVersion::v311, "p");
  for (int i = 0; i < 200; ++i)
    p->publish("r/" + std::to_string(i), "payload", QoS::at_most_once, true);
  for (int i = 0; i < 50; ++i)
    p->publish("q/" + std::to_string(i), "payload", QoS::at_least_once, true);
  for (int i = 0; i < 50; ++i) p->expect<protocol::PubAck>();
  auto s = f.client(ProtocolVersion::v311, "s");
  s->sub("#", QoS::at_least_once);
  std::size_t got = 0;
  for (int guard = 0; guard < 10000; ++guard) {
    auto pkt = s->next();
    if (!pkt) break;
    auto& pub = std::get<protocol::Publish>(*pkt);
    ++got;
    if (pub.qos == QoS::at_least_once) s->send(protocol::PubAck{pub.id, ReasonCode::success, {}});
  }
  CHECK(got == 250);
  CHECK(f.broker.stats().publish_dropped == 0);
}

TEST_CASE("retained: shared subscriptions get no retained messages") {
  Fixture f;
  auto p = f.client(ProtocolVersion::v5, "p");
  p->publish("r", "x", QoS::at_most_once, true);
  auto s = f.client(ProtocolVersion::v5, "s");
  s->sub("$share/g/r", QoS::at_most_once);
  CHECK(s->publishes().empty());
}

// ---- wills --------------------------------------------------------------------------------

namespace {
protocol::Will make_will(std::string_view topic, std::string_view payload,
                         QoS q = QoS::at_most_once) {
  protocol::Will w;
  w.topic = topic;
  static std::vector<Bytes> keep;
  keep.push_back(as_bytes(payload));
  w.payload = keep.back();
  w.qos = q;
  return w;
}
}  // namespace

TEST_CASE("will: published on abnormal loss, not on normal DISCONNECT") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto w = f.client(v, "watcher");
    w->sub("will/#", QoS::at_least_once);
    auto a = f.client(v, "a", {.will = make_will("will/a", "gone", QoS::at_least_once)});
    a->closed();  // socket lost
    auto pub = w->expect<protocol::Publish>();
    CHECK(pub.topic == "will/a");
    CHECK(as_string(pub.payload) == "gone");
    auto b = f.client(v, "b", {.will = make_will("will/b", "gone")});
    b->send(protocol::Disconnect{});
    b->closed();
    CHECK(w->nothing_more());
  }
}

TEST_CASE("will: on keep alive expiry, on takeover, on protocol error") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto w = f.client(v, "watcher");
    w->sub("will/#", QoS::at_most_once);
    auto a = f.client(v, "a", {.keep_alive = 2, .will = make_will("will/ka", "x")});
    f.clock.advance(4s);
    f.broker.tick();
    CHECK(w->expect<protocol::Publish>().topic == "will/ka");
    auto b = f.client(v, "b", {.will = make_will("will/takeover", "x")});
    auto b2 = f.client(v, "b");
    CHECK(w->expect<protocol::Publish>().topic == "will/takeover");
    auto c = f.client(v, "c", {.will = make_will("will/err", "x")});
    c->send_raw({0x20, 0x02, 0x00, 0x00});  // CONNACK from a client: protocol error
    CHECK(c->close_requested());
    c->closed();
    CHECK(w->expect<protocol::Publish>().topic == "will/err");
  }
}

TEST_CASE("will: v5 DISCONNECT 0x04 publishes it") {
  Fixture f;
  auto w = f.client(ProtocolVersion::v5, "watcher");
  w->sub("will", QoS::at_most_once);
  auto a = f.client(ProtocolVersion::v5, "a", {.will = make_will("will", "bye")});
  a->send(protocol::Disconnect{ReasonCode::disconnect_with_will_message, {}});
  CHECK(as_string(w->expect<protocol::Publish>().payload) == "bye");
}

TEST_CASE("will: v5 delay interval, cancelled by reconnect, capped by session end") {
  Fixture f;
  auto w = f.client(ProtocolVersion::v5, "watcher");
  w->sub("will/#", QoS::at_most_once);
  auto will = make_will("will/d", "late");
  will.properties.will_delay_interval = 10;
  ConnectOptions o{.clean = false, .will = will};
  o.props.session_expiry_interval = 100;
  auto a = f.client(ProtocolVersion::v5, "a", o);
  a->closed();
  f.clock.advance(5s);
  f.broker.tick();
  CHECK(w->nothing_more());
  f.clock.advance(6s);
  f.broker.tick();
  CHECK(w->expect<protocol::Publish>().topic == "will/d");

  auto b = f.client(ProtocolVersion::v5, "b", o);
  b->closed();
  f.clock.advance(5s);
  f.broker.tick();
  auto b2 = f.client(ProtocolVersion::v5, "b", {.clean = false, .props = o.props});
  f.clock.advance(20s);
  f.broker.tick();
  CHECK(w->nothing_more());  // reconnected before the delay

  ConnectOptions short_session{.clean = false, .will = will};
  short_session.props.session_expiry_interval = 3;
  auto c = f.client(ProtocolVersion::v5, "c", short_session);
  c->closed();
  f.clock.advance(4s);
  f.broker.tick();
  CHECK(w->expect<protocol::Publish>().topic == "will/d");  // session ended first
}

TEST_CASE("will: v5 properties carried to subscribers") {
  Fixture f;
  auto w = f.client(ProtocolVersion::v5, "watcher");
  w->sub("will", QoS::at_most_once);
  auto will = make_will("will", "x");
  will.properties.content_type = "text/plain";
  will.properties.user_properties.push_back({"k", "v"});
  auto a = f.client(ProtocolVersion::v5, "a", {.will = will});
  a->closed();
  auto pub = w->expect<protocol::Publish>();
  CHECK(pub.properties.content_type == std::optional<std::string_view>("text/plain"));
  REQUIRE(pub.properties.user_properties.size() == 1);
  CHECK(pub.properties.user_properties[0].key == "k");
}

// ---- subscriptions ------------------------------------------------------------------------

TEST_CASE("subscribe: invalid filter gets 0x80 (3.1.1) / 0x8F (v5), others granted") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto s = f.client(v, "s");
    protocol::Subscribe sub;
    sub.id = 3;
    sub.subscriptions.push_back({"a/#/b", {.qos = QoS::at_least_once}});
    sub.subscriptions.push_back({"ok/+", {.qos = QoS::exactly_once}});
    s->send(sub);
    auto ack = s->expect<protocol::SubAck>();
    REQUIRE(ack.reasons.size() == 2);
    CHECK(ack.reasons[0] == (v == ProtocolVersion::v5 ? ReasonCode::topic_filter_invalid
                                                      : ReasonCode::unspecified_error));
    CHECK(ack.reasons[1] == ReasonCode::granted_qos_2);
  }
}

TEST_CASE("subscribe: maximum_qos caps the granted QoS") {
  auto cfg = test_config();
  cfg.maximum_qos = QoS::at_least_once;
  Fixture f(cfg);
  auto s = f.client(ProtocolVersion::v311, "s");
  CHECK(s->sub("x", QoS::exactly_once) == std::vector<ReasonCode>{ReasonCode::granted_qos_1});
}

TEST_CASE("subscribe: unsubscribe stops delivery; v5 UNSUBACK 0x11 when none existed") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto s = f.client(v, "s");
    s->sub("x", QoS::at_most_once);
    protocol::Unsubscribe u;
    u.id = 4;
    u.filters = {"x", "never"};
    s->send(u);
    auto ack = s->expect<protocol::UnsubAck>();
    CHECK(ack.id == 4);
    if (v == ProtocolVersion::v5) {
      CHECK(ack.reasons ==
            std::vector<ReasonCode>{ReasonCode::success, ReasonCode::no_subscription_existed});
    } else {
      CHECK(s->last_raw() == Bytes{0xB0, 0x02, 0x00, 0x04});
    }
    auto p = f.client(v, "p");
    p->publish("x", "m");
    CHECK(s->nothing_more());
  }
}

TEST_CASE("subscribe: $-topics not matched by leading wildcards, not publishable by clients") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto s = f.client(v, "s");
    s->sub("#", QoS::at_most_once);
    s->sub("+/x", QoS::at_most_once);
    auto p = f.client(v, "p");
    p->publish("$SYS/x", "m", QoS::at_least_once);
    auto ack = p->expect<protocol::PubAck>();
    if (v == ProtocolVersion::v5) {
      CHECK(ack.reason == ReasonCode::not_authorized);
      CHECK(ack.properties.reason_string.has_value());
    } else {
      CHECK(p->last_raw() == Bytes{0x40, 0x02, 0x00, 0x01});
    }
    CHECK(s->nothing_more());
  }
}

TEST_CASE("subscribe: overlapping subscriptions give one delivery, max QoS, all ids") {
  Fixture f;
  auto s = f.client(ProtocolVersion::v5, "s");
  s->sub("a/+", QoS::at_most_once, {}, 1);
  s->sub("a/#", QoS::at_least_once, {}, 2);
  auto p = f.client(ProtocolVersion::v5, "p");
  p->publish("a/b", "m");
  p->publish("a/b", "m1", QoS::at_least_once);
  auto got = s->publishes();
  REQUIRE(got.size() == 2);
  CHECK(got[0].qos == QoS::at_most_once);  // message QoS 0
  CHECK(got[1].qos == QoS::at_least_once);
  auto ids = got[1].properties.subscription_identifiers;
  std::sort(ids.begin(), ids.end());
  CHECK(ids == std::vector<std::uint32_t>{1, 2});
  auto s3 = f.client(ProtocolVersion::v311, "s3");
  s3->sub("a/+", QoS::at_most_once);
  s3->sub("a/#", QoS::exactly_once);
  p->publish("a/b", "m2", QoS::exactly_once);
  auto g3 = s3->publishes();
  REQUIRE(g3.size() == 1);
  CHECK(g3[0].qos == QoS::exactly_once);
}

TEST_CASE("subscribe: v5 no local") {
  Fixture f;
  auto a = f.client(ProtocolVersion::v5, "a");
  a->sub("t", QoS::at_most_once, {.no_local = true});
  a->publish("t", "mine");
  CHECK(a->nothing_more());
  auto b = f.client(ProtocolVersion::v5, "b");
  b->publish("t", "theirs");
  CHECK(as_string(a->expect<protocol::Publish>().payload) == "theirs");
}

TEST_CASE("subscribe: no local on a shared subscription is a protocol error") {
  Fixture f;
  auto a = f.client(ProtocolVersion::v5, "a");
  a->subscribe("$share/g/t", QoS::at_most_once, 1, {.no_local = true});
  CHECK(a->expect<protocol::Disconnect>().reason == ReasonCode::protocol_error);
}

TEST_CASE("shared: even round-robin distribution across members") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto a = f.client(v, "a");
    auto b = f.client(v, "b");
    a->sub("$share/g/job/#", QoS::at_most_once);
    b->sub("$share/g/job/#", QoS::at_most_once);
    auto p = f.client(v, "p");
    for (int i = 0; i < 10; ++i) p->publish("job/1", "m");
    CHECK(a->publishes().size() == 5);
    CHECK(b->publishes().size() == 5);
  }
}

TEST_CASE("shared: unacknowledged QoS 1 redelivered to another member when one leaves") {
  Fixture f;
  auto a = f.client(ProtocolVersion::v5, "a");
  auto b = f.client(ProtocolVersion::v5, "b");
  a->sub("$share/g/t", QoS::at_least_once);
  b->sub("$share/g/t", QoS::at_least_once);
  auto p = f.client(ProtocolVersion::v5, "p");
  p->publish("t", "m0", QoS::at_least_once);
  p->publish("t", "m1", QoS::at_least_once);
  auto ga = a->publishes();
  auto gb = b->publishes();
  REQUIRE(ga.size() == 1);
  REQUIRE(gb.size() == 1);
  a->closed();  // leaves without acknowledging
  auto again = b->publishes();
  REQUIRE(again.size() == 1);
  CHECK(as_string(again[0].payload) == as_string(ga[0].payload));
}

// ---- MQTT 5 features ----------------------------------------------------------------------

TEST_CASE("v5: inbound topic alias set and used; invalid alias 0x94") {
  Fixture f;
  auto s = f.client(ProtocolVersion::v5, "s");
  s->sub("long/topic", QoS::at_most_once);
  auto p = f.client(ProtocolVersion::v5, "p");
  protocol::Properties pr;
  pr.topic_alias = 3;
  p->publish("long/topic", "1", QoS::at_most_once, false, 0, pr);
  p->publish("", "2", QoS::at_most_once, false, 0, pr);
  auto got = s->publishes();
  REQUIRE(got.size() == 2);
  CHECK(got[1].topic == "long/topic");
  SUBCASE("alias 0") { pr.topic_alias = 0; }
  SUBCASE("alias above our maximum of 10") { pr.topic_alias = 11; }
  p->publish("long/topic", "3", QoS::at_most_once, false, 0, pr);
  CHECK(p->expect<protocol::Disconnect>().reason == ReasonCode::topic_alias_invalid);
}

TEST_CASE("v5: outbound topic aliases up to the client's maximum") {
  Fixture f;
  ConnectOptions o;
  o.props.topic_alias_maximum = 1;
  auto s = f.client(ProtocolVersion::v5, "s", o);
  s->sub("#", QoS::at_most_once);
  auto p = f.client(ProtocolVersion::v5, "p");
  p->publish("a", "1");
  p->publish("a", "2");
  p->publish("b", "3");
  auto got = s->publishes();
  REQUIRE(got.size() == 3);
  CHECK(got[0].topic == "a");
  CHECK(got[0].properties.topic_alias == std::optional<std::uint16_t>(1));
  CHECK(got[1].topic.empty());
  CHECK(got[1].properties.topic_alias == std::optional<std::uint16_t>(1));
  CHECK(got[2].topic == "b");
  CHECK_FALSE(got[2].properties.topic_alias.has_value());
}

TEST_CASE("v5: message expiry skips expired messages and forwards the remaining interval") {
  Fixture f;
  ConnectOptions o{.clean = false};
  o.props.session_expiry_interval = 1000;
  auto s = f.client(ProtocolVersion::v5, "s", o);
  s->sub("e", QoS::at_least_once);
  s->closed();
  auto p = f.client(ProtocolVersion::v5, "p");
  protocol::Properties pr;
  pr.message_expiry_interval = 10;
  p->publish("e", "short", QoS::at_least_once, false, 0, pr);
  pr.message_expiry_interval = 100;
  p->publish("e", "long", QoS::at_least_once, false, 0, pr);
  f.clock.advance(30s);
  TestClient s2(f.broker, ProtocolVersion::v5);
  s2.connect({.client_id = "s", .clean = false, .props = o.props});
  auto got = s2.publishes();
  REQUIRE(got.size() == 1);
  CHECK(as_string(got[0].payload) == "long");
  CHECK(got[0].properties.message_expiry_interval == std::optional<std::uint32_t>(70));
}

TEST_CASE("v5: request/response, user properties order, payload format and content type") {
  Fixture f;
  auto s = f.client(ProtocolVersion::v5, "s");
  s->sub("req", QoS::at_most_once);
  auto s3 = f.client(ProtocolVersion::v311, "s3");
  s3->sub("req", QoS::at_most_once);
  auto p = f.client(ProtocolVersion::v5, "p");
  protocol::Properties pr;
  pr.response_topic = "resp/1";
  Bytes corr{1, 2, 3};
  pr.correlation_data = corr;
  pr.payload_format_indicator = 1;
  pr.content_type = "application/json";
  pr.user_properties = {{"z", "1"}, {"a", "2"}, {"z", "3"}};
  p->publish("req", "{}", QoS::at_most_once, false, 0, pr);
  auto got = s->expect<protocol::Publish>();
  CHECK(got.properties.response_topic == std::optional<std::string_view>("resp/1"));
  REQUIRE(got.properties.correlation_data.has_value());
  CHECK(Bytes(got.properties.correlation_data->begin(), got.properties.correlation_data->end()) ==
        corr);
  CHECK(got.properties.payload_format_indicator == std::optional<std::uint8_t>(1));
  CHECK(got.properties.content_type == std::optional<std::string_view>("application/json"));
  REQUIRE(got.properties.user_properties.size() == 3);
  CHECK(got.properties.user_properties[0] == protocol::UserProperty{"z", "1"});
  CHECK(got.properties.user_properties[1] == protocol::UserProperty{"a", "2"});
  CHECK(got.properties.user_properties[2] == protocol::UserProperty{"z", "3"});
  CHECK(as_string(s3->expect<protocol::Publish>().payload) == "{}");  // 3.1.1: payload only
}

TEST_CASE("v5: PUBACK 0x10 when no subscriber matched") {
  Fixture f;
  auto p = f.client(ProtocolVersion::v5, "p");
  p->publish("nobody", "m", QoS::at_least_once);
  CHECK(p->expect<protocol::PubAck>().reason == ReasonCode::no_matching_subscribers);
}

TEST_CASE("v5: AUTH without an authentication method is a protocol error") {
  Fixture f;
  auto a = f.client(ProtocolVersion::v5, "a");
  a->send(protocol::Auth{ReasonCode::re_authenticate, {}});
  CHECK(a->expect<protocol::Disconnect>().reason == ReasonCode::protocol_error);
}

TEST_CASE("v5: QoS above maximum_qos gets DISCONNECT 0x9B; retain unavailable 0x9A") {
  auto cfg = test_config();
  cfg.maximum_qos = QoS::at_least_once;
  cfg.retain_available = false;
  Fixture f(cfg);
  auto a = f.client(ProtocolVersion::v5, "a");
  a->publish("x", "m", QoS::exactly_once);
  CHECK(a->expect<protocol::Disconnect>().reason == ReasonCode::qos_not_supported);
  auto b = f.client(ProtocolVersion::v5, "b");
  b->publish("x", "m", QoS::at_most_once, true);
  CHECK(b->expect<protocol::Disconnect>().reason == ReasonCode::retain_not_supported);
}

TEST_CASE("errors: malformed packet gets v5 DISCONNECT 0x81, 3.1.1 plain close") {
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    Fixture f;
    auto a = f.client(v, "a");
    a->send_raw({0x36, 0x03, 0x00, 0x01, 'x'});  // PUBLISH with QoS 3
    if (v == ProtocolVersion::v5) {
      CHECK(a->expect<protocol::Disconnect>().reason == ReasonCode::malformed_packet);
    } else {
      CHECK(a->nothing_more());
    }
    CHECK(a->close_requested());
  }
}

TEST_CASE("errors: packet larger than max_packet_bytes: v5 DISCONNECT 0x95") {
  auto cfg = test_config();
  cfg.max_packet_bytes = 64;
  Fixture f(cfg);
  auto a = f.client(ProtocolVersion::v5, "a");
  a->publish("x", std::string(100, 'a'));
  CHECK(a->expect<protocol::Disconnect>().reason == ReasonCode::packet_too_large);
}

// ---- authorization, bridges, mount points -------------------------------------------------

TEST_CASE("authorize: subscribe, publish and read checks") {
  Fixture f;
  Acl acl;
  f.broker.set_authorizer(&acl);
  auto s3 = f.client(ProtocolVersion::v311, "s3");
  CHECK(s3->sub("secret/x", QoS::at_most_once) ==
        std::vector<ReasonCode>{ReasonCode::unspecified_error});
  auto s5 = f.client(ProtocolVersion::v5, "s5");
  CHECK(s5->sub("secret/x", QoS::at_most_once) ==
        std::vector<ReasonCode>{ReasonCode::not_authorized});
  s5->sub("#", QoS::at_most_once);
  s5->sub("#", QoS::at_most_once);
  auto p = f.client(ProtocolVersion::v5, "p");
  p->publish("readonly/x", "m", QoS::at_least_once);
  CHECK(p->expect<protocol::PubAck>().reason == ReasonCode::not_authorized);
  p->publish("readonly/x", "m", QoS::exactly_once);
  CHECK(p->expect<protocol::PubRec>().reason == ReasonCode::not_authorized);
  p->publish("hidden", "m");
  p->publish("open", "m");
  auto got = s5->publishes();
  REQUIRE(got.size() == 1);
  CHECK(got[0].topic == "open");
  // Every refusal is counted for $SYS (publish/messages/denied, subscriptions/denied, ...).
  CHECK(f.broker.stats().subscribe_denied == 2);
  CHECK(f.broker.stats().publish_denied == 2);
  CHECK(f.broker.stats().read_denied == 1);  // "hidden" to the '#' subscriber
}

TEST_CASE("bridge: protocol level | 0x80 gets no-local and retain-as-published") {
  Fixture f;
  auto br = f.client(ProtocolVersion::v311, "bridge", {.bridge = true});
  br->sub("#", QoS::at_most_once);
  br->publish("t", "from bridge", QoS::at_most_once, true);
  CHECK(br->publishes().empty());  // never looped back
  auto p = f.client(ProtocolVersion::v311, "p");
  p->publish("t2", "m", QoS::at_most_once, true);
  auto got = br->publishes();
  REQUIRE(got.size() == 1);
  CHECK(got[0].retain);
}

TEST_CASE("mount point: topics prefixed on the way in, stripped on the way out") {
  ListenerPolicy pol;
  pol.mount_point = "tenant1/";
  Fixture f;
  auto a = f.client(ProtocolVersion::v311, "a", {}, &pol);
  a->sub("x", QoS::at_most_once);
  auto outside = f.client(ProtocolVersion::v311, "o");
  outside->sub("#", QoS::at_most_once);
  auto b = f.client(ProtocolVersion::v311, "b", {}, &pol);
  b->publish("x", "m");
  CHECK(a->expect<protocol::Publish>().topic == "x");
  CHECK(outside->expect<protocol::Publish>().topic == "tenant1/x");
}

// ---- $SYS, shutdown, stats ----------------------------------------------------------------

TEST_CASE("$SYS: broker topics published every sys_interval") {
  auto cfg = test_config();
  cfg.sys_interval = std::chrono::seconds(10);
  cfg.version = "wisp 0.1";
  Fixture f(cfg);
  auto s = f.client(ProtocolVersion::v311, "s");
  s->sub("$SYS/#", QoS::at_most_once);
  f.broker.tick();
  std::map<std::string, std::string> seen;
  for (auto& p : s->publishes()) seen[std::string(p.topic)] = as_string(p.payload);
  CHECK(seen["$SYS/broker/version"] == "wisp 0.1");
  CHECK(seen["$SYS/broker/clients/connected"] == "1");
  CHECK(seen.contains("$SYS/broker/messages/received"));
  CHECK(seen.contains("$SYS/broker/bytes/sent"));
  CHECK(seen.contains("$SYS/broker/uptime"));
  CHECK(seen.contains("$SYS/broker/retained messages/count"));
  CHECK(seen.contains("$SYS/broker/subscriptions/count"));
  CHECK(seen.contains("$SYS/broker/publish/messages/dropped"));
  f.clock.advance(5s);
  f.broker.tick();
  CHECK(s->publishes().empty());
  f.clock.advance(6s);
  f.broker.tick();
  CHECK_FALSE(s->publishes().empty());
}

TEST_CASE("shutdown: v5 clients get DISCONNECT 0x8B, every connection closes") {
  Fixture f;
  auto a = f.client(ProtocolVersion::v5, "a");
  auto b = f.client(ProtocolVersion::v311, "b");
  f.broker.shutdown();
  CHECK(a->expect<protocol::Disconnect>().reason == ReasonCode::server_shutting_down);
  CHECK(a->close_requested());
  CHECK(b->close_requested());
}

TEST_CASE("write pump: whole packets sliced across small buffers") {
  Fixture f;
  auto s = f.client(ProtocolVersion::v5, "s");
  s->sub("x", QoS::at_most_once);
  auto p = f.client(ProtocolVersion::v5, "p");
  p->publish("x", std::string(5000, 'q'));
  std::vector<std::uint8_t> buf(3);
  Bytes all;
  while (s->conn().has_output()) {
    const auto n = s->conn().fill_output(buf);
    REQUIRE(n > 0);
    all.insert(all.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  }
  CHECK(all.size() == 1 + 2 + 2 + 1 + 1 + 5000);
  CHECK(all.back() == 'q');
}

namespace {
struct Expiring final : Authenticator {
  explicit Expiring(TimePoint at) : at_(at) {}
  AuthDecision authenticate(const AuthRequest&) override {
    AuthDecision d;
    d.expires = at_;
    return d;
  }
  TimePoint at_;
};
}  // namespace

TEST_CASE("auth: client disconnected when its credentials expire") {
  Fixture f;
  Expiring auth(f.clock.now() + 30s);
  f.broker.set_authenticator(&auth);
  auto a = f.client(ProtocolVersion::v5, "a");
  f.clock.advance(29s);
  f.broker.tick();
  CHECK_FALSE(a->close_requested());
  f.clock.advance(2s);
  f.broker.tick();
  CHECK(a->expect<protocol::Disconnect>().reason == ReasonCode::not_authorized);
  CHECK(a->close_requested());
}

TEST_CASE("flow: output above the hard limit disconnects the slow reader") {
  auto cfg = test_config();
  cfg.output_high_water_bytes = 100000;
  cfg.output_low_water_bytes = 1000;
  cfg.output_hard_limit_bytes = 5000;
  Fixture f(cfg);
  auto s = f.client(ProtocolVersion::v311, "s");
  s->sub("x", QoS::at_least_once);
  auto p = f.client(ProtocolVersion::v311, "p");
  for (int i = 0; i < 10; ++i) p->publish("x", std::string(1000, 'a'), QoS::at_least_once);
  CHECK(s->close_requested());
  CHECK(*s->peer().close_reason == ReasonCode::quota_exceeded);
}

TEST_CASE("connect: MQTT 3.1 (MQIsdp) clients are served") {
  Fixture f;
  auto s = f.client(ProtocolVersion::v31, "old-client");
  s->sub("x", QoS::at_least_once);
  auto p = f.client(ProtocolVersion::v311, "p");
  p->publish("x", "to 3.1", QoS::at_least_once);
  CHECK(as_string(s->expect<protocol::Publish>().payload) == "to 3.1");
}

TEST_CASE("shared: unsubscribe leaves the group") {
  Fixture f;
  auto a = f.client(ProtocolVersion::v5, "a");
  auto b = f.client(ProtocolVersion::v5, "b");
  a->sub("$share/g/t", QoS::at_most_once);
  b->sub("$share/g/t", QoS::at_most_once);
  protocol::Unsubscribe u;
  u.id = 9;
  u.filters = {"$share/g/t"};
  a->send(u);
  CHECK(a->expect<protocol::UnsubAck>().reasons == std::vector<ReasonCode>{ReasonCode::success});
  auto p = f.client(ProtocolVersion::v5, "p");
  for (int i = 0; i < 4; ++i) p->publish("t", "m");
  CHECK(a->publishes().empty());
  CHECK(b->publishes().size() == 4);
}

namespace {
// Challenge/response toy method: the server sends "challenge", the client must answer "answer".
struct ToyAuth final : Authenticator {
  struct Exchange final : AuthExchange {
    int steps = 0;
  };
  AuthDecision authenticate(const AuthRequest&) override { return {}; }
  bool supports_method(std::string_view m) const override { return m == "TOY"; }
  AuthStep start_auth(const AuthRequest& req, std::unique_ptr<AuthExchange>& ex) override {
    CHECK(req.auth_method == std::optional<std::string_view>("TOY"));
    ex = std::make_unique<Exchange>();
    AuthStep s;
    s.decision.reason = ReasonCode::continue_authentication;
    s.auth_data = as_bytes("challenge");
    return s;
  }
  AuthStep continue_auth(AuthExchange& ex, protocol::ByteSpan data) override {
    ++static_cast<Exchange&>(ex).steps;
    AuthStep s;
    if (as_string(data) == "answer") {
      s.decision.username = "toy-user";
      s.auth_data = as_bytes("welcome");
    } else {
      s.decision.reason = ReasonCode::not_authorized;
    }
    return s;
  }
};

protocol::Auth toy_auth(ReasonCode rc, const Bytes& data) {
  protocol::Auth a;
  a.reason = rc;
  a.properties.authentication_method = "TOY";
  a.properties.authentication_data = data;
  return a;
}
}  // namespace

TEST_CASE("v5 enhanced auth: CONNECT, AUTH challenge/response, CONNACK; re-authentication") {
  Fixture f;
  ToyAuth auth;
  f.broker.set_authenticator(&auth);
  TestClient a(f.broker, ProtocolVersion::v5);
  ConnectOptions o{.client_id = "a"};
  o.props.authentication_method = "TOY";
  a.send_connect(o);
  auto challenge = a.expect<protocol::Auth>();
  CHECK(challenge.reason == ReasonCode::continue_authentication);
  CHECK(as_string(*challenge.properties.authentication_data) == "challenge");
  const Bytes answer = as_bytes("answer");
  a.send(toy_auth(ReasonCode::continue_authentication, answer));
  auto ack = a.expect<protocol::ConnAck>();
  CHECK(ack.reason == ReasonCode::success);
  CHECK(ack.properties.authentication_method == std::optional<std::string_view>("TOY"));
  CHECK(as_string(*ack.properties.authentication_data) == "welcome");

  const Bytes empty;
  a.send(toy_auth(ReasonCode::re_authenticate, empty));
  CHECK(a.expect<protocol::Auth>().reason == ReasonCode::continue_authentication);
  a.send(toy_auth(ReasonCode::continue_authentication, answer));
  CHECK(a.expect<protocol::Auth>().reason == ReasonCode::success);
  CHECK_FALSE(a.close_requested());

  SUBCASE("wrong answer at re-authentication: DISCONNECT 0x87") {
    a.send(toy_auth(ReasonCode::re_authenticate, empty));
    a.expect<protocol::Auth>();
    const Bytes wrong = as_bytes("wrong");
    a.send(toy_auth(ReasonCode::continue_authentication, wrong));
    CHECK(a.expect<protocol::Disconnect>().reason == ReasonCode::not_authorized);
  }
}

TEST_CASE("v5 enhanced auth: wrong answer gets CONNACK 0x87; PUBLISH before CONNACK closes") {
  Fixture f;
  ToyAuth auth;
  f.broker.set_authenticator(&auth);
  TestClient a(f.broker, ProtocolVersion::v5);
  ConnectOptions o{.client_id = "a"};
  o.props.authentication_method = "TOY";
  a.send_connect(o);
  a.expect<protocol::Auth>();
  SUBCASE("wrong answer") {
    const Bytes wrong = as_bytes("wrong");
    a.send(toy_auth(ReasonCode::continue_authentication, wrong));
    CHECK(a.expect<protocol::ConnAck>().reason == ReasonCode::not_authorized);
  }
  SUBCASE("other packet during the exchange") {
    a.publish("x", "early");
    CHECK(a.nothing_more());
  }
  CHECK(a.close_requested());
  CHECK(f.broker.stats().clients_connected == 0);
}

TEST_CASE("limits: message_size_limit drops big payloads (v5 PUBACK 0x83, 3.1.1 PUBACK)") {
  auto cfg = test_config();
  cfg.message_size_limit = 10;
  Fixture f(cfg);
  auto s = f.client(ProtocolVersion::v311, "s");
  s->sub("x", QoS::at_least_once);
  for (auto v : kBoth) {
    CAPTURE(ver(v));
    auto p = f.client(v, "p" + ver(v));
    p->publish("x", std::string(11, 'a'), QoS::at_least_once);
    auto ack = p->expect<protocol::PubAck>();
    CHECK(ack.reason == (v == ProtocolVersion::v5 ? ReasonCode::implementation_specific_error
                                                  : ReasonCode::success));
    p->publish("x", std::string(10, 'a'), QoS::at_least_once);
    p->expect<protocol::PubAck>();
  }
  CHECK(s->publishes().size() == 2);
}

TEST_CASE("session: queue_qos0_messages keeps QoS 0 for offline persistent sessions") {
  auto cfg = test_config();
  cfg.queue_qos0_messages = true;
  Fixture f(cfg);
  auto s = f.client(ProtocolVersion::v311, "s", {.clean = false});
  s->sub("x", QoS::at_most_once);
  s->closed();
  auto p = f.client(ProtocolVersion::v311, "p");
  p->publish("x", "kept");
  TestClient s2(f.broker, ProtocolVersion::v311);
  s2.connect({.client_id = "s", .clean = false});
  CHECK(as_string(s2.expect<protocol::Publish>().payload) == "kept");
}

TEST_CASE("fan-out shares one Message: queues and the retained index hold the same bytes") {
  Fixture f;
  for (const char* id : {"s1", "s2"}) {
    auto s = f.client(ProtocolVersion::v5, id, [] {
      ConnectOptions o{.clean = false};
      o.props.session_expiry_interval = 100;
      return o;
    }());
    s->sub("t", QoS::at_least_once);
    s->closed();
  }
  auto p = f.client(ProtocolVersion::v5, "p");
  protocol::Properties pr;
  pr.user_properties = {{"k", "v"}};
  p->publish("t", "shared bytes", QoS::at_least_once, true, 0, pr);
  auto& impl = f.broker.impl();
  const MessageRef* retained = impl.retained_.find("t");
  REQUIRE(retained != nullptr);
  for (const char* id : {"s1", "s2"}) {
    Session* s = impl.find_session(id);
    REQUIRE(s != nullptr);
    REQUIRE(s->queue.size() == 1);
    CHECK(s->queue.front().msg.get() == retained->get());
  }
  CHECK(retained->use_count() == 3);  // the index and two queues, no copies
}

TEST_CASE("robustness: random bytes before and after CONNECT never crash or hang") {
  std::mt19937 rng(7);
  for (int round = 0; round < 400; ++round) {
    Fixture f;
    const auto v = round % 2 == 0 ? ProtocolVersion::v5 : ProtocolVersion::v311;
    TestClient c(f.broker, v);
    if (round % 4 < 2) c.connect({.client_id = "r"});
    Bytes junk(std::uniform_int_distribution<std::size_t>(1, 300)(rng));
    for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
    if (round % 3 == 0) junk[0] = 0x30;  // looks like a PUBLISH
    std::size_t at = 0;
    while (at < junk.size()) {
      const std::size_t n = std::min<std::size_t>(junk.size() - at, 1 + rng() % 17);
      c.send_raw(Bytes(junk.begin() + static_cast<std::ptrdiff_t>(at),
                       junk.begin() + static_cast<std::ptrdiff_t>(at + n)));
      at += n;
    }
    std::vector<std::uint8_t> buf(4096);
    for (int i = 0; i < 1000 && c.conn().has_output(); ++i) c.conn().fill_output(buf);
    f.clock.advance(std::chrono::seconds(100));
    f.broker.tick();
    c.closed();
  }
}
