// Topic names, topic filters, $share parsing and matching [MQTT-4.7], [MQTT-4.8.2].
#pragma once

#include <optional>
#include <string_view>

namespace protocol {

// Well-formed UTF-8 per [MQTT-1.5.4]: no U+0000, no surrogates (U+D800..U+DFFF), no
// overlong forms, at most 65535 bytes.
bool valid_utf8(std::string_view s) noexcept;

// Non-empty, valid UTF-8, no '+' or '#' [MQTT-4.7.3-1], [MQTT-3.3.2-2].
bool valid_topic_name(std::string_view name) noexcept;

// Non-empty, valid UTF-8; '#' only as the whole last level; '+' only as a whole level
// [MQTT-4.7.1-1..3]. A "$share/..." filter is checked with parse_shared() too.
bool valid_topic_filter(std::string_view filter) noexcept;

struct SharedFilter {
  std::string_view group;   // non-empty, no '/', '+', '#'
  std::string_view filter;  // the real filter, valid per valid_topic_filter()
};
// For a filter starting with "$share/": the parts if valid, std::nullopt if malformed
// ("$share/", "$share/g", "$share/g/", "$share/+/x", "$share/g#/x" ...). For any other filter
// also std::nullopt; test is_shared() first.
bool is_shared(std::string_view filter) noexcept;
std::optional<SharedFilter> parse_shared(std::string_view filter) noexcept;

// Whether `filter` matches `name`. Filters starting with '+' or '#' do not match names
// starting with '$' [MQTT-4.7.2-1]. "a/#" matches "a" [MQTT-4.7.1-2]. Neither is $share-prefixed.
bool topic_matches(std::string_view filter, std::string_view name) noexcept;

}  // namespace protocol
