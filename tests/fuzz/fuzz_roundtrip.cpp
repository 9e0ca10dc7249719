// Invariants checked for every fuzz input; see fuzz_roundtrip.h.
#include "fuzz_roundtrip.h"

#include <variant>
#include <vector>

#include "protocol/decoder.h"
#include "protocol/encoder.h"
#include "protocol/packets.h"

namespace wisp_fuzz {
namespace {

using namespace protocol;

struct Rng {
  std::uint32_t s;
  std::uint32_t next() noexcept {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  }
};

// decode(encode(p)) == p, with the size announced by encoded_size().
const char* check_round_trip(const Packet& p, ProtocolVersion v, std::vector<std::uint8_t>& buf) {
  const ProtocolVersion ev = std::holds_alternative<Connect>(p) ? std::get<Connect>(p).version : v;
  buf.clear();
  ByteWriter w(buf);
  encode(p, ev, w);
  if (buf.size() != encoded_size(p, ev)) return "encoded size differs from encoded_size()";
  Decoder d2;
  d2.set_version(ev);
  ByteSpan in = buf;
  DecodeStep s = d2.next(in);
  if (auto* e = std::get_if<DecodeError>(&s)) {
    (void)e;
    return "re-encoded packet does not decode";
  }
  if (!std::holds_alternative<Packet>(s)) return "re-encoded packet is incomplete";
  if (!in.empty()) return "re-encoded packet has trailing bytes";
  if (!(std::get<Packet>(s) == p)) return "decode(encode(p)) != p";
  return nullptr;
}

}  // namespace

const char* run_input(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return nullptr;
  const std::uint8_t cfg = data[0];
  Rng rng{0x9E3779B9u ^ (std::uint32_t{data[1]} << 8) ^ data[1]};
  const ByteSpan input(data + 2, size - 2);

  Limits limits;
  switch ((cfg >> 2) & 0x03) {
    case 1: limits.max_packet_bytes = 16; break;
    case 2: limits.max_packet_bytes = 128; break;
    case 3: limits.max_packet_bytes = 4096; break;
    default: break;
  }
  Decoder d(limits);
  switch (cfg & 0x03) {
    case 1: d.set_version(ProtocolVersion::v311); break;
    case 2: d.set_version(ProtocolVersion::v5); break;
    case 3: d.set_version(ProtocolVersion::v31); break;
    default: break;  // server side: taken from CONNECT
  }
  const bool whole = (cfg & 0x10) != 0;

  std::vector<std::uint8_t> buf;
  std::size_t off = 0;
  while (off < input.size()) {
    std::size_t n = input.size() - off;
    if (!whole) {
      const std::uint32_t r = rng.next();
      const std::size_t want = (r & 3) == 0 ? r % 512 : 1 + (r >> 2) % 8;
      if (want < n) n = want == 0 ? 1 : want;
    }
    ByteSpan in = input.subspan(off, n);
    off += n;
    // Bounded: every Packet consumes at least one byte; NeedMore and errors stop the loop.
    for (;;) {
      const ProtocolVersion v = d.version();
      const std::size_t before = in.size();
      DecodeStep s = d.next(in);
      if (std::holds_alternative<NeedMore>(s)) {
        if (!in.empty()) return "NeedMore with input left";
        break;
      }
      if (const auto* e = std::get_if<DecodeError>(&s)) {
        if (!is_error(e->reason)) return "DecodeError with a success reason";
        if (e->detail == nullptr) return "DecodeError without detail";
        ByteSpan again = input.subspan(off);
        DecodeStep s2 = d.next(again);
        const auto* e2 = std::get_if<DecodeError>(&s2);
        if (e2 == nullptr || e2->reason != e->reason) return "decoder did not stay failed";
        if (d.buffered_bytes() != 0) return "failed decoder still buffers bytes";
        return nullptr;
      }
      if (in.size() >= before) return "packet returned without consuming input";
      if (const char* why = check_round_trip(std::get<Packet>(s), v, buf)) return why;
      if (in.empty()) break;
    }
  }
  return nullptr;
}

}  // namespace wisp_fuzz
