// Topic matching for authorization: a filter against a topic name (Mosquitto's
// mosquitto_topic_matches_sub rules) and filter-covers-filter for subscribe checks.
// Pure functions; no allocation.
#pragma once

#include <string_view>

namespace broker::security {

// Whether `filter` matches topic `name` [MQTT-4.7]. '+' and '#' in the first level do not
// match names starting with '$' [MQTT-4.7.2-1]; "a/#" also matches "a" [MQTT-4.7.1-2].
bool filter_matches(std::string_view filter, std::string_view name) noexcept;

// Whether every topic name matched by `inner` is also matched by `outer` (e.g. "a/+/c" is
// covered by "a/#" and by "a/+/+", not by "a/b/c").
bool filter_covers(std::string_view outer, std::string_view inner) noexcept;

// Syntax of a topic filter: non-empty, '#' only as the whole last level, '+' a whole level.
bool filter_valid(std::string_view filter) noexcept;

// "$share/group/filter" -> "filter"; anything else unchanged.
std::string_view strip_share(std::string_view filter) noexcept;

}  // namespace broker::security
