// Failed-login token buckets on a fake clock.
#include "broker/security/login_rate_limiter.h"

#include <doctest/doctest.h>

#include "tests/security/fake_clock.h"

using namespace std::chrono_literals;
using broker::security::LoginRateLimiter;
using broker::security::RateLimitConfig;

TEST_CASE("burst of failures, then blocked, then one more per refill interval") {
  test_util::FakeClock clock;
  LoginRateLimiter rl(RateLimitConfig{3, 10s, 100}, clock);
  CHECK_FALSE(rl.blocked("10.0.0.1:5000"));
  for (int i = 0; i < 3; ++i) {
    CHECK_FALSE(rl.blocked("10.0.0.1:5000"));
    rl.record_failure("10.0.0.1:5000");
  }
  // Same host, other port: same bucket.
  CHECK(rl.blocked("10.0.0.1:6000"));
  CHECK(rl.blocked("10.0.0.1"));
  // Other addresses are unaffected.
  CHECK_FALSE(rl.blocked("10.0.0.2:5000"));
  clock.advance(9s);
  CHECK(rl.blocked("10.0.0.1"));
  clock.advance(1s);
  CHECK_FALSE(rl.blocked("10.0.0.1"));
  rl.record_failure("10.0.0.1");
  CHECK(rl.blocked("10.0.0.1"));
  // Full refill is capped at the burst.
  clock.advance(1h);
  CHECK(rl.remaining("10.0.0.1") == doctest::Approx(3.0));
}

TEST_CASE("host_part strips ports, keeps bare IPv6") {
  CHECK(LoginRateLimiter::host_part("1.2.3.4:99") == "1.2.3.4");
  CHECK(LoginRateLimiter::host_part("[::1]:99") == "::1");
  CHECK(LoginRateLimiter::host_part("::1") == "::1");
  CHECK(LoginRateLimiter::host_part("fe80::1") == "fe80::1");
  CHECK(LoginRateLimiter::host_part("1.2.3.4") == "1.2.3.4");
}

TEST_CASE("memory is bounded: refilled buckets are pruned, then the oldest") {
  test_util::FakeClock clock;
  LoginRateLimiter rl(RateLimitConfig{2, 1s, 3}, clock);
  for (int i = 0; i < 3; ++i) {
    rl.record_failure("10.0.0." + std::to_string(i));
    clock.advance(10ms);
  }
  CHECK(rl.tracked() == 3);
  rl.record_failure("10.0.1.1");
  CHECK(rl.tracked() == 3);  // the oldest went
  clock.advance(5s);         // all refilled
  rl.record_failure("10.0.1.2");
  CHECK(rl.tracked() <= 3);
  CHECK(rl.remaining("10.0.1.2") == doctest::Approx(1.0));
}
