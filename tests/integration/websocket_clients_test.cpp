// Independent clients over WebSocket and across transports: Paho Python (websockets
// transport), MQTT.js (ws://), and traffic between TCP, WebSocket and the one-port listener.
#include <doctest/doctest.h>

#include "support/broker_process.h"
#include "support/clients.h"

using namespace wisp_test;
using namespace std::chrono_literals;

namespace {

CommandResult paho(const std::string& sub, const std::string& pubep, int version, int qos,
                   int count = 10, int size = 32) {
  return run_command({python(), clients_dir() + "/paho_roundtrip.py", "--sub", sub, "--pub", pubep,
                      "--version", std::to_string(version), "--qos", std::to_string(qos), "--count",
                      std::to_string(count), "--size", std::to_string(size)},
                     60s);
}

std::string ws(const BrokerProcess& b, const std::string& path = "/mqtt") {
  return "ws:" + std::to_string(b.ws_port) + ":" + path;
}
std::string tcp(std::uint16_t port) { return "tcp:" + std::to_string(port); }

}  // namespace

TEST_CASE("paho python over websockets, 3.1.1 and 5.0") {
  BrokerProcess b;
  REQUIRE(b.running());
  for (int version : {4, 5}) {
    for (int qos : {0, 1, 2}) {
      CAPTURE(version);
      CAPTURE(qos);
      auto r = paho(ws(b), ws(b), version, qos);
      CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
      CHECK(r.out == "OK 10\n");
    }
  }
  // The second WebSocket path works as well.
  auto r = paho(ws(b, "/"), ws(b, "/"), 4, 1);
  CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
}

TEST_CASE("cross-transport: WebSocket <-> TCP and via the one-port listener") {
  BrokerProcess b;
  REQUIRE(b.running());
  struct Case {
    const char* name;
    std::string sub, pub;
  };
  const Case cases[] = {
      {"ws publisher -> tcp subscriber", tcp(b.tcp_port), ws(b)},
      {"tcp publisher -> ws subscriber", ws(b), tcp(b.tcp_port)},
      {"one-port native MQTT subscriber <- ws publisher", tcp(b.ws_port), ws(b)},
      {"one-port native MQTT publisher -> tcp subscriber", tcp(b.tcp_port), tcp(b.ws_port)},
      {"one-port native MQTT publisher -> ws subscriber", ws(b), tcp(b.ws_port)},
  };
  for (const auto& c : cases) {
    for (int version : {4, 5}) {
      CAPTURE(c.name);
      CAPTURE(version);
      auto r = paho(c.sub, c.pub, version, 1);
      CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
    }
  }
}

TEST_CASE("MQTT.js over ws://") {
  BrokerProcess b;
  REQUIRE(b.running());
  const std::string url = "ws://127.0.0.1:" + std::to_string(b.ws_port) + "/mqtt";
  const std::string tcp_url = "mqtt://127.0.0.1:" + std::to_string(b.tcp_port);
  for (int version : {4, 5}) {
    CAPTURE(version);
    auto r = run_command({"node", clients_dir() + "/mqttjs_roundtrip.js", url, url,
                          std::to_string(version), "1", "20"},
                         60s);
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
    CHECK(r.out == "OK 20\n");
    // MQTT.js on WebSocket to a TCP subscriber.
    auto x = run_command({"node", clients_dir() + "/mqttjs_roundtrip.js", tcp_url, url,
                          std::to_string(version), "2", "5"},
                         60s);
    CHECK_MESSAGE(x.exit_code == 0, (x.out + x.err));
  }
}

TEST_CASE("mosquitto_pub over TCP reaches a Paho WebSocket subscriber at 64 KiB payloads") {
  BrokerProcess b;
  REQUIRE(b.running());
  auto r = paho(ws(b), tcp(b.tcp_port), 5, 1, 20, 64 * 1024);
  CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
}
