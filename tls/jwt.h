// JSON Web Tokens (RFC 7519) used as Wisp "tickets": verify HS256 / RS256 / ES256 with one
// configured algorithm and key, and issue (sign) tickets. The JOSE header's "alg" must equal
// the configured algorithm: "none" and any other value are rejected before any other work.
//
// Claims read:  <username_claim> (default "sub")  username, non-empty string, required
//               exp  required (NumericDate), nbf optional, both with `leeway`
//               aud  required to contain `audience` when one is configured (string or array)
//               publish   optional array of topic filters the client may publish to
//               subscribe optional array of topic filters the client may subscribe to / read
// A token with neither "publish" nor "subscribe" carries no topic grants (the ACL file
// applies to its username); a token with either acts as the client's whole ACL.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/result.h"

namespace tls {

enum class JwtAlg { hs256, rs256, es256 };
const char* to_string(JwtAlg a) noexcept;  // "HS256", ...
std::optional<JwtAlg> parse_jwt_alg(std::string_view name) noexcept;

using WallClock = std::chrono::system_clock;

struct JwtVerifyConfig {
  JwtAlg alg = JwtAlg::hs256;
  std::string secret;          // HS256: at least 32 bytes
  std::string public_key_pem;  // RS256 (RSA >= 2048 bits) / ES256 (P-256): PEM text
  std::string username_claim = "sub";
  std::chrono::seconds leeway{30};
  std::optional<std::string> audience;
  std::size_t max_token_bytes = 8192;
};

struct JwtClaims {
  std::string username;
  WallClock::time_point expires;
  std::optional<WallClock::time_point> not_before;
  std::optional<std::vector<std::string>> publish;
  std::optional<std::vector<std::string>> subscribe;
  bool has_topic_grants() const noexcept { return publish.has_value() || subscribe.has_value(); }
};

class JwtVerifier {
 public:
  // Checks the key: wrong key type for the algorithm, short secret, unparsable PEM -> error.
  static protocol::Result<std::unique_ptr<JwtVerifier>, protocol::Error> create(
      JwtVerifyConfig config);
  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // The error message says why (for logs); it never contains the token.
  protocol::Result<JwtClaims, protocol::Error> verify(std::string_view token,
                                                      WallClock::time_point now) const;
  const JwtVerifyConfig& config() const noexcept { return config_; }

 private:
  explicit JwtVerifier(JwtVerifyConfig config);
  struct Key;
  JwtVerifyConfig config_;
  std::unique_ptr<Key> key_;
};

struct TicketSpec {
  std::string username;
  std::string username_claim = "sub";
  WallClock::time_point issued_at;
  std::chrono::seconds lifetime{300};
  std::optional<std::string> audience;
  std::optional<std::vector<std::string>> publish;
  std::optional<std::vector<std::string>> subscribe;
};

// Signs a ticket. HS256: `key` is the secret; RS256/ES256: `key` is a PEM private key.
protocol::Result<std::string, protocol::Error> issue_ticket(const TicketSpec& spec, JwtAlg alg,
                                                            std::string_view key);

// Signs arbitrary JSON claims text (tests: tampered, odd or missing claims). `header_json`
// empty means {"alg":<alg>,"typ":"JWT"}.
protocol::Result<std::string, protocol::Error> sign_jwt(std::string_view claims_json, JwtAlg alg,
                                                        std::string_view key,
                                                        std::string_view header_json = {});

}  // namespace tls
