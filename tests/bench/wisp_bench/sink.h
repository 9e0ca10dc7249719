// A trivial byte sink standing in for a broker, to measure wisp-bench's own send ceiling:
// it answers the WebSocket upgrade and CONNECT (with a fixed CONNACK) and then discards
// everything. Runs its own epoll thread on 127.0.0.1, ephemeral port.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "options.h"

namespace wisp_bench {

class ByteSink {
 public:
  ByteSink() = default;
  ~ByteSink();
  ByteSink(const ByteSink&) = delete;
  ByteSink& operator=(const ByteSink&) = delete;

  // Listens and starts the thread; returns the port, or 0 with `error` set.
  std::uint16_t start(Transport transport, protocol::ProtocolVersion version, std::string& error);
  void stop();
  std::uint64_t bytes_received() const noexcept { return bytes_.load(); }

 private:
  void loop();
  Transport transport_ = Transport::tcp;
  protocol::ProtocolVersion version_ = protocol::ProtocolVersion::v311;
  int listen_fd_ = -1;
  int ep_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> bytes_{0};
  std::thread thread_;
};

}  // namespace wisp_bench
