// Server: the one libwebsockets event loop of the broker. Owns the lws context, one vhost per
// listener (raw MQTT/TCP, WebSocket + HTTP, or the one-port listener that tells native MQTT,
// WebSocket upgrades and HTTP apart by the first byte), the periodic tick and graceful
// shutdown. Everything except request_stop() runs on the thread that calls run().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/core/broker_config.h"
#include "broker/transport/endpoint.h"
#include "protocol/result.h"

namespace broker::transport {

enum class ListenerKind { mqtt, websockets };
enum class AddressFamily { any, ipv4, ipv6 };
// poll: lws' built-in poll() loop; every wake-up costs O(connections).
// libev: lws on a libev epoll loop (foreign loop driven by run()); cost independent of idle
// connections. Measured: see README "Event backend".
enum class EventLib { poll, libev };

// Which part of a verified client certificate becomes ConnectionInfo::cert_identity.
enum class CertIdentity { none, common_name, subject };

struct TlsSpec {
  std::string certfile;
  std::string keyfile;
  std::string cafile;   // CA for client certificates (optional)
  std::string capath;   // directory of CAs (c_rehash'ed) for client certificates (optional)
  std::string crlfile;  // revoked client certificates (PEM CRL, optional)
  std::string ciphers;
  bool require_certificate = false;
  bool min_tls13 = false;  // else TLS 1.2 minimum (1.0/1.1 always off)
  CertIdentity identity = CertIdentity::none;
};

struct ListenerSpec {
  std::uint16_t port = 0;
  std::string bind_address;  // empty = all addresses
  AddressFamily family = AddressFamily::any;
  ListenerKind kind = ListenerKind::mqtt;
  bool one_port = true;  // websockets: also native MQTT on the same port
  std::vector<std::string> ws_paths = {"/mqtt", "/"};
  bool websockets_strict = false;            // 400 unless the client offers mqtt/mqttv3.1
  std::vector<std::string> allowed_origins;  // empty = any
  std::uint32_t ws_ping_interval_s = 45;     // 0 = no server pings
  std::string http_dir;                      // static files; empty = none
  std::string ticket_cookie;                 // cookie carrying a ticket; empty = none
  std::optional<TlsSpec> tls;
  std::size_t max_connections = 0;               // 0 = unlimited
  const core::ListenerPolicy* policy = nullptr;  // must outlive the Server
  std::string name;                              // for logs, e.g. "ws:8080"
};

// A small HTTP API on the WebSocket listeners: exact-path routes answered by the app.
struct HttpRequest {
  std::string method;         // "GET", "POST", ...
  std::string path;           // without the query string
  std::string authorization;  // the Authorization header, if any
  std::string body;           // at most HttpRoute::max_body bytes
  std::string remote_address;
  const core::ListenerPolicy* listener = nullptr;
};

struct HttpAnswer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

struct HttpRoute {
  std::string path;  // exact, e.g. "/api/v1/tickets"
  std::size_t max_body = 4096;
  std::function<HttpAnswer(const HttpRequest&)> handle;  // loop thread
};

struct ServerOptions {
  std::vector<ListenerSpec> listeners;
  std::size_t max_connections = 0;     // global, 0 = unlimited
  std::uint32_t max_packet_bytes = 0;  // bounds WebSocket frames too; 0 = protocol maximum
  std::size_t output_high_water_bytes = 4 * 1024 * 1024;
  std::size_t output_low_water_bytes = 1 * 1024 * 1024;
  std::size_t output_hard_limit_bytes = 64 * 1024 * 1024;
  std::chrono::milliseconds tick_interval{250};
  std::chrono::seconds connect_timeout{10};  // first-byte / CONNECT backstop per socket
  std::chrono::seconds shutdown_grace{3};    // how long shutdown waits for flushes
  EventLib event_lib = EventLib::libev;
  // TCP_NODELAY on every accepted socket. On by default: the write pump already coalesces
  // everything queued into one write per loop pass, so Nagle would only add delayed-ACK
  // stalls (40 ms per QoS 1 round trip measured with Paho C++).
  bool tcp_nodelay = true;
  std::vector<HttpRoute> http_routes;  // on every WebSocket listener
  EndpointFactory make_endpoint;
  std::function<void()> on_tick;      // Broker::tick()
  std::function<void()> on_shutdown;  // Broker::shutdown(): queue DISCONNECT 0x8B, close all
  std::function<void()> on_wake;      // loop thread, after Server::wake() from any thread
  // Extra check of changed certificate files before they are loaded (e.g. tls::
  // check_certificate: expiry, key strength); an error keeps the current certificate.
  std::function<protocol::Status(const TlsSpec&)> check_tls_files;
  // Look for changed certificate/key files (mtime, size, inode) this often; 0 = never.
  std::chrono::milliseconds tls_watch_interval{1000};
};

struct ServerCounters {
  std::size_t connections = 0;  // open MQTT links (all transports)
  std::uint64_t accepted = 0;
  std::uint64_t rejected_limit = 0;
  std::uint64_t slow_consumers = 0;
  std::uint64_t certificate_reloads = 0;
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  // destroys the lws context: open links get Endpoint::on_closed()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Creates the context and binds every listener. Error text names the listener.
  protocol::Status start();
  // Services the loop until a stop was requested and the drain finished (or the grace period
  // ran out). The destructor then destroys the lws context: remaining links are closed.
  void run();
  // Any thread (signal thread included) until the Server is destroyed: begin graceful
  // shutdown. Join such threads before destroying the Server.
  void request_stop() noexcept;
  // Any thread, same lifetime rule: run ServerOptions::on_wake on the loop thread soon
  // (e.g. the storage writer's "commits are ready"). Wake-ups coalesce.
  void wake() noexcept;

  const ServerCounters& counters() const noexcept;

  // Loop thread: reloads the certificate and key of every TLS listener (or, with
  // only_changed, of those whose files changed). New connections get the new certificate;
  // open ones keep theirs. A listener whose files fail to load keeps its current one; the
  // first error is returned.
  protocol::Status reload_certificates(bool only_changed = false);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace broker::transport
