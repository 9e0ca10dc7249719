// Incremental, sans-I/O MQTT decoder: bytes in (any chunking), packets or a reason code out.
// Two layers: a framer (fixed header, remaining length, reassembly) and decode_body(), a pure
// function of one complete packet body.
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "protocol/packets.h"
#include "protocol/reason_code.h"
#include "protocol/types.h"

namespace protocol {

struct Limits {
  // Largest whole packet (fixed header + remaining length) accepted. Checked against the
  // remaining-length field before anything is buffered or allocated [MQTT-3.1.2-24].
  std::uint32_t max_packet_bytes = kMaxRemainingLength + 5;
};

struct FixedHeader {
  PacketType type{};
  std::uint8_t flags = 0;              // low nibble of byte 1
  std::uint32_t remaining_length = 0;  // body size
};

struct NeedMore {};
struct DecodeError {
  ReasonCode reason;  // malformed_packet, protocol_error, packet_too_large, topic_name_invalid, ...
  const char* detail;  // static string naming the rule, e.g. "QoS 3 in PUBLISH"
};
using DecodeStep = std::variant<NeedMore, Packet, DecodeError>;

// Decodes one complete body. `version` is ignored for CONNECT (which carries its own).
// Returned views point into `body`.
std::variant<Packet, DecodeError> decode_body(const FixedHeader& header, ByteSpan body,
                                              ProtocolVersion version);

class Decoder {
 public:
  explicit Decoder(Limits limits = {}) noexcept;

  // Consumes bytes from the front of `in` and advances it. Returns NeedMore when `in` is used
  // up without completing a packet (the partial bytes are kept), a Packet, or a DecodeError.
  // A returned Packet's views point into the caller's buffer or the reassembly buffer and are
  // valid until the next call to next(). After a DecodeError the decoder stays failed: every
  // later call returns the same error; the connection must be closed. If the first CONNECT is
  // the packet rejected, version() is the version it claimed when its protocol name and level
  // are valid (so a CONNACK can carry the reason in that version), else unchanged.
  [[nodiscard]] DecodeStep next(ByteSpan& in);

  // Until set, the version is taken from the first CONNECT decoded (server side). A client
  // (e.g. wisp-bench) sets it before its first read.
  void set_version(ProtocolVersion v) noexcept {
    version_ = v;
    version_known_ = true;
  }
  ProtocolVersion version() const noexcept { return version_; }
  void set_limits(Limits limits) noexcept { limits_ = limits; }
  std::size_t buffered_bytes() const noexcept {
    return header_len_ + (partial_handed_out_ ? 0 : partial_.size());
  }

 private:
  Limits limits_;
  ProtocolVersion version_ = ProtocolVersion::v311;
  bool version_known_ = false;
  bool failed_ = false;
  DecodeError error_{ReasonCode::success, ""};
  // Fixed header being read: up to 5 bytes.
  std::uint8_t header_[5] = {};
  std::size_t header_len_ = 0;
  bool header_done_ = false;
  FixedHeader fixed_{};
  std::vector<std::uint8_t> partial_;  // reassembly buffer for bodies split across reads
  bool partial_handed_out_ = false;    // last packet viewed partial_; clear it on the next call

  void fail(DecodeError e) noexcept;
  // Reads header and body bytes from `in`; true with `body` set when a whole packet is there.
  bool frame(ByteSpan& in, ByteSpan& body);
};

}  // namespace protocol
