// Topic names, filters, $share parsing, UTF-8 rules and the matching table [MQTT-4.7].
#include "protocol/topic.h"

#include <doctest/doctest.h>

#include <string>

using namespace protocol;

TEST_CASE("valid_utf8 accepts well-formed strings and rejects the forbidden forms") {
  CHECK(valid_utf8(""));
  CHECK(valid_utf8("plain ascii"));
  CHECK(valid_utf8("\xC3\xA9"));                         // é
  CHECK(valid_utf8("\xE2\x82\xAC"));                     // €
  CHECK(valid_utf8("\xF0\x9F\x98\x80"));                 // U+1F600
  CHECK(valid_utf8("\xEF\xBB\xBF"));                     // BOM is allowed [MQTT-1.5.4-3]
  CHECK(valid_utf8("\xF4\x8F\xBF\xBF"));                 // U+10FFFF
  CHECK_FALSE(valid_utf8(std::string_view("a\0b", 3)));  // U+0000 [MQTT-1.5.4-2]
  CHECK_FALSE(valid_utf8("\xC0\x80"));                   // overlong U+0000
  CHECK_FALSE(valid_utf8("\xC1\xBF"));                   // overlong
  CHECK_FALSE(valid_utf8("\xE0\x80\xAF"));               // overlong '/'
  CHECK_FALSE(valid_utf8("\xF0\x80\x80\xAF"));           // overlong
  CHECK_FALSE(valid_utf8("\xED\xA0\x80"));               // U+D800 surrogate [MQTT-1.5.4-1]
  CHECK_FALSE(valid_utf8("\xED\xBF\xBF"));               // U+DFFF surrogate
  CHECK_FALSE(valid_utf8("\xF4\x90\x80\x80"));           // > U+10FFFF
  CHECK_FALSE(valid_utf8("\x80"));                       // lone continuation
  CHECK_FALSE(valid_utf8("\xC3"));                       // truncated
  CHECK_FALSE(valid_utf8("\xE2\x82"));                   // truncated
  CHECK_FALSE(valid_utf8("\xC3\x28"));                   // bad continuation
  CHECK_FALSE(valid_utf8("\xF8\x88\x80\x80\x80"));       // 5-byte form
  CHECK_FALSE(valid_utf8("\xFF"));
  CHECK(valid_utf8(std::string(65535, 'a')));
  CHECK_FALSE(valid_utf8(std::string(65536, 'a')));
}

TEST_CASE("topic names: non-empty, no wildcards") {
  CHECK(valid_topic_name("a"));
  CHECK(valid_topic_name("/"));
  CHECK(valid_topic_name("a//b"));
  CHECK(valid_topic_name("$SYS/broker"));
  CHECK(valid_topic_name("sport/tennis/player1"));
  CHECK(valid_topic_name(" "));
  CHECK_FALSE(valid_topic_name(""));
  CHECK_FALSE(valid_topic_name("a/+"));
  CHECK_FALSE(valid_topic_name("a/#"));
  CHECK_FALSE(valid_topic_name("a+b"));
  CHECK_FALSE(valid_topic_name("\xC0\x80"));
}

TEST_CASE("topic filters: '+' a whole level, '#' the whole last level") {
  for (const char* ok : {"#", "+", "+/+", "a/#", "a/+/b", "/+", "+/", "/", "//", "a//#", "$SYS/#",
                         "sport/tennis/+", "+/tennis/#", "$share/g/a/#", "$share"}) {
    CAPTURE(ok);
    CHECK(valid_topic_filter(ok));
  }
  for (const char* bad :
       {"", "a#", "#/a", "a/#/b", "a+", "+a/b", "a/b+", "a/+b", "##", "++", "a/##", "$share/",
        "$share/g", "$share/g/", "$share//a", "$share/+/x", "$share/g#/x", "$share/g/a#"}) {
    CAPTURE(bad);
    CHECK_FALSE(valid_topic_filter(bad));
  }
  CHECK_FALSE(valid_topic_filter("a/\xED\xA0\x80"));
}

TEST_CASE("$share filters are parsed into group and filter") {
  CHECK(is_shared("$share/g/a"));
  CHECK_FALSE(is_shared("$share"));
  CHECK_FALSE(is_shared("$SHARE/g/a"));
  CHECK_FALSE(is_shared("a/$share/g"));
  auto s = parse_shared("$share/group-1/sport/+/#");
  REQUIRE(s);
  CHECK(s->group == "group-1");
  CHECK(s->filter == "sport/+/#");
  auto root = parse_shared("$share/g//");
  REQUIRE(root);
  CHECK(root->filter == "/");
  CHECK_FALSE(parse_shared("a/b"));
  CHECK_FALSE(parse_shared("$share/g"));
  CHECK_FALSE(parse_shared("$share/g/"));
  CHECK_FALSE(parse_shared("$share//x"));
  CHECK_FALSE(parse_shared("$share/+/x"));
  CHECK_FALSE(parse_shared("$share/#/x"));
  CHECK_FALSE(parse_shared("$share/g+/x"));
  CHECK_FALSE(parse_shared("$share/g/x+"));
}

TEST_CASE("topic matching table") {
  struct Row {
    const char* filter;
    const char* name;
    bool match;
  };
  const Row rows[] = {
      {"a", "a", true},
      {"a", "b", false},
      {"a", "a/b", false},
      {"a/b", "a", false},
      {"a/b", "a/b", true},
      {"#", "a", true},
      {"#", "a/b/c", true},
      {"#", "/", true},
      {"a/#", "a", true},  // parent level [MQTT-4.7.1-2]
      {"a/#", "a/", true},
      {"a/#", "a/b", true},
      {"a/#", "a/b/c", true},
      {"a/#", "ab", false},
      {"a/#", "b/a", false},
      {"+", "a", true},
      {"+", "", true},
      {"+", "a/b", false},
      {"+", "/", false},
      {"+/+", "/", true},
      {"+/+", "a/b", true},
      {"+/+", "a", false},
      {"+/+", "a/b/c", false},
      {"/+", "/a", true},
      {"/+", "a", false},
      {"a/+/c", "a/b/c", true},
      {"a/+/c", "a//c", true},
      {"a/+/c", "a/b/d", false},
      {"a/+", "a/", true},
      {"a/+/#", "a/b", true},
      {"a/+/#", "a", false},
      {"+/#", "a", true},
      {"sport/tennis/+", "sport/tennis/player1", true},
      {"sport/tennis/+", "sport/tennis/player1/ranking", false},
      {"sport/+", "sport", false},
      {"sport/+", "sport/", true},
      // '$' topics are not matched by leading wildcards [MQTT-4.7.2-1].
      {"#", "$SYS", false},
      {"#", "$SYS/broker/load", false},
      {"+/monitor/Clients", "$SYS/monitor/Clients", false},
      {"+/#", "$SYS/x", false},
      {"$SYS/#", "$SYS/broker/load", true},
      {"$SYS/#", "$SYS", true},
      {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
      {"a/#", "a/$x", true},
      {"$share/g/#", "$share/g/x", true},  // plain levels when not stripped first
      {"+", "$share", false},
  };
  for (const Row& r : rows) {
    CAPTURE(r.filter);
    CAPTURE(r.name);
    CHECK(topic_matches(r.filter, r.name) == r.match);
  }
  // A $share subscription matches through its parsed filter.
  auto s = parse_shared("$share/workers/jobs/+");
  REQUIRE(s);
  CHECK(topic_matches(s->filter, "jobs/1"));
  CHECK_FALSE(topic_matches(s->filter, "jobs/1/2"));
}
