// Mosquitto-compatible password hashing on mbedTLS (SHA-512, PBKDF2-HMAC-SHA512).
#include "tls/password_hash.h"

#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/sha512.h>

#include <algorithm>
#include <charconv>
#include <memory>

#include "tls/base64.h"
#include "tls/random.h"

namespace tls {
namespace {

const unsigned char* uchars(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// PBKDF2-HMAC-SHA512 for one 64-byte output block [RFC 8018 section 5.2], with the HMAC
// key's inner and outer pad states computed once: two SHA-512 compressions per iteration,
// about half of what mbedtls_pkcs5_pbkdf2_hmac() spends (it re-keys the HMAC each round).
bool pbkdf2_sha512(std::string_view password, protocol::ByteSpan salt, std::uint32_t iterations,
                   std::uint8_t out[64]) {
  constexpr std::size_t kBlock = 128;
  unsigned char key[kBlock] = {};
  if (password.size() > kBlock) {
    if (mbedtls_sha512_ret(uchars(password), password.size(), key, 0) != 0) return false;
  } else {
    std::copy(password.begin(), password.end(), key);
  }
  unsigned char ipad[kBlock];
  unsigned char opad[kBlock];
  for (std::size_t i = 0; i < kBlock; ++i) {
    ipad[i] = static_cast<unsigned char>(key[i] ^ 0x36);
    opad[i] = static_cast<unsigned char>(key[i] ^ 0x5C);
  }
  struct Sha {
    mbedtls_sha512_context c;
    Sha() { mbedtls_sha512_init(&c); }
    ~Sha() { mbedtls_sha512_free(&c); }
  };
  Sha inner0, outer0, work;
  int rc = mbedtls_sha512_starts_ret(&inner0.c, 0);
  if (rc == 0) rc = mbedtls_sha512_update_ret(&inner0.c, ipad, kBlock);
  if (rc == 0) rc = mbedtls_sha512_starts_ret(&outer0.c, 0);
  if (rc == 0) rc = mbedtls_sha512_update_ret(&outer0.c, opad, kBlock);
  if (rc != 0) return false;
  const auto hmac = [&](const unsigned char* a, std::size_t alen, const unsigned char* b,
                        std::size_t blen, unsigned char mac[64]) {
    unsigned char inner[64];
    mbedtls_sha512_clone(&work.c, &inner0.c);
    int r = mbedtls_sha512_update_ret(&work.c, a, alen);
    if (r == 0 && blen > 0) r = mbedtls_sha512_update_ret(&work.c, b, blen);
    if (r == 0) r = mbedtls_sha512_finish_ret(&work.c, inner);
    mbedtls_sha512_clone(&work.c, &outer0.c);
    if (r == 0) r = mbedtls_sha512_update_ret(&work.c, inner, sizeof inner);
    if (r == 0) r = mbedtls_sha512_finish_ret(&work.c, mac);
    return r == 0;
  };
  static const unsigned char kBlockIndex[4] = {0, 0, 0, 1};  // INT(1): the only block
  unsigned char u[64];
  if (!hmac(salt.data(), salt.size(), kBlockIndex, sizeof kBlockIndex, u)) return false;
  std::copy(u, u + 64, out);
  for (std::uint32_t i = 1; i < iterations; ++i) {
    if (!hmac(u, sizeof u, nullptr, 0, u)) return false;
    for (std::size_t j = 0; j < 64; ++j) out[j] = static_cast<std::uint8_t>(out[j] ^ u[j]);
  }
  return true;
}

std::vector<std::uint8_t> compute(const PasswordHash& h, std::string_view password) {
  std::vector<std::uint8_t> out(kHashBytes);
  if (h.kind == HashKind::sha512) {
    mbedtls_sha512_context sha;
    mbedtls_sha512_init(&sha);
    int rc = mbedtls_sha512_starts_ret(&sha, 0);
    if (rc == 0) rc = mbedtls_sha512_update_ret(&sha, uchars(password), password.size());
    if (rc == 0) rc = mbedtls_sha512_update_ret(&sha, h.salt.data(), h.salt.size());
    if (rc == 0) rc = mbedtls_sha512_finish_ret(&sha, out.data());
    mbedtls_sha512_free(&sha);
    if (rc != 0) return {};
    return out;
  }
  if (!pbkdf2_sha512(password, h.salt, h.iterations, out.data())) return {};
  return out;
}

}  // namespace

std::vector<std::uint8_t> pbkdf2_sha512_reference(std::string_view password,
                                                  protocol::ByteSpan salt,
                                                  std::uint32_t iterations) {
  mbedtls_md_context_t md;
  mbedtls_md_init(&md);
  std::vector<std::uint8_t> out(kHashBytes);
  const bool ok = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA512), 1) == 0 &&
                  mbedtls_pkcs5_pbkdf2_hmac(
                      &md, uchars(password), password.size(), salt.data(), salt.size(), iterations,
                      static_cast<std::uint32_t>(kHashBytes), out.data()) == 0;
  mbedtls_md_free(&md);
  if (!ok) out.clear();
  return out;
}

namespace {

std::vector<std::string_view> split_dollar(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t pos = s.find('$', start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

}  // namespace

bool constant_time_equal(protocol::ByteSpan a, protocol::ByteSpan b) noexcept {
  if (a.size() != b.size()) return false;
  volatile std::uint8_t diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff = static_cast<std::uint8_t>(diff | (a[i] ^ b[i]));
  return diff == 0;
}

protocol::Result<PasswordHash, protocol::Error> parse_password_hash(std::string_view encoded) {
  const auto parts = split_dollar(encoded);
  // "$6$salt$hash" -> ["", "6", salt, hash]; "$7$n$salt$hash" -> ["", "7", n, salt, hash]
  if (parts.size() < 2 || !parts[0].empty()) {
    return protocol::fail("not a hashed password (plain-text passwords are not supported)");
  }
  PasswordHash h;
  std::string_view salt_b64;
  std::string_view hash_b64;
  if (parts[1] == "6") {
    if (parts.size() != 4) return protocol::fail("malformed $6$ hash (want $6$salt$hash)");
    h.kind = HashKind::sha512;
    salt_b64 = parts[2];
    hash_b64 = parts[3];
  } else if (parts[1] == "7") {
    if (parts.size() != 5) {
      return protocol::fail("malformed $7$ hash (want $7$iterations$salt$hash)");
    }
    h.kind = HashKind::pbkdf2_sha512;
    const auto it = parts[2];
    const auto [ptr, ec] = std::from_chars(it.data(), it.data() + it.size(), h.iterations);
    if (ec != std::errc{} || ptr != it.data() + it.size() || h.iterations == 0) {
      return protocol::fail("bad iteration count in $7$ hash");
    }
    if (h.iterations > kMaxPbkdf2Iterations) {
      return protocol::fail("iteration count in $7$ hash is above " +
                            std::to_string(kMaxPbkdf2Iterations));
    }
    salt_b64 = parts[3];
    hash_b64 = parts[4];
  } else {
    return protocol::fail("unsupported hash type $" + std::string(parts[1]) + "$");
  }
  auto salt = base64_decode(salt_b64);
  if (!salt || salt->empty()) return protocol::fail("bad base64 salt");
  auto hash = base64_decode(hash_b64);
  if (!hash) return protocol::fail("bad base64 hash");
  if (hash->size() != kHashBytes) return protocol::fail("hash is not 64 bytes");
  h.salt = std::move(*salt);
  h.hash = std::move(*hash);
  return h;
}

std::string format_password_hash(const PasswordHash& h) {
  std::string out = h.kind == HashKind::sha512 ? "$6$" : "$7$" + std::to_string(h.iterations) + "$";
  out += base64_encode(h.salt);
  out += '$';
  out += base64_encode(h.hash);
  return out;
}

bool verify_password(const PasswordHash& h, std::string_view password) {
  if (h.kind == HashKind::pbkdf2_sha512 &&
      (h.iterations == 0 || h.iterations > kMaxPbkdf2Iterations)) {
    return false;
  }
  const auto computed = compute(h, password);
  if (computed.empty()) return false;
  return constant_time_equal(computed, h.hash);
}

protocol::Result<PasswordHash, protocol::Error> make_password_hash(std::string_view password,
                                                                   std::uint32_t iterations) {
  if (iterations == 0 || iterations > kMaxPbkdf2Iterations) {
    return protocol::fail("iteration count must be 1.." + std::to_string(kMaxPbkdf2Iterations));
  }
  auto salt = random_bytes(kSaltBytes);
  if (!salt) return protocol::unexpected(salt.error());
  PasswordHash h;
  h.kind = HashKind::pbkdf2_sha512;
  h.iterations = iterations;
  h.salt = std::move(salt).value();
  h.hash = compute(h, password);
  if (h.hash.empty()) return protocol::fail("PBKDF2 failed");
  return h;
}

}  // namespace tls
