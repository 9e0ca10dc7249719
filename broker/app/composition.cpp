// Composition root: Config -> Broker + transport Server, signal thread, graceful shutdown.
#include "broker/app/composition.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <thread>

#include "broker/app/core_endpoint.h"
#include "broker/app/spdlog_logger.h"
#include "broker/core/broker.h"
#include "broker/core/clock.h"
#include "broker/security/security.h"
#include "storage/sqlite_persistence.h"

namespace broker::app {

namespace {

bool is_loopback(const std::string& addr) {
  in_addr a4{};
  if (inet_pton(AF_INET, addr.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  return addr == "::1" || addr == "localhost" || addr == "lo";
}

transport::AddressFamily family(SocketDomain d) {
  switch (d) {
    case SocketDomain::ipv4: return transport::AddressFamily::ipv4;
    case SocketDomain::ipv6: return transport::AddressFamily::ipv6;
    case SocketDomain::any: break;
  }
  return transport::AddressFamily::any;
}

}  // namespace

std::vector<transport::ListenerSpec> listener_specs(Config& cfg) {
  std::vector<transport::ListenerSpec> specs;
  for (auto& l : cfg.listeners) {
    transport::ListenerSpec s;
    s.port = l.port;
    s.bind_address = l.bind_address;
    s.family = family(l.socket_domain);
    s.kind = l.protocol == ListenerProtocol::websockets ? transport::ListenerKind::websockets
                                                        : transport::ListenerKind::mqtt;
    s.one_port = l.one_port;
    s.ws_paths = l.ws_paths;
    s.websockets_strict = l.websockets_strict;
    s.allowed_origins = l.allowed_origins;
    s.ws_ping_interval_s = l.ws_ping_interval_s;
    s.http_dir = l.http_dir;
    if (l.tls) {
      transport::TlsSpec t;
      t.certfile = l.tls->certfile;
      t.keyfile = l.tls->keyfile;
      t.cafile = l.tls->cafile;
      t.ciphers = l.tls->ciphers;
      t.require_certificate = l.tls->require_certificate;
      s.tls = std::move(t);
    }
    const char* kind = s.kind == transport::ListenerKind::mqtt ? (l.tls ? "mqtts" : "mqtt")
                                                               : (l.tls ? "wss" : "ws");
    if (l.policy.name.empty()) l.policy.name = std::string(kind) + ":" + std::to_string(l.port);
    l.policy.loopback_only = !l.bind_address.empty() && is_loopback(l.bind_address);
    s.name = l.policy.name;
    s.max_connections = l.policy.max_connections;
    s.policy = &l.policy;
    specs.push_back(std::move(s));
  }
  return specs;
}

namespace {

// SQLite persistence when `persistence true` (the default); nullptr = in memory.
protocol::Result<std::unique_ptr<storage::SqlitePersistence>, protocol::Error> open_storage(
    const Config& cfg) {
  if (!cfg.persistence) return std::unique_ptr<storage::SqlitePersistence>();
  storage::PersistenceOptions o;
  o.path = storage::database_path(cfg.persistence_location, cfg.persistence_file);
  o.sync =
      cfg.persistence_sync == PersistenceSync::full ? storage::Sync::full : storage::Sync::normal;
  o.recover_damaged = true;
  o.on_error = [](const std::string& e) { spdlog::error("storage: {}", e); };
  auto p = storage::SqlitePersistence::open(std::move(o));
  if (!p) return protocol::unexpected(p.error());
  if (!p.value()->recovered_from().empty()) {
    spdlog::warn("storage: damaged database moved to {}; starting empty",
                 p.value()->recovered_from());
  }
  spdlog::info("storage: {}", p.value()->path());
  return std::move(p.value());
}

// Password file / ACL file when configured; nullptr = listener allow_anonymous decides.
protocol::Result<std::unique_ptr<security::Security>, protocol::Error> open_security(
    const Config& cfg, const core::Clock& clock) {
  if (cfg.password_file.empty() && cfg.acl_file.empty()) {
    return std::unique_ptr<security::Security>();
  }
  if (cfg.per_listener_settings) {
    spdlog::warn(
        "per_listener_settings: per-listener password/ACL files are not applied yet; "
        "the global password_file/acl_file are used");
  }
  security::SecurityConfig sc;
  sc.password_file = cfg.password_file;
  sc.acl_file = cfg.acl_file;
  return security::Security::create(std::move(sc), clock);
}

}  // namespace

int run_broker(Config cfg, transport::EventLib event_lib) {
  // Signals go to one thread (sigwait) that only asks the loop to stop (LWS-NOTES §5, §7).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  core::SystemClock clock;
  // Declared before the Broker: both outlive it (the Broker holds plain pointers).
  auto store = open_storage(cfg);
  if (!store) {
    spdlog::error("{}", store.error().message);
    return 1;
  }
  auto sec = open_security(cfg, clock);
  if (!sec) {
    spdlog::error("{}", sec.error().message);
    return 1;
  }
  SpdlogLogger logger;
  auto broker_ptr = std::make_unique<core::Broker>(cfg.broker, clock);
  core::Broker& broker = *broker_ptr;
  broker.set_logger(&logger);
  if (*sec) {
    broker.set_authenticator(sec->get());
    broker.set_authorizer(sec->get());
  }
  if (*store) broker.set_persistence(store->get());  // loads retained messages and sessions

  transport::ServerOptions opts;
  opts.listeners = listener_specs(cfg);
  opts.max_connections = cfg.max_connections;
  opts.max_packet_bytes = cfg.broker.max_packet_bytes;
  opts.output_high_water_bytes = cfg.broker.output_high_water_bytes;
  opts.output_low_water_bytes = cfg.broker.output_low_water_bytes;
  opts.output_hard_limit_bytes = cfg.broker.output_hard_limit_bytes;
  opts.connect_timeout = cfg.broker.connect_timeout;
  // set_tcp_nodelay is accepted for Mosquitto compatibility; Wisp always disables Nagle
  // (see ServerOptions::tcp_nodelay).
  opts.event_lib = event_lib;
  opts.make_endpoint = core_endpoint_factory(broker);
  opts.on_tick = [&broker] { broker.tick(); };
  opts.on_shutdown = [&broker] { broker.shutdown(); };
  storage::SqlitePersistence* persistence = store->get();
  if (persistence) opts.on_wake = [persistence] { persistence->drain_completions(); };

  auto server_ptr = std::make_unique<transport::Server>(std::move(opts));
  transport::Server& server = *server_ptr;
  if (auto st = server.start(); !st) {
    spdlog::error("{}", st.error().message);
    return 1;
  }

  // The storage writer wakes the loop when commits complete (PUBACKs waiting on durability).
  if (persistence) persistence->set_wake_loop([&server] { server.wake(); });
  std::thread signal_thread([&server, stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.request_stop();
  });
  spdlog::info("wisp ready");
  server.run();
  // The loop is done; wake the signal thread if no signal came, so no late
  // lws_cancel_service() can hit a destroyed context.
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  if (persistence) {
    persistence->set_wake_loop(nullptr);  // no wake-ups into a destroyed context
    persistence->drain_completions();
  }
  // Order matters: the Server (its context destroy closes the remaining links through the
  // engine), then the Broker, then storage, whose destructor commits what is pending.
  server_ptr.reset();
  broker_ptr.reset();
  store->reset();
  spdlog::info("wisp stopped");
  return 0;
}

}  // namespace broker::app
