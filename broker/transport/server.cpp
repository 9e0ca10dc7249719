// Server: the lws context, one vhost per listener, the single lws callback (a table of
// trampolines), HTTP (/healthz, static files), connection limits, the tick and shutdown.
#include "broker/transport/server.h"

#include <arpa/inet.h>
#include <ev.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "broker/transport/link.h"
#include "broker/transport/loop_state.h"

namespace broker::transport {

namespace {

constexpr const char* kProtoMqtt = "mqtt";
constexpr const char* kProtoMqttV31 = "mqttv3.1";
constexpr const char* kProtoRaw = "mqtt-raw";
constexpr const char* kProtoHttpApi = "http-api";

extern "C" int on_lws(lws* wsi, lws_callback_reasons why, void* user, void* in,
                      std::size_t len) noexcept;

struct TimerSlot {  // lws_sul is the first member so the callback can recover the Impl
  lws_sorted_usec_list_t sul;
  Server::Impl* impl;
};

bool is_ipv4_literal(const std::string& s) {
  in_addr a{};
  return !s.empty() && inet_pton(AF_INET, s.c_str(), &a) == 1;
}

std::string peer_address(lws* wsi) {
  sockaddr_storage ss{};
  socklen_t n = sizeof ss;
  const int fd = lws_get_socket_fd(wsi);
  if (fd < 0 || getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &n) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return "?";
}

std::string header(lws* wsi, lws_token_indexes token) {
  const int n = lws_hdr_total_length(wsi, token);
  if (n <= 0) return {};
  std::string s(static_cast<std::size_t>(n) + 1, '\0');
  if (lws_hdr_copy(wsi, s.data(), n + 1, token) < 0) return {};
  s.resize(static_cast<std::size_t>(n));
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of cookie `name` in a Cookie header ("a=1; b=2"), if present.
std::optional<std::string> cookie_value(std::string_view cookies, std::string_view name) {
  while (!cookies.empty()) {
    const auto semi = cookies.find(';');
    const std::string_view pair = trim(cookies.substr(0, semi));
    cookies = semi == std::string_view::npos ? std::string_view{} : cookies.substr(semi + 1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos || trim(pair.substr(0, eq)) != name) continue;
    std::string_view v = trim(pair.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return std::string(v);
  }
  return std::nullopt;
}

// The verified client certificate's CN or full subject (RFC 2253, like Mosquitto).
std::optional<std::string> peer_cert_identity(lws* wsi, CertIdentity what) {
  if (what == CertIdentity::none || !lws_is_ssl(wsi)) return std::nullopt;
  SSL* ssl = lws_get_ssl(wsi);
  if (!ssl || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  X509* cert = SSL_get_peer_certificate(ssl);
  if (!cert) return std::nullopt;
  std::optional<std::string> out;
  X509_NAME* subject = X509_get_subject_name(cert);
  if (what == CertIdentity::common_name) {
    char cn[256];
    const int n = X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof cn);
    if (n > 0) out = std::string(cn, static_cast<std::size_t>(n));
  } else if (BIO* bio = BIO_new(BIO_s_mem())) {
    if (X509_NAME_print_ex(bio, subject, 0, XN_FLAG_RFC2253) >= 0) {
      char* data = nullptr;
      const long n = BIO_get_mem_data(bio, &data);
      if (n > 0 && data) out = std::string(data, static_cast<std::size_t>(n));
    }
    BIO_free(bio);
  }
  X509_free(cert);
  return out;
}

std::string openssl_error() {
  char buf[256] = "unknown error";
  if (const unsigned long e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

void lws_log_to_spdlog(int level, const char* line) {
  std::string_view s(line);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  if (level == LLL_ERR) {
    spdlog::warn("lws: {}", s);
  } else {
    spdlog::debug("lws: {}", s);
  }
}

}  // namespace

class Server::Impl {
 public:
  explicit Impl(ServerOptions options) : options_(std::move(options)) { loop_.options = &options_; }
  ~Impl() { destroy_context(); }

  protocol::Status start();
  void run();
  void request_stop() noexcept {
    stop_requested_.store(true);
    if (lws_context* ctx = context_.load()) lws_cancel_service(ctx);
  }
  void wake_from_any_thread() noexcept {
    wake_requested_.store(true);
    if (lws_context* ctx = context_.load()) lws_cancel_service(ctx);
  }
  const ServerCounters& counters() const noexcept { return loop_.counters; }
  protocol::Status reload_certificates(bool only_changed);
  // At vhost creation: keeps the SSL_CTX (reloads) and adds capath / crlfile. Nonzero fails
  // the vhost; the reason is in tls_setup_error_.
  int setup_ssl_ctx(lws_vhost* vh, void* ssl_ctx);

  // Trampoline targets.
  int filter_network(lws* wsi);
  int confirm_upgrade(lws* wsi, const char* upgrade);
  int open(lws* wsi, ConnectionSlot* slot, bool websocket);
  int http(lws* wsi, ConnectionSlot* slot);
  int http_writeable(lws* wsi, ConnectionSlot* slot);
  int http_body(lws* wsi, const void* in, std::size_t len);
  int http_body_done(lws* wsi);
  void http_dropped(lws* wsi) { pending_http_.erase(wsi); }
  // Raw TLS links waiting for the handshake (see open()); RAW_RX opens them.
  int raw_rx(lws* wsi, ConnectionSlot* slot, void* in, std::size_t len) {
    if (slot && !slot->link && deferred_open_.contains(wsi)) {
      lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
      if (open(wsi, slot, false) != 0) return -1;
    }
    return slot && slot->link ? slot->link->bytes_in(in, len) : -1;
  }
  void raw_closed(lws* wsi) { deferred_open_.erase(wsi); }
  int wake();
  void maybe_finish_drain();

 private:
  protocol::Status add_listener(ListenerState& l);
  void begin_shutdown();
  void destroy_context();
  static void on_tick(lws_sorted_usec_list_t* sul);
  static void on_drain_deadline(lws_sorted_usec_list_t* sul);
  bool over_limit(const ListenerState& l) const;
  void log_refusal(ListenerState& l, const char* why);

  ServerOptions options_;
  LoopState loop_;
  std::atomic<lws_context*> context_{nullptr};
  struct ev_loop* ev_loop_ = nullptr;  // EventLib::libev: our epoll loop, lws runs on it
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> wake_requested_{false};
  std::vector<std::unique_ptr<ListenerState>> listeners_;
  // HTTP API requests between LWS_CALLBACK_HTTP and the last body byte written.
  struct PendingHttp {
    const HttpRoute* route = nullptr;
    HttpRequest request;
    std::string reply_body;
    bool replied = false;
  };
  const HttpRoute* route_for(const std::string& path) const;
  int answer(lws* wsi, PendingHttp& p, const HttpAnswer& a);
  std::unordered_map<lws*, PendingHttp> pending_http_;
  std::unordered_set<lws*> deferred_open_;
  // TLS listeners: the vhost's OpenSSL context and what their files looked like when loaded.
  struct FileStamp {
    std::int64_t mtime_ns = 0, size = -1;
    std::uint64_t inode = 0;
    bool operator==(const FileStamp&) const = default;
  };
  struct TlsState {
    SSL_CTX* ctx = nullptr;
    FileStamp cert, key;
  };
  static FileStamp stamp_of(const std::string& path);
  std::unordered_map<const ListenerState*, TlsState> tls_;
  std::chrono::steady_clock::time_point next_tls_watch_{};
  std::string tls_setup_error_;
  std::vector<std::unique_ptr<lws_http_mount[]>> route_mounts_;
  TimerSlot tick_{{}, this};
  TimerSlot drain_deadline_{{}, this};
};

namespace {
Server::Impl& impl_of(lws* wsi) {
  return *static_cast<Server::Impl*>(lws_context_user(lws_get_context(wsi)));
}
ListenerState* listener_of(lws* wsi) {
  lws_vhost* vh = lws_get_vhost(wsi);
  return vh ? static_cast<ListenerState*>(lws_get_vhost_user(vh)) : nullptr;
}
}  // namespace

protocol::Status Server::Impl::start() {
  if (!options_.make_endpoint) return protocol::fail("transport: no endpoint factory");
  if (options_.listeners.empty()) return protocol::fail("no listener configured");
  lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_spdlog);

  lws_context_creation_info info{};
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  // libev runs as a foreign loop that run() drives itself: lws' own run_pt would block in
  // ev_run() forever and never let run() see the end of a shutdown drain.
  void* foreign_loops[1] = {nullptr};
  if (options_.event_lib == EventLib::libev) {
    ev_loop_ = ev_loop_new(static_cast<unsigned>(EVBACKEND_EPOLL) |
                           static_cast<unsigned>(EVFLAG_NOSIGMASK));
    if (!ev_loop_) return protocol::fail("libev: cannot create an epoll event loop");
    foreign_loops[0] = ev_loop_;
    info.foreign_loops = foreign_loops;
    info.options |= LWS_SERVER_OPTION_LIBEV;
  }
  info.pt_serv_buf_size = 64 * 1024;      // 64 KiB RX chunks (LWS-NOTES §3)
  info.max_http_header_data = 16 * 1024;  // long cookies (LWS-NOTES §7)
  info.user = this;
  info.port = CONTEXT_PORT_NO_LISTEN;
  lws_context* ctx = lws_create_context(&info);
  if (!ctx) return protocol::fail("libwebsockets: cannot create the event loop context");
  context_.store(ctx);
  loop_.context = ctx;

  for (const auto& spec : options_.listeners) {
    auto l = std::make_unique<ListenerState>();
    l->spec = spec;
    const bool tls = spec.tls.has_value();
    const char* kind =
        spec.kind == ListenerKind::mqtt ? (tls ? "mqtts" : "mqtt") : (tls ? "wss" : "ws");
    l->label = spec.name.empty() ? std::string(kind) + ":" + std::to_string(spec.port) : spec.name;
    if (auto st = add_listener(*l); !st) return st;
    listeners_.push_back(std::move(l));
  }
  lws_sul_schedule(
      ctx, 0, &tick_.sul, on_tick,
      std::chrono::duration_cast<std::chrono::microseconds>(options_.tick_interval).count());
  return protocol::ok();
}

protocol::Status Server::Impl::add_listener(ListenerState& l) {
  const ListenerSpec& spec = l.spec;
  if (spec.port == 0) return protocol::fail(l.label + ": port 0 is not supported");
  const std::size_t session = sizeof(ConnectionSlot);
  auto proto = [&](const char* name, std::size_t tx) {
    lws_protocols p{};
    p.name = name;
    p.callback = on_lws;
    p.per_session_data_size = session;
    p.tx_packet_size = tx;
    return p;
  };
  const bool ws = spec.kind == ListenerKind::websockets;
  lws_context_creation_info vi{};
  vi.port = spec.port;
  vi.iface = spec.bind_address.empty() ? nullptr : spec.bind_address.c_str();
  vi.vhost_name = l.label.c_str();
  vi.user = &l;
  vi.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
  // A socket that has sent nothing yet (before the one-port switch) gets the CONNECT deadline.
  vi.timeout_secs_ah_idle =
      static_cast<unsigned>(std::max<long>(1, static_cast<long>(options_.connect_timeout.count())));
  // With IPv6 enabled, an IPv4 literal iface silently binds every address (LWS-NOTES §2).
  if (spec.family == AddressFamily::ipv4 || is_ipv4_literal(spec.bind_address)) {
    vi.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  } else if (spec.family == AddressFamily::ipv6) {
    vi.options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY | LWS_SERVER_OPTION_IPV6_V6ONLY_VALUE;
  }
  if (ws) {
    // protocols[0] = mqtt: clients offering no subprotocol bind it (LWS-NOTES §2), and it
    // also receives the HTTP callbacks of unmatched URLs (same callback, falls to the dummy).
    l.protocols.push_back(proto(kProtoMqtt, kStagingCap));
    l.protocols.push_back(proto(kProtoMqttV31, kStagingCap));
    l.protocols.push_back(proto(kProtoHttpApi, 0));
    if (spec.one_port) {
      l.protocols.push_back(proto(kProtoRaw, kStagingCap));
      vi.options |= LWS_SERVER_OPTION_FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG;
      vi.listen_accept_role = "raw-skt";
      vi.listen_accept_protocol = kProtoRaw;
    }
    // Mounts: /healthz (callback) then static files on / when http_dir is set.
    lws_http_mount& health = l.mounts[0];
    health.mountpoint = "/healthz";
    health.mountpoint_len = static_cast<unsigned char>(std::strlen(health.mountpoint));
    health.origin = kProtoHttpApi;
    health.origin_protocol = LWSMPRO_CALLBACK;
    if (!spec.http_dir.empty()) {
      char resolved[PATH_MAX];
      if (!realpath(spec.http_dir.c_str(), resolved)) {
        return protocol::fail(l.label + ": http_dir '" + spec.http_dir + "' does not exist");
      }
      l.http_origin = resolved;
      lws_http_mount& files = l.mounts[1];
      files.mountpoint = "/";
      files.mountpoint_len = 1;
      files.origin = l.http_origin.c_str();
      files.def = "index.html";
      files.origin_protocol = LWSMPRO_FILE;
    }
    // API routes (callback mounts) between /healthz and the static files.
    lws_http_mount* last = &health;
    if (!options_.http_routes.empty()) {
      auto& mounts = route_mounts_.emplace_back(
          std::make_unique<lws_http_mount[]>(options_.http_routes.size()));
      for (std::size_t i = 0; i < options_.http_routes.size(); ++i) {
        lws_http_mount& m = mounts[i];
        m = lws_http_mount{};
        m.mountpoint = options_.http_routes[i].path.c_str();
        m.mountpoint_len = static_cast<unsigned char>(options_.http_routes[i].path.size());
        m.origin = kProtoHttpApi;
        m.origin_protocol = LWSMPRO_CALLBACK;
        last->mount_next = &m;
        last = &m;
      }
    }
    if (!spec.http_dir.empty()) last->mount_next = &l.mounts[1];
    vi.mounts = &l.mounts[0];
    // Server pings keep idle links alive through proxies; hang up if no PONG comes back.
    l.retry.secs_since_valid_ping =
        spec.ws_ping_interval_s ? static_cast<std::uint16_t>(spec.ws_ping_interval_s) : 0xffff;
    l.retry.secs_since_valid_hangup = spec.ws_ping_interval_s
                                          ? static_cast<std::uint16_t>(std::min<std::uint32_t>(
                                                spec.ws_ping_interval_s * 2, 0xfffe))
                                          : 0;
    vi.retry_and_idle_policy = &l.retry;
  } else {
    l.protocols.push_back(proto(kProtoRaw, kStagingCap));
    vi.options |= LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
    vi.listen_accept_role = "raw-skt";
    vi.listen_accept_protocol = kProtoRaw;
  }
  l.protocols.push_back(lws_protocols{});  // terminator
  vi.protocols = l.protocols.data();
  if (spec.tls) {
    // Without DO_SSL_GLOBAL_INIT on the vhost itself it would serve plaintext (LWS-NOTES §2).
    vi.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    vi.ssl_cert_filepath = spec.tls->certfile.c_str();
    vi.ssl_private_key_filepath = spec.tls->keyfile.c_str();
    if (!spec.tls->cafile.empty() || !spec.tls->capath.empty()) {
      if (!spec.tls->cafile.empty()) vi.ssl_ca_filepath = spec.tls->cafile.c_str();
      vi.options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT;
      if (!spec.tls->require_certificate) vi.options |= LWS_SERVER_OPTION_PEER_CERT_NOT_REQUIRED;
    }
    if (!spec.tls->ciphers.empty()) vi.ssl_cipher_list = spec.tls->ciphers.c_str();
    // TLS 1.2 minimum (tls_version tlsv1.3: 1.3 only); SSLv3/1.0/1.1 never.
    long no_versions = SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
    if (spec.tls->min_tls13) no_versions |= SSL_OP_NO_TLSv1_2;
    vi.ssl_options_set = no_versions;
    vi.alpn = "http/1.1";  // h2 would break the WebSocket upgrade
  }
  l.vhost = lws_create_vhost(loop_.context, &vi);
  if (!l.vhost && !tls_setup_error_.empty()) {
    return protocol::fail(l.label + ": " + std::exchange(tls_setup_error_, {}));
  }
  if (l.vhost && spec.tls) {
    tls_[&l].cert = stamp_of(spec.tls->certfile);
    tls_[&l].key = stamp_of(spec.tls->keyfile);
  }
  if (!l.vhost) {
    return protocol::fail(l.label + ": cannot listen on " +
                          (spec.bind_address.empty() ? std::string("*") : spec.bind_address) + ":" +
                          std::to_string(spec.port) + " (address in use or not available)");
  }
  spdlog::info(
      "listening: {} on {}:{}{}", l.label, spec.bind_address.empty() ? "*" : spec.bind_address,
      spec.port,
      ws ? (spec.one_port ? " (WebSocket + HTTP + MQTT on one port)" : " (WebSocket + HTTP)") : "");
  return protocol::ok();
}

void Server::Impl::run() {
  lws_context* ctx = loop_.context;
  if (!ctx) return;
  if (ev_loop_) {
    while (!loop_.exit_loop) ev_run(ev_loop_, EVRUN_ONCE);
    return;
  }
  while (!loop_.exit_loop) {
    if (lws_service(ctx, 0) < 0) break;
  }
}

void Server::Impl::destroy_context() {
  lws_context* ctx = context_.exchange(nullptr);
  if (!ctx) return;
  // Live links get CLOSED/RAW_CLOSE here (treated as abrupt by the engine).
  lws_context_destroy(ctx);
  loop_.context = nullptr;
  if (ev_loop_) {
    ev_loop_destroy(ev_loop_);
    ev_loop_ = nullptr;
  }
}

int Server::Impl::setup_ssl_ctx(lws_vhost* vh, void* ssl_ctx) {
  auto* l = vh ? static_cast<ListenerState*>(lws_get_vhost_user(vh)) : nullptr;
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  if (!l || !ctx || !l->spec.tls) return 0;
  tls_[l].ctx = ctx;
  const TlsSpec& t = *l->spec.tls;
  if (!t.capath.empty() && SSL_CTX_load_verify_locations(ctx, nullptr, t.capath.c_str()) != 1) {
    tls_setup_error_ = "capath " + t.capath + ": " + openssl_error();
    return 1;
  }
  if (!t.crlfile.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    X509_LOOKUP* lookup = store ? X509_STORE_add_lookup(store, X509_LOOKUP_file()) : nullptr;
    if (!lookup || X509_load_crl_file(lookup, t.crlfile.c_str(), X509_FILETYPE_PEM) <= 0) {
      tls_setup_error_ = "crlfile " + t.crlfile + ": " + openssl_error();
      return 1;
    }
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  return 0;
}

Server::Impl::FileStamp Server::Impl::stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<std::int64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino)};
}

namespace {
// Loads certificate chain + key into `ctx`; the caller validated them on a scratch context.
bool load_cert_and_key(SSL_CTX* ctx, const TlsSpec& t, std::string& why) {
  if (SSL_CTX_use_certificate_chain_file(ctx, t.certfile.c_str()) != 1) {
    why = "certfile " + t.certfile + ": " + openssl_error();
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, t.keyfile.c_str(), SSL_FILETYPE_PEM) != 1) {
    why = "keyfile " + t.keyfile + ": " + openssl_error();
    return false;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    why = "keyfile " + t.keyfile + " does not match certfile " + t.certfile;
    ERR_clear_error();
    return false;
  }
  return true;
}
}  // namespace

protocol::Status Server::Impl::reload_certificates(bool only_changed) {
  protocol::Status first = protocol::ok();
  for (auto& [listener, state] : tls_) {
    const TlsSpec& t = *listener->spec.tls;
    const FileStamp cert = stamp_of(t.certfile), key = stamp_of(t.keyfile);
    if (only_changed && cert == state.cert && key == state.key) continue;
    state.cert = cert;  // a failed attempt is retried when the files change again
    state.key = key;
    std::string why;
    if (!state.ctx) {
      why = "no TLS context to reload";
    } else if (options_.check_tls_files) {
      if (auto st = options_.check_tls_files(t); !st) why = st.error().message;
    }
    if (why.empty()) {
      // Validate on a scratch context first: a half-loaded live context would break
      // every new handshake.
      SSL_CTX* scratch = SSL_CTX_new(TLS_server_method());
      if (!scratch) why = "cannot create an OpenSSL context";
      const bool valid = scratch && load_cert_and_key(scratch, t, why);
      if (scratch) SSL_CTX_free(scratch);
      if (valid && load_cert_and_key(state.ctx, t, why)) {
        ++loop_.counters.certificate_reloads;
        spdlog::info("{}: certificate reloaded from {}", listener->label, t.certfile);
        continue;
      }
    }
    spdlog::error("{}: certificate not reloaded, keeping the current one: {}", listener->label,
                  why);
    if (first) first = protocol::fail(listener->label + ": " + why);
  }
  return first;
}

bool Server::Impl::over_limit(const ListenerState& l) const {
  if (options_.max_connections != 0 && loop_.links.size() >= options_.max_connections) return true;
  return l.spec.max_connections != 0 && l.links >= l.spec.max_connections;
}

void Server::Impl::log_refusal(ListenerState& l, const char* why) {
  ++loop_.counters.rejected_limit;
  const auto now = std::chrono::steady_clock::now();
  if (now - l.last_refusal_log < std::chrono::seconds(1)) {
    ++l.refusals_unlogged;
    return;
  }
  spdlog::warn("{}: connection refused: {} ({} more refused in the last second)", l.label, why,
               l.refusals_unlogged);
  l.refusals_unlogged = 0;
  l.last_refusal_log = now;
}

int Server::Impl::filter_network(lws* wsi) {
  ListenerState* l = listener_of(wsi);
  if (!l) return 0;
  if (loop_.draining) return 1;
  if (over_limit(*l)) {
    log_refusal(*l, "max_connections reached");
    return 1;
  }
  return 0;
}

// Validates a WebSocket upgrade before lws picks a protocol, so a refused client gets an
// HTTP status instead of a silent close (LWS-NOTES §2).
int Server::Impl::confirm_upgrade(lws* wsi, const char* upgrade) {
  ListenerState* l = listener_of(wsi);
  if (!l) return -1;
  if (!upgrade || std::strcmp(upgrade, "websocket") != 0) {
    lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, "only WebSocket upgrades");
    return 1;
  }
  if (loop_.draining) {
    lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "shutting down");
    return 1;
  }
  if (over_limit(*l)) {
    log_refusal(*l, "max_connections reached");
    lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "too many connections");
    return 1;
  }
  const std::string path = header(wsi, WSI_TOKEN_GET_URI);
  const auto& paths = l->spec.ws_paths;
  if (std::find(paths.begin(), paths.end(), path) == paths.end()) {
    lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "no MQTT endpoint on this path");
    return 1;
  }
  if (!l->spec.allowed_origins.empty()) {
    const std::string origin = header(wsi, WSI_TOKEN_ORIGIN);
    const auto& allowed = l->spec.allowed_origins;
    if (std::find(allowed.begin(), allowed.end(), origin) == allowed.end()) {
      spdlog::info("{}: WebSocket upgrade refused: Origin '{}' not allowed", l->label, origin);
      lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, "origin not allowed");
      return 1;
    }
  }
  const std::string offered = header(wsi, WSI_TOKEN_PROTOCOL);
  bool known = false;
  std::string_view rest = offered;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view token = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (token == kProtoRaw || token == kProtoHttpApi) {  // internal names are not for clients
      lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, "unsupported subprotocol");
      return 1;
    }
    if (token == kProtoMqtt || token == kProtoMqttV31) known = true;
  }
  if (!offered.empty() && !known) {
    lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, "subprotocol mqtt required");
    return 1;
  }
  // [MQTT-6.0.0-3] is the client's MUST; header-less clients are accepted unless strict.
  if (offered.empty() && l->spec.websockets_strict) {
    lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, "subprotocol mqtt required");
    return 1;
  }
  return 0;
}

int Server::Impl::open(lws* wsi, ConnectionSlot* slot, bool websocket) {
  ListenerState* l = listener_of(wsi);
  if (!slot || !l) return -1;
  const bool tls = lws_is_ssl(wsi) != 0;
  core::ConnectionInfo info;
  info.transport = websocket ? (tls ? core::TransportKind::wss : core::TransportKind::ws)
                             : (tls ? core::TransportKind::tls : core::TransportKind::tcp);
  info.remote_address = peer_address(wsi);
  info.listener = l->spec.policy;
  if (websocket) {
    char ticket[4096];
    if (const char* v = lws_get_urlarg_by_name(wsi, "ticket=", ticket, sizeof ticket)) {
      info.ticket = std::string(v);
    } else if (!l->spec.ticket_cookie.empty()) {
      info.ticket = cookie_value(header(wsi, WSI_TOKEN_HTTP_COOKIE), l->spec.ticket_cookie);
    }
  }
  if (tls && l->spec.tls) info.cert_identity = peer_cert_identity(wsi, l->spec.tls->identity);
  if (loop_.draining) return -1;
  if (!websocket && tls && l->spec.tls && l->spec.tls->identity != CertIdentity::none) {
    // Raw TLS is adopted before the handshake ends: the client certificate (the username)
    // is known once the first decrypted bytes arrive, so the link opens then.
    SSL* ssl = lws_get_ssl(wsi);
    if (ssl && !SSL_is_init_finished(ssl) && !deferred_open_.contains(wsi)) {
      deferred_open_.insert(wsi);
      lws_set_timeout(
          wsi, PENDING_TIMEOUT_AWAITING_PROXY_RESPONSE,
          static_cast<int>(std::max<long>(1, static_cast<long>(options_.connect_timeout.count()))));
      return 0;
    }
  }
  deferred_open_.erase(wsi);
  slot->link = Link::open(loop_, *l, wsi, info.transport, std::move(info));
  return slot->link ? 0 : -1;
}

const HttpRoute* Server::Impl::route_for(const std::string& path) const {
  for (const auto& r : options_.http_routes) {
    if (r.path == path) return &r;
  }
  return nullptr;
}

int Server::Impl::http(lws* wsi, ConnectionSlot* slot) {
  const lws_protocols* p = lws_get_protocol(wsi);
  if (!slot || !p || std::strcmp(p->name, kProtoHttpApi) != 0) return -2;  // not ours
  std::string method = "GET";
  std::string uri = header(wsi, WSI_TOKEN_GET_URI);
  if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) {
    method = "POST";
    uri = header(wsi, WSI_TOKEN_POST_URI);
  } else if (lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI) > 0) {
    method = "PUT";
    uri = header(wsi, WSI_TOKEN_PUT_URI);
  } else if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI) > 0) {
    method = "DELETE";
    uri = header(wsi, WSI_TOKEN_DELETE_URI);
  } else if (lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI) > 0) {
    method = "PATCH";
    uri = header(wsi, WSI_TOKEN_PATCH_URI);
  }
  if (const auto q = uri.find('?'); q != std::string::npos) uri.resize(q);
  if (const HttpRoute* route = route_for(uri)) {
    PendingHttp& pending = pending_http_[wsi];
    pending = PendingHttp{};
    pending.route = route;
    pending.request.method = method;
    pending.request.path = uri;
    pending.request.authorization = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    pending.request.remote_address = peer_address(wsi);
    ListenerState* l = listener_of(wsi);
    pending.request.listener = l ? l->spec.policy : nullptr;
    const std::string length = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    if (!length.empty() && length != "0") {
      if (length.size() > 9 || std::strtoul(length.c_str(), nullptr, 10) > route->max_body) {
        HttpAnswer too_big;
        too_big.status = 413;
        too_big.body = "{\"error\":\"request body too large\"}\n";
        return answer(wsi, pending, too_big);
      }
      return 0;  // the body arrives in LWS_CALLBACK_HTTP_BODY
    }
    return answer(wsi, pending, route->handle(pending.request));
  }
  unsigned char buf[LWS_PRE + 512];
  unsigned char* start = buf + LWS_PRE;
  unsigned char* pos = start;
  unsigned char* end = buf + sizeof buf - 1;
  if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "text/plain", 3, &pos, end) ||
      lws_finalize_write_http_header(wsi, start, &pos, end)) {
    return 1;
  }
  slot->http_reply = HttpReply::healthz;
  lws_callback_on_writable(wsi);
  return 0;
}

int Server::Impl::http_body(lws* wsi, const void* in, std::size_t len) {
  auto it = pending_http_.find(wsi);
  if (it == pending_http_.end()) return -2;
  PendingHttp& p = it->second;
  if (p.replied) return 0;
  if (p.request.body.size() + len > p.route->max_body) {
    HttpAnswer too_big;
    too_big.status = 413;
    too_big.body = "{\"error\":\"request body too large\"}\n";
    return answer(wsi, p, too_big);
  }
  p.request.body.append(static_cast<const char*>(in), len);
  return 0;
}

int Server::Impl::http_body_done(lws* wsi) {
  auto it = pending_http_.find(wsi);
  if (it == pending_http_.end()) return -2;
  PendingHttp& p = it->second;
  if (p.replied) return 0;
  return answer(wsi, p, p.route->handle(p.request));
}

// Headers now, the body on HTTP_WRITEABLE.
int Server::Impl::answer(lws* wsi, PendingHttp& p, const HttpAnswer& a) {
  p.replied = true;
  p.reply_body = a.body;
  std::vector<unsigned char> buf(LWS_PRE + 2048);
  unsigned char* start = buf.data() + LWS_PRE;
  unsigned char* pos = start;
  unsigned char* end = buf.data() + buf.size() - 1;
  if (lws_add_http_common_headers(wsi, static_cast<unsigned>(a.status), a.content_type.c_str(),
                                  a.body.size(), &pos, end)) {
    return 1;
  }
  for (const auto& [name, value] : a.headers) {
    const std::string n = name + ":";
    if (lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(n.c_str()),
                                    reinterpret_cast<const unsigned char*>(value.data()),
                                    static_cast<int>(value.size()), &pos, end)) {
      return 1;
    }
  }
  if (lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>("cache-control:"),
                                  reinterpret_cast<const unsigned char*>("no-store"), 8, &pos,
                                  end) ||
      lws_finalize_write_http_header(wsi, start, &pos, end)) {
    return 1;
  }
  lws_callback_on_writable(wsi);
  return 0;
}

int Server::Impl::http_writeable(lws* wsi, ConnectionSlot* slot) {
  if (auto it = pending_http_.find(wsi); it != pending_http_.end()) {
    if (!it->second.replied) return 0;
    std::string body = std::move(it->second.reply_body);
    pending_http_.erase(it);
    std::vector<unsigned char> buf(LWS_PRE + body.size() + 1);
    std::memcpy(buf.data() + LWS_PRE, body.data(), body.size());
    if (lws_write(wsi, buf.data() + LWS_PRE, body.size(), LWS_WRITE_HTTP_FINAL) !=
        static_cast<int>(body.size())) {
      return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  }
  if (!slot || slot->http_reply != HttpReply::healthz) return -2;  // not ours
  slot->http_reply = HttpReply::none;
  unsigned char buf[LWS_PRE + 8];
  std::memcpy(buf + LWS_PRE, "ok\n", 3);
  if (lws_write(wsi, buf + LWS_PRE, 3, LWS_WRITE_HTTP_FINAL) != 3) return -1;
  if (lws_http_transaction_completed(wsi)) return -1;
  return 0;
}

// EVENT_WAIT_CANCELLED fires once per protocol of every vhost per wake-up; the atomic
// exchange makes exactly one of them act (LWS-NOTES §5). Always 0.
int Server::Impl::wake() {
  if (wake_requested_.exchange(false) && options_.on_wake) options_.on_wake();
  if (stop_requested_.exchange(false)) begin_shutdown();
  return 0;
}

void Server::Impl::begin_shutdown() {
  if (loop_.draining) return;
  loop_.draining = true;
  spdlog::info("shutting down: {} connection(s) to close", loop_.links.size());
  if (options_.on_shutdown) options_.on_shutdown();  // v5 clients get DISCONNECT 0x8B
  std::vector<Link*> links(loop_.links.begin(), loop_.links.end());
  for (Link* link : links) link->close(protocol::ReasonCode::server_shutting_down);
  lws_sul_schedule(
      loop_.context, 0, &drain_deadline_.sul, on_drain_deadline,
      std::chrono::duration_cast<std::chrono::microseconds>(options_.shutdown_grace).count());
  maybe_finish_drain();
}

void Server::Impl::maybe_finish_drain() {
  if (loop_.draining && loop_.links.empty()) loop_.exit_loop = true;
}

void Server::Impl::on_tick(lws_sorted_usec_list_t* sul) {
  Impl& self = *reinterpret_cast<TimerSlot*>(sul)->impl;
  if (self.options_.on_tick) self.options_.on_tick();
  if (self.options_.tls_watch_interval.count() > 0 && !self.tls_.empty() &&
      std::chrono::steady_clock::now() >= self.next_tls_watch_) {
    self.next_tls_watch_ = std::chrono::steady_clock::now() + self.options_.tls_watch_interval;
    (void)self.reload_certificates(true);
  }
  std::vector<Link*> links(self.loop_.links.begin(), self.loop_.links.end());
  for (Link* link : links) link->check_output_limits();
  self.maybe_finish_drain();
  lws_sul_schedule(
      self.loop_.context, 0, &self.tick_.sul, on_tick,
      std::chrono::duration_cast<std::chrono::microseconds>(self.options_.tick_interval).count());
}

void Server::Impl::on_drain_deadline(lws_sorted_usec_list_t* sul) {
  Impl& self = *reinterpret_cast<TimerSlot*>(sul)->impl;
  if (!self.loop_.links.empty()) {
    spdlog::warn("shutdown: {} connection(s) did not drain in time; closing them",
                 self.loop_.links.size());
  }
  self.loop_.exit_loop = true;
}

namespace {

// The one lws callback: converts arguments and calls one named method per reason.
extern "C" int on_lws(lws* wsi, lws_callback_reasons why, void* user, void* in,
                      std::size_t len) noexcept {
  auto* slot = static_cast<ConnectionSlot*>(user);
  switch (why) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: return impl_of(wsi).filter_network(wsi);
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
      return impl_of(wsi).confirm_upgrade(wsi, static_cast<const char*>(in));
    case LWS_CALLBACK_ESTABLISHED: return impl_of(wsi).open(wsi, slot, true);
    case LWS_CALLBACK_RAW_ADOPT: return impl_of(wsi).open(wsi, slot, false);
    case LWS_CALLBACK_RECEIVE: return slot && slot->link ? slot->link->ws_bytes_in(in, len) : -1;
    case LWS_CALLBACK_RAW_RX: return impl_of(wsi).raw_rx(wsi, slot, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_RAW_WRITEABLE: return slot && slot->link ? slot->link->writable() : 0;
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_RAW_CLOSE:
      if (why == LWS_CALLBACK_RAW_CLOSE) impl_of(wsi).raw_closed(wsi);
      // Null-checked: a link refused before ESTABLISHED/RAW_ADOPT has a zeroed slot.
      if (slot && slot->link) {
        Link* link = slot->link;
        slot->link = nullptr;
        link->closed();
        impl_of(wsi).maybe_finish_drain();
      }
      return 0;
    case LWS_CALLBACK_HTTP:
      if (int r = impl_of(wsi).http(wsi, slot); r != -2) return r;
      break;
    case LWS_CALLBACK_HTTP_BODY:
      if (int r = impl_of(wsi).http_body(wsi, in, len); r != -2) return r;
      break;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
      if (int r = impl_of(wsi).http_body_done(wsi); r != -2) return r;
      break;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL: impl_of(wsi).http_dropped(wsi); break;
    case LWS_CALLBACK_HTTP_WRITEABLE:
      if (int r = impl_of(wsi).http_writeable(wsi, slot); r != -2) return r;
      break;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED: return impl_of(wsi).wake();
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
      // user = the vhost's SSL_CTX, in = the vhost: kept for certificate reloads.
      return impl_of(wsi).setup_ssl_ctx(static_cast<lws_vhost*>(in), user);
    case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
      // len = OpenSSL preverify_ok; the dummy would accept a rogue certificate.
      return len ? 0 : 1;
    default: break;
  }
  return lws_callback_http_dummy(wsi, why, user, in, len);
}

}  // namespace

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Server::~Server() = default;
protocol::Status Server::start() { return impl_->start(); }
void Server::run() { impl_->run(); }
void Server::request_stop() noexcept { impl_->request_stop(); }
void Server::wake() noexcept { impl_->wake_from_any_thread(); }
const ServerCounters& Server::counters() const noexcept { return impl_->counters(); }
protocol::Status Server::reload_certificates(bool only_changed) {
  return impl_->reload_certificates(only_changed);
}

}  // namespace broker::transport
