// Command-line options of wisp-bench and their resolution into per-scenario defaults.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/types.h"

namespace wisp_bench {

enum class Scenario { fanin, fanout, pairwise, latency, connstorm, large, ceiling };
enum class Transport { tcp, ws };

const char* to_string(Scenario s) noexcept;
const char* to_string(Transport t) noexcept;

struct Options {
  Scenario scenario = Scenario::fanin;
  Transport transport = Transport::tcp;
  protocol::ProtocolVersion version = protocol::ProtocolVersion::v311;
  protocol::QoS qos = protocol::QoS::at_most_once;
  std::size_t size = 64;       // payload bytes, >= kPayloadHeaderBytes
  double rate = 0;             // messages/s over all publishers; 0 = unlimited (windowed)
  std::uint32_t inflight = 0;  // per-publisher window (see README); resolved > 0
  double duration_s = 5;       // publishing time, or hold time for connstorm
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // resolved: 1883 tcp, 8080 ws
  std::string path = "/mqtt";
  std::uint32_t pubs = 0;
  std::uint32_t subs = 0;
  std::uint32_t clients = 0;  // connstorm connections
  int broker_pid = 0;
  std::string json_file;
  std::uint32_t threads = 1;
  std::uint32_t connect_concurrency = 256;  // connections being set up at once
  double setup_timeout_s = 0;               // resolved: 10 s + 1 ms per connection
  double drain_s = 3;  // after publishing stops: wait at most this long for deliveries/acks
  std::uint16_t keep_alive_s = 60;
  std::string topic_prefix = "wisp-bench";
  bool progress = true;
  bool persistent = false;  // clean_start = false (v5: Session Expiry Interval 600 s)
};

struct ParseResult {
  std::optional<Options> options;  // nullopt: print `message` and exit with `exit_code`
  std::string message;
  int exit_code = 0;
};

// Parses argv (without argv[0]) and fills scenario defaults for options not given:
//   fanin     10 pubs -> 1 sub,  QoS 0, 64 B, unlimited
//   fanout    1 pub -> 100 subs, QoS 0, 64 B, unlimited
//   pairwise  100 pairs,         QoS 1, 256 B, unlimited
//   latency   1 pair,            QoS 1, 64 B, 1000 msg/s
//   connstorm 1000 idle clients, held for --duration
//   large     1 pair,            QoS 1, 1 MiB, unlimited
//   ceiling   10 pubs against wisp-bench's own byte sink (no broker): the tool's own limit
ParseResult parse_options(const std::vector<std::string>& args);

std::string usage();

}  // namespace wisp_bench
