// SCRAM enhanced authentication end to end through the engine: real core::Broker and
// core::Connection with Security installed as the Authenticator/Authorizer, MQTT 5 packets
// encoded with the protocol encoder, the broker's output decoded with protocol::Decoder, the
// client side computed by tls::ScramClient. No sockets: a small in-test Peer collects output.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/core/broker.h"
#include "broker/core/broker_config.h"
#include "broker/core/connection.h"
#include "broker/core/peer.h"
#include "broker/security/security.h"
#include "protocol/decoder.h"
#include "protocol/encoder.h"
#include "protocol/packets.h"
#include "tests/security/fake_clock.h"
#include "tests/tls/test_util.h"
#include "tls/scram.h"

using namespace std::chrono_literals;
using broker::core::Broker;
using broker::core::BrokerConfig;
using broker::core::Connection;
using broker::core::ConnectionInfo;
using broker::core::ListenerPolicy;
using broker::security::Security;
using broker::security::SecurityConfig;
using protocol::PacketType;
using protocol::ProtocolVersion;
using protocol::ReasonCode;
using Bytes = std::vector<std::uint8_t>;

namespace {

// mosquitto_passwd 2.0.11: alice / secret ($7$, 101 iterations), bob / hunter2 ($6$).
const std::string kPasswords =
    "alice:$7$101$AKWeCOSnFEMRHni9$6AeaTAwiRDm5fFrY64G7cEsijFzB8iPCMX4F6Y06KKGdnAdWHIqX9y+"
    "dCGzsiO12xAf+Qet+VYEbzuaCdXuyZg==\n"
    "bob:$6$fLUtiz8XIZkg2w82$1aQJXj7wnIroUCN6F4DwTtKpdf80G2dt69by9XNslRE0ClxayCcHT0ScsoDYD3/"
    "rwgznTKkOxFbT9Z88Xh/VHg==\n";
const std::string kAcl =
    "user dev1\n"
    "topic readwrite dev1/#\n"
    "user dev2\n"
    "topic readwrite dev2/#\n"
    "user alice\n"
    "topic readwrite alice/#\n";

protocol::ByteSpan span_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// What the broker sent, copied out of the decoder's borrowed views.
struct Received {
  PacketType type{};
  ReasonCode reason = ReasonCode::success;
  std::optional<std::string> auth_method;
  std::optional<std::string> auth_data;
  std::optional<std::string> reason_string;
  std::vector<ReasonCode> suback;
};

Received copy_out(const protocol::Packet& p) {
  Received r;
  r.type = protocol::type_of(p);
  auto take = [&r](const protocol::Properties& pr) {
    if (pr.reason_string) r.reason_string = std::string(*pr.reason_string);
    if (pr.authentication_method) r.auth_method = std::string(*pr.authentication_method);
    if (pr.authentication_data) {
      r.auth_data = std::string(pr.authentication_data->begin(), pr.authentication_data->end());
    }
  };
  if (const auto* a = std::get_if<protocol::ConnAck>(&p)) {
    r.reason = a->reason;
    take(a->properties);
  } else if (const auto* au = std::get_if<protocol::Auth>(&p)) {
    r.reason = au->reason;
    take(au->properties);
  } else if (const auto* d = std::get_if<protocol::Disconnect>(&p)) {
    r.reason = d->reason;
    take(d->properties);
  } else if (const auto* s = std::get_if<protocol::SubAck>(&p)) {
    r.suback = s->reasons;
  }
  return r;
}

// The transport side of one connection: records what the engine asks of the socket.
class CollectingPeer final : public broker::core::Peer {
 public:
  void want_write() noexcept override { ++writes_wanted; }
  void close(ReasonCode why) noexcept override { close_reason = why; }
  void pause_reading(bool p) noexcept override { paused = p; }
  int writes_wanted = 0;
  std::optional<ReasonCode> close_reason;
  bool paused = false;
};

// One MQTT 5 client on the engine: sends encoded packets (in `chunk`-byte pieces), decodes
// every byte the write pump hands out.
class EngineClient {
 public:
  EngineClient(Broker& broker, const ListenerPolicy& listener, std::string address) : decoder_() {
    decoder_.set_version(ProtocolVersion::v5);
    ConnectionInfo info;
    info.remote_address = std::move(address);
    info.listener = &listener;
    conn_ = std::make_unique<Connection>(broker, peer_, std::move(info));
  }
  ~EngineClient() {
    if (!closed_) conn_->on_closed();
  }
  EngineClient(const EngineClient&) = delete;
  EngineClient& operator=(const EngineClient&) = delete;

  void send(const protocol::Packet& p, std::size_t chunk = 4096) {
    const Bytes wire = protocol::encode_to_vector(p, ProtocolVersion::v5);
    for (std::size_t at = 0; at < wire.size(); at += chunk) {
      const std::size_t n = std::min(chunk, wire.size() - at);
      conn_->on_bytes(protocol::ByteSpan(wire).subspan(at, n));
    }
  }
  void connect(const std::string& method, const std::string& data,
               std::optional<std::string> username = std::nullopt, std::size_t chunk = 4096) {
    protocol::Connect c;
    c.version = ProtocolVersion::v5;
    c.client_id = client_id;
    c.clean_start = true;
    if (username) c.username = *username;
    c.properties.authentication_method = method;
    c.properties.authentication_data = span_of(data);
    send(c, chunk);
  }
  void auth(ReasonCode rc, const std::string& method, const std::string& data) {
    protocol::Auth a;
    a.reason = rc;
    a.properties.authentication_method = method;
    a.properties.authentication_data = span_of(data);
    send(a);
  }

  // Next packet from the broker, or nullopt when nothing is queued.
  std::optional<Received> next() {
    for (int guard = 0; guard < 100000 && conn_->has_output(); ++guard) {
      std::uint8_t buf[13];  // small: packets get sliced across fill_output() calls
      const std::size_t n = conn_->fill_output(buf);
      if (n == 0) break;
      out_.insert(out_.end(), buf, buf + n);
    }
    protocol::ByteSpan in(out_.data() + pos_, out_.size() - pos_);
    const std::size_t before = in.size();
    auto step = decoder_.next(in);
    pos_ += before - in.size();
    if (auto* e = std::get_if<protocol::DecodeError>(&step)) {
      FAIL("broker sent an undecodable packet: " << std::string(e->detail));
    }
    if (auto* p = std::get_if<protocol::Packet>(&step)) return copy_out(*p);
    return std::nullopt;
  }
  Received expect(PacketType type) {
    auto r = next();
    REQUIRE_MESSAGE(r.has_value(), "expected a packet from the broker, got nothing");
    REQUIRE_MESSAGE(r->type == type, "got packet type " << protocol::to_string(r->type));
    return *r;
  }
  std::vector<ReasonCode> subscribe(std::string_view filter) {
    protocol::Subscribe s;
    s.id = 9;
    protocol::SubscribeOptions o;
    o.qos = protocol::QoS::at_least_once;
    s.subscriptions.push_back({filter, o});
    send(s);
    return expect(PacketType::suback).suback;
  }

  std::string client_id = "scram-client";
  CollectingPeer& peer() { return peer_; }

 private:
  CollectingPeer peer_;
  std::unique_ptr<Connection> conn_;
  protocol::Decoder decoder_;
  Bytes out_;
  std::size_t pos_ = 0;
  bool closed_ = false;
};

std::string text(const std::optional<std::string>& s) { return s.value_or(std::string()); }

struct Setup {
  test_util::TempDir dir;
  test_util::FakeClock clock;
  ListenerPolicy listener{"tcp:1883", false, true, 0, std::nullopt};  // no anonymous clients
  std::unique_ptr<Security> security;
  std::unique_ptr<Broker> broker;

  explicit Setup(double burst = 10) {
    // SCRAM-SHA-256 verifiers for dev1 / pw1 and dev2 / pw2 (what `wisp passwd
    // --scram-sha-256` writes).
    std::string scram;
    const std::string salt = "0123456789abcdef";
    for (auto [user, pw] : {std::pair{"dev1", "pw1"}, std::pair{"dev2", "pw2"}}) {
      auto cred = tls::scram_credential(tls::ScramHash::sha256, pw, span_of(salt + user), 4096);
      REQUIRE(cred);
      scram += std::string(user) + ":" + tls::format_scram_verifier(*cred) + "\n";
    }
    test_util::write_file(dir.file("scram"), scram);
    test_util::write_file(dir.file("pw"), kPasswords);
    test_util::write_file(dir.file("acl"), kAcl);
    SecurityConfig c;
    c.scram_file = dir.file("scram");
    c.password_file = dir.file("pw");
    c.acl_file = dir.file("acl");
    c.subscribe_check = broker::security::SubscribeCheck::strict;  // refuse at SUBSCRIBE
    c.rate_limit = {burst, 60s, 100};
    auto s = Security::create(c, clock);
    REQUIRE_MESSAGE(s, (s ? "" : s.error().message));
    security = std::move(s).value();
    BrokerConfig bc;
    bc.sys_interval = std::chrono::seconds(0);
    broker = std::make_unique<Broker>(std::move(bc), clock);
    broker->set_authenticator(security.get());
    broker->set_authorizer(security.get());
  }

  std::unique_ptr<EngineClient> client(std::string address = "10.0.0.1:4000") {
    return std::make_unique<EngineClient>(*broker, listener, std::move(address));
  }
};

// CONNECT with `method` + client-first, the AUTH 0x18 challenge, AUTH 0x18 client-final.
// Returns the broker's answer to the client-final (CONNACK, or whatever came instead).
Received scram_connect(EngineClient& c, const char* method, tls::ScramHash hash,
                       const std::string& user, const std::string& password,
                       tls::ScramClient* keep = nullptr, std::size_t chunk = 4096) {
  tls::ScramClient local(hash, user, password);
  tls::ScramClient& sc = keep != nullptr ? *keep : local;
  c.connect(method, sc.client_first(), std::nullopt, chunk);
  auto first = c.next();
  REQUIRE(first);
  if (first->type != PacketType::auth) return *first;
  CHECK(first->reason == ReasonCode::continue_authentication);
  CHECK(text(first->auth_method) == method);
  auto final_msg = sc.client_final(text(first->auth_data));
  REQUIRE(final_msg);
  c.auth(ReasonCode::continue_authentication, method, *final_msg);
  auto answer = c.next();
  REQUIRE(answer);
  return *answer;
}

}  // namespace

TEST_CASE("engine SCRAM-SHA-256: CONNECT, AUTH challenge, AUTH response, CONNACK success") {
  Setup s;
  auto c = s.client();
  tls::ScramClient sc(tls::ScramHash::sha256, "dev1", "pw1");
  // Byte by byte: the CONNECT with its auth properties survives any read split.
  auto ack = scram_connect(*c, "SCRAM-SHA-256", tls::ScramHash::sha256, "dev1", "pw1", &sc, 1);
  REQUIRE(ack.type == PacketType::connack);
  CHECK(ack.reason == ReasonCode::success);
  CHECK(text(ack.auth_method) == "SCRAM-SHA-256");
  // server-final in the CONNACK: the client authenticates the server too.
  CHECK(sc.verify_server_final(text(ack.auth_data)));
  CHECK_FALSE(c->peer().close_reason);
  // The session's identity is the SCRAM user: the ACL for dev1 applies.
  CHECK(c->subscribe("dev1/#") == std::vector{ReasonCode::granted_qos_1});
  CHECK(c->subscribe("dev2/#") == std::vector{ReasonCode::not_authorized});
  CHECK(s.broker->stats().clients_connected == 1);
}

TEST_CASE("engine SCRAM-SHA-512 against $7$ password_file entries") {
  Setup s;
  auto c = s.client();
  tls::ScramClient sc(tls::ScramHash::sha512, "alice", "secret");
  auto ack = scram_connect(*c, "SCRAM-SHA-512", tls::ScramHash::sha512, "alice", "secret", &sc);
  REQUIRE(ack.type == PacketType::connack);
  CHECK(ack.reason == ReasonCode::success);
  CHECK(sc.verify_server_final(text(ack.auth_data)));
  CHECK(c->subscribe("alice/x") == std::vector{ReasonCode::granted_qos_1});
  // bob has a $6$ hash: no SCRAM-SHA-512 credential, fails only at the proof.
  auto b = s.client("10.0.0.2:1");
  b->client_id = "bob-client";
  auto nack = scram_connect(*b, "SCRAM-SHA-512", tls::ScramHash::sha512, "bob", "hunter2");
  REQUIRE(nack.type == PacketType::connack);
  CHECK(nack.reason == ReasonCode::bad_user_name_or_password);
}

TEST_CASE("engine SCRAM: wrong password and unknown user -> CONNACK 0x86, connection closed") {
  Setup s;
  std::vector<std::string> said;  // reason strings, with the user name blanked
  for (auto [user, pw] : {std::pair{"dev1", "wrong"}, std::pair{"ghost", "pw1"}}) {
    const std::string name = user;
    CAPTURE(name);
    auto c = s.client();
    tls::ScramClient sc(tls::ScramHash::sha256, user, pw);
    auto ack = scram_connect(*c, "SCRAM-SHA-256", tls::ScramHash::sha256, user, pw, &sc);
    REQUIRE(ack.type == PacketType::connack);
    CHECK(ack.reason == ReasonCode::bad_user_name_or_password);
    CHECK_FALSE(ack.auth_data);  // no server-final for a failed proof
    CHECK(c->peer().close_reason.has_value());
    CHECK_FALSE(c->next());
    std::string why = text(ack.reason_string);
    if (auto at = why.find(name); at != std::string::npos) why.replace(at, name.size(), "?");
    said.push_back(why);
  }
  // An unknown user is told exactly what a known one with a wrong password is told.
  CHECK(said[0] == said[1]);
  CHECK(s.broker->stats().clients_connected == 0);
}

TEST_CASE("engine SCRAM: unsupported methods -> CONNACK 0x8C; malformed client-first -> 0x87") {
  Setup s;
  for (const char* method : {"SCRAM-SHA-1", "PLAIN", "scram-sha-256x"}) {
    const std::string m = method;
    CAPTURE(m);
    auto c = s.client();
    c->connect(method, "n,,n=dev1,r=abc");
    auto ack = c->expect(PacketType::connack);
    CHECK(ack.reason == ReasonCode::bad_authentication_method);
    CHECK(c->peer().close_reason.has_value());
  }
  {
    auto c = s.client();
    c->connect("SCRAM-SHA-256", "not a scram message");
    CHECK(c->expect(PacketType::connack).reason == ReasonCode::not_authorized);
  }
  {
    // A CONNECT User Name that is not the SCRAM user.
    auto c = s.client();
    tls::ScramClient sc(tls::ScramHash::sha256, "dev1", "pw1");
    c->connect("SCRAM-SHA-256", sc.client_first(), std::string("dev2"));
    CHECK(c->expect(PacketType::connack).reason == ReasonCode::not_authorized);
  }
  {
    // An AUTH naming another method than the CONNECT's is a protocol error [MQTT-4.12.0-5].
    auto c = s.client();
    tls::ScramClient sc(tls::ScramHash::sha256, "dev1", "pw1");
    c->connect("SCRAM-SHA-256", sc.client_first());
    auto challenge = c->expect(PacketType::auth);
    auto final_msg = sc.client_final(text(challenge.auth_data));
    REQUIRE(final_msg);
    c->auth(ReasonCode::continue_authentication, "SCRAM-SHA-512", *final_msg);
    CHECK(c->expect(PacketType::connack).reason == ReasonCode::protocol_error);
  }
}

TEST_CASE("engine SCRAM: the methods offered follow the configured credential stores") {
  test_util::FakeClock clock;
  test_util::TempDir dir;
  test_util::write_file(dir.file("pw"), kPasswords);
  SecurityConfig c;
  c.password_file = dir.file("pw");
  auto sec = Security::create(c, clock);
  REQUIRE(sec);
  Broker broker(BrokerConfig{}, clock);
  broker.set_authenticator(sec->get());
  ListenerPolicy listener{"tcp:1883", false, true, 0, std::nullopt};
  {
    EngineClient a(broker, listener, "10.0.0.1:1");
    a.connect("SCRAM-SHA-256",
              tls::ScramClient(tls::ScramHash::sha256, "alice", "x").client_first());
    CHECK(a.expect(PacketType::connack).reason == ReasonCode::bad_authentication_method);
    EngineClient b(broker, listener, "10.0.0.1:2");
    b.client_id = "b";
    auto ack = scram_connect(b, "SCRAM-SHA-512", tls::ScramHash::sha512, "alice", "secret");
    CHECK(ack.reason == ReasonCode::success);
  }
}

TEST_CASE("engine SCRAM: failed proofs are rate limited per address (0x9F), others unaffected") {
  Setup s(3);  // three failures back to back, then blocked
  for (int i = 0; i < 3; ++i) {
    auto c = s.client("10.0.0.5:" + std::to_string(1000 + i));
    auto ack = scram_connect(*c, "SCRAM-SHA-256", tls::ScramHash::sha256, "dev1", "guess");
    CHECK(ack.reason == ReasonCode::bad_user_name_or_password);
  }
  {
    // Blocked at the CONNECT: not even a challenge, the right password does not help.
    auto c = s.client("10.0.0.5:2000");
    auto ack = scram_connect(*c, "SCRAM-SHA-256", tls::ScramHash::sha256, "dev1", "pw1");
    REQUIRE(ack.type == PacketType::connack);
    CHECK(ack.reason == ReasonCode::connection_rate_exceeded);
  }
  {
    auto other = s.client("10.0.0.6:1");
    auto ack = scram_connect(*other, "SCRAM-SHA-256", tls::ScramHash::sha256, "dev1", "pw1");
    CHECK(ack.reason == ReasonCode::success);
  }
  // The bucket refills with time (one failure per 60 s).
  s.clock.advance(60s);
  auto later = s.client("10.0.0.5:3000");
  later->client_id = "later";
  CHECK(scram_connect(*later, "SCRAM-SHA-256", tls::ScramHash::sha256, "dev1", "pw1").reason ==
        ReasonCode::success);
}

TEST_CASE("engine SCRAM: exchanges opened before the block do not get extra guesses") {
  Setup s(2);
  // An attacker opens an exchange, then burns the address's budget on other connections.
  auto early = s.client("10.0.0.7:1");
  early->client_id = "early";
  tls::ScramClient sc(tls::ScramHash::sha256, "dev1", "pw1");
  early->connect("SCRAM-SHA-256", sc.client_first());
  auto challenge = early->expect(PacketType::auth);
  for (int i = 0; i < 2; ++i) {
    auto c = s.client("10.0.0.7:" + std::to_string(10 + i));
    CHECK(scram_connect(*c, "SCRAM-SHA-256", tls::ScramHash::sha256, "dev1", "x").reason ==
          ReasonCode::bad_user_name_or_password);
  }
  auto final_msg = sc.client_final(text(challenge.auth_data));
  REQUIRE(final_msg);
  early->auth(ReasonCode::continue_authentication, "SCRAM-SHA-256", *final_msg);
  CHECK(early->expect(PacketType::connack).reason == ReasonCode::connection_rate_exceeded);
}

TEST_CASE("engine SCRAM re-authentication: AUTH 0x19, challenge, AUTH 0x00; failures disconnect") {
  Setup s;
  auto c = s.client();
  REQUIRE(scram_connect(*c, "SCRAM-SHA-256", tls::ScramHash::sha256, "dev1", "pw1").reason ==
          ReasonCode::success);

  SUBCASE("right password: AUTH success with server-final, session keeps working") {
    for (int round = 0; round < 2; ++round) {
      tls::ScramClient sc(tls::ScramHash::sha256, "dev1", "pw1");
      c->auth(ReasonCode::re_authenticate, "SCRAM-SHA-256", sc.client_first());
      auto challenge = c->expect(PacketType::auth);
      CHECK(challenge.reason == ReasonCode::continue_authentication);
      auto final_msg = sc.client_final(text(challenge.auth_data));
      REQUIRE(final_msg);
      c->auth(ReasonCode::continue_authentication, "SCRAM-SHA-256", *final_msg);
      auto done = c->expect(PacketType::auth);
      CHECK(done.reason == ReasonCode::success);
      CHECK(text(done.auth_method) == "SCRAM-SHA-256");
      CHECK(sc.verify_server_final(text(done.auth_data)));
      CHECK_FALSE(c->peer().close_reason);
    }
    CHECK(c->subscribe("dev1/a") == std::vector{ReasonCode::granted_qos_1});
  }
  SUBCASE("wrong password: the connection is closed, the failure counted") {
    const double budget = s.security->rate_limiter().remaining("10.0.0.1:4000");
    tls::ScramClient sc(tls::ScramHash::sha256, "dev1", "nope");
    c->auth(ReasonCode::re_authenticate, "SCRAM-SHA-256", sc.client_first());
    auto challenge = c->expect(PacketType::auth);
    auto final_msg = sc.client_final(text(challenge.auth_data));
    REQUIRE(final_msg);
    c->auth(ReasonCode::continue_authentication, "SCRAM-SHA-256", *final_msg);
    CHECK(c->peer().close_reason.has_value());
    CHECK(s.security->rate_limiter().remaining("10.0.0.1:4000") == doctest::Approx(budget - 1));
    // What the client is told is checked in the test case below.
  }
  SUBCASE("another user's valid credentials: DISCONNECT 0x87, identity unchanged") {
    tls::ScramClient sc(tls::ScramHash::sha256, "dev2", "pw2");
    c->auth(ReasonCode::re_authenticate, "SCRAM-SHA-256", sc.client_first());
    CHECK(c->expect(PacketType::disconnect).reason == ReasonCode::not_authorized);
    CHECK(c->peer().close_reason.has_value());
  }
  SUBCASE("AUTH continue out of any exchange is a protocol error") {
    c->auth(ReasonCode::continue_authentication, "SCRAM-SHA-256", "c=biws,r=x,p=AAAA");
    CHECK(c->expect(PacketType::disconnect).reason == ReasonCode::protocol_error);
  }
}

// [MQTT-3.14.2.1] DISCONNECT has its own reason code list: 0x86 (a wrong SCRAM proof at CONNECT)
// is not in it, so after a failed re-authentication the client gets 0x87 (protocol's
// disconnect_for() maps it).
TEST_CASE("engine SCRAM re-authentication with a wrong proof: DISCONNECT 0x87") {
  Setup s;
  auto c = s.client();
  REQUIRE(scram_connect(*c, "SCRAM-SHA-256", tls::ScramHash::sha256, "dev1", "pw1").reason ==
          ReasonCode::success);
  tls::ScramClient sc(tls::ScramHash::sha256, "dev1", "nope");
  c->auth(ReasonCode::re_authenticate, "SCRAM-SHA-256", sc.client_first());
  auto challenge = c->expect(PacketType::auth);
  auto final_msg = sc.client_final(text(challenge.auth_data));
  REQUIRE(final_msg);
  c->auth(ReasonCode::continue_authentication, "SCRAM-SHA-256", *final_msg);
  CHECK(c->expect(PacketType::disconnect).reason == ReasonCode::not_authorized);
}

TEST_CASE("Security::continue_auth refuses an exchange it did not create") {
  Setup s;
  struct Foreign final : broker::core::AuthExchange {};
  Foreign f;
  const std::string data = "c=biws,r=x,p=AAAA";
  auto step = s.security->continue_auth(f, span_of(data));
  CHECK(step.decision.reason == ReasonCode::unspecified_error);
  CHECK(step.auth_data.empty());
}
