// The bench payload header: every message wisp-bench publishes starts with it, so the
// receiving side can attribute, order and time each message. The rest of the payload is filler.
//
//   offset 0  "WB1\0"      magic, identifies our messages
//          4  u32 LE       publisher index (0-based, unique within a run)
//          8  u64 LE       sequence number (0-based, per publisher)
//         16  u64 LE       send time, CLOCK_MONOTONIC nanoseconds
//         24  filler ...
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace wisp_bench {

inline constexpr std::size_t kPayloadHeaderBytes = 24;
inline constexpr std::uint8_t kPayloadMagic[4] = {'W', 'B', '1', 0};

struct PayloadHeader {
  std::uint32_t publisher = 0;
  std::uint64_t seq = 0;
  std::uint64_t sent_ns = 0;
  friend bool operator==(const PayloadHeader&, const PayloadHeader&) = default;
};

// Writes the header into the first kPayloadHeaderBytes of `out` (caller guarantees the size).
inline void write_payload_header(std::uint8_t* out, const PayloadHeader& h) noexcept {
  std::memcpy(out, kPayloadMagic, 4);
  for (int i = 0; i < 4; ++i) out[4 + i] = static_cast<std::uint8_t>(h.publisher >> (8 * i));
  for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<std::uint8_t>(h.seq >> (8 * i));
  for (int i = 0; i < 8; ++i) out[16 + i] = static_cast<std::uint8_t>(h.sent_ns >> (8 * i));
}

// nullopt when the payload is too short or lacks the magic (not one of ours).
inline std::optional<PayloadHeader> read_payload_header(std::span<const std::uint8_t> p) noexcept {
  if (p.size() < kPayloadHeaderBytes || std::memcmp(p.data(), kPayloadMagic, 4) != 0) {
    return std::nullopt;
  }
  PayloadHeader h;
  for (int i = 3; i >= 0; --i)
    h.publisher = (h.publisher << 8) | p[4 + static_cast<std::size_t>(i)];
  for (int i = 7; i >= 0; --i) h.seq = (h.seq << 8) | p[8 + static_cast<std::size_t>(i)];
  for (int i = 7; i >= 0; --i) h.sent_ns = (h.sent_ns << 8) | p[16 + static_cast<std::size_t>(i)];
  return h;
}

}  // namespace wisp_bench
