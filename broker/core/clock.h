// The engine's only source of time; tests use a manual clock.
#pragma once

#include "broker/core/message.h"

namespace broker::core {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const noexcept = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const noexcept override { return std::chrono::system_clock::now(); }
};

}  // namespace broker::core
