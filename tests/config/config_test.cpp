// Config parser: defaults, line syntax, global keys, value validation, warnings and the
// generated key reference.
#include "broker/app/config.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <set>
#include <sstream>

#include "config_test_util.h"

using namespace broker::app;
using namespace config_test;
using namespace std::chrono_literals;

TEST_CASE("default_config: MQTT/TCP 1883 and one-port WebSocket 8080 on loopback, anonymous") {
  const Config c = default_config();
  REQUIRE(c.listeners.size() == 2);
  const ListenerConfig& tcp = c.listeners[0];
  CHECK(tcp.port == 1883);
  CHECK(tcp.bind_address == "127.0.0.1");
  CHECK(tcp.protocol == ListenerProtocol::mqtt);
  CHECK_FALSE(tcp.tls.has_value());
  CHECK(tcp.policy.allow_anonymous);
  CHECK(tcp.policy.loopback_only);
  CHECK(tcp.policy.name == "tcp:1883");
  const ListenerConfig& ws = c.listeners[1];
  CHECK(ws.port == 8080);
  CHECK(ws.bind_address == "127.0.0.1");
  CHECK(ws.protocol == ListenerProtocol::websockets);
  CHECK(ws.one_port);
  CHECK(ws.ws_paths == std::vector<std::string>{"/mqtt", "/"});
  CHECK(ws.policy.allow_anonymous);
  CHECK(ws.policy.loopback_only);
  CHECK(ws.policy.name == "ws:8080");
  CHECK(c.persistence);
  CHECK(c.persistence_location == "./wisp-data");
  CHECK(c.persistence_file == "wisp.db");
  CHECK(c.log_dest == std::vector<std::string>{"stderr"});
  CHECK(c.max_connections == 0);
  CHECK(c.warnings.empty());
}

TEST_CASE("a file without listeners gets the loopback defaults with anonymous allowed") {
  TempDir dir;
  const Config c = parse_ok(dir,
                            "# only global settings\n"
                            "persistence true\n"
                            "sys_interval 30\n");
  REQUIRE(c.listeners.size() == 2);
  CHECK(c.listeners[0].bind_address == "127.0.0.1");
  CHECK(c.listeners[0].port == 1883);
  CHECK(c.listeners[1].port == 8080);
  CHECK(c.listeners[1].protocol == ListenerProtocol::websockets);
  for (const auto& l : c.listeners) {
    CHECK(l.policy.allow_anonymous);
    CHECK(l.policy.loopback_only);
  }
  CHECK(c.broker.sys_interval == 30s);

  SUBCASE("an explicit allow_anonymous false is kept") {
    const Config d = parse_ok(dir, "allow_anonymous false\npassword_file /etc/wisp/passwd\n");
    REQUIRE(d.listeners.size() == 2);
    CHECK_FALSE(d.listeners[0].policy.allow_anonymous);
    CHECK_FALSE(d.listeners[1].policy.allow_anonymous);
    CHECK(d.password_file == "/etc/wisp/passwd");
  }
}

TEST_CASE("empty files, comments, blank lines, CRLF, tabs and indentation are accepted") {
  TempDir dir;
  CHECK(parse_ok(dir, "").listeners.size() == 2);
  const Config c = parse_ok(dir,
                            "# comment\r\n"
                            "\r\n"
                            "   # indented comment\n"
                            "\t\n"
                            "  sys_interval\t\t25  \r\n"
                            "max_keepalive 60");  // no final newline
  CHECK(c.broker.sys_interval == 25s);
  CHECK(c.broker.max_keepalive == 60);
  CHECK(c.warnings.empty());
  // A UTF-8 byte order mark (Windows editors) is skipped at the start of a file only.
  CHECK(parse_ok(dir, "\xEF\xBB\xBFsys_interval 3\n").broker.sys_interval == 3s);
  CHECK(parse_error(dir, "sys_interval 3\n\xEF\xBB\xBFsys_interval 3\n") ==
        "wisp.conf:2: unknown key '\\xEF\\xBB\\xBFsys_interval'");
}

TEST_CASE("a missing or unreadable config file is an error naming it") {
  TempDir dir;
  CHECK(load_error(dir, dir.str("nope.conf")) ==
        "nope.conf: cannot open: No such file or directory");
  dir.mkdir("adir");
  CHECK(load_error(dir, dir.str("adir")) == "adir: is a directory, not a config file");
}

TEST_CASE("errors carry the full path of the file and the line number") {
  TempDir dir;
  const std::string path = dir.write("sub/my.conf", "\n\nlistner 1883\n");
  auto r = load_config(path);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == path + ":3: unknown key 'listner' (did you mean 'listener'?)");
}

TEST_CASE("malformed lines are errors naming file and line") {
  TempDir dir;
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"frobnicate 1\n", "wisp.conf:1: unknown key 'frobnicate'"},
      {"# ok\nallow_anonymos true\n",
       "wisp.conf:2: unknown key 'allow_anonymos' (did you mean 'allow_anonymous'?)"},
      {"Listener 1883\n", "wisp.conf:1: unknown key 'Listener' (did you mean 'listener'?)"},
      {"max_inflight 5\n", "wisp.conf:1: unknown key 'max_inflight'"},  // too far to suggest
      {"allow_anonymous\n", "wisp.conf:1: 'allow_anonymous' needs a value"},
      {"allow_anonymous true false\n", "wisp.conf:1: 'allow_anonymous' takes one value, got 2"},
      {"allow_anonymous true # anyone\n",
       "wisp.conf:1: 'allow_anonymous' takes one value; '#' starts a comment only at the "
       "beginning of a line"},
      {"max_keepalive 60s\n",
       "wisp.conf:1: 'max_keepalive' must be an integer from 10 to 65535, not '60s'"},
      {"sys_interval -1\n",
       "wisp.conf:1: 'sys_interval' must be an integer from 0 to 65535, not '-1'"},
      {"sys_interval 99999999999999999999999\n",
       "wisp.conf:1: 'sys_interval' must be an integer from 0 to 65535, not "
       "'99999999999999999999999'"},
      {"persistence_location\n", "wisp.conf:1: 'persistence_location' needs a value"},
      {"sys_interval 1\n\n\npersistence yes\n",
       "wisp.conf:4: 'persistence' must be true or false, not 'yes'"},
      {"persistence TRUE\n", "wisp.conf:1: 'persistence' must be true or false, not 'TRUE'"},
  };
  for (const auto& c : cases) {
    const std::string text = c.text;
    CAPTURE(text);
    CHECK(parse_error(dir, c.text) == c.error);
  }
  // A NUL byte needs an explicit length.
  CHECK(parse_error(dir, std::string_view("sys_interval 1\nmax_keepalive\0 60\n", 33)) ==
        "wisp.conf:2: the line holds a NUL byte (is this a text file?)");
}

TEST_CASE("global integer keys set the engine settings") {
  TempDir dir;
  const Config c = parse_ok(dir,
                            "message_size_limit 1048576\n"
                            "max_packet_size 2097152\n"
                            "max_inflight_messages 5\n"
                            "max_queued_messages 200\n"
                            "max_queued_bytes 10000000\n"
                            "max_keepalive 120\n"
                            "max_qos 1\n"
                            "max_topic_alias 0\n"
                            "sys_interval 0\n"
                            "connect_timeout 7\n"
                            "max_connections 500\n");
  CHECK(c.broker.message_size_limit == 1048576);
  CHECK(c.broker.max_packet_bytes == 2097152);
  CHECK(c.broker.max_inflight_messages == 5);
  CHECK(c.broker.max_queued_messages == 200);
  CHECK(c.broker.max_queued_bytes == 10000000);
  CHECK(c.broker.max_keepalive == 120);
  CHECK(c.broker.maximum_qos == protocol::QoS::at_least_once);
  CHECK(c.broker.max_topic_alias == 0);
  CHECK(c.broker.sys_interval == 0s);
  CHECK(c.broker.connect_timeout == 7s);
  CHECK(c.max_connections == 500);
  CHECK(c.warnings.empty());
}

TEST_CASE("integer keys enforce their ranges") {
  TempDir dir;
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"message_size_limit 268435456\n",
       "'message_size_limit' must be an integer from 0 to 268435455, not '268435456'"},
      {"max_packet_size 19\n", "'max_packet_size' must be 0 (no limit) or at least 20, not '19'"},
      {"max_packet_size 268435461\n",
       "'max_packet_size' must be an integer from 0 to 268435460, not '268435461'"},
      {"max_inflight_messages 65536\n",
       "'max_inflight_messages' must be an integer from 0 to 65535, not '65536'"},
      {"max_queued_messages 0\n",
       "'max_queued_messages 0' (no limit) is not allowed: Wisp queues are always bounded; give "
       "a number from 1 to 10000000"},
      {"max_queued_bytes -5\n",
       "'max_queued_bytes' must be an integer from 0 to 1099511627776, not '-5'"},
      {"max_keepalive 9\n", "'max_keepalive' must be an integer from 10 to 65535, not '9'"},
      {"max_keepalive 65536\n", "'max_keepalive' must be an integer from 10 to 65535, not '65536'"},
      {"max_qos 3\n", "'max_qos' must be an integer from 0 to 2, not '3'"},
      {"max_topic_alias 65536\n",
       "'max_topic_alias' must be an integer from 0 to 65535, not '65536'"},
      {"sys_interval 65536\n", "'sys_interval' must be an integer from 0 to 65535, not '65536'"},
      {"connect_timeout 0\n", "'connect_timeout' must be an integer from 1 to 3600, not '0'"},
      {"max_connections -2\n",
       "'max_connections' must be an integer from -1 to 2147483647, not '-2'"},
      {"autosave_interval soon\n",
       "'autosave_interval' must be an integer from 0 to 2147483647, not 'soon'"},
      {"max_inflight_messages +5\n",
       "'max_inflight_messages' must be an integer from 0 to 65535, not '+5'"},
      {"max_inflight_messages 0x10\n",
       "'max_inflight_messages' must be an integer from 0 to 65535, not '0x10'"},
  };
  for (const auto& c : cases) {
    const std::string text = c.text;
    CAPTURE(text);
    CHECK(parse_error(dir, c.text) == std::string("wisp.conf:1: ") + c.error);
  }
  // Boundaries are accepted.
  const Config lo = parse_ok(dir, "max_packet_size 20\nmax_keepalive 10\nmessage_size_limit 0\n");
  CHECK(lo.broker.max_packet_bytes == 20);
  CHECK(lo.broker.max_keepalive == 10);
  const Config hi = parse_ok(dir,
                             "max_packet_size 268435460\nmax_keepalive 65535\n"
                             "message_size_limit 268435455\nmax_connections -1\n");
  CHECK(hi.broker.max_packet_bytes == 268435460);
  CHECK(hi.broker.max_keepalive == 65535);
  CHECK(hi.broker.message_size_limit == 268435455);
  CHECK(hi.max_connections == 0);  // -1 = unlimited
}

TEST_CASE("max_inflight_messages 0 means the largest Receive Maximum") {
  TempDir dir;
  CHECK(parse_ok(dir, "max_inflight_messages 0\n").broker.max_inflight_messages == 65535);
  CHECK(parse_ok(dir, "").broker.max_inflight_messages == 20);
}

TEST_CASE("boolean keys accept exactly true and false, the last line wins") {
  TempDir dir;
  using Getter = std::function<bool(const Config&)>;
  const std::pair<const char*, Getter> keys[] = {
      {"retain_available", [](const Config& c) { return c.broker.retain_available; }},
      {"queue_qos0_messages", [](const Config& c) { return c.broker.queue_qos0_messages; }},
      {"allow_zero_length_clientid",
       [](const Config& c) { return c.broker.allow_zero_length_clientid; }},
      {"persistence", [](const Config& c) { return c.persistence; }},
      {"set_tcp_nodelay", [](const Config& c) { return c.set_tcp_nodelay; }},
      {"per_listener_settings", [](const Config& c) { return c.per_listener_settings; }},
  };
  for (const auto& [key, get] : keys) {
    const std::string k = key;
    CAPTURE(k);
    CHECK(get(parse_ok(dir, k + " true\n")));
    CHECK_FALSE(get(parse_ok(dir, k + " false\n")));
    CHECK(get(parse_ok(dir, k + " false\n" + k + " true\n")));
    CHECK(parse_error(dir, k + " 1\n") ==
          "wisp.conf:1: '" + k + "' must be true or false, not '1'");
  }
}

TEST_CASE("persistent_client_expiration uses Mosquitto's duration syntax") {
  TempDir dir;
  auto expiry = [&](const std::string& v) {
    return parse_ok(dir, "persistent_client_expiration " + v + "\n")
        .broker.persistent_client_expiration;
  };
  CHECK_FALSE(parse_ok(dir, "").broker.persistent_client_expiration.has_value());
  CHECK(expiry("1h") == std::chrono::seconds{3600});
  CHECK(expiry("2d") == std::chrono::seconds{2 * 86400});
  CHECK(expiry("1w") == std::chrono::seconds{7 * 86400});
  CHECK(expiry("1m") == std::chrono::seconds{30 * 86400});
  CHECK(expiry("1y") == std::chrono::seconds{365 * 86400});
  CHECK(expiry("14d") == std::chrono::seconds{14 * 86400});
  for (const char* bad : {"10", "5x", "h", "0d", "-1d", "1.5d", "1H", "99999999999y"}) {
    const std::string text = bad;
    CAPTURE(text);
    CHECK(parse_error(dir, std::string("persistent_client_expiration ") + bad + "\n") ==
          std::string("wisp.conf:1: 'persistent_client_expiration' must be a positive integer "
                      "followed by h, d, w, m or y (e.g. 14d), not '") +
              bad + "'");
  }
}

TEST_CASE("persistence keys") {
  TempDir dir;
  const Config c = parse_ok(dir,
                            "persistence false\n"
                            "persistence_location /var/lib/wisp with space/\n"
                            "persistence_file broker.sqlite\n"
                            "persistence_sync full\n");
  CHECK_FALSE(c.persistence);
  CHECK(c.persistence_location == "/var/lib/wisp with space/");  // rest of line, like Mosquitto
  CHECK(c.persistence_file == "broker.sqlite");
  CHECK(c.persistence_sync == PersistenceSync::full);
  CHECK(c.warnings.empty());
  CHECK(parse_ok(dir, "persistence_sync normal\n").persistence_sync == PersistenceSync::normal);
  CHECK(parse_ok(dir, "").persistence_sync == PersistenceSync::normal);
  CHECK_FALSE(parse_ok(dir, "").persistence_recover);  // damaged file: refuse to start
  CHECK(parse_ok(dir, "persistence_recover true\n").persistence_recover);
  CHECK(parse_error(dir, "persistence_recover yes\n").rfind("wisp.conf:1: ", 0) == 0);

  CHECK(parse_error(dir, "persistence_sync fast\n") ==
        "wisp.conf:1: 'persistence_sync' must be normal or full, not 'fast'");
  CHECK(parse_error(dir, "persistence_file data/wisp.db\n") ==
        "wisp.conf:1: 'persistence_file' is a file name; put the directory in "
        "'persistence_location'");
  CHECK(parse_error(dir, "persistence_location /a\npersistence_location /b\n") ==
        "wisp.conf:2: duplicate 'persistence_location' (first set at wisp.conf:1)");

  SUBCASE("autosave_interval is accepted with a warning") {
    const Config a = parse_ok(dir, "autosave_interval 1800\n");
    CHECK(warnings_of(dir, a) ==
          std::vector<std::string>{"wisp.conf:1: 'autosave_interval' is ignored: Wisp commits to "
                                   "its database continuously"});
  }
  SUBCASE("mosquitto.db as file name warns") {
    const Config m = parse_ok(dir, "persistence_file mosquitto.db\n");
    REQUIRE(m.warnings.size() == 1);
    CHECK(dir.relative(m.warnings[0]).starts_with("wisp.conf:1: Wisp's database is SQLite"));
  }
}

TEST_CASE("auto_id_prefix and string values keep inner spaces, an inline hash in a value warns") {
  TempDir dir;
  const Config c = parse_ok(dir, "auto_id_prefix wisp-\n");
  CHECK(c.broker.auto_id_prefix == "wisp-");
  const Config d = parse_ok(dir, "password_file /etc/wisp/passwd # users\n");
  CHECK(d.password_file == "/etc/wisp/passwd # users");
  CHECK(warnings_of(dir, d) ==
        std::vector<std::string>{"wisp.conf:1: the value of 'password_file' contains ' #'; there "
                                 "are no end-of-line comments, the whole rest of the line is the "
                                 "value"});
}

TEST_CASE("log_dest and log_type") {
  TempDir dir;
  CHECK(parse_ok(dir, "log_dest stdout\n").log_dest == std::vector<std::string>{"stdout"});
  const Config c = parse_ok(dir,
                            "log_dest stderr\n"
                            "log_dest file /var/log/wisp/wisp log.txt\n"
                            "log_dest stderr\n"
                            "log_type error\n"
                            "log_type warning notice\n");
  CHECK(c.log_dest == std::vector<std::string>{"stderr", "file /var/log/wisp/wisp log.txt"});
  CHECK(c.log_type == std::vector<std::string>{"error", "warning", "notice"});
  CHECK(parse_ok(dir, "log_dest none\n").log_dest.empty());
  CHECK(parse_ok(dir, "log_type all\nlog_type none\nlog_type debug\nlog_type websockets\n")
            .log_type.size() == 4);

  const Config s = parse_ok(dir, "log_dest syslog\nlog_dest topic\n");
  CHECK(s.log_dest == std::vector<std::string>{"stderr"});  // unchanged: nothing supported given
  CHECK(warnings_of(dir, s) ==
        std::vector<std::string>{"wisp.conf:1: 'log_dest syslog' is not supported by Wisp yet; "
                                 "ignored",
                                 "wisp.conf:2: 'log_dest topic' is not supported by Wisp yet; "
                                 "ignored"});

  CHECK(parse_error(dir, "log_dest console\n") ==
        "wisp.conf:1: 'log_dest' must be stderr, stdout, file PATH, none, syslog, topic or dlt, "
        "not 'console'");
  CHECK(parse_error(dir, "log_dest file\n") == "wisp.conf:1: 'log_dest file' needs a path");
  CHECK(parse_error(dir, "log_dest file /a\nlog_dest file /b\n") ==
        "wisp.conf:2: only one 'log_dest file' may be given (first at wisp.conf:1)");
  CHECK(parse_error(dir, "log_dest stdout stderr\n") ==
        "wisp.conf:1: 'log_dest' takes one value, got 2");
  CHECK(parse_error(dir, "log_type error verbose\n") ==
        "wisp.conf:1: unknown 'log_type' 'verbose' (debug, error, warning, notice, information, "
        "subscribe, unsubscribe, websockets, none, all)");
  CHECK(parse_error(dir, "log_type\n") == "wisp.conf:1: 'log_type' needs a value");
}

TEST_CASE("output queue limits must be ordered low < high < hard") {
  TempDir dir;
  const Config c = parse_ok(dir,
                            "output_low_water_bytes 1000\n"
                            "output_high_water_bytes 2000\n"
                            "output_hard_limit_bytes 3000\n");
  CHECK(c.broker.output_low_water_bytes == 1000);
  CHECK(c.broker.output_high_water_bytes == 2000);
  CHECK(c.broker.output_hard_limit_bytes == 3000);
  CHECK(parse_error(dir, "output_high_water_bytes 1048576\n") ==
        "wisp.conf:1: output limits must satisfy output_low_water_bytes (1048576) < "
        "output_high_water_bytes (1048576) < output_hard_limit_bytes (67108864)");
  CHECK(parse_error(dir, "output_hard_limit_bytes 100\n") ==
        "wisp.conf:1: 'output_hard_limit_bytes' must be an integer from 1024 to 1099511627776, "
        "not '100'");
}

TEST_CASE("known Mosquitto keys Wisp does not support are warnings with file and line") {
  TempDir dir;
  const Config c = parse_ok(dir,
                            "pid_file /run/mosquitto/mosquitto.pid\n"
                            "\n"
                            "connection upstream\n"
                            "address broker.example.com:1883\n"
                            "topic sensors/# out 1\n"
                            "bridge_protocol_version mqttv311\n"
                            "remote_username me\n"
                            "plugin /usr/lib/mosquitto_dynamic_security.so\n"
                            "plugin_opt_config_file /var/lib/mosquitto/dynamic-security.json\n"
                            "auth_opt_db_host localhost\n"
                            "memory_limit 0\n"
                            "check_retain_source true\n"
                            "websockets_log_level 255\n"
                            "psk_hint hint\n");
  CHECK(warnings_of(dir, c) ==
        std::vector<std::string>{
            "wisp.conf:1: 'pid_file' is not supported by Wisp yet; ignored",
            "wisp.conf:3: 'connection' is not supported by Wisp yet; ignored",
            "wisp.conf:4: 'address' is not supported by Wisp yet; ignored",
            "wisp.conf:5: 'topic' is not supported by Wisp yet; ignored",
            "wisp.conf:6: 'bridge_protocol_version' is not supported by Wisp yet; ignored",
            "wisp.conf:7: 'remote_username' is not supported by Wisp yet; ignored",
            "wisp.conf:8: 'plugin' is not supported by Wisp yet; ignored",
            "wisp.conf:9: 'plugin_opt_config_file' is not supported by Wisp yet; ignored",
            "wisp.conf:10: 'auth_opt_db_host' is not supported by Wisp yet; ignored",
            "wisp.conf:11: 'memory_limit' is not supported by Wisp yet; ignored",
            "wisp.conf:12: 'check_retain_source' is not supported by Wisp yet; ignored",
            "wisp.conf:13: 'websockets_log_level' is not supported by Wisp yet; ignored",
            "wisp.conf:14: 'psk_hint' is not supported by Wisp yet; ignored",
        });
  // Warnings do not change the defaults.
  CHECK(c.listeners.size() == 2);
}

// Reads the key names out of the Markdown table.
static std::vector<std::string> documented_keys() {
  std::vector<std::string> keys;
  std::istringstream in(describe_supported_keys());
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("| `")) continue;
    const auto end = line.find('`', 3);
    keys.push_back(line.substr(3, end - 3));
  }
  return keys;
}

TEST_CASE("describe_supported_keys documents every key the parser accepts") {
  const std::string doc = describe_supported_keys();
  CHECK(doc.starts_with("| Key | Scope | Values | Default | Meaning |\n|---|---|---|---|---|\n"));
  const auto keys = documented_keys();
  CHECK(keys.size() >= 50);
  CHECK(std::set<std::string>(keys.begin(), keys.end()).size() == keys.size());
  for (const char* k : {"listener",
                        "port",
                        "bind_address",
                        "protocol",
                        "socket_domain",
                        "max_connections",
                        "mount_point",
                        "http_dir",
                        "certfile",
                        "keyfile",
                        "cafile",
                        "capath",
                        "crlfile",
                        "ciphers",
                        "tls_version",
                        "require_certificate",
                        "use_identity_as_username",
                        "use_subject_as_username",
                        "allow_anonymous",
                        "password_file",
                        "acl_file",
                        "per_listener_settings",
                        "message_size_limit",
                        "max_packet_size",
                        "max_inflight_messages",
                        "max_queued_messages",
                        "max_queued_bytes",
                        "max_keepalive",
                        "max_qos",
                        "max_topic_alias",
                        "retain_available",
                        "persistence",
                        "persistence_location",
                        "persistence_file",
                        "persistence_sync",
                        "autosave_interval",
                        "sys_interval",
                        "log_type",
                        "log_dest",
                        "include_dir",
                        "allow_zero_length_clientid",
                        "auto_id_prefix",
                        "persistent_client_expiration",
                        "queue_qos0_messages",
                        "set_tcp_nodelay",
                        "websockets_strict",
                        "ws_paths",
                        "allowed_origins",
                        "ws_ping_interval",
                        "wisp_one_port",
                        "connect_timeout",
                        "output_high_water_bytes",
                        "output_low_water_bytes",
                        "output_hard_limit_bytes"}) {
    const std::string key = k;
    CAPTURE(key);
    CHECK(std::find(keys.begin(), keys.end(), k) != keys.end());
  }
  CHECK(doc.find("| `ws_paths` (Wisp) | listener |") != std::string::npos);
  CHECK(doc.find("`bridge_*`") != std::string::npos);

  // Every documented key is known to the parser: without a value it is a value error (or, for
  // a listener key at global scope, a scoping error), never "unknown key".
  TempDir dir;
  for (const auto& k : keys) {
    CAPTURE(k);
    const std::string err = parse_error(dir, k + "\n");
    CHECK(err.find("unknown key") == std::string::npos);
    CHECK(err.starts_with("wisp.conf:1: '" + k + "'"));
  }
}

TEST_CASE("random lines never crash: each load succeeds or names file and line") {
  TempDir dir;
  const std::string www = dir.mkdir("www");
  std::vector<std::string> keys = documented_keys();
  keys.erase(std::remove(keys.begin(), keys.end(), "include_dir"), keys.end());
  for (const char* k : {"connection", "bridge_cafile", "Listener", "", "#", "x"}) keys.push_back(k);
  const std::vector<std::string> values = {"true",
                                           "false",
                                           "0",
                                           "-1",
                                           "1",
                                           "20",
                                           "1883",
                                           "65535",
                                           "65536",
                                           "99999999999999999999",
                                           "mqtt",
                                           "websockets",
                                           "ipv4",
                                           "ipv6",
                                           "14d",
                                           "1y",
                                           "tlsv1.3",
                                           "tlsv1.1",
                                           "/mqtt",
                                           "/",
                                           "https://a.example",
                                           "file",
                                           "stderr",
                                           "none",
                                           "all",
                                           "#",
                                           "a/#",
                                           "c.pem",
                                           "k.pem",
                                           www,
                                           "\t",
                                           "é",
                                           std::string(300, 'x'),
                                           "normal",
                                           "full"};
  std::mt19937 rng(20261124);  // fixed seed: reproducible
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  int loaded = 0;
  for (int file = 0; file < 400; ++file) {
    std::string text;
    const auto lines = 1 + rng() % 8;
    for (unsigned i = 0; i < lines; ++i) {
      text += pick(keys);
      const auto n = rng() % 4;
      for (unsigned j = 0; j < n; ++j) text += " " + pick(values);
      text += (rng() % 5 == 0) ? "\r\n" : "\n";
    }
    CAPTURE(text);
    auto r = load_config(dir.write("wisp.conf", text));
    if (r) {
      ++loaded;
      CHECK_FALSE(r->listeners.empty());
      for (const auto& l : r->listeners) {
        CHECK(l.port != 0);
        CHECK_FALSE(l.policy.name.empty());
        CHECK_FALSE(l.file.empty());
      }
    } else {
      CHECK(dir.relative(r.error().message).starts_with("wisp.conf:"));
    }
  }
  CHECK(loaded > 0);  // the generator reaches valid files too
}

TEST_CASE("binary or endless input ends in an error, not a hang") {
  TempDir dir;
  CHECK(parse_error(dir, "sys_interval 1\n" + std::string(70000, 'x') + "\n") ==
        "wisp.conf:2: the line is longer than 65536 bytes");
  // 65536 bytes is still a line (here: an unknown key).
  CHECK(parse_error(dir, std::string(65536, 'y')) ==
        "wisp.conf:1: unknown key '" + std::string(65536, 'y') + "'");
  auto r = load_config("/dev/zero");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "/dev/zero:1: the line holds a NUL byte (is this a text file?)");
}
