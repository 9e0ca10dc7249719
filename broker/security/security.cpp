// Security: password file + tickets + ACL file behind the engine's auth hooks.
#include "broker/security/security.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "broker/core/broker_config.h"
#include "broker/security/topic_match.h"
#include "tls/jwt.h"
#include "tls/password_file.h"
#include "tls/random.h"
#include "tls/scram.h"

namespace broker::security {

using protocol::ReasonCode;

struct Security::State {
  std::optional<tls::PasswordFile> passwords;
  // SCRAM-SHA-512 credentials derived from the password file's $7$ entries.
  tls::ScramUsers scram512;
  std::optional<tls::ScramUsers> scram256;
  std::optional<AclFile> acl;
  std::unique_ptr<tls::JwtVerifier> verifier;
  std::string ticket_secret;  // HS256 only, for issue_ticket()
};

namespace {

protocol::Result<std::string, protocol::Error> read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return protocol::fail(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string_view as_text(protocol::ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace

bool TicketGrants::allowed(std::string_view topic, core::Access access) const {
  const auto& list = access == core::Access::write ? publish_ : subscribe_;
  if (!list) return false;
  for (const auto& f : *list) {
    const bool ok =
        access == core::Access::subscribe ? filter_covers(f, topic) : filter_matches(f, topic);
    if (ok) return true;
  }
  return false;
}

Security::Security(SecurityConfig config, const core::Clock& clock)
    : config_(std::move(config)), clock_(clock), limiter_(config_.rate_limit, clock) {
  auto key = tls::random_bytes(32);
  decoy_key_ = key ? std::move(key).value() : std::vector<std::uint8_t>(32, 0x42);
}
Security::~Security() = default;

protocol::Result<std::unique_ptr<Security>, protocol::Error> Security::create(
    SecurityConfig config, const core::Clock& clock) {
  std::unique_ptr<Security> s(new Security(std::move(config), clock));
  auto state = load_state(s->config_);
  if (!state) return protocol::unexpected(state.error());
  s->state_ = std::move(state).value();
  return s;
}

protocol::Status Security::reload() {
  auto state = load_state(config_);
  if (!state) return protocol::unexpected(state.error());
  state_ = std::move(state).value();
  return protocol::ok();
}

protocol::Result<std::shared_ptr<const Security::State>, protocol::Error> Security::load_state(
    const SecurityConfig& config) {
  auto st = std::make_shared<State>();
  if (!config.password_file.empty()) {
    auto text = read_text(config.password_file);
    if (!text) return protocol::fail("password_file " + text.error().message);
    auto pf = tls::PasswordFile::parse(*text, config.password_file);
    if (!pf) return protocol::fail("password_file " + pf.error().message);
    st->passwords = std::move(pf).value();
    // The same text again for the raw $7$ hashes: SCRAM-SHA-512 credentials.
    std::istringstream lines(*text);
    std::string line;
    while (std::getline(lines, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (line.empty() || line.front() == '#') continue;
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      auto h = tls::parse_password_hash(std::string_view(line).substr(colon + 1));
      if (!h || h->kind != tls::HashKind::pbkdf2_sha512) continue;
      if (auto cred = tls::scram_credential(*h)) {
        st->scram512.emplace(line.substr(0, colon), std::move(cred).value());
      }
    }
  }
  if (!config.scram_file.empty()) {
    auto sf = tls::load_scram_file(config.scram_file);
    if (!sf) return protocol::fail("scram_file " + sf.error().message);
    st->scram256 = std::move(sf).value();
  }
  if (!config.acl_file.empty()) {
    auto acl = AclFile::load(config.acl_file);
    if (!acl) return protocol::fail("acl_file " + acl.error().message);
    st->acl = std::move(acl).value();
  }
  if (config.tickets) {
    const TicketConfig& t = *config.tickets;
    const auto alg = tls::parse_jwt_alg(t.algorithm);
    if (!alg) {
      return protocol::fail("ticket algorithm '" + t.algorithm + "' (want HS256, RS256 or ES256)");
    }
    tls::JwtVerifyConfig vc;
    vc.alg = *alg;
    vc.username_claim = t.username_claim;
    vc.leeway = t.clock_skew;
    vc.audience = t.audience;
    if (*alg == tls::JwtAlg::hs256) {
      vc.secret = t.secret;
      if (!t.secret_file.empty()) {
        auto text = read_text(t.secret_file);
        if (!text) return protocol::fail("ticket secret file " + text.error().message);
        vc.secret = *text;
        while (!vc.secret.empty() && (vc.secret.back() == '\n' || vc.secret.back() == '\r')) {
          vc.secret.pop_back();
        }
      }
      st->ticket_secret = vc.secret;
    } else {
      if (t.public_key_file.empty()) {
        return protocol::fail(t.algorithm + " tickets need a public key file");
      }
      auto text = read_text(t.public_key_file);
      if (!text) return protocol::fail("ticket public key " + text.error().message);
      vc.public_key_pem = *text;
    }
    auto v = tls::JwtVerifier::create(std::move(vc));
    if (!v) return protocol::fail("tickets: " + v.error().message);
    st->verifier = std::move(v).value();
  }
  return std::shared_ptr<const State>(std::move(st));
}

bool Security::has_password_file() const noexcept { return state_->passwords.has_value(); }
bool Security::has_acl_file() const noexcept { return state_->acl.has_value(); }
bool Security::tickets_enabled() const noexcept { return state_->verifier != nullptr; }

bool Security::looks_like_jwt(std::string_view s) noexcept {
  // JWS compact: base64url(JSON header starting with '{') -> "eyJ", exactly two dots.
  if (s.size() < 10 || s.substr(0, 3) != "eyJ") return false;
  std::size_t dots = 0;
  for (char c : s) {
    if (c == '.') {
      ++dots;
    } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_')) {
      return false;
    }
  }
  return dots == 2;
}

core::AuthDecision Security::fail(const core::AuthRequest& req, ReasonCode reason,
                                  std::string detail, bool count_failure) {
  return fail_at(req.remote_address, req.client_id, reason, std::move(detail), count_failure);
}

core::AuthDecision Security::fail_at(std::string_view address, std::string_view client_id,
                                     ReasonCode reason, std::string detail, bool count_failure) {
  if (count_failure) limiter_.record_failure(address);
  core::AuthDecision d;
  d.reason = reason;
  d.log_detail = std::move(detail);
  d.log_detail += " (client '" + std::string(client_id) + "' from " + std::string(address) + ")";
  return d;
}

core::AuthDecision Security::from_ticket(const core::AuthRequest& req, std::string_view token) {
  const auto& state = state_;
  if (!state->verifier) {
    return fail(req, ReasonCode::not_authorized, "ticket offered but tickets are not enabled",
                false);
  }
  auto claims = state->verifier->verify(token, clock_.now());
  if (!claims) {
    const std::string& why = claims.error().message;
    // A well-signed but stale ticket is not a guess: do not count it against the address.
    const bool stale = why == "expired" || why.rfind("not yet valid", 0) == 0;
    return fail(req, ReasonCode::bad_user_name_or_password, "ticket rejected: " + why, !stale);
  }
  core::AuthDecision d;
  d.reason = ReasonCode::success;
  d.username = claims->username;
  d.expires = claims->expires;
  if (claims->has_topic_grants()) {
    d.grants =
        std::make_shared<TicketGrants>(std::move(claims->publish), std::move(claims->subscribe));
  }
  return d;
}

core::AuthDecision Security::authenticate(const core::AuthRequest& req) {
  const std::shared_ptr<const State> state = state_;  // stable across this call
  if (limiter_.blocked(req.remote_address)) {
    return fail(req, ReasonCode::connection_rate_exceeded, "too many failed logins", false);
  }
  const bool allow_anonymous = req.listener != nullptr && req.listener->allow_anonymous;

  // A verified TLS client certificate mapped to a username by the listener.
  if (req.cert_identity) {
    core::AuthDecision d;
    d.username = std::string(*req.cert_identity);
    return d;
  }
  if (req.ticket) return from_ticket(req, *req.ticket);

  if (state->verifier && req.password && looks_like_jwt(as_text(*req.password))) {
    core::AuthDecision d = from_ticket(req, as_text(*req.password));
    if (d.reason == ReasonCode::success) return d;
    // Not a valid ticket: it may still be that user's real password.
    if (!(state->passwords && req.username && state->passwords->contains(*req.username))) {
      return d;
    }
  }

  if (req.username) {
    if (state->passwords) {
      if (!req.password) {
        return fail(req, ReasonCode::bad_user_name_or_password,
                    "user '" + std::string(*req.username) + "' sent no password", true);
      }
      if (!state->passwords->verify(*req.username, as_text(*req.password))) {
        return fail(req, ReasonCode::bad_user_name_or_password,
                    "bad username or password for user '" + std::string(*req.username) + "'", true);
      }
      core::AuthDecision d;
      d.username = std::string(*req.username);
      return d;
    }
    // No credential store: the username is only a label (as in Mosquitto).
    if (!allow_anonymous) {
      return fail(req, ReasonCode::not_authorized,
                  "no password file and anonymous access is not allowed", false);
    }
    core::AuthDecision d;
    d.username = std::string(*req.username);
    return d;
  }
  if (!allow_anonymous) {
    return fail(req, ReasonCode::not_authorized, "anonymous access is not allowed", false);
  }
  return core::AuthDecision{};
}

bool Security::allowed(const core::ClientIdentity& who, std::string_view topic,
                       core::Access access) {
  // [Mosquitto acl__check_dollar] clients never publish into $SYS.
  if (access == core::Access::write && topic.substr(0, 4) == "$SYS") return false;
  if (access == core::Access::subscribe) topic = strip_share(topic);
  if (const auto* grants = dynamic_cast<const TicketGrants*>(who.grants)) {
    return grants->allowed(topic, access);
  }
  const auto& state = state_;
  if (state->acl) {
    return state->acl->allowed(who.client_id, who.username, topic, access, config_.subscribe_check);
  }
  return true;
}

bool Security::supports_method(std::string_view method) const {
  const auto mech = tls::parse_scram_mechanism(method);
  if (!mech) return false;
  return *mech == tls::ScramHash::sha512 ? state_->passwords.has_value()
                                         : state_->scram256.has_value();
}

EnhancedAuthStep Security::start_enhanced_auth(const core::AuthRequest& req,
                                               std::unique_ptr<ScramExchange>& exchange) {
  exchange.reset();
  EnhancedAuthStep out;
  const std::shared_ptr<const State> state = state_;
  if (limiter_.blocked(req.remote_address)) {
    out.decision = fail(req, ReasonCode::connection_rate_exceeded, "too many failed logins", false);
    return out;
  }
  const std::string_view method = req.auth_method.value_or("");
  if (!supports_method(method)) {
    out.decision = fail(req, ReasonCode::bad_authentication_method,
                        "unsupported authentication method '" + std::string(method) + "'", false);
    return out;
  }
  const tls::ScramHash hash = *tls::parse_scram_mechanism(method);
  auto x = std::make_unique<ScramExchange>(hash, std::string(req.remote_address),
                                           std::string(req.client_id));
  const std::string_view first = req.auth_data ? as_text(*req.auth_data) : std::string_view{};
  auto user = x->server_.client_first(first);
  if (!user) {
    out.decision = fail(req, ReasonCode::not_authorized, user.error().message, true);
    return out;
  }
  // Re-authentication (AUTH 0x19) carries the connection's username: proving another user's
  // password must not switch the identity of a session set up (subscriptions, ACL) for this
  // one. A CONNECT naming a User Name besides the SCRAM user is refused the same way.
  if (req.username && *req.username != *user) {
    out.decision = fail(req, ReasonCode::not_authorized,
                        "SCRAM user '" + *user + "' is not the connection's user '" +
                            std::string(*req.username) + "'",
                        false);
    return out;
  }
  const tls::ScramUsers& users =
      hash == tls::ScramHash::sha512 ? state->scram512 : *state->scram256;
  const auto it = users.find(*user);
  tls::ScramCredential cred;
  if (it != users.end()) {
    cred = it->second;
  } else {
    // Unknown user: carry on with a decoy so only the proof step fails.
    const std::uint32_t iterations =
        users.empty() ? tls::kDefaultScramIterations : users.begin()->second.iterations;
    cred = tls::scram_decoy(hash, *user, iterations, decoy_key_);
  }
  auto server_first = x->server_.server_first(std::move(cred));
  if (!server_first) {
    out.decision = fail(req, ReasonCode::unspecified_error, server_first.error().message, false);
    return out;
  }
  out.decision.reason = ReasonCode::continue_authentication;
  out.auth_data.assign(server_first->begin(), server_first->end());
  exchange = std::move(x);
  return out;
}

EnhancedAuthStep Security::continue_enhanced_auth(ScramExchange& x, protocol::ByteSpan data) {
  EnhancedAuthStep out;
  // Checked again here: parallel exchanges started before the address was blocked would
  // otherwise each get one more password guess.
  if (limiter_.blocked(x.address_)) {
    out.decision = fail_at(x.address_, x.client_id_, ReasonCode::connection_rate_exceeded,
                           "too many failed logins", false);
    return out;
  }
  auto server_final = x.server_.client_final(as_text(data));
  if (!server_final) {
    out.decision =
        fail_at(x.address_, x.client_id_, ReasonCode::bad_user_name_or_password,
                "user '" + x.server_.username() + "': " + server_final.error().message, true);
    return out;
  }
  out.decision.reason = ReasonCode::success;
  out.decision.username = x.server_.username();
  out.auth_data.assign(server_final->begin(), server_final->end());
  return out;
}

core::AuthStep Security::start_auth(const core::AuthRequest& req,
                                    std::unique_ptr<core::AuthExchange>& exchange) {
  std::unique_ptr<ScramExchange> x;
  core::AuthStep step = start_enhanced_auth(req, x);
  exchange = std::move(x);
  return step;
}

core::AuthStep Security::continue_auth(core::AuthExchange& exchange, protocol::ByteSpan data) {
  auto* x = dynamic_cast<ScramExchange*>(&exchange);
  if (x == nullptr) {  // not one of ours: an engine bug, answered rather than crashed on
    core::AuthStep out;
    out.decision.reason = ReasonCode::unspecified_error;
    out.decision.log_detail = "enhanced authentication state from another authenticator";
    return out;
  }
  return continue_enhanced_auth(*x, data);
}

protocol::Result<std::string, protocol::Error> Security::issue_ticket(
    std::string_view username, std::string_view password, std::string_view remote_address,
    std::optional<std::vector<std::string>> publish,
    std::optional<std::vector<std::string>> subscribe) {
  const std::shared_ptr<const State> state = state_;
  if (!config_.tickets || !state->verifier) return protocol::fail("tickets are not enabled");
  if (state->ticket_secret.empty()) {
    return protocol::fail("issuing tickets needs the HS256 algorithm and a secret");
  }
  if (!state->passwords) return protocol::fail("issuing tickets needs a password_file");
  if (limiter_.blocked(remote_address)) return protocol::fail("too many failed logins");
  if (!state->passwords->verify(username, password)) {
    limiter_.record_failure(remote_address);
    return protocol::fail("bad username or password");
  }
  for (const auto* list : {&publish, &subscribe}) {
    if (!*list) continue;
    for (const auto& f : **list) {
      if (!filter_valid(f)) return protocol::fail("invalid topic filter '" + f + "'");
    }
  }
  tls::TicketSpec spec;
  spec.username = std::string(username);
  spec.username_claim = config_.tickets->username_claim;
  spec.issued_at = clock_.now();
  spec.lifetime = config_.tickets->issue_lifetime;
  spec.audience = config_.tickets->audience;
  spec.publish = std::move(publish);
  spec.subscribe = std::move(subscribe);
  return tls::issue_ticket(spec, tls::JwtAlg::hs256, state->ticket_secret);
}

}  // namespace broker::security
