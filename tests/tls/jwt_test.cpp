// JWT tickets: the verification matrix (valid, expired, nbf, signature, alg none, alg
// mismatch, tampered claims, audience, topic lists) for HS256, RS256 and ES256.
#include "tls/jwt.h"

#include <doctest/doctest.h>

#include "tls/base64.h"
#include "tls/cert_dev.h"

using namespace std::chrono_literals;
using tls::JwtAlg;

namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef-wisp";
const auto kNow = tls::WallClock::time_point(std::chrono::seconds(1'800'000'000));

std::int64_t secs(tls::WallClock::time_point tp) {
  return std::chrono::duration_cast<std::chrono::seconds>(tp.time_since_epoch()).count();
}

std::string claims(const std::string& extra = "", std::int64_t exp = secs(kNow) + 300) {
  return R"({"sub":"alice","exp":)" + std::to_string(exp) + extra + "}";
}

std::unique_ptr<tls::JwtVerifier> verifier(tls::JwtVerifyConfig c) {
  auto v = tls::JwtVerifier::create(std::move(c));
  REQUIRE_MESSAGE(v, (v ? "" : v.error().message));
  return std::move(v).value();
}

std::unique_ptr<tls::JwtVerifier> hs_verifier() {
  tls::JwtVerifyConfig c;
  c.alg = JwtAlg::hs256;
  c.secret = kSecret;
  return verifier(std::move(c));
}

std::string sign(const std::string& claims_json, JwtAlg alg = JwtAlg::hs256,
                 const std::string& key = kSecret) {
  auto t = tls::sign_jwt(claims_json, alg, key);
  REQUIRE_MESSAGE(t, (t ? "" : t.error().message));
  return *t;
}

std::string reason(const tls::JwtVerifier& v, const std::string& token,
                   tls::WallClock::time_point now = kNow) {
  auto r = v.verify(token, now);
  return r ? std::string("OK") : r.error().message;
}

const std::string& rsa_key() {
  static const std::string k = [] {
    auto r = tls::generate_rsa_key_pem(2048);
    return r ? *r : std::string();
  }();
  return k;
}
const std::string& ec_key() {
  static const std::string k = [] {
    auto r = tls::generate_ec_key_pem();
    return r ? *r : std::string();
  }();
  return k;
}

}  // namespace

TEST_CASE("HS256 valid ticket yields username, expiry and no grants") {
  auto v = hs_verifier();
  auto r = v->verify(sign(claims()), kNow);
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  CHECK(r->username == "alice");
  CHECK(r->expires == kNow + 300s);
  CHECK_FALSE(r->has_topic_grants());
}

TEST_CASE("exp and nbf honour the leeway (default 30 s)") {
  auto v = hs_verifier();
  CHECK(reason(*v, sign(claims("", secs(kNow) - 10))) == "OK");  // inside skew
  CHECK(reason(*v, sign(claims("", secs(kNow) - 31))) == "expired");
  CHECK(reason(*v, sign(claims("", secs(kNow) - 3600))) == "expired");
  CHECK(reason(*v, sign(claims(",\"nbf\":" + std::to_string(secs(kNow) + 10)))) == "OK");
  CHECK(reason(*v, sign(claims(",\"nbf\":" + std::to_string(secs(kNow) + 120)))) ==
        "not yet valid (nbf)");
  // Same token becomes valid later.
  const auto t = sign(claims(",\"nbf\":" + std::to_string(secs(kNow) + 120)));
  CHECK(reason(*v, t, kNow + 100s) == "OK");
  // Fractional NumericDate.
  CHECK(reason(*v, sign(R"({"sub":"a","exp":)" + std::to_string(secs(kNow) + 5) + ".5}")) == "OK");
  // Far-future exp (beyond time_point's range) is clamped, not rejected; negative is bad.
  auto far = v->verify(sign(R"({"sub":"a","exp":99999999999})"), kNow);
  REQUIRE(far);
  CHECK(far->expires > kNow + 24h * 365 * 100);
  CHECK(reason(*v, sign(R"({"sub":"a","exp":-5})")) == "claim 'exp' is not a NumericDate");
  tls::JwtVerifyConfig strict;
  strict.secret = kSecret;
  strict.leeway = 0s;
  auto vs = verifier(strict);
  CHECK(reason(*vs, sign(claims("", secs(kNow) - 1))) == "expired");
  CHECK(reason(*vs, sign(claims("", secs(kNow)))) == "expired");
}

TEST_CASE("wrong signature, tampered claims, alg none and malformed tokens are rejected") {
  auto v = hs_verifier();
  CHECK(reason(*v, sign(claims(), JwtAlg::hs256, kSecret + "x")) == "bad signature");

  // Tampered claims: swap the payload, keep header and signature.
  const std::string good = sign(claims());
  const auto d1 = good.find('.');
  const auto d2 = good.find('.', d1 + 1);
  const std::string evil = tls::base64url_encode(
      std::string_view(R"({"sub":"admin","exp":)" + std::to_string(secs(kNow) + 300) + "}"));
  CHECK(reason(*v, good.substr(0, d1 + 1) + evil + good.substr(d2)) == "bad signature");
  // Tampered signature byte.
  std::string flipped = good;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  CHECK(reason(*v, flipped) != "OK");

  // alg none, with and without a signature.
  const std::string none_header = tls::base64url_encode(std::string_view(R"({"alg":"none"})"));
  const std::string payload = tls::base64url_encode(std::string_view(claims()));
  CHECK(reason(*v, none_header + "." + payload + ".") == "alg none is not accepted");
  CHECK(reason(*v, none_header + "." + payload + "." + good.substr(d2 + 1)) ==
        "alg none is not accepted");

  CHECK(reason(*v, "abc") != "OK");
  CHECK(reason(*v, "a.b") != "OK");
  CHECK(reason(*v, "a.b.c.d") != "OK");
  CHECK(reason(*v, "!!.b.c") == "bad base64url in header");
  CHECK(reason(*v, tls::base64url_encode(std::string_view("[1]")) + ".e30.") ==
        "header is not a JSON object");
  CHECK(reason(*v, std::string(9000, 'a')) == "token too long");
  // crit header.
  auto crit = tls::sign_jwt(claims(), JwtAlg::hs256, kSecret, R"({"alg":"HS256","crit":["x"]})");
  REQUIRE(crit);
  CHECK(reason(*v, *crit) == "header has crit extensions");
}

TEST_CASE("required claims: username and exp") {
  auto v = hs_verifier();
  CHECK(reason(*v, sign(R"({"exp":)" + std::to_string(secs(kNow) + 60) + "}")) ==
        "claim 'sub' missing or not a non-empty string");
  CHECK(reason(*v, sign(R"({"sub":"","exp":)" + std::to_string(secs(kNow) + 60) + "}")) != "OK");
  CHECK(reason(*v, sign(R"({"sub":5,"exp":)" + std::to_string(secs(kNow) + 60) + "}")) != "OK");
  CHECK(reason(*v, sign(R"({"sub":"alice"})")) == "claim 'exp' missing");
  CHECK(reason(*v, sign(R"({"sub":"alice","exp":"soon"})")) == "claim 'exp' is not a NumericDate");
  CHECK(reason(*v, sign("not json")) == "claims are not a JSON object");

  tls::JwtVerifyConfig c;
  c.secret = kSecret;
  c.username_claim = "preferred_username";
  auto vc = verifier(c);
  auto r = vc->verify(sign(R"({"sub":"id-1","preferred_username":"bob","exp":)" +
                           std::to_string(secs(kNow) + 60) + "}"),
                      kNow);
  REQUIRE(r);
  CHECK(r->username == "bob");
}

TEST_CASE("audience: string or array must contain the configured one") {
  tls::JwtVerifyConfig c;
  c.secret = kSecret;
  c.audience = "wisp";
  auto v = verifier(c);
  CHECK(reason(*v, sign(claims(R"(,"aud":"wisp")"))) == "OK");
  CHECK(reason(*v, sign(claims(R"(,"aud":["x","wisp"])"))) == "OK");
  CHECK(reason(*v, sign(claims(R"(,"aud":"other")"))) == "audience mismatch");
  CHECK(reason(*v, sign(claims())) == "audience mismatch");
  // Without a configured audience any aud is accepted.
  CHECK(reason(*hs_verifier(), sign(claims(R"(,"aud":"other")"))) == "OK");
}

TEST_CASE("publish/subscribe topic lists") {
  auto v = hs_verifier();
  auto r = v->verify(
      sign(claims(R"(,"publish":["devices/1/up"],"subscribe":["devices/1/#","+/x"])")), kNow);
  REQUIRE(r);
  REQUIRE(r->publish);
  REQUIRE(r->subscribe);
  CHECK(*r->publish == std::vector<std::string>{"devices/1/up"});
  CHECK(r->subscribe->size() == 2);
  CHECK(r->has_topic_grants());
  auto only_sub = v->verify(sign(claims(R"(,"subscribe":[])")), kNow);
  REQUIRE(only_sub);
  CHECK(only_sub->has_topic_grants());
  CHECK_FALSE(only_sub->publish);
  CHECK(reason(*v, sign(claims(R"(,"publish":"a/b")"))) == "claim 'publish' is not an array");
  CHECK(reason(*v, sign(claims(R"(,"publish":[1])"))) == "claim 'publish' has a non-string entry");
  CHECK(reason(*v, sign(claims(R"(,"subscribe":["a/#/b"])"))) ==
        "claim 'subscribe' has an invalid topic filter");
  CHECK(reason(*v, sign(claims(R"(,"subscribe":["a+"])"))) != "OK");
  CHECK(reason(*v, sign(claims(R"(,"subscribe":[""])"))) != "OK");
}

TEST_CASE("issue_ticket round-trips through the verifier") {
  tls::TicketSpec spec;
  spec.username = "carol";
  spec.issued_at = kNow;
  spec.lifetime = 120s;
  spec.audience = "wisp";
  spec.publish = std::vector<std::string>{"carol/out"};
  spec.subscribe = std::vector<std::string>{"carol/in/#"};
  auto t = tls::issue_ticket(spec, JwtAlg::hs256, kSecret);
  REQUIRE(t);
  tls::JwtVerifyConfig c;
  c.secret = kSecret;
  c.audience = "wisp";
  auto v = verifier(c);
  auto r = v->verify(*t, kNow + 60s);
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  CHECK(r->username == "carol");
  CHECK(r->expires == kNow + 120s);
  CHECK(*r->subscribe == std::vector<std::string>{"carol/in/#"});
  CHECK(reason(*v, *t, kNow + 151s) == "expired");
  CHECK_FALSE(tls::issue_ticket(spec, JwtAlg::hs256, "short"));
}

TEST_CASE("HS256 secret must be long enough") {
  tls::JwtVerifyConfig c;
  c.secret = "too-short";
  CHECK_FALSE(tls::JwtVerifier::create(c));
}

TEST_CASE("RS256: valid, wrong key, and the HS256-with-public-key confusion attack") {
  REQUIRE_FALSE(rsa_key().empty());
  auto pub = tls::public_key_pem(rsa_key());
  REQUIRE(pub);
  tls::JwtVerifyConfig c;
  c.alg = JwtAlg::rs256;
  c.public_key_pem = *pub;
  auto v = verifier(c);
  CHECK(reason(*v, sign(claims(), JwtAlg::rs256, rsa_key())) == "OK");
  // Another RSA key.
  auto other = tls::generate_rsa_key_pem(2048);
  REQUIRE(other);
  CHECK(reason(*v, sign(claims(), JwtAlg::rs256, *other)) == "bad signature");
  // Attacker signs HS256 with the (public) PEM as HMAC secret.
  const std::string forged = sign(claims(), JwtAlg::hs256, *pub);
  CHECK(reason(*v, forged) == "algorithm mismatch: token HS256, configured RS256");
  // ES256 token against RS256 config.
  CHECK(reason(*v, sign(claims(), JwtAlg::es256, ec_key())) ==
        "algorithm mismatch: token ES256, configured RS256");
  // Key type checked at configuration time.
  auto ec_pub = tls::public_key_pem(ec_key());
  REQUIRE(ec_pub);
  c.public_key_pem = *ec_pub;
  CHECK_FALSE(tls::JwtVerifier::create(c));
  c.public_key_pem = "not a pem";
  CHECK_FALSE(tls::JwtVerifier::create(c));
}

TEST_CASE("ES256: valid, wrong key, tampered, bad signature length") {
  REQUIRE_FALSE(ec_key().empty());
  auto pub = tls::public_key_pem(ec_key());
  REQUIRE(pub);
  tls::JwtVerifyConfig c;
  c.alg = JwtAlg::es256;
  c.public_key_pem = *pub;
  auto v = verifier(c);
  const std::string t = sign(claims(), JwtAlg::es256, ec_key());
  CHECK(reason(*v, t) == "OK");
  auto sig = tls::base64url_decode(t.substr(t.rfind('.') + 1));
  REQUIRE(sig);
  CHECK(sig->size() == 64);  // raw r || s
  auto other = tls::generate_ec_key_pem();
  REQUIRE(other);
  CHECK(reason(*v, sign(claims(), JwtAlg::es256, *other)) == "bad signature");
  CHECK(reason(*v, t.substr(0, t.rfind('.') + 1) + tls::base64url_encode(std::string_view("x"))) ==
        "bad signature (ES256 wants 64 bytes)");
  CHECK(reason(*v, sign(claims(), JwtAlg::hs256, kSecret)) ==
        "algorithm mismatch: token HS256, configured ES256");
  // RSA key for ES256 config is refused.
  auto rsa_pub = tls::public_key_pem(rsa_key());
  REQUIRE(rsa_pub);
  c.public_key_pem = *rsa_pub;
  CHECK_FALSE(tls::JwtVerifier::create(c));
}

TEST_CASE("alg names") {
  CHECK(tls::parse_jwt_alg("HS256") == JwtAlg::hs256);
  CHECK(tls::parse_jwt_alg("ES256") == JwtAlg::es256);
  CHECK(tls::parse_jwt_alg("RS256") == JwtAlg::rs256);
  CHECK_FALSE(tls::parse_jwt_alg("none"));
  CHECK_FALSE(tls::parse_jwt_alg("hs256"));
}
