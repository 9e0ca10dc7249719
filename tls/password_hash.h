// Mosquitto password hashes: "$6$salt$hash" (SHA-512 of password then salt) and
// "$7$iterations$salt$hash" (PBKDF2-HMAC-SHA512, 64-byte output); salt and hash are padded
// base64. Parsing, verification (constant time) and creation of "$7$" hashes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/result.h"
#include "protocol/types.h"

namespace tls {

enum class HashKind { sha512, pbkdf2_sha512 };

struct PasswordHash {
  HashKind kind = HashKind::pbkdf2_sha512;
  std::uint32_t iterations = 0;  // pbkdf2 only
  std::vector<std::uint8_t> salt;
  std::vector<std::uint8_t> hash;  // 64 bytes
};

// Mosquitto 2.0's mosquitto_passwd writes 101 iterations and a 12-byte salt. We write more:
// each verification costs `iterations` HMAC-SHA512 pairs (see README for measured times).
inline constexpr std::uint32_t kDefaultPbkdf2Iterations = 100'000;
// Files with a larger count are refused: verifying would stall the broker (and Mosquitto).
inline constexpr std::uint32_t kMaxPbkdf2Iterations = 10'000'000;
inline constexpr std::size_t kSaltBytes = 12;
inline constexpr std::size_t kHashBytes = 64;

// Parses the part after "user:". Errors say what is wrong, never echo the hash.
protocol::Result<PasswordHash, protocol::Error> parse_password_hash(std::string_view encoded);
std::string format_password_hash(const PasswordHash& h);

// Recomputes the hash of `password` with h's parameters and compares in constant time.
bool verify_password(const PasswordHash& h, std::string_view password);

// A new "$7$" hash with a random salt from the CTR-DRBG.
protocol::Result<PasswordHash, protocol::Error> make_password_hash(
    std::string_view password, std::uint32_t iterations = kDefaultPbkdf2Iterations);

// mbedTLS's own PBKDF2-HMAC-SHA512 (slower): the cross-check for our implementation.
std::vector<std::uint8_t> pbkdf2_sha512_reference(std::string_view password,
                                                  protocol::ByteSpan salt,
                                                  std::uint32_t iterations);

// Compares without data-dependent branches or early exit (lengths are not secret).
bool constant_time_equal(protocol::ByteSpan a, protocol::ByteSpan b) noexcept;

}  // namespace tls
