// Base64 / base64url: RFC 4648 test vectors, strictness.
#include "tls/base64.h"

#include <doctest/doctest.h>

#include <string>

namespace {
protocol::ByteSpan span(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::string str(const std::vector<std::uint8_t>& v) { return std::string(v.begin(), v.end()); }
}  // namespace

TEST_CASE("base64 RFC 4648 vectors round-trip") {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    CHECK(tls::base64_encode(span(plain)) == encoded);
    auto d = tls::base64_decode(encoded);
    REQUIRE(d);
    CHECK(str(*d) == plain);
  }
}

TEST_CASE("base64 rejects malformed input") {
  CHECK_FALSE(tls::base64_decode("Zg="));       // bad length
  CHECK_FALSE(tls::base64_decode("Zm9v!A=="));  // bad char
  CHECK_FALSE(tls::base64_decode("Zh=="));      // non-zero trailing bits
  CHECK_FALSE(tls::base64_decode("Z==="));      // too much padding
  CHECK_FALSE(tls::base64_decode("Zm-v"));      // url alphabet in std decoder
}

TEST_CASE("base64url has no padding and uses - and _") {
  const std::string bytes = "\xfb\xff\xbf";
  CHECK(tls::base64url_encode(span(bytes)) == "-_-_");
  CHECK(tls::base64url_encode(std::string_view("f")) == "Zg");
  auto d = tls::base64url_decode("-_-_");
  REQUIRE(d);
  CHECK(str(*d) == bytes);
  CHECK_FALSE(tls::base64url_decode("Zg=="));  // padding not allowed
  CHECK_FALSE(tls::base64url_decode("+/+/"));
  CHECK_FALSE(tls::base64url_decode("Z"));  // impossible length
}
