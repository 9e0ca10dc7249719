// Manual clock for security tests.
#pragma once

#include "broker/core/clock.h"

namespace test_util {

class FakeClock final : public broker::core::Clock {
 public:
  broker::core::TimePoint now() const noexcept override { return now_; }
  void advance(std::chrono::milliseconds d) { now_ += d; }
  void set(broker::core::TimePoint t) { now_ = t; }

 private:
  broker::core::TimePoint now_{std::chrono::seconds(1'800'000'000)};
};

}  // namespace test_util
