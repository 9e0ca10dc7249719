// Tests for broker/core/retained_index: set/replace/delete, filter walks with the '$' rule,
// erase_matching / erase_if, counters, node cleanup, and a randomized reference comparison.
#include "broker/core/retained_index.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

using broker::core::Message;
using broker::core::MessageRef;
using broker::core::RetainedIndex;

namespace {

MessageRef msg(std::string topic, std::string payload, std::size_t props = 0) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->retain = true;
  m->bytes.assign(props, std::uint8_t{0x26});
  m->payload_offset = props;
  m->bytes.insert(m->bytes.end(), payload.begin(), payload.end());
  return m;
}

std::vector<std::string> topics(const RetainedIndex& idx, std::string_view filter) {
  std::vector<std::string> out;
  idx.match(filter, [&](const MessageRef& m) { out.push_back(m->topic); });
  std::sort(out.begin(), out.end());
  return out;
}

using Topics = std::vector<std::string>;

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t slash = s.find('/', pos);
    out.push_back(s.substr(pos, slash == std::string::npos ? slash : slash - pos));
    if (slash == std::string::npos) return out;
    pos = slash + 1;
  }
}

bool reference_matches(const std::string& filter, const std::string& topic) {
  if (!topic.empty() && topic[0] == '$' && (filter[0] == '+' || filter[0] == '#')) return false;
  const auto f = split(filter);
  const auto t = split(topic);
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] == "#") return true;
    if (i >= t.size()) return false;
    if (f[i] != "+" && f[i] != t[i]) return false;
  }
  return f.size() == t.size();
}

}  // namespace

TEST_CASE("retained index: set, find, replace, delete by empty payload, counters") {
  RetainedIndex idx;
  CHECK(idx.size() == 0);
  CHECK(idx.bytes() == 0);
  CHECK(idx.find("a/b") == nullptr);

  const MessageRef first = msg("a/b", "hello", 3);
  idx.set(first);
  CHECK(idx.size() == 1);
  CHECK(idx.bytes() == 3 + 3 + 5);  // topic + properties + payload
  REQUIRE(idx.find("a/b") != nullptr);
  CHECK(*idx.find("a/b") == first);  // the very same MessageRef, not a copy
  CHECK(idx.find("a") == nullptr);   // interior node holds nothing
  CHECK(idx.find("a/b/c") == nullptr);

  const MessageRef second = msg("a/b", "hi");
  idx.set(second);  // replaces
  CHECK(idx.size() == 1);
  CHECK(idx.bytes() == 3 + 2);
  CHECK(*idx.find("a/b") == second);

  idx.set(msg("a", "parent"));
  CHECK(idx.size() == 2);
  CHECK(idx.bytes() == 5 + 1 + 6);

  idx.set(msg("a/b", "", 4));  // [MQTT-3.3.1-6] empty payload (properties don't count) deletes
  CHECK(idx.size() == 1);
  CHECK(idx.find("a/b") == nullptr);
  CHECK(idx.bytes() == 1 + 6);
  idx.set(msg("nothing/here", ""));  // deleting what doesn't exist is a no-op
  CHECK(idx.size() == 1);
  CHECK(idx.node_count() == 2);  // root, a
  idx.set(nullptr);
  CHECK(idx.size() == 1);

  CHECK(idx.erase("a"));
  CHECK_FALSE(idx.erase("a"));
  CHECK(idx.size() == 0);
  CHECK(idx.bytes() == 0);
  CHECK(idx.node_count() == 1);
}

TEST_CASE("retained index: filter matching with '+', '#' and the '$' rule") {
  RetainedIndex idx;
  for (const char* t :
       {"a", "a/b", "a/b/c", "a/c", "a//c", "b", "/x", "$SYS/uptime", "$SYS/broker/load", "a/$x"}) {
    idx.set(msg(t, "v"));
  }
  CHECK(topics(idx, "a") == Topics{"a"});
  CHECK(topics(idx, "a/b") == Topics{"a/b"});
  CHECK(topics(idx, "a/b/c/d").empty());
  CHECK(topics(idx, "zzz").empty());
  CHECK(topics(idx, "a/+") == Topics{"a/$x", "a/b", "a/c"});
  CHECK(topics(idx, "a/+/c") == Topics{"a//c", "a/b/c"});
  CHECK(topics(idx, "+") == Topics{"a", "b"});
  CHECK(topics(idx, "+/+") == Topics{"/x", "a/$x", "a/b", "a/c"});
  CHECK(topics(idx, "a/#") == Topics{"a", "a/$x", "a//c", "a/b", "a/b/c", "a/c"});
  CHECK(topics(idx, "a/b/#") == Topics{"a/b", "a/b/c"});
  CHECK(topics(idx, "#") == Topics{"/x", "a", "a/$x", "a//c", "a/b", "a/b/c", "a/c", "b"});
  CHECK(topics(idx, "+/#") == topics(idx, "#"));
  CHECK(topics(idx, "$SYS/#") == Topics{"$SYS/broker/load", "$SYS/uptime"});
  CHECK(topics(idx, "$SYS/+") == Topics{"$SYS/uptime"});
  CHECK(topics(idx, "+/uptime").empty());  // [MQTT-4.7.2-1]
  CHECK(topics(idx, "/+") == Topics{"/x"});
}

TEST_CASE("retained index: erase_matching removes only the filter's subtree") {
  RetainedIndex idx;
  for (int i = 0; i < 50; ++i) {
    idx.set(msg("sensors/" + std::to_string(i) + "/temp", "21"));
    idx.set(msg("sensors/" + std::to_string(i) + "/hum", "40"));
    idx.set(msg("other/" + std::to_string(i), "x"));
  }
  idx.set(msg("sensors", "root"));
  idx.set(msg("$SYS/x", "s"));
  CHECK(idx.size() == 152);
  const std::size_t nodes_before = idx.node_count();

  CHECK(idx.erase_matching("sensors/+/hum") == 50);
  CHECK(idx.size() == 102);
  CHECK(idx.node_count() == nodes_before - 50);
  CHECK(idx.find("sensors/3/temp") != nullptr);
  CHECK(idx.find("sensors/3/hum") == nullptr);

  CHECK(idx.erase_matching("sensors/#") == 51);  // includes "sensors" itself
  CHECK(idx.find("sensors") == nullptr);
  CHECK(idx.size() == 51);
  CHECK(idx.erase_matching("sensors/#") == 0);

  CHECK(idx.erase_matching("#") == 50);  // '$' topics survive a '#'
  CHECK(idx.size() == 1);
  CHECK(idx.find("$SYS/x") != nullptr);
  CHECK(idx.erase_matching("$SYS/x") == 1);
  CHECK(idx.size() == 0);
  CHECK(idx.bytes() == 0);
  CHECK(idx.node_count() == 1);
}

TEST_CASE("retained index: erase_if and for_each") {
  RetainedIndex idx;
  for (std::size_t i = 0; i < 20; ++i)
    idx.set(msg("t/" + std::to_string(i), std::string(i + 1, 'p')));
  idx.set(msg("t", "pp"));
  std::size_t seen = 0;
  std::size_t total = 0;
  idx.for_each([&](const MessageRef& m) {
    ++seen;
    total += m->topic.size() + m->bytes.size();
  });
  CHECK(seen == 21);
  CHECK(total == idx.bytes());

  // Drop every message whose payload is even-sized, including the parent "t".
  CHECK(idx.erase_if([](const MessageRef& m) { return m->payload().size() % 2 == 0; }) == 11);
  CHECK(idx.size() == 10);
  CHECK(idx.find("t") == nullptr);
  CHECK(idx.find("t/0") != nullptr);
  CHECK(idx.find("t/1") == nullptr);
  CHECK(idx.erase_if([](const MessageRef&) { return true; }) == 10);
  CHECK(idx.node_count() == 1);
  CHECK(idx.bytes() == 0);
}

TEST_CASE("retained index: randomized against the reference matcher") {
  std::mt19937 rng(99);
  const char* pool[] = {"a", "b", "", "$s"};
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  auto random_topic = [&] {
    std::string t;
    for (std::size_t i = 0, d = 1 + pick(4); i < d; ++i)
      t += (i ? "/" : "") + std::string(pool[pick(4)]);
    return t;
  };
  auto random_filter = [&] {
    std::string f;
    const std::size_t d = 1 + pick(4);
    for (std::size_t i = 0; i < d; ++i) {
      if (i) f += '/';
      const std::size_t r = pick(7);
      f += r < 4 ? std::string(pool[r]) : (r == 6 && i + 1 == d) ? "#" : "+";
    }
    return f;
  };
  RetainedIndex idx;
  std::map<std::string, std::string> model;
  for (int step = 0; step < 3000; ++step) {
    const std::size_t op = pick(10);
    if (op < 6) {
      const std::string t = random_topic();
      const std::string payload = pick(5) == 0 ? "" : std::to_string(step);
      idx.set(msg(t, payload));
      if (payload.empty()) {
        model.erase(t);
      } else {
        model[t] = payload;
      }
    } else if (op < 8) {
      const std::string t = random_topic();
      CHECK(idx.erase(t) == (model.erase(t) == 1));
    } else if (op < 9) {
      const std::string f = random_filter();
      std::size_t n = 0;
      for (auto it = model.begin(); it != model.end();) {
        if (reference_matches(f, it->first)) {
          it = model.erase(it);
          ++n;
        } else {
          ++it;
        }
      }
      CAPTURE(f);
      CHECK(idx.erase_matching(f) == n);
    } else {
      const std::string f = random_filter();
      Topics expected;
      for (const auto& [t, p] : model) {
        if (reference_matches(f, t)) expected.push_back(t);
      }
      std::sort(expected.begin(), expected.end());
      CAPTURE(f);
      CHECK(topics(idx, f) == expected);
    }
    REQUIRE(idx.size() == model.size());
  }
  for (const auto& [t, p] : model) {
    REQUIRE(idx.find(t) != nullptr);
    CHECK(std::string((*idx.find(t))->payload().begin(), (*idx.find(t))->payload().end()) == p);
  }
  idx.erase_if([](const MessageRef&) { return true; });
  CHECK(idx.node_count() == 1);
}

TEST_CASE("retained index: very deep topics need no recursion") {
  std::string deep;
  for (int i = 0; i < 30000; ++i) deep += i ? "/a" : "a";
  {
    RetainedIndex idx;
    idx.set(msg(deep, "x"));
    idx.set(msg(std::string(32767, '/'), "y"));
    CHECK(topics(idx, "#").size() == 2);
    CHECK(topics(idx, deep) == Topics{deep});
    CHECK(topics(idx, "a/+/#") == Topics{deep});
    CHECK(idx.erase(std::string(32767, '/')));
  }  // destructor with a 30000-level chain
  RetainedIndex idx;
  idx.set(msg(deep, "x"));
  CHECK(idx.erase_matching("a/#") == 1);
  CHECK(idx.node_count() == 1);
}
