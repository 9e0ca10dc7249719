// Topic names, filters, $share parsing and matching; UTF-8 well-formedness [MQTT-1.5.4].
#include "protocol/topic.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace protocol {
namespace {

constexpr std::string_view kSharePrefix = "$share/";

// Each level of a filter: '#' only alone and last, '+' only alone [MQTT-4.7.1-1..3].
bool valid_filter_levels(std::string_view f) noexcept {
  const std::size_t n = f.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = f[i];
    if (c != '+' && c != '#') continue;
    const bool starts_level = i == 0 || f[i - 1] == '/';
    const bool ends_level = i + 1 == n || f[i + 1] == '/';
    if (!starts_level || !ends_level) return false;
    if (c == '#' && i + 1 != n) return false;
  }
  return true;
}

}  // namespace

bool valid_utf8(std::string_view s) noexcept {
  if (s.size() > 65535) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    // Fast path: eight ASCII bytes at a time, none of them NUL.
    while (n - i >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      constexpr std::uint64_t kHigh = 0x8080808080808080ull;
      constexpr std::uint64_t kOnes = 0x0101010101010101ull;
      if ((w & kHigh) != 0 || ((w - kOnes) & ~w & kHigh) != 0) break;
      i += 8;
    }
    if (i == n) break;
    const unsigned char c = p[i];
    if (c < 0x80) {
      if (c == 0) return false;  // [MQTT-1.5.4-2] no U+0000
      ++i;
      continue;
    }
    std::uint32_t cp = 0;
    std::size_t len = 0;
    std::uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1Fu;
      len = 2;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0Fu;
      len = 3;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07u;
      len = 4;
      min = 0x10000;
    } else {
      return false;  // continuation byte or 0xF8..0xFF as a lead byte
    }
    if (n - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const unsigned char cc = p[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if (cp < min) return false;                      // overlong form
    if (cp > 0x10FFFF) return false;                 // beyond Unicode
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;  // [MQTT-1.5.4-1] surrogates
    i += len;
  }
  return true;
}

bool valid_topic_name(std::string_view name) noexcept {
  if (name.empty()) return false;                                        // [MQTT-4.7.3-1]
  if (name.find_first_of("+#") != std::string_view::npos) return false;  // [MQTT-3.3.2-2]
  return valid_utf8(name);
}

bool is_shared(std::string_view filter) noexcept { return filter.starts_with(kSharePrefix); }

std::optional<SharedFilter> parse_shared(std::string_view filter) noexcept {
  if (!is_shared(filter)) return std::nullopt;
  const std::string_view rest = filter.substr(kSharePrefix.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;  // "$share/g"
  SharedFilter out{rest.substr(0, slash), rest.substr(slash + 1)};
  // [MQTT-4.8.2-1] ShareName: at least one character, no '/', '+' or '#'.
  if (out.group.empty() || out.group.find_first_of("+#") != std::string_view::npos) {
    return std::nullopt;
  }
  // [MQTT-4.8.2-2] followed by a non-empty topic filter.
  if (out.filter.empty() || !valid_filter_levels(out.filter) || !valid_utf8(filter)) {
    return std::nullopt;
  }
  return out;
}

bool valid_topic_filter(std::string_view filter) noexcept {
  if (filter.empty()) return false;  // [MQTT-4.7.3-1]
  if (is_shared(filter)) return parse_shared(filter).has_value();
  return valid_filter_levels(filter) && valid_utf8(filter);
}

bool topic_matches(std::string_view filter, std::string_view name) noexcept {
  // [MQTT-4.7.2-1] wildcards at the first level never match "$..." names.
  if (!name.empty() && name.front() == '$' && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#')) {
    return false;
  }
  constexpr auto npos = std::string_view::npos;
  std::size_t fi = 0;
  std::size_t ni = 0;
  bool name_done = false;
  for (;;) {
    std::size_t fe = filter.find('/', fi);
    const bool f_last = fe == npos;
    if (f_last) fe = filter.size();
    const std::string_view fl = filter.substr(fi, fe - fi);
    // "a/#" matches "a" [MQTT-4.7.1-2]: '#' also matches the parent level.
    if (name_done) return fl == "#";
    if (fl == "#") return true;
    std::size_t ne = name.find('/', ni);
    const bool n_last = ne == npos;
    if (n_last) ne = name.size();
    const std::string_view nl = name.substr(ni, ne - ni);
    if (fl != "+" && fl != nl) return false;
    if (f_last) return n_last;
    fi = fe + 1;
    if (n_last) {
      name_done = true;
    } else {
      ni = ne + 1;
    }
  }
}

}  // namespace protocol
