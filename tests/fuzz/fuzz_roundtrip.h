// One fuzz input through the decoder: random chunking, then every decoded packet is re-encoded
// and decoded again, which must give the same packet. Shared by the libFuzzer target and the
// regression unit test (tests/protocol/fuzz_regressions_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace wisp_fuzz {

// Input layout: byte 0 = configuration (bits 0-1 version: from CONNECT / 3.1.1 / 5.0 / 3.1,
// bits 2-3 packet size limit, bit 4 whole input as one chunk), byte 1 = chunking seed, then
// the bytes fed to the decoder. Returns nullptr when every invariant holds, otherwise a static
// description of the broken invariant.
const char* run_input(const std::uint8_t* data, std::size_t size);

}  // namespace wisp_fuzz
