// Config parser on real-world mosquitto.conf shapes: Debian's packaged layout with conf.d, and
// a typical websockets + TLS deployment.
#include <doctest/doctest.h>

#include "broker/app/config.h"
#include "config_test_util.h"

using namespace broker::app;
using namespace config_test;
using namespace std::chrono_literals;

TEST_CASE("Debian's /etc/mosquitto/mosquitto.conf with a conf.d listener file") {
  TempDir dir;
  dir.write("conf.d/README",
            "Any files placed in this directory that have a .conf ending will be loaded as\n"
            "config files by the broker. Use this to make your local config.\n");
  dir.write("conf.d/local.conf",
            "listener 1883\n"
            "allow_anonymous false\n"
            "password_file /etc/mosquitto/passwd\n"
            "\n"
            "listener 9001\n"
            "protocol websockets\n");
  const std::string main = dir.write("mosquitto.conf",
                                     "# Place your local configuration in /etc/mosquitto/conf.d/\n"
                                     "#\n"
                                     "# A full description of the configuration file is at\n"
                                     "# /usr/share/doc/mosquitto/examples/mosquitto.conf.example\n"
                                     "\n"
                                     "pid_file /run/mosquitto/mosquitto.pid\n"
                                     "\n"
                                     "persistence true\n"
                                     "persistence_location /var/lib/mosquitto/\n"
                                     "\n"
                                     "log_dest file /var/log/mosquitto/mosquitto.log\n"
                                     "\n"
                                     "include_dir " +
                                         dir.str("conf.d") + "\n");
  const Config c = load_ok(main);
  CHECK(warnings_of(dir, c) ==
        std::vector<std::string>{
            "mosquitto.conf:6: 'pid_file' is not supported by Wisp yet; ignored"});
  CHECK(c.persistence);
  CHECK(c.persistence_location == "/var/lib/mosquitto/");
  CHECK(c.persistence_file == "wisp.db");  // never Mosquitto's own mosquitto.db
  CHECK(c.log_dest == std::vector<std::string>{"file /var/log/mosquitto/mosquitto.log"});
  CHECK(c.password_file == "/etc/mosquitto/passwd");
  REQUIRE(c.listeners.size() == 2);
  CHECK(c.listeners[0].port == 1883);
  CHECK(c.listeners[0].bind_address.empty());
  CHECK(c.listeners[0].protocol == ListenerProtocol::mqtt);
  CHECK_FALSE(c.listeners[0].policy.allow_anonymous);
  CHECK(c.listeners[1].port == 9001);
  CHECK(c.listeners[1].protocol == ListenerProtocol::websockets);
  CHECK(c.listeners[1].one_port);
  CHECK_FALSE(c.listeners[1].policy.allow_anonymous);
  CHECK(dir.relative(c.listeners[1].file) == "conf.d/local.conf:5");

  SUBCASE("the packaged file alone (empty conf.d) keeps Wisp's loopback defaults") {
    TempDir bare;
    bare.mkdir("conf.d");
    const Config d = parse_ok(bare,
                              "pid_file /run/mosquitto/mosquitto.pid\n"
                              "persistence true\n"
                              "persistence_location /var/lib/mosquitto/\n"
                              "log_dest file /var/log/mosquitto/mosquitto.log\n"
                              "include_dir " +
                                  bare.str("conf.d") + "\n");
    REQUIRE(d.listeners.size() == 2);
    CHECK(d.listeners[0].bind_address == "127.0.0.1");
    CHECK(d.listeners[0].policy.allow_anonymous);
    CHECK(d.listeners[1].bind_address == "127.0.0.1");
  }
}

TEST_CASE("a typical websockets + TLS deployment") {
  TempDir dir;
  const std::string www = dir.mkdir("www");
  const Config c =
      parse_ok(dir,
               "# MQTT for devices on the LAN, TLS for the internet, WSS for browsers\n"
               "per_listener_settings false\n"
               "allow_anonymous false\n"
               "password_file /etc/mosquitto/passwd\n"
               "acl_file /etc/mosquitto/acl\n"
               "\n"
               "max_inflight_messages 40\n"
               "max_queued_messages 5000\n"
               "message_size_limit 10485760\n"
               "persistent_client_expiration 14d\n"
               "sys_interval 60\n"
               "log_type error\n"
               "log_type warning\n"
               "log_type notice\n"
               "log_type information\n"
               "log_dest stdout\n"
               "log_timestamp true\n"
               "log_timestamp_format %Y-%m-%dT%H:%M:%S\n"
               "connection_messages true\n"
               "\n"
               "listener 1883 192.168.1.2\n"
               "protocol mqtt\n"
               "\n"
               "listener 8883\n"
               "protocol mqtt\n"
               "cafile /etc/letsencrypt/live/mqtt.example.com/chain.pem\n"
               "certfile /etc/letsencrypt/live/mqtt.example.com/cert.pem\n"
               "keyfile /etc/letsencrypt/live/mqtt.example.com/privkey.pem\n"
               "tls_version tlsv1.2\n"
               "\n"
               "listener 8081\n"
               "protocol websockets\n"
               "http_dir " +
                   www +
                   "\n"
                   "certfile /etc/letsencrypt/live/mqtt.example.com/fullchain.pem\n"
                   "keyfile /etc/letsencrypt/live/mqtt.example.com/privkey.pem\n"
                   "allowed_origins https://dashboard.example.com\n"
                   "ws_ping_interval 30\n");
  CHECK(warnings_of(dir, c) ==
        std::vector<std::string>{
            "wisp.conf:17: 'log_timestamp' is not supported by Wisp yet; ignored",
            "wisp.conf:18: 'log_timestamp_format' is not supported by Wisp yet; ignored",
            "wisp.conf:19: 'connection_messages' is not supported by Wisp yet; ignored"});
  CHECK(c.password_file == "/etc/mosquitto/passwd");
  CHECK(c.acl_file == "/etc/mosquitto/acl");
  CHECK(c.broker.max_inflight_messages == 40);
  CHECK(c.broker.max_queued_messages == 5000);
  CHECK(c.broker.message_size_limit == 10485760);
  CHECK(c.broker.persistent_client_expiration == std::chrono::seconds{14 * 86400});
  CHECK(c.broker.sys_interval == 60s);
  CHECK(c.log_type == std::vector<std::string>{"error", "warning", "notice", "information"});
  CHECK(c.log_dest == std::vector<std::string>{"stdout"});

  REQUIRE(c.listeners.size() == 3);
  const auto& lan = c.listeners[0];
  CHECK(lan.bind_address == "192.168.1.2");
  CHECK_FALSE(lan.tls.has_value());
  CHECK(lan.policy.name == "tcp:1883");
  const auto& mqtts = c.listeners[1];
  REQUIRE(mqtts.tls.has_value());
  CHECK(mqtts.tls->cafile == "/etc/letsencrypt/live/mqtt.example.com/chain.pem");
  CHECK(mqtts.tls->tls_version == "tlsv1.2");
  CHECK_FALSE(mqtts.tls->require_certificate);
  CHECK(mqtts.policy.name == "tls:8883");
  const auto& wss = c.listeners[2];
  CHECK(wss.protocol == ListenerProtocol::websockets);
  REQUIRE(wss.tls.has_value());
  CHECK(wss.tls->certfile == "/etc/letsencrypt/live/mqtt.example.com/fullchain.pem");
  CHECK(wss.http_dir == www);
  CHECK(wss.allowed_origins == std::vector<std::string>{"https://dashboard.example.com"});
  CHECK(wss.ws_ping_interval_s == 30);
  CHECK(wss.policy.name == "wss:8081");
  for (const auto& l : c.listeners) {
    CHECK_FALSE(l.policy.allow_anonymous);
    CHECK_FALSE(l.policy.loopback_only);
  }
}

TEST_CASE("Mosquitto 1.x style: port, global TLS keys and a websockets listener") {
  TempDir dir;
  const Config c = parse_ok(dir,
                            "allow_anonymous true\n"
                            "port 8883\n"
                            "cafile /etc/mosquitto/ca_certificates/ca.crt\n"
                            "certfile /etc/mosquitto/certs/server.crt\n"
                            "keyfile /etc/mosquitto/certs/server.key\n"
                            "require_certificate true\n"
                            "use_identity_as_username true\n"
                            "\n"
                            "listener 9001\n"
                            "protocol websockets\n");
  REQUIRE(c.listeners.size() == 2);
  CHECK(c.listeners[0].port == 8883);
  REQUIRE(c.listeners[0].tls.has_value());
  CHECK(c.listeners[0].tls->require_certificate);
  CHECK(c.listeners[0].tls->use_identity_as_username);
  CHECK(c.listeners[0].policy.name == "tls:8883");
  CHECK(c.listeners[1].port == 9001);
  CHECK_FALSE(c.listeners[1].tls.has_value());
  CHECK(c.listeners[0].policy.allow_anonymous);
  CHECK(c.listeners[1].policy.allow_anonymous);
  CHECK(c.warnings.empty());
}
