// Hostile basics against the real broker: silent sockets, malformed packets, huge length
// claims and a storm of abruptly dropped clients must not disturb other clients.
#include <doctest/doctest.h>

#include "support/broker_process.h"
#include "support/clients.h"
#include "support/mqtt_bytes.h"

using namespace wisp_test;
using namespace std::chrono_literals;

namespace {

// A well-behaved client on TCP: CONNECT + SUBSCRIBE, ready to see `topic`.
TcpClient good_subscriber(std::uint16_t port, const std::string& id, const std::string& topic) {
  auto c = TcpClient::connect(port);
  REQUIRE(c);
  REQUIRE(c->send_all(mqtt_connect(id)));
  auto ack = read_packet(*c);
  REQUIRE(ack);
  REQUIRE(ack->type() == 2);
  REQUIRE(c->send_all(mqtt_subscribe(1, topic, 0)));
  auto sa = read_packet(*c);
  REQUIRE(sa);
  REQUIRE(sa->type() == 9);
  return std::move(*c);
}

void expect_still_serving(TcpClient& sub, std::uint16_t port, const std::string& topic) {
  auto p = TcpClient::connect(port);
  REQUIRE(p);
  REQUIRE(p->send_all(mqtt_connect("prober")));
  auto ack = read_packet(*p);
  REQUIRE(ack);
  REQUIRE(p->send_all(mqtt_publish(topic, bytes_of("alive"))));
  auto msg = read_packet(sub, 10000ms);
  REQUIRE(msg);
  CHECK(msg->type() == 3);
  CHECK(publish_payload(*msg) == bytes_of("alive"));
}

}  // namespace

TEST_CASE("hostile: a connection that never sends CONNECT is dropped at the deadline") {
  BrokerProcess b(global_opts("connect_timeout 1\n"));
  REQUIRE(b.running());
  auto silent = TcpClient::connect(b.tcp_port);
  REQUIRE(silent);
  auto silent_ws = WsClient::connect(b.ws_port, {});
  REQUIRE(silent_ws.ok());
  auto silent_one_port = TcpClient::connect(b.ws_port);
  REQUIRE(silent_one_port);
  CHECK(silent->wait_closed(10000ms));
  CHECK(silent_ws.tcp.wait_closed(10000ms));
  CHECK(silent_one_port->wait_closed(10000ms));
}

TEST_CASE("hostile: a malformed packet closes only that connection") {
  BrokerProcess b;
  REQUIRE(b.running());
  auto sub = good_subscriber(b.tcp_port, "bystander", "hostile/t");
  SUBCASE("tcp: reserved packet type 0") {
    auto c = TcpClient::connect(b.tcp_port);
    REQUIRE(c);
    REQUIRE(c->send_all(Bytes{0x00, 0x00}));
    CHECK(c->wait_closed());
  }
  SUBCASE("tcp: PUBLISH with QoS 3 after CONNECT") {
    auto c = TcpClient::connect(b.tcp_port);
    REQUIRE(c);
    REQUIRE(c->send_all(mqtt_connect("bad-qos")));
    REQUIRE(read_packet(*c));
    REQUIRE(c->send_all(Bytes{0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01}));
    CHECK(c->wait_closed());
  }
  SUBCASE("ws: remaining length with a 5th varint byte") {
    auto ws = WsClient::connect(b.ws_port, {});
    REQUIRE(ws.ok());
    REQUIRE(ws.send_binary(Bytes{0x10, 0xff, 0xff, 0xff, 0xff, 0x01}));
    CHECK(ws.tcp.wait_closed());
  }
  expect_still_serving(sub, b.tcp_port, "hostile/t");
}

TEST_CASE("hostile: a 256 MB remaining-length claim closes without allocating") {
  BrokerProcess b(global_opts("max_packet_size 1048576\n"));
  REQUIRE(b.running());
  auto sub = good_subscriber(b.tcp_port, "bystander", "claim/t");
  const long rss_before = b.rss_kib();
  // PUBLISH claiming 268,435,455 bytes, followed by a few real ones.
  Bytes claim{0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, 'x', 'y', 'z'};
  SUBCASE("tcp") {
    auto c = TcpClient::connect(b.tcp_port);
    REQUIRE(c);
    REQUIRE(c->send_all(mqtt_connect("claimer")));
    REQUIRE(read_packet(*c));
    REQUIRE(c->send_all(claim));
    CHECK(c->wait_closed());
  }
  SUBCASE("ws") {
    auto ws = WsClient::connect(b.ws_port, {});
    REQUIRE(ws.ok());
    REQUIRE(ws.send_binary(mqtt_connect("claimer-ws")));
    REQUIRE(read_packet(ws));
    REQUIRE(ws.send_binary(claim));
    CHECK(ws.tcp.wait_closed());
  }
  const long rss_after = b.rss_kib();
  CHECK(rss_after - rss_before < 64 * 1024);  // far below the 256 MB claim
  expect_still_serving(sub, b.tcp_port, "claim/t");
}

TEST_CASE("hostile: 1,000 clients connecting and dropping abruptly") {
  BrokerProcess b;
  REQUIRE(b.running());
  auto sub = good_subscriber(b.tcp_port, "survivor", "storm/t");
  std::vector<TcpClient> clients;
  for (int i = 0; i < 1000; ++i) {
    auto c = TcpClient::connect(i % 2 ? b.tcp_port : b.ws_port);
    REQUIRE(c);
    // A third stop mid-CONNECT, a third after a full CONNECT, a third send nothing.
    const Bytes connect = mqtt_connect("storm-" + std::to_string(i));
    if (i % 3 == 0) c->send_all(std::span(connect).subspan(0, connect.size() / 2));
    if (i % 3 == 1) c->send_all(connect);
    clients.push_back(std::move(*c));
    if (clients.size() == 100) {
      for (auto& x : clients) x.reset();
      clients.clear();
    }
  }
  for (auto& x : clients) x.reset();
  expect_still_serving(sub, b.tcp_port, "storm/t");
  auto r = pub(b.tcp_port, "storm/t", "after", 1, 5);
  CHECK(r.exit_code == 0);
  auto msg = read_packet(sub, 10000ms);
  REQUIRE(msg);
  CHECK(publish_payload(*msg) == bytes_of("after"));
}

TEST_CASE("hostile: max_connections on a listener refuses the excess with a log line") {
  BrokerOptions o;
  o.tcp = "max_connections 2\n";
  BrokerProcess b(o);
  REQUIRE(b.running());
  auto one = good_subscriber(b.tcp_port, "first", "limit/t");
  auto two = good_subscriber(b.tcp_port, "second", "limit/t");
  auto third = TcpClient::connect(b.tcp_port);
  REQUIRE(third);
  third->send_all(mqtt_connect("third"));
  CHECK(third->wait_closed());
  CHECK(b.wait_log("max_connections reached"));
  // The WebSocket listener has no limit and still serves.
  auto ws = WsClient::connect(b.ws_port, {});
  REQUIRE(ws.ok());
  REQUIRE(ws.send_binary(mqtt_connect("ws-ok")));
  auto ack = read_packet(ws);
  REQUIRE(ack);
  CHECK(ack->type() == 2);
}
