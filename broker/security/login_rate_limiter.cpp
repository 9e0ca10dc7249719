// Token buckets of failed logins per address.
#include "broker/security/login_rate_limiter.h"

#include <algorithm>

namespace broker::security {

LoginRateLimiter::LoginRateLimiter(RateLimitConfig config, const core::Clock& clock)
    : config_(config), clock_(clock) {
  if (config_.burst < 1) config_.burst = 1;
  if (config_.refill_interval.count() <= 0) config_.refill_interval = std::chrono::milliseconds(1);
  if (config_.max_tracked == 0) config_.max_tracked = 1;
}

std::string_view LoginRateLimiter::host_part(std::string_view address) noexcept {
  if (!address.empty() && address.front() == '[') {
    const auto close = address.find(']');
    if (close != std::string_view::npos) return address.substr(1, close - 1);
    return address;
  }
  // Exactly one ':' -> IPv4 (or name) with a port; more -> a bare IPv6 address.
  const auto colon = address.find(':');
  if (colon != std::string_view::npos && address.find(':', colon + 1) == std::string_view::npos) {
    return address.substr(0, colon);
  }
  return address;
}

LoginRateLimiter::Bucket& LoginRateLimiter::refill(std::string_view host) {
  const auto now = clock_.now();
  auto it = buckets_.find(std::string(host));
  if (it == buckets_.end()) {
    if (buckets_.size() >= config_.max_tracked) prune();
    it = buckets_.emplace(std::string(host), Bucket{config_.burst, now}).first;
    return it->second;
  }
  Bucket& b = it->second;
  if (now > b.updated) {
    const double elapsed = std::chrono::duration<double, std::milli>(now - b.updated).count();
    b.tokens = std::min(config_.burst,
                        b.tokens + elapsed / static_cast<double>(config_.refill_interval.count()));
    b.updated = now;
  }
  return b;
}

void LoginRateLimiter::prune() {
  // Drop buckets that have refilled completely; if none has, drop the least recently used.
  const auto now = clock_.now();
  const double per_ms = 1.0 / static_cast<double>(config_.refill_interval.count());
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const double elapsed =
        std::chrono::duration<double, std::milli>(now - it->second.updated).count();
    if (it->second.tokens + elapsed * per_ms >= config_.burst) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
  if (buckets_.size() >= config_.max_tracked) {
    auto oldest = std::min_element(
        buckets_.begin(), buckets_.end(),
        [](const auto& a, const auto& b) { return a.second.updated < b.second.updated; });
    if (oldest != buckets_.end()) buckets_.erase(oldest);
  }
}

bool LoginRateLimiter::blocked(std::string_view address) {
  const std::string_view host = host_part(address);
  if (buckets_.find(std::string(host)) == buckets_.end()) return false;
  return refill(host).tokens < 1.0;
}

void LoginRateLimiter::record_failure(std::string_view address) {
  Bucket& b = refill(host_part(address));
  b.tokens = std::max(0.0, b.tokens - 1.0);
}

double LoginRateLimiter::remaining(std::string_view address) {
  const std::string_view host = host_part(address);
  if (buckets_.find(std::string(host)) == buckets_.end()) return config_.burst;
  return refill(host).tokens;
}

}  // namespace broker::security
