// mosquitto_pub / mosquitto_sub (2.0.11) against the real broker over TCP, MQTT 3.1.1 and 5.0:
// QoS 0/1/2, retained messages, wills, $SYS.
#include <doctest/doctest.h>
#include <signal.h>

#include "support/broker_process.h"
#include "support/clients.h"

using namespace wisp_test;
using namespace std::chrono_literals;

TEST_CASE("mosquitto clients: publish/subscribe at every QoS, 3.1.1 and 5.0") {
  BrokerProcess b;
  REQUIRE(b.running());
  for (int version : {4, 5}) {
    for (int qos : {0, 1, 2}) {
      CAPTURE(version);
      CAPTURE(qos);
      const std::string topic = "q/" + std::to_string(version) + "/" + std::to_string(qos);
      auto sub = start_sub(b.tcp_port, {topic}, qos, version);
      REQUIRE(sub);
      for (int i = 0; i < 3; ++i) {
        auto r = pub(b.tcp_port, topic, "m" + std::to_string(i), qos, version);
        CHECK(r.exit_code == 0);
      }
      CHECK(sub->wait_line_containing(topic + " m2", 5s));
      CHECK(sub->count_lines([&](const std::string& l) { return l.rfind(topic + " ", 0) == 0; }) ==
            3);
    }
  }
}

TEST_CASE("mosquitto clients: retained message reaches a later subscriber") {
  BrokerProcess b;
  REQUIRE(b.running());
  for (int version : {4, 5}) {
    CAPTURE(version);
    const std::string topic = "retained/" + std::to_string(version);
    REQUIRE(pub(b.tcp_port, topic, "kept", 1, version, {"-r"}).exit_code == 0);
    auto r =
        run_command({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(b.tcp_port), "-V",
                     mqtt_version_flag(version), "-t", topic, "-C", "1", "-W", "10", "-v"},
                    15s);
    CHECK(r.exit_code == 0);
    CHECK(r.out == topic + " kept\n");
    // An empty retained message clears it: --retained-only then sees nothing.
    REQUIRE(pub(b.tcp_port, topic, "", 1, version, {"-r"}).exit_code == 0);
    auto empty =
        run_command({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(b.tcp_port), "-V",
                     mqtt_version_flag(version), "-t", topic, "--retained-only", "-W", "1"},
                    15s);
    CHECK(empty.out.empty());
  }
}

TEST_CASE("mosquitto clients: a will is published when a client vanishes") {
  BrokerProcess b;
  REQUIRE(b.running());
  for (int version : {4, 5}) {
    CAPTURE(version);
    const std::string will_topic = "will/" + std::to_string(version);
    auto watcher = start_sub(b.tcp_port, {will_topic}, 1, version);
    REQUIRE(watcher);
    auto victim =
        start_sub(b.tcp_port, {"unused/topic"}, 0, version,
                  {"--will-topic", will_topic, "--will-payload", "gone", "--will-qos", "1"});
    REQUIRE(victim);
    victim->signal(SIGKILL);  // abnormal loss: no DISCONNECT
    CHECK(watcher->wait_line_containing(will_topic + " gone", 10s));
  }
}

TEST_CASE("mosquitto clients: a normal disconnect publishes no will") {
  BrokerProcess b;
  REQUIRE(b.running());
  auto watcher = start_sub(b.tcp_port, {"will/clean"}, 1, 4);
  REQUIRE(watcher);
  auto r = pub(b.tcp_port, "some/topic", "x", 0, 4,
               {"--will-topic", "will/clean", "--will-payload", "gone"});
  CHECK(r.exit_code == 0);
  // A marker published after the clean disconnect arrives, the will never does.
  REQUIRE(pub(b.tcp_port, "will/clean", "marker", 1, 4).exit_code == 0);
  CHECK(watcher->wait_line_containing("will/clean marker", 5s));
  CHECK(watcher->count_lines([](const std::string& l) { return l == "will/clean gone"; }) == 0);
}

TEST_CASE("mosquitto clients: $SYS topics are published") {
  BrokerProcess b(global_opts("sys_interval 1\n"));
  REQUIRE(b.running());
  for (int version : {4, 5}) {
    CAPTURE(version);
    auto r = run_command(
        {"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(b.tcp_port), "-V",
         mqtt_version_flag(version), "-t", "$SYS/broker/version", "-C", "1", "-W", "10", "-v"},
        15s);
    CHECK(r.exit_code == 0);
    CHECK(r.out.rfind("$SYS/broker/version ", 0) == 0);
    auto c = run_command(
        {"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(b.tcp_port), "-V",
         mqtt_version_flag(version), "-t", "$SYS/broker/clients/connected", "-C", "1", "-W", "10"},
        15s);
    CHECK(c.exit_code == 0);
    CHECK(std::atoi(c.out.c_str()) >= 1);
  }
}
