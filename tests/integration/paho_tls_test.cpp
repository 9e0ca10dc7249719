// Eclipse Paho MQTT C++ over ssl:// and wss:// (dev CA), with username/password from the
// password file and with a ticket as the password.
#include <doctest/doctest.h>
#include <mqtt/async_client.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/broker_process.h"
#include "support/raw_client.h"

using namespace wisp_test;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<mqtt::async_client> connected(const std::string& uri, const std::string& id,
                                              const std::string& ca, const std::string& user,
                                              const std::string& password) {
  auto c = std::make_unique<mqtt::async_client>(uri, id, mqtt::create_options(MQTTVERSION_5));
  mqtt::connect_options opts;
  opts.set_connect_timeout(10s);
  opts.set_mqtt_version(MQTTVERSION_5);
  opts.set_clean_start(true);
  opts.set_user_name(user);
  opts.set_password(password);
  mqtt::ssl_options ssl;
  ssl.set_trust_store(ca);
  ssl.set_enable_server_cert_auth(true);
  ssl.set_verify(true);
  opts.set_ssl(ssl);
  c->start_consuming();
  c->connect(opts)->wait_for(10s);
  return c;
}

}  // namespace

TEST_CASE("paho c++: ssl:// and wss:// with the dev CA and a password file") {
  const auto dir =
      std::filesystem::temp_directory_path() /
      ("wisp-pahotls-" + std::to_string(::getpid()) + "-" + std::to_string(free_port()));
  REQUIRE(run_command({wisp_binary(), "cert", "dev", "--out", dir.string()}).exit_code == 0);
  const auto pw = (dir / "passwd").string();
  REQUIRE(run_command({wisp_binary(), "passwd", "-c", "-b", pw, "paho", "s3cret"}).exit_code == 0);
  const std::string tls = "certfile " + (dir / "server.crt").string() + "\nkeyfile " +
                          (dir / "server.key").string() + "\n";
  BrokerOptions o;
  o.global = "allow_anonymous false\npassword_file " + pw + "\n";
  o.tcp = tls;
  o.ws = tls;
  {
    BrokerProcess b(o);
    REQUIRE(b.running());
    const std::string ca = (dir / "ca.crt").string();
    const std::string ssl = "ssl://localhost:" + std::to_string(b.tcp_port);
    const std::string wss = "wss://localhost:" + std::to_string(b.ws_port) + "/mqtt";
    try {
      auto sub = connected(ssl, "paho-ssl-sub", ca, "paho", "s3cret");
      REQUIRE(sub->is_connected());
      auto pubc = connected(wss, "paho-wss-pub", ca, "paho", "s3cret");
      REQUIRE(pubc->is_connected());
      REQUIRE(sub->subscribe("pahotls/t", 1)->wait_for(10s));
      REQUIRE(pubc->publish("pahotls/t", "over-wss", 1, false)->wait_for(10s));
      mqtt::const_message_ptr m;
      REQUIRE(sub->try_consume_message_for(&m, 10s));
      REQUIRE(m);
      CHECK(m->get_payload_str() == "over-wss");
      pubc->disconnect()->wait_for(10s);
      sub->disconnect()->wait_for(10s);
    } catch (const mqtt::exception& e) {
      FAIL(e.what());
    }
    // A wrong password is refused over TLS too (CONNACK 0x86).
    bool refused = false;
    std::string why;
    try {
      auto bad = connected(wss, "paho-bad", ca, "paho", "wrong");
      refused = !bad->is_connected();
    } catch (const mqtt::exception& e) {
      refused = true;
      why = e.what();
    }
    CHECK_MESSAGE(refused, why);
    CHECK(b.wait_log("bad username or password for user 'paho'"));
  }
  std::filesystem::remove_all(dir);
}
