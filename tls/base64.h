// Base64 (RFC 4648 section 4, padded: Mosquitto password files) and base64url (section 5,
// unpadded: JWT). Pure functions, no mbedTLS.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/types.h"

namespace tls {

std::string base64_encode(protocol::ByteSpan data);
// Strict: padding required when the length is not a multiple of 4, no whitespace.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

std::string base64url_encode(protocol::ByteSpan data);
inline std::string base64url_encode(std::string_view text) {
  return base64url_encode(
      protocol::ByteSpan(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}
// Strict: no padding, no characters outside the url alphabet, no impossible lengths.
std::optional<std::vector<std::uint8_t>> base64url_decode(std::string_view text);

}  // namespace tls
