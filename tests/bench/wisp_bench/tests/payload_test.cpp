// Bench payload header: round trip, byte layout, foreign payloads.
#include "payload.h"

#include <doctest/doctest.h>

#include <vector>

using namespace wisp_bench;

TEST_CASE("payload header round-trips and has the documented layout") {
  std::vector<std::uint8_t> p(64, 0xEE);
  const PayloadHeader h{0x01020304u, 0x1122334455667788ull, 0xA1A2A3A4A5A6A7A8ull};
  write_payload_header(p.data(), h);
  CHECK(p[0] == 'W');
  CHECK(p[1] == 'B');
  CHECK(p[2] == '1');
  CHECK(p[3] == 0);
  CHECK(p[4] == 0x04);  // publisher, little endian
  CHECK(p[8] == 0x88);  // sequence, little endian
  CHECK(p[15] == 0x11);
  CHECK(p[16] == 0xA8);  // send time
  CHECK(p[24] == 0xEE);  // filler untouched
  const auto back = read_payload_header(p);
  REQUIRE(back.has_value());
  CHECK(*back == h);
}

TEST_CASE("payloads without the header are not ours") {
  std::vector<std::uint8_t> p(64, 0);
  CHECK_FALSE(read_payload_header(p).has_value());  // no magic
  write_payload_header(p.data(), PayloadHeader{1, 2, 3});
  CHECK_FALSE(read_payload_header(std::span(p).first(kPayloadHeaderBytes - 1)).has_value());
  CHECK(read_payload_header(std::span(p).first(kPayloadHeaderBytes)).has_value());
}
