// BrokerProcess: the real `wisp` binary on free loopback ports with a temporary
// mosquitto.conf-syntax config; readiness is its "wisp ready" log line (no blind sleeps).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "process.h"

namespace wisp_test {

struct BrokerOptions {
  std::string first;   // lines before everything else (e.g. per_listener_settings true)
  std::string global;  // extra global config lines
  std::string tcp;     // extra lines in the TCP listener's scope
  std::string ws;      // extra lines in the WebSocket listener's scope
  bool tcp_listener = true;
  bool ws_listener = true;
  bool persistence = false;  // SQLite file in the temp dir (survives restart())
};

inline BrokerOptions global_opts(std::string lines) {
  BrokerOptions o;
  o.global = std::move(lines);
  return o;
}
inline BrokerOptions ws_opts(std::string lines) {
  BrokerOptions o;
  o.ws = std::move(lines);
  return o;
}

class BrokerProcess {
 public:
  explicit BrokerProcess(BrokerOptions opts = {});
  ~BrokerProcess();

  bool running() const { return proc_ && ready_; }
  std::uint16_t tcp_port = 0;
  std::uint16_t ws_port = 0;
  std::filesystem::path dir;  // temp dir with wisp.conf (removed at the end)
  Process& process() { return *proc_; }
  std::string ws_url(const std::string& path = "/mqtt") const {
    return "ws://127.0.0.1:" + std::to_string(ws_port) + path;
  }

  // Waits for a log line (stderr) containing `s`.
  bool wait_log(const std::string& s, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // SIGTERM and wait; returns the exit code (nullopt if it did not exit in time).
  std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // stop() then start again with the same config, ports and data directory.
  bool restart();
  // VmRSS of the broker in KiB (0 if unknown).
  long rss_kib() const;
  std::string log_text();

 private:
  bool launch();
  std::unique_ptr<Process> proc_;
  bool ready_ = false;
};

// Absolute path of build/wisp (compile definition from CMake).
std::string wisp_binary();

}  // namespace wisp_test
