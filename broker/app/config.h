// Config: everything `wisp` is told by mosquitto.conf-syntax files and the command line.
// load_config() parses; errors name the file and line. Defaults (no file): MQTT/TCP on
// 127.0.0.1:1883 and WebSocket+HTTP+MQTT (one port) on 127.0.0.1:8080, anonymous allowed,
// data in ./wisp-data. With a file, Mosquitto 2 semantics: `listener PORT` without an address
// binds all addresses and allow_anonymous defaults to false; a file that defines no listener
// gets the loopback defaults (anonymous allowed unless it says otherwise).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "broker/core/broker_config.h"
#include "protocol/result.h"

namespace broker::app {

enum class ListenerProtocol { mqtt, websockets };
enum class SocketDomain { any, ipv4, ipv6 };

struct TlsConfig {
  std::string certfile;
  std::string keyfile;
  std::string cafile;
  std::string capath;
  std::string crlfile;
  std::string ciphers;      // TLS <= 1.2 cipher list (OpenSSL syntax)
  std::string tls_version;  // minimum: "tlsv1.2" (default) or "tlsv1.3"
  bool require_certificate = false;
  bool use_identity_as_username = false;
  bool use_subject_as_username = false;
};

struct ListenerConfig {
  std::uint16_t port = 0;
  std::string bind_address;  // empty = all addresses (needs an explicit config line)
  SocketDomain socket_domain = SocketDomain::any;
  ListenerProtocol protocol = ListenerProtocol::mqtt;
  // websockets listeners: also accept native MQTT and plain HTTP on the same port (default
  // on; `wisp_one_port false` turns it off).
  bool one_port = true;
  std::vector<std::string> ws_paths = {"/mqtt", "/"};
  bool websockets_strict = false;            // 400 for clients offering no known subprotocol
  std::vector<std::string> allowed_origins;  // empty = any Origin
  std::uint32_t ws_ping_interval_s = 45;     // server WS pings; 0 = off
  std::string http_dir;                      // static files; empty = none
  std::optional<TlsConfig> tls;
  core::ListenerPolicy policy;  // allow_anonymous, max_connections, mount_point, name
  // Per-listener auth files (per_listener_settings true); else the global ones apply.
  std::string password_file;
  std::string acl_file;
  std::string file;  // where it was declared: "path:line", for messages
};

enum class PersistenceSync { normal, full };

// Signed tickets (JWT), on when any ticket_* key is set. See broker/security/security.h.
struct TicketSettings {
  std::string algorithm = "HS256";  // HS256 (secret_file) or RS256/ES256 (public_key_file)
  std::string secret_file;
  std::string public_key_file;
  std::string username_claim = "sub";
  std::uint32_t clock_skew_s = 30;
  std::optional<std::string> audience;
  std::uint32_t lifetime_s = 300;           // tickets issued by POST /api/v1/tickets
  std::string cookie_name = "wisp_ticket";  // cookie read on WebSocket upgrades
};

struct Config {
  core::BrokerConfig broker;
  std::vector<ListenerConfig> listeners;
  std::size_t max_connections = 0;  // global; 0 = unlimited

  bool persistence = true;
  std::string persistence_location = "./wisp-data";
  std::string persistence_file = "wisp.db";
  PersistenceSync persistence_sync = PersistenceSync::normal;
  bool persistence_recover = false;  // damaged database: move aside and start empty

  bool per_listener_settings = false;
  std::string password_file;
  std::string acl_file;
  std::optional<TicketSettings> tickets;
  std::string scram_file;             // SCRAM-SHA-256 verifiers; empty = off
  bool acl_subscribe_strict = false;  // acl_subscribe_check strict

  std::vector<std::string> log_dest = {"stderr"};  // "stderr", "stdout", "file PATH"
  std::vector<std::string> log_type;               // mosquitto log_type values
  bool verbose = false;

  bool set_tcp_nodelay = false;  // Mosquitto set_tcp_nodelay: TCP_NODELAY on client sockets

  std::vector<std::string> warnings;  // "file:line: ..." for known-but-unsupported keys
};

// The built-in defaults described above.
Config default_config();

// Parses a mosquitto.conf-syntax file (with include_dir). On error: "path:line: message".
protocol::Result<Config, protocol::Error> load_config(const std::string& path);

// Markdown reference of every key load_config() accepts (meaning, values, default) and of the
// Mosquitto keys it accepts with a warning. Generated from the parser's own key table.
std::string describe_supported_keys();

}  // namespace broker::app
