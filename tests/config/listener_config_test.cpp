// Config parser: listeners, their scoping, TLS, WebSocket options and listener auth.
#include <doctest/doctest.h>

#include "broker/app/config.h"
#include "config_test_util.h"

using namespace broker::app;
using namespace config_test;

TEST_CASE("'listener PORT' without address binds all addresses and refuses anonymous clients") {
  TempDir dir;
  const Config c = parse_ok(dir, "listener 1883\n");
  REQUIRE(c.listeners.size() == 1);
  const ListenerConfig& l = c.listeners[0];
  CHECK(l.port == 1883);
  CHECK(l.bind_address.empty());
  CHECK(l.protocol == ListenerProtocol::mqtt);
  CHECK(l.socket_domain == SocketDomain::any);
  CHECK_FALSE(l.tls.has_value());
  CHECK_FALSE(l.policy.allow_anonymous);  // Mosquitto 2: listeners in a file => false
  CHECK_FALSE(l.policy.loopback_only);
  CHECK(l.policy.name == "tcp:1883");
  CHECK(dir.relative(l.file) == "wisp.conf:1");
}

TEST_CASE("'listener PORT ADDRESS' binds that address, allow_anonymous true opens it") {
  TempDir dir;
  const Config c = parse_ok(dir,
                            "listener 1883 127.0.0.1\n"
                            "listener 1884 ::1\n"
                            "allow_anonymous true\n");
  REQUIRE(c.listeners.size() == 2);
  CHECK(c.listeners[0].bind_address == "127.0.0.1");
  CHECK(c.listeners[1].bind_address == "::1");
  // Without per_listener_settings allow_anonymous is global wherever it appears.
  CHECK(c.listeners[0].policy.allow_anonymous);
  CHECK(c.listeners[1].policy.allow_anonymous);
}

TEST_CASE("listener keys apply to the latest listener only") {
  TempDir dir;
  const Config c = parse_ok(dir,
                            "listener 1883\n"
                            "max_connections 10\n"
                            "socket_domain ipv4\n"
                            "\n"
                            "listener 9001 127.0.0.1\n"
                            "protocol websockets\n"
                            "mount_point tenant/a/\n"
                            "socket_domain ipv6\n"
                            "max_connections -1\n"
                            "\n"
                            "listener 1884\n");
  REQUIRE(c.listeners.size() == 3);
  const auto& a = c.listeners[0];
  const auto& b = c.listeners[1];
  const auto& d = c.listeners[2];
  CHECK(a.protocol == ListenerProtocol::mqtt);
  CHECK(a.policy.max_connections == 10);
  CHECK(a.socket_domain == SocketDomain::ipv4);
  CHECK_FALSE(a.policy.mount_point.has_value());
  CHECK(b.protocol == ListenerProtocol::websockets);
  CHECK(b.policy.mount_point == "tenant/a/");
  CHECK(b.socket_domain == SocketDomain::ipv6);
  CHECK(b.policy.max_connections == 0);
  CHECK(b.policy.name == "ws:9001");
  CHECK(dir.relative(b.file) == "wisp.conf:5");
  CHECK(d.protocol == ListenerProtocol::mqtt);
  CHECK(d.policy.max_connections == 0);
  CHECK(d.socket_domain == SocketDomain::any);
  CHECK(c.max_connections == 0);  // listener-scope max_connections is not the global cap
}

TEST_CASE("max_connections before any listener is the broker-wide cap") {
  TempDir dir;
  const Config c = parse_ok(dir, "max_connections 1000\nlistener 1883\nmax_connections 50\n");
  CHECK(c.max_connections == 1000);
  REQUIRE(c.listeners.size() == 1);
  CHECK(c.listeners[0].policy.max_connections == 50);
}

TEST_CASE("listener line validation") {
  TempDir dir;
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"listener\n", "'listener' needs a port"},
      {"listener abc\n", "listener port must be an integer from 1 to 65535, not 'abc'"},
      {"listener 65536\n", "listener port must be an integer from 1 to 65535, not '65536'"},
      {"listener -1\n", "listener port must be an integer from 1 to 65535, not '-1'"},
      {"listener 0 /run/wisp.sock\n", "Unix socket listeners are not supported by Wisp"},
      {"listener 0\n", "Unix socket listeners are not supported by Wisp"},
      {"listener 1883 0.0.0.0 extra\n",
       "'listener' takes a port and an optional address, got 3 values"},
      {"listener 1883 0.0.0.0 # public\n",
       "'listener' takes a port and an optional address; '#' starts a comment only at the "
       "beginning of a line"},
      {"listener 1883 [::1]\n", "write IPv6 addresses without brackets (e.g. ::1), not '[::1]'"},
      {"listener 1883\nbind_address [::]\n",
       "write IPv6 addresses without brackets (e.g. ::1), not '[::]'"},
      {"bind_address [::1]\n", "write IPv6 addresses without brackets (e.g. ::1), not '[::1]'"},
      {"listener 1883\nprotocol http\n", "'protocol' must be mqtt or websockets, not 'http'"},
      {"listener 1883\nsocket_domain ipv5\n", "'socket_domain' must be ipv4 or ipv6, not 'ipv5'"},
      {"listener 1883\nmount_point a/#\n",
       "'mount_point' must not contain the wildcards '+' or '#'"},
      {"listener 1883\nmount_point a/+/b\n",
       "'mount_point' must not contain the wildcards '+' or '#'"},
  };
  for (const auto& c : cases) {
    const std::string text = c.text;
    CAPTURE(text);
    const std::string err = parse_error(dir, c.text);
    const auto colon = err.find(": ");
    REQUIRE(colon != std::string::npos);
    CHECK(err.substr(colon + 2) == c.error);
    CHECK(err.starts_with("wisp.conf:"));
  }
  CHECK(parse_error(dir, "listener 1883\nprotocol http\n").starts_with("wisp.conf:2: "));
}

TEST_CASE("two listeners on one port conflict unless addresses or IP versions differ") {
  TempDir dir;
  CHECK(parse_error(dir, "listener 1883\n\nlistener 1883\n") ==
        "wisp.conf:3: port 1883 is already used by the listener at wisp.conf:1");
  CHECK(parse_error(dir, "listener 1883 127.0.0.1\nlistener 1883\n") ==
        "wisp.conf:2: port 1883 is already used by the listener at wisp.conf:1");
  CHECK(parse_error(dir, "listener 1883 10.0.0.1\nlistener 1883 10.0.0.1\n") ==
        "wisp.conf:2: port 1883 is already used by the listener at wisp.conf:1");
  CHECK(parse_error(dir, "port 1883\nlistener 1883\n") ==
        "wisp.conf:2: port 1883 is already used by the listener at wisp.conf:1");
  CHECK(parse_ok(dir, "listener 1883 127.0.0.1\nlistener 1883 ::1\n").listeners.size() == 2);
  CHECK(parse_ok(dir,
                 "listener 1883\nsocket_domain ipv4\n"
                 "listener 1883\nsocket_domain ipv6\n")
            .listeners.size() == 2);
}

TEST_CASE("bind_address inside a listener sets its address") {
  TempDir dir;
  const Config c = parse_ok(dir, "listener 1883\nbind_address 192.168.1.10\n");
  REQUIRE(c.listeners.size() == 1);
  CHECK(c.listeners[0].bind_address == "192.168.1.10");
  CHECK(parse_error(dir, "listener 1883 127.0.0.1\nbind_address 10.0.0.1\n") ==
        "wisp.conf:2: this listener already has address '127.0.0.1' from its 'listener' line");
  CHECK(parse_error(dir, "listener 1883\nbind_address a\nbind_address b\n") ==
        "wisp.conf:3: duplicate 'bind_address' (first set at wisp.conf:2)");
}

TEST_CASE("port and global bind_address make Mosquitto's default listener") {
  TempDir dir;
  SUBCASE("port alone: all addresses") {
    const Config c = parse_ok(dir, "port 1884\nlistener 9001\nprotocol websockets\n");
    REQUIRE(c.listeners.size() == 2);
    CHECK(c.listeners[0].port == 1884);
    CHECK(c.listeners[0].bind_address.empty());
    CHECK(c.listeners[0].protocol == ListenerProtocol::mqtt);
    CHECK(dir.relative(c.listeners[0].file) == "wisp.conf:1");
    CHECK(c.listeners[1].port == 9001);
    CHECK(c.listeners[1].protocol == ListenerProtocol::websockets);
  }
  SUBCASE("bind_address alone: port 1883 on that address") {
    const Config c = parse_ok(dir, "bind_address 127.0.0.1\n");
    REQUIRE(c.listeners.size() == 1);
    CHECK(c.listeners[0].port == 1883);
    CHECK(c.listeners[0].bind_address == "127.0.0.1");
    CHECK_FALSE(c.listeners[0].policy.allow_anonymous);
    CHECK_FALSE(c.listeners[0].policy.loopback_only);
  }
  SUBCASE("listener keys before the first listener configure it, in any order") {
    const Config c = parse_ok(dir,
                              "protocol websockets\n"
                              "mount_point m/\n"
                              "port 9001\n"
                              "listener 1883\n");
    REQUIRE(c.listeners.size() == 2);
    CHECK(c.listeners[0].port == 9001);
    CHECK(c.listeners[0].protocol == ListenerProtocol::websockets);
    CHECK(c.listeners[0].policy.mount_point == "m/");
    CHECK(c.listeners[1].protocol == ListenerProtocol::mqtt);
    CHECK_FALSE(c.listeners[1].policy.mount_point.has_value());
  }
  SUBCASE("port is validated and given once") {
    CHECK(parse_error(dir, "port 0\n") ==
          "wisp.conf:1: 'port' must be an integer from 1 to 65535, not '0'");
    CHECK(parse_error(dir, "port 1883\nport 1884\n") ==
          "wisp.conf:2: duplicate 'port' (first set at wisp.conf:1)");
  }
}

TEST_CASE("a listener key before any listener needs port or bind_address") {
  TempDir dir;
  CHECK(parse_error(dir, "sys_interval 5\nprotocol websockets\nlistener 9001\n") ==
        "wisp.conf:2: 'protocol' must follow a 'listener' line (before any listener it "
        "configures Mosquitto's default listener, which needs 'port' or 'bind_address')");
  CHECK(parse_error(dir, "certfile /etc/ssl/c.pem\n") ==
        "wisp.conf:1: 'certfile' must follow a 'listener' line (before any listener it "
        "configures Mosquitto's default listener, which needs 'port' or 'bind_address')");
}

TEST_CASE("per_listener_settings true scopes allow_anonymous, password_file, acl_file") {
  TempDir dir;
  const Config c = parse_ok(dir,
                            "per_listener_settings true\n"
                            "listener 1883 127.0.0.1\n"
                            "allow_anonymous true\n"
                            "listener 8883\n"
                            "password_file /etc/wisp/passwd\n"
                            "acl_file /etc/wisp/acl\n"
                            "listener 8884\n"
                            "allow_anonymous false\n");
  REQUIRE(c.listeners.size() == 3);
  CHECK(c.per_listener_settings);
  CHECK(c.listeners[0].policy.allow_anonymous);
  CHECK(c.listeners[0].password_file.empty());
  CHECK_FALSE(c.listeners[1].policy.allow_anonymous);  // default false
  CHECK(c.listeners[1].password_file == "/etc/wisp/passwd");
  CHECK(c.listeners[1].acl_file == "/etc/wisp/acl");
  CHECK_FALSE(c.listeners[2].policy.allow_anonymous);
  CHECK(c.password_file.empty());
  CHECK(c.acl_file.empty());
  CHECK(c.warnings.empty());

  SUBCASE("without it the auth keys are global wherever they appear") {
    const Config g = parse_ok(dir,
                              "listener 1883\n"
                              "password_file /etc/wisp/passwd\n"
                              "listener 8883\n"
                              "acl_file /etc/wisp/acl\n");
    CHECK(g.password_file == "/etc/wisp/passwd");
    CHECK(g.acl_file == "/etc/wisp/acl");
    CHECK(g.listeners[0].password_file.empty());
    CHECK(g.listeners[1].acl_file.empty());
    CHECK_FALSE(g.listeners[0].policy.allow_anonymous);
  }
  SUBCASE("global-scope auth keys go to the default listener") {
    const Config d = parse_ok(dir,
                              "per_listener_settings true\n"
                              "allow_anonymous true\n"
                              "port 1883\n"
                              "listener 8883\n");
    REQUIRE(d.listeners.size() == 2);
    CHECK(d.listeners[0].policy.allow_anonymous);
    CHECK_FALSE(d.listeners[1].policy.allow_anonymous);
  }
  SUBCASE("and warn when there is no default listener") {
    const Config w = parse_ok(dir,
                              "per_listener_settings true\n"
                              "allow_anonymous true\n"
                              "listener 8883\n");
    CHECK_FALSE(w.listeners[0].policy.allow_anonymous);
    CHECK(warnings_of(dir, w) ==
          std::vector<std::string>{
              "wisp.conf:2: with 'per_listener_settings true', auth keys before the first "
              "'listener' apply only to Mosquitto's default listener ('port'/'bind_address'), "
              "which is not configured; set them inside each listener"});
  }
  SUBCASE("with no listener at all they apply to the loopback defaults") {
    const Config n = parse_ok(dir,
                              "per_listener_settings true\n"
                              "allow_anonymous false\n"
                              "password_file /p\n");
    REQUIRE(n.listeners.size() == 2);
    CHECK_FALSE(n.listeners[0].policy.allow_anonymous);
    CHECK(n.listeners[0].password_file == "/p");
    CHECK(n.listeners[1].password_file == "/p");
  }
  SUBCASE("global-only engine settings warn inside a listener") {
    const Config e = parse_ok(dir,
                              "per_listener_settings true\n"
                              "listener 1883\n"
                              "auto_id_prefix l1-\n"
                              "allow_zero_length_clientid false\n");
    CHECK(e.broker.auto_id_prefix == "l1-");
    CHECK_FALSE(e.broker.allow_zero_length_clientid);
    CHECK(warnings_of(dir, e) ==
          std::vector<std::string>{"wisp.conf:3: 'auto_id_prefix' applies to all listeners",
                                   "wisp.conf:4: 'allow_zero_length_clientid' applies to all "
                                   "listeners"});
  }
}

TEST_CASE("per_listener_settings must come before listeners and auth keys") {
  TempDir dir;
  CHECK(parse_error(dir, "listener 1883\nper_listener_settings true\n") ==
        "wisp.conf:2: 'per_listener_settings' must come before the first 'listener' and before "
        "allow_anonymous, password_file and acl_file (see wisp.conf:1)");
  CHECK(parse_error(dir, "allow_anonymous true\n\nper_listener_settings true\n") ==
        "wisp.conf:3: 'per_listener_settings' must come before the first 'listener' and before "
        "allow_anonymous, password_file and acl_file (see wisp.conf:1)");
  // Restating the default late changes nothing and is fine.
  CHECK_FALSE(parse_ok(dir, "listener 1883\nper_listener_settings false\n").per_listener_settings);
}

TEST_CASE("max_qos and max_topic_alias are global in Wisp and warn inside a listener") {
  TempDir dir;
  const Config c = parse_ok(dir, "listener 1883\nmax_qos 1\nmax_topic_alias 5\n");
  CHECK(c.broker.maximum_qos == protocol::QoS::at_least_once);
  CHECK(c.broker.max_topic_alias == 5);
  CHECK(warnings_of(dir, c) ==
        std::vector<std::string>{"wisp.conf:2: 'max_qos' applies to all listeners in Wisp",
                                 "wisp.conf:3: 'max_topic_alias' applies to all listeners in "
                                 "Wisp"});
}

TEST_CASE("TLS keys on a listener") {
  TempDir dir;
  const Config c = parse_ok(dir,
                            "listener 8883\n"
                            "certfile /etc/wisp/certs/server.crt\n"
                            "keyfile /etc/wisp/certs/server.key\n"
                            "cafile /etc/wisp/certs/ca.crt\n"
                            "capath /etc/ssl/certs\n"
                            "crlfile /etc/wisp/certs/ca.crl\n"
                            "ciphers ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256\n"
                            "tls_version tlsv1.3\n"
                            "require_certificate true\n"
                            "use_identity_as_username true\n"
                            "listener 1883\n");
  REQUIRE(c.listeners.size() == 2);
  REQUIRE(c.listeners[0].tls.has_value());
  const TlsConfig& t = *c.listeners[0].tls;
  CHECK(t.certfile == "/etc/wisp/certs/server.crt");
  CHECK(t.keyfile == "/etc/wisp/certs/server.key");
  CHECK(t.cafile == "/etc/wisp/certs/ca.crt");
  CHECK(t.capath == "/etc/ssl/certs");
  CHECK(t.crlfile == "/etc/wisp/certs/ca.crl");
  CHECK(t.ciphers == "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256");
  CHECK(t.tls_version == "tlsv1.3");
  CHECK(t.require_certificate);
  CHECK(t.use_identity_as_username);
  CHECK_FALSE(t.use_subject_as_username);
  CHECK(c.listeners[0].policy.name == "tls:8883");
  CHECK_FALSE(c.listeners[1].tls.has_value());
  CHECK(c.warnings.empty());

  SUBCASE("minimum version defaults to TLS 1.2; tlsv1.1 is raised with a warning") {
    const Config d = parse_ok(dir, "listener 8883\ncertfile c\nkeyfile k\n");
    CHECK(d.listeners[0].tls->tls_version == "tlsv1.2");
    CHECK_FALSE(d.listeners[0].tls->require_certificate);
    const Config e = parse_ok(dir, "listener 8883\ncertfile c\nkeyfile k\ntls_version tlsv1.1\n");
    CHECK(e.listeners[0].tls->tls_version == "tlsv1.2");
    CHECK(warnings_of(dir, e) ==
          std::vector<std::string>{
              "wisp.conf:4: 'tls_version tlsv1.1' is not supported by Wisp; using tlsv1.2"});
    CHECK(parse_error(dir, "listener 8883\ntls_version tlsv1\n") ==
          "wisp.conf:2: 'tls_version' must be tlsv1.3, tlsv1.2 or tlsv1.1, not 'tlsv1'");
  }
  SUBCASE("incomplete TLS settings are errors") {
    CHECK(parse_error(dir, "listener 8883\ncertfile c\n") ==
          "wisp.conf:2: listener 8883 has TLS settings ('certfile') but needs both 'certfile' "
          "and 'keyfile'");
    CHECK(parse_error(dir, "listener 8883\n\ncafile ca\nkeyfile k\n") ==
          "wisp.conf:3: listener 8883 has TLS settings ('cafile') but needs both 'certfile' and "
          "'keyfile'");
    CHECK(parse_error(dir, "listener 8883\ncertfile c\nkeyfile k\nrequire_certificate true\n") ==
          "wisp.conf:4: 'require_certificate true' needs 'cafile' or 'capath' to verify client "
          "certificates");
    CHECK(parse_error(dir,
                      "listener 8883\ncertfile c\nkeyfile k\ncafile ca\n"
                      "require_certificate true\nuse_identity_as_username true\n"
                      "use_subject_as_username true\n") ==
          "wisp.conf:7: 'use_identity_as_username' and 'use_subject_as_username' cannot both be "
          "true");
    CHECK(parse_error(dir, "listener 8883\ncertfile c\ncertfile d\n") ==
          "wisp.conf:3: duplicate 'certfile' (first set at wisp.conf:2)");
  }
  SUBCASE("a certificate username without require_certificate warns") {
    const Config w =
        parse_ok(dir, "listener 8883\ncertfile c\nkeyfile k\nuse_subject_as_username true\n");
    CHECK(w.listeners[0].tls->use_subject_as_username);
    CHECK(warnings_of(dir, w) ==
          std::vector<std::string>{"wisp.conf:4: the username comes from the client certificate "
                                   "only with 'require_certificate true'"});
  }
  SUBCASE("the same key may be given once per listener") {
    const Config two = parse_ok(dir,
                                "listener 8883\ncertfile a\nkeyfile b\n"
                                "listener 8884\ncertfile c\nkeyfile d\n");
    CHECK(two.listeners[0].tls->certfile == "a");
    CHECK(two.listeners[1].tls->certfile == "c");
  }
}

TEST_CASE("Wisp's WebSocket keys") {
  TempDir dir;
  const std::string www = dir.mkdir("www");
  const Config c = parse_ok(dir,
                            "listener 8080 127.0.0.1\n"
                            "protocol websockets\n"
                            "wisp_one_port false\n"
                            "websockets_strict true\n"
                            "ws_paths /mqtt\n"
                            "ws_paths /ws /live\n"
                            "allowed_origins https://app.example.com http://localhost:3000\n"
                            "allowed_origins https://other.example.com\n"
                            "ws_ping_interval 20\n"
                            "http_dir " +
                                www +
                                "\n"
                                "listener 8081\n"
                                "protocol websockets\n");
  REQUIRE(c.listeners.size() == 2);
  const ListenerConfig& a = c.listeners[0];
  CHECK_FALSE(a.one_port);
  CHECK(a.websockets_strict);
  CHECK(a.ws_paths == std::vector<std::string>{"/mqtt", "/ws", "/live"});
  CHECK(a.allowed_origins == std::vector<std::string>{"https://app.example.com",
                                                      "http://localhost:3000",
                                                      "https://other.example.com"});
  CHECK(a.ws_ping_interval_s == 20);
  CHECK(a.http_dir == www);
  const ListenerConfig& b = c.listeners[1];
  CHECK(b.one_port);
  CHECK_FALSE(b.websockets_strict);
  CHECK(b.ws_paths == std::vector<std::string>{"/mqtt", "/"});
  CHECK(b.allowed_origins.empty());
  CHECK(b.ws_ping_interval_s == 45);
  CHECK(b.http_dir.empty());
  CHECK(c.warnings.empty());

  CHECK(parse_ok(dir, "listener 8080\nprotocol websockets\nws_ping_interval 0\n")
            .listeners[0]
            .ws_ping_interval_s == 0);

  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"ws_paths mqtt\n",
       "'ws_paths' entries must start with '/' and hold no '?' or '#', not 'mqtt'"},
      {"ws_paths /a?b=1\n",
       "'ws_paths' entries must start with '/' and hold no '?' or '#', not '/a?b=1'"},
      {"ws_paths /a /a\n", "'ws_paths' lists '/a' twice"},
      {"ws_paths\n", "'ws_paths' needs at least one path"},
      {"allowed_origins example.com\n",
       "'allowed_origins' entries look like https://host[:port], not 'example.com'"},
      {"allowed_origins https://example.com/app\n",
       "'allowed_origins' entries look like https://host[:port], not 'https://example.com/app'"},
      {"allowed_origins https://\n",
       "'allowed_origins' entries look like https://host[:port], not 'https://'"},
      {"allowed_origins\n", "'allowed_origins' needs at least one origin"},
      {"ws_ping_interval 86401\n",
       "'ws_ping_interval' must be an integer from 0 to 86400, not '86401'"},
      {"websockets_strict maybe\n", "'websockets_strict' must be true or false, not 'maybe'"},
      {"wisp_one_port 1\n", "'wisp_one_port' must be true or false, not '1'"},
      {"http_dir /nonexistent/wisp-www\n", "'http_dir' '/nonexistent/wisp-www' is not a directory"},
  };
  for (const auto& k : cases) {
    const std::string text = k.text;
    CAPTURE(text);
    CHECK(parse_error(dir, std::string("listener 8080\nprotocol websockets\n") + k.text) ==
          std::string("wisp.conf:3: ") + k.error);
  }
}

TEST_CASE("WebSocket-only keys on an mqtt listener warn") {
  TempDir dir;
  const Config c = parse_ok(dir,
                            "listener 1883\n"
                            "ws_paths /mqtt\n"
                            "wisp_one_port false\n"
                            "listener 8080\n"
                            "protocol websockets\n"
                            "ws_paths /mqtt\n");
  CHECK(warnings_of(dir, c) ==
        std::vector<std::string>{"wisp.conf:2: 'ws_paths' has no effect on a 'protocol mqtt' "
                                 "listener",
                                 "wisp.conf:3: 'wisp_one_port' has no effect on a 'protocol "
                                 "mqtt' listener"});
  // The protocol line may come after the WebSocket keys.
  const Config d = parse_ok(dir, "listener 8080\nws_ping_interval 10\nprotocol websockets\n");
  CHECK(d.warnings.empty());
  CHECK(d.listeners[0].policy.name == "ws:8080");
}

TEST_CASE("TLS on a websockets listener is named wss") {
  TempDir dir;
  const Config c =
      parse_ok(dir, "listener 8081\nprotocol websockets\ncertfile c.pem\nkeyfile k.pem\n");
  CHECK(c.listeners[0].policy.name == "wss:8081");
}
