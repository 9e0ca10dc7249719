// SCRAM (RFC 5802, RFC 7677) server side for MQTT 5 enhanced authentication, without
// channel binding: SCRAM-SHA-256 and SCRAM-SHA-512. A Mosquitto "$7$" hash is exactly
// SCRAM-SHA-512's SaltedPassword (PBKDF2-HMAC-SHA512, 64 bytes), so password_file users
// can use SCRAM-SHA-512 unchanged. Pure state machine; one object per authentication.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/result.h"
#include "protocol/types.h"
#include "tls/password_hash.h"

namespace tls {

enum class ScramHash { sha256, sha512 };
const char* scram_mechanism(ScramHash h) noexcept;  // "SCRAM-SHA-256" / "SCRAM-SHA-512"
std::optional<ScramHash> parse_scram_mechanism(std::string_view name) noexcept;

struct ScramCredential {
  ScramHash hash = ScramHash::sha256;
  std::vector<std::uint8_t> salt;
  std::uint32_t iterations = 0;
  std::vector<std::uint8_t> stored_key;  // H(HMAC(SaltedPassword, "Client Key"))
  std::vector<std::uint8_t> server_key;  // HMAC(SaltedPassword, "Server Key")
};

protocol::Result<ScramCredential, protocol::Error> scram_credential(ScramHash hash,
                                                                    std::string_view password,
                                                                    protocol::ByteSpan salt,
                                                                    std::uint32_t iterations);
// From a "$7$" PasswordHash (SCRAM-SHA-512 only).
protocol::Result<ScramCredential, protocol::Error> scram_credential(const PasswordHash& h);

// A stand-in credential for an unknown user: same shape, stable per username (salt derived
// from `secret`), matches no password. Hides which users exist.
ScramCredential scram_decoy(ScramHash hash, std::string_view username, std::uint32_t iterations,
                            protocol::ByteSpan secret);

// Dedicated SCRAM verifier files, one "user:VERIFIER" per line ('#' comments), in
// PostgreSQL's format: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (base64).
std::string format_scram_verifier(const ScramCredential& c);
protocol::Result<ScramCredential, protocol::Error> parse_scram_verifier(std::string_view text);
using ScramUsers = std::map<std::string, ScramCredential, std::less<>>;
protocol::Result<ScramUsers, protocol::Error> parse_scram_file(std::string_view text,
                                                               std::string_view name);
protocol::Result<ScramUsers, protocol::Error> load_scram_file(const std::string& path);
inline constexpr std::uint32_t kDefaultScramIterations = 4096;  // RFC 7677 minimum

class ScramServer {
 public:
  explicit ScramServer(ScramHash hash) : hash_(hash) {}

  // Step 1: parses client-first-message; returns the username to look up.
  protocol::Result<std::string, protocol::Error> client_first(std::string_view message);
  // Step 2: server-first-message for `cred` (pass a decoy credential for unknown users so the
  // failure comes only at the proof). `server_nonce` empty = 18 random bytes, base64.
  protocol::Result<std::string, protocol::Error> server_first(ScramCredential cred,
                                                              std::string server_nonce = {});
  // Step 3: checks client-final-message; returns server-final-message ("v=...") on success.
  protocol::Result<std::string, protocol::Error> client_final(std::string_view message);

  const std::string& username() const noexcept { return username_; }

 private:
  enum class Step { first, second, final, done };
  ScramHash hash_;
  Step step_ = Step::first;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string client_nonce_;
  std::string server_first_;
  std::string nonce_;
  std::string username_;
  ScramCredential cred_;
};

// Client side (tests and tools): builds the messages a client sends.
class ScramClient {
 public:
  ScramClient(ScramHash hash, std::string username, std::string password,
              std::string client_nonce = {});
  std::string client_first() const;
  protocol::Result<std::string, protocol::Error> client_final(std::string_view server_first);
  bool verify_server_final(std::string_view server_final) const;

 private:
  ScramHash hash_;
  std::string username_;
  std::string password_;
  std::string nonce_;
  std::string expected_server_signature_;
};

}  // namespace tls
