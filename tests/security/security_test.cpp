// Security: authentication (password file, tickets, anonymous per listener, rate limit),
// authorization (ACL file vs ticket grants, $SYS), reload keeping the old state on error,
// and ticket issuing.
#include "broker/security/security.h"

#include <doctest/doctest.h>

#include "broker/core/broker_config.h"
#include "tests/security/fake_clock.h"
#include "tests/tls/test_util.h"
#include "tls/jwt.h"
#include "tls/password_file.h"
#include "tls/scram.h"

using namespace std::chrono_literals;
using broker::core::Access;
using broker::core::AuthDecision;
using broker::core::AuthRequest;
using broker::core::ClientIdentity;
using broker::core::ListenerPolicy;
using broker::security::Security;
using broker::security::SecurityConfig;
using broker::security::TicketConfig;
using protocol::ReasonCode;
using test_util::TempDir;

namespace {

// mosquitto_passwd 2.0.11: alice / secret ($7$, 101 iterations), bob / hunter2 ($6$).
const std::string kPasswords =
    "alice:$7$101$AKWeCOSnFEMRHni9$6AeaTAwiRDm5fFrY64G7cEsijFzB8iPCMX4F6Y06KKGdnAdWHIqX9y+"
    "dCGzsiO12xAf+Qet+VYEbzuaCdXuyZg==\n"
    "bob:$6$fLUtiz8XIZkg2w82$1aQJXj7wnIroUCN6F4DwTtKpdf80G2dt69by9XNslRE0ClxayCcHT0ScsoDYD3/"
    "rwgznTKkOxFbT9Z88Xh/VHg==\n";
const std::string kAcl =
    "topic read public/#\n"
    "user alice\n"
    "topic readwrite alice/#\n"
    "pattern readwrite devices/%c/#\n";
const std::string kSecret = "a-ticket-secret-of-at-least-32-bytes!!";

struct Fixture {
  TempDir dir;
  test_util::FakeClock clock;
  ListenerPolicy open{"tcp:1883", true, true, 0, std::nullopt};
  ListenerPolicy closed{"tcp:8883", false, false, 0, std::nullopt};
  SecurityConfig config;
  std::unique_ptr<Security> sec;

  explicit Fixture(bool tickets = true) {
    test_util::write_file(dir.file("pw"), kPasswords);
    test_util::write_file(dir.file("acl"), kAcl);
    test_util::write_file(dir.file("secret"), kSecret + "\n");
    config.password_file = dir.file("pw");
    config.acl_file = dir.file("acl");
    if (tickets) {
      TicketConfig t;
      t.secret_file = dir.file("secret");
      t.audience = "wisp";
      config.tickets = t;
    }
    config.rate_limit = {5, 60s, 100};
    auto s = Security::create(config, clock);
    REQUIRE_MESSAGE(s, (s ? "" : s.error().message));
    sec = std::move(s).value();
  }

  AuthDecision login(std::optional<std::string_view> user, std::optional<std::string> pass,
                     const ListenerPolicy* listener, std::string_view addr = "10.0.0.1:4000",
                     std::optional<std::string_view> ticket = std::nullopt) {
    AuthRequest r;
    r.client_id = "client-1";
    r.username = user;
    if (pass) {
      password_storage = *pass;
      r.password = protocol::ByteSpan(
          reinterpret_cast<const std::uint8_t*>(password_storage.data()), password_storage.size());
    }
    r.remote_address = addr;
    r.listener = listener;
    r.ticket = ticket;
    return sec->authenticate(r);
  }

  std::string ticket(const std::string& extra_claims, std::chrono::seconds ttl = 300s) {
    const auto exp =
        std::chrono::duration_cast<std::chrono::seconds>((clock.now() + ttl).time_since_epoch())
            .count();
    auto t = tls::sign_jwt(
        R"({"sub":"tom","aud":"wisp","exp":)" + std::to_string(exp) + extra_claims + "}",
        tls::JwtAlg::hs256, kSecret);
    REQUIRE(t);
    return *t;
  }

  std::string password_storage;
};

}  // namespace

TEST_CASE("password file logins: good, bad, unknown, missing password") {
  Fixture f;
  auto ok = f.login("alice", "secret", &f.closed);
  CHECK(ok.reason == ReasonCode::success);
  CHECK(ok.username == "alice");
  CHECK_FALSE(ok.expires);
  CHECK(f.login("bob", "hunter2", &f.closed).reason == ReasonCode::success);
  auto bad = f.login("alice", "wrong", &f.closed);
  CHECK(bad.reason == ReasonCode::bad_user_name_or_password);
  CHECK(bad.log_detail.find("10.0.0.1:4000") != std::string::npos);
  CHECK(bad.log_detail.find("client-1") != std::string::npos);
  CHECK(f.login("mallory", "secret", &f.open).reason == ReasonCode::bad_user_name_or_password);
  CHECK(f.login("alice", std::nullopt, &f.open).reason == ReasonCode::bad_user_name_or_password);
}

TEST_CASE("anonymous access follows the listener policy") {
  Fixture f;
  auto anon = f.login(std::nullopt, std::nullopt, &f.open);
  CHECK(anon.reason == ReasonCode::success);
  CHECK_FALSE(anon.username);
  CHECK(f.login(std::nullopt, std::nullopt, &f.closed).reason == ReasonCode::not_authorized);
  CHECK(f.login(std::nullopt, std::nullopt, nullptr).reason == ReasonCode::not_authorized);
}

TEST_CASE("without a password file a username is only a label") {
  test_util::FakeClock clock;
  SecurityConfig c;
  auto s = Security::create(c, clock);
  REQUIRE(s);
  ListenerPolicy open{"x", true, true, 0, std::nullopt};
  ListenerPolicy closed{"y", false, true, 0, std::nullopt};
  AuthRequest r;
  r.client_id = "c";
  r.username = "anyone";
  r.listener = &open;
  auto d = (*s)->authenticate(r);
  CHECK(d.reason == ReasonCode::success);
  CHECK(d.username == "anyone");
  r.listener = &closed;
  CHECK((*s)->authenticate(r).reason == ReasonCode::not_authorized);
  // No ACL file: everything but $SYS writes.
  ClientIdentity who{"c", std::nullopt, nullptr};
  CHECK((*s)->allowed(who, "any/topic", Access::write));
  CHECK((*s)->allowed(who, "$SYS/broker/uptime", Access::read));
  CHECK_FALSE((*s)->allowed(who, "$SYS/broker/uptime", Access::write));
}

TEST_CASE("failed logins are rate limited per address, on the fake clock") {
  Fixture f;
  for (int i = 0; i < 5; ++i) {
    CHECK(f.login("alice", "guess" + std::to_string(i), &f.closed).reason ==
          ReasonCode::bad_user_name_or_password);
  }
  // Even the right password is refused now, from that address only.
  auto blocked = f.login("alice", "secret", &f.closed);
  CHECK(blocked.reason == ReasonCode::connection_rate_exceeded);
  CHECK(blocked.log_detail.find("too many failed logins") != std::string::npos);
  CHECK(f.login("alice", "secret", &f.closed, "10.0.0.2:4000").reason == ReasonCode::success);
  f.clock.advance(60s);
  CHECK(f.login("alice", "secret", &f.closed).reason == ReasonCode::success);
  // Successful logins and anonymous refusals do not use up the budget.
  for (int i = 0; i < 20; ++i) {
    CHECK(f.login(std::nullopt, std::nullopt, &f.closed, "10.0.0.3:1").reason ==
          ReasonCode::not_authorized);
  }
  CHECK(f.login("alice", "secret", &f.closed, "10.0.0.3:1").reason == ReasonCode::success);
}

TEST_CASE("tickets as MQTT password and from the WebSocket upgrade") {
  Fixture f;
  const std::string t = f.ticket(R"(,"publish":["tom/out"],"subscribe":["tom/in/#"])");
  auto d = f.login("ignored", t, &f.closed);
  REQUIRE(d.reason == ReasonCode::success);
  CHECK(d.username == "tom");  // the ticket's subject, not the CONNECT username
  REQUIRE(d.expires);
  CHECK(*d.expires == f.clock.now() + 300s);
  REQUIRE(d.grants);
  ClientIdentity who{"client-1", "tom", d.grants.get()};
  CHECK(f.sec->allowed(who, "tom/out", Access::write));
  CHECK_FALSE(f.sec->allowed(who, "tom/in/x", Access::write));
  CHECK(f.sec->allowed(who, "tom/in/x", Access::read));
  CHECK(f.sec->allowed(who, "tom/in/+", Access::subscribe));
  CHECK(f.sec->allowed(who, "$share/g/tom/in/#", Access::subscribe));
  CHECK_FALSE(f.sec->allowed(who, "tom/#", Access::subscribe));
  CHECK_FALSE(f.sec->allowed(who, "public/x", Access::read));  // grants replace the ACL file

  // Query-parameter / cookie path; no username at all.
  auto q = f.login(std::nullopt, std::nullopt, &f.closed, "10.0.0.9:1", t);
  CHECK(q.reason == ReasonCode::success);
  CHECK(q.username == "tom");

  // A ticket without topic lists: the ACL file applies to its subject.
  const std::string plain = f.ticket("");
  auto p = f.login(std::nullopt, plain, &f.closed);
  REQUIRE(p.reason == ReasonCode::success);
  CHECK_FALSE(p.grants);
  ClientIdentity tom{"client-1", "tom", nullptr};
  CHECK_FALSE(f.sec->allowed(tom, "alice/x", Access::read));
}

TEST_CASE("bad tickets: expired, wrong audience, forged, tickets disabled") {
  Fixture f;
  const std::string t = f.ticket("", 60s);
  f.clock.advance(91s);  // past exp + 30 s skew
  auto expired = f.login(std::nullopt, t, &f.closed);
  CHECK(expired.reason == ReasonCode::bad_user_name_or_password);
  CHECK(expired.log_detail.find("ticket rejected: expired") == 0);
  auto wrong_aud =
      tls::sign_jwt(R"({"sub":"tom","aud":"other","exp":9999999999})", tls::JwtAlg::hs256, kSecret);
  REQUIRE(wrong_aud);
  CHECK(f.login(std::nullopt, *wrong_aud, &f.closed).log_detail.find("audience") !=
        std::string::npos);
  auto forged = tls::sign_jwt(R"({"sub":"tom","aud":"wisp","exp":9999999999})", tls::JwtAlg::hs256,
                              kSecret + "-not");
  REQUIRE(forged);
  CHECK(f.login(std::nullopt, *forged, &f.closed).reason == ReasonCode::bad_user_name_or_password);
  // A JWT-looking password of a password-file user falls back to the password check.
  CHECK(f.login("alice", *forged, &f.closed).reason == ReasonCode::bad_user_name_or_password);
  // Ticket offered where tickets are off.
  Fixture no_tickets(false);
  CHECK(
      no_tickets.login(std::nullopt, std::nullopt, &no_tickets.open, "1.1.1.1:1", *forged).reason ==
      ReasonCode::not_authorized);
}

TEST_CASE("authorization through the ACL file, $SYS writes refused") {
  Fixture f;
  ClientIdentity alice{"c1", "alice", nullptr};
  ClientIdentity anon{"dev9", std::nullopt, nullptr};
  CHECK(f.sec->allowed(alice, "alice/x", Access::write));
  CHECK_FALSE(f.sec->allowed(alice, "public/x", Access::read));  // not in alice's section
  CHECK(f.sec->allowed(anon, "public/x", Access::read));
  CHECK(f.sec->allowed(anon, "devices/dev9/t", Access::write));
  CHECK_FALSE(f.sec->allowed(anon, "devices/dev8/t", Access::write));
  CHECK(f.sec->allowed(anon, "anything/#", Access::subscribe));  // Mosquitto 2.0 semantics
  CHECK_FALSE(f.sec->allowed(alice, "$SYS/broker/x", Access::write));
}

TEST_CASE("reload picks up new files and keeps the old state on error") {
  Fixture f;
  CHECK(f.login("alice", "secret", &f.closed).reason == ReasonCode::success);
  // Add carol with wisp passwd (small iteration count to keep the test fast).
  std::istringstream in;
  std::ostringstream out, err;
  REQUIRE(tls::passwd_main({"-b", "-I", "1000", f.dir.file("pw"), "carol", "c4"}, in, out, err) ==
          0);
  test_util::write_file(f.dir.file("acl"), kAcl + "user carol\ntopic read carol/#\n");
  CHECK(f.login("carol", "c4", &f.closed).reason == ReasonCode::bad_user_name_or_password);
  REQUIRE(f.sec->reload());
  CHECK(f.login("carol", "c4", &f.closed, "10.0.0.5:1").reason == ReasonCode::success);
  ClientIdentity carol{"c", "carol", nullptr};
  CHECK(f.sec->allowed(carol, "carol/x", Access::read));

  // A broken ACL file: reload fails naming file and line; previous rules stay.
  test_util::write_file(f.dir.file("acl"), "user carol\ntopic sometimes carol/#\n");
  auto st = f.sec->reload();
  REQUIRE_FALSE(st);
  CHECK(st.error().message.find(f.dir.file("acl") + ":2:") != std::string::npos);
  CHECK(f.sec->allowed(carol, "carol/x", Access::read));
  // A broken password file: same.
  test_util::write_file(f.dir.file("pw"), "carol:not-a-hash\n");
  REQUIRE_FALSE(f.sec->reload());
  CHECK(f.login("alice", "secret", &f.closed, "10.0.0.6:1").reason == ReasonCode::success);
  // Missing files at startup are errors.
  SecurityConfig c;
  c.password_file = f.dir.file("missing");
  CHECK_FALSE(Security::create(c, f.clock));
}

TEST_CASE("ticket configuration errors") {
  test_util::FakeClock clock;
  SecurityConfig c;
  c.tickets = TicketConfig{};
  c.tickets->secret = "short";
  CHECK_FALSE(Security::create(c, clock));
  c.tickets->secret = kSecret;
  c.tickets->algorithm = "none";
  CHECK_FALSE(Security::create(c, clock));
  c.tickets->algorithm = "ES256";
  CHECK_FALSE(Security::create(c, clock));  // no public key file
  c.tickets->algorithm = "HS256";
  CHECK(Security::create(c, clock));
}

TEST_CASE("issue_ticket checks the password file and signs a verifiable ticket") {
  Fixture f;
  auto t = f.sec->issue_ticket("alice", "secret", "10.0.0.1:1", std::nullopt,
                               std::vector<std::string>{"alice/#"});
  REQUIRE_MESSAGE(t, (t ? "" : t.error().message));
  auto d = f.login(std::nullopt, *t, &f.closed);
  REQUIRE(d.reason == ReasonCode::success);
  CHECK(d.username == "alice");
  CHECK(*d.expires == f.clock.now() + 300s);
  ClientIdentity who{"c", "alice", d.grants.get()};
  CHECK(f.sec->allowed(who, "alice/x", Access::read));
  CHECK_FALSE(f.sec->allowed(who, "alice/x", Access::write));  // no publish list
  CHECK_FALSE(f.sec->issue_ticket("alice", "nope", "10.0.0.1:1"));
  CHECK_FALSE(
      f.sec->issue_ticket("alice", "secret", "10.0.0.1:1", std::vector<std::string>{"a/#/b"}));
  for (int i = 0; i < 5; ++i) (void)f.sec->issue_ticket("alice", "nope", "10.0.0.7:1");
  auto blocked = f.sec->issue_ticket("alice", "secret", "10.0.0.7:1");
  REQUIRE_FALSE(blocked);
  CHECK(blocked.error().message == "too many failed logins");
}

TEST_CASE("looks_like_jwt") {
  CHECK(Security::looks_like_jwt("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.abc_-"));
  CHECK_FALSE(Security::looks_like_jwt("eyJ.just.a password with spaces"));
  CHECK_FALSE(Security::looks_like_jwt("secret"));
  CHECK_FALSE(Security::looks_like_jwt("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0"));
}

namespace {
protocol::ByteSpan bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::string text_of(const std::vector<std::uint8_t>& v) { return std::string(v.begin(), v.end()); }

struct ScramRun {
  broker::security::EnhancedAuthStep first;
  broker::security::EnhancedAuthStep last;
  bool server_verified = false;
};

ScramRun scram_login(Security& sec, const char* method, tls::ScramHash hash,
                     const std::string& user, const std::string& password,
                     const ListenerPolicy* listener, std::string_view addr = "10.1.0.1:1") {
  ScramRun run;
  tls::ScramClient client(hash, user, password);
  const std::string client_first = client.client_first();
  AuthRequest r;
  r.client_id = "scram-client";
  r.remote_address = addr;
  r.listener = listener;
  r.auth_method = method;
  r.auth_data = bytes_of(client_first);
  std::unique_ptr<broker::security::ScramExchange> x;
  run.first = sec.start_enhanced_auth(r, x);
  if (run.first.decision.reason != ReasonCode::continue_authentication) return run;
  REQUIRE(x);
  auto client_final = client.client_final(text_of(run.first.auth_data));
  REQUIRE(client_final);
  run.last = sec.continue_enhanced_auth(*x, bytes_of(*client_final));
  run.server_verified = client.verify_server_final(text_of(run.last.auth_data));
  return run;
}
}  // namespace

TEST_CASE("MQTT 5 enhanced auth: SCRAM-SHA-512 against the password file's $7$ entries") {
  Fixture f;
  CHECK(f.sec->supports_method("SCRAM-SHA-512"));
  CHECK_FALSE(f.sec->supports_method("SCRAM-SHA-256"));  // no scram_file
  CHECK_FALSE(f.sec->supports_method("PLAIN"));
  auto ok =
      scram_login(*f.sec, "SCRAM-SHA-512", tls::ScramHash::sha512, "alice", "secret", &f.closed);
  CHECK(ok.first.decision.reason == ReasonCode::continue_authentication);
  CHECK(ok.last.decision.reason == ReasonCode::success);
  CHECK(ok.last.decision.username == "alice");
  CHECK(ok.server_verified);  // the client authenticated the server too

  auto bad =
      scram_login(*f.sec, "SCRAM-SHA-512", tls::ScramHash::sha512, "alice", "nope", &f.closed);
  CHECK(bad.first.decision.reason == ReasonCode::continue_authentication);
  CHECK(bad.last.decision.reason == ReasonCode::bad_user_name_or_password);
  CHECK(bad.last.decision.log_detail.find("wrong password") != std::string::npos);
  // Unknown users and $6$ users look the same from outside until the proof fails.
  for (const char* user : {"ghost", "bob"}) {
    auto u =
        scram_login(*f.sec, "SCRAM-SHA-512", tls::ScramHash::sha512, user, "hunter2", &f.closed);
    CHECK(u.first.decision.reason == ReasonCode::continue_authentication);
    CHECK(u.last.decision.reason == ReasonCode::bad_user_name_or_password);
  }
  auto unsupported =
      scram_login(*f.sec, "SCRAM-SHA-256", tls::ScramHash::sha256, "alice", "secret", &f.closed);
  CHECK(unsupported.first.decision.reason == ReasonCode::bad_authentication_method);
}

TEST_CASE("MQTT 5 enhanced auth: SCRAM-SHA-256 with a scram_file; failures are rate limited") {
  test_util::TempDir dir;
  std::istringstream in;
  std::ostringstream out, err;
  REQUIRE(tls::passwd_main({"--scram-sha-256", "-c", "-b", dir.file("scram"), "dev1", "pw1"}, in,
                           out, err) == 0);
  test_util::FakeClock clock;
  SecurityConfig c;
  c.scram_file = dir.file("scram");
  c.rate_limit = {3, 60s, 100};
  auto s = Security::create(c, clock);
  REQUIRE_MESSAGE(s, (s ? "" : s.error().message));
  ListenerPolicy closed{"x", false, false, 0, std::nullopt};
  CHECK((*s)->supports_method("SCRAM-SHA-256"));
  CHECK_FALSE((*s)->supports_method("SCRAM-SHA-512"));  // no password_file
  auto ok = scram_login(**s, "SCRAM-SHA-256", tls::ScramHash::sha256, "dev1", "pw1", &closed);
  CHECK(ok.last.decision.reason == ReasonCode::success);
  CHECK(ok.server_verified);
  for (int i = 0; i < 3; ++i) {
    auto bad = scram_login(**s, "SCRAM-SHA-256", tls::ScramHash::sha256, "dev1", "x", &closed);
    CHECK(bad.last.decision.reason == ReasonCode::bad_user_name_or_password);
  }
  auto blocked = scram_login(**s, "SCRAM-SHA-256", tls::ScramHash::sha256, "dev1", "pw1", &closed);
  CHECK(blocked.first.decision.reason == ReasonCode::connection_rate_exceeded);
  // Malformed client-first.
  AuthRequest r;
  r.client_id = "c";
  r.remote_address = "10.9.9.9:1";
  r.auth_method = "SCRAM-SHA-256";
  const std::string junk = "garbage";
  r.auth_data = bytes_of(junk);
  std::unique_ptr<broker::security::ScramExchange> x;
  auto step = (*s)->start_enhanced_auth(r, x);
  CHECK(step.decision.reason == ReasonCode::not_authorized);
  CHECK_FALSE(x);
  // A broken scram_file fails creation.
  test_util::write_file(dir.file("bad"), "dev1:SCRAM-SHA-256$x\n");
  c.scram_file = dir.file("bad");
  CHECK_FALSE(Security::create(c, clock));
}
