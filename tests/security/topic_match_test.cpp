// Topic matching for ACLs: filter vs name, filter covers filter, syntax, $share stripping.
#include "broker/security/topic_match.h"

#include <doctest/doctest.h>

using broker::security::filter_covers;
using broker::security::filter_matches;
using broker::security::filter_valid;
using broker::security::strip_share;

TEST_CASE("filter_matches follows MQTT 4.7") {
  CHECK(filter_matches("a/b", "a/b"));
  CHECK_FALSE(filter_matches("a/b", "a/c"));
  CHECK(filter_matches("a/+", "a/b"));
  CHECK_FALSE(filter_matches("a/+", "a"));
  CHECK_FALSE(filter_matches("a/+", "a/b/c"));
  CHECK(filter_matches("a/+", "a/"));
  CHECK(filter_matches("a/#", "a"));  // [MQTT-4.7.1-2]
  CHECK(filter_matches("a/#", "a/b/c"));
  CHECK_FALSE(filter_matches("a/#", "ab"));
  CHECK_FALSE(filter_matches("a/+/#", "a"));
  CHECK(filter_matches("a/+/#", "a/b"));
  CHECK(filter_matches("#", "a/b"));
  CHECK(filter_matches("+/+", "/a"));
  CHECK_FALSE(filter_matches("#", "$SYS/x"));  // [MQTT-4.7.2-1]
  CHECK_FALSE(filter_matches("+/x", "$SYS/x"));
  CHECK(filter_matches("$SYS/#", "$SYS/x"));
  CHECK_FALSE(filter_matches("a/b", "a/b/"));
  CHECK_FALSE(filter_matches("", "a"));
}

TEST_CASE("filter_covers: every name matched by inner is matched by outer") {
  CHECK(filter_covers("a/#", "a/b/c"));
  CHECK(filter_covers("a/#", "a/+/c"));
  CHECK(filter_covers("a/#", "a/#"));
  CHECK(filter_covers("a/#", "a"));
  CHECK(filter_covers("#", "#"));
  CHECK(filter_covers("a/+", "a/+"));
  CHECK(filter_covers("a/+", "a/b"));
  CHECK(filter_covers("+/+", "a/+"));
  CHECK_FALSE(filter_covers("a/b", "a/+"));
  CHECK_FALSE(filter_covers("a/+", "a/#"));
  CHECK_FALSE(filter_covers("a/b/#", "a/#"));
  CHECK_FALSE(filter_covers("a/+/#", "a"));
  CHECK_FALSE(filter_covers("a/+", "a"));
  CHECK_FALSE(filter_covers("a", "a/b"));
  CHECK_FALSE(filter_covers("#", "$SYS/#"));
  CHECK(filter_covers("$SYS/#", "$SYS/broker/+"));
}

TEST_CASE("filter_valid and strip_share") {
  CHECK(filter_valid("a/+/b/#"));
  CHECK(filter_valid("#"));
  CHECK(filter_valid("/"));
  CHECK_FALSE(filter_valid(""));
  CHECK_FALSE(filter_valid("a/#/b"));
  CHECK_FALSE(filter_valid("a+"));
  CHECK_FALSE(filter_valid("a/b#"));
  CHECK(strip_share("$share/g/a/b") == "a/b");
  CHECK(strip_share("a/b") == "a/b");
  CHECK(strip_share("$share/g") == "$share/g");
}
