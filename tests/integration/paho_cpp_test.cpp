// Eclipse Paho MQTT C++ (1.2) against the real broker over tcp:// and ws://, 3.1.1 and 5.0.
#include <doctest/doctest.h>
#include <mqtt/async_client.h>

#include "support/broker_process.h"

using namespace wisp_test;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<mqtt::async_client> connected(const std::string& uri, const std::string& id,
                                              int version) {
  auto c = std::make_unique<mqtt::async_client>(
      uri, id, mqtt::create_options(version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1));
  mqtt::connect_options opts;
  opts.set_connect_timeout(10s);
  opts.set_mqtt_version(version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
  if (version == 5) {
    opts.set_clean_start(true);
  } else {
    opts.set_clean_session(true);
  }
  c->start_consuming();
  c->connect(opts)->wait_for(10s);
  return c;
}

}  // namespace

TEST_CASE("paho c++: tcp:// and ws://, 3.1.1 and 5.0, QoS 0/1/2") {
  BrokerProcess b;
  REQUIRE(b.running());
  const std::string tcp = "tcp://127.0.0.1:" + std::to_string(b.tcp_port);
  const std::string ws = "ws://127.0.0.1:" + std::to_string(b.ws_port) + "/mqtt";
  struct Route {
    const char* name;
    std::string sub, pub;
  };
  const Route routes[] = {
      {"tcp->tcp", tcp, tcp}, {"ws->ws", ws, ws}, {"tcp->ws", ws, tcp}, {"ws->tcp", tcp, ws}};
  for (const auto& r : routes) {
    for (int version : {4, 5}) {
      CAPTURE(r.name);
      CAPTURE(version);
      try {
        auto sub = connected(r.sub, "paho-cpp-sub", version);
        REQUIRE(sub->is_connected());
        auto pubc = connected(r.pub, "paho-cpp-pub", version);
        REQUIRE(pubc->is_connected());
        const std::string topic = std::string("pahocpp/") + r.name + "/" + std::to_string(version);
        REQUIRE(sub->subscribe(topic, 2)->wait_for(10s));
        for (int qos : {0, 1, 2}) {
          auto tok = pubc->publish(topic, "qos" + std::to_string(qos), qos, false);
          REQUIRE(tok->wait_for(10s));
        }
        for (int qos : {0, 1, 2}) {
          mqtt::const_message_ptr m;
          REQUIRE(sub->try_consume_message_for(&m, 10s));
          REQUIRE(m);
          CHECK(m->get_payload_str() == "qos" + std::to_string(qos));
          CHECK(m->get_qos() == qos);
        }
        pubc->disconnect()->wait_for(10s);
        sub->disconnect()->wait_for(10s);
      } catch (const mqtt::exception& e) {
        FAIL(e.what());
      }
    }
  }
}
