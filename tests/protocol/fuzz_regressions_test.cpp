// Replays the fuzzer's seeds and every crash it ever found (tests/data/fuzz-regressions/)
// through the same invariants as the libFuzzer target (tests/fuzz/fuzz_roundtrip.h).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "codec_test_util.h"
#include "tests/fuzz/fuzz_roundtrip.h"

namespace fs = std::filesystem;
using namespace protocol;
using namespace wisp_test;

namespace {

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().filename().string().front() != '.') out.push_back(e.path());
  }
  return out;
}

Bytes read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

const fs::path kData = WISP_TEST_DATA_DIR;

}  // namespace

TEST_CASE("fuzz regression inputs keep every decoder invariant") {
  for (const fs::path& p : files_in(kData / "fuzz-regressions")) {
    CAPTURE(p.string());
    const Bytes input = read_file(p);
    const char* why = wisp_fuzz::run_input(input.data(), input.size());
    CHECK_MESSAGE(why == nullptr, std::string(why ? why : ""));
  }
}

TEST_CASE("fuzz seeds are valid packet streams and keep every invariant") {
  const std::vector<fs::path> seeds = files_in(kData / "fuzz-seeds");
  REQUIRE(seeds.size() >= 20);
  for (const fs::path& p : seeds) {
    CAPTURE(p.string());
    const Bytes input = read_file(p);
    REQUIRE(input.size() > 2);
    CHECK(wisp_fuzz::run_input(input.data(), input.size()) == nullptr);
    // Byte 0 bits 0-1 select the version as in the fuzz target.
    std::optional<ProtocolVersion> v;
    switch (input[0] & 3) {
      case 1: v = ProtocolVersion::v311; break;
      case 2: v = ProtocolVersion::v5; break;
      case 3: v = ProtocolVersion::v31; break;
      default: break;
    }
    const DecodeResult r = decode_bytes(ByteSpan(input).subspan(2), v);
    CHECK_MESSAGE(!r.error, std::string(r.error ? r.error->detail : ""));
    CHECK(r.size() >= 1);
  }
}
