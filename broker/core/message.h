// Message: one published application message, created once on receipt, immutable, shared by
// every queue, inflight table and the retained index through MessageRef.
//
//   bytes: [ forwarded v5 properties | payload ]   <- one allocation
//                                     ^ payload_offset
// The forwarded block holds every property that passes through unchanged (payload format,
// content type, response topic, correlation data, user properties in order); message expiry,
// topic alias and subscription ids are per subscriber and written in the head at send time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/types.h"

namespace broker::core {

using TimePoint = std::chrono::system_clock::time_point;  // wall clock: survives restarts

struct Message {
  std::string topic;
  protocol::QoS qos = protocol::QoS::at_most_once;
  bool retain = false;
  std::optional<TimePoint> expiry;  // absolute; from the v5 message expiry interval
  std::string origin;               // publishing client id (for no-local)
  std::vector<std::uint8_t> bytes;  // [forwarded v5 properties | payload]
  std::size_t payload_offset = 0;

  protocol::ByteSpan forwarded_properties() const noexcept {
    return {bytes.data(), payload_offset};
  }
  protocol::ByteSpan payload() const noexcept {
    return {bytes.data() + payload_offset, bytes.size() - payload_offset};
  }
};
using MessageRef = std::shared_ptr<const Message>;

}  // namespace broker::core
