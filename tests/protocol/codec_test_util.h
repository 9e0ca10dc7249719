// Helpers for codec tests: byte vectors, deep copies of borrowed packets, and for_each_split,
// which feeds an input to a fresh Decoder at every split point and one byte at a time.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "protocol/decoder.h"
#include "protocol/encoder.h"
#include "protocol/packets.h"

namespace wisp_test {

using protocol::ByteSpan;
using Bytes = std::vector<std::uint8_t>;
using Chunks = std::vector<ByteSpan>;

inline Bytes bytes(ByteSpan s) { return Bytes(s.begin(), s.end()); }
inline Bytes bytes(std::initializer_list<std::uint8_t> l) { return Bytes(l); }
inline ByteSpan span_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline Bytes concat(std::initializer_list<ByteSpan> parts) {
  Bytes out;
  for (ByteSpan p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A decoded packet whose views point into storage it owns (decoded packets only borrow).
struct Owned {
  protocol::Packet packet;
  std::vector<std::unique_ptr<std::uint8_t[]>> store;
};
Owned own(const protocol::Packet& p);

struct DecodeResult {
  std::vector<Owned> packets;
  std::optional<protocol::DecodeError> error;
  std::size_t size() const noexcept { return packets.size(); }
};

// Feeds every chunk to one Decoder, collecting (deep-copied) packets until an error.
// `version` is set on the decoder first unless std::nullopt (server side: from CONNECT).
DecodeResult decode_all(const Chunks& chunks,
                        std::optional<protocol::ProtocolVersion> version = std::nullopt,
                        protocol::Limits limits = {});
inline DecodeResult decode_bytes(ByteSpan wire,
                                 std::optional<protocol::ProtocolVersion> version = std::nullopt,
                                 protocol::Limits limits = {}) {
  return decode_all(Chunks{wire}, version, limits);
}

// Calls f(chunks) with: the whole input; every two-way split; one byte at a time.
template <class F>
void for_each_split(ByteSpan wire, F&& f) {
  f(Chunks{wire});
  for (std::size_t i = 1; i < wire.size(); ++i) f(Chunks{wire.first(i), wire.subspan(i)});
  Chunks single;
  for (std::size_t i = 0; i < wire.size(); ++i) single.push_back(wire.subspan(i, 1));
  f(single);
}

// Decodes `wire` as exactly one packet (whole input); CHECK-fails otherwise.
Owned decode_one(ByteSpan wire, protocol::ProtocolVersion version);

// Expects `wire` to fail with `reason` for the whole input and for every split.
void expect_error(ByteSpan wire, std::optional<protocol::ProtocolVersion> version,
                  protocol::ReasonCode reason);

}  // namespace wisp_test
