// Security: the broker's Authenticator and Authorizer, built from the config's files.
//   authentication  password_file (Mosquitto format), tickets (JWT, as the MQTT password or
//                   AuthRequest::ticket), TLS client identity, per-listener allow_anonymous,
//                   failed logins rate-limited per address; MQTT 5 enhanced auth (AUTH
//                   packets) with SCRAM-SHA-512 ($7$ password_file entries) and
//                   SCRAM-SHA-256 (scram_file)
//   authorization   acl_file (Mosquitto semantics, see acl_file.h) or, for a ticket carrying
//                   "publish"/"subscribe" lists, those lists; writes to "$SYS/..." refused
// reload() re-reads every file; on any error it keeps the previous state and returns why.
// All calls on the loop thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/core/auth.h"
#include "broker/core/clock.h"
#include "broker/security/acl_file.h"
#include "broker/security/login_rate_limiter.h"
#include "protocol/result.h"
#include "tls/scram.h"

namespace tls {
class JwtVerifier;
class PasswordFile;
}  // namespace tls

namespace broker::security {

struct TicketConfig {
  std::string algorithm = "HS256";  // HS256, RS256 or ES256
  std::string secret;               // HS256 secret (or secret_file)
  std::string secret_file;          // file whose content (trailing newline stripped) is it
  std::string public_key_file;      // RS256 / ES256: PEM public key
  std::string username_claim = "sub";
  std::chrono::seconds clock_skew{30};
  std::optional<std::string> audience;
  std::chrono::seconds issue_lifetime{300};  // tickets made by issue_ticket()
};

struct SecurityConfig {
  std::string password_file;  // empty: no password file
  // SCRAM-SHA-256 verifiers (`wisp passwd --scram-sha-256`); empty: SCRAM-SHA-256 is off.
  // SCRAM-SHA-512 uses the password_file's "$7$" entries and is on whenever it is set.
  std::string scram_file;
  std::string acl_file;  // empty: everything authorized (but "$SYS" writes)
  std::optional<TicketConfig> tickets;
  SubscribeCheck subscribe_check = SubscribeCheck::mosquitto;
  RateLimitConfig rate_limit;
};

// Topic grants of a ticket, handed back by the engine on every check.
class TicketGrants final : public core::Grants {
 public:
  TicketGrants(std::optional<std::vector<std::string>> publish,
               std::optional<std::vector<std::string>> subscribe)
      : publish_(std::move(publish)), subscribe_(std::move(subscribe)) {}
  bool allowed(std::string_view topic, core::Access access) const;

 private:
  std::optional<std::vector<std::string>> publish_;    // absent = may publish nowhere
  std::optional<std::vector<std::string>> subscribe_;  // absent = may subscribe nowhere
};

// One step of MQTT 5 enhanced authentication [MQTT-4.12]: the engine's AuthStep.
//   continue_authentication  send AUTH (0x18) with auth_data, wait for the client's AUTH
//   success                  send CONNACK (or AUTH 0x00 on re-authentication) with auth_data
//   an error                 send CONNACK / DISCONNECT with that reason; the exchange is over
using EnhancedAuthStep = core::AuthStep;

// The state of one SCRAM exchange (per connection); created by start_auth() /
// start_enhanced_auth(), held by the engine between AUTH packets.
class ScramExchange final : public core::AuthExchange {
 public:
  ScramExchange(tls::ScramHash hash, std::string address, std::string client_id)
      : server_(hash), address_(std::move(address)), client_id_(std::move(client_id)) {}

 private:
  friend class Security;
  tls::ScramServer server_;
  std::string address_;
  std::string client_id_;
};

class Security final : public core::Authenticator, public core::Authorizer {
 public:
  static protocol::Result<std::unique_ptr<Security>, protocol::Error> create(
      SecurityConfig config, const core::Clock& clock);
  ~Security() override;

  protocol::Status reload();

  core::AuthDecision authenticate(const core::AuthRequest& req) override;
  bool allowed(const core::ClientIdentity& who, std::string_view topic,
               core::Access access) override;

  // MQTT 5 enhanced authentication, called by the engine (core::Connection):
  // "SCRAM-SHA-512" with a password_file, "SCRAM-SHA-256" with a scram_file.
  bool supports_method(std::string_view method) const override;
  // CONNECT (or AUTH 0x19 re-authentication) with Authentication Method `req.auth_method` and
  // the client-first message in `req.auth_data`; answers server-first (continue, 0x18). On
  // re-authentication (or a CONNECT carrying a User Name) the SCRAM user must be
  // `req.username`, else 0x87: a connection cannot change identity that way.
  // Failures: unknown method 0x8C, address blocked by the rate limiter 0x9F, malformed
  // client-first 0x87.
  core::AuthStep start_auth(const core::AuthRequest& req,
                            std::unique_ptr<core::AuthExchange>& exchange) override;
  // The client-final message of the AUTH 0x18: success (0x00) with server-final, or 0x86 for a
  // wrong proof (counted by the rate limiter), or 0x9F if the address got blocked meanwhile.
  core::AuthStep continue_auth(core::AuthExchange& exchange, protocol::ByteSpan data) override;

  // The same, typed (start_auth/continue_auth forward here).
  EnhancedAuthStep start_enhanced_auth(const core::AuthRequest& req,
                                       std::unique_ptr<ScramExchange>& exchange);
  EnhancedAuthStep continue_enhanced_auth(ScramExchange& exchange, protocol::ByteSpan data);

  // For POST /api/v1/tickets: checks the credentials against the password file (rate
  // limited per address like MQTT logins) and signs an HS256 ticket for `username` with the
  // configured lifetime and optional topic lists. Needs tickets with algorithm HS256.
  protocol::Result<std::string, protocol::Error> issue_ticket(
      std::string_view username, std::string_view password, std::string_view remote_address,
      std::optional<std::vector<std::string>> publish = std::nullopt,
      std::optional<std::vector<std::string>> subscribe = std::nullopt);

  bool has_password_file() const noexcept;
  bool has_acl_file() const noexcept;
  bool tickets_enabled() const noexcept;
  LoginRateLimiter& rate_limiter() noexcept { return limiter_; }

  // Exposed so the listener setup can warn ("anonymous access on a non-loopback listener").
  static bool looks_like_jwt(std::string_view s) noexcept;

 private:
  struct State;
  Security(SecurityConfig config, const core::Clock& clock);
  static protocol::Result<std::shared_ptr<const State>, protocol::Error> load_state(
      const SecurityConfig& config);
  core::AuthDecision fail(const core::AuthRequest& req, protocol::ReasonCode reason,
                          std::string detail, bool count_failure);
  core::AuthDecision from_ticket(const core::AuthRequest& req, std::string_view token);

  core::AuthDecision fail_at(std::string_view address, std::string_view client_id,
                             protocol::ReasonCode reason, std::string detail, bool count_failure);

  SecurityConfig config_;
  const core::Clock& clock_;
  std::vector<std::uint8_t> decoy_key_;  // per process: salts of unknown SCRAM users
  LoginRateLimiter limiter_;
  std::shared_ptr<const State> state_;
};

}  // namespace broker::security
