// WebSocket framing: masking, length encodings, fragmentation, control frames, errors,
// handshake response checks.
#include "ws_frame.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "sha1.h"

using namespace wisp_bench;

namespace {
using Bytes = std::vector<std::uint8_t>;

struct Collector : WsHandler {
  Bytes data;
  std::vector<std::pair<WsOpcode, Bytes>> controls;
  void on_ws_data(ByteSpan b) override { data.insert(data.end(), b.begin(), b.end()); }
  void on_ws_control(WsOpcode op, ByteSpan p) override {
    controls.emplace_back(op, Bytes(p.begin(), p.end()));
  }
};

Bytes pattern(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 7 + 3);
  return b;
}

// Feeds `wire` split at every point (two chunks) and byte by byte; all must agree.
template <class Check>
void for_each_split(const Bytes& wire, bool server_mode, Check check) {
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    WsFrameDecoder d(server_mode);
    Collector c;
    REQUIRE(d.feed(ByteSpan(wire.data(), cut), c) == WsError::none);
    REQUIRE(d.feed(ByteSpan(wire.data() + cut, wire.size() - cut), c) == WsError::none);
    check(c);
  }
  WsFrameDecoder d(server_mode);
  Collector c;
  for (std::uint8_t b : wire) REQUIRE(d.feed(ByteSpan(&b, 1), c) == WsError::none);
  check(c);
}
}  // namespace

TEST_CASE("masking follows RFC 6455 5.3 and is its own inverse at any offset") {
  const WsMaskKey key{0x37, 0xfa, 0x21, 0x3d};
  // RFC 6455 5.7: masked "Hello" = 7f 9f 4d 51 58
  Bytes hello{'H', 'e', 'l', 'l', 'o'};
  ws_mask(hello.data(), hello.size(), key);
  CHECK(hello == Bytes{0x7f, 0x9f, 0x4d, 0x51, 0x58});
  const Bytes orig = pattern(1000);
  for (std::size_t split : {0u, 1u, 3u, 5u, 17u, 999u}) {
    Bytes b = orig;
    ws_mask(b.data(), split, key, 0);
    ws_mask(b.data() + split, b.size() - split, key, split);
    for (std::size_t i = 0; i < b.size(); ++i) REQUIRE(b[i] == (orig[i] ^ key[i % 4]));
  }
}

TEST_CASE("client frame header: 7-bit, 16-bit and 64-bit lengths, mask bit and key") {
  const WsMaskKey key{1, 2, 3, 4};
  for (auto [len, hdr] : std::vector<std::pair<std::size_t, std::size_t>>{
           {0, 6}, {125, 6}, {126, 8}, {65535, 8}, {65536, 14}, {200000, 14}}) {
    const Bytes payload = pattern(len);
    Bytes f;
    ws_append_frame(f, WsOpcode::binary, true, payload, key);
    REQUIRE(f.size() == hdr + len);
    CHECK(ws_header_size(len, true) == hdr);
    CHECK(f[0] == 0x82);  // FIN + binary
    CHECK((f[1] & 0x80) == 0x80);
    const std::uint8_t len7 = f[1] & 0x7f;
    if (len < 126) {
      CHECK(len7 == len);
    } else if (len < 65536) {
      CHECK(len7 == 126);
      CHECK(((f[2] << 8) | f[3]) == static_cast<int>(len));
    } else {
      CHECK(len7 == 127);
      std::uint64_t l = 0;
      for (int i = 0; i < 8; ++i) l = (l << 8) | f[2 + static_cast<std::size_t>(i)];
      CHECK(l == len);
    }
    CHECK(Bytes(f.begin() + static_cast<long>(hdr) - 4, f.begin() + static_cast<long>(hdr)) ==
          Bytes{1, 2, 3, 4});
    if (len > 0) CHECK(f[hdr] == (payload[0] ^ 1));
    // A server-mode decoder unmasks it back.
    WsFrameDecoder d(true);
    Collector c;
    REQUIRE(d.feed(f, c) == WsError::none);
    CHECK(c.data == payload);
  }
}

TEST_CASE("server frames of every length form decode at every split point") {
  for (std::size_t len : {0u, 1u, 125u, 126u, 300u, 65535u, 65536u, 70000u}) {
    const Bytes payload = pattern(len);
    Bytes wire;
    ws_append_frame(wire, WsOpcode::binary, true, payload, std::nullopt);
    if (len > 1000) {  // every split is slow for big frames: sample instead
      for (std::size_t cut : {std::size_t{1}, std::size_t{2}, std::size_t{4}, std::size_t{9},
                              std::size_t{10}, std::size_t{11}, wire.size() - 1}) {
        WsFrameDecoder d;
        Collector c;
        REQUIRE(d.feed(ByteSpan(wire.data(), cut), c) == WsError::none);
        REQUIRE(d.feed(ByteSpan(wire.data() + cut, wire.size() - cut), c) == WsError::none);
        CHECK(c.data == payload);
      }
      continue;
    }
    for_each_split(wire, false, [&](const Collector& c) { CHECK(c.data == payload); });
  }
}

TEST_CASE("fragmented message with interleaved ping, and several messages in one read") {
  const Bytes a = pattern(10), b = pattern(200), c3 = pattern(3);
  Bytes wire;
  ws_append_frame(wire, WsOpcode::binary, false, a, std::nullopt);
  const Bytes ping_payload{'p', 'i', 'n', 'g'};
  ws_append_frame(wire, WsOpcode::ping, true, ping_payload, std::nullopt);  // allowed mid-message
  ws_append_frame(wire, WsOpcode::continuation, false, b, std::nullopt);
  ws_append_frame(wire, WsOpcode::continuation, true, {}, std::nullopt);
  ws_append_frame(wire, WsOpcode::binary, true, c3, std::nullopt);
  ws_append_frame(wire, WsOpcode::pong, true, {}, std::nullopt);
  const Bytes close_payload{0x03, 0xE8, 'b', 'y', 'e'};
  ws_append_frame(wire, WsOpcode::close, true, close_payload, std::nullopt);
  Bytes expected = a;
  expected.insert(expected.end(), b.begin(), b.end());
  expected.insert(expected.end(), c3.begin(), c3.end());
  for_each_split(wire, false, [&](const Collector& c) {
    CHECK(c.data == expected);
    REQUIRE(c.controls.size() == 3);
    CHECK(c.controls[0].first == WsOpcode::ping);
    CHECK(c.controls[0].second == ping_payload);
    CHECK(c.controls[1].first == WsOpcode::pong);
    CHECK(c.controls[2].first == WsOpcode::close);
    CHECK(c.controls[2].second == close_payload);
  });
}

TEST_CASE("masked control frames are unmasked in server mode") {
  Bytes wire;
  const Bytes payload{1, 2, 3, 4, 5, 6};
  ws_append_frame(wire, WsOpcode::ping, true, payload, WsMaskKey{9, 8, 7, 6});
  for_each_split(wire, true, [&](const Collector& c) {
    REQUIRE(c.controls.size() == 1);
    CHECK(c.controls[0].second == payload);
  });
}

TEST_CASE("protocol violations are errors and the decoder stays failed") {
  auto decode = [](const Bytes& wire, bool server = false) {
    WsFrameDecoder d(server);
    Collector c;
    const WsError e = d.feed(wire, c);
    if (e != WsError::none) {
      // Stays failed, even for a valid frame afterwards.
      Bytes ok;
      ws_append_frame(ok, WsOpcode::binary, true, Bytes{1}, std::nullopt);
      CHECK(d.feed(ok, c) == e);
    }
    return e;
  };
  Bytes f;
  ws_append_frame(f, WsOpcode::binary, true, Bytes{1}, WsMaskKey{1, 1, 1, 1});
  CHECK(decode(f) == WsError::masked_server_frame);
  f.clear();
  ws_append_frame(f, WsOpcode::binary, true, Bytes{1}, std::nullopt);
  CHECK(decode(f, true) == WsError::unmasked_client_frame);
  CHECK(decode(Bytes{0xC2, 0x00}) == WsError::reserved_bits);  // RSV1
  CHECK(decode(Bytes{0x83, 0x00}) == WsError::unknown_opcode);
  CHECK(decode(Bytes{0x81, 0x00}) == WsError::text_frame);
  CHECK(decode(Bytes{0x09, 0x00}) == WsError::control_fragmented);  // ping without FIN
  f.clear();
  ws_append_frame(f, WsOpcode::ping, true, Bytes(126, 0), std::nullopt);
  CHECK(decode(f) == WsError::control_too_long);
  CHECK(decode(Bytes{0x80, 0x00}) == WsError::unexpected_continuation);
  CHECK(decode(Bytes{0x02, 0x00, 0x82, 0x00}) == WsError::expected_continuation);
  CHECK(decode(Bytes{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0}) == WsError::frame_too_long);
}

TEST_CASE("handshake request and response checks") {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  const std::string req = ws_handshake_request("127.0.0.1", 8080, "/mqtt", key, "mqtt");
  CHECK(req.rfind("GET /mqtt HTTP/1.1\r\n", 0) == 0);
  CHECK(req.find("Sec-WebSocket-Key: " + key + "\r\n") != std::string::npos);
  CHECK(req.find("Sec-WebSocket-Protocol: mqtt\r\n") != std::string::npos);
  CHECK(req.find("Sec-WebSocket-Version: 13\r\n") != std::string::npos);
  CHECK(req.substr(req.size() - 4) == "\r\n\r\n");
  CHECK(req.find("Host: 127.0.0.1:8080\r\n") != std::string::npos);
  CHECK(ws_handshake_request("::1", 8080, "/mqtt", key, "mqtt").find("Host: [::1]:8080\r\n") !=
        std::string::npos);

  const std::string good =
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: keep-alive, "
      "Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
      "Sec-WebSocket-Protocol: mqtt\r\n\r\n";
  auto r = ws_check_handshake_response(good + "\x82\x00", key, "mqtt");
  CHECK(r.state == WsHandshakeResult::State::ok);
  CHECK(r.header_bytes == good.size());
  // Partial response: need more, at every prefix.
  for (std::size_t n = 0; n < good.size(); ++n) {
    CHECK(ws_check_handshake_response(good.substr(0, n), key, "mqtt").state ==
          WsHandshakeResult::State::need_more);
  }
  auto bad = [&](std::string from, std::string to) {
    std::string resp = good;
    resp.replace(resp.find(from), from.size(), to);
    return ws_check_handshake_response(resp, key, "mqtt").state;
  };
  CHECK(bad("101 Switching Protocols", "400 Bad Request") == WsHandshakeResult::State::error);
  CHECK(bad("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "AAAALMBiTxaQ9kYGzzhZRbK+xOo=") ==
        WsHandshakeResult::State::error);
  CHECK(bad("Protocol: mqtt", "Protocol: mqttv3.1") == WsHandshakeResult::State::error);
  CHECK(bad("Sec-WebSocket-Protocol: mqtt\r\n", "") == WsHandshakeResult::State::error);
  CHECK(bad("upgrade: WebSocket", "upgrade: h2c") == WsHandshakeResult::State::error);
  CHECK(ws_check_handshake_response(std::string(20000, 'x'), key, "mqtt").state ==
        WsHandshakeResult::State::error);
  // Keys are random and valid base64 of 16 bytes.
  const std::string k1 = ws_random_key(), k2 = ws_random_key();
  CHECK(k1.size() == 24);
  CHECK(k1 != k2);
}
