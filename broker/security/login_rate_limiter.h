// Failed-login rate limiting per client address: a token bucket per address holding up to
// `burst` failures, refilled by one every `refill_interval`. While the bucket is empty the
// address is refused before any password is checked (so it also caps the PBKDF2 work an
// attacker can cause). Pure logic on an injected clock; loop thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

#include "broker/core/clock.h"

namespace broker::security {

struct RateLimitConfig {
  double burst = 10;                                // failures allowed back to back
  std::chrono::milliseconds refill_interval{6000};  // one more failure allowed per interval
  std::size_t max_tracked = 10000;                  // addresses remembered; oldest full dropped
};

class LoginRateLimiter {
 public:
  LoginRateLimiter(RateLimitConfig config, const core::Clock& clock);

  // True when `address` has no failures left: refuse the login without checking it.
  bool blocked(std::string_view address);
  void record_failure(std::string_view address);
  // Remaining failures allowed right now (tests, logs).
  double remaining(std::string_view address);
  std::size_t tracked() const noexcept { return buckets_.size(); }

  // "1.2.3.4:5678" -> "1.2.3.4", "[::1]:5678" -> "::1"; a bare address is returned as is.
  static std::string_view host_part(std::string_view address) noexcept;

 private:
  struct Bucket {
    double tokens;
    core::TimePoint updated;
  };
  Bucket& refill(std::string_view host);
  void prune();

  RateLimitConfig config_;
  const core::Clock& clock_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace broker::security
