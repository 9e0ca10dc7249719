// Logging setup: one spdlog logger with a sink per log_dest.
#include "broker/app/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace broker::app {

protocol::Status setup_logging(const std::vector<std::string>& dests, bool verbose) {
  std::vector<spdlog::sink_ptr> sinks;
  for (const auto& d : dests) {
    if (d == "stderr") {
      sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else if (d == "stdout") {
      sinks.push_back(std::make_shared<spdlog::sinks::stdout_sink_mt>());
    } else if (d.rfind("file ", 0) == 0) {
      const std::string path = d.substr(5);
      try {
        sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, false));
      } catch (const spdlog::spdlog_ex& e) {
        return protocol::fail("log_dest file " + path + ": " + e.what());
      }
    } else if (d == "none") {
      // nothing
    } else {
      return protocol::fail("log_dest '" + d + "' is not supported (stderr, stdout, file PATH)");
    }
  }
  auto logger = std::make_shared<spdlog::logger>("wisp", sinks.begin(), sinks.end());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  return protocol::ok();
}

}  // namespace broker::app
