// Optional log sink for the engine: protocol/ and core/ have no logging dependency; the app
// routes these lines to spdlog. Loop thread only.
#pragma once

#include <string_view>

namespace broker::core {

enum class LogLevel { debug, info, notice, warning, error };

class Logger {
 public:
  virtual ~Logger() = default;
  // `line` is valid only during the call.
  virtual void log(LogLevel level, std::string_view line) noexcept = 0;
};

const char* to_string(LogLevel level) noexcept;

}  // namespace broker::core
