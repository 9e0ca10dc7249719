// SHA-1 and base64, just enough for the RFC 6455 opening handshake (Sec-WebSocket-Accept).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace wisp_bench {

using Sha1Digest = std::array<std::uint8_t, 20>;

// FIPS 180-4 SHA-1 of `data`.
Sha1Digest sha1(std::span<const std::uint8_t> data);
inline Sha1Digest sha1(std::string_view s) {
  return sha1(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

// RFC 4648 base64 with padding.
std::string base64(std::span<const std::uint8_t> data);

// RFC 6455 section 4.2.2: base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string websocket_accept(std::string_view key);

}  // namespace wisp_bench
