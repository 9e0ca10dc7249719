// Logging setup for the wisp executable: spdlog to stderr, stdout and/or files, as the
// config's log_dest says; -v lowers the level to debug.
#pragma once

#include <string>
#include <vector>

#include "protocol/result.h"

namespace broker::app {

// dests: "stderr", "stdout", "file PATH" (Mosquitto log_dest values; "none" = silent).
protocol::Status setup_logging(const std::vector<std::string>& dests, bool verbose);

}  // namespace broker::app
