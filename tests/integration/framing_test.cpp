// MQTT over WebSocket is a byte stream: packets split over many frames, many packets in one
// frame, and 10 MiB messages over WebSocket and TCP. Exact bytes via the raw clients.
#include <doctest/doctest.h>

#include "support/broker_process.h"
#include "support/mqtt_bytes.h"

using namespace wisp_test;
using namespace std::chrono_literals;

namespace {

void expect_connack(std::optional<MqttPacket> p) {
  REQUIRE(p);
  CHECK(p->type() == 2);
  REQUIRE(p->body.size() >= 2);
  CHECK(p->body[1] == 0);
}

Bytes pattern(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((i * 7 + i / 4096) & 0xff);
  return b;
}

}  // namespace

TEST_CASE("framing: one packet split over many WebSocket frames") {
  BrokerProcess b;
  REQUIRE(b.running());
  auto ws = WsClient::connect(b.ws_port, {});
  REQUIRE(ws.ok());
  const Bytes connect = mqtt_connect("split-frames");
  SUBCASE("one WebSocket message per byte") {
    for (std::size_t i = 0; i < connect.size(); ++i) {
      REQUIRE(ws.send_binary(std::span(connect).subspan(i, 1)));
    }
  }
  SUBCASE("one fragmented WebSocket message") {
    REQUIRE(ws.send_frame(2, std::span(connect).subspan(0, 3), false));
    for (std::size_t i = 3; i + 1 < connect.size(); ++i) {
      REQUIRE(ws.send_frame(0, std::span(connect).subspan(i, 1), false));
    }
    REQUIRE(ws.send_frame(0, std::span(connect).subspan(connect.size() - 1), true));
  }
  expect_connack(read_packet(ws));
}

TEST_CASE("framing: many packets in one WebSocket frame") {
  BrokerProcess b;
  REQUIRE(b.running());
  auto ws = WsClient::connect(b.ws_port, {});
  REQUIRE(ws.ok());
  Bytes burst = mqtt_connect("burst");
  for (const Bytes& p : {mqtt_subscribe(1, "burst/t", 0), mqtt_publish("burst/t", bytes_of("one")),
                         mqtt_publish("burst/t", bytes_of("two")), mqtt_pingreq()}) {
    burst.insert(burst.end(), p.begin(), p.end());
  }
  REQUIRE(ws.send_binary(burst));
  expect_connack(read_packet(ws));
  auto suback = read_packet(ws);
  REQUIRE(suback);
  CHECK(suback->type() == 9);
  std::vector<std::string> got;
  bool pong = false;
  while (got.size() < 2 || !pong) {
    auto p = read_packet(ws);
    REQUIRE(p);
    if (p->type() == 3) {
      const Bytes pl = publish_payload(*p);
      got.emplace_back(pl.begin(), pl.end());
    } else if (p->type() == 13) {
      pong = true;
    }
  }
  CHECK(got == std::vector<std::string>{"one", "two"});
}

TEST_CASE("framing: a 10 MiB message over WebSocket and over TCP") {
  BrokerProcess b;
  REQUIRE(b.running());
  const Bytes big = pattern(10 * 1024 * 1024);
  auto tcp_sub = TcpClient::connect(b.tcp_port);
  REQUIRE(tcp_sub);
  REQUIRE(tcp_sub->send_all(mqtt_connect("big-tcp")));
  expect_connack(read_packet(*tcp_sub));
  REQUIRE(tcp_sub->send_all(mqtt_subscribe(1, "big/#", 0)));
  auto sa = read_packet(*tcp_sub);
  REQUIRE(sa);
  REQUIRE(sa->type() == 9);

  auto ws = WsClient::connect(b.ws_port, {});
  REQUIRE(ws.ok());
  REQUIRE(ws.send_binary(mqtt_connect("big-ws")));
  expect_connack(read_packet(ws));
  REQUIRE(ws.send_binary(mqtt_subscribe(1, "big/#", 0)));
  auto sa2 = read_packet(ws);
  REQUIRE(sa2);
  REQUIRE(sa2->type() == 9);

  SUBCASE("published over WebSocket") { REQUIRE(ws.send_binary(mqtt_publish("big/ws", big))); }
  SUBCASE("published over TCP") {
    REQUIRE(tcp_sub->send_all(mqtt_publish("big/tcp", big), 20000ms));
  }
  auto at_tcp = read_packet(*tcp_sub, 30000ms);
  REQUIRE(at_tcp);
  CHECK(at_tcp->type() == 3);
  CHECK(publish_payload(*at_tcp) == big);
  auto at_ws = read_packet(ws, 30000ms);
  REQUIRE(at_ws);
  CHECK(at_ws->type() == 3);
  CHECK(publish_payload(*at_ws) == big);
}
