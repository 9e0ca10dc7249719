// libFuzzer target for the MQTT decoder: random chunking, decode, re-encode, decode again.
// Built and run by scripts/fuzz (clang++-14 -fsanitize=fuzzer,address,undefined).
#include <cstdio>
#include <cstdlib>

#include "fuzz_roundtrip.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (const char* why = wisp_fuzz::run_input(data, size)) {
    std::fprintf(stderr, "decoder_fuzz: invariant broken: %s\n", why);
    std::abort();
  }
  return 0;
}
