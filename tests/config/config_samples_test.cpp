// Config parser on real-world mosquitto.conf shapes: Debian's packaged layout with conf.d, and
// a typical websockets + TLS deployment.
#include <doctest/doctest.h>

#include <algorithm>

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

TEST_CASE("every setting of Mosquitto's example file, uncommented at its default, loads") {
  // The non-comment lines of /usr/share/doc/mosquitto/examples/mosquitto.conf (2.0.11) after
  // removing the '#' in front of each key: defaults restated, a bridge with placeholders.
  TempDir dir;
  const Config c =
      parse_ok(dir,
               "per_listener_settings false\n"
               "allow_zero_length_clientid true\n"
               "auto_id_prefix auto-\n"
               "check_retain_source true\n"
               "max_inflight_bytes 0\n"
               "max_inflight_messages 20\n"
               "max_keepalive 65535\n"
               "max_packet_size 0\n"
               "max_queued_bytes 0\n"
               "max_qos 2\n"
               "max_queued_messages 1000\n"
               "memory_limit 0\n"
               "message_size_limit 0\n"
               "retain_available true\n"
               "set_tcp_nodelay false\n"
               "sys_interval 10\n"
               "upgrade_outgoing_qos false\n"
               "user mosquitto\n"
               "max_connections -1\n"
               "protocol mqtt\n"
               "require_certificate false\n"
               "use_identity_as_username false\n"
               "use_identity_as_username false\n"
               "autosave_interval 1800\n"
               "autosave_on_changes false\n"
               "persistence false\n"
               "persistence_file mosquitto.db\n"
               "log_dest stderr\n"
               "log_type error\n"
               "log_type warning\n"
               "log_type notice\n"
               "log_type information\n"
               "connection_messages true\n"
               "log_timestamp true\n"
               "websockets_log_level 0\n"
               "allow_anonymous false\n"
               "connection <name>\n"
               "address <host>[:<port>] [<host>[:<port>]]\n"
               "topic <topic> [[[out | in | both] qos-level] local-prefix remote-prefix]\n"
               "bridge_attempt_unsubscribe true\n"
               "bridge_protocol_version mqttv311\n"
               "cleansession false\n"
               "idle_timeout 60\n"
               "keepalive_interval 60\n"
               "notifications true\n"
               "restart_timeout 5 30\n"
               "round_robin false\n"
               "start_type automatic\n"
               "threshold 10\n"
               "try_private true\n"
               "bridge_outgoing_retain true\n"
               "bridge_max_packet_size 0\n"
               "bridge_insecure false\n");
  // No listener line: the loopback defaults, with the explicit allow_anonymous false.
  REQUIRE(c.listeners.size() == 2);
  CHECK(c.listeners[0].bind_address == "127.0.0.1");
  CHECK_FALSE(c.listeners[0].tls.has_value());
  CHECK_FALSE(c.listeners[0].policy.allow_anonymous);
  CHECK_FALSE(c.persistence);
  CHECK(c.broker.max_inflight_messages == 20);
  CHECK(c.broker.max_queued_messages == 1000);
  CHECK(c.broker.max_keepalive == 65535);
  CHECK(c.broker.maximum_qos == protocol::QoS::exactly_once);
  const auto w = warnings_of(dir, c);
  CHECK(w.size() == 32);
  const auto has = [&](const std::string& text) {
    return std::find(w.begin(), w.end(), text) != w.end();
  };
  CHECK(
      has("wisp.conf:20: 'protocol' before any 'listener' line restates a default of "
          "Mosquitto's default listener, which is not configured; ignored"));
  CHECK(
      has("wisp.conf:21: 'require_certificate' before any 'listener' line restates a default "
          "of Mosquitto's default listener, which is not configured; ignored"));
  CHECK(has("wisp.conf:37: 'connection' is not supported by Wisp yet; ignored"));
  CHECK(has("wisp.conf:53: 'bridge_insecure' is not supported by Wisp yet; ignored"));
}

TEST_CASE("listener keys that restate defaults neither enable TLS nor need a default listener") {
  TempDir dir;
  const Config c = parse_ok(dir,
                            "listener 1883\n"
                            "require_certificate false\n"
                            "use_identity_as_username false\n"
                            "tls_version tlsv1.2\n");
  REQUIRE(c.listeners.size() == 1);
  CHECK_FALSE(c.listeners[0].tls.has_value());
  CHECK(c.listeners[0].policy.name == "tcp:1883");
  CHECK(c.warnings.empty());
  // A non-default value at global scope is still an error (it would be lost).
  CHECK(parse_error(dir, "require_certificate true\nlistener 8883\n") ==
        "wisp.conf:1: 'require_certificate' must follow a 'listener' line (before any listener "
        "it configures Mosquitto's default listener, which needs 'port' or 'bind_address')");
}
