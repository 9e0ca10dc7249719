// The lws transport alone, with an echo endpoint instead of the engine: raw TCP, WebSocket and
// the one-port listener, subprotocol/path/origin checks, HTTP, frame rules, limits,
// back-pressure and shutdown. Real sockets on ephemeral loopback ports.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "broker/transport/server.h"
#include "support/raw_client.h"

using namespace wisp_test;
namespace bt = broker::transport;

namespace {

struct EchoStats {
  std::atomic<std::size_t> max_queued{0};
  std::atomic<int> opened{0};
  std::atomic<int> closed{0};
  std::atomic<int> last_kind{-1};
};

// Echoes every byte; "!close" as the first bytes of a read asks the transport to close.
class EchoEndpoint final : public bt::Endpoint {
 public:
  EchoEndpoint(broker::core::Peer& peer, EchoStats& stats, broker::core::TransportKind kind)
      : peer_(peer), stats_(stats) {
    ++stats_.opened;
    stats_.last_kind = static_cast<int>(kind);
  }
  void on_bytes(protocol::ByteSpan b) override {
    if (b.size() >= 6 && std::memcmp(b.data(), "!close", 6) == 0) {
      peer_.close(protocol::ReasonCode::normal_disconnection);
      return;
    }
    const bool was_empty = q_.size() == off_;
    q_.insert(q_.end(), b.begin(), b.end());
    const std::size_t queued = q_.size() - off_;
    if (queued > stats_.max_queued) stats_.max_queued = queued;
    if (was_empty) peer_.want_write();
  }
  std::size_t fill_output(std::span<std::uint8_t> out) override {
    const std::size_t n = std::min(out.size(), q_.size() - off_);
    if (n == 0) return 0;
    std::memcpy(out.data(), q_.data() + off_, n);
    off_ += n;
    if (off_ == q_.size()) {
      q_.clear();
      off_ = 0;
    }
    return n;
  }
  bool has_output() const noexcept override { return q_.size() > off_; }
  std::size_t queued_output_bytes() const noexcept override { return q_.size() - off_; }
  void on_closed() override { ++stats_.closed; }

 private:
  broker::core::Peer& peer_;
  EchoStats& stats_;
  std::vector<std::uint8_t> q_;
  std::size_t off_ = 0;
};

// Runs a transport Server with echo endpoints on a background thread.
class EchoServer {
 public:
  // `tweak` adjusts the options (ports are filled in afterwards).
  explicit EchoServer(std::vector<bt::ListenerSpec> listeners,
                      std::function<void(bt::ServerOptions&)> tweak = {}) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      bt::ServerOptions o;
      o.listeners = listeners;
      for (auto& l : o.listeners) {
        l.port = free_port();
        l.bind_address = "127.0.0.1";
      }
      o.connect_timeout = std::chrono::seconds(1);
      o.shutdown_grace = std::chrono::seconds(2);
      if (tweak) tweak(o);
      o.make_endpoint = [this](broker::core::Peer& p, broker::core::ConnectionInfo info) {
        return std::unique_ptr<bt::Endpoint>(
            std::make_unique<EchoEndpoint>(p, stats, info.transport));
      };
      ports.clear();
      for (auto& l : o.listeners) ports.push_back(l.port);
      server = std::make_unique<bt::Server>(std::move(o));
      if (server->start()) {
        thread = std::thread([this] { server->run(); });
        return;
      }
      server.reset();
    }
    FAIL("transport server did not start");
  }
  ~EchoServer() { stop(); }
  void stop() {
    if (!server) return;
    server->request_stop();
    if (thread.joinable()) thread.join();
    counters = server->counters();
    server.reset();  // destroys the context
  }
  EchoStats stats;
  std::vector<std::uint16_t> ports;
  std::unique_ptr<bt::Server> server;
  std::thread thread;
  bt::ServerCounters counters;
};

bt::ListenerSpec tcp_listener() {
  bt::ListenerSpec l;
  l.kind = bt::ListenerKind::mqtt;
  return l;
}
bt::ListenerSpec ws_listener(bool one_port = true) {
  bt::ListenerSpec l;
  l.kind = bt::ListenerKind::websockets;
  l.one_port = one_port;
  return l;
}

Bytes pattern(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((i * 31 + i / 251) & 0xff);
  return b;
}

}  // namespace

TEST_CASE("transport: raw TCP listener echoes bytes in any chunking") {
  EchoServer s({tcp_listener()});
  auto c = TcpClient::connect(s.ports[0]);
  REQUIRE(c);
  const Bytes msg = bytes_of("\x10\x0c hello world");
  REQUIRE(c->send_all(msg));
  Bytes got;
  REQUIRE(c->read_exact(msg.size(), got));
  CHECK(got == msg);
  CHECK(s.stats.last_kind == static_cast<int>(broker::core::TransportKind::tcp));
}

TEST_CASE("transport: 10 MiB through raw TCP and WebSocket arrive intact") {
  EchoServer s({tcp_listener(), ws_listener()});
  const Bytes big = pattern(10 * 1024 * 1024);
  SUBCASE("tcp") {
    auto c = TcpClient::connect(s.ports[0]);
    REQUIRE(c);
    std::thread w([&] { c->send_all(big, 20000ms); });
    Bytes got;
    CHECK(c->read_exact(big.size(), got, 20000ms));
    w.join();
    CHECK(got == big);
  }
  SUBCASE("ws") {
    auto ws = WsClient::connect(s.ports[1], {});
    REQUIRE(ws.ok());
    std::thread w([&] { ws.send_binary(big); });
    Bytes got;
    CHECK(ws.read_binary(big.size(), got, 20000ms));
    w.join();
    CHECK(got == big);
  }
}

TEST_CASE("transport: WebSocket stream ignores frame edges") {
  EchoServer s({ws_listener()});
  auto ws = WsClient::connect(s.ports[0], {});
  REQUIRE(ws.ok());
  CHECK(ws.headers["sec-websocket-protocol"] == "mqtt");
  // One logical packet split over many frames (fragmented message) ...
  const Bytes packet =
      lit("\x30\x0a\x00\x03"
          "a/bhello");
  REQUIRE(ws.send_frame(2, std::span(packet).subspan(0, 1), false));
  REQUIRE(ws.send_frame(0, std::span(packet).subspan(1, 4), false));
  REQUIRE(ws.send_frame(0, std::span(packet).subspan(5), true));
  // ... and several packets in one frame.
  Bytes two = packet;
  two.insert(two.end(), packet.begin(), packet.end());
  REQUIRE(ws.send_binary(two));
  Bytes got;
  REQUIRE(ws.read_binary(packet.size() * 3, got));
  Bytes want = packet;
  want.insert(want.end(), two.begin(), two.end());
  CHECK(got == want);
}

TEST_CASE("transport: one-port listener serves native MQTT, WebSocket and HTTP") {
  EchoServer s({ws_listener(true)});
  auto c = TcpClient::connect(s.ports[0]);
  REQUIRE(c);
  const Bytes connect = lit("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00");
  REQUIRE(c->send_all(connect));
  Bytes got;
  REQUIRE(c->read_exact(connect.size(), got));
  CHECK(got == connect);

  auto ws = WsClient::connect(s.ports[0], {});
  REQUIRE(ws.ok());
  REQUIRE(ws.send_binary(connect));
  Bytes got_ws;
  REQUIRE(ws.read_binary(connect.size(), got_ws));
  CHECK(got_ws == connect);

  auto h = http_get(s.ports[0], "/healthz");
  REQUIRE(h);
  CHECK(h->status == 200);
  CHECK(h->body == "ok\n");
}

TEST_CASE("transport: separate WebSocket port without one-port does not speak raw MQTT") {
  EchoServer s({ws_listener(false)});
  auto ws = WsClient::connect(s.ports[0], {});
  REQUIRE(ws.ok());
  auto c = TcpClient::connect(s.ports[0]);
  REQUIRE(c);
  REQUIRE(c->send_all(lit("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")));
  CHECK(c->wait_closed(5000ms));
  CHECK(s.stats.opened == 1);
}

TEST_CASE("transport: WebSocket upgrade checks subprotocol, path and origin") {
  EchoServer s({ws_listener()}, [](bt::ServerOptions& o) {
    o.listeners[0].allowed_origins = {"http://good.example"};
  });
  const auto port = s.ports[0];
  auto with = [&](std::optional<std::string> protos, std::string path = "/mqtt",
                  std::optional<std::string> origin = std::string("http://good.example")) {
    WsClient::Options o;
    o.protocols = std::move(protos);
    o.path = std::move(path);
    o.origin = std::move(origin);
    return WsClient::connect(port, o);
  };
  SUBCASE("known token chosen from a list") {
    auto ws = with("foo, mqttv3.1");
    CHECK(ws.status == 101);
    CHECK(ws.headers["sec-websocket-protocol"] == "mqttv3.1");
  }
  SUBCASE("first known token wins") {
    auto ws = with("mqtt, mqttv3.1");
    CHECK(ws.status == 101);
    CHECK(ws.headers["sec-websocket-protocol"] == "mqtt");
  }
  SUBCASE("no header accepted when not strict") { CHECK(with(std::nullopt).status == 101); }
  SUBCASE("unknown only -> 400") { CHECK(with("foo, bar").status == 400); }
  SUBCASE("internal protocol names refused") { CHECK(with("mqtt-raw").status == 400); }
  SUBCASE("second path /") { CHECK(with("mqtt", "/").status == 101); }
  SUBCASE("unknown path -> 404") { CHECK(with("mqtt", "/other").status == 404); }
  SUBCASE("origin not allowed -> 403") {
    CHECK(with("mqtt", "/mqtt", "http://evil.example").status == 403);
  }
  SUBCASE("missing origin -> 403") { CHECK(with("mqtt", "/mqtt", std::nullopt).status == 403); }
}

TEST_CASE("transport: websockets_strict answers 400 to clients without a subprotocol") {
  EchoServer s({ws_listener()},
               [](bt::ServerOptions& o) { o.listeners[0].websockets_strict = true; });
  WsClient::Options none;
  none.protocols = std::nullopt;
  CHECK(WsClient::connect(s.ports[0], none).status == 400);
  CHECK(WsClient::connect(s.ports[0], {}).status == 101);
}

TEST_CASE("transport: text frames close with 1003, oversized frames with 1009") {
  EchoServer s({ws_listener()}, [](bt::ServerOptions& o) { o.max_packet_bytes = 1000; });
  SUBCASE("text") {
    auto ws = WsClient::connect(s.ports[0], {});
    REQUIRE(ws.ok());
    REQUIRE(ws.send_frame(1, bytes_of("hello")));
    CHECK(ws.read_close() == std::optional<std::uint16_t>(1003));
  }
  SUBCASE("too large") {
    auto ws = WsClient::connect(s.ports[0], {});
    REQUIRE(ws.ok());
    REQUIRE(ws.send_binary(pattern(1001)));
    CHECK(ws.read_close() == std::optional<std::uint16_t>(1009));
  }
  SUBCASE("at the limit passes") {
    auto ws = WsClient::connect(s.ports[0], {});
    REQUIRE(ws.ok());
    const Bytes b = pattern(1000);
    REQUIRE(ws.send_binary(b));
    Bytes got;
    CHECK(ws.read_binary(b.size(), got));
    CHECK(got == b);
  }
}

TEST_CASE("transport: close flushes queued output first") {
  EchoServer s({tcp_listener(), ws_listener()});
  auto c = TcpClient::connect(s.ports[0]);
  REQUIRE(c);
  REQUIRE(c->send_all(bytes_of("abc")));
  Bytes got;
  REQUIRE(c->read_exact(3, got));
  REQUIRE(c->send_all(bytes_of("!close")));
  CHECK(c->wait_closed());
  auto ws = WsClient::connect(s.ports[1], {});
  REQUIRE(ws.ok());
  REQUIRE(ws.send_binary(bytes_of("!close")));
  CHECK(ws.read_close() == std::optional<std::uint16_t>(1000));
}

TEST_CASE("transport: static files from http_dir, never outside it") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("wisp-http-" + std::to_string(::getpid()) + "-" + std::to_string(free_port()));
  std::filesystem::create_directories(dir / "www");
  std::ofstream(dir / "www" / "index.html") << "<h1>wisp</h1>";
  std::ofstream(dir / "secret.txt") << "top secret";
  {
    EchoServer s({ws_listener()},
                 [&](bt::ServerOptions& o) { o.listeners[0].http_dir = (dir / "www").string(); });
    auto idx = http_get(s.ports[0], "/");
    REQUIRE(idx);
    CHECK(idx->status == 200);
    CHECK(idx->body == "<h1>wisp</h1>");
    for (const char* p :
         {"/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/nope.html"}) {
      CAPTURE(p);
      auto r = http_get(s.ports[0], p);
      if (r) {
        CHECK(r->status != 200);
        CHECK(r->body.find("top secret") == std::string::npos);
      }
    }
    auto h = http_get(s.ports[0], "/healthz");
    REQUIRE(h);
    CHECK(h->status == 200);
    // WebSocket upgrades on / still work next to the file mount.
    WsClient::Options root;
    root.path = "/";
    CHECK(WsClient::connect(s.ports[0], root).status == 101);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("transport: max_connections per listener and global") {
  SUBCASE("per listener") {
    EchoServer s({tcp_listener()},
                 [](bt::ServerOptions& o) { o.listeners[0].max_connections = 2; });
    auto a = TcpClient::connect(s.ports[0]);
    auto b = TcpClient::connect(s.ports[0]);
    REQUIRE(a);
    REQUIRE(b);
    Bytes got;
    REQUIRE(a->send_all(bytes_of("x")));
    REQUIRE(a->read_exact(1, got));
    REQUIRE(b->send_all(bytes_of("y")));
    REQUIRE(b->read_exact(1, got));
    auto c = TcpClient::connect(s.ports[0]);
    REQUIRE(c);
    CHECK(c->wait_closed());
    // A slot frees up when a client leaves.
    a->close();
    bool served = false;
    for (int i = 0; i < 50 && !served; ++i) {  // the close is asynchronous: bounded retries
      auto d = TcpClient::connect(s.ports[0]);
      REQUIRE(d);
      Bytes echo;
      served = d->send_all(bytes_of("z")) && d->read_exact(1, echo, 200ms);
    }
    CHECK(served);
    s.stop();
    CHECK(s.counters.rejected_limit >= 1);
  }
  SUBCASE("global, WebSocket gets 503") {
    EchoServer s({tcp_listener(), ws_listener()},
                 [](bt::ServerOptions& o) { o.max_connections = 1; });
    auto a = TcpClient::connect(s.ports[0]);
    REQUIRE(a);
    Bytes got;
    REQUIRE(a->send_all(bytes_of("x")));
    REQUIRE(a->read_exact(1, got));
    auto ws = WsClient::connect(s.ports[1], {});
    CHECK(ws.status != 101);
  }
}

TEST_CASE("transport: reading pauses while a client's own output is backed up") {
  EchoServer s({tcp_listener()}, [](bt::ServerOptions& o) {
    o.output_high_water_bytes = 256 * 1024;
    o.output_low_water_bytes = 64 * 1024;
    o.output_hard_limit_bytes = 0;
  });
  auto c = TcpClient::connect(s.ports[0]);
  REQUIRE(c);
  const Bytes chunk = pattern(64 * 1024);
  std::size_t sent = 0;
  // Write without reading until the socket stays blocked: the broker stopped reading.
  while (sent < 64u * 1024 * 1024) {
    if (!c->send_all(chunk, 500ms)) break;
    sent += chunk.size();
  }
  CHECK(sent < 64u * 1024 * 1024);
  CHECK(s.stats.max_queued <= 256u * 1024 + 128 * 1024);
  // Nothing is lost once the client reads again (the partially sent chunk may be cut).
  Bytes got;
  CHECK(c->read_exact(sent, got, 20000ms));
}

TEST_CASE("transport: a slow consumer past the hard limit is disconnected") {
  EchoServer s({tcp_listener()}, [](bt::ServerOptions& o) {
    o.output_high_water_bytes = 0;  // no pause: let the queue grow
    o.output_hard_limit_bytes = 1024 * 1024;
  });
  auto c = TcpClient::connect(s.ports[0]);
  REQUIRE(c);
  const Bytes chunk = pattern(64 * 1024);
  bool blocked = false;
  for (int i = 0; i < 400 && !blocked; ++i) blocked = !c->send_all(chunk, 1000ms);
  CHECK(c->wait_closed(10000ms));
  s.stop();
  CHECK(s.counters.slow_consumers == 1);
}

TEST_CASE("transport: graceful stop closes WebSocket links with 1001 and returns") {
  EchoServer s({tcp_listener(), ws_listener()});
  auto ws = WsClient::connect(s.ports[1], {});
  REQUIRE(ws.ok());
  auto c = TcpClient::connect(s.ports[0]);
  REQUIRE(c);
  Bytes got;
  REQUIRE(c->send_all(bytes_of("x")));
  REQUIRE(c->read_exact(1, got));
  s.server->request_stop();
  CHECK(ws.read_close() == std::optional<std::uint16_t>(1001));
  CHECK(c->wait_closed());
  s.stop();
  CHECK(s.stats.closed == s.stats.opened);
}

TEST_CASE("transport: a silent socket is dropped at the connect deadline") {
  EchoServer s({tcp_listener(), ws_listener()});
  auto c = TcpClient::connect(s.ports[0]);
  REQUIRE(c);
  auto one = TcpClient::connect(s.ports[1]);
  REQUIRE(one);
  CHECK(c->wait_closed(10000ms));
  CHECK(one->wait_closed(15000ms));
}

TEST_CASE("transport: an IPv4 bind address does not listen on other addresses") {
  EchoServer s({tcp_listener()});
  // ::1 must not reach a listener bound to 127.0.0.1 (lws binds *:port without DISABLE_IPV6).
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(s.ports[0]);
  a.sin6_addr = in6addr_loopback;
  const int r = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::close(fd);
  CHECK(r != 0);
}

TEST_CASE("transport: the poll backend serves TCP and WebSocket and stops cleanly too") {
  EchoServer s({tcp_listener(), ws_listener()},
               [](bt::ServerOptions& o) { o.event_lib = bt::EventLib::poll; });
  auto c = TcpClient::connect(s.ports[0]);
  REQUIRE(c);
  REQUIRE(c->send_all(bytes_of("poll")));
  Bytes got;
  REQUIRE(c->read_exact(4, got));
  CHECK(got == bytes_of("poll"));
  auto ws = WsClient::connect(s.ports[1], {});
  REQUIRE(ws.ok());
  s.server->request_stop();
  CHECK(ws.read_close() == std::optional<std::uint16_t>(1001));
  CHECK(c->wait_closed());
  s.stop();
  CHECK(s.stats.closed == s.stats.opened);
}

TEST_CASE("transport: server WebSocket pings keep idle links alive") {
  EchoServer s({ws_listener()}, [](bt::ServerOptions& o) {
    o.listeners[0].ws_ping_interval_s = 1;
    o.connect_timeout = std::chrono::seconds(30);  // the link must not die of silence
  });
  auto ws = WsClient::connect(s.ports[0], {});
  REQUIRE(ws.ok());
  REQUIRE(ws.send_binary(bytes_of("x")));
  Bytes got;
  REQUIRE(ws.read_binary(1, got));
  auto f = ws.read_frame(10000ms);
  REQUIRE(f);
  CHECK(f->opcode == 9);  // PING
  REQUIRE(ws.send_frame(10, f->payload));
  // Still alive after answering: echo works.
  REQUIRE(ws.send_binary(bytes_of("y")));
  Bytes got2;
  CHECK(ws.read_binary(1, got2));
  CHECK(got2 == bytes_of("y"));
}

TEST_CASE("transport: a 6 KB Cookie header does not break the upgrade") {
  EchoServer s({ws_listener()});
  WsClient::Options o;
  o.extra_headers = "Cookie: session=" + std::string(6000, 'c') + "\r\n";
  auto ws = WsClient::connect(s.ports[0], o);
  CHECK(ws.status == 101);
}
