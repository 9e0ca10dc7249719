// JWT verification and signing on mbedTLS; JSON via nlohmann-json (no exceptions used).
#include "tls/jwt.h"

#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

#include "tls/base64.h"
#include "tls/password_hash.h"
#include "tls/random.h"

namespace tls {
namespace {

using Json = nlohmann::json;
using protocol::fail;

struct Pk {
  mbedtls_pk_context ctx;
  Pk() { mbedtls_pk_init(&ctx); }
  ~Pk() { mbedtls_pk_free(&ctx); }
  Pk(const Pk&) = delete;
  Pk& operator=(const Pk&) = delete;
};

struct Mpi {
  mbedtls_mpi v;
  Mpi() { mbedtls_mpi_init(&v); }
  ~Mpi() { mbedtls_mpi_free(&v); }
  Mpi(const Mpi&) = delete;
  Mpi& operator=(const Mpi&) = delete;
};

const unsigned char* uchars(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::array<unsigned char, 32> sha256(std::string_view data) {
  std::array<unsigned char, 32> out{};
  mbedtls_sha256_ret(uchars(data), data.size(), out.data(), 0);
  return out;
}

std::vector<std::uint8_t> hmac_sha256(std::string_view key, std::string_view data) {
  std::vector<std::uint8_t> out(32);
  if (mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), uchars(key), key.size(),
                      uchars(data), data.size(), out.data()) != 0) {
    return {};
  }
  return out;
}

// Key type checks shared by verification and signing.
protocol::Status check_key_for(JwtAlg alg, mbedtls_pk_context& pk) {
  if (alg == JwtAlg::rs256) {
    if (mbedtls_pk_get_type(&pk) != MBEDTLS_PK_RSA) return fail("RS256 needs an RSA key");
    if (mbedtls_pk_get_bitlen(&pk) < 2048) return fail("RS256 key is shorter than 2048 bits");
    return protocol::ok();
  }
  if (alg == JwtAlg::es256) {
    if (!mbedtls_pk_can_do(&pk, MBEDTLS_PK_ECDSA)) return fail("ES256 needs an EC key");
    if (mbedtls_pk_ec(pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
      return fail("ES256 needs a P-256 (prime256v1) key");
    }
    return protocol::ok();
  }
  return protocol::ok();
}

// NumericDate: a JSON number (integer or not), seconds since the epoch.
std::optional<WallClock::time_point> numeric_date(const Json& v) {
  double secs = 0;
  if (v.is_number_integer()) {
    secs = static_cast<double>(v.get<std::int64_t>());
  } else if (v.is_number_unsigned()) {
    secs = static_cast<double>(v.get<std::uint64_t>());
  } else if (v.is_number_float()) {
    secs = v.get<double>();
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(secs) || secs < 0) return std::nullopt;
  // time_point holds nanoseconds up to year 2262: clamp "far future" (e.g. 9999999999).
  secs = std::min(secs, 9.0e9);
  return WallClock::time_point(
      std::chrono::duration_cast<WallClock::duration>(std::chrono::duration<double>(secs)));
}

// Topic filter syntax [MQTT-4.7.1]: non-empty, '#' only as the whole last level, '+' only as
// a whole level.
bool filter_syntax_ok(std::string_view f) {
  if (f.empty() || f.find('\0') != std::string_view::npos) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = f.find('/', start);
    const std::string_view level =
        f.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (level.find_first_of("+#") != std::string_view::npos && level.size() != 1) return false;
    if (level == "#" && slash != std::string_view::npos) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

protocol::Result<std::optional<std::vector<std::string>>, protocol::Error> topic_list(
    const Json& claims, const char* name) {
  const auto it = claims.find(name);
  if (it == claims.end()) return std::optional<std::vector<std::string>>{};
  if (!it->is_array()) return fail(std::string("claim '") + name + "' is not an array");
  std::vector<std::string> out;
  for (const auto& e : *it) {
    if (!e.is_string()) return fail(std::string("claim '") + name + "' has a non-string entry");
    const auto& s = e.get_ref<const std::string&>();
    if (!filter_syntax_ok(s)) {
      return fail(std::string("claim '") + name + "' has an invalid topic filter");
    }
    out.push_back(s);
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

protocol::Result<std::vector<std::uint8_t>, protocol::Error> sign_bytes(JwtAlg alg,
                                                                        std::string_view key,
                                                                        std::string_view input) {
  if (alg == JwtAlg::hs256) {
    if (key.size() < 32) return fail("HS256 secret must be at least 32 bytes");
    auto mac = hmac_sha256(key, input);
    if (mac.empty()) return fail("HMAC failed");
    return mac;
  }
  Random* rng = thread_random();
  if (rng == nullptr) return fail("random: cannot seed CTR-DRBG");
  Pk pk;
  // PEM input must include the terminating NUL in its length for mbedTLS.
  const std::string pem(key);
  if (mbedtls_pk_parse_key(&pk.ctx, uchars(pem), pem.size() + 1, nullptr, 0) != 0) {
    return fail("cannot parse the private key");
  }
  if (auto st = check_key_for(alg, pk.ctx); !st) return protocol::unexpected(st.error());
  const auto hash = sha256(input);
  if (alg == JwtAlg::rs256) {
    std::vector<std::uint8_t> sig(mbedtls_pk_get_len(&pk.ctx));
    std::size_t len = 0;
    if (mbedtls_pk_sign(&pk.ctx, MBEDTLS_MD_SHA256, hash.data(), hash.size(), sig.data(), &len,
                        &Random::mbed_rng, rng) != 0) {
      return fail("RSA signing failed");
    }
    sig.resize(len);
    return sig;
  }
  // ES256: JWS wants the raw 32-byte r || 32-byte s, not DER [RFC 7518 section 3.4].
  mbedtls_ecp_keypair* kp = mbedtls_pk_ec(pk.ctx);
  Mpi r;
  Mpi s;
  if (mbedtls_ecdsa_sign(&kp->grp, &r.v, &s.v, &kp->d, hash.data(), hash.size(), &Random::mbed_rng,
                         rng) != 0) {
    return fail("ECDSA signing failed");
  }
  std::vector<std::uint8_t> sig(64);
  if (mbedtls_mpi_write_binary(&r.v, sig.data(), 32) != 0 ||
      mbedtls_mpi_write_binary(&s.v, sig.data() + 32, 32) != 0) {
    return fail("ECDSA signature encoding failed");
  }
  return sig;
}

}  // namespace

const char* to_string(JwtAlg a) noexcept {
  switch (a) {
    case JwtAlg::hs256: return "HS256";
    case JwtAlg::rs256: return "RS256";
    case JwtAlg::es256: return "ES256";
  }
  return "?";
}

std::optional<JwtAlg> parse_jwt_alg(std::string_view name) noexcept {
  if (name == "HS256") return JwtAlg::hs256;
  if (name == "RS256") return JwtAlg::rs256;
  if (name == "ES256") return JwtAlg::es256;
  return std::nullopt;
}

struct JwtVerifier::Key {
  Pk pk;
};

JwtVerifier::JwtVerifier(JwtVerifyConfig config)
    : config_(std::move(config)), key_(std::make_unique<Key>()) {}
JwtVerifier::~JwtVerifier() = default;

protocol::Result<std::unique_ptr<JwtVerifier>, protocol::Error> JwtVerifier::create(
    JwtVerifyConfig config) {
  if (config.username_claim.empty()) return fail("ticket username claim is empty");
  if (config.leeway.count() < 0) return fail("ticket clock skew must not be negative");
  std::unique_ptr<JwtVerifier> v(new JwtVerifier(std::move(config)));
  const JwtVerifyConfig& c = v->config_;
  if (c.alg == JwtAlg::hs256) {
    if (c.secret.size() < 32) return fail("HS256 ticket secret must be at least 32 bytes");
    return v;
  }
  const std::string& pem = c.public_key_pem;  // c_str() NUL counted below
  if (mbedtls_pk_parse_public_key(&v->key_->pk.ctx, uchars(pem), pem.size() + 1) != 0) {
    return fail(std::string(to_string(c.alg)) + ": cannot parse the public key (PEM expected)");
  }
  if (auto st = check_key_for(c.alg, v->key_->pk.ctx); !st) {
    return protocol::unexpected(st.error());
  }
  return v;
}

protocol::Result<JwtClaims, protocol::Error> JwtVerifier::verify(std::string_view token,
                                                                 WallClock::time_point now) const {
  if (token.size() > config_.max_token_bytes) return fail("token too long");
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return fail("not a JWS compact token (want header.payload.signature)");
  }
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view sig_b64 = token.substr(dot2 + 1);

  const auto header_bytes = base64url_decode(header_b64);
  if (!header_bytes) return fail("bad base64url in header");
  const Json header = Json::parse(header_bytes->begin(), header_bytes->end(), nullptr, false);
  if (header.is_discarded() || !header.is_object()) return fail("header is not a JSON object");
  const auto alg_it = header.find("alg");
  if (alg_it == header.end() || !alg_it->is_string()) return fail("header has no alg");
  const auto& alg = alg_it->get_ref<const std::string&>();
  if (alg == "none" || alg == "None" || alg == "NONE") return fail("alg none is not accepted");
  if (alg != to_string(config_.alg)) {
    return fail("algorithm mismatch: token " + alg.substr(0, 16) + ", configured " +
                to_string(config_.alg));
  }
  // [RFC 7515 section 4.1.11] extensions we do not understand must be rejected.
  if (header.contains("crit")) return fail("header has crit extensions");

  const auto sig = base64url_decode(sig_b64);
  if (!sig) return fail("bad base64url in signature");
  const std::string_view signing_input = token.substr(0, dot2);
  switch (config_.alg) {
    case JwtAlg::hs256: {
      const auto mac = hmac_sha256(config_.secret, signing_input);
      if (mac.empty() || !constant_time_equal(mac, *sig)) return fail("bad signature");
      break;
    }
    case JwtAlg::rs256: {
      const auto hash = sha256(signing_input);
      if (mbedtls_pk_verify(&key_->pk.ctx, MBEDTLS_MD_SHA256, hash.data(), hash.size(), sig->data(),
                            sig->size()) != 0) {
        return fail("bad signature");
      }
      break;
    }
    case JwtAlg::es256: {
      if (sig->size() != 64) return fail("bad signature (ES256 wants 64 bytes)");
      const auto hash = sha256(signing_input);
      mbedtls_ecp_keypair* kp = mbedtls_pk_ec(key_->pk.ctx);
      Mpi r;
      Mpi s;
      if (mbedtls_mpi_read_binary(&r.v, sig->data(), 32) != 0 ||
          mbedtls_mpi_read_binary(&s.v, sig->data() + 32, 32) != 0 ||
          mbedtls_ecdsa_verify(&kp->grp, hash.data(), hash.size(), &kp->Q, &r.v, &s.v) != 0) {
        return fail("bad signature");
      }
      break;
    }
  }

  const auto payload_bytes = base64url_decode(payload_b64);
  if (!payload_bytes) return fail("bad base64url in payload");
  const Json claims = Json::parse(payload_bytes->begin(), payload_bytes->end(), nullptr, false);
  if (claims.is_discarded() || !claims.is_object()) return fail("claims are not a JSON object");

  JwtClaims out;
  const auto user_it = claims.find(config_.username_claim);
  if (user_it == claims.end() || !user_it->is_string() ||
      user_it->get_ref<const std::string&>().empty()) {
    return fail("claim '" + config_.username_claim + "' missing or not a non-empty string");
  }
  out.username = user_it->get<std::string>();

  const auto exp_it = claims.find("exp");
  if (exp_it == claims.end()) return fail("claim 'exp' missing");
  const auto exp = numeric_date(*exp_it);
  if (!exp) return fail("claim 'exp' is not a NumericDate");
  if (now >= *exp + config_.leeway) return fail("expired");
  out.expires = *exp;

  if (const auto nbf_it = claims.find("nbf"); nbf_it != claims.end()) {
    const auto nbf = numeric_date(*nbf_it);
    if (!nbf) return fail("claim 'nbf' is not a NumericDate");
    if (now + config_.leeway < *nbf) return fail("not yet valid (nbf)");
    out.not_before = nbf;
  }

  if (config_.audience) {
    const auto aud_it = claims.find("aud");
    bool found = false;
    if (aud_it != claims.end()) {
      if (aud_it->is_string()) {
        found = aud_it->get_ref<const std::string&>() == *config_.audience;
      } else if (aud_it->is_array()) {
        for (const auto& a : *aud_it) {
          if (a.is_string() && a.get_ref<const std::string&>() == *config_.audience) found = true;
        }
      }
    }
    if (!found) return fail("audience mismatch");
  }

  auto pub = topic_list(claims, "publish");
  if (!pub) return protocol::unexpected(pub.error());
  auto sub = topic_list(claims, "subscribe");
  if (!sub) return protocol::unexpected(sub.error());
  out.publish = std::move(pub).value();
  out.subscribe = std::move(sub).value();
  return out;
}

protocol::Result<std::string, protocol::Error> sign_jwt(std::string_view claims_json, JwtAlg alg,
                                                        std::string_view key,
                                                        std::string_view header_json) {
  std::string header = header_json.empty()
                           ? std::string(R"({"alg":")") + to_string(alg) + R"(","typ":"JWT"})"
                           : std::string(header_json);
  std::string input = base64url_encode(header) + "." + base64url_encode(claims_json);
  auto sig = sign_bytes(alg, key, input);
  if (!sig) return protocol::unexpected(sig.error());
  input += '.';
  input += base64url_encode(*sig);
  return input;
}

protocol::Result<std::string, protocol::Error> issue_ticket(const TicketSpec& spec, JwtAlg alg,
                                                            std::string_view key) {
  if (spec.username.empty()) return fail("ticket needs a username");
  if (spec.lifetime.count() <= 0) return fail("ticket lifetime must be positive");
  const auto iat =
      std::chrono::duration_cast<std::chrono::seconds>(spec.issued_at.time_since_epoch()).count();
  Json claims = Json::object();
  claims[spec.username_claim] = spec.username;
  claims["iat"] = iat;
  claims["nbf"] = iat;
  claims["exp"] = iat + spec.lifetime.count();
  if (spec.audience) claims["aud"] = *spec.audience;
  if (spec.publish) claims["publish"] = *spec.publish;
  if (spec.subscribe) claims["subscribe"] = *spec.subscribe;
  // Replace invalid UTF-8 rather than throw.
  const std::string text = claims.dump(-1, ' ', false, Json::error_handler_t::replace);
  return sign_jwt(text, alg, key);
}

}  // namespace tls
