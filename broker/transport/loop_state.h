// Internal to broker/transport: state shared by the lws callback, the listeners and the links
// of one event loop (staging buffer, connection counts, options). Includes <libwebsockets.h>.
#pragma once

#include <libwebsockets.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "broker/transport/server.h"

namespace broker::transport {

class Link;

// Bytes of MQTT output coalesced into one lws_write per WRITEABLE; tx_packet_size matches, so
// lws hands the whole batch to one send() (LWS-NOTES §4).
inline constexpr std::size_t kStagingCap = 64 * 1024;
// Output bytes one WRITEABLE callback may move (several staging batches) before the link
// yields the loop to other sockets.
inline constexpr std::size_t kWriteBudget = 1024 * 1024;

// One per vhost; the vhost's user pointer.
struct ListenerState {
  ListenerSpec spec;
  std::string label;  // "ws:8080", "tcp:1883"
  lws_vhost* vhost = nullptr;
  std::size_t links = 0;
  std::vector<lws_protocols> protocols;
  lws_http_mount mounts[2]{};
  std::string http_origin;  // absolute http_dir
  lws_retry_bo_t retry{};
  // Rate-limits "connection refused" log lines.
  std::chrono::steady_clock::time_point last_refusal_log{};
  std::uint64_t refusals_unlogged = 0;
};

struct LoopState {
  const ServerOptions* options = nullptr;
  lws_context* context = nullptr;
  std::vector<std::uint8_t> staging = std::vector<std::uint8_t>(LWS_PRE + kStagingCap);
  std::unordered_set<Link*> links;
  ServerCounters counters;
  bool draining = false;   // shutdown started: refuse new sockets
  bool exit_loop = false;  // leave lws_service()
};

}  // namespace broker::transport
