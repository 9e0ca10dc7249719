// Composition root: Config -> Broker + transport Server, signal thread, graceful shutdown.
#include "broker/app/composition.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <map>
#include <thread>

#include "broker/app/auth_router.h"
#include "broker/app/core_endpoint.h"
#include "broker/app/spdlog_logger.h"
#include "broker/app/ticket_api.h"
#include "broker/core/broker.h"
#include "broker/core/clock.h"
#include "broker/security/security.h"
#include "storage/sqlite_persistence.h"
#include "tls/cert_check.h"

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
    if (cfg.tickets) s.ticket_cookie = cfg.tickets->cookie_name;
    if (l.tls) {
      transport::TlsSpec t;
      t.certfile = l.tls->certfile;
      t.keyfile = l.tls->keyfile;
      t.cafile = l.tls->cafile;
      t.capath = l.tls->capath;
      t.crlfile = l.tls->crlfile;
      t.ciphers = l.tls->ciphers;
      t.require_certificate = l.tls->require_certificate;
      t.min_tls13 = l.tls->tls_version == "tlsv1.3";
      t.identity = l.tls->use_subject_as_username    ? transport::CertIdentity::subject
                   : l.tls->use_identity_as_username ? transport::CertIdentity::common_name
                                                     : transport::CertIdentity::none;
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
  o.recover_damaged = cfg.persistence_recover;
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

security::SecurityConfig security_config(const Config& cfg, std::string password_file,
                                         std::string acl_file) {
  security::SecurityConfig sc;
  sc.password_file = std::move(password_file);
  sc.acl_file = std::move(acl_file);
  sc.scram_file = cfg.scram_file;
  sc.subscribe_check = cfg.acl_subscribe_strict ? security::SubscribeCheck::strict
                                                : security::SubscribeCheck::mosquitto;
  if (cfg.tickets) {
    const TicketSettings& t = *cfg.tickets;
    security::TicketConfig tc;
    tc.algorithm = t.algorithm;
    tc.secret_file = t.secret_file;
    tc.public_key_file = t.public_key_file;
    tc.username_claim = t.username_claim;
    tc.clock_skew = std::chrono::seconds{t.clock_skew_s};
    tc.audience = t.audience;
    tc.issue_lifetime = std::chrono::seconds{t.lifetime_s};
    sc.tickets = std::move(tc);
  }
  return sc;
}

// The security hooks: one Security for every client (global settings) or, with
// per_listener_settings, one per listener behind an AuthRouter. None when nothing is
// configured (the listener's allow_anonymous decides, every topic allowed).
struct SecurityStack {
  std::unique_ptr<security::Security> global;
  std::unique_ptr<AuthRouter> router;
  std::map<const core::ListenerPolicy*, security::Security*> per_listener;

  bool enabled() const { return global || router; }
  core::Authenticator* authenticator() const {
    return global ? static_cast<core::Authenticator*>(global.get()) : router.get();
  }
  core::Authorizer* authorizer() const {
    return global ? static_cast<core::Authorizer*>(global.get()) : router.get();
  }
  security::Security* for_listener(const core::ListenerPolicy* l) const {
    if (global) return global.get();
    auto it = per_listener.find(l);
    return it == per_listener.end() ? nullptr : it->second;
  }
  protocol::Status reload() const {
    if (global) return global->reload();
    if (router) return router->reload();
    return protocol::ok();
  }
};

protocol::Result<SecurityStack, protocol::Error> open_security(const Config& cfg,
                                                               const core::Clock& clock) {
  SecurityStack stack;
  bool shared_keys = cfg.tickets || !cfg.scram_file.empty();
  for (const auto& l : cfg.listeners) {  // a certificate's name as username needs Security
    if (l.tls && (l.tls->use_identity_as_username || l.tls->use_subject_as_username)) {
      shared_keys = true;
    }
  }
  if (!cfg.per_listener_settings) {
    if (cfg.password_file.empty() && cfg.acl_file.empty() && !shared_keys) return stack;
    auto sec =
        security::Security::create(security_config(cfg, cfg.password_file, cfg.acl_file), clock);
    if (!sec) return protocol::unexpected(sec.error());
    stack.global = std::move(sec.value());
    return stack;
  }
  bool any = shared_keys;
  for (const auto& l : cfg.listeners) any = any || !l.password_file.empty() || !l.acl_file.empty();
  if (!any) return stack;
  stack.router = std::make_unique<AuthRouter>();
  for (const auto& l : cfg.listeners) {
    auto sec = security::Security::create(security_config(cfg, l.password_file, l.acl_file), clock);
    if (!sec) return protocol::fail(l.policy.name + ": " + sec.error().message);
    stack.per_listener[&l.policy] = sec.value().get();
    stack.router->add(&l.policy, std::move(sec.value()));
  }
  return stack;
}

// Every TLS listener's certificate and key, checked with mbedTLS before anything listens.
protocol::Status check_tls_files(const Config& cfg) {
  for (const auto& l : cfg.listeners) {
    if (!l.tls) continue;
    tls::CertCheckRequest req;
    req.certfile = l.tls->certfile;
    req.keyfile = l.tls->keyfile;
    auto info = tls::check_certificate(req);
    if (!info) {
      return protocol::fail("listener " + l.policy.name + " (" + l.file +
                            "): " + info.error().message);
    }
    spdlog::info("{}: certificate '{}' ({}), issued by '{}'", l.policy.name, l.tls->certfile,
                 info.value().subject, info.value().issuer);
  }
  return protocol::ok();
}

void warn_anonymous(const Config& cfg) {
  for (const auto& l : cfg.listeners) {
    if (l.policy.allow_anonymous && !l.policy.loopback_only) {
      spdlog::warn(
          "{}: anonymous access (allow_anonymous true) on a listener reachable from other "
          "hosts ({}:{})",
          l.policy.name, l.bind_address.empty() ? "*" : l.bind_address, l.port);
    }
  }
}

}  // namespace

int run_broker(Config cfg, transport::EventLib event_lib) {
  // Signals go to one thread (sigwait) that only asks the loop to stop (LWS-NOTES §5, §7).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  core::SystemClock clock;
  auto specs = listener_specs(cfg);  // names the listeners (policy.name) for the messages below
  if (auto st = check_tls_files(cfg); !st) {
    spdlog::error("{}", st.error().message);
    return 1;
  }
  warn_anonymous(cfg);
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
  SecurityStack& security = sec.value();
  if (security.enabled()) {
    broker.set_authenticator(security.authenticator());
    broker.set_authorizer(security.authorizer());
  }
  if (*store) broker.set_persistence(store->get());  // loads retained messages and sessions

  transport::ServerOptions opts;
  opts.listeners = std::move(specs);
  opts.max_connections = cfg.max_connections;
  opts.max_packet_bytes = cfg.broker.max_packet_bytes;
  opts.output_high_water_bytes = cfg.broker.output_high_water_bytes;
  opts.output_low_water_bytes = cfg.broker.output_low_water_bytes;
  opts.output_hard_limit_bytes = cfg.broker.output_hard_limit_bytes;
  opts.connect_timeout = cfg.broker.connect_timeout;
  // set_tcp_nodelay is accepted for Mosquitto compatibility; Wisp always disables Nagle
  // (see ServerOptions::tcp_nodelay).
  opts.event_lib = event_lib;
  if (cfg.tickets && cfg.tickets->algorithm == "HS256" && security.enabled()) {
    transport::HttpRoute route;
    route.path = kTicketPath;
    const std::uint32_t lifetime = cfg.tickets->lifetime_s;
    route.handle = [&security, lifetime](const transport::HttpRequest& req) {
      return handle_ticket_request(
          req, [&security](const core::ListenerPolicy* l) { return security.for_listener(l); },
          lifetime);
    };
    opts.http_routes.push_back(std::move(route));
  }
  opts.check_tls_files = [](const transport::TlsSpec& t) -> protocol::Status {
    tls::CertCheckRequest req;
    req.certfile = t.certfile;
    req.keyfile = t.keyfile;
    if (auto info = tls::check_certificate(req); !info) return protocol::fail(info.error().message);
    return protocol::ok();
  };
  opts.make_endpoint = core_endpoint_factory(broker);
  opts.on_tick = [&broker] { broker.tick(); };
  opts.on_shutdown = [&broker] { broker.shutdown(); };
  storage::SqlitePersistence* persistence = store->get();
  std::atomic<bool> reload_requested{false};
  transport::Server* server_for_reload = nullptr;  // set once the Server exists
  opts.on_wake = [persistence, &reload_requested, &security, &server_for_reload] {
    if (persistence) persistence->drain_completions();
    if (reload_requested.exchange(false)) {
      spdlog::info("SIGHUP: reloading password, ACL, ticket key and certificate files");
      bool ok = true;
      if (auto st = security.reload(); !st) {
        ok = false;
        spdlog::error("reload failed, keeping the previous settings: {}", st.error().message);
      }
      if (server_for_reload) {  // certificates: errors are logged per listener
        if (auto st = server_for_reload->reload_certificates(); !st) ok = false;
      }
      if (ok) spdlog::info("reload done");
    }
  };

  auto server_ptr = std::make_unique<transport::Server>(std::move(opts));
  transport::Server& server = *server_ptr;
  server_for_reload = &server;
  if (auto st = server.start(); !st) {
    spdlog::error("{}", st.error().message);
    return 1;
  }

  // The storage writer wakes the loop when commits complete (PUBACKs waiting on durability).
  if (persistence) persistence->set_wake_loop([&server] { server.wake(); });
  std::thread signal_thread([&server, &reload_requested, stop_signals] {
    for (;;) {
      int sig = 0;
      if (sigwait(&stop_signals, &sig) != 0) continue;
      if (sig == SIGHUP) {
        reload_requested.store(true);
        server.wake();
        continue;
      }
      server.request_stop();
      return;
    }
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
