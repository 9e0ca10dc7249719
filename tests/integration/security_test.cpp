// Security wiring of the real broker: tickets (MQTT password, ?ticket=, cookie) and their
// expiry while connected, SIGHUP reload of the password file, per-listener settings.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>

#include "support/broker_process.h"
#include "support/clients.h"
#include "support/mqtt_bytes.h"
#include "support/raw_client.h"
#include "tls/jwt.h"

using namespace wisp_test;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kSecret = "integration-test-secret-0123456789abcdef";

void append_str(Bytes& b, std::string_view s) {
  b.push_back(static_cast<std::uint8_t>(s.size() >> 8));
  b.push_back(static_cast<std::uint8_t>(s.size() & 0xff));
  b.insert(b.end(), s.begin(), s.end());
}

// CONNECT with optional username/password (hand-encoded, clean start, keepalive 60).
Bytes connect_with(const std::string& client_id, int version, std::optional<std::string> user,
                   std::optional<std::string> password) {
  Bytes body;
  append_str(body, "MQTT");
  body.push_back(static_cast<std::uint8_t>(version));
  std::uint8_t flags = 0x02;
  if (user) flags |= 0x80;
  if (password) flags |= 0x40;
  body.push_back(flags);
  body.push_back(0);
  body.push_back(60);
  if (version == 5) body.push_back(0);  // no properties
  append_str(body, client_id);
  if (user) append_str(body, *user);
  if (password) append_str(body, *password);
  Bytes out{0x10};
  auto len = mqtt_varint(body.size());
  out.insert(out.end(), len.begin(), len.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::string ticket(const std::string& sub, std::chrono::seconds lifetime) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string claims = "{\"sub\":\"" + sub + "\",\"iat\":" + std::to_string(now) +
                             ",\"exp\":" + std::to_string(now + lifetime.count()) + "}";
  auto t = tls::sign_jwt(claims, tls::JwtAlg::hs256, kSecret);
  REQUIRE(t);
  return t.value();
}

std::string write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
  return p.string();
}

// CONNACK reason (v5: byte 1 of the body; 3.1.1: return code).
int connack_code(const std::optional<MqttPacket>& p) {
  if (!p || p->type() != 2 || p->body.size() < 2) return -1;
  return p->body[1];
}

}  // namespace

TEST_CASE("security: a ticket as MQTT password, ?ticket= and cookie; it ends the session at exp") {
  auto dir = std::filesystem::temp_directory_path() /
             ("wisp-sec-" + std::to_string(::getpid()) + "-" + std::to_string(free_port()));
  std::filesystem::create_directories(dir);
  const auto secret = write_file(dir / "secret", std::string(kSecret) + "\n");
  BrokerOptions o;
  o.global = "allow_anonymous false\nticket_secret_file " + secret +
             "\nticket_clock_skew 0\nticket_cookie wt\n";
  BrokerProcess b(o);
  REQUIRE(b.running());

  SUBCASE("a valid ticket as the password; DISCONNECT 0xA0/0x87 when it expires") {
    auto c = TcpClient::connect(b.tcp_port);
    REQUIRE(c);
    REQUIRE(c->send_all(connect_with("tk1", 5, "alice", ticket("alice", 2s))));
    CHECK(connack_code(read_packet(*c)) == 0);
    // The broker ends the session when the ticket expires (bounded wait, no sleep).
    auto d = read_packet(*c, 10000ms);
    REQUIRE(d);
    CHECK(d->type() == 14);
    REQUIRE(!d->body.empty());
    CHECK((d->body[0] == 0xA0 || d->body[0] == 0x87));
    CHECK(c->wait_closed());
  }
  SUBCASE("wrong signature and expired tickets are refused") {
    auto t = ticket("alice", 60s);
    t.back() = t.back() == 'A' ? 'B' : 'A';
    auto c = TcpClient::connect(b.tcp_port);
    REQUIRE(c);
    REQUIRE(c->send_all(connect_with("tk2", 5, "alice", t)));
    CHECK(connack_code(read_packet(*c)) != 0);
    auto e = TcpClient::connect(b.tcp_port);
    REQUIRE(e);
    REQUIRE(e->send_all(connect_with("tk3", 4, "alice", ticket("alice", -5s))));
    CHECK(connack_code(read_packet(*e)) == 4);  // 3.1.1: bad user name or password
  }
  SUBCASE("WebSocket: ticket from ?ticket= and from the configured cookie; none refused") {
    WsClient::Options q;
    q.path = "/mqtt?ticket=" + ticket("bob", 60s);
    auto w = WsClient::connect(b.ws_port, q);
    REQUIRE(w.ok());
    REQUIRE(w.send_binary(connect_with("ws1", 5, std::nullopt, std::nullopt)));
    CHECK(connack_code(read_packet(w)) == 0);

    WsClient::Options k;
    k.extra_headers = "Cookie: other=1; wt=" + ticket("carol", 60s) + "; x=y\r\n";
    auto wc = WsClient::connect(b.ws_port, k);
    REQUIRE(wc.ok());
    REQUIRE(wc.send_binary(connect_with("ws2", 5, std::nullopt, std::nullopt)));
    CHECK(connack_code(read_packet(wc)) == 0);

    WsClient::Options n;
    n.extra_headers = "Cookie: wisp_ticket=" + ticket("dave", 60s) + "\r\n";  // not the name
    auto wn = WsClient::connect(b.ws_port, n);
    REQUIRE(wn.ok());
    REQUIRE(wn.send_binary(connect_with("ws3", 5, std::nullopt, std::nullopt)));
    CHECK(connack_code(read_packet(wn)) == 0x87);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("security: SIGHUP reloads the password file; a broken file keeps the old one") {
  auto dir = std::filesystem::temp_directory_path() /
             ("wisp-hup-" + std::to_string(::getpid()) + "-" + std::to_string(free_port()));
  std::filesystem::create_directories(dir);
  const auto pw = (dir / "passwd").string();
  REQUIRE(run_command({wisp_binary(), "passwd", "-c", "-b", pw, "ann", "pw-ann"}).exit_code == 0);
  BrokerOptions o;
  o.global = "allow_anonymous false\npassword_file " + pw + "\n";
  BrokerProcess b(o);
  REQUIRE(b.running());
  auto login = [&](const std::string& user, const std::string& pass) {
    auto c = TcpClient::connect(b.tcp_port);
    REQUIRE(c);
    REQUIRE(c->send_all(connect_with("hup-" + user, 5, user, pass)));
    return connack_code(read_packet(*c));
  };
  CHECK(login("ann", "pw-ann") == 0);
  CHECK(login("ben", "pw-ben") == 0x86);
  REQUIRE(run_command({wisp_binary(), "passwd", "-b", pw, "ben", "pw-ben"}).exit_code == 0);
  b.process().signal(SIGHUP);
  REQUIRE(b.wait_log("reload done"));
  CHECK(login("ben", "pw-ben") == 0);
  // A file that does not parse: the reload fails, the previous users still work.
  write_file(pw, "this is not a password file\n");
  b.process().signal(SIGHUP);
  REQUIRE(b.wait_log("reload failed"));
  CHECK(login("ann", "pw-ann") == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("security: per_listener_settings applies each listener's password file") {
  auto dir = std::filesystem::temp_directory_path() /
             ("wisp-pl-" + std::to_string(::getpid()) + "-" + std::to_string(free_port()));
  std::filesystem::create_directories(dir);
  const auto pw = (dir / "passwd").string();
  REQUIRE(run_command({wisp_binary(), "passwd", "-c", "-b", pw, "ann", "pw-ann"}).exit_code == 0);
  BrokerOptions o;
  o.first = "per_listener_settings true\n";
  o.tcp = "allow_anonymous false\npassword_file " + pw + "\n";
  o.ws = "allow_anonymous true\n";
  BrokerProcess b(o);
  REQUIRE(b.running());
  auto tcp = TcpClient::connect(b.tcp_port);
  REQUIRE(tcp);
  REQUIRE(tcp->send_all(connect_with("pl1", 5, std::nullopt, std::nullopt)));
  CHECK(connack_code(read_packet(*tcp)) == 0x87);
  auto tcp2 = TcpClient::connect(b.tcp_port);
  REQUIRE(tcp2);
  REQUIRE(tcp2->send_all(connect_with("pl2", 5, "ann", "pw-ann")));
  CHECK(connack_code(read_packet(*tcp2)) == 0);
  auto w = WsClient::connect(b.ws_port, {});
  REQUIRE(w.ok());
  REQUIRE(w.send_binary(connect_with("pl3", 5, std::nullopt, std::nullopt)));
  CHECK(connack_code(read_packet(w)) == 0);
  std::filesystem::remove_all(dir);
}

namespace {

struct Certs {
  std::filesystem::path dir;
  std::string ca() const { return (dir / "ca.crt").string(); }
  std::string tls_lines() const {
    return "certfile " + (dir / "server.crt").string() + "\nkeyfile " +
           (dir / "server.key").string() + "\n";
  }
  explicit Certs(const std::string& tag)
      : dir(std::filesystem::temp_directory_path() /
            ("wisp-" + tag + "-" + std::to_string(::getpid()) + "-" +
             std::to_string(free_port()))) {
    REQUIRE(run_command({wisp_binary(), "cert", "dev", "--out", dir.string()}).exit_code == 0);
  }
  ~Certs() { std::filesystem::remove_all(dir); }
  // A client certificate with CN `cn`, signed by the dev CA (or self-signed if `rogue`).
  std::pair<std::string, std::string> client(const std::string& cn, bool rogue) const {
    const std::string base = cn + (rogue ? "-rogue" : "");
    const std::string key = (dir / (base + ".key")).string();
    const std::string crt = (dir / (base + ".crt")).string();
    if (rogue) {
      auto r = run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
                            "-days", "2", "-subj", "/CN=" + cn});
      REQUIRE_MESSAGE(r.exit_code == 0, r.err);
      return {crt, key};
    }
    const std::string csr = (dir / (base + ".csr")).string();
    auto r = run_command({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr,
                          "-subj", "/O=Wisp Test/CN=" + cn});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    r = run_command({"openssl", "x509", "-req", "-in", csr, "-CA", ca(), "-CAkey",
                     (dir / "ca.key").string(), "-CAcreateserial", "-out", crt, "-days", "2"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return {crt, key};
  }
};

}  // namespace

TEST_CASE("security: POST /api/v1/tickets over HTTPS, then MQTT.js over wss:// with ?ticket=") {
  Certs certs("tkapi");
  const auto pw = (certs.dir / "passwd").string();
  REQUIRE(run_command({wisp_binary(), "passwd", "-c", "-b", pw, "ann", "pw-ann"}).exit_code == 0);
  const auto secret = write_file(certs.dir / "secret", std::string(kSecret));
  BrokerOptions o;
  o.global = "allow_anonymous false\npassword_file " + pw + "\nticket_secret_file " + secret +
             "\nticket_lifetime 120\n";
  o.ws = certs.tls_lines();
  BrokerProcess b(o);
  REQUIRE(b.running());
  const std::string url = "https://localhost:" + std::to_string(b.ws_port) + "/api/v1/tickets";
  auto curl = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {"curl",           "-s",       "-o",      "-", "-w",
                                     "\n%{http_code}", "--cacert", certs.ca()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(url);
    return run_command(argv, 20s);
  };
  auto bad = curl({"-X", "POST", "-u", "ann:wrong"});
  CHECK(bad.out.ends_with("\n401"));
  auto get = curl({"-u", "ann:pw-ann"});
  CHECK(get.out.ends_with("\n405"));
  auto none = curl({"-X", "POST"});
  CHECK(none.out.ends_with("\n401"));
  auto good = curl({"-X", "POST", "-u", "ann:pw-ann"});
  REQUIRE_MESSAGE(good.out.ends_with("\n200"), good.out);
  CHECK(good.out.find("\"expires_in\":120") != std::string::npos);
  const auto start = good.out.find("\"ticket\":\"");
  REQUIRE(start != std::string::npos);
  const auto from = start + 10;
  const std::string t = good.out.substr(from, good.out.find('"', from) - from);
  CHECK(std::count(t.begin(), t.end(), '.') == 2);

  const std::string wss = "wss://localhost:" + std::to_string(b.ws_port) + "/mqtt?ticket=" + t;
  for (const char* version : {"4", "5"}) {
    CAPTURE(version);
    auto r =
        run_command({"node", clients_dir() + "/mqttjs_roundtrip.js", wss, wss, version, "1", "5"},
                    40s, {{"NODE_EXTRA_CA_CERTS", certs.ca()}});
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
  }
  // Without the ticket the same client is refused.
  const std::string plain = "wss://localhost:" + std::to_string(b.ws_port) + "/mqtt";
  auto refused =
      run_command({"node", clients_dir() + "/mqttjs_roundtrip.js", plain, plain, "5", "0", "1"},
                  40s, {{"NODE_EXTRA_CA_CERTS", certs.ca()}});
  CHECK(refused.exit_code != 0);
}

TEST_CASE("security: tickets not configured: no ticket endpoint") {
  BrokerProcess b;
  REQUIRE(b.running());
  auto c = TcpClient::connect(b.ws_port);
  REQUIRE(c);
  REQUIRE(
      c->send_all("POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
                  "YTpi\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
  auto r = c->read_some(5000ms);
  REQUIRE(r);
  const std::string head(r->begin(), r->end());
  CHECK(head.find(" 200 ") == std::string::npos);
  CHECK(head.find("ticket\"") == std::string::npos);
}

TEST_CASE("security: client certificates (require_certificate, use_identity_as_username)") {
  Certs certs("ccert");
  const auto [good_crt, good_key] = certs.client("device-7", false);
  const auto [rogue_crt, rogue_key] = certs.client("device-7", true);
  const auto acl = write_file(certs.dir / "acl", "user device-7\ntopic readwrite dev/#\n");
  BrokerOptions o;
  o.global = "acl_file " + acl + "\n";
  o.tcp = certs.tls_lines() + "cafile " + certs.ca() +
          "\nrequire_certificate true\nuse_identity_as_username true\nallow_anonymous false\n";
  BrokerProcess b(o);
  REQUIRE(b.running());
  auto tls_pub = [&](const std::string& topic, const std::vector<std::string>& cert) {
    std::vector<std::string> extra = {"--cafile", certs.ca(), "-h", "localhost"};
    extra.insert(extra.end(), cert.begin(), cert.end());
    return pub(b.tcp_port, topic, "from-cert", 1, 5, extra);
  };
  // No certificate, or one that does not chain to the CA: the handshake fails.
  CHECK(tls_pub("dev/a", {}).exit_code != 0);
  CHECK(tls_pub("dev/a", {"--cert", rogue_crt, "--key", rogue_key}).exit_code != 0);
  // The CA-signed certificate: CN "device-7" is the username the ACL grants dev/#.
  CHECK(tls_pub("dev/a", {"--cert", good_crt, "--key", good_key}).exit_code == 0);
  CHECK(b.wait_log("u'device-7'"));
}

TEST_CASE("security: TLS listeners: ALPN never h2, TLS 1.1 refused, tls_version tlsv1.3") {
  Certs certs("alpn");
  BrokerOptions o;
  o.tcp = certs.tls_lines() + "tls_version tlsv1.3\n";
  o.ws = certs.tls_lines();
  BrokerProcess b(o);
  REQUIRE(b.running());
  auto s_client = [&](std::uint16_t port, std::vector<std::string> extra) {
    std::vector<std::string> argv = {
        "openssl", "s_client", "-connect",    "127.0.0.1:" + std::to_string(port),
        "-CAfile", certs.ca(), "-servername", "localhost"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_command(argv, 20s, {}, "Q\n");
  };
  // The WSS listener offers http/1.1 only: a client preferring h2 gets http/1.1.
  auto alpn = s_client(b.ws_port, {"-alpn", "h2,http/1.1"});
  CHECK_MESSAGE(alpn.out.find("ALPN protocol: http/1.1") != std::string::npos, alpn.out);
  CHECK(alpn.out.find("ALPN protocol: h2") == std::string::npos);
  // TLS 1.2 minimum by default; 1.1 fails the handshake.
  auto v12 = s_client(b.ws_port, {"-tls1_2"});
  CHECK(v12.out.find("Protocol  : TLSv1.2") != std::string::npos);
  // (SECLEVEL=0 lets the client offer 1.1; the server answers "protocol version".)
  auto v11 = s_client(b.ws_port, {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"});
  CHECK_MESSAGE(v11.err.find("alert protocol version") != std::string::npos, v11.err);
  // tls_version tlsv1.3 on the MQTT listener: 1.2 refused, 1.3 accepted.
  auto only13 = s_client(b.tcp_port, {"-tls1_2"});
  CHECK(only13.out.find("Cipher is (NONE)") != std::string::npos);
  auto v13 = s_client(b.tcp_port, {"-tls1_3"});
  CHECK(v13.out.find("TLSv1.3") != std::string::npos);

  // A plaintext HTTP request or MQTT CONNECT on a TLS port gets no plaintext answer.
  for (std::uint16_t port : {b.ws_port, b.tcp_port}) {
    auto c = TcpClient::connect(port);
    REQUIRE(c);
    REQUIRE(c->send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    Bytes got;
    while (auto chunk = c->read_some(3000ms)) {
      if (chunk->empty()) break;  // closed
      got.insert(got.end(), chunk->begin(), chunk->end());
    }
    const std::string text(got.begin(), got.end());
    CHECK(text.find("HTTP/1.1") == std::string::npos);
    CHECK(text.find("ok") == std::string::npos);
    auto m = TcpClient::connect(port);
    REQUIRE(m);
    REQUIRE(m->send_all(mqtt_connect("plain", 4)));
    auto p = read_packet(*m, 3000ms);
    CHECK_FALSE((p && p->type() == 2));
  }
}

TEST_CASE("security: a bad certificate stops the startup with the file named") {
  Certs certs("badcert");
  // The key of another certificate: does not match.
  auto other = certs.client("someone", true);
  const auto conf = write_file(certs.dir / "wisp.conf",
                               "persistence false\nlistener " + std::to_string(free_port()) +
                                   " 127.0.0.1\ncertfile " + (certs.dir / "server.crt").string() +
                                   "\nkeyfile " + other.second + "\n");
  auto r = run_command({wisp_binary(), "-c", conf}, 20s);
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(
      r.err.find("keyfile " + other.second + ": private key does not match") != std::string::npos,
      r.err);
}

TEST_CASE("security: certificates reload when the files are replaced; open connections stay") {
  Certs first("reload-a");
  Certs second("reload-b");
  const auto live = first.dir / "live";
  std::filesystem::create_directories(live);
  std::filesystem::copy_file(first.dir / "server.crt", live / "server.crt");
  std::filesystem::copy_file(first.dir / "server.key", live / "server.key");
  BrokerOptions o;
  o.tcp = "certfile " + (live / "server.crt").string() + "\nkeyfile " +
          (live / "server.key").string() + "\n";
  BrokerProcess b(o);
  REQUIRE(b.running());
  auto fingerprint_served = [&] {
    auto r =
        run_command({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(b.tcp_port)},
                    20s, {}, "Q\n");
    const auto begin = r.out.find("-----BEGIN CERTIFICATE-----");
    const auto end = r.out.find("-----END CERTIFICATE-----");
    return begin == std::string::npos || end == std::string::npos
               ? std::string()
               : r.out.substr(begin, end - begin);
  };
  auto pem_body = [](const std::filesystem::path& p) {
    std::ifstream in(p);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    const auto end = text.find("-----END CERTIFICATE-----");
    return text.substr(0, end);
  };
  CHECK(fingerprint_served() == pem_body(first.dir / "server.crt"));
  const std::vector<std::string> ca_a = {"--cafile", first.ca(), "-h", "localhost"};
  const std::vector<std::string> ca_b = {"--cafile", second.ca(), "-h", "localhost"};
  auto sub = std::make_unique<Process>(std::vector<std::string>{
      "mosquitto_sub", "-h", "localhost", "-p", std::to_string(b.tcp_port), "--cafile", first.ca(),
      "-V", "mqttv5", "-q", "1", "-v", "-t", "renew/#"});
  REQUIRE(sub->started());
  bool subscribed = false;  // probe until the subscription answers (bounded)
  for (int i = 0; i < 50 && !subscribed && !sub->exited(); ++i) {
    pub(b.tcp_port, "renew/probe", "probe", 0, 5, ca_a);
    subscribed = sub->wait_line_containing("renew/probe probe", 200ms).has_value();
  }
  REQUIRE(subscribed);
  // Like an ACME client: write new files next to the old ones, rename over them.
  std::filesystem::copy_file(second.dir / "server.key", live / "server.key.new");
  std::filesystem::copy_file(second.dir / "server.crt", live / "server.crt.new");
  std::filesystem::rename(live / "server.key.new", live / "server.key");
  std::filesystem::rename(live / "server.crt.new", live / "server.crt");
  REQUIRE(b.wait_log("certificate reloaded"));
  CHECK(fingerprint_served() == pem_body(second.dir / "server.crt"));
  CHECK(pub(b.tcp_port, "renew/t", "old-ca", 1, 5, ca_a).exit_code != 0);
  REQUIRE(pub(b.tcp_port, "renew/t", "after-renewal", 1, 5, ca_b).exit_code == 0);
  // The subscriber connected with the old certificate is still there and gets it.
  auto line = sub->wait_line_containing("after-renewal", 10s, false);
  CHECK(line.has_value());
}

TEST_CASE("security: crlfile: a revoked client certificate is refused") {
  Certs certs("crl");
  const auto [ok_crt, ok_key] = certs.client("fine", false);
  const auto [bad_crt, bad_key] = certs.client("revoked", false);
  const auto cnf = write_file(
      certs.dir / "ca.cnf", "[ca]\ndefault_ca=d\n[d]\ndatabase=" + (certs.dir / "index").string() +
                                "\ncrlnumber=" + (certs.dir / "crlnumber").string() +
                                "\ndefault_md=sha256\ndefault_crl_days=2\n");
  write_file(certs.dir / "index", "");
  write_file(certs.dir / "crlnumber", "01\n");
  const std::vector<std::string> ca_args = {
      "-config", cnf, "-keyfile", (certs.dir / "ca.key").string(), "-cert", certs.ca()};
  auto revoke = ca_args;
  revoke.insert(revoke.begin(), {"openssl", "ca"});
  revoke.insert(revoke.end(), {"-revoke", bad_crt});
  REQUIRE_MESSAGE(run_command(revoke).exit_code == 0, run_command(revoke).err);
  const auto crl = (certs.dir / "crl.pem").string();
  auto gen = ca_args;
  gen.insert(gen.begin(), {"openssl", "ca"});
  gen.insert(gen.end(), {"-gencrl", "-out", crl});
  REQUIRE(run_command(gen).exit_code == 0);

  BrokerOptions o;
  o.tcp = certs.tls_lines() + "cafile " + certs.ca() + "\ncrlfile " + crl +
          "\nrequire_certificate true\n";
  o.ws_listener = false;
  BrokerProcess b(o);
  REQUIRE(b.running());
  auto tls_pub = [&](const std::string& crt, const std::string& key) {
    return pub(b.tcp_port, "crl/t", "x", 1, 5,
               {"--cafile", certs.ca(), "-h", "localhost", "--cert", crt, "--key", key});
  };
  CHECK(tls_pub(ok_crt, ok_key).exit_code == 0);
  CHECK(tls_pub(bad_crt, bad_key).exit_code != 0);

  // A CRL file that does not parse: the listener does not start.
  const auto junk = write_file(certs.dir / "junk.pem", "not a CRL\n");
  const auto conf =
      write_file(certs.dir / "wisp.conf",
                 "persistence false\nlistener " + std::to_string(free_port()) + " 127.0.0.1\n" +
                     certs.tls_lines() + "cafile " + certs.ca() + "\ncrlfile " + junk + "\n");
  auto r = run_command({wisp_binary(), "-c", conf}, 20s);
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.err.find("crlfile " + junk) != std::string::npos, r.err);
}
