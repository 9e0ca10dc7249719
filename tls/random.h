// Cryptographic random bytes: mbedTLS CTR-DRBG seeded from the OS entropy source.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "protocol/result.h"

namespace tls {

class Random {
 public:
  // Seeds a fresh DRBG; fails only if the entropy source does.
  static protocol::Result<std::unique_ptr<Random>, protocol::Error> create();
  ~Random();
  Random(const Random&) = delete;
  Random& operator=(const Random&) = delete;

  protocol::Status fill(std::span<std::uint8_t> out);
  // For mbedTLS APIs taking (f_rng, p_rng): pass &Random::mbed_rng and this object.
  static int mbed_rng(void* self, unsigned char* out, std::size_t len) noexcept;

 private:
  Random();
  struct State;
  std::unique_ptr<State> state_;
};

// Convenience: one DRBG per thread, created on first use.
protocol::Result<std::vector<std::uint8_t>, protocol::Error> random_bytes(std::size_t n);
Random* thread_random();  // nullptr if seeding failed

}  // namespace tls
