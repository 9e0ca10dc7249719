// Option parsing: scenario defaults, validation, errors.
#include "options.h"

#include <doctest/doctest.h>

using namespace wisp_bench;

TEST_CASE("scenario defaults") {
  auto o = parse_options({"--scenario", "fanout"}).options;
  REQUIRE(o);
  CHECK(o->pubs == 1);
  CHECK(o->subs == 100);
  CHECK(o->qos == protocol::QoS::at_most_once);
  CHECK(o->inflight == 40);  // 4096 deliveries / 100 subscribers
  CHECK(o->port == 1883);
  o = parse_options({"--scenario=latency", "--transport", "ws"}).options;
  REQUIRE(o);
  CHECK(o->rate == 1000);
  CHECK(o->qos == protocol::QoS::at_least_once);
  CHECK(o->port == 8080);
  o = parse_options({"--scenario", "large"}).options;
  REQUIRE(o);
  CHECK(o->size == 1024 * 1024);
  CHECK(o->inflight == 16);  // 16 MiB of window
  o = parse_options({"--scenario", "pairwise", "--pairs", "7", "--mqtt", "5", "--size", "1k"})
          .options;
  REQUIRE(o);
  CHECK(o->pubs == 7);
  CHECK(o->subs == 7);
  CHECK(o->size == 1024);
  CHECK(o->version == protocol::ProtocolVersion::v5);
  CHECK_FALSE(o->persistent);
  o = parse_options({"--persistent", "--scenario", "pairwise"}).options;
  REQUIRE(o);
  CHECK(o->persistent);
}

TEST_CASE("invalid options are rejected with a message") {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--scenario", "nope"},
           {"--size", "10"},  // smaller than the payload header
           {"--qos", "3"},
           {"--transport", "udp"},
           {"--port", "0"},
           {"--frobnicate", "1"},
           {"--duration"},
           {"--scenario", "fanin", "--subs", "2"},
           {"--scenario", "ceiling", "--qos", "1"},
           {"positional"},
       }) {
    const ParseResult r = parse_options(args);
    CHECK_FALSE(r.options.has_value());
    CHECK(r.exit_code == 1);
    CHECK_FALSE(r.message.empty());
  }
  const ParseResult help = parse_options({"--help"});
  CHECK_FALSE(help.options.has_value());
  CHECK(help.exit_code == 0);
  CHECK(help.message.find("--scenario") != std::string::npos);
}
