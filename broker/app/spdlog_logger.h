// SpdlogLogger: routes the engine's log lines (core::Logger) to spdlog.
#pragma once

#include <spdlog/spdlog.h>

#include "broker/core/log.h"

namespace broker::app {

class SpdlogLogger final : public core::Logger {
 public:
  void log(core::LogLevel level, std::string_view line) noexcept override {
    switch (level) {
      case core::LogLevel::debug: spdlog::debug("{}", line); break;
      case core::LogLevel::info:
      case core::LogLevel::notice: spdlog::info("{}", line); break;
      case core::LogLevel::warning: spdlog::warn("{}", line); break;
      case core::LogLevel::error: spdlog::error("{}", line); break;
    }
  }
};

}  // namespace broker::app
